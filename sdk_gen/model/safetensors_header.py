"""Read safetensors headers (never the tensors) to count a checkpoint's parameters exactly.

A safetensors file starts with an 8-byte little-endian header length, then that many bytes of
JSON mapping tensor names to dtype, shape and byte offsets. Reading only that is instant even
for a 15 GB checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from sdk_gen.errors import BadInput
from sdk_gen.model.spec import ParamBreakdown
from sdk_gen.units import MIB

# A header larger than this is not a real header: refuse before allocating it.
_MAX_HEADER_BYTES = 100 * MIB

_DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
    "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8,
}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape) if self.shape else 1


def read_header(path: Path) -> list[TensorInfo]:
    """Return the tensors a safetensors file declares, checking the header is whole and sane."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise BadInput(f"{path} is truncated: a safetensors file needs an 8-byte header length; re-download or re-save it")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > _MAX_HEADER_BYTES or 8 + header_len > size:
                raise BadInput(
                    f"{path} has a truncated or corrupt safetensors header (declares {header_len} header bytes, "
                    f"file has {size}); re-download or re-save the checkpoint"
                )
            raw = handle.read(header_len)
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from exc
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"{path} has a corrupt safetensors header ({exc.__class__.__name__}); re-download or re-save it") from exc
    if not isinstance(header, dict):
        raise BadInput(f"{path} has a corrupt safetensors header (not a JSON object); re-download or re-save it")

    tensors = []
    data_bytes = size - 8 - header_len
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = entry["dtype"]
            shape = tuple(int(d) for d in entry["shape"])
            start, end = (int(x) for x in entry["data_offsets"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BadInput(f"{path}: tensor {name!r} has a malformed header entry; re-download or re-save it") from exc
        if end > data_bytes:
            raise BadInput(
                f"{path} is truncated: tensor {name!r} ends at byte {end} of a {data_bytes}-byte data section; re-download it"
            )
        if dtype in _DTYPE_BYTES and (end - start) != math.prod(shape or (1,)) * _DTYPE_BYTES[dtype]:
            raise BadInput(f"{path}: tensor {name!r} size does not match its shape and dtype; the file is corrupt")
        tensors.append(TensorInfo(name=name, dtype=dtype, shape=shape))
    return tensors


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of a checkpoint: the index's shards, or every *.safetensors."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise BadInput(f"{index} is not a valid safetensors index (needs a 'weight_map'); re-download it") from exc
        if not isinstance(weight_map, dict) or not all(isinstance(s, str) and s for s in weight_map.values()):
            raise BadInput(
                f"{index} is not a valid safetensors index ('weight_map' must map tensor names to shard file names); "
                "re-download it"
            )
        shards = sorted(set(weight_map.values()))
        for shard in shards:
            relative = os.path.normpath(shard)
            if "\0" in shard or os.path.isabs(relative) or relative == ".." or relative.startswith(".." + os.sep):
                raise BadInput(f"{index} names shard {shard!r} outside the model folder; re-download the checkpoint")
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise BadInput(f"{folder} is missing shard {missing[0]} listed in model.safetensors.index.json; finish the download")
        return [folder / s for s in shards]
    return sorted(p for p in folder.glob("*.safetensors") if p.is_file())


# Name patterns, checked in order, that map a checkpoint's tensor to its role.
_ROLE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (role, re.compile(pattern))
    for role, pattern in (
        ("embedding", r"(embed_tokens|wte|word_embeddings|embed_in)\.weight$"),
        ("lm_head", r"(^|\.)(lm_head|embed_out)\.weight$"),
        ("attn_qkv_fused", r"(qkv_proj|query_key_value|Wqkv)\.weight$"),
        ("attn_q", r"q_proj\.weight$"),
        ("attn_k", r"k_proj\.weight$"),
        ("attn_v", r"v_proj\.weight$"),
        ("attn_out", r"(o_proj|self_attn\.dense|out_proj|attention\.dense)\.weight$"),
        ("ffn_up", r"(gate_up_proj|gate_proj|up_proj|fc1|dense_h_to_4h)\.weight$"),
        ("ffn_down", r"(down_proj|fc2|dense_4h_to_h)\.weight$"),
    )
)


def classify(tensors: list[TensorInfo], num_heads: int, num_kv_heads: int) -> ParamBreakdown:
    """Sum parameters per role. Fused q/k/v matrices are split by the heads they hold."""
    counts = dict.fromkeys(ParamBreakdown().as_dict(), 0)
    for tensor in tensors:
        role = "other" if len(tensor.shape) < 2 else _role_of(tensor.name)
        if role == "attn_qkv_fused":
            total_heads = num_heads + 2 * num_kv_heads
            q = tensor.numel * num_heads // total_heads
            kv = (tensor.numel - q) // 2
            counts["attn_q"] += q
            counts["attn_k"] += kv
            counts["attn_v"] += tensor.numel - q - kv
        else:
            counts[role] += tensor.numel
    return ParamBreakdown(**counts)


def _role_of(name: str) -> str:
    for role, pattern in _ROLE_PATTERNS:
        if pattern.search(name):
            return role
    return "other_linear"
