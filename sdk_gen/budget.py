"""The memory budget: what a planned model will hold on the phone, against what the phone allows.

    total = weights + load copy + KV cache + working memory + runtime overhead

- weights: parameters per role x the format's bits per parameter (scales included), or the
  converted artifact's real size once it exists.
- load copy: what the runtime makes of the weights at load beyond the file it maps (LiteRT on
  the CPU unpacks fp16 weights to float32, XNNPack packs quantized ones), per format and backend.
- KV cache: layers x 2 x kv_heads x head_dim x context x bytes per element (sliding-window
  layers hold at most their window). Runtimes allocate it whole at load for the planned context.
- working memory: the largest transient buffers of one prefill step (hidden states, the MLP's
  widest activation, q/k/v, one layer's attention scores) plus the logits row, and the buffers
  the engine allocates at load whatever the model.
- overhead: the runtime's libraries, tokenizer and the host app's baseline (per runtime).

The device side is the profile's per-app figure (the iOS entitlement raises it); a plan must
leave a safety margin of that budget unused:

    headroom = budget - margin - total      fits when headroom >= 0

``MemoryBudget.rows()`` is the one list of those parts: the terminal report, the generated READMEs
and the generated ModelInfo all render it, and ``total_bytes`` is its sum.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sdk_gen.model.spec import ModelSpec
from sdk_gen.profiles import DeviceProfile
from sdk_gen.runtimes.base import QuantFormat, Runtime

# Share of the device budget a plan keeps free: allocator fragmentation, the app's own UI and
# the profile being a prior rather than a measurement of the user's phone.
SAFETY_MARGIN = 0.10


@dataclass(frozen=True)
class BudgetRow:
    """One part of the planned footprint, as every budget table lists it. Tables leave out a part
    of 0 bytes (the load copy, on most backends); generated constants keep it, as 0."""

    key: str  # names the part in the budget's JSON ("<key>_bytes") and generated code (<KEY>_BYTES)
    label: str  # what a person reads in a table
    bytes: int
    source: str  # where the figure comes from: "predicted", "artifact", "runtime", a tool, "estimate"


@dataclass(frozen=True)
class MemoryBudget:
    weights_bytes: int
    kv_cache_bytes: int
    working_bytes: int
    overhead_bytes: int
    budget_bytes: int
    budget_source: str  # "app_memory" or "app_memory_entitled"
    weights_source: str  # "predicted" or "artifact"
    bits_per_param: float
    kv_bytes_per_element: float
    kv_source: str = "predicted"  # or "runtime": the size the runtime reported allocating
    working_source: str = "predicted"  # or who measured it (e.g. MLC's compiler)
    load_copy_factor: float = 0.0  # the format's load copy per byte of weights on this backend

    @property
    def load_copy_bytes(self) -> int:
        return int(self.weights_bytes * self.load_copy_factor)

    def rows(self) -> tuple[BudgetRow, ...]:
        """The parts of the footprint, in the order every table lists them."""
        return (
            BudgetRow("weights", "weights", self.weights_bytes, self.weights_source),
            BudgetRow("load_copy", "load copy", self.load_copy_bytes, "predicted"),
            BudgetRow("kv_cache", "KV cache", self.kv_cache_bytes, self.kv_source),
            BudgetRow("working", "working memory", self.working_bytes, self.working_source),
            BudgetRow("overhead", "runtime overhead", self.overhead_bytes, "estimate"),
        )

    @property
    def total_bytes(self) -> int:
        return sum(row.bytes for row in self.rows())

    @property
    def margin_bytes(self) -> int:
        return int(self.budget_bytes * SAFETY_MARGIN)

    @property
    def headroom_bytes(self) -> int:
        """What the plan leaves of the budget once the safety margin is kept free (negative: over)."""
        return self.budget_bytes - self.margin_bytes - self.total_bytes

    @property
    def fits(self) -> bool:
        return self.headroom_bytes >= 0

    def with_artifact_size(self, artifact_bytes: int, source: str = "artifact") -> "MemoryBudget":
        """The same budget with the converted weights' real size in place of the prediction."""
        values = asdict(self)
        values.update(weights_bytes=artifact_bytes, weights_source=source)
        return MemoryBudget(**values)

    def with_runtime_kv(self, kv_cache_bytes: int) -> "MemoryBudget":
        """The same budget with the KV cache size the runtime itself allocated for this context."""
        values = asdict(self)
        values.update(kv_cache_bytes=kv_cache_bytes, kv_source="runtime")
        return MemoryBudget(**values)

    def with_runtime_working(self, working_bytes: int, source: str) -> "MemoryBudget":
        """The same budget with the runtime's own figure for its transient buffers."""
        values = asdict(self)
        values.update(working_bytes=working_bytes, working_source=source)
        return MemoryBudget(**values)

    def to_json(self) -> dict:
        data = asdict(self)
        data.update(
            load_copy_bytes=self.load_copy_bytes,
            total_bytes=self.total_bytes,
            margin_bytes=self.margin_bytes,
            headroom_bytes=self.headroom_bytes,
            fits=self.fits,
        )
        return data


def kv_cache_bytes(spec: ModelSpec, context: int, bytes_per_element: float) -> int:
    return int(spec.kv_cache_elements(context) * bytes_per_element)


def working_bytes(spec: ModelSpec, runtime: Runtime, context: int, backend: str) -> int:
    act = runtime.activation_bytes(backend)
    chunk = min(runtime.memory.prefill_chunk, context)
    # Rows of the up (and gate) projection per layer: the widest activation of a block.
    mlp_width = spec.params.ffn_up // (spec.num_layers * spec.hidden_size) or spec.intermediate_size
    qkv_width = (spec.num_attention_heads + 2 * spec.num_kv_heads) * spec.head_dim
    hidden_states = 4 * chunk * spec.hidden_size * act  # residual, normed input, attention out, MLP out
    activations = chunk * (mlp_width + qkv_width) * act
    attention_scores = chunk * context * spec.num_attention_heads * 4 * runtime.memory.attention_score_copies  # float32
    logits = spec.vocab_size * 4
    engine_buffers = runtime.memory.engine_buffers_cpu if backend == "cpu" else 0
    return hidden_states + activations + attention_scores + logits + engine_buffers


def compute_budget(
    spec: ModelSpec,
    runtime: Runtime,
    quant: QuantFormat,
    context: int,
    backend: str,
    profile: DeviceProfile,
    entitled: bool,
) -> MemoryBudget:
    weights = quant.weight_bytes(spec)
    kv_per_element = runtime.kv_bytes(backend)
    memory = runtime.memory_for(profile.platform)
    load_copy = quant.cpu_load_copy if backend == "cpu" else 0.0
    if memory.load_copy_factor is not None:
        load_copy = memory.load_copy_factor
    if entitled and profile.app_memory_entitled_bytes is not None:
        budget, source = profile.app_memory_entitled_bytes, "app_memory_entitled"
    else:
        budget, source = profile.app_memory_bytes, "app_memory"
    return MemoryBudget(
        weights_bytes=weights,
        kv_cache_bytes=kv_cache_bytes(spec, context, kv_per_element),
        working_bytes=working_bytes(spec, runtime, context, backend),
        overhead_bytes=memory.overhead_bytes,
        budget_bytes=budget,
        budget_source=source,
        weights_source="predicted",
        bits_per_param=round(8 * weights / spec.num_params, 3),
        kv_bytes_per_element=kv_per_element,
        load_copy_factor=load_copy,
    )
