"""Lookup hardware (issue 11): the figures of the README's "Lookup hardware" section (printed, never
asserted).

    python benchmarks/lookup_hw.py

1. memoryformer-base and pythia-410m blocks (prefill, s 2048, batch 1, released blocks) on h200, hbm-pim and
   lut-asic: latency, energy, bytes over the DRAM bus, bytes read inside the memory; the presets' own
   runtimes, then every one as a compiled graph (lowering fused, mode graph).
2. The H200 MemoryFormer / Transformer block ratio at prefill s 2048, batch 1 and 8, with each lookup impl.
3. One Memory Layer lookup (2048 tokens, d 1024, K 128) with Zipf(1.1) buckets on hbm-pim: hot-row caches.
4. Table precision and table tiers for the whole memoryformer-base (24 layers).
"""
from __future__ import annotations


def row(label, r, t=None) -> str:
    out = (f"  {label:34s} {r.latency_s * 1e3:8.3f} ms {r.energy_j * 1e3:8.1f} mJ  bus {r.dram_bytes / 1e9:6.3f} GB"
           f"  inside {r.internal_bytes / 1e9:6.3f} GB")
    if t is not None:
        out += f"  | MF/TF time {r.latency_s / t.latency_s:5.2f} energy {r.energy_j / t.energy_j:5.2f}"
    return out


def main() -> None:
    import hwsim
    import models
    from hwsim.engines.lookup_hw import table_bytes
    from workloads import Workload
    from workloads.builders import lookup_op, preset_block

    mf = preset_block(models.get_preset("memoryformer-base"), 2048, 1)
    tf = preset_block(models.get_preset("pythia-410m"), 2048, 1)
    print("1. memoryformer-base block vs pythia-410m block, prefill s 2048 batch 1 (analytic)")
    for opts in ({}, {"lowering": "fused", "mode": "graph"}):
        print(f"   options {opts or 'the presets own'}")
        for accel in ("h200", "hbm-pim", "lut-asic"):
            t = hwsim.simulate(tf, accel, layers=24, **opts)
            m = hwsim.simulate(mf, accel, layers=24, **opts)
            print(row(f"{accel} pythia-410m", t))
            print(row(f"{accel} memoryformer-base", m, t))
            lk = m.ops[m.ops["kind"] == "lookup"]
            per_token = lk["dram_bytes"].iloc[0] / 2048
            print(f"  {'':34s} lookups {lk['time_s'].sum() * 1e3:.3f} ms; q lookup {per_token / 1e3:.2f} kB per token "
                  f"over the bus; bound {', '.join(lk['bound'])}")

    print("\n2. H200: MemoryFormer / Transformer block, prefill s 2048, by lookup impl (analytic, eager torch)")
    for batch in (1, 8):
        mfb = preset_block(models.get_preset("memoryformer-base"), 2048, batch)
        tfb = preset_block(models.get_preset("pythia-410m"), 2048, batch)
        t = hwsim.simulate(tfb, "h200")
        for impl in ("embedding_bag", "gather_sum", "fused", "table_stationary"):
            m = hwsim.simulate(mfb, "h200", lookup_impl=impl)
            lk = m.ops[m.ops["kind"] == "lookup"]["time_s"].sum()
            print(f"  batch {batch} {impl:17s} MF {m.latency_s * 1e3:7.3f} ms (lookups {lk * 1e3:7.3f} ms)  "
                  f"TF {t.latency_s * 1e3:6.3f} ms  time x {m.latency_s / t.latency_s:5.2f}  "
                  f"energy x {m.energy_j / t.energy_j:5.2f}")

    print("\n3. one lookup, 2048 tokens, d 1024, K 128, Zipf(1.1) buckets, on hbm-pim (analytic; DES on its drawn stream)")
    w = Workload("lookup", (lookup_op("m.lookup", 2048, 128, 8, 1024, "bf16"),))
    law = dict(bucket_distribution="zipf", zipf_exponent=1.1)
    for label, opts in [("uniform buckets", {}), ("zipf, no cache", law),
                        ("zipf, 4 MB LRU", dict(law, hot_cache_bytes=4e6)),
                        ("zipf, 4 MB static top-k", dict(law, hot_cache_bytes=4e6, hot_cache_policy="static_top_k")),
                        ("zipf, hashed bank mapping", dict(law, bank_mapping="hashed"))]:
        a = hwsim.simulate(w, "hbm-pim", **opts)
        d = hwsim.simulate(w, "hbm-pim", engine="des", **opts)
        lk = a.ops.iloc[0]
        print(f"  {label:26s} analytic {a.latency_s * 1e6:7.1f} us  DES {d.latency_s * 1e6:7.1f} us  "
              f"inside {lk['internal_bytes'] / 1e6:6.1f} MB  cache {lk['hot_cache_bytes'] / 1e6:6.1f} MB  "
              f"energy {a.energy_j * 1e3:5.2f} mJ")

    print("\n4. tables of memoryformer-base: precision and tiers (block s 2048 batch 1, 24 layers)")
    for dtype in ("bf16", "fp8", "int8"):
        print(f"  {dtype}: {24 * table_bytes(mf, dtype) / 1e9:.1f} GB of tables")
        for accel in ("hbm-pim", "lut-asic"):
            m = hwsim.simulate(mf, accel, layers=24, table_dtype=dtype)
            print(row(f"{accel} table_dtype {dtype}", m))
    for accel, tier in [("h200", "dram"), ("h200", "host"), ("lut-asic", "dram"), ("lut-asic", "host"),
                        ("lut-asic", "sram")]:
        try:
            print(row(f"{accel} table_tier {tier}", hwsim.simulate(mf, accel, layers=24, table_tier=tier)))
        except ValueError as e:
            print(f"  {accel} table_tier {tier}: {e}")


if __name__ == "__main__":
    main()
