"""Measured figures + the nearest stock preset -> the text of a preset YAML, every number commented.

Pure text from data: no torch, no timing, so the CUDA branch is tested here with figures made up by
hand. Each value's comment names the benchmark (measured.csv impl) and the figure it measured, or
the file it was read from, or says that it comes from the stock preset because timing cannot
measure it (energies, process node, DRAM organisation, ...).

Figure keys (records.Results.figures):
  matrix.{fp32,bf16,fp16}  FLOP/s of square products       attention      FLOP/s of causal SDPA
  dram.copy, dram.read     B/s streaming copy / read         skinny.{n}     B/s of weights, n-token products
  cache.{level}.bandwidth  B/s read from a cache level     gather.{bytes} B/s of gathered rows
  latency.{dram,<level>}   s per dependent read              launch.tiny_op s per tiny eager op
  launch.{graph_kernel,latency,graph,min_kernel} (CUDA)      embedding_bag  B/s (for the record)
"""
from __future__ import annotations

import json

from hwsim.calibrate.records import Figure, Machine
from hwsim.config.schema import Dram
from hwsim.config.units import (fmt_bandwidth, fmt_bytes, fmt_energy, fmt_flop_rate, fmt_frequency, fmt_power,
                         fmt_time)

STOCK = {"cpu": "cpu-2core", "cuda": "h200"}
MIN_OVERHEAD_S = 0.1e-6  # a launch or dispatch never costs nothing; keeps differences of noisy timings >= 0


def _num(x: float) -> str:
    return f"{x:.3g}"


