"""llama.cpp: GGUF conversion with the converter that ships in llama-cpp-python's sdist."""

from __future__ import annotations

import difflib
import importlib.util
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sdk_gen.errors import BadInput
from sdk_gen.model.families import FAMILY_KEYS
from sdk_gen.model.spec import ModelSpec
from sdk_gen.runtimes.base import MemoryTraits, QuantFormat, Runtime
from sdk_gen.runtimes.llamacpp.phone import LLAMACPP, WLLAMA, web_memory
from sdk_gen.units import MIB
from sdk_gen.verify import WHOLE_MODEL, Thresholds

if TYPE_CHECKING:
    from sdk_gen.runtimes.base import ConversionJob
    from sdk_gen.verify import VerificationResult

# ggml block formats, bits per weight including their scales.
Q8_0_BITS = 8.5  # 32 int8 + one fp16 scale per block of 32
Q4_0_BITS = 4.5  # 32 int4 + one fp16 scale
Q4_K_BITS = 4.5  # 256-weight super-block: 4-bit quants, 6-bit sub-scales and mins, fp16 d/dmin
Q5_K_BITS = 5.5
Q6_K_BITS = 6.5625  # 210 bytes per 256 weights
K_QUANT_BLOCK = 256

# Architectures whose GGUF stores q, k and v as one fused attn_qkv matrix.
_FUSED_QKV_FAMILIES = ("phi", "phi3")

# Verification judges runtime fidelity for every format alike: llama.cpp against PyTorch running the
# GGUF's own dequantized weights (checks.py), so no floor depends on what the weights are. llama.cpp
# may differ by NOISE_FACTOR times what rounding activations as its kernels do moves PyTorch's logits
# (activations.py): its own rounding is another draw of that noise. Measured on the demo model, rms
# |dlogit| is 1.00x the emulation's for q8_0, q4_0 and q4_k_m and 1.27x for f16 (the fp16 KV cache
# adds its own), the largest 1.01-1.10x and 1.38x; a misread file (16 rotary dimensions where the
# model has 32) gives 4.5x (q4_k_m) to 175x (f16) rms, 6.5x to 317x largest. 3x lies between. What
# quantization costs is reported, not judged, unless the user sets a floor (--max-quant-kl,
# --min-quant-top1).
NOISE_FACTOR = 3.0
_FIDELITY = Thresholds(exact=False, reference="artifact", fidelity_noise_factor=NOISE_FACTOR)


def _output_matrix_bits(spec: ModelSpec) -> float:
    # llama.cpp's quantizer keeps the output matrix (or the tied token embedding, which then
    # serves as output) at Q6_K, or Q8_0 when rows do not split into 256-wide super-blocks.
    return Q6_K_BITS if spec.hidden_size % K_QUANT_BLOCK == 0 else Q8_0_BITS


def _is_output(role: str, spec: ModelSpec) -> bool:
    return role == "lm_head" or (role == "embedding" and spec.tied_embeddings)


def _more_bits_share(num_layers: int) -> float:
    """Share of layers where Q4_K_M spends Q6_K on attn_v and ffn_down (llama.cpp's use_more_bits)."""
    chosen = sum(
        1
        for i in range(num_layers)
        if i < num_layers // 8 or i >= 7 * num_layers // 8 or (i - num_layers // 8) % 3 == 2
    )
    return chosen / num_layers


def _q4_0_bits(role: str, spec: ModelSpec, base: float) -> float:
    return _output_matrix_bits(spec) if _is_output(role, spec) else base


def _q4_k_m_bits(role: str, spec: ModelSpec, base: float) -> float:
    if role == "other":
        return base
    if _is_output(role, spec):
        return _output_matrix_bits(spec)
    if role in ("attn_q", "attn_k", "attn_v") and spec.family in _FUSED_QKV_FAMILIES:
        return Q5_K_BITS  # fused attn_qkv goes to Q5_K under Q4_K_M
    if role in ("attn_v", "ffn_down"):
        share = _more_bits_share(spec.num_layers)
        return share * Q6_K_BITS + (1 - share) * Q4_K_BITS
    return base


def _needs_k_quant_rows(spec: ModelSpec) -> str | None:
    if spec.hidden_size % K_QUANT_BLOCK:
        return (
            f"K-quants need the hidden size to be a multiple of {K_QUANT_BLOCK} "
            f"(this model's is {spec.hidden_size}); use q4_0 or q8_0"
        )
    return None


def _needs_q_block_rows(spec: ModelSpec) -> str | None:
    if spec.hidden_size % 32:
        return f"ggml block formats need the hidden size to be a multiple of 32 (this model's is {spec.hidden_size}); use f16"
    return None


# Families whose vocabulary llama.cpp's convert_hf_to_gguf.py reads only from SentencePiece's
# tokenizer.model (no tokenizer.json fallback): with tokenizer.json alone the converter fails after
# the checkpoint is loaded (measured with llama-cpp-python 0.3.36: Gemma, Gemma 2, Phi-3; Gemma 3
# falls back to the BPE vocabulary).
SENTENCEPIECE_ONLY_FAMILIES = frozenset({"gemma", "gemma2", "phi3"})

