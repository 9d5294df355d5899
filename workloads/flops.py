"""FLOP conventions, per op kind and per block.

`flops` (exact): 2 FLOPs per multiply-add and everything that runs (biases, hashing, weights,
softmax, norms, GeLU, residual adds). Elementwise costs use the per-element counts below: they are
conventions, stated once here, not measurements.
`flops_paper`: the paper's convention (reference section 3): 1 multiply-accumulate = 1 FLOP and only
the terms the paper counts: FC products, attention's two products, Memory Layer hash (N K tau) and
lookup (N K h); for the Table 2 baselines every product's multiply-adds (see the end of this file).
Norms, softmax, biases, residuals, rotary embeddings, feature maps: 0.

Attention is counted dense (no halving for the causal mask), as the paper and torch's FlopCounter do. A decode
step of T new tokens against a KV cache of L tokens counts its T query rows against all L + T keys (the T x T
block among the new tokens is causal, and counted dense too; with T = 1 nothing is masked).
"""
from __future__ import annotations

# Exact FLOPs per element (conventions; the same numbers are registered with the custom ops in models/).
LAYERNORM_FLOPS_PER_ELEMENT = 8  # mean, centre, square, variance sum, scale by rstd, affine mul + add, + 1 shared
RMSNORM_FLOPS_PER_ELEMENT = 5  # square, sum, divide by the RMS, scale, + 1 shared (root, 1/sqrt(d), + eps per row)
# Rotary: 3.5 per rotated element, i.e. 7 per pair (x_i, x_i+r/2): two * cos, two * sin, two adds and the
# negation rotate_half applies to one of the two; the cos/sin tables are cached, the passed-through dims copied.
ROTARY_FLOPS_PER_ROTATED_PAIR = 7
GELU_FLOPS_PER_ELEMENT = 8  # erf GeLU: x * 0.5 * (1 + erf(x / sqrt 2)), erf as a short polynomial
ADD_FLOPS_PER_ELEMENT = 1
HASH_FLOPS_PER_ELEMENT = 10  # sign test, shift-or into bucket id, abs, scale, sigmoid (4), product
HASH_OFFICIAL_FLOPS_PER_ELEMENT = 1  # L1 norm accumulate ("official" weighting)
HASH_OFFICIAL_FLOPS_PER_CHUNK = 1  # p * L1
SOFTMAX_FLOPS_PER_SCORE = 6  # scale, max, subtract, exp, sum, divide


def matmul_flops(m: int, n: int, k: int, bias: bool) -> tuple[int, int]:
    return 2 * m * n * k + (m * n if bias else 0), m * n * k


def attention_flops(batch: int, seq_len: int, hidden_size: int, heads: int,
                    keys: int | None = None) -> tuple[int, int]:
    """seq_len query rows per sequence against `keys` keys (default seq_len: prefill). A decode step of T new
    tokens over a cache of L has T rows against L + T keys, counted dense: T (L + T) scores."""
    keys = seq_len if keys is None else keys
    products = 2 * batch * seq_len * keys * hidden_size  # Q K^T and P V, multiply-adds
    return 2 * products + SOFTMAX_FLOPS_PER_SCORE * batch * heads * seq_len * keys, products


