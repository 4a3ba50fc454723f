"""What sdkgen knows about a model once it has read its folder."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

# Roles a weight plays. Runtimes quantize roles differently (llama.cpp keeps the output
# matrix at 6 bits under Q4_0, MLC quantizes embeddings, everyone keeps norms in float),
# so the memory budget needs parameters per role, not one total.
WEIGHT_ROLES = (
    "embedding",
    "lm_head",
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_out",
    "ffn_up",  # up and gate projections
    "ffn_down",
    "other_linear",  # 2-D weights sdkgen could not place; budgeted like attention weights
    "other",  # norms and biases: kept in float by every runtime
)


@dataclass(frozen=True)
class ParamBreakdown:
    embedding: int = 0
    lm_head: int = 0
    attn_q: int = 0
    attn_k: int = 0
    attn_v: int = 0
    attn_out: int = 0
    ffn_up: int = 0
    ffn_down: int = 0
    other_linear: int = 0
    other: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, role) for role in WEIGHT_ROLES)

    @property
    def linear(self) -> int:
        """Parameters in the transformer blocks' matrices (what 'quantization' usually means)."""
        return (
            self.attn_q + self.attn_k + self.attn_v + self.attn_out + self.ffn_up + self.ffn_down + self.other_linear
        )

    def as_dict(self) -> dict[str, int]:
        return {role: getattr(self, role) for role in WEIGHT_ROLES}

    def __add__(self, other: "ParamBreakdown") -> "ParamBreakdown":
        return ParamBreakdown(**{r: getattr(self, r) + getattr(other, r) for r in WEIGHT_ROLES})


@dataclass(frozen=True)
class ModelSpec:
    """A model's shape, read from config.json (and safetensors headers when present)."""

    path: Path
    architecture: str  # e.g. "PhiForCausalLM"
    model_type: str  # config.json's model_type, e.g. "phi"
    family: str  # sdkgen's family key, e.g. "phi"
    num_params: int
    params: ParamBreakdown
    params_source: str  # "safetensors" (header-exact) or "config" (computed from shapes)
    num_layers: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    hidden_size: int
    intermediate_size: int
    vocab_size: int
    max_context: int
    tied_embeddings: bool
    tokenizer_kind: str  # "byte-level-bpe", "bpe", "sentencepiece", "unigram", "wordpiece" or "none"
    has_chat_template: bool
    dtype: str  # dtype the checkpoint is stored in, e.g. "bfloat16"
    # Per-layer attention window: None for full attention, an int for a sliding window.
    layer_windows: tuple[int | None, ...] = field(default=())
    weight_files: tuple[str, ...] = field(default=())

    @property
    def has_weights(self) -> bool:
        return bool(self.weight_files)

    def kv_cache_elements(self, context: int) -> int:
        """K and V elements the cache holds for ``context`` tokens, summed over layers.

        Sliding-window layers hold at most their window, whatever the context.
        """
        per_layer = 2 * self.num_kv_heads * self.head_dim
        total = 0
        for window in self.layer_windows or (None,) * self.num_layers:
            total += per_layer * (context if window is None else min(context, window))
        return total

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["path"] = str(self.path)
        data["params"] = self.params.as_dict()
        data["layer_windows"] = list(self.layer_windows)
        data["weight_files"] = list(self.weight_files)
        return data
