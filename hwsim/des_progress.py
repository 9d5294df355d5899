"""A text progress bar on stderr for long DES runs (no dependency: tqdm is not assumed)."""
from __future__ import annotations

import sys
import time


class NoProgress:
    def advance(self, n: int = 1) -> None:
        pass

    def close(self, interrupted: bool = False) -> None:
        pass


class Progress(NoProgress):
    """Redraws at most every `interval_s`, and only once a run has lasted `delay_s` (short runs stay quiet)."""

    def __init__(self, total: int, label: str, stream=None, interval_s: float = 0.2, delay_s: float = 0.5,
                 width: int = 30):
        self.total, self.label, self.width = max(int(total), 1), label, width
        self.stream = stream if stream is not None else sys.stderr
        self.interval_s, self.delay_s = interval_s, delay_s
        self.done = 0
        self.t0 = time.perf_counter()
        self.next_draw = self.t0 + delay_s
        self.drawn = False

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if now >= self.next_draw:
            self.next_draw = now + self.interval_s
            self._draw(now)

    def _draw(self, now: float) -> None:
        frac = min(self.done / self.total, 1.0)
        filled = int(round(frac * self.width))
        elapsed = now - self.t0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {100 * frac:5.1f}% "
                          f"{self.done}/{self.total} steps, {rate:,.0f}/s, {elapsed:.1f} s")
        self.stream.flush()
        self.drawn = True

    def close(self, interrupted: bool = False) -> None:
        if self.drawn or (time.perf_counter() - self.t0 >= self.delay_s):
            if not interrupted:
                self._draw(time.perf_counter())
            self.stream.write(" interrupted\n" if interrupted else "\n")
            self.stream.flush()