def hash_flops(tokens: int, d_in: int, tau: int, official: bool = False) -> tuple[int, int]:
    exact = HASH_FLOPS_PER_ELEMENT * tokens * d_in
    if official:
        exact += HASH_OFFICIAL_FLOPS_PER_ELEMENT * tokens * d_in + HASH_OFFICIAL_FLOPS_PER_CHUNK * tokens * (d_in // tau)
    return exact, tokens * d_in  # paper: N * K * tau


def lookup_flops(tokens: int, chunks: int, width: int) -> tuple[int, int]:
    return 2 * tokens * chunks * width, tokens * chunks * width


def norm_flops(elements: int) -> tuple[int, int]:
    return LAYERNORM_FLOPS_PER_ELEMENT * elements, 0


def rms_norm_flops(elements: int) -> tuple[int, int]:
    return RMSNORM_FLOPS_PER_ELEMENT * elements, 0


def rotary_flops(tokens: int, heads: int, rotary_dims: int, tensors: int = 2) -> tuple[int, int]:
    """Rotary on the first rotary_dims of each head of `tensors` tensors (q and k); the paper counts none."""
    return ROTARY_FLOPS_PER_ROTATED_PAIR * tensors * tokens * heads * (rotary_dims // 2), 0


def gelu_flops(elements: int) -> tuple[int, int]:
    return GELU_FLOPS_PER_ELEMENT * elements, 0


def add_flops(elements: int) -> tuple[int, int]:
    return ADD_FLOPS_PER_ELEMENT * elements, 0


# --- the paper's own block formulas (reference section 3), for Figure 1 and Table 1 ------------------

def paper_attention_flops(seq_len: int, hidden_size: int) -> int:
    return 2 * seq_len ** 2 * hidden_size


def paper_block_flops(kind: str, hidden_size: int, seq_len: int, tau: int = 8, with_attention: bool = True) -> int:
    """Transformer: 2 s^2 d + 12 s d^2. MemoryFormer: 2 s^2 d + 6 K s d (the paper's rounding of the
    exact per-layer sum, about 5.25 s d^2 / tau; see `Workload.flops_paper` for the exact sum)."""
    s, d = seq_len, hidden_size
    if kind == "transformer":
        fc = 12 * s * d * d
    elif kind == "memoryformer":
        fc = 6 * (d // tau) * s * d
    else:
        raise ValueError(f"kind must be 'transformer' or 'memoryformer', given {kind!r}")
    return fc + (paper_attention_flops(s, d) if with_attention else 0)


# --- the efficient attentions of the paper's Table 2 (models/efficient_attention.py) ------------------
# Both conventions for these three ops, n = batch x seq_len tokens, d = heads x d_h:
# - flops_paper: every multiply-add of a product is 1 FLOP, the small ones included (Linformer's E K and F V,
#   Performer's W q and W k, the linear attentions' denominators q . sum k); feature maps, softmax and the
#   normalising divides count 0, as the paper counts softmax 0.
# - flops: 2 per multiply-add plus these per-element counts (the same numbers are registered with torch's
#   FlopCounter in models/efficient_attention.py; a test holds the two equal):
COSFORMER_FEATURE_FLOPS_PER_ELEMENT = 3  # relu, x sin, x cos (the position angles themselves not counted)
PERFORMER_FLOPS_PER_INPUT_ELEMENT = 3  # scale by d_h^-1/4, square, sum (|x|^2)
PERFORMER_FLOPS_PER_FEATURE = 5  # max, subtract |x|^2 / 2, subtract the max, exp, scale by 1/sqrt(m)
# Linformer's softmax is SOFTMAX_FLOPS_PER_SCORE per score; each linear attention adds one FLOP per feature
# element for sum_j k_j and one divide per output element.


def linformer_attention_flops(batch: int, seq_len: int, hidden_size: int, heads: int,
                              proj_len: int) -> tuple[int, int]:
    """E K and F V (n k d multiply-adds each), Q K'^T and P V' (n k d each), softmax on n H k scores."""
    n = batch * seq_len
    macs = 4 * n * proj_len * hidden_size
    return 2 * macs + SOFTMAX_FLOPS_PER_SCORE * n * heads * proj_len, macs


def cosformer_attention_flops(batch: int, seq_len: int, hidden_size: int, heads: int) -> tuple[int, int]:
    """With f = 2 d_h features per head (the cos and the sin term): the state k^T v and the numerator
    q (k^T v), n H f d_h = 2 n d d_h multiply-adds each; the denominator q . sum k, n H f = 2 n d."""
    n, d = batch * seq_len, hidden_size
    dh = d // heads
    macs = 2 * (2 * n * d * dh) + 2 * n * d
    elementwise = COSFORMER_FEATURE_FLOPS_PER_ELEMENT * 2 * n * d + 2 * n * d + n * d  # maps, sum k, divide
    return 2 * macs + elementwise, macs


def performer_attention_flops(batch: int, seq_len: int, hidden_size: int, heads: int,
                              features: int) -> tuple[int, int]:
    """W q and W k (n d m multiply-adds each), the state phi(k)^T v and the numerator phi(q) (phi(k)^T v)
    (n d m each), the denominator phi(q) . sum phi(k) (n H m)."""
    n, d, m = batch * seq_len, hidden_size, features
    phi = n * heads * m  # feature elements of q (or of k)
    macs = 4 * n * d * m + phi
    elementwise = (PERFORMER_FLOPS_PER_INPUT_ELEMENT * 2 * n * d + PERFORMER_FLOPS_PER_FEATURE * 2 * phi
                   + phi + n * d)  # feature maps of q and k, sum phi(k), divide
    return 2 * macs + elementwise, macs
