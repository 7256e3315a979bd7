"""Search latency over HTTP (`vidmm serve`) against the same search called in-process, same index.

    python scripts/bench_serve.py                       # the README's table
    python scripts/bench_serve.py --reels 0 --repeats 2 # a smoke test

Builds an index of the demo's samples and `--reels` photo reels (vidmm.data.photos, 8 shots of 1-3
s each), unless given `--db`. Starts `vidmm serve` on it in a process of its own on a free loopback
port, as a user would, and times each query both ways, taking turns query by query (so load from
elsewhere falls on both alike): `GET /api/search` with one kept-alive HTTP connection, and
`Index.search` in this process with the same model; torch on `--threads` (1) threads in both. The
server says how long each search took inside it (a `Server-Timing` header), so what HTTP adds is
also measured request by request, free of the two processes' different luck with the machine. Also times `GET /api/status` (the ledger
summary; no model) as a floor for what HTTP, JSON and the app cost. Prints a Markdown table
(and writes it to --out).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import httpx

QUERIES = ("a traffic light", "a crossword puzzle", "a cat", "a rocket", "coins on a table", "a cup of coffee",
           "an astronaut", "a motorcycle", "grass", "the moon")


def build(folder: Path, reels: int) -> Path:
    """An index of the demo's samples and `reels` random photo reels, made by `vidmm index` in a
    process of its own (this one then holds only what the search needs, as the server does)."""
    from vidmm.data.photos import random_reel, write_reel, write_samples

    videos = folder / "videos"
    write_samples(videos)
    for seed in range(reels):
        write_reel(videos / f"reel{seed:02d}.mp4", random_reel(seed))
    db = folder / "bench.vidmm"
    subprocess.run([sys.executable, "-m", "vidmm", "index", str(videos), "--db", str(db)], check=True, capture_output=True)
    return db


def start_server(db: Path, threads: int) -> tuple[subprocess.Popen, str]:
    """`vidmm serve` on a free port, torch on `threads` threads; (the process, its URL) once it answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "vidmm", "serve", "--db", str(db), "--port", "0", "--cache", str(db.parent / "thumbs")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)},
    )
    for line in process.stderr:
        found = re.search(r"serving .* at (http://\S+)", line)
        if found:  # read the rest as it comes, so a full pipe never stalls the server
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, found.group(1).rstrip("/")
    raise RuntimeError(f"vidmm serve exited ({process.wait()}) before it listened")


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def measure(db: Path, repeats: int, threads: int) -> dict[str, list[float]]:
    """Seconds per call: HTTP search, in-process search, HTTP status; each query `repeats` times."""
    import torch

    from vidmm.index import Index

    torch.set_num_threads(threads)
    index = Index(db)
    process, url = start_server(db, threads)
    times: dict[str, list[float]] = {"http": [], "server": [], "added": [], "in-process": [], "status": []}

    def over_http(query: str) -> None:
        begun = time.perf_counter()
        answer = http.get("/api/search", params={"q": query, "k": 10}).raise_for_status()
        total = time.perf_counter() - begun
        server = float(answer.headers["server-timing"].partition("dur=")[2]) / 1000  # the search, timed in the server
        times["http"].append(total)
        times["server"].append(server)
        times["added"].append(total - server)

    def in_process(query: str) -> None:
        begun = time.perf_counter()
        index.search(query, k=10)
        times["in-process"].append(time.perf_counter() - begun)

    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            for query in QUERIES:  # warm both up: the first calls load caches and LanceDB's files
                http.get("/api/search", params={"q": query, "k": 10}).raise_for_status()
                index.search(query, k=10)
            for turn in range(repeats):
                for n, query in enumerate(QUERIES):
                    for call in (over_http, in_process) if (turn + n) % 2 else (in_process, over_http):
                        call(query)
                    begun = time.perf_counter()
                    http.get("/api/status").raise_for_status()
                    times["status"].append(time.perf_counter() - begun)
    finally:
        process.send_signal(signal.SIGINT)  # as Ctrl-C: uvicorn shuts down cleanly
        code = process.wait(30)
    if code != 0:
        raise RuntimeError(f"vidmm serve exited with {code} after Ctrl-C")
    return times


def table(times: dict[str, list[float]], db: Path, command: str, threads: int) -> str:
    from vidmm.index import Index

    videos = Index(db).videos()
    windows = sum(v.n_windows for v in videos)
    ms = {name: (1000 * percentile(t, 50), 1000 * percentile(t, 95)) for name, t in times.items()}
    rows = [
        f"`{command}`, {date.today():%Y-%m-%d}: {len(videos)} videos, {windows} windows, lite; "
        f"{len(times['http'])} searches each way ({len(QUERIES)} queries, k=10); torch on {threads} thread(s) in each process",
        "",
        "| what | p50 ms | p95 ms |",
        "|---|---:|---:|",
        f"| `Index.search` in this process | {ms['in-process'][0]:.1f} | {ms['in-process'][1]:.1f} |",
        f"| `GET /api/search` over HTTP (`vidmm serve`), as the client waits | {ms['http'][0]:.1f} | {ms['http'][1]:.1f} |",
        f"| the same search, timed inside the server (`Server-Timing`) | {ms['server'][0]:.1f} | {ms['server'][1]:.1f} |",
        f"| what HTTP adds: client's wait less the server's search, per request | {ms['added'][0]:.1f} | {ms['added'][1]:.1f} |",
        f"| `GET /api/status` over HTTP (no model, no search) | {ms['status'][0]:.1f} | {ms['status'][1]:.1f} |",
    ]
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="An existing index to use (default: build one in a temporary folder).")
    parser.add_argument("--reels", type=int, default=12, help="Photo reels to index besides the demo's samples.")
    parser.add_argument("--repeats", type=int, default=20, help="Times each query is searched each way.")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in the server and in this process alike.")
    parser.add_argument("--out", type=Path, help="Also write the table here.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as scratch:
        db = args.db or build(Path(scratch), args.reels)
        command = "python scripts/bench_serve.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
        text = table(measure(db, args.repeats, args.threads), db, command.strip(), args.threads)
    if args.out is not None:
        args.out.write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
