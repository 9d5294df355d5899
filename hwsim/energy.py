"""Energy = sum over components of (energy per action x action count), as Accelergy separates its
energy table (the accelerator config's `energy` and per-level energies) from the action counts the
performance model produces (KernelCost). Static energy is idle power x time; `active_power` is
charged for the time the device runs kernels."""
from __future__ import annotations

COMPONENTS = ("matrix", "vector", "hash", "dram", "sram", "lookup", "active")
# lookup hardware (hwsim.engines.lookup_hw): reads inside a near-memory device, its adders, a host tier's
# link and memory, a hot-row cache; the cost carries their joules (KernelCost.hw["<name>_energy_j"])
HW_COMPONENTS = ("internal", "adders", "host", "hot_cache")


def kernel_energy(cost, accel) -> dict[str, float]:
    """Dynamic energy of one kernel (a hwsim.engines.analytic.KernelCost) by component, joules."""
    k, e = cost.kernel, accel.energy
    out = dict.fromkeys(COMPONENTS + HW_COMPONENTS, 0.0)
    if k.unit == "matrix":
        mac = e.mac_j_per_flop
        out["matrix"] = k.flops * (mac[k.dtype] if k.dtype in mac else max(mac.values()))
    elif k.unit == "hash" and accel.compute.hash_unit is not None:
        out["hash"] = cost.hash_chunks * e.hash_per_chunk_j
    elif "adders_energy_j" not in (getattr(cost, "hw", None) or {}):  # (near memory: its own adders sum)
        # vector work, and the weighted row sums of lookups that run on general cores
        out["vector"] = k.flops * e.vector_op_j_per_flop
    out["dram"] = cost.dram_bytes * accel.memory.dram.energy_per_byte_j
    out["sram"] = sram_energy(cost, accel.memory.sram)
    out["lookup"] = cost.lookup_accesses * accel.lookup.energy_per_access_j
    out["active"] = cost.busy_s * e.active_power_w
    hw = getattr(cost, "hw", None) or {}
    for comp in HW_COMPONENTS:
        out[comp] = float(hw.get(f"{comp}_energy_j", 0.0))
    return out


def sram_energy(cost, levels) -> float:
    """Bytes the on-chip levels serve themselves, each at its own energy per byte. (Bytes passing through
    on their way to or from DRAM are in dram.energy_per_byte, a whole-path figure; the operand traffic of
    the levels nearest the compute units is in the operation energies, mac and vector_op.) A cost without
    a split over the levels (or one whose total was replaced) is charged at the level nearest DRAM."""
    if not levels or not cost.sram_bytes:
        return 0.0
    split = getattr(cost, "served_bytes", ()) or ()
    total = sum(split)
    if not total:
        return cost.sram_bytes * levels[0].energy_per_byte_j
    return cost.sram_bytes / total * sum(b * level.energy_per_byte_j for b, level in zip(split, levels))


def static_energy(accel, time_s: float) -> float:
    return accel.energy.idle_power_w * time_s
