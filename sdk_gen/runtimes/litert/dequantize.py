"""The weights a LiteRT `.tflite` holds, put back into the Hugging Face model they were exported from.

Host verification asks two questions of an int8/int4 LiteRT artifact (see sdk_gen/verify.py): does
LiteRT execute the file correctly (runtime fidelity), and what did quantization cost? The first needs
PyTorch running *the artifact's own weights*. How litert-torch 0.10 + ai-edge-quantizer 0.10 store
them (read here with ai_edge_litert's flatbuffer schema, ``schema_py_generated``):

- ``dynamic_wi8_afp32``: every 2-D weight (embedding, q/k/v/o, MLP, lm_head) is an INT8 tensor in
  Hugging Face's [out, in] layout, channelwise symmetric: one float32 scale per row
  (quantizedDimension 0), zero points all 0, values in [-127, 127] (ai-edge-quantizer:
  ``scale = max|row| / 127``, ``q = rint(w / scale)``).
- ``dynamic_wi4b32_afp32``: INT4 tensors, two values per byte (low nibble first, signed), with
  ``BlockwiseQuantization`` details: block size 32 along the input dimension, no zero points, and
  a FLOAT16 scales tensor of shape [out, in / 32] (``scale = max|block| / 7`` rounded to a bfloat16
  value, so XNNPACK's bf16 block scales read them exactly).
- Norms and biases stay float32 constants; they are not quantized, so PyTorch keeps the checkpoint's
  (the f32 export reproduces PyTorch to 1e-6 with every float constant as exported).
- Large exports keep tensor data outside the flatbuffer (``Buffer.offset``/``size`` into the file).

The ``decode`` signature (subgraph) uses every weight; its quantized constants are the set mapped.
Tensor names cannot be trusted to say which Hugging Face parameter a constant is: litert-torch names
a constant after every location that folded into it (``...k_proj;;...v_proj``), or ``arith.constantN``.
So each 2-D parameter of the checkpoint is matched to the stored tensor of its shape whose
dequantized values lie closest to it: the right one lies within the quantization's error (about 1%
of the tensor's norm for int8, 10% for int4), any other about 140% away (independent weights). The
mapping must be total and unambiguous (every quantized tensor the parameter of exactly one
parameter, every matrix parameter found, the best match far ahead of the next), else verification
refuses: a mismatch is never silently the original. A tied lm_head is the embedding (named once by
``named_parameters``): if the file stores it twice, both copies must dequantize to the same values.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# A stored tensor is a parameter's when its relative distance to it is under this (int4 blockwise
# measured ~0.10 on Gaussian weights, int8 ~0.006) and under this share of the next candidate's.
_MATCH_LIMIT = 0.35
_MATCH_MARGIN = 0.5
# Matching first compares cheap sketches (the matrix times a fixed random vector), then the whole tensor.
_SKETCH_SEED = 0


class UnmappedWeights(ValueError):
    """The file's quantized tensors are not, one for one, the checkpoint's matrices quantized."""


@dataclass(frozen=True)
class _Stored:
    """One quantized constant of the `.tflite`: where its payload and scales lie and how to read them."""

    index: int  # tensor index in the decode subgraph
    kind: str  # "int8-channelwise" or "int4-blockwise"
    shape: tuple[int, ...]
    data: tuple[int, int]  # (offset, size) of the payload in the file
    scales: np.ndarray  # float32: [rows] or [rows, cols / block]
    zero_points: np.ndarray | None
    block: int = 0


def _buffer_span(model, buffer_index: int) -> tuple[int, int]:
    """(file offset, size) of a buffer's bytes, inline in the flatbuffer or outside it."""
    buffer = model.Buffers(buffer_index)
    if buffer.Offset() > 1:
        return int(buffer.Offset()), int(buffer.Size())
    length = buffer.DataLength()
    if length == 0:
        return 0, 0
    # The vector's first byte, as an absolute position in the file.
    import flatbuffers

    o = flatbuffers.number_types.UOffsetTFlags.py_type(buffer._tab.Offset(4))
    start = buffer._tab.Vector(o)
    return start, length


