"""Accelerator: the typed, validated, frozen description of one machine, loaded from YAML.

YAML says quantities the way datasheets do ("4.8 TB/s", "60 MiB", "1.98 GHz"); Python holds SI floats
whose names carry the unit. A dimensioned value in a file, or given as text to an override, must carry
its unit (`latency: 550` and "550" are refused: 550 what?); Python numbers passed to `with_overrides`
are SI. Values far outside what any machine has (a clock under 1 MHz, a latency over 1 ms, ...) are
refused as likely unit mistakes (hwsim/config/plausible.py). The mapping:

    YAML key                          Python attribute                        unit
    clock                             clock_hz                                Hz
    technology_nm                     technology_nm                           nm (a label, not SI)
    compute.matrix.peak.{dtype}       compute.matrix.peak_flops_per_s[dtype]  FLOP/s
    compute.matrix.tile / cores / efficiency        (same names)             counts, fraction
    compute.matrix.tile_dtypes        (same name; optional)                   dtypes whose rows pad to tile[0]
    compute.vector.peak.{dtype}       compute.vector.peak_flops_per_s[dtype]  FLOP/s
    compute.vector.special_function   compute.vector.special_function_per_s   evaluations/s (optional)
    compute.hash_unit.chunks_per_cycle / units      (same names; optional)   counts
    memory.dram.capacity              memory.dram.capacity_bytes              B
    memory.dram.bandwidth             memory.dram.bandwidth_bytes_per_s       B/s
    memory.dram.access_granularity    memory.dram.access_granularity_bytes    B
    memory.dram.burst                 memory.dram.burst_bytes                 B
    memory.dram.latency               memory.dram.latency_s                   s
    memory.dram.row_buffer            memory.dram.row_buffer_bytes            B (optional)
    memory.dram.energy_per_byte       memory.dram.energy_per_byte_j           J/B
    memory.dram.efficiency / channels / banks_per_channel (same names)       fraction, counts
    memory.dram.weight_stream_efficiency   (same name; optional)             fraction
    memory.sram[i].capacity / bandwidth / latency / energy_per_byte -> *_bytes, *_bytes_per_s, *_s, *_j
    memory.sram[i].kind               (same name; optional)                   "cache" | "scratchpad"
    lookup.bank_width / capacity      lookup.bank_width_bytes / capacity_bytes  B
    lookup.access_latency             lookup.access_latency_s                 s
    lookup.energy_per_access          lookup.energy_per_access_j              J
    lookup.gather_efficiency          lookup.gather_efficiency: (GatherPoint(row_bytes, fraction), ...)
    lookup.near_memory.clock / internal_bandwidth / command_bytes / internal_energy_per_byte /
      energy_per_mac / lanes / scope  -> clock_hz, *_bytes_per_s, *_bytes, *_j (optional section)
    lookup.hot_cache.capacity / bandwidth / latency / energy_per_byte / policy (optional section)
    memory.host.capacity / bandwidth / latency / energy_per_byte / access_granularity (optional tier)
    runtime.launch_overhead_eager / launch_overhead_graph / min_kernel_time -> *_s   s
    energy.idle_power                 energy.idle_power_w                     W
    energy.mac.{dtype}                energy.mac_j_per_flop[dtype]            J/FLOP
    energy.vector_op                  energy.vector_op_j_per_flop             J/FLOP
    energy.hash_per_chunk             energy.hash_per_chunk_j                 J
    area.node / dram_interface        (same names; optional section)          labels (hwsim.area)

Either spelling is accepted on input (YAML files use the left column, sweeps may use the right).
What the numbers mean, where the engines need to agree:
  - `dram.energy_per_byte` is the whole path from DRAM to the cores (the H200 figure is measured on a
    copy, so it includes L2 and the interconnect); `sram[i].energy_per_byte` is charged only for bytes a
    level serves itself (hits). `lookup.energy_per_access` is per access of `bank_width` bytes.
  - `lookup` describes the memory that serves table rows: `on_chip` = dedicated SRAM banks;
    `off_chip_cached` = DRAM behind the on-chip cache (banks = cache slices, capacity = that cache);
    `near_memory` = logic beside the DRAM banks. `gather_efficiency` points are (row size, fraction
    of `dram.bandwidth` reached by random reads of rows that size, reads alone: the kernel's streamed
    reads and writes are charged on top at `dram.efficiency`).
  - Lookup hardware (hwsim.engines.lookup_hw): with `near_memory`, `banks` are the memory-side units
    (adders beside a bank pair, bank group or channel), each reading `bank_width` bytes per cycle of
    `near_memory.clock`; `capacity` is the memory they can sum from (e.g. the PIM dies of a stack). Rows
    read inside the memory cost `near_memory.internal_energy_per_byte` (not `energy_per_access`), the
    adds `energy_per_mac` per element; only commands and the summed rows cross the DRAM bus.
    `hot_cache` is a cache of hot table rows (RecNMP's RankCache, a software cache as Fleche's);
    `memory.host` is a tier beyond the device's DRAM (host memory over PCIe / CXL) that may hold tables.
  - `runtime.launch_overhead_{eager,graph}` is host and driver time per kernel in that mode;
    `min_kernel_time` is the shortest time a kernel occupies the device.
  - `clock`: the peak FLOP rates are the datasheet totals at this clock and `compute.matrix.cores`; the
    clock itself drives the lookup banks (one access per bank per cycle) and the hash units. An
    override of clock or matrix cores scales the peaks with it (see `override`). SRAM and DRAM
    bandwidths are given, not derived: their clock domains are not the core clock on most chips.
  - `memory.sram` levels are ordered from DRAM towards the compute units; each is a roofline term of
    the analytic engine (see hwsim/engines/analytic.py). `dram.capacity` bounds the footprint of
    weights and tables (`hwsim.fits`). `dram.burst`, `access_granularity`, `row_buffer`, `channels`,
    `banks_per_channel` and `latency` give the default random-gather efficiency where `gather_efficiency`
    has no measured points. `sram[i].banks` sizes the level's periphery in the area model (hwsim.area).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import (DTYPES, Bandwidth, Bytes, Citations, ConfigError, Count, DtypeMap, FlopEnergies,
                            DtypeList, FlopRate, FlopRates, Fraction, GatherCurve, GatherPoint, Hertz, Joules, JoulesPerByte,
                            JoulesPerFlop, Overhead, PositiveNumber, Problem, Seconds, Text, Tile, Watts, choice,
                            cross, did_you_mean, duplicate_keys, field_key, model_in, problems_from_validation,
                            size_text)
from .plausible import implausible
from .units import fmt_bandwidth, fmt_bytes, fmt_flop_rate, fmt_time

__all__ = ["Accelerator", "Compute", "MatrixUnit", "VectorUnit", "HashUnit", "Memory", "Dram", "SramLevel",
           "Lookup", "NearMemory", "HotCache", "HostTier", "GatherPoint", "Runtime", "Energy", "Area", "DtypeMap",
           "DTYPES", "ConfigError", "Problem",
           "load_accelerator", "validate_accelerator", "list_presets", "override", "PRESET_DIR"]

PRESET_DIR = Path(__file__).with_name("presets")

# ---- the parts -------------------------------------------------------------------------------------

class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class MatrixUnit(_Part):
    peak_flops_per_s: FlopRates = Field(alias="peak")
    tile: Tile            # (m, n, k) the engine computes at once
    cores: Count          # SMs / cores / arrays over which tiles are spread in waves
    efficiency: Fraction  # fraction of peak reached on large, well-shaped products
    # Fused attention kernels reach less of peak than plain products (softmax between the two products,
    # small head dimensions); None = efficiency.
    attention_efficiency: Fraction | None = None
    # dtypes multiplied in fixed tiles, whose rows a product with fewer rows pads to tile[0] (AMX's
    # 16-row tiles, a GPU's MMA fragments); other dtypes run on vector FMAs that have no rows to pad
    # (a CPU without AMX). None: every dtype (GPUs, ASICs).
    tile_dtypes: DtypeList | None = None

    def sustained_flops_per_s(self, dtype: str) -> float:
        return self.peak_flops_per_s[dtype] * self.efficiency


class VectorUnit(_Part):
    peak_flops_per_s: FlopRates = Field(alias="peak")
    efficiency: Fraction
    # Transcendental evaluations (exp, log, erf) per second, as elementwise kernels reach them ("4 GOP/s":
    # one OP = one evaluation). A CPU computes each as a polynomial of dozens of vector instructions, so
    # it costs far more than its FLOP count; GPUs run them on special-function units beside the FMAs.
    # None: no cost beyond the FLOPs (the unit keeps up with its FMAs).
    special_function_per_s: FlopRate | None = Field(None, alias="special_function")

    def sustained_flops_per_s(self, dtype: str) -> float:
        return self.peak_flops_per_s[dtype] * self.efficiency


class HashUnit(_Part):
    chunks_per_cycle: Count
    units: Count


class Compute(_Part):
    matrix: MatrixUnit
    vector: VectorUnit
    hash_unit: HashUnit | None = None  # absent: hashing runs on the vector unit
    # Memory-level parallelism: independent chains of dependent loads the chip keeps in flight (GPU:
    # resident threads; CPU: cores x outstanding misses). Bounds latency-bound gathers by Little's law.
    # None: no such bound (the memory system is modelled as bandwidth only).
    threads_in_flight: Count | None = None


class Dram(_Part):
    capacity_bytes: Bytes = Field(alias="capacity")
    bandwidth_bytes_per_s: Bandwidth = Field(alias="bandwidth")
    efficiency: Fraction  # fraction of peak a streaming copy reaches
    access_granularity_bytes: Bytes = Field(alias="access_granularity")
    burst_bytes: Bytes = Field(alias="burst")
    latency_s: Seconds = Field(alias="latency")
    channels: Count
    banks_per_channel: Count
    row_buffer_bytes: Bytes | None = Field(None, alias="row_buffer")
    energy_per_byte_j: JoulesPerByte = Field(alias="energy_per_byte")
    # Fraction of peak that skinny products (1 to ~256 tokens) reach while streaming their weight: a
    # short kernel whose few output tiles cannot keep as many reads in flight as a copy. None = efficiency.
    weight_stream_efficiency: Fraction | None = None

    @property
    def sustained_bandwidth_bytes_per_s(self) -> float:
        return self.bandwidth_bytes_per_s * self.efficiency

    @property
    def weight_stream_bandwidth_bytes_per_s(self) -> float:
        return self.bandwidth_bytes_per_s * (self.weight_stream_efficiency or self.efficiency)

    @model_validator(mode="after")
    def _consistent(self):
        p = []
        row = self.row_buffer_bytes
        one_row_each = self.channels * self.banks_per_channel * (row or self.burst_bytes)
        if self.capacity_bytes < one_row_each:
            p.append((("capacity",), f"{size_text(self.capacity_bytes)} is smaller than one "
                      f"{'row' if row else 'burst'} in every bank (channels x banks_per_channel x "
                      f"{'row_buffer' if row else 'burst'} = {size_text(one_row_each)})"))
        if row is not None and row < self.burst_bytes:
            p.append((("row_buffer",), f"{size_text(row)} is smaller than one burst "
                      f"({size_text(self.burst_bytes)})"))
        cross(p)
        return self


class SramLevel(_Part):
    name: Text
    # "cache": hardware-managed (GPU L2, CPU caches): what a kernel writes still goes to DRAM;
    # "scratchpad": software-managed (NPU/ASIC SRAM): the compiler keeps activations here between ops.
    kind: Annotated[Literal["cache", "scratchpad"], choice("cache", "scratchpad")] = "cache"
    capacity_bytes: Bytes = Field(alias="capacity")
    bandwidth_bytes_per_s: Bandwidth = Field(alias="bandwidth")
    latency_s: Seconds = Field(alias="latency")
    banks: Count          # independent arrays: the area model prices their periphery (hwsim.area)
    energy_per_byte_j: JoulesPerByte = Field(alias="energy_per_byte")


class Memory(_Part):
    dram: Dram
    sram: tuple[SramLevel, ...]  # ordered from the level nearest DRAM to the one nearest compute
    host: HostTier | None = None  # optional tier beyond DRAM for tables (hwsim.engines.lookup_hw)

    @model_validator(mode="after")
    def _unique_names(self):
        seen: dict[str, int] = {}
        p = []
        for i, level in enumerate(self.sram):
            if level.name in seen:
                p.append((("sram", i, "name"), f'"{level.name}" is also the name of sram[{seen[level.name]}]'))
            seen.setdefault(level.name, i)
        cross(p)
        return self


class NearMemory(_Part):
    """Memory-side adders (hwsim.engines.lookup_hw). The host sends one (row id, weight) command per row;
    each unit reads its rows from its own banks and sums them; only the summed row crosses the bus."""
    clock_hz: Hertz = Field(alias="clock")                     # clock of the memory-side logic
    lanes: Count                                               # elements one unit multiply-adds per cycle
    command_bytes: Bytes = Field(alias="command_bytes")        # bus bytes per (row id, weight) command
    internal_energy_per_byte_j: JoulesPerByte = Field(alias="internal_energy_per_byte")
    energy_per_mac_j: Joules = Field(alias="energy_per_mac")   # one element's multiply-add in a unit
    # stated internal bandwidth; None: banks x bank_width x clock
    internal_bandwidth_bytes_per_s: Bandwidth | None = Field(None, alias="internal_bandwidth")
    scope: Annotated[Literal["bank", "bank_group", "channel", "rank"],
                     choice("bank", "bank_group", "channel", "rank")] = "bank_group"


class HotCache(_Part):
    """A cache of hot table rows in front of wherever the rows live (hwsim.engines.reuse for hit rates)."""
    capacity_bytes: Bytes = Field(alias="capacity")
    policy: Annotated[Literal["lru", "static_top_k"], choice("lru", "static_top_k")] = "lru"
    bandwidth_bytes_per_s: Bandwidth = Field(alias="bandwidth")
    latency_s: Seconds = Field(alias="latency")
    energy_per_byte_j: JoulesPerByte = Field(alias="energy_per_byte")


class HostTier(_Part):
    """Memory beyond the device's DRAM (host DDR over PCIe, a CXL expander) that may hold the tables."""
    name: Text = "host"
    capacity_bytes: Bytes = Field(alias="capacity")
    bandwidth_bytes_per_s: Bandwidth = Field(alias="bandwidth")   # one direction of the link
    latency_s: Seconds = Field(alias="latency")                   # loaded, request to data
    energy_per_byte_j: JoulesPerByte = Field(alias="energy_per_byte")  # link plus the far DRAM
    access_granularity_bytes: Bytes = Field(64.0, alias="access_granularity")  # smallest read moved


