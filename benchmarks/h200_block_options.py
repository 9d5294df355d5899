"""Measure on a GPU what rotary, RMSNorm and Memory Layer biases add to a block, eager PyTorch.

Self-contained (runs where only torch and triton are installed): the blocks of
data/calibration/h200/h200_bench.py (TBlock, MFBlock: pre-LayerNorm, sequential residuals, the
bench's 16-kernel hash, embedding_bag lookups) with the released models' options switched on one at a
time: rotary as gpt-neox runs it (apply_rotary_pos_emb_torch on cached cos/sin, partial: slice + cat),
gpt-neox's RMSNorm (x.norm, * d^-1/2, + eps, divide, scale), a bias added after every Memory Layer, the
shared Q/K/V hash, Pythia's parallel residual. Timing as the calibration: triton.testing.do_bench median,
L2 flushed between repetitions, TF32 off. Also counts the CUDA kernels one call of each piece launches.

Writes $OUT/block_options.csv (variant, kind, d, heads, seq, batch, time_us) and kernel_counts.csv.
Reference material for the README's measured column, not project code (hwsim never imports it).
"""
import csv
import math
import os
import time

import torch
import torch.nn.functional as F

OUT = os.environ.get("OUT", "out")
os.makedirs(OUT, exist_ok=True)
dev = "cuda" if torch.cuda.is_available() else "cpu"
DT = torch.bfloat16 if dev == "cuda" else torch.float32
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

try:
    assert dev == "cuda"
    from triton.testing import do_bench as _do_bench

    def bench(fn):
        return _do_bench(fn, warmup=10, rep=40, return_mode="median") * 1e3  # us
except Exception:  # CPU dry run
    def bench(fn):
        fn()
        ts = []
        for _ in range(3):
            t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
        return sorted(ts)[1] * 1e6


def hash_and_weights(x, tau):  # h200_bench.py, unchanged
    N, d = x.shape
    K = d // tau
    z = x.view(N, K, tau)
    pow2 = (2 ** torch.arange(tau, device=x.device, dtype=torch.int64))
    codes = ((z > 0).to(torch.int64) * pow2).sum(-1)
    t = math.sqrt(tau)
    w = torch.exp(F.logsigmoid(2 * z.abs().float() / t).sum(-1))
    idx = codes + torch.arange(K, device=x.device, dtype=torch.int64) * (2 ** tau)
    return idx, w


class MemoryLayer(torch.nn.Module):  # h200_bench.py + an optional bias (the released code's outputs + self.bias)
    def __init__(self, d_in, d_out, tau, dtype, bias=False):
        super().__init__()
        self.tau, self.K = tau, d_in // tau
        self.table = torch.nn.Parameter(torch.randn(self.K * 2 ** tau, d_out, device=dev, dtype=dtype) * 0.02)
        self.bias = torch.nn.Parameter(torch.zeros(d_out, device=dev, dtype=dtype)) if bias else None

    def forward(self, x, hashed=None):
        N = x.shape[0]
        idx, w = hashed if hashed is not None else hash_and_weights(x, self.tau)
        offsets = torch.arange(N, device=x.device, dtype=torch.int64) * self.K
        y = F.embedding_bag(idx.view(-1), self.table, offsets, mode="sum",
                            per_sample_weights=w.view(-1).to(self.table.dtype))
        return y + self.bias if self.bias is not None else y


class RMSNorm(torch.nn.Module):  # gpt-neox megatron/model/norms.py
    def __init__(self, d, eps=1e-8):
        super().__init__()
        self.d, self.eps = d, eps
        self.scale = torch.nn.Parameter(torch.ones(d, device=dev, dtype=DT))

    def forward(self, x):
        rms = x.norm(2, dim=-1, keepdim=True) * self.d ** -0.5
        return self.scale * (x / (rms + self.eps))


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=x1.ndim - 1)


class Rotary(torch.nn.Module):  # gpt-neox RotaryEmbedding (cached cos/sin) + apply_rotary_pos_emb_torch
    def __init__(self, head_dim, pct, max_seq=4096, base=10000):
        super().__init__()
        self.head_dim, self.r = head_dim, int(head_dim * pct)
        inv = 1.0 / base ** (torch.arange(0, self.r, 2, device=dev).float() / self.r)
        f = torch.outer(torch.arange(max_seq, device=dev).float(), inv)
        emb = torch.cat((f, f), -1)
        self.cos, self.sin = emb.cos()[:, None, :].to(DT), emb.sin()[:, None, :].to(DT)  # (T, 1, r)

    def forward(self, q, k):  # (B, S, h, dh)
        S = q.shape[1]
        cos, sin = self.cos[:S], self.sin[:S]
        partial = self.r < self.head_dim
        qr, kr = (q[..., : self.r], k[..., : self.r]) if partial else (q, k)
        q2, k2 = qr * cos + rotate_half(qr) * sin, kr * cos + rotate_half(kr) * sin
        if partial:
            q2, k2 = torch.cat((q2, q[..., self.r:]), -1), torch.cat((k2, k[..., self.r:]), -1)
        return q2, k2


def norm(kind, d):
    return RMSNorm(d) if kind == "rmsnorm" else torch.nn.LayerNorm(d, device=dev, dtype=DT)


