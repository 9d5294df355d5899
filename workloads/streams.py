"""Statistics of traced index streams (the lookup demand stream): bucket use per table."""
from __future__ import annotations

import numpy as np

from workloads.op import OpKind, Workload


def layer_label(op_name: str) -> str:
    """'memory_block.m1.lookup' -> 'm1', 'q.lookup' -> 'q'."""
    parts = op_name.split(".")
    return parts[-2] if len(parts) >= 2 else parts[0]


def bucket_counts(workload: Workload, which: str = "first_last"):
    """Hits per bucket for each lookup op's tables: long DataFrame (layer, op, table, bucket, count).
    which: "first_last" (the paper's Figure 4) or "all"."""
    import pandas as pd

    frames = []
    for op in workload.ops:
        if op.kind is not OpKind.LOOKUP:
            continue
        if op.index_stream is None:
            raise ValueError(f"op {op.name} has no index stream: trace on real tensors (device='cpu'), not meta")
        n_tables = op.table.tables
        tables = [0, n_tables - 1] if which == "first_last" else range(n_tables)
        for t in dict.fromkeys(tables):
            counts = np.bincount(op.index_stream[:, t], minlength=op.table.rows_per_table)
            frames.append(pd.DataFrame({"layer": layer_label(op.name), "op": op.name, "table": t,
                                        "bucket": np.arange(op.table.rows_per_table), "count": counts}))
    if not frames:
        raise ValueError(f"workload {workload.name} has no lookup ops")
    return pd.concat(frames, ignore_index=True)


def bucket_summary(counts):
    """Per (layer, table): tokens, expected hits per bucket, min/max, max/mean, chi-square vs uniform."""
    g = counts.groupby(["layer", "op", "table"], sort=False)["count"]
    out = g.agg(tokens="sum", buckets="size", min_hits="min", max_hits="max").reset_index()
    out["expected_hits"] = out["tokens"] / out["buckets"]
    out["max_over_mean"] = out["max_hits"] / out["expected_hits"]
    chi = counts.assign(e=counts.groupby(["layer", "table"], sort=False)["count"].transform("mean"))
    chi = ((chi["count"] - chi["e"]) ** 2 / chi["e"]).groupby([chi["layer"], chi["table"]], sort=False).sum()
    out["chi2_uniform"] = chi.values
    return out