class Lookup(_Part):
    placement: Annotated[Literal["on_chip", "off_chip_cached", "near_memory"],
                         choice("on_chip", "off_chip_cached", "near_memory")]
    banks: Count
    bank_width_bytes: Bytes = Field(alias="bank_width")
    capacity_bytes: Bytes = Field(alias="capacity")
    access_latency_s: Seconds = Field(alias="access_latency")
    energy_per_access_j: Joules = Field(alias="energy_per_access")
    gather_efficiency: GatherCurve | None = None
    near_memory: NearMemory | None = None  # memory-side adders (placement near_memory); None: defaults
    hot_cache: HotCache | None = None      # a hot-row cache in front of the rows' home

    @model_validator(mode="after")
    def _consistent(self):
        p = []
        one_row = self.banks * self.bank_width_bytes
        if self.capacity_bytes < one_row:
            p.append((("capacity",), f"{size_text(self.capacity_bytes)} is smaller than one row across all "
                      f"banks (banks x bank_width = {size_text(one_row)})"))
        rows = [g.row_bytes for g in self.gather_efficiency or ()]
        for i in range(1, len(rows)):
            if rows[i] <= rows[i - 1]:
                p.append((("gather_efficiency", i), f"row sizes must increase; {size_text(rows[i])} "
                          f"follows {size_text(rows[i - 1])}"))
        cross(p)
        return self


