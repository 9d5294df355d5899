"""What a calibration run collects: figures for the preset, facts read off the machine, CSV rows.

No torch here: the preset writer and its tests use these with figures made up by hand.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# The measured-CSV schema (data/calibration/h200/measured.csv), plus `timing`: every row calibrate
# writes is a wall-clock figure of the whole call (launches included), so it says `wall`.
FIELDS = ("kind", "impl", "dtype", "tokens", "d_in", "d_out", "tau", "K", "expand_bits", "seq", "batch", "heads",
          "time_us", "bytes_moved", "flops", "extra", "timing")
# Row kinds calibrate writes. `ceiling` rows are benchmarks hwsim.validate can rebuild (d2d_copy,
# gemm_square, random_row_gather), so validating the whole file also checks the preset against the
# benchmarks it was made from; `micro` rows are benchmarks validate has no model for (pointer chase,
# launch costs, ...), which its summary leaves out; `layer`, `op` and `block` rows are the validation
# set, which no preset number was taken from; `info` describes the machine.
BENCH_KINDS = ("ceiling", "micro")
VALIDATION_KINDS = ("layer", "op", "block")


@dataclass(frozen=True)
class Figure:
    """One measured number for the preset: SI value, the benchmark (measured.csv impl) that gave it,
    and the measurement in words, which becomes the preset comment."""
    value: float
    bench: str
    detail: str


@dataclass(frozen=True)
class CacheLevel:
    name: str             # "L3", "L2", "L1D" (CPU) or "L2" (GPU)
    size_bytes: int       # all instances together (per-core caches times the cores used)
    source: str           # where the size was read


@dataclass(frozen=True)
class Machine:
    """Facts read off the machine (not timed): each names its source for the preset comments."""
    device: str                       # "cpu" | "cuda"
    model: str                        # CPU model name or GPU name
    cores: int                        # threads used (CPU) or SMs (GPU)
    memory_bytes: int
    memory_source: str
    caches: tuple[CacheLevel, ...]    # ordered from the level nearest DRAM (the last-level cache) inward
    line_bytes: int                   # cache line / sector: the unit random reads move
    line_source: str
    clock_hz: float | None = None
    clock_source: str = ""
    threads_in_flight: int | None = None   # GPU: resident threads (CPU: measured, see the writer)
    threads_source: str = ""
    torch_version: str = ""
    flags: tuple[str, ...] = ()       # CPU ISA extensions that matter for the rates (avx512f, amx_bf16, ...)

    @property
    def last_level_cache(self) -> CacheLevel:
        return self.caches[0]


@dataclass
class Results:
    """Filled as the benchmarks run: figures by key (see preset_writer.KEYS) and CSV rows."""
    figures: dict[str, Figure] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)

    def add(self, key: str, value: float, bench: str, detail: str) -> Figure:
        f = Figure(float(value), bench, detail)
        self.figures[key] = f
        return f

    def row(self, **values) -> dict:
        unknown = set(values) - set(FIELDS)
        if unknown:
            raise ValueError(f"measured.csv has no column(s) {', '.join(sorted(unknown))}")
        r = {k: values.get(k, "") for k in FIELDS}
        r["timing"] = r["timing"] or "wall"
        self.rows.append(r)
        return r


# figures where less is better (times); every other figure is a rate, where more is
LOWER_IS_BETTER = ("launch.", "latency.", "memory_layer.")


def best_of(rounds: list[Results]) -> Results:
    """One Results from several rounds of the same benchmarks, each figure and row the best any round
    measured: the highest rate, the shortest time. A machine whose speed drifts while other tenants load its
    memory system or cores (a cloud VM) gives slow rounds; the best is the machine running alone, for the
    preset and its validation rows alike. Rows are matched by every column but time_us and extra (the
    measured figure in words), in order; a row only some rounds have keeps its best."""
    out = Results()
    keys = {}
    for res in rounds:
        for k, f in res.figures.items():
            old = out.figures.get(k)
            lower = k.startswith(LOWER_IS_BETTER)
            if old is None or (f.value < old.value if lower else f.value > old.value):
                out.figures[k] = f
        seen: dict[tuple, int] = {}
        for r in res.rows:
            ident = tuple(r[c] for c in FIELDS if c not in ("time_us", "extra"))
            seen[ident] = seen.get(ident, 0) + 1
            key = (ident, seen[ident])
            i = keys.get(key)
            if i is None:
                keys[key] = len(out.rows)
                out.rows.append(r)
            elif _faster(r, out.rows[i]):
                out.rows[i] = r
    return out


def _faster(a: dict, b: dict) -> bool:
    ta, tb = a.get("time_us"), b.get("time_us")
    return isinstance(ta, (int, float)) and (not isinstance(tb, (int, float)) or ta < tb)
