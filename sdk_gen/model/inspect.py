"""``inspect_model``: read a model folder into a ModelSpec without loading any tensor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sdk_gen.errors import BadInput
from sdk_gen.model import families
from sdk_gen.model.resolve import resolve_model
from sdk_gen.model.safetensors_header import classify, read_header, weight_files
from sdk_gen.model.spec import ModelSpec

# The files of a Hugging Face folder that make up its tokenizer and chat template: what a
# fine-tune may ship beside its adapter to override the base's (new tokens, template).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "vocab.json",
    "merges.txt",
)


def inspect_model(model: str | Path) -> ModelSpec:
    """Read ``model`` (folder, known name or cached repo id) and describe it.

    Raises BadInput with one line naming the problem when the folder is not a usable model.
    """
    folder = resolve_model(str(model))
    config = load_config(folder)
    family = families.find_family(config)
    if family is None:
        if isinstance(config.get("text_config"), dict):
            raise BadInput(
                f"{folder} is a multimodal checkpoint ({_arch_name(config)}); sdkgen converts text-only causal LMs: "
                f"use the text-only variant. Supported: {families.supported_names()}"
            )
        raise BadInput(f"{folder}: architecture {_arch_name(config)} is not supported; supported: {families.supported_names()}")
    try:
        shape = families.read_shape(config, family)
        layer_windows = family.layer_windows(config, shape.layers)
    except KeyError as exc:
        raise BadInput(f"{folder / 'config.json'} lacks {exc.args[0]!r}, which {family.display_name} configs carry; re-save the config") from None
    except (ValueError, TypeError) as exc:
        raise BadInput(f"{folder / 'config.json'}: {exc}") from None

    files = weight_files(folder)
    if files:
        tensors = [t for f in files for t in read_header(f)]
        params = classify(tensors, shape.heads, shape.kv_heads)
        params_source = "safetensors"
        dtype = _dominant_dtype(tensors)
    else:
        params = families.breakdown_from_config(config, family, shape)
        params_source = "config"
        dtype = str(config.get("torch_dtype") or config.get("dtype") or "unknown")

    return ModelSpec(
        path=folder,
        architecture=_arch_name(config),
        model_type=str(config.get("model_type")),
        family=family.key,
        num_params=params.total,
        params=params,
        params_source=params_source,
        num_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_kv_heads=shape.kv_heads,
        head_dim=shape.head_dim,
        hidden_size=shape.hidden,
        intermediate_size=shape.intermediate,
        vocab_size=shape.vocab,
        max_context=shape.max_context,
        tied_embeddings=shape.tied,
        tokenizer_kind=tokenizer_kind(folder),
        has_chat_template=has_chat_template(folder),
        dtype=dtype,
        layer_windows=layer_windows,
        weight_files=tuple(f.name for f in files),
    )


def load_config(folder: Path) -> dict[str, Any]:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise BadInput(f"{folder} has no config.json; pass a Hugging Face model folder (one saved with save_pretrained)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"{config_path} is not valid JSON ({exc.__class__.__name__} at {_where(exc)}); fix or re-download it") from None
    except OSError as exc:
        raise BadInput(f"cannot read {config_path}: {exc.strerror}") from None
    if not isinstance(config, dict):
        raise BadInput(f"{config_path} must hold a JSON object; fix or re-download it")
    return config


def tokenizer_kind(folder: Path) -> str:
    """What kind of tokenizer ships with the model, as the converters care about it."""
    tokenizer_json = folder / "tokenizer.json"
    if tokenizer_json.is_file():
        try:
            data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "unreadable"
        model_type = str((data.get("model") or {}).get("type", "")).lower()
        if model_type == "bpe":
            return "byte-level-bpe" if _uses_byte_level(data) else "bpe"
        return model_type or "unknown"
    if (folder / "tokenizer.model").is_file():
        return "sentencepiece"
    return "none"


def _uses_byte_level(data: dict) -> bool:
    def walk(node: Any) -> bool:
        if isinstance(node, dict):
            if node.get("type") == "ByteLevel":
                return True
            return any(walk(v) for v in node.values())
        if isinstance(node, list):
            return any(walk(v) for v in node)
        return False

    return walk(data.get("pre_tokenizer")) or walk(data.get("decoder"))


def has_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    config = folder / "tokenizer_config.json"
    if config.is_file():
        try:
            return bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))
        except (OSError, ValueError):
            return False
    return False


def _arch_name(config: dict) -> str:
    architectures = config.get("architectures") or []
    if architectures:
        return str(architectures[0])
    return f"model_type={config.get('model_type')!r}"


def _dominant_dtype(tensors) -> str:
    by_bytes: dict[str, int] = {}
    for t in tensors:
        by_bytes[t.dtype] = by_bytes.get(t.dtype, 0) + t.numel
    names = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
    dominant = max(by_bytes, key=by_bytes.get) if by_bytes else "unknown"
    return names.get(dominant, dominant.lower())


def _where(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"line {exc.lineno} column {exc.colno}"
    return "decoding"