class Runtime(_Part):
    launch_overhead_eager_s: Overhead = Field(alias="launch_overhead_eager")
    launch_overhead_graph_s: Overhead = Field(alias="launch_overhead_graph")
    min_kernel_time_s: Overhead = Field(alias="min_kernel_time")
    mode: Annotated[Literal["eager", "graph"], choice("eager", "graph")]
    # How ops become kernels: "torch" = as PyTorch runs the models (the hash as a dozen elementwise
    # kernels, lookups as embedding_bag); "fused" = one kernel per op, on the unit made for it.
    lowering: Annotated[Literal["torch", "fused"], choice("torch", "fused")] = "fused"
    graph_launch_s: Overhead = Field(0.0, alias="graph_launch")  # once per replayed graph (block)
    # device-side delay from a launch reaching an idle device to the kernel running (eager mode)
    launch_latency_s: Overhead = Field(0.0, alias="launch_latency")

    @property
    def launch_overhead_s(self) -> float:
        return self.launch_overhead_eager_s if self.mode == "eager" else self.launch_overhead_graph_s

    @model_validator(mode="after")
    def _graph_not_slower(self):
        # Replaying a graph removes host work per kernel; it cannot add any.
        if self.launch_overhead_graph_s > self.launch_overhead_eager_s:
            cross([(("launch_overhead_graph",), f"{fmt_time(self.launch_overhead_graph_s)} is more than "
                     f"launch_overhead_eager ({fmt_time(self.launch_overhead_eager_s)})")])
        return self


