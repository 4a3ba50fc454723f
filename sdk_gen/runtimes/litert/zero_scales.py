"""Give all-zero int4 blocks a scale LiteRT accepts, in place in a `.litertlm`.

ai-edge-quantizer's blockwise int4 recipe (``dynamic_wi4b32_afp32``, see dequantize.py) stores
``scale = max|block| / 7``, so a block of 32 weights that are all exactly zero gets scale 0 (a tied
embedding's zero padding row; the untrained token rows of Llama 3 base checkpoints). LiteRT's XNNPACK
delegate refuses any blockwise tensor holding a scale that is not a normal, positive float32
(``CheckFp16Scale``: "unsupported scale value (0.000000) in channel 0 for INT4 tensor"), and the
whole model then cannot run, in litert_lm's Engine or the interpreter. (Measured: a tied
embedding's zero row fails, through its lm_head matmul; an untied embedding's, as in sdkgen's demo
model, ran, its lookup not being an XNNPACK matmul. Every zero block scale is patched all the same:
the weights do not change, and no reader of the file then meets a zero scale.)

A zero scale only ever multiplies that block's integers, which are all 0 (checked here, else the
file is left alone and the export fails), so any other scale dequantizes the block to the same
zeros. ``SAFE_SCALE`` is 2^-14, the smallest *normal* float16 (0x0400): exact in float16, in
float32 (normal, so XNNPACK's check passes) and in bfloat16 (XNNPACK's packed block-scale format),
and no reader that flushes float16 subnormals to zero can turn it back into 0 (2^-24, the smallest
subnormal, would also pass XNNPACK's float32 check; measured both load and run). Only those 2-byte
scales change: the file keeps its size, layout and every other byte.

int8 is not affected: ``dynamic_wi8_afp32`` gives an all-zero row a tiny but normal float32 scale
(7.9e-12, measured), which XNNPACK accepts.

Where the `.tflite` lives: a `.litertlm` is the magic ``LITERTLM``, a version, then a flatbuffer
header (litert_lm_builder's ``LiteRTLMMetaData``) listing sections by ``BeginOffset``/``EndOffset``;
litert-torch's prefill/decode model is a ``TFLiteModel`` section holding the whole `.tflite`
(its buffers' ``offset`` fields count from that section's first byte). The `.task` bundle takes
its `.tflite` out of this `.litertlm` (task.py), so it inherits the patch when it runs after it.
"""

from __future__ import annotations

import io
import mmap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# 2^-14, the smallest normal float16, as its bits.
SAFE_SCALE = np.float16(2.0**-14)
SAFE_SCALE_BITS = int(SAFE_SCALE.view(np.uint16))
# Names the patch in sdkgen's conversion cache key (runtimes/litert/__init__.py): artifacts made
# before it held zero scales.
PATCH_ID = f"zero int4 block scales -> fp16 0x{SAFE_SCALE_BITS:04x}"


class NonZeroBlock(ValueError):
    """A zero scale over nonzero integers: replacing it would change the weights."""


@dataclass(frozen=True)
class ScaleSpan:
    """The zero scales of one blockwise tensor: where they lie in the `.litertlm` (absolute byte
    offsets of each 2-byte float16 scale)."""

    tensor: str
    shape: tuple[int, ...]
    positions: tuple[int, ...]


def _tflite_sections(raw) -> list[tuple[int, int]]:
    """(begin, end) of every TFLiteModel section of a `.litertlm` held in ``raw``."""
    from litert_lm_builder import litertlm_core
    from litert_lm_builder import litertlm_header_schema_py_generated as header_schema

    if raw[:8] != litertlm_core.HEADER_MAGIC_BYTES:
        raise ValueError("not a .litertlm file (no LITERTLM magic)")
    loc = litertlm_core.HEADER_END_LOCATION_BYTE_OFFSET
    header_end = int.from_bytes(raw[loc: loc + 8], "little")
    header = bytes(raw[litertlm_core.HEADER_BEGIN_BYTE_OFFSET: header_end])
    metadata = header_schema.LiteRTLMMetaData.GetRootAs(header, 0)
    sections = metadata.SectionMetadata()
    spans = []
    for i in range(sections.ObjectsLength() if sections else 0):
        section = sections.Objects(i)
        if section.DataType() == header_schema.AnySectionDataType.TFLiteModel:
            spans.append((int(section.BeginOffset()), int(section.EndOffset())))
    return spans


