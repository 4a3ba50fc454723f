"""Split a GGUF into llama.cpp's split-GGUF layout, so a runtime that cannot take one big file
(wllama in a browser) loads the model as several.

The layout is llama.cpp's own (tools/gguf-split, read by llama-model-loader.cpp): shards named
`<stem>-00001-of-0000N.gguf`; every shard is a whole GGUF with the keys `split.no` (u16, from 0),
`split.count` (u16) and `split.tensors.count` (i32, the tensors of all shards together); the first
shard also carries every metadata key of the source, in the source's order, and llama.cpp loads the
model from it, finding the others by name. Each tensor lives in exactly one shard, its bytes copied
unchanged (quantized blocks included), and a shard's data is aligned as its own keys say
(`general.alignment`, else 32 bytes).

gguf-py comes from the llama.cpp tree sdkgen already unpacks (toolchain.llama_cpp_dir()): the
reader and writer of the same llama.cpp that converted the model.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from sdk_gen.errors import BadInput, ToolMissing
from sdk_gen.units import GIB

# The largest file sdkgen hands wllama. wllama 3.13.0 says "Max file size is 2GB, due to size
# restriction of ArrayBuffer" (README, "Split model"), and its worker notes that ftell() returns a
# 32-bit long, so a file over 2^31 - 1 bytes cannot be read. (Its README also suggests 512 MB
# chunks for parallel downloads; the generated store downloads one file after another, and a
# single tensor can be larger than that: Gemma 2 2B's q8_0 embedding is ~0.6 GB.) So sdkgen splits
# only a GGUF the runtime could not load whole, and every smaller model keeps its one file.
WEB_SHARD_LIMIT_BYTES = 2 * GIB - 1

# llama.cpp's split keys and shard names (llama-arch.cpp LLM_KV_SPLIT_*, llama.cpp llama_split_path).
SPLIT_NO = "split.no"
SPLIT_COUNT = "split.count"
SPLIT_TENSORS_COUNT = "split.tensors.count"
# split.no and split.count are u16, and the name has five digits for each.
MAX_SHARDS = 65535

# The GGUF header before the metadata: magic, version, tensor count, key-value count.
_HEADER_BYTES = 4 + 4 + 8 + 8
_DEFAULT_ALIGNMENT = 32
# Bumped when the shards this module writes for the same input change (the cache keys on it).
_LAYOUT_VERSION = 1
_RECORD = "entry.json"  # the cache's name for an entry's record: place_artifact drops a damaged entry by it


def shard_name(stem: str, index: int, count: int) -> str:
    """llama.cpp's name for shard ``index`` (from 0) of ``count``: `<stem>-00001-of-00003.gguf`."""
    return f"{stem}-{index + 1:05d}-of-{count:05d}.gguf"


@dataclass(frozen=True)
class Shard:
    """One written shard: where it is, its exact size and SHA-256, and how many tensors it holds."""

    path: Path
    bytes: int
    sha256: str
    tensors: int


@dataclass(frozen=True)
class _TensorSlot:
    name: str
    info_bytes: int  # its entry in the shard's tensor-info table
    data_bytes: int  # its bytes in the source, unpadded


@contextlib.contextmanager
def gguf_py() -> Iterator[Any]:
    """The `gguf` package from sdkgen's llama.cpp tree. sys.path is restored afterwards; the
    package stays imported (its modules import each other as `gguf.*`)."""
    from sdk_gen.runtimes.llamacpp.toolchain import llama_cpp_dir

    root = (llama_cpp_dir() / "gguf-py").resolve()
    if "gguf" not in sys.modules:
        saved = list(sys.path)
        sys.path.insert(0, str(root))
        try:
            import gguf  # noqa: F401
        finally:
            sys.path[:] = saved
    module = sys.modules["gguf"]
    where = Path(getattr(module, "__file__", "") or "").resolve()
    if root not in where.parents:
        raise ToolMissing(
            f"another gguf package ({where}) is already imported; sdkgen splits GGUFs with the gguf-py of its own "
            f"llama.cpp tree ({root}): run it in a process that has not imported a different gguf"
        )
    yield module