class Energy(_Part):
    idle_power_w: Watts = Field(alias="idle_power")
    mac_j_per_flop: FlopEnergies = Field(alias="mac")
    vector_op_j_per_flop: JoulesPerFlop = Field(alias="vector_op")
    hash_per_chunk_j: Joules = Field(alias="hash_per_chunk")
    # Power above idle whenever the device runs anything (clocks and voltage up, schedulers, caches
    # awake), whatever the kernel does; action energies come on top of it.
    active_power_w: Watts = Field(0.0, alias="active_power")
    notes: str = ""


# What hwsim.area needs beyond the timing model; the per-node constants live in hwsim/area.py.
NODES = ("N7", "N5", "4N", "N3E", "Intel7")
DRAM_INTERFACES = ("hbm2", "hbm2e", "hbm3", "hbm3e", "ddr5", "lpddr5")


class Area(_Part):
    # process node whose bitcell and logic density price the chip; None: from technology_nm
    node: Annotated[Literal[NODES], choice(*NODES)] | None = None
    # the DRAM standard whose PHY and controller sit on the die; None: from kind (cpu ddr5, npu lpddr5, else hbm3)
    dram_interface: Annotated[Literal[DRAM_INTERFACES], choice(*DRAM_INTERFACES)] | None = None


class Accelerator(_Part):
    name: Text
    description: str = ""
    kind: Annotated[Literal["gpu", "cpu", "systolic", "npu", "asic"],
                    choice("gpu", "cpu", "systolic", "npu", "asic")]
    technology_nm: PositiveNumber
    sources: Citations
    clock_hz: Hertz = Field(alias="clock")
    compute: Compute
    memory: Memory
    lookup: Lookup
    runtime: Runtime
    energy: Energy
    area: Area | None = None  # optional: node and DRAM interface for the area model

    @model_validator(mode="after")
    def _energy_for_every_dtype_and_plausible(self):
        # The energy model multiplies FLOPs by mac[dtype]; a dtype the engine can run needs a price.
        missing = [d for d in self.compute.matrix.peak_flops_per_s if d not in self.energy.mac_j_per_flop]
        cross([(("energy", "mac"), f'no entry for dtype "{d}", which compute.matrix.peak lists')
               for d in missing] + implausible(self))
        return self

    def with_overrides(self, changes: Mapping[str, Any] | None = None, /, **dotted) -> "Accelerator":
        """A new validated Accelerator: `a.with_overrides(memory__dram__bandwidth_bytes_per_s=8e12)`."""
        return override(self, {**(changes or {}), **{k.replace("__", "."): v for k, v in dotted.items()}})

    def summary(self) -> str:
        m, d = self.compute.matrix, self.memory.dram
        peaks = ", ".join(f"{k} {fmt_flop_rate(v)}" for k, v in m.peak_flops_per_s.items())
        return (f"{self.name} ({self.kind}, {self.technology_nm:g} nm): {peaks}; "
                f"DRAM {fmt_bytes(d.capacity_bytes)} at {fmt_bandwidth(d.bandwidth_bytes_per_s)}; "
                f"lookup {self.lookup.placement}")


