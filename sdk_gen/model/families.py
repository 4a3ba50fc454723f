"""The model families sdkgen understands, and how to count their parameters from config.json.

Counting from the config alone lets ``sdkgen plan`` budget a 7B model whose weights were never
downloaded. Each family lists exactly which projections carry biases and how many norms a block
has; the tests check these counts against ``model.num_parameters()`` of real transformers models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from sdk_gen.model.spec import ParamBreakdown


@dataclass(frozen=True)
class Family:
    key: str
    display_name: str
    model_types: tuple[str, ...]
    architectures: tuple[str, ...]
    # Per-block layout.
    gated_mlp: bool  # gate+up+down (SwiGLU/GeGLU) rather than fc1+fc2
    norms_per_block: int
    norm_has_bias: bool  # LayerNorm (weight+bias) rather than RMSNorm (weight only)
    qk_norm: bool  # per-head RMSNorm on q and k (Qwen3, Gemma 3)
    # Bias flags; a callable reads the flag from the config where the family makes it optional.
    qkv_bias: Callable[[dict], bool]
    out_bias: Callable[[dict], bool]
    mlp_bias: Callable[[dict], bool]
    lm_head_bias: bool
    default_tied: bool
    layer_windows: Callable[[dict, int], tuple[int | None, ...]]


def _flag(name: str, default: bool = False) -> Callable[[dict], bool]:
    return lambda cfg: bool(cfg.get(name, default))


def _always(value: bool) -> Callable[[dict], bool]:
    return lambda cfg: value


def _windows_from_layer_types(cfg: dict, num_layers: int) -> tuple[int | None, ...] | None:
    layer_types = cfg.get("layer_types")
    window = cfg.get("sliding_window")
    if isinstance(layer_types, list) and len(layer_types) == num_layers and window:
        return tuple(int(window) if kind == "sliding_attention" else None for kind in layer_types)
    return None


def _full_attention(cfg: dict, num_layers: int) -> tuple[int | None, ...]:
    return _windows_from_layer_types(cfg, num_layers) or (None,) * num_layers


def _uniform_window(cfg: dict, num_layers: int) -> tuple[int | None, ...]:
    # Mistral (and Phi-3 mini) apply one sliding window to every layer when it is set.
    found = _windows_from_layer_types(cfg, num_layers)
    if found:
        return found
    window = cfg.get("sliding_window")
    return (int(window) if window else None,) * num_layers


def _qwen2_windows(cfg: dict, num_layers: int) -> tuple[int | None, ...]:
    found = _windows_from_layer_types(cfg, num_layers)
    if found:
        return found
    if cfg.get("use_sliding_window") and cfg.get("sliding_window"):
        first_windowed = int(cfg.get("max_window_layers", num_layers))
        return tuple(int(cfg["sliding_window"]) if i >= first_windowed else None for i in range(num_layers))
    return (None,) * num_layers


def _gemma2_windows(cfg: dict, num_layers: int) -> tuple[int | None, ...]:
    found = _windows_from_layer_types(cfg, num_layers)
    if found:
        return found
    window = cfg.get("sliding_window")
    # Gemma 2 alternates: even layers slide, odd layers see everything.
    return tuple(int(window) if (window and i % 2 == 0) else None for i in range(num_layers))


def _gemma3_windows(cfg: dict, num_layers: int) -> tuple[int | None, ...]:
    found = _windows_from_layer_types(cfg, num_layers)
    if found:
        return found
    window = cfg.get("sliding_window")
    pattern = int(cfg.get("sliding_window_pattern", 6))
    # Every pattern-th layer is global; the rest slide.
    return tuple(int(window) if (window and (i + 1) % pattern != 0) else None for i in range(num_layers))


FAMILIES: tuple[Family, ...] = (
    Family(
        key="phi",
        display_name="Phi (phi-1/1.5/2)",
        model_types=("phi",),
        architectures=("PhiForCausalLM",),
        gated_mlp=False,
        norms_per_block=1,
        norm_has_bias=True,
        qk_norm=False,
        qkv_bias=_always(True),
        out_bias=_always(True),
        mlp_bias=_always(True),
        lm_head_bias=True,
        default_tied=False,
        layer_windows=_full_attention,
    ),
    Family(
        key="phi3",
        display_name="Phi-3 / Phi-3.5 / Phi-4-mini",
        model_types=("phi3",),
        architectures=("Phi3ForCausalLM",),
        gated_mlp=True,
        norms_per_block=2,
        norm_has_bias=False,
        qk_norm=False,
        qkv_bias=_always(False),
        out_bias=_always(False),
        mlp_bias=_always(False),
        lm_head_bias=False,
        default_tied=False,
        layer_windows=_uniform_window,
    ),
    Family(
        key="llama",
        display_name="Llama (Llama 2/3, TinyLlama, SmolLM)",
        model_types=("llama",),
        architectures=("LlamaForCausalLM",),
        gated_mlp=True,
        norms_per_block=2,
        norm_has_bias=False,
        qk_norm=False,
        qkv_bias=_flag("attention_bias"),
        out_bias=_flag("attention_bias"),
        mlp_bias=_flag("mlp_bias"),
        lm_head_bias=False,
        default_tied=False,
        layer_windows=_full_attention,
    ),
    Family(
        key="mistral",
        display_name="Mistral",
        model_types=("mistral",),
        architectures=("MistralForCausalLM",),
        gated_mlp=True,
        norms_per_block=2,
        norm_has_bias=False,
        qk_norm=False,
        qkv_bias=_always(False),
        out_bias=_always(False),
        mlp_bias=_always(False),
        lm_head_bias=False,
        default_tied=False,
        layer_windows=_uniform_window,
    ),
    Family(
        key="qwen2",
        display_name="Qwen2 / Qwen2.5",
        model_types=("qwen2",),
        architectures=("Qwen2ForCausalLM",),
        gated_mlp=True,
        norms_per_block=2,
        norm_has_bias=False,
        qk_norm=False,
        qkv_bias=_always(True),
        out_bias=_always(False),
        mlp_bias=_always(False),
        lm_head_bias=False,
        default_tied=False,
        layer_windows=_qwen2_windows,
    ),
    Family(
        key="qwen3",
        display_name="Qwen3",
        model_types=("qwen3",),
        architectures=("Qwen3ForCausalLM",),
        gated_mlp=True,
        norms_per_block=2,
        norm_has_bias=False,
        qk_norm=True,
        qkv_bias=_flag("attention_bias"),
        out_bias=_flag("attention_bias"),
        mlp_bias=_always(False),
        lm_head_bias=False,
        default_tied=False,
        layer_windows=_qwen2_windows,
    ),
    Family(
        key="gemma",
        display_name="Gemma",
        model_types=("gemma",),
        architectures=("GemmaForCausalLM",),
        gated_mlp=True,
        norms_per_block=2,
        norm_has_bias=False,
        qk_norm=False,
        qkv_bias=_flag("attention_bias"),
        out_bias=_flag("attention_bias"),
        mlp_bias=_always(False),
        lm_head_bias=False,
        default_tied=True,
        layer_windows=_full_attention,
    ),
    Family(
        key="gemma2",
        display_name="Gemma 2",
        model_types=("gemma2",),
        architectures=("Gemma2ForCausalLM",),
        gated_mlp=True,
        norms_per_block=4,
        norm_has_bias=False,
        qk_norm=False,
        qkv_bias=_flag("attention_bias"),
        out_bias=_flag("attention_bias"),
        mlp_bias=_always(False),
        lm_head_bias=False,
        default_tied=True,
        layer_windows=_gemma2_windows,
    ),
    Family(
        key="gemma3",
        display_name="Gemma 3 (text)",
        model_types=("gemma3_text",),
        architectures=("Gemma3ForCausalLM",),
        gated_mlp=True,
        norms_per_block=4,
        norm_has_bias=False,
        qk_norm=True,
        qkv_bias=_flag("attention_bias"),
        out_bias=_flag("attention_bias"),
        mlp_bias=_always(False),
        lm_head_bias=False,
        default_tied=True,
        layer_windows=_gemma3_windows,
    ),
)

# The family keys, in FAMILIES' order: what a runtime that converts every family declares.
FAMILY_KEYS: tuple[str, ...] = tuple(family.key for family in FAMILIES)


def supported_names() -> str:
    """The supported families, as one line for error messages."""
    return ", ".join(f"{f.display_name} [{'/'.join(f.architectures)}]" for f in FAMILIES)


def find_family(config: dict[str, Any]) -> Family | None:
    model_type = config.get("model_type")
    architectures = config.get("architectures") or []
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    for family in FAMILIES:
        if any(arch in family.architectures for arch in architectures):
            return family
    return None


@dataclass(frozen=True)
class Shape:
    """The dimensions that matter, normalised across config spellings."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    max_context: int
    tied: bool