def read_quantized_tensors(tflite: Path) -> list[_Stored]:
    """The decode subgraph's quantized weight constants (int8 channelwise, int4 blockwise)."""
    from ai_edge_litert import schema_py_generated as schema

    with tflite.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as raw:
        model = schema.Model.GetRootAs(raw, 0)
        graph = None
        for i in range(model.SubgraphsLength()):
            if model.Subgraphs(i).Name() == b"decode":
                graph = model.Subgraphs(i)
        if graph is None:
            raise ValueError(f"{tflite.name} has no decode signature")

        def float_tensor(index: int) -> np.ndarray:
            tensor = graph.Tensors(index)
            offset, size = _buffer_span(model, tensor.Buffer())
            dtype = {schema.TensorType.FLOAT16: np.float16, schema.TensorType.FLOAT32: np.float32}[tensor.Type()]
            return np.frombuffer(raw[offset: offset + size], dtype=dtype).astype(np.float32).reshape(tuple(tensor.ShapeAsNumpy()))

        stored: list[_Stored] = []
        seen_buffers: set[int] = set()
        for i in range(graph.TensorsLength()):
            tensor = graph.Tensors(i)
            kind = {schema.TensorType.INT8: "int8", schema.TensorType.INT4: "int4"}.get(tensor.Type())
            if kind is None or tensor.Buffer() in seen_buffers:
                continue
            offset, size = _buffer_span(model, tensor.Buffer())
            if size == 0:
                continue  # an int8 activation, not a constant
            seen_buffers.add(tensor.Buffer())
            shape = tuple(int(d) for d in tensor.ShapeAsNumpy())
            q = tensor.Quantization()
            if q is None:
                raise ValueError(f"{tflite.name}: int tensor {i} {shape} has no quantization parameters")
            if q.DetailsType() == schema.QuantizationDetails.BlockwiseQuantization:
                details = schema.BlockwiseQuantization()
                table = q.Details()
                details.Init(table.Bytes, table.Pos)
                if details.ZeroPoints() >= 0:
                    raise ValueError(f"{tflite.name}: blockwise tensor {i} has zero points, which this reader does not undo")
                if len(shape) != 2:
                    raise ValueError(f"{tflite.name}: blockwise tensor {i} has shape {shape}")
                scales = float_tensor(details.Scales())
                stored.append(_Stored(i, f"{kind}-blockwise", shape, (offset, size), scales, None, int(details.BlockSize())))
            elif q.ScaleLength() > 0:
                if q.ScaleLength() not in (1, shape[q.QuantizedDimension()]) or q.QuantizedDimension() != 0:
                    raise ValueError(f"{tflite.name}: tensor {i} {shape} is quantized along dimension {q.QuantizedDimension()}")
                zero = np.array(q.ZeroPointAsNumpy()) if q.ZeroPointLength() else None
                stored.append(_Stored(i, f"{kind}-channelwise", shape, (offset, size), q.ScaleAsNumpy().astype(np.float32), zero))
            else:
                raise ValueError(f"{tflite.name}: int tensor {i} {shape} has no scales")
        return stored


