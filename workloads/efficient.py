"""What the Table 2 attentions run, stage by stage (models/efficient_attention.py, no torch here).

An efficient-attention Op counts only its compulsory traffic (q, k, v and its matrices in, the output out),
as every Op does. Its stages are the products and elementwise passes inside it, each with the elements it
reads and writes, intermediates included (an unfused implementation: every stage a kernel, every
intermediate through memory). hwsim.lowering turns each stage into one kernel: products on the matrix
unit as a (m, n, k) product with the batch and heads folded into m, the rest on the vector unit. The
stages' FLOPs sum to the op's `flops` and their multiply-adds to its `flops_paper` (a test holds both).
"""
from __future__ import annotations

from dataclasses import dataclass

from workloads import flops as F
from workloads.op import Op, OpKind

EFFICIENT_ATTENTION_KINDS = (OpKind.LINFORMER_ATTENTION, OpKind.COSFORMER_ATTENTION, OpKind.PERFORMER_ATTENTION)


@dataclass(frozen=True)
class Stage:
    name: str
    macs: int = 0  # multiply-adds: 2 FLOPs each, 1 in the paper's convention
    elementwise_flops: int = 0
    read_elements: int = 0
    write_elements: int = 0
    gemm: tuple[int, int, int] | None = None  # (m, n, k) of a product on the matrix unit

    @property
    def flops(self) -> int:
        return 2 * self.macs + self.elementwise_flops

    @property
    def unit(self) -> str:
        return "matrix" if self.gemm is not None else "vector"


def _linear_attention(b: int, h: int, t: int, dh: int, f: int) -> list[Stage]:
    """The KV-first core both linear attentions share, on f non-negative features per head."""
    n, d, feat = b * t, h * dh, b * t * h * f  # tokens, width, feature elements of q (or of k)
    return [Stage("kv_state", macs=feat * dh, read_elements=feat + n * d, write_elements=b * h * f * dh,
                  gemm=(b * h * f, dh, t)),  # k_feat^T v per head
            Stage("k_sum", elementwise_flops=feat, read_elements=feat, write_elements=b * h * f),
            Stage("numerator", macs=feat * dh, read_elements=feat + b * h * f * dh, write_elements=n * d,
                  gemm=(b * h * t, dh, f)),  # q_feat (k_feat^T v)
            Stage("denominator", macs=feat, read_elements=feat + b * h * f, write_elements=n * h),
            Stage("normalize", elementwise_flops=n * d, read_elements=n * d + n * h, write_elements=n * d)]


def stages(op: Op) -> list[Stage]:
    """The stages of an efficient-attention op, in the order they run."""
    dims = op.dims
    b, h, t, dh = dims["batch"], dims["heads"], dims["seq_len"], dims["head_dim"]
    n, d = b * t, h * dh
    if op.kind is OpKind.LINFORMER_ATTENTION:
        k = dims["proj_len"]
        scores = b * h * t * k

        def project(x: str) -> Stage:  # (E K)^T = K^T E^T per sequence: K's rows as m, E^T as the weight
            return Stage(f"project_{x}", macs=b * k * t * d, read_elements=n * d + k * t, write_elements=b * k * d,
                         gemm=(b * d, k, t))

        return [project("k"), project("v"),
                Stage("scores", macs=scores * dh, read_elements=n * d + b * k * d, write_elements=scores,
                      gemm=(b * h * t, k, dh)),
                Stage("softmax", elementwise_flops=F.SOFTMAX_FLOPS_PER_SCORE * scores, read_elements=scores,
                      write_elements=scores),
                Stage("mix", macs=scores * dh, read_elements=scores + b * k * d, write_elements=n * d,
                      gemm=(b * h * t, dh, k))]
    if op.kind is OpKind.COSFORMER_ATTENTION:
        f = 2 * dh  # relu(x) sin and relu(x) cos
        return [Stage("feature_map", elementwise_flops=F.COSFORMER_FEATURE_FLOPS_PER_ELEMENT * 2 * n * d,
                      read_elements=2 * n * d, write_elements=2 * n * h * f)] + _linear_attention(b, h, t, dh, f)
    if op.kind is OpKind.PERFORMER_ATTENTION:
        m = dims["features"]
        phi = 2 * n * h * m  # feature elements of q and k
        return [Stage("feature_proj", macs=phi * dh, read_elements=2 * n * d + m * dh, write_elements=phi,
                      gemm=(2 * n * h, m, dh)),  # W q and W k, one product (W shared by the heads)
                Stage("feature_map", elementwise_flops=F.PERFORMER_FLOPS_PER_INPUT_ELEMENT * 2 * n * d
                      + F.PERFORMER_FLOPS_PER_FEATURE * phi, read_elements=2 * n * d + phi, write_elements=phi)
                ] + _linear_attention(b, h, t, dh, m)
    raise ValueError(f"op {op.name}: not an efficient attention (kind {op.kind.value})")
