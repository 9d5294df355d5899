"""Build a Workload by running a module and recording what executes at the dispatcher.

Each compute op the dispatcher sees becomes one Op: FLOPs from workloads.flops on the real shapes,
bytes from the real tensors (numel x element size, by role), dependencies from which earlier op
produced each input. View-like ops are free and only pass provenance on. Lookups record their index
stream when run on real tensors (meta tensors give geometry only).
Op names: the path of the innermost module that ran the op, then a label ("qkv.matmul").
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import models  # noqa: F401  (registers the hwsim:: custom ops the recorder recognises)
from workloads import flops as F
from workloads.op import Op, OpKind, TableGeometry, Workload

aten = torch.ops.aten

TORCH_DTYPES = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32", torch.int64: "int64",
                torch.int32: "int32", torch.float8_e4m3fn: "fp8"}

# Ops that only re-describe memory: no work, provenance flows through them.
VIEW_OPS = {aten.view, aten._unsafe_view, aten.t, aten.transpose, aten.split, aten.split_with_sizes,
            aten.expand, aten.slice, aten.select, aten.unsqueeze, aten.squeeze, aten.permute, aten.alias,
            aten.detach, aten.reshape, aten.unbind, aten.as_strided, aten.chunk}


def _shape(t):
    return tuple(t.shape)


def _nbytes(t) -> int:
    return t.numel() * t.element_size()


class _Recorder(TorchDispatchMode):
    def __init__(self, roles: dict[int, str], module_stack: list[str], record_streams: bool):
        super().__init__()
        self.roles = roles  # id(tensor) -> "weights" | "tables"
        self.producer: dict[int, str] = {}  # id(tensor) -> name of the op that produced it
        self.stack = module_stack
        self.record_streams = record_streams
        self.ops: list[Op] = []
        self.names: set[str] = set()
        self.keep_alive: list = []  # ids must stay unique while we hold them in dicts
        self.unknown: list[str] = []

    # --- provenance ---------------------------------------------------------------------------
    def _remember(self, outs, producer: str | None, role: str | None):
        for t in outs:
            if isinstance(t, torch.Tensor):
                self.keep_alive.append(t)
                if producer is not None:
                    self.producer[id(t)] = producer
                if role is not None:
                    self.roles[id(t)] = role

    def _role(self, t) -> str:
        if id(t) in self.roles:
            return self.roles[id(t)]
        return "indices" if t.dtype in (torch.int64, torch.int32) else "activations"

    def _name(self, label: str) -> str:
        base = f"{self.stack[-1]}.{label}" if self.stack[-1] else label
        name, i = base, 2
        while name in self.names:
            name, i = f"{base}_{i}", i + 1
        self.names.add(name)
        return name

    # --- dispatch -----------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func.overloadpacket
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        tensor_args = [a for a in args if isinstance(a, torch.Tensor)]
        if packet in VIEW_OPS:
            src = tensor_args[0] if tensor_args else None
            self._remember(outs, self.producer.get(id(src)), self.roles.get(id(src)))
            return out
        if packet in (aten.arange, aten.empty, aten.zeros, aten.ones, aten.full, aten.scalar_tensor):
            return out  # constants made inside ops; not part of the data flow we model
        op = self._make_op(packet, args, tensor_args, outs)
        self.ops.append(op)
        self._remember(outs, op.name, None)
        if packet is torch.ops.hwsim.kv_append:  # the caches now hold this op's rows: readers depend on it
            self._remember(tensor_args[:2], op.name, None)
        return out

    def _make_op(self, packet, args, tensor_args, outs) -> Op:
        deps = []
        for t in tensor_args:
            p = self.producer.get(id(t))
            if p is not None and p not in deps:
                deps.append(p)
        floats = [t for t in tensor_args if t.is_floating_point()]
        dtype = TORCH_DTYPES.get(floats[0].dtype if floats else tensor_args[0].dtype, "fp32")
        written_outs = [o for o in outs if isinstance(o, torch.Tensor)]
        dims, table, stream = {}, None, None
        read = {}
        for t in tensor_args:
            read[self._role(t)] = read.get(self._role(t), 0) + _nbytes(t)
        in_shapes = tuple(_shape(t) for t in tensor_args)
        out_shapes, written = None, {}

        if packet in (aten.addmm, aten.mm):
            a, b = (args[1], args[2]) if packet is aten.addmm else (args[0], args[1])
            m, k, n = a.shape[0], a.shape[1], b.shape[1]
            kind, label = OpKind.MATMUL, "matmul"
            flops, paper = F.matmul_flops(m, n, k, packet is aten.addmm)
            dims = {"m": m, "n": n, "k": k, "bias": int(packet is aten.addmm)}
        elif packet is aten.native_layer_norm:
            x = args[0]
            width = math.prod(args[1])
            kind, label = OpKind.NORM, "norm"
            flops, paper = F.norm_flops(x.numel())
            dims = {"rows": x.numel() // width, "width": width, "elements": x.numel()}
            written_outs = written_outs[:1]  # mean / rstd statistics are not counted (see builders.norm_op)
        elif packet is torch.ops.hwsim.rms_norm:
            x, width = args[0], args[0].shape[-1]
            kind, label = OpKind.NORM, "norm"
            flops, paper = F.rms_norm_flops(x.numel())
            dims = {"rows": x.numel() // width, "width": width, "elements": x.numel(), "rms": 1}
        elif packet is torch.ops.hwsim.rotary:
            q, batch, heads, rdims = args[0], args[2], args[3], args[4]
            seq_len = q.shape[0] // batch
            kind, label = OpKind.ROTARY, "rotary"
            flops, paper = F.rotary_flops(q.shape[0], heads, rdims)
            dims = {"batch": batch, "seq_len": seq_len, "heads": heads, "head_dim": q.shape[1] // heads,
                    "rotary_dims": rdims, "tensors": 2}
            # the cos and sin tables the model caches, (seq_len, rotary_dims) each (made inside the op here)
            read["weights"] = read.get("weights", 0) + 2 * seq_len * rdims * q.element_size()
        elif packet is aten.gelu:
            x = args[0]
            kind, label = OpKind.ELEMENTWISE, "gelu"
            flops, paper = F.gelu_flops(x.numel())
            dims = {"rows": x.numel() // x.shape[-1], "width": x.shape[-1], "elements": x.numel(),
                    "special_ops": x.numel()}  # one erf per element, as builders.gelu_op
        elif packet is aten.add:
            o = outs[0]
            kind, label = OpKind.ELEMENTWISE, "add"
            flops, paper = F.add_flops(o.numel())
            dims = {"rows": o.numel() // o.shape[-1], "width": o.shape[-1], "elements": o.numel()}
        elif packet is torch.ops.hwsim.sign_hash:
            x, tau, official = args[0], args[1], args[3]
            kind, label = OpKind.HASH, "hash"
            flops, paper = F.hash_flops(x.shape[0], x.shape[1], tau, official)
            dims = {"tokens": x.shape[0], "chunks": x.shape[1] // tau, "tau": tau, "width": x.shape[1]}
        elif packet is torch.ops.hwsim.table_lookup:
            tables, row_ids = args[0], args[1]
            tokens, chunks = row_ids.shape
            rows_per_table = tables.shape[0] // chunks
            tau, width = int(math.log2(rows_per_table)), tables.shape[1]
            kind, label = OpKind.LOOKUP, "lookup"
            flops, paper = F.lookup_flops(tokens, chunks, width)
            dims = {"tokens": tokens, "chunks": chunks, "tau": tau, "width": width}
            row_bytes = width * tables.element_size()
            table = TableGeometry(chunks, rows_per_table, row_bytes)
            read["tables"] = tokens * chunks * row_bytes  # rows fetched, not the whole table
            if self.record_streams and row_ids.device.type != "meta":
                offsets = torch.arange(chunks, dtype=torch.int64) * rows_per_table
                stream = (row_ids.detach().cpu() - offsets).numpy().astype(np.int32)  # (tokens, tables)
        elif packet is torch.ops.hwsim.causal_attention:
            q, batch, heads = args[0], args[3], args[4]
            seq_len = q.shape[0] // batch
            kind, label = OpKind.ATTENTION, "attention"
            flops, paper = F.attention_flops(batch, seq_len, q.shape[1], heads)
            dims = {"batch": batch, "heads": heads, "seq_len": seq_len, "head_dim": q.shape[1] // heads, "causal": 1}
        elif packet is torch.ops.hwsim.cached_attention:
            q, (batch, keys, d), heads = args[0], args[1].shape, args[3]
            seq_len = q.shape[0] // batch
            kind, label = OpKind.ATTENTION, "attention"
            flops, paper = F.attention_flops(batch, seq_len, d, heads, keys)
            dims = {"batch": batch, "heads": heads, "seq_len": seq_len, "head_dim": d // heads, "causal": 1,
                    "cache_len": keys - seq_len}
        elif packet is torch.ops.hwsim.kv_append:
            # Only the new rows move: read k, v of the new tokens, write them into the caches (whose
            # preallocated size is the model's business, not the step's cost).
            k_cache, k, v, start = args[0], args[2], args[3], args[4]
            batch, _, d = k_cache.shape
            seq_len = k.shape[0] // batch
            kind, label = OpKind.COPY, "kv_append"
            flops = paper = 0
            new_rows = _nbytes(k) + _nbytes(v)
            read = {"activations": new_rows}
            written_outs, written = [], {"activations": new_rows}
            in_shapes, out_shapes = (_shape(k), _shape(v)), ((batch, seq_len, d),) * 2
            dims = {"batch": batch, "seq_len": seq_len, "width": d, "cache_len": start, "tensors": 2,
                    "elements": 2 * k.numel()}
            deps = [p for p in dict.fromkeys(self.producer.get(id(t)) for t in (k, v)) if p is not None]
        elif packet in (torch.ops.hwsim.linformer_attention, torch.ops.hwsim.cosformer_attention,
                        torch.ops.hwsim.performer_attention):
            q, batch, heads = args[0], args[-2], args[-1]
            seq_len, d = q.shape[0] // batch, q.shape[1]
            dims = {"batch": batch, "heads": heads, "seq_len": seq_len, "head_dim": d // heads}
            label = "attention"
            if packet is torch.ops.hwsim.linformer_attention:
                kind, dims["proj_len"] = OpKind.LINFORMER_ATTENTION, args[3].shape[0]  # E: (k, T)
                flops, paper = F.linformer_attention_flops(batch, seq_len, d, heads, dims["proj_len"])
            elif packet is torch.ops.hwsim.cosformer_attention:
                kind = OpKind.COSFORMER_ATTENTION
                flops, paper = F.cosformer_attention_flops(batch, seq_len, d, heads)
            else:
                kind, dims["features"] = OpKind.PERFORMER_ATTENTION, args[3].shape[0]  # W: (m, d_h)
                flops, paper = F.performer_attention_flops(batch, seq_len, d, heads, dims["features"])
        else:
            # Not modelled: recorded so nothing silently disappears, with no FLOPs.
            kind, label = OpKind.OTHER, str(packet).split(".")[-1]
            flops = paper = 0
            self.unknown.append(str(packet))

        for o in written_outs:
            written[self._role(o)] = written.get(self._role(o), 0) + _nbytes(o)
        out_shapes = out_shapes or tuple(_shape(o) for o in written_outs)
        return Op(self._name(label), kind, dtype, in_shapes, out_shapes, flops, paper, read, written, tuple(deps),
                  dims, table, stream)


def trace(module: torch.nn.Module, *inputs, name: str | None = None, record_streams: bool = True) -> Workload:
    """Run `module(*inputs)` without autograd and return what executed as a Workload."""
    roles: dict[int, str] = {}
    for pname, p in module.named_parameters():
        roles[id(p)] = "tables" if pname.split(".")[-1] == "tables" else "weights"
    stack: list[str] = [""]
    handles = []
    for path, sub in module.named_modules():
        if not path:
            continue
        handles.append(sub.register_forward_pre_hook(lambda m, a, path=path: stack.append(path)))
        handles.append(sub.register_forward_hook(lambda m, a, o: stack.pop() and None))  # None keeps the output
    recorder = _Recorder(roles, stack, record_streams)
    try:
        with torch.no_grad(), recorder:
            module(*inputs)
    finally:
        for h in handles:
            h.remove()
    meta = {"traced": True, "module": type(module).__name__}
    if recorder.unknown:
        meta["unmodelled_ops"] = sorted(set(recorder.unknown))
    return Workload(name or type(module).__name__, tuple(recorder.ops), meta)


def trace_preset(preset: str, seq_len: int, batch: int = 1, dtype: str = "bf16", device: str = "cpu",
                 seed: int = 0, record_streams: bool = True, variant: str = "released", phase: str = "prefill",
                 kv_len: int | None = None, **options) -> Workload:
    """Trace one block of a named model preset (models.PRESETS) on Gaussian inputs, with the preset's
    block options, those of `variant` and `options` (as workloads.builders.preset_block takes them).
    phase="decode": seq_len new tokens per sequence after a KV cache of kv_len tokens (Gaussian keys and
    values: the step's cost does not depend on what the cache holds).

    device="meta" needs no memory and gives geometry only (no index streams); "cpu" runs for real.
    The model is randomly initialised: bucket statistics reflect LayerNorm-centred Gaussian inputs,
    not a trained checkpoint (none can be downloaded here).
    """
    import models

    if seq_len <= 0 or batch <= 0:
        raise ValueError(f"seq_len and batch must be positive, given seq_len={seq_len}, batch={batch}")
    torch_dtype = {v: k for k, v in TORCH_DTYPES.items()}.get(dtype)
    if torch_dtype is None or not torch_dtype.is_floating_point:
        raise ValueError(f"dtype must be one of bf16, fp16, fp32, given {dtype!r}")
    from workloads.builders import check_phase, phase_suffix, preset_options

    cache_len = check_phase(phase, kv_len)
    p = models.get_preset(preset)
    config = p.block_config(**preset_options(p, variant, **options))
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        block = models.build_block(config, device=device, dtype=torch_dtype)
    x = torch.randn(batch, seq_len, p.hidden_size, generator=gen, dtype=torch.float32).to(torch_dtype)
    x = x.to(device)
    inputs = (x,)
    if cache_len is not None:
        kv = torch.randn(2, batch, cache_len + seq_len, p.hidden_size, generator=gen).to(torch_dtype).to(device)
        inputs = (x, models.KVCache(kv[0], kv[1], cache_len))
    w = trace(block, *inputs, name=f"{preset}-s{seq_len}-b{batch}{phase_suffix(cache_len)}",
              record_streams=record_streams)
    meta = dict(w.meta, preset=preset, kind=p.kind, hidden_size=p.hidden_size, seq_len=seq_len, batch=batch,
                heads=p.heads, dtype=dtype, layers=p.layers, phase=phase, **preset_options(p, variant, **options))
    if cache_len is not None:
        meta["kv_len"] = cache_len
    if p.tau is not None:
        meta.update(tau=p.tau, expand_bits=p.expand_bits, chunks=p.num_chunks)
    return Workload(w.name, w.ops, meta)
