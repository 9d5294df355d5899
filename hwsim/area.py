"""Chip area, Accelergy/CACTI style: area = sum over components of count x area per unit at the node.

Components and how their counts come from the Accelerator (the timing model's own description):
  matrix       MACs per cycle = peak / (2 x clock) for each dtype; a multi-precision array is sized for its
               most demanding dtype, so the area is the largest of MACs[d] x mac_area[d] over the dtypes
  vector       lanes = peak / (2 x clock), the same rule with FMA areas
  cores        per-core control beside the datapaths, by kind: a GPU SM's register file, schedulers,
               load/store and fp64 units; a CPU core's out-of-order engine; an array's sequencer and DMA
  sram.NAME    each level: bits x bitcell / array efficiency x style + banks x periphery per bank
  lookup       dedicated table banks (placement on_chip only; off_chip_cached banks are the cache above)
  hash         hash units x chunks per cycle x one tau-wide weight datapath
  dram_phy, dram_controller   per HBM stack or DDR/LPDDR (sub)channel
  other        I/O, NoC, clocking and control as a stated fraction of the whole die

Per-unit areas are stated at TSMC N7 and scaled to the accelerator's node: logic by transistor density,
SRAM by bitcell area; DRAM PHYs do not scale (analog, bump-pitch bound). Every constant names its source;
"estimate" marks a number no source gave. Pure Python on floats: a sweep calls area_mm2 10,000 times.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["NODES", "Node", "node_of", "area_breakdown", "area_mm2", "OTHER_FRACTION", "PUBLISHED_DIES",
           "PublishedDie", "full_die"]


@dataclass(frozen=True)
class Node:
    name: str
    bitcell_um2: float        # high-density 6T SRAM bitcell
    logic_mtr_per_mm2: float  # transistor density used to scale logic areas between nodes


NODES = {
    # TSMC N7 HD bitcell 0.027 um^2 (TSMC, IEDM 2016); 96.3 MTr/mm^2 (S. M. Khan and A. Mann, "AI Chips: What
    # They Are and Why They Matter", CSET 2020, as tabulated in LLMCompass cost_model/supply_chain_model.py)
    "N7": Node("N7", 0.027, 96.3),
    # TSMC N5 HD bitcell 0.021 um^2 (TSMC, IEDM 2019); 138.2 MTr/mm^2 (Khan and Mann, as above)
    "N5": Node("N5", 0.021, 138.2),
    # NVIDIA's 4N is a customised TSMC N5-family process (Hopper whitepaper: "TSMC 4N"): N5's constants
    "4N": Node("4N", 0.021, 138.2),
    # TSMC N3E: HD bitcell 0.021 um^2, no shrink from N5 (TSMC, IEDM 2022, reported by WikiChip); logic
    # density N5 x 1.3, TSMC's chip-level (logic + SRAM + analog) figure for N3E over N5 (estimate: chip mix)
    "N3E": Node("N3E", 0.021, 138.2 * 1.3),
    # Intel 7 (10 nm ESF): HD bitcell 0.0312 um^2 (Intel 10 nm, IEDM 2017); 100.8 MTr/mm^2 (Intel, Technology
    # and Manufacturing Day 2017)
    "Intel7": Node("Intel7", 0.0312, 100.8),
}
REF = NODES["N7"]
# Node when the config names none: technology_nm as the presets use it. Other sizes: N7 scaled by
# (nm / 7)^2 in both bitcell and density, the classical area law (an estimate; real nodes shrink less).
NODE_OF_NM = {3: "N3E", 4: "4N", 5: "N5", 7: "N7", 10: "Intel7"}

# ---- logic: per-unit areas at 45 nm, scaled to N7 ----------------------------------------------------
# M. Horowitz, "Computing's energy problem", ISSCC 2014, area per operator at 45 nm (um^2): int add 8b 36,
# 16b 67, 32b 137; fp add 16b 1360, 32b 4184; int mult 8b 282, 32b 3495; fp mult 16b 1640, 32b 7700.
# A MAC is one multiplier plus the accumulating adder. 45 nm -> N7 by transistor density 7.7 -> 96.3
# MTr/mm^2 (Khan and Mann, 40/45 nm class).
H45_TO_N7 = 7.7 / 96.3
MAC_UM2_45NM = {
    "fp64": (7700 + 4184) * (52 / 23) ** 2,  # estimate: fp32 MAC x (mantissa 52 / 23)^2, LLMCompass's FPU rule
    "fp32": 7700 + 4184,                     # fp32 mult + fp32 add
    "tf32": 1640 + 4184,                     # estimate: 10-bit mantissa as fp16 mult, fp32 accumulate
    "bf16": 1640 + 4184,                     # fp16 mult (bf16's 7-bit mantissa is smaller) + fp32 accumulate
    "fp16": 1640 + 4184,                     # fp16 mult + fp32 accumulate (tensor-core style)
    "fp8": 282 + 1360,                       # estimate: 8b int mult for the 4-bit mantissa + exponent, fp16 add
    "int32": 3495 + 137,                     # 32b mult + 32b add
    "int8": 282 + 137,                       # 8b mult + 32b accumulate
    "int4": 282 / 4 + 67,                    # estimate: array multiplier ~ bits^2 (282 / 4), 16b accumulate
}
MAC_UM2_N7 = {d: v * H45_TO_N7 for d, v in MAC_UM2_45NM.items()}
# A hash unit turns one tau-bit chunk per cycle into a bucket id (sign bits: wires) and a soft weight:
# tau = 8 fp16 multiply-adds (as the presets' hash_per_chunk energy), Horowitz 8 x (1640 + 1360) um^2.
HASH_LANE_UM2_N7 = 8 * (1640 + 1360) * H45_TO_N7

# Per-core control beside the modelled datapaths and SRAM, at N7 (mm^2).
CORE_MM2_N7 = {
    # GPU SM: the GA100 die-shot breakdown published with LLMCompass (Zhang et al., ISCA 2024,
    # ae/figure6/real_hardware/die_area.csv) gives 476.25 mm^2 for 128 SMs = 3.72 mm^2 per SM. Less what
    # this model prices in an a100 SM (1024 bf16 MACs 0.477; 256 vector lanes for the 78 TFLOP/s fp16
    # non-tensor rate 0.119; 192 KiB L1/shared in 32 banks 0.740) leaves 2.38 mm^2 of register file,
    # schedulers, load/store, fp64 and texture units. Taken from GA100, so the a100 die check is in-sample
    # for this term; the h200 check (4N, twice the MACs per SM) is not.
    "gpu": 2.38,
    # CPU core (x86 out-of-order core with its L1s, without L2): estimate 5.5 mm^2 in Intel 7 for a Golden
    # Cove core, stated at N7 by density (x 100.8 / 96.3); no die figure was found for it.
    "cpu": 5.5 * 100.8 / 96.3,
    # systolic / NPU / ASIC array: sequencer, instruction buffer and DMA engine per array (estimate: a small
    # in-order control core, 0.5 mm^2 at N7); the PEs' own registers are in the MAC area.
    "systolic": 0.5, "npu": 0.5, "asic": 0.5,
}

# ---- SRAM ----------------------------------------------------------------------------------------------
# Macro array efficiency (bitcells / macro area): TSMC N3E HD SRAM 31.8 Mib/mm^2 with assist circuits
# (IEDM 2022, WikiChip) from a 0.021 um^2 cell = 31.8 x 2^20 x 0.021e-6 = 0.70.
ARRAY_EFFICIENCY = 0.70
# Periphery per bank (decoders, sense amplifiers, I/O), in bitcell areas: fitted to CACTI's array
# efficiencies for 4 KiB..1 MiB arrays (0.076, 0.142, 0.247, 0.393, 0.559, 0.704, 0.526, 0.602, 0.561,
# LLMCompass cost_model.py) as bits / (bits / e + P): e = 0.68 (the macro figure above), P = 342,000 cells
# (0.0092 mm^2 at N7), within a factor 1.3 of every CACTI point.
BANK_PERIPHERY_BITCELLS = 342_000
# Level style by kind: hardware caches carry tags, ECC, fill and coherence control over the data array.
SRAM_STYLE = {
    # scratchpads: plain macros
    "systolic": 1.0, "npu": 1.0, "asic": 1.0,
    # CPU caches: AMD's 64 MiB V-Cache L3 die takes 36 mm^2 in N7 (ISSCC 2023, second generation; 41 mm^2
    # in the first), against 20.7 mm^2 of macros by the rule above: x 1.74 (includes its TSV field).
    "cpu": 36.0 / (64 * 2**23 * 0.027e-6 / ARRAY_EFFICIENCY),
    # GPU caches (L2 and L1/shared, banked for bandwidth with sectored tags, atomics and compression):
    # LLMCompass (cost_model.py) prices GPU SRAM at an effective 0.17 um^2 cell at N7 with CACTI's 0.602
    # efficiency for 512 KiB units = 0.282 um^2 per bit, x 7.3 the macro rule; that puts GA100's 48 MB L2 at
    # 114 mm^2, against 119 mm^2 in its die-shot breakdown (so GA100 again: in-sample for the a100 check).
    "gpu": (0.17 / 0.602) / (0.027 / ARRAY_EFFICIENCY),
}

# ---- DRAM interfaces -----------------------------------------------------------------------------------
# (channels per interface unit, PHY mm^2 per unit, controller MTr per unit). LLMCompass cost_model.py: HBM2e
# PHY 10.45 mm^2 and controller 552.7 MTr per 1024-bit stack; DDR5 PHY 1.45 mm^2 and controller 90.4 MTr per
# 32-bit unit. PHYs are taken as node-independent (LLMCompass: "memory controllers scale with process node,
# but PHYs do not"); controllers scale with logic density.
DRAM = {
    "hbm2": (8, 10.45, 552.7),    # JESD235: 8 channels per stack
    "hbm2e": (8, 10.45, 552.7),
    "hbm3": (16, 10.45, 552.7),   # JESD238: 16 channels per stack; estimate: same 1024-bit bump field as HBM2e
    "hbm3e": (16, 10.45, 552.7),
    "ddr5": (0.5, 1.45, 90.4),    # a 64-bit DDR5 channel is two 32-bit subchannels (JESD79-5)
    "lpddr5": (1, 0.725, 45.2),   # estimate: one x16 LPDDR5 channel = half the pins of a DDR5 32-bit unit
}
DRAM_BY_KIND = {"cpu": "ddr5", "npu": "lpddr5"}  # when the config names none; every other kind: hbm3

# I/O, on-chip network, clocking and control: GA100's breakdown (LLMCompass, above) has on-chip
# interconnect 76.44, NVLink PHY 20.95 and other 40.0 of 822.7 mm^2 = 16.7%.
OTHER_FRACTION = 0.167


# ---- the model -----------------------------------------------------------------------------------------

def node_of(accel) -> Node:
    """The node pricing this accelerator: area.node, else technology_nm (other sizes scaled from N7)."""
    area = accel.area
    if area is not None and area.node is not None:
        return NODES[area.node]
    nm = accel.technology_nm
    name = NODE_OF_NM.get(int(nm)) if float(nm).is_integer() else None
    if name is not None:
        return NODES[name]
    s = (nm / 7.0) ** 2
    return Node(f"{nm:g} nm (N7 x {s:.3g})", REF.bitcell_um2 * s, REF.logic_mtr_per_mm2 / s)


def _widest(peaks, clock_hz: float, unit_um2: dict) -> float:
    """um^2 at N7 of the units behind a dtype -> FLOP/s map: sized for the most demanding dtype."""
    return max((rate / (2.0 * clock_hz) * unit_um2[d] for d, rate in peaks.items()), default=0.0)


def _sram_mm2(bits: float, banks: int, bitcell_um2: float, style: float) -> float:
    return (bits * bitcell_um2 / ARRAY_EFFICIENCY * style + banks * BANK_PERIPHERY_BITCELLS * bitcell_um2) * 1e-6


def area_breakdown(accel) -> dict[str, float]:
    """Component -> mm^2 for one Accelerator, with "other" (the stated fraction) and "total"."""
    node = node_of(accel)
    logic = REF.logic_mtr_per_mm2 / node.logic_mtr_per_mm2  # N7 logic area -> this node
    cell = node.bitcell_um2
    c, mem, kind = accel.compute, accel.memory, accel.kind
    out = {"matrix": _widest(c.matrix.peak_flops_per_s, accel.clock_hz, MAC_UM2_N7) * logic * 1e-6,
           "vector": _widest(c.vector.peak_flops_per_s, accel.clock_hz, MAC_UM2_N7) * logic * 1e-6,
           "cores": c.matrix.cores * CORE_MM2_N7[kind] * logic}
    style = SRAM_STYLE[kind]
    for level in mem.sram:
        out[f"sram.{level.name}"] = _sram_mm2(8.0 * level.capacity_bytes, level.banks, cell, style)
    lk = accel.lookup
    # off_chip_cached banks are a cache level listed above; near_memory logic sits in the DRAM stack
    out["lookup"] = _sram_mm2(8.0 * lk.capacity_bytes, lk.banks, cell, 1.0) if lk.placement == "on_chip" else 0.0
    h = c.hash_unit
    out["hash"] = h.units * h.chunks_per_cycle * HASH_LANE_UM2_N7 * logic * 1e-6 if h is not None else 0.0
    iface = (accel.area.dram_interface if accel.area is not None else None) or DRAM_BY_KIND.get(kind, "hbm3")
    per_unit, phy_mm2, ctrl_mtr = DRAM[iface]
    units = math.ceil(mem.dram.channels / per_unit)  # a part-used stack still needs its whole PHY
    out["dram_phy"] = units * phy_mm2
    out["dram_controller"] = units * ctrl_mtr / node.logic_mtr_per_mm2
    parts = sum(out.values())
    total = parts / (1.0 - OTHER_FRACTION)
    out["other"] = total - parts
    out["total"] = total
    return out


def area_mm2(accel) -> float:
    """Die area in mm^2 (the sum of area_breakdown's components)."""
    return area_breakdown(accel)["total"]


# ---- published dies ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PublishedDie:
    chip: str
    area_mm2: float
    node: str
    source: str
    changes: dict  # the preset's product -> the whole die (units the product disables for yield)
    note: str


PUBLISHED_DIES = {
    "a100": PublishedDie(
        "GA100", 826.0, "N7", "NVIDIA A100 whitepaper 2020, TSMC N7",
        {"cores": 128, "sram": {"SMEM": (128 * 192 * 1024, 128 * 32), "L2": (48 * 2**20, 96)}, "dram_channels": 48},
        "128 SMs, 6 HBM2 stacks, 48 MB L2 as in LLMCompass GA100.json; the A100 enables 108 SMs, 5 stacks, 40 MB; "
        "in-sample: the GPU SM, GPU cache and I/O constants come from this die"),
    "h200": PublishedDie(
        "GH100", 814.0, "4N", "NVIDIA H100 whitepaper 2022, TSMC 4N",
        {"cores": 144, "sram": {"SMEM": (144 * 256 * 1024, 144 * 32)}, "dram_channels": 96},
        "144 SMs, 6 HBM3 stacks, 60 MB L2 (whitepaper); the H200 enables 132 SMs; out of sample"),
}


def full_die(accel, changes: dict):
    """The accelerator with every unit of its die enabled: cores (and per-core peaks) scaled, SRAM levels
    given as name -> (capacity bytes, banks), DRAM channels."""
    from hwsim.config import override

    k = changes["cores"] / accel.compute.matrix.cores
    c = accel.compute
    d = {"compute.matrix.cores": changes["cores"]}
    d.update({f"compute.matrix.peak.{t}": v * k for t, v in c.matrix.peak_flops_per_s.items()})
    d.update({f"compute.vector.peak.{t}": v * k for t, v in c.vector.peak_flops_per_s.items()})
    for name, (cap, banks) in changes.get("sram", {}).items():
        d[f"memory.sram.{name}.capacity"] = cap
        d[f"memory.sram.{name}.banks"] = banks
    ch = changes["dram_channels"]
    d["memory.dram.bandwidth"] = accel.memory.dram.bandwidth_bytes_per_s * ch / accel.memory.dram.channels
    d["memory.dram.channels"] = ch
    return override(accel, d, source=f"full die of {accel.name}")
