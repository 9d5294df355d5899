"""A whole model in closed form: one step (token embedding, layers x block, final norm, LM head) as a Workload,
and the bytes the model holds (weights, Memory Layer tables, KV cache).

The layout is GPT-NeoX's (embed_in, layers, final_layer_norm, embed_out; Pythia does not tie embed_in and
embed_out). MemoryFormer replaces the blocks' fully-connected layers only: "the only fully-connected layer left
in the whole model is the classifier head" (reference section 2), so both kinds keep a dense embedding and LM
head. A step runs the final norm and the LM head on the last position of each sequence only (B rows): a
generating server needs one next token per sequence.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from workloads.builders import block_norm_op, gather_op, matmul_op, phase_suffix, preset_block, preset_options
from workloads.op import Op, OpKind, Workload, dtype_bytes


def _prefixed(op: Op, prefix: str, first_deps: tuple[str, ...]) -> Op:
    """A block's op as layer `prefix` of a model: names and deps prefixed; ops that read only the block input
    (no deps inside the block) depend on what produced it."""
    deps = tuple(f"{prefix}.{d}" for d in op.deps) or first_deps
    return replace(op, name=f"{prefix}.{op.name}", deps=deps)


def model_step(preset, batch: int, seq_len: int, dtype: str = "bf16", variant: str = "released",
               phase: str = "prefill", kv_len: int | None = None, **options) -> Workload:
    """One forward step of a whole models.ModelPreset: embedding of batch x seq_len tokens, preset.layers
    blocks (phase and kv_len as workloads.block takes them), final norm and LM head on B rows."""
    blk = preset_block(preset, seq_len, batch, dtype, variant, phase=phase, kv_len=kv_len, **options)
    d, vocab = preset.hidden_size, preset.vocab_size
    ops = [gather_op("embed_in.gather", batch * seq_len, d, vocab, dtype)]
    last = ops[0].name
    for i in range(preset.layers):
        prefix = f"layers.{i}"
        ops += [_prefixed(op, prefix, (last,)) for op in blk.ops]
        last = ops[-1].name
    norm = blk.meta["norm"]  # gpt-neox builds final_layer_norm with the blocks' norm
    ops += [block_norm_op(norm, "final_norm.norm", batch, d, dtype, deps=(last,)),
            matmul_op("embed_out.matmul", batch, vocab, d, dtype, bias=False, deps=("final_norm.norm",))]
    meta = dict(blk.meta, preset=preset.name, layers=preset.layers, vocab_size=vocab, scope="model")
    suffix = phase_suffix(kv_len if phase == "decode" else None)
    return Workload(f"{preset.name}-model-s{seq_len}-b{batch}{suffix}", tuple(ops), meta)


@dataclass(frozen=True)
class ModelBytes:
    """What a model holds in device memory, bytes."""
    weights_bytes: int  # parameters other than Memory Layer tables: blocks, embedding, final norm, LM head
    tables_bytes: int  # Memory Layer tables (0 for a Transformer)
    kv_cache_bytes: int  # k and v of every layer for batch x context_len tokens

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.tables_bytes + self.kv_cache_bytes


def model_bytes(preset, batch: int, context_len: int, dtype: str = "bf16", variant: str = "released",
                **options) -> ModelBytes:
    """Bytes of a models.ModelPreset's parameters (from its closed-form block: every op's weights, every lookup
    table whole) and of its KV cache holding context_len tokens of `batch` sequences."""
    b = dtype_bytes(dtype)
    blk = preset_block(preset, 1, 1, dtype, variant, **options)
    # the rotary op's "weights" are its cos/sin tables (a cache, not parameters)
    block_weights = sum(op.bytes_read["weights"] for op in blk if op.kind is not OpKind.ROTARY)
    block_tables = sum(op.table.total_bytes for op in blk if op.table is not None)
    d, vocab = preset.hidden_size, preset.vocab_size
    final_norm = (1 if preset_options(preset, variant, **options).get("norm") == "rmsnorm" else 2) * d * b
    weights = preset.layers * block_weights + 2 * vocab * d * b + final_norm  # embed_in + embed_out
    kv = preset.layers * 2 * batch * context_len * d * b
    return ModelBytes(weights, preset.layers * block_tables, kv)
