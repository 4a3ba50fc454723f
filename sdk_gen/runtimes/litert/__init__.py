"""LiteRT-LM / MediaPipe: litert-torch exports, `.litertlm` and `.task` bundles."""

from __future__ import annotations

from sdk_gen.model.spec import ModelSpec
from sdk_gen.runtimes.base import MIB, MemoryTraits, QuantFormat, Runtime


def _channelwise_int8(role: str, spec: ModelSpec, base: float) -> float:
    # ai-edge-quantizer's dynamic_wi8_afp32 stores int8 weights with one float32 scale per
    # output channel, i.e. 32 extra bits per row of `hidden` inputs (measured on exported files).
    return base if role == "other" else base + 32 / spec.hidden_size


class LiteRtRuntime(Runtime):
    key = "litert"
    display_name = "LiteRT-LM"
    families = ("phi", "phi3", "llama", "mistral", "qwen2", "qwen3", "gemma3")
    artifact_kind = ".litertlm"
    memory = MemoryTraits(
        # litert-torch exports the KV cache as float32 tensors (kv_cache_k_N: float32 in the
        # decode signature); LiteRT's GPU delegate runs them in fp16.
        kv_bytes_cpu=4,
        kv_bytes_gpu=2,
        activation_bytes_cpu=4,
        activation_bytes_gpu=2,
        prefill_chunk=128,
        overhead_bytes=160 * MIB,
        overhead_note="LiteRT-LM engine, XNNPack, tokenizer and a Compose app's baseline (estimate)",
    )

    def quant_formats(self) -> dict[str, QuantFormat]:
        # Bits measured on litert-torch 0.10.0 exports: every 2-D weight (embedding included)
        # is quantized by the recipe; norms and biases stay float32.
        return {
            "f32": QuantFormat(
                "f32", "float32 weights (the export's native precision; exact)", 32, 32, quality=100, auto=False
            ),
            "f16": QuantFormat("f16", "float16 weights (float_casting), float32 compute", 16, 32, quality=90),
            "int8": QuantFormat(
                "int8",
                "dynamic int8: channelwise int8 weights, float32 activations (dynamic_wi8_afp32)",
                8,
                32,
                quality=70,
                role_bits=_channelwise_int8,
            ),
            "int4": QuantFormat(
                "int4",
                "dynamic int4, blockwise 32 with fp16 scales, float32 activations (dynamic_wi4b32_afp32)",
                4 + 16 / 32,
                32,
                quality=40,
            ),
        }

    def backends(self, platform: str) -> tuple[str, ...]:
        # litert-torch's default export targets XNNPack on the CPU; a GPU export needs the GPU
        # composites and is opt-in (--backend gpu).
        return ("cpu", "gpu")

    def gpu_api(self, platform: str) -> str | None:
        return "OpenCL" if platform == "android" else "Metal"