class Block(torch.nn.Module):
    """h200_bench TBlock / MFBlock with options: norm, rotary_pct, memory_bias, shared_hash, parallel."""

    def __init__(self, kind, d, h, norm_kind="layernorm", rotary_pct=0.0, memory_bias=False, shared_hash=False,
                 parallel=False, tau=8, e=2):
        super().__init__()
        self.kind, self.h, self.tau, self.shared, self.parallel = kind, h, tau, shared_hash, parallel
        self.ln1, self.ln2 = norm(norm_kind, d), norm(norm_kind, d)
        self.rot = Rotary(d // h, rotary_pct) if rotary_pct else None
        if kind == "transformer":
            L = lambda i, o: torch.nn.Linear(i, o, device=dev, dtype=DT)  # noqa: E731
            self.qkv, self.o, self.fc1, self.fc2 = L(d, 3 * d), L(d, d), L(d, 4 * d), L(4 * d, d)
        else:
            K = d // tau
            self.mq, self.mk, self.mv = (MemoryLayer(d, d, tau, DT, memory_bias) for _ in range(3))
            self.m1 = MemoryLayer(d, K * (tau + e), tau, DT, memory_bias)
            self.lnm = torch.nn.LayerNorm(K * (tau + e), device=dev, dtype=DT)  # LayerNorm, as released
            self.m2 = MemoryLayer(K * (tau + e), d, tau + e, DT, memory_bias)

    def attn(self, q, k, v, B, S, d):
        q, k, v = (t.view(B, S, self.h, d // self.h) for t in (q, k, v))
        if self.rot is not None:
            q, k = self.rot(q, k)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return y.transpose(1, 2).reshape(B * S, d)

    def attention(self, x2, B, S, d):
        hN = self.ln1(x2)
        if self.kind == "transformer":
            q, k, v = self.qkv(hN).split(d, -1)
            return self.o(self.attn(q, k, v, B, S, d))
        hashed = hash_and_weights(hN, self.tau) if self.shared else None
        return self.attn(self.mq(hN, hashed), self.mk(hN, hashed), self.mv(hN, hashed), B, S, d)

    def ffn(self, x2):
        if self.kind == "transformer":
            return self.fc2(F.gelu(self.fc1(self.ln2(x2))))
        return self.m2(self.lnm(self.m1(self.ln2(x2))))

    def forward(self, x):
        B, S, d = x.shape
        x2 = x.view(B * S, d)
        if self.parallel:
            y = x2 + self.attention(x2, B, S, d) + self.ffn(x2)
        else:
            z = x2 + self.attention(x2, B, S, d)
            y = z + self.ffn(z)
        return y.view(B, S, d)


# variant -> (kind, options); "bench" = the calibration blocks, then one option at a time, then all
VARIANTS = {
    "transformer:bench": ("transformer", {}),
    "transformer:+rotary0.25": ("transformer", dict(rotary_pct=0.25)),
    "transformer:+rotary1": ("transformer", dict(rotary_pct=1.0)),
    "transformer:+rmsnorm": ("transformer", dict(norm_kind="rmsnorm")),
    "transformer:pythia": ("transformer", dict(rotary_pct=0.25, parallel=True)),
    "memoryformer:bench": ("memoryformer", {}),
    "memoryformer:+rotary0.25": ("memoryformer", dict(rotary_pct=0.25)),
    "memoryformer:+rmsnorm": ("memoryformer", dict(norm_kind="rmsnorm")),
    "memoryformer:+bias": ("memoryformer", dict(memory_bias=True)),
    "memoryformer:+all3": ("memoryformer", dict(rotary_pct=0.25, norm_kind="rmsnorm", memory_bias=True)),
    "memoryformer:released": ("memoryformer", dict(rotary_pct=0.25, norm_kind="rmsnorm", memory_bias=True,
                                                   shared_hash=True)),
}
SHAPES = [(1024, 16, 2048, 1), (1024, 16, 128, 1), (1024, 16, 1, 1)] if dev == "cuda" else [(64, 4, 16, 1)]


def count_kernels(fn):
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    return sum(1 for e in prof.events() if e.device_type.name == "CUDA" and "Memcpy" not in e.name
               and "Memset" not in e.name)


def main():
    with open(os.path.join(OUT, "block_options.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["variant", "kind", "d", "heads", "seq", "batch", "time_us"])
        for d, h, S, B in SHAPES:
            x = torch.randn(B, S, d, device=dev, dtype=DT)
            for name, (kind, opts) in VARIANTS.items():
                torch.manual_seed(0)
                m = Block(kind, d, h, **opts)
                with torch.no_grad():
                    t = bench(lambda: m(x))
                w.writerow([name, kind, d, h, S, B, f"{t:.2f}"])
                fh.flush()
                print(name, d, h, S, B, f"{t:.1f} us", flush=True)
                del m
    if dev != "cuda":
        return
    with open(os.path.join(OUT, "kernel_counts.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["piece", "kernels"])
        d, h, S = 1024, 16, 2048
        q, k = (torch.randn(1, S, h, d // h, device=dev, dtype=DT) for _ in range(2))
        x = torch.randn(S, d, device=dev, dtype=DT)
        pieces = {"rotary_pct0.25_q_and_k": lambda r=Rotary(d // h, 0.25): r(q, k),
                  "rotary_pct1_q_and_k": lambda r=Rotary(d // h, 1.0): r(q, k),
                  "rmsnorm_neox": lambda n=RMSNorm(d): n(x),
                  "layernorm": lambda n=torch.nn.LayerNorm(d, device=dev, dtype=DT): n(x),
                  "bias_add": lambda b=torch.zeros(d, device=dev, dtype=DT): x + b}
        with torch.no_grad():
            for name, fn in pieces.items():
                n = count_kernels(fn)
                w.writerow([name, n])
                print(name, n, "kernels", flush=True)


if __name__ == "__main__":
    main()
