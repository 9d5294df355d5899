"""Physical laws of the analytic engine, as hypothesis properties over every preset, lowering (torch,
fused), lookup impl (embedding_bag, gather_sum, fused) and launch mode (eager, graph):

- roofline: no op moves bytes faster than the peak of any memory it touches (DRAM, each SRAM level,
  the lookup banks);
- more work (tokens, by sequence or batch) never takes less time or energy;
- more of any resource (bandwidth, banks, capacity, cores, clock, threads in flight, efficiency) or a
  lower latency never takes more time.

The bounds come from the Kernel's own byte counts and the config's peaks, never from the engine's terms.
Workloads are small so that the laws run in seconds.
"""
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import workloads
from hwsim import list_presets, load_accelerator, simulate
from hwsim.engines.options import resolve_options
from hwsim.engines.run import kernel_costs

PRESETS = tuple(list_presets())
REL = 1e-9  # float round-off allowance
# HWSIM_LAW_EXAMPLES=1000 runs the laws harder (the suite keeps them short)
EXAMPLES = int(os.environ.get("HWSIM_LAW_EXAMPLES", "40"))
LAWS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

options = st.fixed_dictionaries({"mode": st.sampled_from(["eager", "graph"]),
                                 "lowering": st.sampled_from(["torch", "fused"]),
                                 "lookup_impl": st.sampled_from(["embedding_bag", "gather_sum", "fused"])})


@st.composite
def small_blocks(draw):
    kind = draw(st.sampled_from(["transformer", "memoryformer"]))
    hidden = 64 * draw(st.integers(1, 2))
    return dict(kind=kind, hidden_size=hidden, seq_len=draw(st.integers(1, 48)), batch=draw(st.integers(1, 2)),
                expand_bits=draw(st.integers(0, 2)), dtype=draw(st.sampled_from(["bf16", "fp32"])))


@st.composite
def small_layers(draw):
    kind = draw(st.sampled_from(["memory", "gather", "linear", "attention"]))
    n = draw(st.integers(1, 256))
    if kind == "memory":  # up to 512 MiB of tables: more than lut-asic's banks or any cache hold
        return workloads.layer("memory", n, 8 * draw(st.integers(1, 256)), draw(st.sampled_from([64, 512, 4096])))
    if kind == "gather":
        return workloads.layer("gather", n, 1, draw(st.sampled_from([16, 64, 512, 2048])),
                               table_rows=draw(st.integers(1, 1 << 16)))
    if kind == "attention":
        return workloads.layer("attention", n, 64 * draw(st.integers(1, 2)))
    return workloads.layer("linear", n, draw(st.integers(1, 1024)), draw(st.integers(1, 1024)))


any_workload = st.one_of(small_blocks().map(lambda kw: workloads.block(**kw)), small_layers())


# ---- roofline ------------------------------------------------------------------------------------------

@LAWS
@given(w=any_workload, preset=st.sampled_from(PRESETS), opts=options)
def test_no_op_moves_bytes_faster_than_any_memory_allows(w, preset, opts):
    accel = load_accelerator(preset)
    r = simulate(w, accel, **opts)
    lk = accel.lookup
    for _, row in r.ops.iterrows():
        # DRAM: every byte an op reads or writes there, at the datasheet peak (not the sustained rate)
        assert row["busy_s"] >= row["dram_bytes"] / accel.memory.dram.bandwidth_bytes_per_s * (1 - REL), row["op"]
        # lookup banks: bank_width bytes per bank per cycle
        bank_peak = lk.banks * lk.bank_width_bytes * accel.clock_hz
        assert row["busy_s"] >= row["lookup_bytes"] / bank_peak * (1 - REL), row["op"]
    # each SRAM level, kernel by kernel: the level nearest DRAM moves at least what the kernel streams (its
    # reads and writes pass there, to DRAM or kept on chip) and, behind a cache, every row it gathers
    for c in kernel_costs(w, accel, resolve_options(accel, **opts)):
        k = c.kernel
        assert len(c.level_bytes) == len(accel.memory.sram)
        for moved, level in zip(c.level_bytes, accel.memory.sram):
            assert c.busy_s >= moved / level.bandwidth_bytes_per_s * (1 - REL), (k.name, level.name)
        if accel.memory.sram:
            must = k.stream_read_bytes + k.stream_write_bytes
            if k.gather is not None and lk.placement == "off_chip_cached":
                must += k.gather["accesses"] * k.gather["access_bytes"]
            assert c.level_bytes[0] >= must * (1 - REL), k.name
            assert c.busy_s >= must / accel.memory.sram[0].bandwidth_bytes_per_s * (1 - REL), k.name


