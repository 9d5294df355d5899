"""The Memory Layer of MemoryFormer (reference section 1): a fully-connected layer replaced by
sign-bit hashing of input chunks and a weighted sum of one table row per chunk."""
from __future__ import annotations

import torch
from torch import nn

from models.custom_ops import WEIGHTINGS, sign_hash, table_lookup

MAX_TAU = 20  # 2^20 rows per table: beyond this one table alone outgrows any memory we model


def check_memory_layer_shape(d_in: int, d_out: int, tau: int) -> None:
    if not isinstance(tau, int) or tau < 1 or tau > MAX_TAU:
        raise ValueError(f"MemoryLayer: tau must be an integer in 1..{MAX_TAU}, given tau={tau!r}")
    if d_in <= 0 or d_out <= 0:
        raise ValueError(f"MemoryLayer: d_in and d_out must be positive, given d_in={d_in}, d_out={d_out}")
    if d_in % tau:
        raise ValueError(
            f"MemoryLayer: d_in must be divisible by tau, given d_in={d_in}, tau={tau} "
            f"(d_in % tau = {d_in % tau}; nearest valid d_in: {d_in - d_in % tau} or {d_in - d_in % tau + tau})"
        )


class MemoryLayer(nn.Module):
    """y = sum_k p(z_k) * T_k[hash(z_k)] (+ b) for the K = d_in / tau chunks z_k of x.

    tables: one [K * 2^tau, d_out] parameter; table k occupies rows k * 2^tau .. (k+1) * 2^tau - 1.
    weighting: "paper" p = prod sigmoid(2|z|/t); "official" multiplies p by the chunk's L1 norm.
    bias: a learned d_out vector added to the output, as the released code's MemoryLayer does
    (`outputs + self.bias`, a separate add after the lookup).
    """

    def __init__(self, d_in: int, d_out: int, tau: int = 8, temperature: float = 1.0, weighting: str = "paper",
                 bias: bool = False, device=None, dtype=None):
        super().__init__()
        check_memory_layer_shape(d_in, d_out, tau)
        if weighting not in WEIGHTINGS:
            raise ValueError(f"MemoryLayer: weighting must be one of {WEIGHTINGS}, given {weighting!r}")
        if temperature <= 0:
            raise ValueError(f"MemoryLayer: temperature must be > 0, given {temperature}")
        self.d_in, self.d_out, self.tau = d_in, d_out, tau
        self.num_chunks = d_in // tau
        self.rows_per_table = 2 ** tau
        self.temperature, self.weighting = float(temperature), weighting
        self.tables = nn.Parameter(torch.empty(self.num_chunks * self.rows_per_table, d_out, device=device, dtype=dtype))
        # zeros: the released code draws 0.001 * randn; any value costs the same
        self.register_parameter("bias", nn.Parameter(torch.zeros(d_out, device=device, dtype=dtype)) if bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Each output sums K rows weighted by p <= 1, so scale rows like a fan-in of K.
        if self.tables.device.type != "meta":
            nn.init.normal_(self.tables, std=self.num_chunks ** -0.5)

    def hash(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (..., d_in) -> global row ids (N, K) and weights (N, K), N = prod of leading dims."""
        x2 = x.reshape(-1, self.d_in)  # (N, d_in)
        return sign_hash(x2, self.tau, self.temperature, self.weighting == "official")

    def buckets(self, row_ids: torch.Tensor) -> torch.Tensor:
        """Global row ids (N, K) -> bucket ids in [0, 2^tau) of each chunk's own table."""
        return row_ids % self.rows_per_table

    def lookup(self, row_ids: torch.Tensor, weights: torch.Tensor, lead_shape) -> torch.Tensor:
        y = table_lookup(self.tables, row_ids, weights)  # (N, d_out)
        if self.bias is not None:
            y = y + self.bias
        return y.view(*lead_shape, self.d_out)  # (..., d_out)

    def forward(self, x: torch.Tensor, hashed: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """`hashed` lets layers that read the same input (Q, K, V) share one hash."""
        if x.shape[-1] != self.d_in:
            raise ValueError(f"MemoryLayer: expected input of width d_in={self.d_in}, given shape {tuple(x.shape)}")
        row_ids, weights = hashed if hashed is not None else self.hash(x)
        return self.lookup(row_ids, weights, x.shape[:-1])

    def extra_repr(self) -> str:
        return (f"d_in={self.d_in}, d_out={self.d_out}, tau={self.tau}, K={self.num_chunks}, "
                f"weighting={self.weighting!r}, temperature={self.temperature}, bias={self.bias is not None}")
