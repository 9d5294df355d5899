"""Engine options shared by both engines: checked once, with the allowed values named in the error."""
from __future__ import annotations

from hwsim.engines import lookup_hw
from hwsim.engines.banks import BANK_MAPPINGS
from hwsim.lowering import LOOKUP_IMPLS, LOWERINGS

MODES = ("eager", "graph")


def resolve_options(accel, mode=None, lowering=None, lookup_impl="embedding_bag", block_d=128,
                    bank_mapping="interleaved", host_head_start_s=0.0, tables_resident=False, table_dtype=None,
                    table_tier=None, hot_cache_bytes=None, hot_cache_policy=None, bucket_distribution="uniform",
                    zipf_exponent=1.1) -> dict:
    """table_dtype ... zipf_exponent: the lookup-hardware options (hwsim.engines.lookup_hw.check_options)."""
    mode = mode or accel.runtime.mode
    lowering = lowering or accel.runtime.lowering
    for name, value, allowed in [("mode", mode, MODES), ("lowering", lowering, LOWERINGS),
                                 ("lookup_impl", lookup_impl, LOOKUP_IMPLS), ("bank_mapping", bank_mapping, BANK_MAPPINGS)]:
        if value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}, given {value!r}")
    if not isinstance(block_d, int) or block_d <= 0:
        raise ValueError(f"block_d must be a positive integer, given {block_d!r}")
    if host_head_start_s < 0:
        raise ValueError(f"host_head_start_s must be >= 0, given {host_head_start_s!r}")
    return dict(mode=mode, lowering=lowering, lookup_impl=lookup_impl, block_d=block_d, bank_mapping=bank_mapping,
                host_head_start_s=host_head_start_s, tables_resident=bool(tables_resident),
                **lookup_hw.check_options(table_dtype, table_tier, hot_cache_bytes, hot_cache_policy,
                                          bucket_distribution, zipf_exponent))
