"""One dimension of a sweep's space: a list of values (what a grid takes), or a continuous range for random
and Latin-hypercube sampling."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Axis:
    """One dimension of the space. Discrete (`values`) or continuous (lo..hi, linear or log) for random/LHS."""
    name: str            # the column: the key as written in the spec ("memory.sram[0].capacity", "seq_len", "base")
    group: str           # "base" | "workload" | "block" (block options) | "options" | "accel" | "zip"
    values: tuple        # what a grid takes (a list as given, or n points of a range)
    lo: float | None = None   # continuous range for random and LHS sampling
    hi: float | None = None
    log: bool = False
    integer: bool = False
    path: tuple = ()     # accel axes: the YAML key path in the config, list items by index
    members: tuple = ()  # zip axes: the accelerator settings that move together (values: one tuple per step)

    @property
    def continuous(self) -> bool:
        return self.lo is not None


def grid_values(lo: float, hi: float, n: int, log: bool, integer: bool) -> tuple:
    import numpy as np

    xs = np.geomspace(lo, hi, n) if log else np.linspace(lo, hi, n)
    if integer:
        return tuple(dict.fromkeys(int(round(x)) for x in xs))
    return tuple(float(x) for x in xs)