# ---- loading ---------------------------------------------------------------------------------------

def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def validate_accelerator(data: Any, source: str = "<dict>", pending: tuple[Problem, ...] = (),
                         numbers: str = "si") -> Accelerator:
    """Validate a YAML-shaped mapping; raise one ConfigError with every problem (plus `pending` ones).
    numbers: "si" (a bare number is an SI value: Python callers) or "unit" (files: dimensioned values
    must carry their unit, so `latency: 550` is refused rather than read as 550 s)."""
    problems = list(pending)
    if not isinstance(data, Mapping):
        problems.append(Problem(source, "", "expected a mapping of keys to values at the top level, "
                                f"given {'nothing (empty file)' if data is None else type(data).__name__}"))
        raise ConfigError(problems)
    try:
        accel = Accelerator.model_validate(data, context={"numbers": numbers})
    except ValidationError as e:
        problems += problems_from_validation(e, source, Accelerator)
    if problems:
        raise ConfigError(problems)
    return accel


def load_accelerator(name_or_path) -> Accelerator:
    """A preset name ("h200") or the path of a YAML file -> validated Accelerator."""
    if isinstance(name_or_path, Accelerator):
        return name_or_path
    text = str(name_or_path)
    looks_like_path = isinstance(name_or_path, Path) or text.endswith((".yaml", ".yml")) or "/" in text
    if looks_like_path:
        path, source = Path(text), text
    elif text in list_presets():
        path, source = PRESET_DIR / f"{text}.yaml", f"hwsim/config/presets/{text}.yaml"
    else:
        hint = did_you_mean(text, list_presets())
        raise ConfigError([Problem(f'preset "{text}"', "", "no such accelerator preset"
                                   + (hint if "did you mean" in hint else "")
                                   + f" (available presets: {', '.join(list_presets())})")])
    try:
        stat = path.stat()
    except OSError as e:
        raise ConfigError([Problem(source, "", f"cannot read the file ({e.strerror})")]) from None
    return _load_file(str(path), source, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)  # sweeps load the same file thousands of times; mtime keeps edits visible
