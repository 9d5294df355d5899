"""Progress bars on stderr for long runs (DES replays, validation with the DES, sweeps), drawn by tqdm.

`Progress` keeps the small interface the engines call (advance, close) so that an engine never depends on
tqdm's API directly; `NoProgress` is the silent stand-in. Short runs stay quiet (tqdm's `delay`)."""
from __future__ import annotations

import sys


class NoProgress:
    def advance(self, n: int = 1) -> None:
        pass

    def describe(self, text: str) -> None:
        """Say what runs now (e.g. the benchmark), beside the bar."""

    def set_total(self, total: int) -> None:
        pass

    def close(self, interrupted: bool = False) -> None:
        pass


class Progress(NoProgress):
    """A tqdm bar over `total` steps; redrawn at most every `interval_s`, shown once a run has lasted `delay_s`."""

    def __init__(self, total: int, label: str, stream=None, interval_s: float = 0.2, delay_s: float = 0.5,
                 unit: str = "step"):
        from tqdm import tqdm

        self.bar = tqdm(total=max(int(total), 1), desc=label, file=stream if stream is not None else sys.stderr,
                        mininterval=interval_s, delay=delay_s, unit=unit, dynamic_ncols=stream is None,
                        leave=True)

    def advance(self, n: int = 1) -> None:
        self.bar.update(n)

    def describe(self, text: str) -> None:
        self.bar.set_postfix_str(text)

    def set_total(self, total: int) -> None:
        self.bar.total = max(int(total), 1)
        self.bar.refresh()

    def close(self, interrupted: bool = False) -> None:
        b = self.bar
        if interrupted:  # the bar stays on screen, saying where the run stopped
            b.set_postfix_str("interrupted", refresh=False)
            if b._time() - b.start_t >= b.delay:
                # A Ctrl-C inside tqdm's own redraw leaves last_print_t stale, and close() then skips its
                # final redraw and newline as if the bar had never been drawn: the next line would run on.
                b.last_print_t = b._time()
        b.close()


def progress_bar(total: int, label: str, enabled: bool = True, **kwargs) -> NoProgress:
    """A Progress when `enabled`, otherwise the silent stand-in."""
    return Progress(total, label, **kwargs) if enabled else NoProgress()