# llama.cpp scales Gemma 2 and 3 queries by 1/sqrt(head_dim), or by 1/sqrt(hidden / heads) for the
# 27B models (which it recognises by their layer count), and never reads query_pre_attn_scalar
# (llama-model.cpp in llama-cpp-python 0.3.36). The published checkpoints agree with that; one whose
# scalar differs converts into another model (measured: a tiny Gemma 3 with head_dim 16 and the
# config's default scalar 256 differs from PyTorch by 0.4-1.4 in every logit from the second token).
_GEMMA_27B_LAYERS = {"gemma2": 46, "gemma3": 62}


def gemma_query_scale_mismatch(family: str, config: dict) -> str | None:
    """Why llama.cpp would scale this Gemma's queries differently from the checkpoint, or None."""
    if family not in _GEMMA_27B_LAYERS:
        return None
    config = config.get("text_config") or config
    heads, hidden = config.get("num_attention_heads"), config.get("hidden_size")
    scalar = config.get("query_pre_attn_scalar")
    if not (heads and hidden and scalar):
        return None
    head_dim = config.get("head_dim") or hidden // heads
    assumed = hidden / heads if config.get("num_hidden_layers") == _GEMMA_27B_LAYERS[family] else head_dim
    if float(scalar) == float(assumed):
        return None
    return (f"its query_pre_attn_scalar is {scalar}, but llama.cpp scales this architecture's queries as if it were "
            f"{assumed:g} and does not read it, so the GGUF would compute another model; use --runtime litert")


