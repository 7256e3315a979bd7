"""Progress of the long loops of training and evaluation, one way for all of them.

    with Progress("features", total=len(clips), unit="clip") as bar:
        for clip in clips:
            ...
            bar.update()
        bar.write("epoch 3: train loss 0.41, top1 62.5")   # a line that stays

On a terminal it is a tqdm bar on stderr. Anywhere else (``vidmm train … > log 2>&1``) it writes
plain lines instead: one when the loop starts, one every `LOG_EVERY_S` seconds with the count, the
rate and the time left, and one when it ends, so a log shows a long feature pass is alive and how
fast it goes (``features: 120/480 clips, 3.2 clips/s, 1:52 left``).
"""

from __future__ import annotations

import sys
import time
from typing import IO

LOG_EVERY_S = 30.0  # seconds between the lines of a log (tests set it to 0)


class Progress:
    """A bar on a terminal, periodic lines in a log, or nothing (`show` False).

    show: None or True: a bar when the stream is a terminal, else lines; False: silent (lines
    written with `write` still appear: they are results, not progress).
    """

    def __init__(self, desc: str, total: int | None = None, unit: str = "clip", *, show: bool | None = None, stream: IO | None = None):
        self.desc, self.total, self.unit = desc, total, unit
        self.stream = stream or sys.stderr
        self.n, self.started, self.last_line = 0, time.perf_counter(), time.perf_counter()
        self.silent = show is False
        self.bar = None
        if not self.silent and _isatty(self.stream):
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, leave=False, dynamic_ncols=True)
        elif not self.silent:
            self._line(f"{desc}: {total} {unit}s to go" if total is not None else f"{desc}: started")

    def update(self, n: int = 1, status: str = "") -> None:
        """`n` more done; `status` (e.g. ``loss 0.41``) goes on the bar, and into the log's lines."""
        self.n += n
        if self.bar is not None:
            self.bar.update(n)
            if status:
                self.bar.set_postfix_str(status, refresh=False)
        elif not self.silent and time.perf_counter() - self.last_line >= LOG_EVERY_S:
            self._line(self._counts() + (f", {status}" if status else ""))

    def write(self, text: str) -> None:
        """A line that stays (above the bar on a terminal)."""
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif not self.silent:
            elapsed = time.perf_counter() - self.started
            self._line(f"{self.desc}: {self.n} {self.unit}s in {_clock(elapsed)} ({self.rate():.2f} {self.unit}s/s)")
            self.silent = True  # closed: nothing more

    @staticmethod
    def note(text: str, stream: IO | None = None) -> None:
        """A line on stderr outside any bar: a skipped file, a hint."""
        print(text, file=stream or sys.stderr, flush=True)

    def rate(self) -> float:
        """Items a second so far."""
        return self.n / max(time.perf_counter() - self.started, 1e-9)

    def _counts(self) -> str:
        rate = self.rate()
        if self.total is None:
            return f"{self.desc}: {self.n} {self.unit}s, {rate:.2f} {self.unit}s/s"
        left = (self.total - self.n) / rate if rate > 0 else float("inf")
        return f"{self.desc}: {self.n}/{self.total} {self.unit}s, {rate:.2f} {self.unit}s/s, {_clock(left)} left"

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
        self.last_line = time.perf_counter()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _isatty(stream: IO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        return False


def _clock(seconds: float) -> str:
    """``1:52``, ``1:02:03``; ``?`` for an unknown time."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
