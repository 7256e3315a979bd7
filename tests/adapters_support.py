"""Helpers shared by the hub-adapter tests: random clips, and a hub cache made from a saved folder."""

from pathlib import Path

import numpy as np


def random_videos(B: int, T: int, seed: int = 0) -> np.ndarray:
    """Noise frames `(B, T, 40, 56, 3)` uint8: not square, so the processors resize and crop."""
    return np.random.default_rng(seed).integers(0, 256, (B, T, 40, 56, 3), dtype=np.uint8)


def hub_cache(root: Path, repo_id: str, files_from: Path) -> str:
    """A Hugging Face cache folder holding `files_from` as the snapshot of `repo_id` (what a download leaves)."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for file in files_from.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())
    return str(root)