def _load_file(path: str, source: str, _mtime_ns: int) -> Accelerator:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:  # a binary file: name it, never a bare codec error
        raise ConfigError([Problem(source, "", f"not a text YAML file (byte {e.object[e.start]:#04x} at offset "
                                               f"{e.start} is not UTF-8)")]) from None
    except IsADirectoryError:
        raise ConfigError([Problem(source, "", "is a directory; expected a YAML file")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError([Problem(source, "", f"not valid YAML: {e}")]) from None
    return validate_accelerator(data, source, tuple(duplicate_keys(text, source)), numbers="unit")


# ---- overrides (design-space sweeps) ---------------------------------------------------------------

def override(accel: Accelerator, changes: Mapping[str, Any], source: str | None = None) -> Accelerator:
    """A new validated Accelerator with dotted keys replaced.

    Keys may use Python or YAML spelling ("memory.dram.bandwidth_bytes_per_s" or "memory.dram.bandwidth");
    list items by index or by name ("memory.sram[0].bandwidth", "memory.sram.L2.bandwidth"); values may
    be SI numbers or unit strings (with their unit: "200 ns", never "200"). Every bad key or value is
    reported in one ConfigError.

    Peak FLOP rates are totals at the config's clock and core count, so a new `clock` scales both
    units' peaks, and a new `compute.matrix.cores` the matrix peak and `threads_in_flight`, by the ratio
    (the rate per core per cycle and the threads per core stay), unless the same override sets them.
    """
    source = source or f"override of {accel.name}"
    data = _thaw(accel.model_dump(by_alias=True))  # YAML spelling, SI values: re-validates as it stands
    problems, touched = [], set()
    for dotted, value in changes.items():
        msg, path = _assign(data, re.findall(r"[^.\[\]]+", dotted), value)
        if msg:
            problems.append(Problem(source, dotted, msg))
        touched.add(path)
    if problems:
        raise ConfigError(problems)
    new = validate_accelerator(data, source)
    if _scale_peaks(accel, new, data, touched):
        new = validate_accelerator(data, source)
    return new


def _scale_peaks(old: Accelerator, new: Accelerator, data: dict, touched: set) -> bool:
    """Keep the rate per core per cycle (and the threads per core) when clock or matrix cores change;
    True if anything moved."""
    clock = new.clock_hz / old.clock_hz
    cores = new.compute.matrix.cores / old.compute.matrix.cores
    factors = {"matrix": clock * cores, "vector": clock}
    moved = False

    def explicit(path):  # set by this override, itself or through a mapping above it
        return any(path[:len(t)] == t for t in touched)

    # threads in flight are per core too (a GPU SM's resident threads, a CPU core's fill buffers)
    tif = data["compute"].get("threads_in_flight")
    if cores != 1.0 and tif and not explicit(("compute", "threads_in_flight")):
        data["compute"]["threads_in_flight"] = max(1, round(tif * cores))
        moved = True

    for unit, factor in factors.items():
        if factor == 1.0:
            continue
        peaks = data["compute"][unit]["peak"]
        for dtype in peaks:
            if not explicit(("compute", unit, "peak", dtype)):
                peaks[dtype] = peaks[dtype] * factor
                moved = True
    return moved


def _thaw(obj):
    """Tuples to lists, all the way down, so that list items can be replaced in place."""
    if isinstance(obj, dict):
        return {k: _thaw(v) for k, v in obj.items()}
    return [_thaw(v) for v in obj] if isinstance(obj, (list, tuple)) else obj


def _assign(data: dict, parts: list[str], value) -> tuple[str | None, tuple]:
    """Set data[parts] = value, walking the model to map attribute names to YAML keys; (why not or
    None, the YAML key path that was set)."""
    node, model, path = data, Accelerator, []
    msg = _walk(node, model, parts, value, path)
    return msg, tuple(path)


def _walk(node, model, parts: list[str], value, path: list) -> str | None:
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            names = [str(item.get("name")) for item in node if isinstance(item, dict)]
            idx = int(part) if part.isdigit() and int(part) < len(node) else (
                names.index(part) if part in names else None)
            if idx is None:
                return (f'no list item "{part}"; give an index below {len(node)} or a name'
                        + did_you_mean(part, names))
            path.append(idx)
            if last:
                node[idx] = value
                return None
            if not isinstance(node[idx], dict):
                return f'list item "{part}" holds a value, not more keys'
            node = node[idx]
            continue
        if model is None:  # a free mapping such as peak: {dtype: rate}; validation checks the key
            if not last:
                return f'"{part}" holds a value, not more keys'
            path.append(part)
            node[part] = value
            return None
        keys = {field_key(n, f): n for n, f in model.model_fields.items()}
        by_name = {n: k for k, n in keys.items()}
        key = part if part in keys else by_name.get(part)
        if key is None:
            return "unknown key" + did_you_mean(part, [*keys, *by_name])
        path.append(key)
        if last:
            node[key] = value
            return None
        if node.get(key) is None:  # e.g. an absent hash_unit: start it empty, validation asks for the rest
            node[key] = {}
        if not isinstance(node[key], (dict, list)):
            return f'"{key}" holds a value, not more keys'
        node, model = node[key], model_in(model.model_fields[keys[key]].annotation)
    return None