def test_a100_gather_of_103_mb_takes_at_least_its_bytes_over_peak():
    # issue 8: 100000 random 512 B rows (51 MB) read and written (+ 0.8 MB of indices) in 29.5 us
    w = workloads.layer("gather", 100000, 1, 256, table_rows=1 << 20)
    r = simulate(w, "a100")
    row = r.ops.loc[0]
    assert row["dram_bytes"] >= 2 * 100000 * 512
    peak = 2.039e12  # a100.yaml: datasheet 2039 GB/s
    assert row["busy_s"] >= row["dram_bytes"] / peak
    # the rows read at random and the rows written out share one DRAM: their times add, so the op takes
    # at least the write at the copy rate plus the reads at the best rate random rows can reach
    write_s = 100000 * 512 / (peak * 0.88)
    assert row["busy_s"] >= write_s + 100000 * 512 / (peak * 0.88)


# ---- more work is never faster -------------------------------------------------------------------------

@LAWS
@given(kw=small_blocks(), more_seq=st.integers(0, 48), more_batch=st.integers(0, 1),
       preset=st.sampled_from(PRESETS), opts=options)
def test_more_tokens_never_take_less_time_or_energy(kw, more_seq, more_batch, preset, opts):
    accel = load_accelerator(preset)
    small = simulate(workloads.block(**kw), accel, **opts)
    big = simulate(workloads.block(**{**kw, "seq_len": kw["seq_len"] + more_seq, "batch": kw["batch"] + more_batch}),
                   accel, **opts)
    assert big.latency_s >= small.latency_s * (1 - REL)
    assert big.energy_j >= small.energy_j * (1 - REL)


@LAWS
@given(n=st.integers(1, 512), more=st.integers(1, 512), d_in=st.sampled_from([64, 512, 2048]),
       d_out=st.sampled_from([64, 512, 4096]), kind=st.sampled_from(["memory", "memory_hash", "gather"]),
       preset=st.sampled_from(PRESETS), opts=options)
def test_more_tokens_through_one_layer_never_take_less_time_or_energy(n, more, d_in, d_out, kind, preset, opts):
    def layer(tokens):
        if kind == "gather":
            return workloads.layer("gather", tokens, 1, d_out, table_rows=4096)
        return workloads.layer(kind, tokens, d_in, d_out)
    small, big = simulate(layer(n), preset, **opts), simulate(layer(n + more), preset, **opts)
    assert big.latency_s >= small.latency_s * (1 - REL)
    assert big.energy_j >= small.energy_j * (1 - REL)


@pytest.mark.parametrize("preset", PRESETS)
def test_memoryformer_fused_block_is_not_faster_with_more_tokens(preset):
    # issue 8: on h200 (fused lowering) batch 2 took 248 us against 266 us at batch 1, and seq 512 less
    # than seq 256, because the chain of dependent reads was timed at the average miss fraction
    t = {(s, b): simulate(workloads.block("memoryformer", 512, s, b, heads=8), preset, lowering="fused").latency_s
         for s, b in [(256, 1), (256, 2), (512, 1)]}
    assert t[(256, 2)] >= t[(256, 1)] and t[(512, 1)] >= t[(256, 1)]


# ---- more resources are never slower -------------------------------------------------------------------

