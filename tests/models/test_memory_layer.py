"""MemoryLayer against the paper's definition (reference section 1), computed independently.

The reference implementation below is a brute force in numpy: the weight is the softmax over ALL
2^tau sign patterns evaluated at the chunk's own pattern (not the closed form the code uses), and the
bucket id is built bit by bit with entry 0 as the most significant bit.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from models import MemoryFormerConfig, MemoryLayer, TransformerBlock, TransformerConfig
from models.custom_ops import causal_attention_op, sign_hash, table_lookup
from tests.dispatch_helpers import CallCounter

torch.manual_seed(0)


# --- an independent reference --------------------------------------------------------------------

def sign_patterns(tau: int) -> np.ndarray:
    """patterns[b, i] = +1 when bit i of b is set, entry 0 the MOST significant bit; shape (2^tau, tau)."""
    b = np.arange(2 ** tau)[:, None]
    bits = (b >> (tau - 1 - np.arange(tau))[None, :]) & 1
    return np.where(bits == 1, 1.0, -1.0)


def reference_hash(x: np.ndarray, tau: int, temperature: float, official: bool):
    """x (N, K*tau) -> buckets (N, K) in [0, 2^tau) and weights (N, K), by brute force."""
    n, d = x.shape
    k = d // tau
    z = x.reshape(n, k, tau)
    buckets = np.zeros((n, k), dtype=np.int64)
    for i in range(tau):
        buckets = buckets * 2 + (z[..., i] >= 0)  # entry 0 ends up the most significant bit
    patterns = sign_patterns(tau)
    # The chunk's own sign pattern (z >= 0 -> +1) is the pattern of its bucket.
    own = np.where(z >= 0, 1.0, -1.0)
    assert np.array_equal(patterns[buckets], own)
    logits = np.einsum("nki,bi->nkb", z, patterns) / temperature  # (N, K, 2^tau)
    logits -= logits.max(-1, keepdims=True)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    p = np.take_along_axis(probs, buckets[..., None], -1)[..., 0]  # (N, K)
    if official:
        p = p * np.abs(z).sum(-1)
    return buckets, p


def reference_forward(x: np.ndarray, tables: np.ndarray, tau: int, temperature: float, official: bool):
    lead, d = x.shape[:-1], x.shape[-1]
    x2 = x.reshape(-1, d)
    buckets, p = reference_hash(x2, tau, temperature, official)
    n, k = buckets.shape
    y = np.zeros((n, tables.shape[1]))
    for row in range(n):
        for chunk in range(k):
            y[row] += p[row, chunk] * tables[chunk * 2 ** tau + buckets[row, chunk]]
    return y.reshape(*lead, tables.shape[1])


def nonzero_input(*shape, low=0.05, dtype=torch.float64, generator=None):
    """Random values bounded away from 0, so a finite-difference step never flips a sign bit."""
    mag = torch.rand(*shape, dtype=dtype, generator=generator) * 1.5 + low
    sign = torch.where(torch.rand(*shape, generator=generator) < 0.5, -1.0, 1.0).to(dtype)
    return mag * sign


def make_layer(d_in, d_out, tau, temperature=1.0, weighting="paper"):
    layer = MemoryLayer(d_in, d_out, tau, temperature=temperature, weighting=weighting, dtype=torch.float64)
    with torch.no_grad():
        layer.tables.normal_()
    return layer


# --- forward against the brute force --------------------------------------------------------------

@pytest.mark.parametrize("weighting", ["paper", "official"])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
@pytest.mark.parametrize("tau,d_in,d_out", [(2, 4, 3), (2, 6, 5), (3, 9, 4), (4, 8, 6), (4, 16, 3)])
def test_forward_matches_bruteforce_softmax(tau, d_in, d_out, temperature, weighting):
    layer = make_layer(d_in, d_out, tau, temperature, weighting)
    x = torch.randn(37, d_in, dtype=torch.float64)
    x[0, :tau] = 0.0  # exact zeros count as non-negative (bit 1) and contribute 1/2 to p
    x[1, -tau:] = -0.0
    y = layer(x).detach().numpy()
    expected = reference_forward(x.numpy(), layer.tables.detach().numpy(), tau, temperature, weighting == "official")
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("tau", [2, 3, 4])
def test_hash_buckets_and_weights_match_bruteforce(tau):
    layer = make_layer(4 * tau, 2, tau, temperature=0.5)
    x = torch.randn(50, 4 * tau, dtype=torch.float64)
    row_ids, weights = layer.hash(x)
    buckets, p = reference_hash(x.numpy(), tau, 0.5, False)
    np.testing.assert_array_equal(layer.buckets(row_ids).numpy(), buckets)
    np.testing.assert_array_equal(row_ids.numpy(), buckets + np.arange(4)[None, :] * 2 ** tau)
    np.testing.assert_allclose(weights.numpy(), p, rtol=0, atol=1e-12)


def test_bucket_bit_order_entry0_is_most_significant():
    # One-hot tables reveal which global row each chunk selected: row r has a 1 in column r.
    tau, k = 3, 2
    layer = MemoryLayer(k * tau, k * 2 ** tau, tau, dtype=torch.float64)
    with torch.no_grad():
        layer.tables.copy_(torch.eye(k * 2 ** tau, dtype=torch.float64))
    # chunk 0: (+, -, -) -> 0b100 = 4; chunk 1: (-, -, +) -> 0b001 = 1 -> global row 8 + 1 = 9.
    x = torch.tensor([[5.0, -5.0, -5.0, -5.0, -5.0, 5.0]], dtype=torch.float64)
    y = layer(x)[0]
    assert torch.nonzero(y).flatten().tolist() == [4, 9]


def test_memory_layer_sums_rows_not_concatenates():
    # Output width is d_out (each selected row is full width), for any K.
    layer = make_layer(12, 7, 3)
    assert layer(torch.randn(5, 12, dtype=torch.float64)).shape == (5, 7)
    assert layer.tables.shape == (4 * 2 ** 3, 7)


# --- the weight p ------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(tau=st.integers(1, 8), temperature=st.sampled_from([1.0, 0.5, 2.0]),
       values=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=8, max_size=8))
def test_weight_lies_between_two_to_minus_tau_and_one(tau, temperature, values):
    layer = MemoryLayer(tau, 1, tau, temperature=temperature, dtype=torch.float64)
    x = torch.tensor(values[:tau], dtype=torch.float64).reshape(1, tau)
    _, p = layer.hash(x)
    assert p.item() <= 1.0
    assert p.item() >= 2.0 ** -tau * (1 - 1e-12)


@pytest.mark.parametrize("tau", [2, 3, 4])
def test_weight_bounds_are_attained(tau):
    layer = MemoryLayer(tau, 1, tau, dtype=torch.float64)
    _, p0 = layer.hash(torch.zeros(1, tau, dtype=torch.float64))
    _, p1 = layer.hash(torch.full((1, tau), 100.0, dtype=torch.float64))
    assert p0.item() == pytest.approx(2.0 ** -tau, rel=1e-12)
    assert p1.item() == pytest.approx(1.0, rel=1e-12)


# --- gradients ---------------------------------------------------------------------------------

@pytest.mark.parametrize("weighting", ["paper", "official"])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_gradcheck_input_and_tables(weighting, temperature):
    layer = make_layer(8, 3, 4, temperature, weighting)
    x = nonzero_input(5, 8).requires_grad_(True)
    tables = layer.tables.detach().clone().requires_grad_(True)

    def f(x, tables):
        return torch.func.functional_call(layer, {"tables": tables}, (x,))

    assert torch.autograd.gradcheck(f, (x, tables), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_gradcheck_custom_ops_directly():
    x = nonzero_input(4, 6).requires_grad_(True)
    tables = torch.randn(2 * 8, 5, dtype=torch.float64, requires_grad=True)

    def f(x, tables):
        rows, w = sign_hash(x, 3, 0.7, True)
        return table_lookup(tables, rows, w)

    assert torch.autograd.gradcheck(f, (x, tables), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("weighting", ["paper", "official"])
def test_table_gradient_only_in_selected_rows(weighting):
    tau, d_in, d_out = 4, 8, 5
    layer = make_layer(d_in, d_out, tau, weighting=weighting)
    x = torch.randn(6, d_in, dtype=torch.float64)
    x[3] = x[0]  # force a repeated row in every table
    g = torch.randn(6, d_out, dtype=torch.float64)
    (layer(x) * g).sum().backward()
    grad = layer.tables.grad.numpy()

    buckets, p = reference_hash(x.numpy(), tau, 1.0, weighting == "official")
    expected = np.zeros_like(grad)
    selected = np.zeros(grad.shape[0], dtype=bool)
    for n in range(x.shape[0]):
        for k in range(d_in // tau):
            row = k * 2 ** tau + buckets[n, k]
            expected[row] += p[n, k] * g[n].numpy()
            selected[row] = True
    assert (~selected).sum() >= 2 * 2 ** tau - 2 * 5  # most rows untouched: the check below means something
    assert np.all(grad[~selected] == 0.0)  # exactly zero, not merely small
    np.testing.assert_allclose(grad[selected], expected[selected], rtol=0, atol=1e-12)


def plain_torch_memory_layer(x, tables, tau, temperature, official):
    """The layer written with ordinary differentiable torch ops: softmax over all sign patterns for p,
    bucket ids from the sign bits (no gradient), gather of the selected rows, weighted sum."""
    n, d = x.shape
    k = d // tau
    z = x.reshape(n, k, tau)  # (N, K, tau)
    patterns = torch.as_tensor(sign_patterns(tau), dtype=x.dtype)  # (2^tau, tau)
    with torch.no_grad():
        bits = (z >= 0).long()
        buckets = torch.zeros(n, k, dtype=torch.long)
        for i in range(tau):
            buckets = buckets * 2 + bits[..., i]
    probs = torch.softmax(torch.einsum("nki,bi->nkb", z, patterns) / temperature, -1)  # (N, K, 2^tau)
    p = probs.gather(-1, buckets.unsqueeze(-1)).squeeze(-1)  # (N, K)
    if official:
        p = p * z.abs().sum(-1)
    rows = tables[buckets + torch.arange(k) * 2 ** tau]  # (N, K, h)
    return (p.unsqueeze(-1) * rows).sum(1)


@pytest.mark.parametrize("weighting", ["paper", "official"])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_gradients_match_plain_torch_autograd(weighting, temperature):
    tau, d_in, d_out = 3, 9, 4
    layer = make_layer(d_in, d_out, tau, temperature, weighting)
    x = nonzero_input(7, d_in).requires_grad_(True)
    g = torch.randn(7, d_out, dtype=torch.float64)
    (layer(x) * g).sum().backward()

    x_ref = x.detach().clone().requires_grad_(True)
    t_ref = layer.tables.detach().clone().requires_grad_(True)
    y_ref = plain_torch_memory_layer(x_ref, t_ref, tau, temperature, weighting == "official")
    (y_ref * g).sum().backward()

    torch.testing.assert_close(layer(x).detach(), y_ref.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(layer.tables.grad, t_ref.grad, rtol=1e-10, atol=1e-12)


def test_input_gradient_flows_only_through_weights():
    # With p held constant (detached), nothing reaches the input: the bucket choice has no gradient.
    layer = make_layer(8, 3, 4)
    x = nonzero_input(5, 8).requires_grad_(True)
    row_ids, w = layer.hash(x)
    y = table_lookup(layer.tables, row_ids, w.detach())
    y.sum().backward()
    assert x.grad is None
    # Through the weights, the input gradient is dense and non-zero.
    x.grad = None
    layer(x).sum().backward()
    assert torch.count_nonzero(x.grad) == x.numel()


def test_custom_ops_pass_opcheck():
    quick = ("test_schema", "test_autograd_registration", "test_faketensor")
    x = nonzero_input(6, 8).requires_grad_(True)
    # aot_dispatch is left out for sign_hash: its harness sums the int64 output into a float.
    torch.library.opcheck(sign_hash, (x, 4, 1.0, False), test_utils=quick)
    torch.library.opcheck(sign_hash, (x, 4, 0.5, True), test_utils=quick)
    rows, w = sign_hash(x.detach(), 4, 1.0, False)
    tables = torch.randn(32, 3, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(table_lookup, (tables, rows, w.clone().requires_grad_(True)))
    q, k, v = (torch.randn(8, 16, dtype=torch.float64, requires_grad=True) for _ in range(3))
    torch.library.opcheck(causal_attention_op, (q, k, v, 2, 4))


# --- shapes and errors -------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(8,), (5, 8), (2, 3, 8), (2, 1, 3, 8)])
def test_any_leading_shape(shape):
    layer = make_layer(8, 6, 2, weighting="official")
    x = torch.randn(*shape, dtype=torch.float64)
    y = layer(x)
    assert y.shape == (*shape[:-1], 6)
    expected = reference_forward(x.numpy(), layer.tables.detach().numpy(), 2, 1.0, True)
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=0, atol=1e-10)


def test_wrong_input_width_raises():
    layer = make_layer(8, 6, 2)
    with pytest.raises(ValueError, match=re.escape("d_in=8")):
        layer(torch.randn(3, 9, dtype=torch.float64))


@pytest.mark.parametrize("kwargs,needles", [
    (dict(d_in=10, d_out=4, tau=4), ["d_in=10", "tau=4"]),
    (dict(d_in=42, d_out=4, tau=21), ["tau=21"]),
    (dict(d_in=8, d_out=4, tau=0), ["tau=0"]),
    (dict(d_in=8, d_out=4, tau=-2), ["tau=-2"]),
    (dict(d_in=8, d_out=4, tau=2, weighting="bogus"), ["'bogus'"]),
    (dict(d_in=8, d_out=4, tau=2, temperature=0.0), ["temperature", "0.0"]),
    (dict(d_in=8, d_out=0, tau=2), ["d_out=0"]),
])
def test_memory_layer_bad_arguments(kwargs, needles):
    with pytest.raises(ValueError) as info:
        MemoryLayer(**kwargs)
    for needle in needles:
        assert needle in str(info.value)


def test_tau_20_is_allowed_on_meta():
    layer = MemoryLayer(20, 4, 20, device="meta")
    assert layer.tables.shape == (2 ** 20, 4)


@pytest.mark.parametrize("make,needles", [
    (lambda: MemoryFormerConfig(hidden_size=100, heads=3, tau=4), ["hidden_size=100", "heads=3"]),
    (lambda: TransformerConfig(hidden_size=100, heads=3), ["hidden_size=100", "heads=3"]),
    (lambda: TransformerConfig(hidden_size=64, heads=0), ["heads=0"]),
    (lambda: MemoryFormerConfig(hidden_size=96, heads=4, tau=5), ["d_in=96", "tau=5"]),
    (lambda: MemoryFormerConfig(hidden_size=64, heads=4, tau=21), ["tau=21"]),
    (lambda: MemoryFormerConfig(hidden_size=64, heads=4, tau=0), ["tau=0"]),
    (lambda: MemoryFormerConfig(hidden_size=64, heads=4, tau=8, expand_bits=-1), ["expand_bits", "-1"]),
])
def test_config_bad_shapes(make, needles):
    with pytest.raises(ValueError) as info:
        make()
    for needle in needles:
        assert needle in str(info.value)


def test_unknown_weighting_in_block_raises():
    from models import MemoryFormerBlock
    with pytest.raises(ValueError, match="'nope'"):
        MemoryFormerBlock(MemoryFormerConfig(hidden_size=64, heads=4, tau=4, weighting="nope"), device="meta")


# --- FLOP counting ------------------------------------------------------------------------------



@pytest.mark.parametrize("shape,tau,d_out", [((3, 5, 16), 4, 8), ((7, 12), 3, 10), ((12,), 2, 4)])
def test_flop_counter_sees_one_lookup(shape, tau, d_out):
    layer = MemoryLayer(shape[-1], d_out, tau)
    x = torch.randn(*shape)
    counter = CallCounter()
    with counter, torch.no_grad():
        layer(x)
    assert counter.calls.count("hwsim.table_lookup") == 1
    assert counter.calls.count("hwsim.sign_hash") == 1
    assert not any(c.startswith("aten.embedding") or c.startswith("aten.index") for c in counter.calls)

    n = int(np.prod(shape[:-1]))
    k = shape[-1] // tau
    with FlopCounterMode(display=False) as fc:
        layer(x)
    counts = fc.get_flop_counts()["Global"]
    assert counts[torch.ops.hwsim.table_lookup] == 2 * n * k * d_out


def test_flop_counter_matmuls_equal_our_matmul_ops_minus_bias():
    from workloads import OpKind, trace

    block = TransformerBlock(TransformerConfig(hidden_size=64, heads=4))
    x = torch.randn(2, 12, 64)
    workload = trace(block, x)
    matmuls = [op for op in workload if op.kind == OpKind.MATMUL]
    assert len(matmuls) == 4  # qkv, out, fc1, fc2
    ours = sum(op.flops - op.dims["m"] * op.dims["n"] * op.dims["bias"] for op in matmuls)
    with FlopCounterMode(display=False) as fc:
        block(x)
    counts = fc.get_flop_counts()["Global"]
    torch_matmul = sum(v for op, v in counts.items() if str(op) in ("aten.addmm", "aten.mm", "aten.bmm", "aten.matmul"))
    assert torch_matmul == ours
    # And independently of both: 2 FLOPs per MAC over 12 s d^2 MACs (s = all 24 tokens).
    assert torch_matmul == 2 * 12 * 24 * 64 ** 2