def read_shape(config: dict[str, Any], family: Family) -> Shape:
    """Pull the dimensions out of a config, raising KeyError/ValueError/TypeError on bad ones."""
    hidden = _positive_int(config, "hidden_size")
    layers = _positive_int(config, "num_hidden_layers")
    heads = _positive_int(config, "num_attention_heads")
    kv_heads = config.get("num_key_value_heads") or heads
    kv_heads = _as_positive_int("num_key_value_heads", kv_heads)
    head_dim = config.get("head_dim") or hidden // heads
    head_dim = _as_positive_int("head_dim", head_dim)
    intermediate = _positive_int(config, "intermediate_size")
    vocab = _positive_int(config, "vocab_size")
    max_context = _positive_int(config, "max_position_embeddings")
    tied = config.get("tie_word_embeddings")
    tied = family.default_tied if tied is None else bool(tied)
    if heads % kv_heads:
        raise ValueError(f"num_attention_heads ({heads}) is not a multiple of num_key_value_heads ({kv_heads})")
    return Shape(hidden, layers, heads, kv_heads, head_dim, intermediate, vocab, max_context, tied)


def _positive_int(config: dict, key: str) -> int:
    if key not in config or config[key] is None:
        raise KeyError(key)
    return _as_positive_int(key, config[key])


