"""llama.cpp: GGUF conversion with the converter that ships in llama-cpp-python's sdist."""

from __future__ import annotations

from sdk_gen.model.spec import ModelSpec
from sdk_gen.runtimes.base import MIB, MemoryTraits, QuantFormat, Runtime

# ggml block formats, bits per weight including their scales.
Q8_0_BITS = 8.5  # 32 int8 + one fp16 scale per block of 32
Q4_0_BITS = 4.5  # 32 int4 + one fp16 scale
Q4_K_BITS = 4.5  # 256-weight super-block: 4-bit quants, 6-bit sub-scales and mins, fp16 d/dmin
Q5_K_BITS = 5.5
Q6_K_BITS = 6.5625  # 210 bytes per 256 weights
K_QUANT_BLOCK = 256

# Architectures whose GGUF stores q, k and v as one fused attn_qkv matrix.
_FUSED_QKV_FAMILIES = ("phi", "phi3")


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


class LlamaCppRuntime(Runtime):
    key = "llamacpp"
    display_name = "llama.cpp"
    families = ("phi", "phi3", "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3")
    artifact_kind = ".gguf"
    memory = MemoryTraits(
        kv_bytes_cpu=2,  # f16 K and V (llama.cpp's default cache type)
        kv_bytes_gpu=2,
        activation_bytes_cpu=4,
        activation_bytes_gpu=4,
        prefill_chunk=512,  # n_ubatch default
        overhead_bytes=96 * MIB,
        overhead_note="libllama + ggml, tokenizer, and a Compose/SwiftUI app's baseline (estimate)",
    )

    def quant_formats(self) -> dict[str, QuantFormat]:
        return {
            "f16": QuantFormat("f16", "float16 GGUF from convert_hf_to_gguf.py", 16, 32, quality=90),
            "q8_0": QuantFormat(
                "q8_0", "Q8_0: int8 blocks of 32 with fp16 scales", Q8_0_BITS, 32, quality=75, requires=_needs_q_block_rows
            ),
            "q4_k_m": QuantFormat(
                "q4_k_m",
                "Q4_K_M: 4-bit K-quants, Q6_K for output and half of attn_v/ffn_down",
                Q4_K_BITS,
                32,
                quality=50,
                role_bits=_q4_k_m_bits,
                requires=_needs_k_quant_rows,
            ),
            "q4_0": QuantFormat(
                "q4_0",
                "Q4_0: int4 blocks of 32 with fp16 scales, output matrix at Q6_K",
                Q4_0_BITS,
                32,
                quality=40,
                role_bits=_q4_0_bits,
                requires=_needs_q_block_rows,
            ),
        }

    def backends(self, platform: str) -> tuple[str, ...]:
        # Metal is llama.cpp's default on Apple GPUs; on Android the CPU path is the robust one
        # (OpenCL/Vulkan backends vary by vendor), GPU is opt-in.
        return ("gpu", "cpu") if platform == "ios" else ("cpu", "gpu")

    def gpu_api(self, platform: str) -> str | None:
        return "Metal" if platform == "ios" else "OpenCL"
