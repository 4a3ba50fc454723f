"""The weights a GGUF holds, put back into the Hugging Face model they were converted from.

Host verification asks two questions of a quantized GGUF (see sdk_gen/verify.py): does llama.cpp
execute the file correctly (runtime fidelity), and what did quantization cost? The first needs a
PyTorch reference running *the artifact's own weights*: every tensor of the file dequantized with
gguf-py (from the same llama.cpp tree that wrote it), mapped back to the Hugging Face parameter it
came from, with the converter's per-architecture changes undone:

- Llama and Mistral (llama.cpp's LlamaModel, ``undo_permute``): q_proj/k_proj rows are permuted
  from Hugging Face's half-split rotary layout to llama.cpp's interleaved one
  (``w.reshape(heads, 2, rows/heads/2, ...).swapaxes(1, 2)``, k with the KV head count).
- Gemma, Gemma 2 and Gemma 3: every ``*norm.weight`` is stored plus 1 (their RMSNorm multiplies
  by ``1 + weight``; llama.cpp's by ``weight``).
- Gemma 3: token_embd may be cut to the tokenizer's vocabulary (rows past it are never looked up
  and never computed by llama.cpp; they keep the checkpoint's values here).
- Phi-2, Phi-3, Qwen2 and Qwen3 tensors are stored as Hugging Face lays them out (Phi-3's fused
  qkv_proj and gate_up_proj stay fused as attn_qkv and ffn_up).

A tied lm_head is the embedding (the GGUF stores no output matrix then), so it follows the
embedding. A parameter the file has no tensor for is an error, never silently the original.

The weights replace the loaded model's in place, one tensor at a time (one float32 model is held,
plus one tensor being dequantized), or are handed out one tensor at a time to the layer-by-layer
reference (sdk_gen/layerwise.py), which never holds more than one decoder layer.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# llama.cpp architectures (GGUF general.architecture) whose converter permutes q/k rows for RoPE.
_PERMUTED_QK = frozenset({"llama"})
# ...and those whose converter stores RMSNorm weights plus one.
_NORM_PLUS_ONE = frozenset({"gemma", "gemma2", "gemma3"})
# Parameters whose rows are the vocabulary (the converter may drop rows past the tokenizer's).
_VOCAB_ROWS_SUFFIXES = ("embed_tokens.weight", "lm_head.weight")


def import_gguf():
    """gguf-py from the llama.cpp tree that converted the file (the llama-cpp-python sdist)."""
    from sdk_gen.runtimes.llamacpp.toolchain import llama_cpp_dir

    gguf_py = str(llama_cpp_dir() / "gguf-py")
    if gguf_py not in sys.path:
        sys.path.insert(0, gguf_py)
    import gguf

    return gguf


def gguf_string(reader, key: str) -> str:
    value = reader.fields[key]
    return bytes(value.parts[value.data[0]]).decode("utf-8")


def gguf_int(reader, key: str) -> int:
    value = reader.fields[key]
    return int(value.parts[value.data[0]][0])


def _unpermute(rows: np.ndarray, heads: int) -> np.ndarray:
    """Undo llama.cpp's LlamaModel.permute (q with the attention heads, k with the KV heads)."""
    return rows.reshape(heads, rows.shape[0] // heads // 2, 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


@dataclass
class TensorError:
    """How far one dequantized tensor lies from the checkpoint's: the quantization of that tensor."""

    name: str
    ggml_type: str
    relative_rms: float  # ||artifact - original|| / ||original||


@dataclass(frozen=True)
class _GgufTensor:
    """Where one tensor's bytes lie in the file and how gguf-py reads them."""

    ggml_type: object  # gguf.GGMLQuantizationType
    offset: int
    dtype: str  # numpy dtype of the stored items (uint8 bytes for block formats)
    shape: tuple[int, ...]  # the stored items' shape (bytes per row for block formats)


@dataclass
class _GgufIndex:
    """What a GGUF says about its tensors, read once from its header."""

    arch_name: str
    names: object  # gguf.TensorNameMap: Hugging Face name -> GGUF name
    heads: int
    kv_heads: int
    tensors: dict[str, _GgufTensor]


@dataclass
class GgufWeights:
    """The artifact's weights as a PyTorch reference loads them (verify.ArtifactWeights), whole
    (load_into) or one tensor at a time (``tensor``, a layerwise.WeightSource).

    Tensors are read with plain reads, not through the reader's memory map: a pass over an 8 GB
    file would otherwise leave every page of it counted in the verification's resident memory.
    ``fallback``: where rows the file cut from a vocabulary-sized matrix come from (the original
    checkpoint) when no loaded model holds them."""

    path: Path
    digest: str  # SHA-256 of the file: the reference cache keys its answers by it
    tensor_errors: list[TensorError] = field(default_factory=list)
    # ggml type of each parameter as the file stores it (filled by load_into, or types_for).
    types_by_parameter: dict[str, str] = field(default_factory=dict)
    fallback: object | None = None  # a layerwise.WeightSource
    _index: _GgufIndex | None = field(default=None, repr=False)

    @property
    def identity(self) -> dict:
        from sdk_gen.runtimes.llamacpp.toolchain import VERSION

        return {"artifact": self.digest, "dequantizer": f"gguf-py from llama-cpp-python {VERSION}"}

    @property
    def index(self) -> _GgufIndex:
        if self._index is None:
            gguf = import_gguf()
            reader = gguf.GGUFReader(self.path)
            arch_name = gguf_string(reader, "general.architecture")
            arch = {name: arch for arch, name in gguf.MODEL_ARCH_NAMES.items()}[arch_name]
            heads = gguf_int(reader, f"{arch_name}.attention.head_count")
            kv_key = f"{arch_name}.attention.head_count_kv"
            self._index = _GgufIndex(
                arch_name=arch_name,
                names=gguf.get_tensor_name_map(arch, gguf_int(reader, f"{arch_name}.block_count")),
                heads=heads,
                kv_heads=gguf_int(reader, kv_key) if kv_key in reader.fields else heads,
                tensors={
                    t.name: _GgufTensor(t.tensor_type, int(t.data_offset), t.data.dtype.str, tuple(t.data.shape))
                    for t in reader.tensors
                },
            )
            del reader  # closes its memory map
        return self._index

    def _stored(self, hf_name: str) -> tuple[str, _GgufTensor] | None:
        gguf_name = self.index.names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        stored = self.index.tensors.get(gguf_name) if gguf_name else None
        return (gguf_name, stored) if stored is not None else None

    def dequantized(self, hf_name: str, shape: tuple[int, ...]) -> np.ndarray | None:
        """The file's tensor for ``hf_name`` in Hugging Face's layout (float32, possibly fewer
        vocabulary rows than ``shape``), or None when the file has none."""
        found = self._stored(hf_name)
        if found is None:
            return None
        gguf_name, stored = found
        index = self.index
        with self.path.open("rb") as handle:
            handle.seek(stored.offset)
            raw = np.fromfile(handle, dtype=np.dtype(stored.dtype), count=int(np.prod(stored.shape))).reshape(stored.shape)
        values = import_gguf().quants.dequantize(raw, stored.ggml_type)
        values = values.reshape(-1, *shape[1:]) if len(shape) > 1 else values.reshape(-1)
        if index.arch_name in _PERMUTED_QK and hf_name.endswith(("q_proj.weight", "q_proj.bias")):
            values = _unpermute(values, index.heads)
        elif index.arch_name in _PERMUTED_QK and hf_name.endswith(("k_proj.weight", "k_proj.bias")):
            values = _unpermute(values, index.kv_heads)
        if index.arch_name in _NORM_PLUS_ONE and hf_name.endswith("norm.weight"):
            values = values - 1.0
        rows = values.shape[0]
        if tuple(values.shape) != tuple(shape) and not (
            hf_name.endswith(_VOCAB_ROWS_SUFFIXES) and rows < shape[0] and values.shape[1:] == tuple(shape[1:])
        ):
            raise ValueError(f"{self.path.name}: {gguf_name} has shape {values.shape}, {hf_name} {tuple(shape)}")
        return np.asarray(values, dtype=np.float32)

    def tensor(self, name: str, shape: tuple[int, ...]):
        """``name`` as a float32 torch tensor of ``shape`` (layerwise.WeightSource)."""
        import torch

        values = self.dequantized(name, shape)
        if values is None:
            raise ValueError(f"{self.path.name} holds no tensor for {name}")
        if values.shape[0] < shape[0]:
            if self.fallback is None:
                raise ValueError(f"{self.path.name} cuts {name} to {values.shape[0]} rows and no checkpoint fills the rest")
            whole = self.fallback.tensor(name, shape)
            whole[: values.shape[0]] = torch.from_numpy(values)
            return whole
        # A copy: float tensors may be views of the read buffer, which numpy marks read-only.
        return torch.from_numpy(np.array(values, dtype=np.float32))

    def layer_source(self, original) -> "GgufWeights":
        """These weights for the layer-by-layer reference, rows the file cut coming from ``original``."""
        import dataclasses

        return dataclasses.replace(self, fallback=original)

    def types_for(self, names) -> dict[str, str]:
        """ggml type name of each of ``names`` (Hugging Face parameter names) the file stores."""
        types = {}
        for name in names:
            found = self._stored(name)
            if found is not None:
                types[name] = found[1].ggml_type.name
        return types

    def load_into(self, model) -> None:
        """Replace ``model``'s parameters, in place, by the GGUF's dequantized tensors."""
        import torch

        missing = []
        self.tensor_errors = []
        self.types_by_parameter = {}
        with torch.no_grad():
            # named_parameters lists a tied lm_head once, as the embedding it is.
            for hf_name, param in model.named_parameters():
                values = self.dequantized(hf_name, tuple(param.shape))
                if values is None:
                    missing.append(hf_name)
                    continue
                target = param[: values.shape[0]]
                artifact = torch.from_numpy(np.array(values, dtype=np.float32))
                self.types_by_parameter[hf_name] = self._stored(hf_name)[1].ggml_type.name
                original_norm = float(target.norm())
                error = float((artifact - target).norm())
                self.tensor_errors.append(
                    TensorError(hf_name, self.types_by_parameter[hf_name], error / original_norm if original_norm else error)
                )
                target.copy_(artifact)
        if missing:
            raise ValueError(f"{self.path.name} holds no tensor for {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")

    def rounding(self, model):
        """While entered, ``model`` rounds activations as llama.cpp's CPU kernels do for these types."""
        from sdk_gen.runtimes.llamacpp.activations import rounded_activations

        types = self.types_by_parameter or self.types_for(name for name, _ in model.named_parameters())
        return rounded_activations(model, types)
