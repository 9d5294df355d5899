"""Physical laws the discrete-event engine must keep, as hypothesis properties over every preset, lowering,
lookup impl, mode and stream option (issue 8):

- roofline: no op is busy for less than its DRAM bytes / peak DRAM bandwidth, its cache bytes / cache
  bandwidth, or its lookup-bank accesses / (banks x clock);
- more tokens (sequence or batch) never lower a block's latency or energy;
- more resources (DRAM bandwidth, lookup banks, lookup capacity, threads in flight, clock) or a lower DRAM
  latency never raise the latency.

The bounds come from the preset's own datasheet numbers, never from a run. Sizes stay small (the DES
replays every lookup); hypothesis draws the combinations.
"""
from __future__ import annotations

import math
import os

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import workloads
from hwsim import list_presets, load_accelerator, simulate
from hwsim.engines.options import MODES
from hwsim.lowering import LOOKUP_IMPLS, LOWERINGS

PRESETS = tuple(list_presets())
ACCELS = {name: load_accelerator(name) for name in PRESETS}
# HWSIM_LAW_EXAMPLES=300 for a longer hunt than the suite's default
LAW = settings(max_examples=int(os.environ.get("HWSIM_LAW_EXAMPLES", 25)), deadline=None,
               suppress_health_check=[HealthCheck.too_slow])
TOL = 1e-9  # float rounding only
# Where kernels run side by side (several streams, or dataflow on accelerators with separate engines), they
# share FIFO queues (DRAM channels, banks, thread pool), and more work in one kernel can reorder the others'
# requests so that the block ends a little sooner: Graham's scheduling anomalies, which real devices show too.
# The laws hold there within 3% (hypothesis found 2.9%: the example below, three lookups on three streams of a
# 24 us block); on one stream (GPUs and CPUs by default) to rounding.
CONCURRENT_TOL = 0.03


def tolerance(accel, opts) -> float:
    streams = opts.get("streams")
    serial = streams == 1 or (streams is None and accel.kind in ("gpu", "cpu"))
    return TOL if serial else CONCURRENT_TOL


@st.composite
def cases(draw, kinds=("memoryformer", "transformer")):
    """(accelerator, block kwargs, simulate options): every preset, lowering, lookup impl, mode and stream
    model; an on-chip lookup memory is sometimes shrunk below the block's tables (so that it holds part of
    them and reads the rest from DRAM)."""
    accel = ACCELS[draw(st.sampled_from(PRESETS))]
    kind = draw(st.sampled_from(kinds))
    block = dict(kind=kind, hidden=draw(st.sampled_from([64, 128, 256])), seq=draw(st.integers(8, 160)),
                 batch=draw(st.integers(1, 2)))
    share = draw(st.sampled_from([None, None, 0.05, 0.3, 0.8]))
    if share and accel.lookup.placement == "on_chip" and kind == "memoryformer":
        tables = max(op.table.total_bytes for op in build(block).ops if op.table is not None)
        floor = accel.lookup.banks * accel.lookup.bank_width_bytes  # the schema's least capacity
        accel = accel.with_overrides({"lookup.capacity_bytes": max(floor, share * tables)})
    opts = dict(lowering=draw(st.sampled_from(LOWERINGS)), lookup_impl=draw(st.sampled_from(LOOKUP_IMPLS)),
                mode=draw(st.sampled_from(MODES)), bucket_distribution=draw(st.sampled_from(["uniform", "zipf"])),
                tables_resident=draw(st.booleans()), coarse=draw(st.booleans()),
                streams=draw(st.sampled_from([None, 1, 3, "dataflow"])))
    return accel, block, opts


def build(block):
    return workloads.block(block["kind"], block["hidden"], block["seq"], block["batch"], heads=2)


def run(accel, block, opts):
    return simulate(build(block), accel, engine="des", **opts)


# ---- roofline ---------------------------------------------------------------------------------------------

def check_roofline(r, accel):
    dram_bw = accel.memory.dram.bandwidth_bytes_per_s
    cache = accel.memory.sram[0] if accel.memory.sram else None
    lk = accel.lookup
    for row in r.ops.itertuples():
        if row.kernels == 0:
            continue
        floor = {"dram": row.dram_bytes / dram_bw}
        if cache is not None:
            floor["cache"] = row.sram_bytes / cache.bandwidth_bytes_per_s
        if lk.placement in ("on_chip", "near_memory"):
            floor["lookup banks"] = row.lookup_bytes / lk.bank_width_bytes / (lk.banks * accel.clock_hz)
        for level, t in floor.items():
            assert row.busy_s >= t * (1 - TOL), (f"{row.op} busy {row.busy_s:.4g} s < its {level} bytes at peak "
                                                 f"{t:.4g} s on {accel.name}")


