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

The weights replace the loaded model's in place, one tensor at a time: one float32 model is held,
plus one tensor being dequantized (the order a layer-by-layer runner would want as well).
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


@dataclass
class GgufWeights:
    """The artifact's weights as a PyTorch reference loads them (verify.ArtifactWeights)."""

    path: Path
    digest: str  # SHA-256 of the file: the reference cache keys its answers by it
    tensor_errors: list[TensorError] = field(default_factory=list)
    # ggml type of each parameter as the file stores it (filled by load_into; read by rounding).
    types_by_parameter: dict[str, str] = field(default_factory=dict)

    @property
    def identity(self) -> dict:
        from sdk_gen.runtimes.llamacpp.toolchain import VERSION

        return {"artifact": self.digest, "dequantizer": f"gguf-py from llama-cpp-python {VERSION}"}

    def load_into(self, model) -> None:
        """Replace ``model``'s parameters, in place, by the GGUF's dequantized tensors."""
        import torch

        gguf = import_gguf()
        reader = gguf.GGUFReader(self.path)
        arch_name = gguf_string(reader, "general.architecture")
        arch = {name: arch for arch, name in gguf.MODEL_ARCH_NAMES.items()}[arch_name]
        blocks = gguf_int(reader, f"{arch_name}.block_count")
        names = gguf.get_tensor_name_map(arch, blocks)
        tensors = {t.name: t for t in reader.tensors}
        heads = gguf_int(reader, f"{arch_name}.attention.head_count")
        kv_key = f"{arch_name}.attention.head_count_kv"
        kv_heads = gguf_int(reader, kv_key) if kv_key in reader.fields else heads

        missing = []
        self.tensor_errors = []
        self.types_by_parameter = {}
        with torch.no_grad():
            # named_parameters lists a tied lm_head once, as the embedding it is.
            for hf_name, param in model.named_parameters():
                gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
                tensor = tensors.get(gguf_name) if gguf_name else None
                if tensor is None:
                    missing.append(hf_name)
                    continue
                values = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
                values = values.reshape(-1, *param.shape[1:]) if param.dim() > 1 else values.reshape(-1)
                if arch_name in _PERMUTED_QK and hf_name.endswith(("q_proj.weight", "q_proj.bias")):
                    values = _unpermute(values, heads)
                elif arch_name in _PERMUTED_QK and hf_name.endswith(("k_proj.weight", "k_proj.bias")):
                    values = _unpermute(values, kv_heads)
                if arch_name in _NORM_PLUS_ONE and hf_name.endswith("norm.weight"):
                    values = values - 1.0
                rows = values.shape[0]
                if tuple(values.shape) != tuple(param.shape) and not (
                    hf_name.endswith(_VOCAB_ROWS_SUFFIXES) and rows < param.shape[0] and values.shape[1:] == param.shape[1:]
                ):
                    raise ValueError(f"{self.path.name}: {gguf_name} has shape {values.shape}, {hf_name} {tuple(param.shape)}")
                target = param[:rows]
                # A copy: float tensors are views of the read-only file mapping.
                artifact = torch.from_numpy(np.array(values, dtype=np.float32))
                self.types_by_parameter[hf_name] = tensor.tensor_type.name
                original_norm = float(target.norm())
                error = float((artifact - target).norm())
                self.tensor_errors.append(
                    TensorError(hf_name, tensor.tensor_type.name, error / original_norm if original_norm else error)
                )
                target.copy_(artifact)
        if missing:
            raise ValueError(f"{self.path.name} holds no tensor for {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")

    def rounding(self, model):
        """While entered, ``model`` rounds activations as llama.cpp's CPU kernels do for these types."""
        from sdk_gen.runtimes.llamacpp.activations import rounded_activations

        if not self.types_by_parameter:
            raise ValueError("load_into has not run: the weights' types are not known yet")
        return rounded_activations(model, self.types_by_parameter)