class LlamaCppRuntime(Runtime):
    key = "llamacpp"
    display_name = "llama.cpp"
    takes_pre_tokenizer = True
    families = FAMILY_KEYS
    artifact_kind = ".gguf"
    formats = ("gguf",)
    default_quants = ("q4_k_m", "q4_0")
    toolchain_packages = ("llama-cpp-python", "torch", "transformers")
    # A JNI bridge (Android) and llama.cpp's C API from Swift (iOS), over the same llama.cpp.
    gpu_apis = {"android": "OpenCL", "ios": "Metal"}
    platforms = ("android", "ios", "web")
    engines = {("android", "gguf"): LLAMACPP, ("ios", "gguf"): LLAMACPP, ("web", "gguf"): WLLAMA}
    memory = MemoryTraits(
        kv_bytes_cpu=2,  # f16 K and V (llama.cpp's default cache type)
        kv_bytes_gpu=2,
        activation_bytes_cpu=4,
        activation_bytes_gpu=4,
        prefill_chunk=512,  # n_ubatch default
        overhead_bytes=96 * MIB,
        overhead_note="libllama + ggml, tokenizer, and a Compose/SwiftUI app's baseline (estimate)",
    )
    platform_memory = {"web": web_memory(memory)}
    # bench/figures.py cold runs (1.8M, 25.7M, 202.6M demos) and issue 18's full-size runs (Llama 3
    # 8B q8_0 53 s; Phi-2 2.78B q4_k_m 151 s, verification ~6 min).
    convert_timings = {
        "f16": ((1.8e6, 2.5), (25.7e6, 2.5), (202.6e6, 3.9)),
        "q8_0": ((1.8e6, 2.3), (25.7e6, 2.5), (202.6e6, 4.0), (8.03e9, 53.0)),
        "q4_k_m": ((1.8e6, 2.5), (25.7e6, 3.3), (202.6e6, 8.4), (2.78e9, 151.0)),
        "q4_0": ((1.8e6, 2.6), (25.7e6, 2.7), (202.6e6, 3.8)),
    }
    # ...and Llama 3 8B q8_0 layer by layer: 823 s on 2 shared cores (bench/README.md, big_model.py).
    verify_timings = ((1.8e6, 10.0), (2.78e9, 360.0), (8.03e9, 823.0))
    # The converter streams, and so does llama_model_quantize (it unmaps each tensor of its bf16 input
    # once quantized): each holds about the largest tensor in its source type and in float32 at once,
    # besides the interpreter. Measured on Llama 3 8B bf16 (a 525M-parameter embedding, bench/README.md),
    # whole process tree: q8_0 3.36 GiB, q4_k_m (through bf16) 4.21 GiB; 7 bytes per parameter of
    # that tensor and 1 GiB cover both (4.4 GiB).
    conversion_bytes_per_largest_tensor_param = 7.0
    conversion_memory_note = "convert_hf_to_gguf.py streams tensor by tensor"

    def quant_formats(self) -> dict[str, QuantFormat]:
        return {
            "f16": QuantFormat("f16", "float16 GGUF from convert_hf_to_gguf.py", 16, 32, quality=90, check=_FIDELITY),
            "q8_0": QuantFormat(
                "q8_0", "Q8_0: int8 blocks of 32 with fp16 scales", Q8_0_BITS, 32, quality=75,
                requires=_needs_q_block_rows, check=_FIDELITY,
            ),
            "q4_k_m": QuantFormat(
                "q4_k_m",
                "Q4_K_M: 4-bit K-quants, Q6_K for output and half of attn_v/ffn_down",
                Q4_K_BITS,
                32,
                quality=50,
                role_bits=_q4_k_m_bits,
                requires=_needs_k_quant_rows,
                check=_FIDELITY,
            ),
            "q4_0": QuantFormat(
                "q4_0",
                "Q4_0: int4 blocks of 32 with fp16 scales, output matrix at Q6_K",
                Q4_0_BITS,
                32,
                quality=40,
                role_bits=_q4_0_bits,
                requires=_needs_q_block_rows,
                check=_FIDELITY,
            ),
        }

    def backends(self, platform: str) -> tuple[str, ...]:
        # Metal is llama.cpp's default on Apple GPUs; on Android the CPU path is the robust one
        # (OpenCL/Vulkan backends vary by vendor), GPU is opt-in.
        return ("gpu", "cpu") if platform == "ios" else ("cpu", "gpu")

    def missing_tools(self) -> str | None:
        if importlib.util.find_spec("llama_cpp") is None:
            return "llama-cpp-python is not installed; run scripts/setup.sh (it builds and caches the wheel)"
        return None

    # --- conversion ------------------------------------------------------------------------

    def check_job(self, job: "ConversionJob") -> None:
        from sdk_gen.runtimes.llamacpp.toolchain import VERSION, known_pre_tokenizers

        if job.spec.tokenizer_kind == "none":
            raise BadInput(f"{job.spec.path} has no tokenizer; a GGUF carries the model's tokenizer, so add its tokenizer files")
        tokenizer_dir = job.tokenizer_dir or job.spec.path
        if job.spec.family in SENTENCEPIECE_ONLY_FAMILIES and not (tokenizer_dir / "tokenizer.model").is_file():
            raise BadInput(
                f"llama.cpp's converter reads {job.spec.architecture}'s vocabulary only from SentencePiece's "
                f"tokenizer.model, which {tokenizer_dir} lacks; copy tokenizer.model from the base model, or use --runtime litert"
            )
        config_file = job.model_dir / "config.json"
        config = json.loads(config_file.read_text()) if config_file.is_file() else {}
        mismatch = gemma_query_scale_mismatch(job.spec.family, config)
        if mismatch:
            raise BadInput(f"{job.spec.architecture} cannot be converted faithfully for llama.cpp: {mismatch}")
        if job.pre_tokenizer:
            known = known_pre_tokenizers()
            if job.pre_tokenizer not in known:
                close = difflib.get_close_matches(job.pre_tokenizer, known, n=3)
                hint = f"did you mean {' or '.join(close)}?" if close else f"llama.cpp knows {len(known)}, e.g. {', '.join(known[:6])}"
                raise BadInput(f"the llama.cpp in llama-cpp-python {VERSION} has no pre-tokenizer {job.pre_tokenizer!r}; {hint}")

    def pre_tokenizer(self, job: "ConversionJob") -> str | None:
        """--pre-tokenizer, or for sdkgen's own demo model the GPT-2 split it was trained with."""
        if job.pre_tokenizer:
            return job.pre_tokenizer
        if (job.spec.path / "sdkgen-demo.json").is_file():
            return "gpt-2"
        return None

    def cache_options(self, job: "ConversionJob") -> dict:
        from sdk_gen.runtimes.llamacpp.toolchain import SDIST_SHA256

        return {"sdist": SDIST_SHA256, "pre_tokenizer": self.pre_tokenizer(job)}

    def convert(self, job: "ConversionJob", workdir: Path, log_path: Path, stop: threading.Event | None = None) -> Path:
        from sdk_gen.runtimes.llamacpp.toolchain import llama_cpp_dir
        from sdk_gen.subprocess_log import run_converter

        out = workdir / job.artifact_name
        request = {
            "llama_dir": str(llama_cpp_dir()),
            "model": str(job.model_dir),
            "out": str(out),
            "quant": job.quant.name,
            "pre_tokenizer": self.pre_tokenizer(job),
            "checkpoint_dtype": job.spec.dtype,
            "threads": 2,
        }
        run_converter("sdk_gen.runtimes.llamacpp.convert", request, log_path, out, "llama.cpp conversion", stop=stop)
        return out

    layerwise_reference = True

    def verify_here(self, job: "ConversionJob", artifact: Path, reference_mode: str = WHOLE_MODEL) -> "VerificationResult":
        """``reference_mode``: how PyTorch holds the model (verify.REFERENCE_MODES), chosen by the
        verification's memory plan (sdk_gen/verification_memory.py)."""
        from sdk_gen.runtimes.llamacpp.checks import verify_artifact

        return verify_artifact(job, artifact, reference_mode)