def _buffer_span(model, buffer_index: int, base: int) -> tuple[int, int]:
    """(absolute offset, size) of a buffer of the model that starts at ``base`` in the file."""
    buffer = model.Buffers(buffer_index)
    if buffer.Offset() > 1:
        return base + int(buffer.Offset()), int(buffer.Size())
    length = buffer.DataLength()
    if length == 0:
        return 0, 0
    import flatbuffers

    o = flatbuffers.number_types.UOffsetTFlags.py_type(buffer._tab.Offset(4))
    return buffer._tab.Vector(o), length  # already absolute: the tables were read from ``raw``


def _zero_scales_in(raw, begin: int, end: int) -> list[ScaleSpan]:
    from ai_edge_litert import schema_py_generated as schema

    if raw[begin + 4: begin + 8] != b"TFL3":
        raise ValueError(f"the TFLiteModel section at {begin} is not a .tflite flatbuffer")
    model = schema.Model.GetRootAs(raw, begin)
    found: list[ScaleSpan] = []
    seen: set[int] = set()  # scale buffers: prefill and decode share them
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for t in range(graph.TensorsLength()):
            tensor = graph.Tensors(t)
            q = tensor.Quantization()
            if q is None or q.DetailsType() != schema.QuantizationDetails.BlockwiseQuantization:
                continue
            details = schema.BlockwiseQuantization()
            table = q.Details()
            details.Init(table.Bytes, table.Pos)
            scales = graph.Tensors(details.Scales())
            if scales.Buffer() in seen:
                continue
            seen.add(scales.Buffer())
            name = tensor.Name().decode(errors="replace")
            if scales.Type() != schema.TensorType.FLOAT16:
                continue  # not a layout sdkgen's recipes make (dequantize.py): left as written
            s_offset, s_size = _buffer_span(model, scales.Buffer(), begin)
            bits = np.frombuffer(raw, dtype=np.uint16, count=s_size // 2, offset=s_offset)
            zero = np.flatnonzero((bits & 0x7FFF) == 0)  # +0.0 and -0.0
            if zero.size == 0:
                continue
            shape = tuple(int(d) for d in tensor.ShapeAsNumpy())
            block = int(details.BlockSize())
            if tensor.Type() != schema.TensorType.INT4 or len(shape) != 2 or shape[1] % block or block % 2:
                raise ValueError(f"blockwise tensor {name} {shape} (type {tensor.Type()}, block {block}): "
                                 "zero scales in a layout this patch does not know")
            rows, blocks = shape[0], shape[1] // block
            if bits.size != rows * blocks:
                raise ValueError(f"blockwise tensor {name} {shape}: {bits.size} scales for {rows}x{blocks} blocks")
            d_offset, d_size = _buffer_span(model, tensor.Buffer(), begin)
            if d_size != rows * shape[1] // 2:
                raise ValueError(f"blockwise tensor {name} {shape}: {d_size} payload bytes")
            for span in ((s_offset, s_size), (d_offset, d_size)):
                if not (begin <= span[0] and span[0] + span[1] <= end):
                    raise ValueError(f"blockwise tensor {name}: data outside its .tflite section")
            payload = np.frombuffer(raw, dtype=np.uint8, count=d_size, offset=d_offset).reshape(rows * blocks, block // 2)
            if payload[zero].any():  # two nibbles a byte: a block is zero when its bytes are
                raise NonZeroBlock(f"blockwise tensor {name}: a block with scale 0 holds nonzero integers")
            found.append(ScaleSpan(name, shape, tuple(int(s_offset + 2 * i) for i in zero)))
    return found


def find_zero_scales(litertlm: Path) -> list[ScaleSpan]:
    """Every zero int4 block scale in ``litertlm``'s `.tflite` sections."""
    with litertlm.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as raw:
        return [span for begin, end in _tflite_sections(raw) for span in _zero_scales_in(raw, begin, end)]


def patch_zero_scales(litertlm: Path) -> list[ScaleSpan]:
    """Replace every zero int4 block scale of ``litertlm`` by SAFE_SCALE, in place; return what
    changed (nothing, and the file untouched, when no block is all zero)."""
    found = find_zero_scales(litertlm)
    if not found:
        return found
    value = SAFE_SCALE_BITS.to_bytes(2, "little")
    with litertlm.open("r+b") as handle:
        for span in found:
            for position in span.positions:
                handle.seek(position)
                handle.write(value)
    return found


def describe(found: list[ScaleSpan]) -> str:
    out = io.StringIO()
    total = sum(len(s.positions) for s in found)
    out.write(f"sdkgen: {total} all-zero int4 block(s) had scale 0, which LiteRT's XNNPACK refuses; "
              f"set to {float(SAFE_SCALE):g} (their weights stay 0):")
    for span in found:
        out.write(f" {span.tensor} {span.shape}: {len(span.positions)};")
    return out.getvalue().rstrip(";")
