"""LiteRT-LM / MediaPipe: litert-torch exports, `.litertlm` and `.task` bundles."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sdk_gen.errors import BadInput
from sdk_gen.model.families import FAMILY_KEYS
from sdk_gen.model.spec import ModelSpec
from sdk_gen.runtimes.base import MemoryTraits, QuantFormat, Runtime
from sdk_gen.runtimes.litert.phone import LITERTLM, MEDIAPIPE, mediapipe_web_memory
from sdk_gen.units import MIB
from sdk_gen.verify import WHOLE_MODEL, Thresholds

if TYPE_CHECKING:
    from sdk_gen.runtimes.base import ConversionJob
    from sdk_gen.verify import VerificationResult

# Verification thresholds. Float formats must reproduce the reference (measured on the demo:
# max |dlogit| 3.6e-6 for f32, and for f16 against PyTorch with the same fp16 weights).
# int8/int4 are judged for runtime fidelity (checks.verify_quantized): LiteRT's interpreter against
# PyTorch running the .tflite's own weights (dequantize.py), within NOISE_FACTOR times what rounding
# activations as XNNPACK's dynamic int8 ("qd8", asymmetric per row: activations.py) moves PyTorch's
# logits; LiteRT's rounding is another draw of that noise. Measured (457 positions each): rms
# |dlogit| 1.00x the emulation's for the demo's int8 and int4 (largest 1.01x, 1.00x), 0.996-1.006x
# for tiny Llama (tied), Gemma 3 and Phi-3 files (largest 0.80-1.19x); one matrix read with a 10%
# wrong scale gives 4.9-5.0x rms, 5.4-5.7x largest (tests/test_litert_fidelity.py). 3x, as for
# llama.cpp, lies between. What quantization costs against the original weights (KL, top-1,
# perplexity) is reported, not judged, unless the user sets a floor (--max-quant-kl,
# --min-quant-top1): the old floors judged that cost on near-flat random logits.
NOISE_FACTOR = 3.0
_EXACT_F32 = Thresholds(exact=True, min_correlation=0.99999, min_top1=0.99, min_top5_overlap=0.99, max_abs_logit_diff=1e-3)
_EXACT_F16 = Thresholds(
    exact=True, min_correlation=0.99999, min_top1=0.99, min_top5_overlap=0.99, max_abs_logit_diff=1e-3, reference="fp16-weights"
)
_INT8 = Thresholds(exact=False, reference="artifact", fidelity_noise_factor=NOISE_FACTOR)
_INT4 = Thresholds(exact=False, reference="artifact", fidelity_noise_factor=NOISE_FACTOR)

PREFILL_LENGTH = 128


def _channelwise_int8(role: str, spec: ModelSpec, base: float) -> float:
    # ai-edge-quantizer's dynamic_wi8_afp32 stores int8 weights with one float32 scale per
    # output channel, i.e. 32 extra bits per row of `hidden` inputs (measured on exported files).
    return base if role == "other" else base + 32 / spec.hidden_size


class LiteRtRuntime(Runtime):
    key = "litert"
    display_name = "LiteRT-LM"
    # Each family checked end to end on a tiny model (tests/test_litert.py::test_every_family).
    families = FAMILY_KEYS
    artifact_kind = ".litertlm"
    formats = ("litertlm", "task")
    # The web has MediaPipe's tasks-genai for `.task` only: its WebGPU graph cannot read a
    # .litertlm ("could not find gpu_artisan .bin", ../shared/WEB.md).
    platforms = ("android", "ios", "web")
    # .litertlm: LiteRT-LM's Kotlin API (Maven) / Swift package (SwiftPM).
    # .task: MediaPipe's LlmInference (Maven tasks-genai / CocoaPods MediaPipeTasksGenAI).
    gpu_apis = {"android": "OpenCL", "ios": "Metal", "web": "WebGPU"}
    engines = {
        ("android", "litertlm"): LITERTLM,
        ("android", "task"): MEDIAPIPE,
        ("ios", "litertlm"): LITERTLM,
        ("ios", "task"): MEDIAPIPE,
        ("web", "task"): MEDIAPIPE,
    }
    default_quants = ("int8",)
    toolchain_packages = ("litert-torch", "ai-edge-litert", "ai-edge-quantizer", "litert-lm-api", "mediapipe", "torch", "transformers")
    # litert-torch's export holds the float32 model and its traced graph: ~6.8 bytes per parameter
    # at peak (measured with litert-torch 0.10 on a Phi-2-shaped 2.78B checkpoint, issue 18).
    conversion_bytes_per_param = 6.8
    conversion_memory_note = "litert-torch's export holds the float32 model and its traced graph"
    # bench/figures.py cold runs (1.8M, 25.7M, 202.6M demos) and issue 18's Phi-2-shaped 2.78B run
    # (int4 export 128 s, verification 493 s).
    convert_timings = {
        "f32": ((1.8e6, 17.2), (25.7e6, 25.5), (202.6e6, 55.7)),
        "f16": ((1.8e6, 17.0), (25.7e6, 29.5), (202.6e6, 74.9)),
        "int8": ((1.8e6, 17.2), (25.7e6, 26.8), (202.6e6, 53.6)),
        "int4": ((1.8e6, 17.7), (25.7e6, 25.8), (202.6e6, 52.1), (2.78e9, 128.0)),
    }
    verify_timings = ((1.8e6, 12.0), (2.78e9, 493.0))
    memory = MemoryTraits(
        # litert-torch exports the KV cache as float32 tensors (kv_cache_k_N: float32 in the
        # decode signature); LiteRT's GPU delegate runs them in fp16.
        kv_bytes_cpu=4,
        kv_bytes_gpu=2,
        activation_bytes_cpu=4,
        activation_bytes_gpu=2,
        prefill_chunk=PREFILL_LENGTH,
        overhead_bytes=160 * MIB,
        overhead_note="LiteRT-LM engine, XNNPack, tokenizer and a Compose app's baseline (estimate)",
        # litert_lm's CPU engine allocates ~20 MiB at load on every model size
        # (bench/figures.py: peak RSS over the prediction, fitted across the 26M and 203M demos).
        engine_buffers_cpu=20 * MIB,
    )
    platform_memory = {"web": mediapipe_web_memory(memory)}

    def auto_selects(self, platform: str) -> bool:
        # On the web MediaPipe runs on WebGPU only, which many browsers and machines lack, and
        # reports text, not token ids: `--runtime auto` takes llama.cpp (wllama) there; LiteRT
        # is the WebGPU option a user asks for.
        return platform != "web"

    def default_format(self, platform: str | None) -> str | None:
        return "task" if platform == "web" else self.formats[0]

    def quant_formats(self) -> dict[str, QuantFormat]:
        # Bits measured on litert-torch 0.10.0 exports: every 2-D weight (embedding included)
        # is quantized by the recipe; norms and biases stay float32.
        # cpu_load_copy, measured with litert_lm 0.18 on the CPU (bench/figures.py, slope of peak
        # RSS over artifact size between the 26M and 203M demos): XNNPack computes f16 models in
        # float32, so it unpacks every fp16 weight into a float32 copy (2x the file) while the
        # mapped file stays resident; int8 and int4 weights are repacked into XNNPack's kernel
        # layout with its own scale format (+8%, +21%); f32 weights are used nearly in place.
        return {
            "f32": QuantFormat(
                "f32", "float32 weights (the export's native precision; exact)", 32, 32, quality=100, auto=False,
                check=_EXACT_F32, cpu_load_copy=0.03,
            ),
            "f16": QuantFormat(
                "f16", "float16 weights (float_casting), float32 compute", 16, 32, quality=90, check=_EXACT_F16,
                cpu_load_copy=2.0,
            ),
            "int8": QuantFormat(
                "int8",
                "dynamic int8: channelwise int8 weights, float32 activations (dynamic_wi8_afp32)",
                8,
                32,
                quality=70,
                role_bits=_channelwise_int8,
                check=_INT8,
                cpu_load_copy=0.08,
            ),
            "int4": QuantFormat(
                "int4",
                "dynamic int4, blockwise 32 with fp16 scales, float32 activations (dynamic_wi4b32_afp32)",
                4 + 16 / 32,
                32,
                quality=40,
                check=_INT4,
                cpu_load_copy=0.21,
            ),
        }

    def backends(self, platform: str) -> tuple[str, ...]:
        # litert-torch's default export targets XNNPack on the CPU; a GPU export needs the GPU
        # composites and is opt-in (--backend gpu). MediaPipe's web LLM graph runs on WebGPU only.
        return ("gpu",) if platform == "web" else ("cpu", "gpu")

    def missing_tools(self) -> str | None:
        for module, package in (("litert_torch", "litert-torch"), ("litert_lm", "litert-lm-api"), ("mediapipe", "mediapipe")):
            if importlib.util.find_spec(module) is None:
                return f"{package} is not installed; run scripts/setup.sh (or pip install 'sdkgen[litert]')"
        return None

    # --- conversion ------------------------------------------------------------------------

    def check_job(self, job: "ConversionJob") -> None:
        if job.context < PREFILL_LENGTH:
            raise BadInput(f"LiteRT exports need --context of at least {PREFILL_LENGTH} tokens (the prefill length)")
        if job.artifact_format == "task" and job.spec.tokenizer_kind not in ("byte-level-bpe", "bpe", "sentencepiece") and not (
            job.spec.path / "tokenizer.model"
        ).is_file():
            raise BadInput(
                f"{job.spec.path} has no tokenizer MediaPipe can use ({job.spec.tokenizer_kind}); a .task needs a SentencePiece "
                "or BPE tokenizer: add the model's tokenizer files, or use --format litertlm"
            )

    def cache_options(self, job: "ConversionJob") -> dict:
        from sdk_gen.runtimes.litert.export import RECIPES, use_lightweight_export
        from sdk_gen.runtimes.litert.zero_scales import PATCH_ID

        options = {
            "recipe": RECIPES[job.quant.name],
            "prefill": min(PREFILL_LENGTH, job.context),
            "lightweight": use_lightweight_export(job.spec.num_params),
        }
        if job.quant.name == "int4":
            # Earlier int4 artifacts of models with an all-zero block held scale 0 and cannot run.
            options["zero_block_scales"] = PATCH_ID
        return options

    def convert(self, job: "ConversionJob", workdir: Path, log_path: Path, stop: threading.Event | None = None) -> Path:
        from sdk_gen.runtimes.litert.export import export_arguments, recipe_argument, use_lightweight_export
        from sdk_gen.subprocess_log import run_converter

        export_dir = workdir / "export"
        arguments = export_arguments(
            job.model_dir,
            export_dir,
            context=job.context,
            prefill=min(PREFILL_LENGTH, job.context),
            recipe=recipe_argument(job.quant.name, workdir),
            lightweight=use_lightweight_export(job.spec.num_params),
        )
        task = None
        if job.artifact_format == "task":
            task = {"model_dir": str(job.model_dir), "workdir": str(workdir), "out": str(workdir / job.artifact_name)}
        produced = export_dir / "model.litertlm"
        run_converter("sdk_gen.runtimes.litert.export", {"export": arguments, "task": task}, log_path, produced,
                      "litert-torch export", stop=stop)
        if task:
            return Path(task["out"])
        final = workdir / job.artifact_name
        produced.rename(final)
        return final

    layerwise_reference = True
    # Reading the .tflite's weights back (dequantize.py) holds the file and its dequantized float32
    # matrices while the reference model is built: measured on the Phi-2-shaped 2.78B int4 file,
    # 19.99 GiB peak for the verification's process tree with the whole model, ~0.9 bytes per
    # parameter more than the GGUF path (bench/figures.py --full-size).
    reference_extra_bytes_per_param = 1.0

    def verify_here(self, job: "ConversionJob", artifact: Path, reference_mode: str = WHOLE_MODEL) -> "VerificationResult":
        """``reference_mode``: how PyTorch holds the model for int8/int4 (verify.REFERENCE_MODES),
        chosen by the verification's memory plan (sdk_gen/verification_memory.py)."""
        from sdk_gen.runtimes.litert.checks import verify_artifact

        return verify_artifact(job, artifact, reference_mode)

