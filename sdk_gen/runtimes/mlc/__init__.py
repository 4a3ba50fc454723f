"""MLC LLM: drives an installed mlc_llm toolchain (its wheels are not on PyPI)."""

from __future__ import annotations

import importlib.util

from sdk_gen.runtimes.base import MIB, MemoryTraits, QuantFormat, Runtime


class MlcRuntime(Runtime):
    key = "mlc"
    display_name = "MLC LLM"
    families = ("phi", "phi3", "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3")
    auto_selectable = False  # only when asked: the toolchain is not installable from PyPI
    artifact_kind = ".tar"
    memory = MemoryTraits(
        kv_bytes_cpu=2,
        kv_bytes_gpu=2,  # f16 KV (MLC's kv_bytes_per_token uses 2 bytes per element)
        activation_bytes_cpu=2,
        activation_bytes_gpu=2,
        prefill_chunk=256,
        overhead_bytes=256 * MIB,
        overhead_note="TVM runtime, GPU driver allocations and the app's baseline (estimate)",
    )

    def quant_formats(self) -> dict[str, QuantFormat]:
        # MLC group quantization: 4-bit weights with one scale per group of 32 (fp16 scale for
        # q4f16_1, fp32 for q4f32_1); embeddings and the final projection are quantized too.
        return {
            "q0f16": QuantFormat("q0f16", "no quantization, float16 weights", 16, 16, quality=90),
            "q4f32_1": QuantFormat("q4f32_1", "int4 groups of 32 with fp32 scales, fp32 activations", 4 + 32 / 32, 32, quality=45),
            "q4f16_1": QuantFormat("q4f16_1", "int4 groups of 32 with fp16 scales, fp16 activations", 4 + 16 / 32, 16, quality=40),
        }

    def backends(self, platform: str) -> tuple[str, ...]:
        return ("gpu",)  # MLC compiles for OpenCL (Android) and Metal (iOS) only

    def gpu_api(self, platform: str) -> str | None:
        return "OpenCL" if platform == "android" else "Metal"

    def missing_tools(self) -> str | None:
        if importlib.util.find_spec("mlc_llm") is None:
            return (
                "MLC LLM is not installed (its wheels are not on PyPI); install mlc-llm and mlc-ai from "
                "https://mlc.ai/wheels (e.g. pip install --pre -f https://mlc.ai/wheels mlc-llm-nightly-cpu mlc-ai-nightly-cpu), "
                "then re-run; `sdkgen doctor` shows what is found"
            )
        return None