@LAW
@given(cases())
def test_no_op_beats_the_roofline_of_a_level_it_touches(case):
    accel, block, opts = case
    check_roofline(run(accel, block, opts), accel)


@LAW
@given(st.sampled_from(PRESETS), st.sampled_from(LOWERINGS), st.sampled_from(LOOKUP_IMPLS),
       st.integers(1, 4000), st.sampled_from([64, 256]), st.sampled_from([1 << 10, 1 << 16]))
def test_a_lone_gather_or_memory_layer_keeps_the_roofline(preset, lowering, impl, tokens, width, rows):
    for w in (workloads.layer("gather", tokens, 1, width, table_rows=rows),
              workloads.layer("memory", tokens, 64, width)):
        check_roofline(simulate(w, preset, engine="des", lowering=lowering, lookup_impl=impl), ACCELS[preset])


def test_the_issue_gather_takes_at_least_its_bytes_at_peak():
    """Issue 8, item 1: 100k random 512 B rows on an A100 moved 103 MB in 29.5 us (analytic) against the
    50.5 us that 2.039 TB/s allows; the DES must not beat the bound (rows and output share the DRAM)."""
    r = simulate(workloads.layer("gather", 100000, 1, 256, table_rows=1 << 20), "a100", engine="des",
                 coarse=True)  # tiles of 1563 tokens: the same bytes, a second instead of ten
    row = r.ops.set_index("op").loc["gather"]
    assert row["dram_bytes"] >= 100000 * 512 * 2  # rows in, the same bytes out
    assert row["busy_s"] >= row["dram_bytes"] / 2.039e12


# ---- more tokens are never faster -------------------------------------------------------------------------

@LAW
@given(cases(), st.sampled_from(["seq", "batch"]), st.integers(1, 64))
# found by hypothesis: a tile of 16 tokens timed its chains of dependent reads by their mean step, so the
# reuse a second sequence brings shortened the critical path (now the longest chain)
@example((ACCELS["h200"], dict(kind="memoryformer", hidden=64, seq=8, batch=1),
          dict(lowering="torch", lookup_impl="embedding_bag", mode="eager", bucket_distribution="uniform",
               tables_resident=False, coarse=True, streams=1)), "batch", 1)
# found by hypothesis: the indices were split evenly over the tiles, so 18 tokens (tiles of 16 and 2) got
# their first tile's indices sooner than 16 tokens (one tile); now in proportion to each tile's tokens
@example((ACCELS["a100"], dict(kind="memoryformer", hidden=64, seq=8, batch=2),
          dict(lowering="torch", lookup_impl="embedding_bag", mode="graph", bucket_distribution="uniform",
               tables_resident=False, coarse=False, streams=None)), "seq", 1)
# found by hypothesis: a block of 150 tokens read its last lookup's rows from DRAM (loading its 4 MiB of
# tables looked slower), while 225 tokens loaded them behind the earlier ops; now the op decides at its
# start, knowing what was prefetched
@example((ACCELS["lut-asic"], dict(kind="memoryformer", hidden=128, seq=75, batch=2),
          dict(lowering="fused", lookup_impl="fused", mode="graph", bucket_distribution="uniform",
               tables_resident=False, coarse=False, streams=1)), "batch", 1)
# found by hypothesis: Q, K and V lookups on three streams (a100, d 256, 110 -> 165 tokens): the block got 0.7%
# shorter, the interleaving of three kernels on FIFO DRAM queues having changed (a scheduling anomaly, as on
# real hardware); within CONCURRENT_TOL
@example((ACCELS["a100"], dict(kind="memoryformer", hidden=256, seq=55, batch=2),
          dict(lowering="fused", lookup_impl="embedding_bag", mode="graph", bucket_distribution="uniform",
               tables_resident=False, coarse=False, streams=3)), "batch", 1)