def _aligned(count: int, alignment: int) -> int:
    return -(-count // alignment) * alignment


def _string_bytes(text: str) -> int:
    return 8 + len(text.encode("utf-8"))


def _split_keys_bytes() -> int:
    """The three split keys as they are written: key string, value type, value."""
    return sum(_string_bytes(key) + 4 + size for key, size in ((SPLIT_NO, 2), (SPLIT_COUNT, 2), (SPLIT_TENSORS_COUNT, 4)))


def _shard_bytes(kv_bytes: int, tensors: list[_TensorSlot], alignment: int) -> int:
    """A shard's exact size: header, metadata and tensor infos padded to the alignment, then each
    tensor's data padded to it (the GGUF layout gguf-py's writer produces)."""
    meta = _HEADER_BYTES + kv_bytes + sum(slot.info_bytes for slot in tensors)
    return _aligned(meta, alignment) + sum(_aligned(slot.data_bytes, alignment) for slot in tensors)


def plan_shards(source_kv_bytes: int, tensors: list[_TensorSlot], source_alignment: int, max_shard_bytes: int) -> list[list[_TensorSlot]]:
    """Tensors in source order, packed greedily into shards of at most ``max_shard_bytes``. The
    first shard carries the source's metadata and alignment; the others only the split keys."""
    split_kv = _split_keys_bytes()

    def fits(index: int, members: list[_TensorSlot]) -> bool:
        kv, alignment = (source_kv_bytes + split_kv, source_alignment) if index == 0 else (split_kv, _DEFAULT_ALIGNMENT)
        return _shard_bytes(kv, members, alignment) <= max_shard_bytes

    shards: list[list[_TensorSlot]] = [[]]
    for slot in tensors:
        last = len(shards) - 1
        if fits(last, [*shards[last], slot]):
            shards[last].append(slot)
        elif shards[last] and fits(last + 1, [slot]):
            shards.append([slot])
        else:
            alongside = " with the model's metadata" if not shards[last] else ""
            raise BadInput(
                f"tensor {slot.name} ({slot.data_bytes} bytes) does not fit{alongside} in a shard of at most "
                f"{max_shard_bytes} bytes, and a tensor is never split across shards; allow larger shards"
            )
    if len(shards) > MAX_SHARDS:
        raise BadInput(f"splitting into shards of at most {max_shard_bytes} bytes makes {len(shards)}, over llama.cpp's {MAX_SHARDS}")
    return shards


def _field_value(gguf, field) -> tuple[Any, Any, Any]:
    """A metadata field of the reader as (value, type, array item type) for the writer; strings
    stay bytes, so tokens that are not UTF-8 on their own copy exactly."""
    kinds = gguf.GGUFValueType
    main = field.types[0]
    if main == kinds.STRING:
        return bytes(field.parts[field.data[0]]), main, None
    if main != kinds.ARRAY:
        return field.parts[field.data[0]][0].item(), main, None
    if len(field.types) != 2 or not field.data:
        raise BadInput(f"the GGUF's metadata key {field.name} is an empty or nested array, which sdkgen's splitter does not copy")
    item = field.types[1]
    if item == kinds.STRING:
        return [bytes(field.parts[index]) for index in field.data], main, item
    return [field.parts[index][0].item() for index in field.data], main, item


def _write_shard(gguf, reader, path: Path, index: int, count: int, tensors: list[_TensorSlot], source_alignment: int) -> None:
    import numpy as np

    by_name = {tensor.name: tensor for tensor in reader.tensors}
    writer = gguf.GGUFWriter(path, arch="")
    # The writer starts every file with general.architecture; the first shard copies the source's
    # keys in the source's order instead, and the others carry only the split keys.
    writer.remove_key(gguf.Keys.General.ARCHITECTURE)
    if index == 0:
        writer.data_alignment = source_alignment  # general.alignment, when the source has it, is among its keys
        for field in reader.fields.values():
            if field.name.startswith("GGUF."):
                continue  # the reader's view of the header, not a key
            value, kind, item = _field_value(gguf, field)
            writer.add_key_value(field.name, value, kind, sub_type=item)
    writer.add_uint16(SPLIT_NO, index)
    writer.add_uint16(SPLIT_COUNT, count)
    writer.add_int32(SPLIT_TENSORS_COUNT, len(reader.tensors))
    for slot in tensors:
        tensor = by_name[slot.name]
        # The reader's shape lists dimensions innermost first; the writer takes them outermost
        # first, as bytes for a raw type, and turns them back into the same elements.
        byte_shape = gguf.quant_shape_to_byte_shape(tuple(int(d) for d in reversed(tensor.shape)), tensor.tensor_type)
        writer.add_tensor_info(slot.name, byte_shape, np.dtype(np.uint8), slot.data_bytes, raw_dtype=tensor.tensor_type)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for slot in tensors:
            tensor = by_name[slot.name]
            writer.write_tensor_data(reader.data[tensor.data_offset:tensor.data_offset + slot.data_bytes])
    finally:
        writer.close()


def _check_shard(gguf, reader, shard: Path, index: int, count: int, tensors: list[_TensorSlot], expected_bytes: int) -> None:
    """Read a written shard back: its size, split keys and tensors are what was planned, and the
    first shard's metadata bytes are the source's, byte for byte."""
    written = gguf.GGUFReader(shard)
    keys = {name: field for name, field in written.fields.items() if not name.startswith("GGUF.")}
    split = {key: keys[key].parts[keys[key].data[0]][0].item() for key in (SPLIT_NO, SPLIT_COUNT, SPLIT_TENSORS_COUNT) if key in keys}
    problems = []
    if shard.stat().st_size != expected_bytes:
        problems.append(f"{shard.stat().st_size} bytes, planned {expected_bytes}")
    if split != {SPLIT_NO: index, SPLIT_COUNT: count, SPLIT_TENSORS_COUNT: len(reader.tensors)}:
        problems.append(f"split keys {split}")
    if [(t.name, t.n_bytes) for t in written.tensors] != [(slot.name, slot.data_bytes) for slot in tensors]:
        problems.append("tensors differ from the plan")
    if index == 0:
        source_kv = _kv_span(reader)
        ours = written.data[_HEADER_BYTES:_HEADER_BYTES + len(source_kv)]
        if bytes(ours) != source_kv:
            problems.append("its metadata differs from the source's")
    if problems:
        raise RuntimeError(f"the GGUF splitter wrote {shard.name} wrongly: {'; '.join(problems)}")


def _kv_span(reader) -> bytes:
    """The source's metadata section as stored: from the header to the first tensor info."""
    end = reader.tensors[0].field.offset if reader.tensors else reader.data_offset
    return bytes(reader.data[_HEADER_BYTES:end])


def split_gguf(source: Path, dest: Path, max_shard_bytes: int) -> list[Shard]:
    """Write ``source`` as shards of at most ``max_shard_bytes`` into the new folder ``dest``, named
    after the source (`<stem>-00001-of-0000N.gguf`). All or nothing: the shards are written into a
    staging folder beside ``dest`` and renamed into place whole; on any failure nothing is left."""
    from sdk_gen.hashing import sha256_file

    if dest.exists() or dest.is_symlink():
        raise BadInput(f"{dest} already exists; the GGUF splitter writes a new folder")
    with gguf_py() as gguf:
        reader = gguf.GGUFReader(source)
        if SPLIT_COUNT in reader.fields:
            raise BadInput(f"{source.name} is already a shard of a split GGUF")
        if not reader.tensors:
            raise BadInput(f"{source.name} holds no tensors; there is nothing to split")
        if reader.byte_order != "I":
            raise BadInput(f"{source.name} is not in this machine's byte order; sdkgen splits little-endian GGUFs")
        slots = [
            _TensorSlot(t.name, _string_bytes(t.name) + 4 + 8 * len(t.shape) + 4 + 8, int(t.n_bytes)) for t in reader.tensors
        ]
        source_kv_bytes = len(_kv_span(reader))
        alignment = int(reader.alignment)
        plan = plan_shards(source_kv_bytes, slots, alignment, max_shard_bytes)
        count = len(plan)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            shards = []
            for index, tensors in enumerate(plan):
                path = staging / shard_name(source.stem, index, count)
                _write_shard(gguf, reader, path, index, count, tensors, alignment)
                kv = source_kv_bytes + _split_keys_bytes() if index == 0 else _split_keys_bytes()
                expected = _shard_bytes(kv, tensors, alignment if index == 0 else _DEFAULT_ALIGNMENT)
                _check_shard(gguf, reader, path, index, count, tensors, expected)
                shards.append((path.name, expected, len(tensors)))
            os.rename(staging, dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            del reader  # its memory map of the source
    return [Shard(dest / name, size, sha256_file(dest / name), tensors) for name, size, tensors in shards]


def cached_split(artifact, max_shard_bytes: int) -> list:
    """The shards of a cached artifact (sdk_gen.cache.CachedArtifact), as CachedArtifact records,
    written once into the artifact's cache entry and reused: the entry's key decides the
    artifact's bytes, and the folder's name the shard limit. A record that does not match the
    files is rewritten; place_artifact checks every shard's SHA-256 when it is placed."""
    from sdk_gen.cache import CachedArtifact

    folder = artifact.path.parent / f"{artifact.path.stem}.shards-{max_shard_bytes}"
    inputs = {"source_sha256": artifact.sha256, "max_shard_bytes": max_shard_bytes, "layout": _LAYOUT_VERSION}
    shards = _read_record(folder, inputs)
    if shards is None:
        shutil.rmtree(folder, ignore_errors=True)
        written = split_gguf(artifact.path, folder, max_shard_bytes)
        shards = [{"file": s.path.name, "bytes": s.bytes, "sha256": s.sha256} for s in written]
        record = folder / _RECORD
        record.write_text(json.dumps({"inputs": inputs, "shards": shards}, indent=2), encoding="utf-8")
    return [CachedArtifact(artifact.key, folder / s["file"], s["bytes"], s["sha256"], inputs) for s in shards]


def _read_record(folder: Path, inputs: dict) -> list[dict] | None:
    try:
        record = json.loads((folder / _RECORD).read_text(encoding="utf-8"))
        shards = record["shards"]
        if record["inputs"] != inputs or not shards:
            return None
        for shard in shards:
            path = folder / shard["file"]
            if Path(shard["file"]).name != shard["file"] or path.is_symlink() or path.stat().st_size != shard["bytes"]:
                return None
        return shards
    except (OSError, ValueError, KeyError, TypeError):
        return None