def _as_positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{key} must be a positive integer, got {value!r}")
    return value


def breakdown_from_config(config: dict[str, Any], family: Family, shape: Shape) -> ParamBreakdown:
    """Parameters per role, computed from the config as transformers would build the model."""
    h, hd = shape.hidden, shape.head_dim
    q_out = shape.heads * hd
    kv_out = shape.kv_heads * hd
    layers = shape.layers
    qkv_bias = family.qkv_bias(config)
    out_bias = family.out_bias(config)
    mlp_bias = family.mlp_bias(config)

    per_block_bias = 0
    if qkv_bias:
        per_block_bias += q_out + 2 * kv_out
    if out_bias:
        per_block_bias += h
    up_rows = 2 * shape.intermediate if family.gated_mlp else shape.intermediate
    if mlp_bias:
        per_block_bias += up_rows + h
    norm_params = h * (2 if family.norm_has_bias else 1)
    per_block_norms = family.norms_per_block * norm_params
    if family.qk_norm:
        per_block_norms += 2 * hd
    if family.key == "phi" and config.get("qk_layernorm"):
        per_block_norms += 2 * 2 * hd  # LayerNorm weight+bias on q and k

    embedding = shape.vocab * h
    lm_head = 0 if shape.tied else shape.vocab * h
    other = layers * (per_block_bias + per_block_norms) + norm_params
    if family.lm_head_bias and not shape.tied:
        other += shape.vocab
    return ParamBreakdown(
        embedding=embedding,
        lm_head=lm_head,
        attn_q=layers * h * q_out,
        attn_k=layers * h * kv_out,
        attn_v=layers * h * kv_out,
        attn_out=layers * q_out * h,
        ffn_up=layers * h * up_rows,
        ffn_down=layers * shape.intermediate * h,
        other=other,
    )