# found by hypothesis: Q, K and V lookups on three streams of cpu-2core (d 128, 8 -> 9 tokens): V's lookup
# ran 3.15 -> 2.41 us as the larger Q and K lookups moved its requests in the shared queues; the block
# 23.87 -> 23.17 us (-2.9%), a scheduling anomaly as above (the same before the CPU dispatch change)
@example((ACCELS["cpu-2core"], dict(kind="memoryformer", hidden=128, seq=8, batch=1),
          dict(lowering="fused", lookup_impl="embedding_bag", mode="graph", bucket_distribution="uniform",
               tables_resident=False, coarse=False, streams=3)), "seq", 1)
def test_more_tokens_never_lower_latency_or_energy(case, axis, more):
    accel, block, opts = case
    bigger = {**block, axis: block[axis] + (more if axis == "seq" else 1)}
    small, big = run(accel, block, opts), run(accel, bigger, opts)
    tol = tolerance(accel, opts)
    assert big.latency_s >= small.latency_s * (1 - tol), (axis, small.latency_s, big.latency_s)
    assert big.energy_j >= small.energy_j * (1 - tol), (axis, small.energy_j, big.energy_j)


# ---- more resources are never slower ----------------------------------------------------------------------

def more_of(accel, resource: str, factor: float):
    """The accelerator with `factor` times the resource (a DRAM latency divided by it); None where the
    preset does not have the resource. Bank counts grow by whole multiples: a bank count k times larger maps
    every row to a bank whose load is at most that of its bank before (start bank = f(row) mod banks, for
    every mapping); from 500 to 512 banks a row may land anywhere, and a hot bucket can move onto a busy bank."""
    if resource == "dram bandwidth":
        bw = accel.memory.dram.bandwidth_bytes_per_s
        return accel.with_overrides({"memory.dram.bandwidth_bytes_per_s": bw * factor})
    if resource == "dram latency":
        return accel.with_overrides({"memory.dram.latency_s": accel.memory.dram.latency_s / factor})
    if resource == "lookup banks":
        if accel.lookup.placement == "off_chip_cached":
            return None  # cache slices: the DES does not queue on them
        k = max(2, round(factor))
        return accel.with_overrides({"lookup.banks": accel.lookup.banks * k,
                                     "lookup.capacity_bytes": accel.lookup.capacity_bytes * k})
    if resource == "lookup capacity":
        return accel.with_overrides({"lookup.capacity_bytes": accel.lookup.capacity_bytes * factor})
    if resource == "threads in flight":
        tif = accel.compute.threads_in_flight
        return None if not tif else accel.with_overrides({"compute.threads_in_flight": math.ceil(tif * factor)})
    if resource == "clock":
        return accel.with_overrides({"clock_hz": accel.clock_hz * factor})
    raise AssertionError(resource)


RESOURCES = ("dram bandwidth", "dram latency", "lookup banks", "lookup capacity", "threads in flight", "clock")


@LAW
@given(cases(), st.sampled_from(RESOURCES), st.floats(1.01, 4.0))
def test_more_resources_never_raise_latency(case, resource, factor):
    accel, block, opts = case
    better = more_of(accel, resource, factor)
    assume(better is not None)
    base, more = run(accel, block, opts), run(better, block, opts)
    assert more.latency_s <= base.latency_s * (1 + tolerance(accel, opts)), (resource, base.latency_s, more.latency_s)


@pytest.mark.parametrize("preset", [p for p in PRESETS if ACCELS[p].lookup.placement == "on_chip"])
def test_a_small_lookup_memory_reads_rows_rather_than_loading_tables(preset):
    """One token reads K rows; loading its 1 MiB of tables first would take longer than reading the rows from
    DRAM. A larger lookup memory must not make the op slower by loading more (issue 8, item 4)."""
    w = workloads.layer("memory", 1, 128, 512)
    accel = ACCELS[preset]
    table_bytes = w.op("lookup").table.total_bytes
    times = [simulate(w, accel.with_overrides({"lookup.capacity_bytes": c}), engine="des").latency_s
             for c in (table_bytes / 8, table_bytes / 2, table_bytes * 2)]
    assert times[1] <= times[0] * (1 + TOL) and times[2] <= times[1] * (1 + TOL)
    r = simulate(w, accel.with_overrides({"lookup.capacity_bytes": table_bytes * 2}), engine="des")
    load_time = table_bytes / accel.memory.dram.sustained_bandwidth_bytes_per_s
    assert r.ops.set_index("op").loc["lookup", "busy_s"] < load_time  # it did not wait for the whole load