def _more(accel, what: str, f: float) -> dict:
    """An override giving `accel` f >= 1 times more of `what` (or 1/f of a latency)."""
    c, d, lk, rt = accel.compute, accel.memory.dram, accel.lookup, accel.runtime
    toward_one = lambda e: 1 - (1 - e) / f  # an efficiency, f times closer to 1
    whole = lambda n: math.ceil(n * f)
    if what == "clock":
        return {"clock": accel.clock_hz * f}
    if what == "matrix cores":
        return {"compute.matrix.cores": whole(c.matrix.cores)}
    if what in ("matrix peak", "vector peak"):
        unit = getattr(c, what.split()[0])
        return {f"compute.{what.split()[0]}.peak_flops_per_s": {k: v * f for k, v in unit.peak_flops_per_s.items()}}
    if what == "matrix efficiency":
        return {"compute.matrix.efficiency": toward_one(c.matrix.efficiency)}
    if what == "vector efficiency":
        return {"compute.vector.efficiency": toward_one(c.vector.efficiency)}
    if what == "threads in flight":
        return {"compute.threads_in_flight": whole(c.threads_in_flight)} if c.threads_in_flight else {}
    if what == "hash units":
        return {"compute.hash_unit.units": whole(c.hash_unit.units)} if c.hash_unit else {}
    if what == "dram bandwidth":
        return {"memory.dram.bandwidth_bytes_per_s": d.bandwidth_bytes_per_s * f}
    if what == "dram efficiency":
        return {"memory.dram.efficiency": toward_one(d.efficiency)}
    if what == "dram channels":
        return {"memory.dram.channels": whole(d.channels)}
    if what == "dram banks":
        return {"memory.dram.banks_per_channel": whole(d.banks_per_channel)}
    if what == "dram capacity":
        return {"memory.dram.capacity_bytes": d.capacity_bytes * f}
    if what == "dram latency":
        return {"memory.dram.latency_s": d.latency_s / f}
    if what.startswith("sram"):
        _, i, field = what.split()
        level = accel.memory.sram[int(i)] if int(i) < len(accel.memory.sram) else None
        if level is None:
            return {}
        key = f"memory.sram[{i}]"
        return {"capacity": {f"{key}.capacity_bytes": level.capacity_bytes * f},
                "bandwidth": {f"{key}.bandwidth_bytes_per_s": level.bandwidth_bytes_per_s * f},
                "latency": {f"{key}.latency_s": level.latency_s / f}}[field]
    if what == "lookup banks":
        return {"lookup.banks": whole(lk.banks)}
    if what == "lookup capacity":
        return {"lookup.capacity_bytes": lk.capacity_bytes * f}
    if what == "lookup latency":
        return {"lookup.access_latency_s": lk.access_latency_s / f}
    if what == "launch costs":
        return {f"runtime.{k}": getattr(rt, k) / f for k in ("launch_overhead_eager_s", "launch_overhead_graph_s",
                                                               "min_kernel_time_s", "graph_launch_s", "launch_latency_s")}
    raise ValueError(what)


RESOURCES = ("clock", "matrix cores", "matrix peak", "vector peak", "matrix efficiency", "vector efficiency",
             "threads in flight", "hash units", "dram bandwidth", "dram efficiency", "dram channels", "dram banks",
             "dram capacity", "dram latency", "sram 0 capacity", "sram 0 bandwidth", "sram 0 latency",
             "sram 1 capacity", "sram 1 bandwidth", "sram 1 latency", "sram 2 bandwidth", "lookup banks",
             "lookup capacity", "lookup latency", "launch costs")


@settings(max_examples=2 * EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w=any_workload, preset=st.sampled_from(PRESETS), what=st.sampled_from(RESOURCES),
       factor=st.floats(1.0, 8.0), opts=options)
def test_more_of_any_resource_never_takes_more_time(w, preset, what, factor, opts):
    accel = load_accelerator(preset)
    change = _more(accel, what, factor)
    if not change:
        return  # this machine has no such resource
    more = accel.with_overrides(change)
    base, after = simulate(w, accel, **opts), simulate(w, more, **opts)
    assert after.latency_s <= base.latency_s * (1 + REL), (what, factor, after.latency_s, base.latency_s)
    slower = after.ops["busy_s"].to_numpy() > base.ops["busy_s"].to_numpy() * (1 + REL)
    assert not slower.any(), (what, factor, list(base.ops["op"][slower]))


@pytest.mark.parametrize("preset", PRESETS)
def test_doubling_the_clock_halves_a_compute_bound_product(preset):
    # the peaks are totals at the config's clock: a clock override keeps the rate per core per cycle
    accel = load_accelerator(preset)
    w = workloads.layer("linear", 8192, 8192, 8192, dtype="bf16" if "bf16" in accel.compute.matrix.peak_flops_per_s
                        else "fp32")
    base = simulate(w, accel).ops.loc[0]
    fast = simulate(w, accel.with_overrides({"clock": 2 * accel.clock_hz})).ops.loc[0]
    assert fast["compute_s"] == pytest.approx(base["compute_s"] / 2, rel=1e-9)
    cores = accel.compute.matrix.cores
    more_cores = simulate(w, accel.with_overrides({"compute.matrix.cores": 2 * cores})).ops.loc[0]
    # twice the cores at the same rate each: the tiles run in ceil(tiles / 2 cores) waves instead of
    # ceil(tiles / cores)
    tm, tn, _ = accel.compute.matrix.tile
    tiles = math.ceil(8192 / tm) * math.ceil(8192 / tn)
    waves = math.ceil(tiles / (2 * cores)) / math.ceil(tiles / cores)
    assert more_cores["compute_s"] == pytest.approx(base["compute_s"] * waves, rel=1e-9)