def dequantize(tflite: Path, stored: _Stored) -> np.ndarray:
    """``stored``'s float32 values, as LiteRT's kernels see them."""
    offset, size = stored.data
    with tflite.open("rb") as handle:
        handle.seek(offset)
        payload = np.frombuffer(handle.read(size), dtype=np.int8)
    rows = stored.shape[0]
    if stored.kind.startswith("int4"):
        low = (payload.astype(np.int16) << 12 >> 12).astype(np.int8)  # sign-extend the low nibble
        high = payload >> 4  # arithmetic shift keeps the high nibble's sign
        values = np.empty(payload.size * 2, dtype=np.int8)
        values[0::2], values[1::2] = low, high
        values = values[: int(np.prod(stored.shape))]
    else:
        values = payload
    values = values.reshape(stored.shape).astype(np.float32)
    if stored.kind.endswith("blockwise"):
        block = stored.block
        cols = stored.shape[1]
        if cols % block or stored.scales.shape != (rows, cols // block):
            raise ValueError(f"tensor {stored.index}: scales {stored.scales.shape} do not fit {stored.shape} in blocks of {block}")
        return (values.reshape(rows, cols // block, block) * stored.scales[:, :, None]).reshape(stored.shape)
    zero = stored.zero_points
    if zero is not None and np.any(zero):
        values = values - zero.astype(np.float32).reshape(-1, *([1] * (len(stored.shape) - 1)))
    return values * stored.scales.reshape(-1, *([1] * (len(stored.shape) - 1)))


def _sketch(values: np.ndarray, probes: dict[int, np.ndarray]) -> np.ndarray:
    cols = values.shape[1]
    if cols not in probes:
        probes[cols] = np.random.default_rng(_SKETCH_SEED + cols).standard_normal(cols).astype(np.float32)
    return values.reshape(values.shape[0], -1) @ probes[cols]


@dataclass
class TensorError:
    """How far one dequantized tensor lies from the checkpoint's: the quantization of that tensor."""

    name: str
    kind: str
    relative_rms: float  # ||artifact - original|| / ||original||


@dataclass
class TfliteWeights:
    """The `.tflite`'s weights as a PyTorch reference loads them (verify.ArtifactWeights), whole
    (``load_into``) or one tensor at a time (``tensor``, a layerwise.WeightSource).

    ``corrupt``: for tests, a function applied to the mapping's dequantized tensor of a parameter
    (name, values) -> values, standing for a reader that misreads the file."""

    path: Path  # the .tflite
    digest: str  # SHA-256 of the artifact: the reference cache keys its answers by it
    tensor_errors: list[TensorError] = field(default_factory=list)
    kinds_by_parameter: dict[str, str] = field(default_factory=dict)
    fallback: object | None = None
    corrupt: object | None = None
    paired_by_elimination: list[str] = field(default_factory=list)
    _stored: list[_Stored] | None = field(default=None, repr=False)
    _mapping: dict[str, _Stored] | None = field(default=None, repr=False)

    @property
    def identity(self) -> dict:
        from importlib.metadata import version

        identity = {"artifact": self.digest, "dequantizer": f"sdkgen litert reader, ai-edge-litert {version('ai-edge-litert')}"}
        if self.corrupt is not None:
            identity["corrupted"] = repr(self.corrupt)
        return identity

    @property
    def stored(self) -> list[_Stored]:
        if self._stored is None:
            self._stored = read_quantized_tensors(self.path)
        return self._stored

    def map_parameters(self, parameters) -> dict[str, _Stored]:
        """Match each (name, float32 numpy array) of ``parameters`` (the checkpoint's matrices) to
        the stored tensor it was quantized into; refuse unless the match is total and unambiguous.

        A parameter whose nearest tensor is too far (a tensor damaged in the file) is paired by
        elimination when it is the only one of its shape left and so is one stored tensor, and
        when few are: LiteRT then runs the damaged weights as PyTorch does, and the damage shows as
        quantization cost, where it belongs (``paired_by_elimination``)."""
        probes: dict[int, np.ndarray] = {}
        candidates: dict[tuple[int, ...], list[tuple[_Stored, np.ndarray]]] = {}
        for stored in self.stored:
            candidates.setdefault(stored.shape, []).append((stored, _sketch(dequantize(self.path, stored), probes)))
        mapping: dict[str, _Stored] = {}
        far: dict[str, tuple[int, ...]] = {}  # parameter -> shape, no stored tensor near it
        problems: list[str] = []
        matrices = 0
        for name, values in parameters:
            if values.ndim != 2:
                continue
            matrices += 1
            options = candidates.get(tuple(values.shape), [])
            if not options:
                problems.append(f"{name} {tuple(values.shape)}: no quantized tensor of that shape")
                continue
            sketch = _sketch(values, probes)
            norm = float(np.linalg.norm(sketch)) or 1.0
            distances = sorted((float(np.linalg.norm(s - sketch)) / norm, k) for k, (_, s) in enumerate(options))
            best, k = distances[0]
            stored = options[k][0]
            whole = dequantize(self.path, stored)
            relative = float(np.linalg.norm(whole - values) / (np.linalg.norm(values) or 1.0))
            runner_up = distances[1][0] if len(distances) > 1 else float("inf")
            if relative > _MATCH_LIMIT:
                far[name] = tuple(values.shape)
            elif best > _MATCH_MARGIN * runner_up and not np.array_equal(whole, dequantize(self.path, options[distances[1][1]][0])):
                problems.append(f"{name}: stored tensors {stored.index} and {options[distances[1][1]][0].index} match it alike")
            else:
                mapping[name] = stored
        if len(set(s.index for s in mapping.values())) != len(mapping):
            problems.append("two parameters map to the same stored tensor")
        used = {s.index for s in mapping.values()}
        # A tensor stored twice (a tied matrix as embedding and as lm_head) is used when its twin is.
        twins = {s.index for s in self.stored if s.index not in used and any(
            s.shape == m.shape and np.array_equal(dequantize(self.path, s), dequantize(self.path, m)) for m in mapping.values()
        )}
        unused = [s for s in self.stored if s.index not in used | twins]
        self.paired_by_elimination = []
        if far and len(far) <= max(1, matrices // 10):
            for name, shape in far.items():
                left = [s for s in unused if s.shape == shape]
                if len(left) == 1 and list(far.values()).count(shape) == 1:
                    mapping[name] = left[0]
                    unused.remove(left[0])
                    self.paired_by_elimination.append(name)
        problems += [f"{name}: no stored tensor lies near it" for name in far if name not in mapping]
        if unused:
            problems.append(f"stored tensors {[s.index for s in unused][:5]} match no parameter")
        if problems:
            raise UnmappedWeights(f"{self.path.name}: cannot map its quantized tensors to the checkpoint: " + "; ".join(problems[:5]))
        return mapping

    def _values(self, name: str) -> np.ndarray:
        values = dequantize(self.path, self._mapping[name])
        return self.corrupt(name, values) if self.corrupt is not None else values

    def load_into(self, model) -> None:
        """Replace ``model``'s matrices, in place, by the file's dequantized tensors."""
        import torch

        params = dict(model.named_parameters())
        self._mapping = self.map_parameters((n, p.detach().numpy()) for n, p in params.items())
        self.tensor_errors = []
        self.kinds_by_parameter = {}
        with torch.no_grad():
            for name, stored in self._mapping.items():
                target = params[name]
                artifact = torch.from_numpy(np.array(self._values(name), dtype=np.float32))
                original_norm = float(target.norm())
                error = float((artifact - target).norm())
                self.kinds_by_parameter[name] = stored.kind
                self.tensor_errors.append(TensorError(name, stored.kind, error / original_norm if original_norm else error))
                target.copy_(artifact)

    def tensor(self, name: str, shape: tuple[int, ...]):
        """``name`` as a float32 torch tensor of ``shape`` (layerwise.WeightSource): dequantized
        when the file quantized it, else the checkpoint's (norms and biases, stored as float32)."""
        import torch

        if self._mapping is None:
            names = getattr(self.fallback, "_stored", None)
            if names is None:
                raise ValueError("the layer-by-layer reference needs the checkpoint's tensor index to map the file")
            self._mapping = self.map_parameters(
                (n, self.fallback.tensor(n, s.shape).numpy()) for n, s in names.items() if len(s.shape) == 2
            )
        if name in self._mapping:
            return torch.from_numpy(np.array(self._values(name), dtype=np.float32)).reshape(shape)
        return self.fallback.tensor(name, shape)

    def layer_source(self, original) -> "TfliteWeights":
        import dataclasses

        return dataclasses.replace(self, fallback=original, _mapping=None)

    def rounding(self, model):
        """While entered, ``model`` rounds activations as LiteRT's CPU kernels do for these weights."""
        from sdk_gen.runtimes.litert.activations import rounded_activations

        kinds = self.kinds_by_parameter
        if not kinds:
            # Not loaded through this object (the layer-by-layer reference maps the file in its own
            # copy): the mapping is total or refused, so every matrix is stored quantized.
            kind = self.stored[0].kind if self.stored else None
            kinds = {name: kind for name, p in model.named_parameters() if p.dim() == 2} if kind else {}
        return rounded_activations(model, kinds)
