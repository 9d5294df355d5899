"""The sweep's per-process caches (accelerators, parts, workloads, lowerings, traced programs): plain dicts
bounded by emptying them when full, so that a long sweep over continuous axes cannot grow without end."""
from __future__ import annotations

CACHE_LIMIT = 4096


def put(cache: dict, key, value) -> None:
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def cached(cache: dict, key, make, remembered_errors: type[Exception] | tuple = ()):
    """cache[key], made by make() when absent. An error of `remembered_errors` is cached too and raised
    again for every point with that key (a bad accelerator or workload fails all its points alike)."""
    value = cache.get(key)
    if value is None:
        try:
            value = make()
        except remembered_errors as e:
            value = e
        put(cache, key, value)
    if isinstance(value, Exception):
        raise value
    return value