class _Lines:
    def __init__(self):
        self.lines: list[str] = []

    def add(self, indent: int, key: str, value="", comment: str = ""):
        text = f"{'  ' * indent}{key}:" + (f" {value}" if value != "" else "")
        if comment:
            text = f"{text:<34} # {comment}" if len(text) < 34 else f"{text}  # {comment}"
        self.lines.append(text)

    def note(self, indent: int, comment: str):
        self.lines.append(f"{'  ' * indent}# {comment}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _src(source: str) -> str:
    return source if source.startswith("assumption") else f"read from {source}"


def _stock_note(stock) -> str:
    return f"as stock {stock.name} (not measurable by timing)"


def _fig(figs: dict, key: str) -> Figure | None:
    return figs.get(key)


def reads_alone(gathered_bytes_per_s: float, copy_bytes_per_s: float, row_bytes: int) -> float:
    """The gather-efficiency point of a random_row_gather figure (hwsim.engines.gather): the fraction of
    the copy rate (the preset's bandwidth, efficiency 1.0) that the random reads alone reach. The op also
    reads 8 B of int64 index per row and writes the rows out, streamed on the same DRAM at the copy rate:
    1 / f = copy / gathered - (1 + 8 / row_bytes). A gather that kept pace with the copy is capped at 1."""
    rest = copy_bytes_per_s / gathered_bytes_per_s - (1 + 8 / row_bytes)
    return 1.0 if rest <= 1.0 else 1.0 / rest


def tile_dtypes(flags) -> tuple[str, ...]:
    """The dtypes a CPU multiplies in matrix tiles: those with an AMX flag (amx_bf16, amx_int8, amx_fp16)."""
    return tuple(dt for dt in ("bf16", "int8", "fp16") if f"amx_{dt}" in flags) if "amx_tile" in flags else ()


def derived(machine: Machine, figs: dict[str, Figure], stock) -> dict:
    """The numbers the preset holds that are computed from several figures (tested on their own)."""
    out = {}
    copy = figs["dram.copy"].value
    out["dram_bandwidth"] = copy
    out["gather"] = [(int(k.split(".")[1]), reads_alone(f.value, copy, int(k.split(".")[1]))) for k, f in figs.items()
                     if k.startswith("gather.")]
    out["gather"].sort()
    rt = stock.runtime
    min_kernel = figs["launch.min_kernel"].value if "launch.min_kernel" in figs else rt.min_kernel_time_s
    out["min_kernel"] = min_kernel
    tiny = figs["launch.tiny_op"].value
    if machine.device == "cuda":  # host time per launch, measured as such: the kernels run on the device
        out["eager"] = max(MIN_OVERHEAD_S, tiny)
    else:  # the CPU runs each tiny op itself: its wall time is the dispatch plus the shortest kernel
        out["eager"] = max(MIN_OVERHEAD_S, tiny - min_kernel)
    if "launch.graph_kernel" in figs:  # per kernel replayed = graph overhead + the shortest kernel
        out["graph"] = min(out["eager"], max(MIN_OVERHEAD_S, figs["launch.graph_kernel"].value - min_kernel))
    else:
        out["graph"] = min(out["eager"], rt.launch_overhead_graph_s)
    lat = figs.get("latency.dram")
    out["dram_latency"] = lat.value if lat else stock.memory.dram.latency_s
    llc = machine.last_level_cache.name
    llc_lat = figs.get(f"latency.{llc}")
    out["llc_latency"] = llc_lat.value if llc_lat else stock.memory.sram[0].latency_s
    if machine.threads_in_flight:
        out["threads_in_flight"] = machine.threads_in_flight
    elif out["gather"]:
        # Little's law at the best rate of the random reads alone (reads_alone: the gather op also writes
        # its rows out and reads indices, which are no loads in flight): cache lines in flight = lines
        # per second x time per line, each one step of an index read from the cache and a line read from
        # DRAM (the engines' step). Smaller rows reach less (per-row work, not memory), which the gather
        # curve says.
        rb, frac = max(out["gather"], key=lambda p: (p[1], p[0]))
        bw = frac * copy
        step = out["dram_latency"] + out["llc_latency"]
        out["threads_in_flight"] = max(1, round(bw / machine.line_bytes * step))
        out["threads_from"] = (rb, bw, figs[f"gather.{rb}"].value, step)
    else:
        out["threads_in_flight"] = stock.compute.threads_in_flight
    return out


def preset_text(name: str, machine: Machine, figs: dict[str, Figure], stock, quick: bool, date: str,
                options: str = "") -> str:
    """The YAML text of the calibrated preset (options: further command-line flags, for the header)."""
    gpu = machine.device == "cuda"
    d = derived(machine, figs, stock)
    sn = _stock_note(stock)
    L = _Lines()
    L.note(0, f"{machine.model}: calibrated by `hwsim calibrate --device {machine.device}"
              f"{' --quick' if quick else ''}{options}` on {date} (torch {machine.torch_version}, "
              f"{machine.cores} {'SMs' if gpu else 'threads'}).")
    L.note(0, "Every measured number names the benchmark (impl in measured.csv beside this file) that gave it;")
    L.note(0, f"what timing cannot measure (energies, process node, DRAM organisation) is stock {stock.name}'s.")
    L.add(0, "name", json.dumps(name))
    L.add(0, "description", json.dumps(f"{machine.model}, calibrated on {date}"))
    L.add(0, "kind", "gpu" if gpu else "cpu")
    L.add(0, "technology_nm", _num(stock.technology_nm), sn)
    L.add(0, "sources")
    L.lines.append(f"  - {json.dumps(f'hwsim calibrate on {machine.model}: measured.csv beside this file')}")
    L.lines.append(f"  - {json.dumps(f'stock preset {stock.name} for values timing cannot measure')}")
    if machine.clock_hz:
        L.add(0, "clock", fmt_frequency(machine.clock_hz), _src(machine.clock_source))
    else:
        L.add(0, "clock", fmt_frequency(stock.clock_hz), f"{sn}: torch does not report the clock")

    mat, vec = stock.compute.matrix, stock.compute.vector
    L.lines.append("")
    L.add(0, "compute")
    L.add(1, "matrix")
    L.add(2, "peak")
    dtypes = [dt for dt in ("fp32", "bf16", "fp16") if f"matrix.{dt}" in figs]
    for dt in dtypes:
        f = figs[f"matrix.{dt}"]
        L.add(3, dt, fmt_flop_rate(f.value), f.detail)
    L.add(2, "tile", json.dumps(list(mat.tile)), sn)
    if not gpu:
        tiled = tile_dtypes(machine.flags)
        L.add(2, "tile_dtypes", json.dumps(list(tiled)),
              "AMX tiles (" + ", ".join(f"amx_{dt}" for dt in tiled) + " in /proc/cpuinfo flags)" if tiled else
              "no AMX in /proc/cpuinfo flags: every dtype runs on vector FMAs, rows not padded to tiles")
    L.add(2, "cores", machine.cores, "SMs, torch.cuda.get_device_properties" if gpu else
          "torch.get_num_threads() during the benchmarks")
    L.add(2, "efficiency", "1.0", "the peaks above are measured rates of large products, not datasheet peaks")
    att = figs.get("attention")
    att_dtype = "bf16" if gpu else "fp32"
    if att and f"matrix.{att_dtype}" in figs:
        eff = min(1.0, att.value / figs[f"matrix.{att_dtype}"].value)
        L.add(2, "attention_efficiency", _num(eff), f"{att.detail}, over the {att_dtype} peak above")
    L.add(1, "vector")
    L.add(2, "peak")
    fp32 = figs.get("matrix.fp32")
    if gpu:
        base = fp32.value if fp32 else vec.peak_flops_per_s["fp32"]
        src = "gemm_square fp32 above (TF32 off: CUDA cores)" if fp32 else sn
        L.add(3, "fp32", fmt_flop_rate(base), src)
        for dt in ("bf16", "fp16"):
            L.add(3, dt, fmt_flop_rate(2 * base), "2x fp32: packed bf16x2/fp16x2 FMA (as stock h200)")
    else:
        base = fp32.value if fp32 else vec.peak_flops_per_s["fp32"]
        L.add(3, "fp32", fmt_flop_rate(base), "as matrix fp32: the same SIMD FMA units" if fp32 else sn)
        L.add(3, "bf16", fmt_flop_rate(base), "elementwise bf16 is widened to fp32 lanes")
    L.add(2, "efficiency", "1.0", "as matrix: a measured rate")
    sf = figs.get("special_function")
    if sf:
        L.add(2, "special_function", fmt_flop_rate(sf.value).replace("FLOP/s", "OP/s"), sf.detail)
    if gpu:
        L.add(1, "threads_in_flight", d["threads_in_flight"], machine.threads_source)
    else:
        if "threads_from" in d:
            rb, bw, gathered, step = d["threads_from"]
            why = (f"Little's law: lines in flight = the random reads of random_row_gather {rb} B ({fmt_bandwidth(gathered)} "
                   f"of rows, reads alone {fmt_bandwidth(bw)}: the best) / {machine.line_bytes} B x "
                   f"({fmt_time(d['dram_latency'])} DRAM + {fmt_time(d['llc_latency'])} LLC per line)")
        else:
            why = sn
        L.add(1, "threads_in_flight", d["threads_in_flight"], why)

    L.lines.append("")
    _memory(L, machine, figs, stock, d, sn)
    L.lines.append("")
    _lookup(L, machine, figs, stock, d, sn)
    L.lines.append("")
    _runtime(L, figs, stock, d, sn, gpu)
    L.lines.append("")
    _energy(L, stock, dtypes, sn)
    area = getattr(stock, "area", None)
    if area is not None and (area.node or area.dram_interface):
        L.lines.append("")
        L.add(0, "area")
        if area.node:
            L.add(1, "node", area.node, sn)
        if area.dram_interface:
            L.add(1, "dram_interface", area.dram_interface, sn)
    return L.text()


def _memory(L, machine, figs, stock, d, sn):
    dram = stock.memory.dram
    L.add(0, "memory")
    L.add(1, "dram")
    L.add(2, "capacity", fmt_bytes(machine.memory_bytes, binary=True), _src(machine.memory_source))
    L.add(2, "bandwidth", fmt_bandwidth(d["dram_bandwidth"]), figs["dram.copy"].detail)
    for key in ("dram.read",):
        if key in figs:
            L.note(2, f"(for comparison, not used: {figs[key].detail})")
    skinny = sorted((int(k.split(".")[1]), f) for k, f in figs.items() if k.startswith("skinny."))
    if skinny:
        L.note(2, "(weights streamed by skinny products, not a preset field: "
                  + "; ".join(f"{n} tokens {fmt_bandwidth(f.value)}" for n, f in skinny) + ")")
    L.add(2, "efficiency", "1.0", "the bandwidth above is what a copy reaches")
    if skinny and "weight_stream_efficiency" in Dram.model_fields:
        n, f = skinny[0]
        L.add(2, "weight_stream_efficiency", _num(min(1.0, f.value / d["dram_bandwidth"])),
              f"{f.detail}, over the copy bandwidth above")
    L.add(2, "access_granularity", fmt_bytes(machine.line_bytes), _src(machine.line_source))
    L.add(2, "burst", fmt_bytes(dram.burst_bytes), sn)
    lat = figs.get("latency.dram")
    L.add(2, "latency", fmt_time(d["dram_latency"]), lat.detail if lat else sn)
    L.add(2, "channels", dram.channels, sn)
    L.add(2, "banks_per_channel", dram.banks_per_channel, sn)
    if dram.row_buffer_bytes:
        L.add(2, "row_buffer", fmt_bytes(dram.row_buffer_bytes, binary=True), sn)
    L.add(2, "energy_per_byte", fmt_energy(dram.energy_per_byte_j) + "/B", sn)
    L.add(1, "sram")
    stock_levels = list(stock.memory.sram)
    for i, level in enumerate(machine.caches):
        ref = stock_levels[min(i, len(stock_levels) - 1)]
        ref_note = f"as stock {stock.name} {ref.name} (not measured)"
        L.lines.append(f"    - name: {level.name}")
        L.add(3, "capacity", fmt_bytes(level.size_bytes, binary=True), _src(level.source))
        bw = figs.get(f"cache.{level.name}.bandwidth")
        L.add(3, "bandwidth", fmt_bandwidth(bw.value if bw else ref.bandwidth_bytes_per_s), bw.detail if bw else ref_note)
        lat = figs.get(f"latency.{level.name}")
        L.add(3, "latency", fmt_time(lat.value if lat else ref.latency_s), lat.detail if lat else ref_note)
        L.add(3, "banks", ref.banks, ref_note)
        L.add(3, "energy_per_byte", fmt_energy(ref.energy_per_byte_j) + "/B", ref_note)
    if machine.device == "cuda":  # shared memory: no torch op times it
        for ref in stock_levels[len(machine.caches):]:
            note = f"as stock {stock.name} {ref.name} (not measured)"
            L.lines.append(f"    - name: {ref.name}")
            L.add(3, "capacity", fmt_bytes(ref.capacity_bytes, binary=True), note)
            L.add(3, "bandwidth", fmt_bandwidth(ref.bandwidth_bytes_per_s), note)
            L.add(3, "latency", fmt_time(ref.latency_s), note)
            L.add(3, "banks", ref.banks, note)
            L.add(3, "energy_per_byte", fmt_energy(ref.energy_per_byte_j) + "/B", note)


def _lookup(L, machine, figs, stock, d, sn):
    lk = stock.lookup
    llc = machine.last_level_cache
    llc_energy = stock.memory.sram[0].energy_per_byte_j
    L.add(0, "lookup")
    L.add(1, "placement", "off_chip_cached", "tables in DRAM, rows through the last-level cache")
    L.add(1, "banks", lk.banks, sn)
    L.add(1, "bank_width", fmt_bytes(machine.line_bytes), f"one line: {_src(machine.line_source)}")
    L.add(1, "capacity", fmt_bytes(llc.size_bytes, binary=True), f"the {llc.name} above")
    lat = figs.get(f"latency.{llc.name}")
    L.add(1, "access_latency", fmt_time(d["llc_latency"]), f"the {llc.name} latency above" if lat else sn)
    L.add(1, "energy_per_access", fmt_energy(machine.line_bytes * llc_energy),
          f"{machine.line_bytes} B x stock {stock.name} {stock.memory.sram[0].name} {fmt_energy(llc_energy)}/B")
    if d["gather"]:
        L.note(1, "random_row_gather rows of measured.csv, reads alone: 1 / (bandwidth above / GB/s of gathered rows "
                  "- (1 + 8 B index / row))")
        L.add(1, "gather_efficiency")
        for rb, frac in d["gather"]:
            f = figs[f"gather.{rb}"]
            size = fmt_bytes(rb, binary=True) if rb >= 1024 else f"{rb} B"
            L.lines.append(f"    - [{size}, {frac:.3g}]".ljust(34) + f" # {f.detail}")


def _runtime(L, figs, stock, d, sn, gpu):
    rt = stock.runtime
    tiny = figs["launch.tiny_op"]
    L.add(0, "runtime")
    L.add(1, "launch_overhead_eager", fmt_time(d["eager"]),
          f"{tiny.detail} (host time per launch)" if gpu else f"{tiny.detail}, less min_kernel_time")
    if "launch.graph_kernel" in figs:
        L.add(1, "launch_overhead_graph", fmt_time(d["graph"]),
              f"{figs['launch.graph_kernel'].detail}, less min_kernel_time")
    else:
        L.add(1, "launch_overhead_graph", fmt_time(d["graph"]),
              f"{sn}: no graph replay on this device" + (" (capped at the eager cost)"
                                                         if d["graph"] < rt.launch_overhead_graph_s else ""))
    mk = figs.get("launch.min_kernel")
    L.add(1, "min_kernel_time", fmt_time(d["min_kernel"]), mk.detail if mk else sn)
    for key, field in (("launch.latency", "launch_latency"), ("launch.graph", "graph_launch")):
        f = figs.get(key)
        if f:
            L.add(1, field, fmt_time(max(0.0, f.value)), f.detail)
        elif gpu:
            L.add(1, field, fmt_time(getattr(rt, f"{field}_s")), sn)
    L.add(1, "mode", "eager", "the measured rows are eager calls")
    L.add(1, "lowering", "torch", "the measured rows run PyTorch ops (hash as ~16 kernels, lookup as embedding_bag)")


def _energy(L, stock, dtypes, sn):
    e = stock.energy
    L.add(0, "energy")
    L.add(1, "idle_power", fmt_power(e.idle_power_w), sn)
    if e.active_power_w:
        L.add(1, "active_power", fmt_power(e.active_power_w), sn)
    L.add(1, "mac")
    for dt in dtypes:
        if dt in e.mac_j_per_flop:
            L.add(2, dt, fmt_energy(e.mac_j_per_flop[dt]) + "/FLOP", sn)
        else:  # e.g. fp16 on a stock CPU preset that lists only fp32 and bf16: the same 16-bit datapath
            other = "bf16" if "bf16" in e.mac_j_per_flop else "fp32"
            L.add(2, dt, fmt_energy(e.mac_j_per_flop[other]) + "/FLOP",
                  f"assumption: as stock {stock.name} {other} (it lists no {dt})")
    L.add(1, "vector_op", fmt_energy(e.vector_op_j_per_flop) + "/FLOP", sn)
    L.add(1, "hash_per_chunk", fmt_energy(e.hash_per_chunk_j), sn)
    L.add(1, "notes", json.dumps(f"Energies are stock {stock.name}'s; calibrate times, it does not meter power."))

