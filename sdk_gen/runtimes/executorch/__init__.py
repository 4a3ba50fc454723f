"""ExecuTorch (PyTorch's on-device runtime): a `.pte` program lowered to XNNPACK.

`sdkgen convert --runtime executorch` exports the `.pte` and verifies it with ExecuTorch's own
runtime here; `sdkgen android|ios --runtime executorch` wrap it in the phone engines of phone.py
(the executorch-android AAR's LlmModule, the Swift package's ExecuTorchLLM TextRunner). Never
chosen by `--runtime auto`: asked for by name.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sdk_gen.errors import BadInput
from sdk_gen.model.families import FAMILY_KEYS
from sdk_gen.runtimes.base import MemoryTraits, QuantFormat, Runtime
from sdk_gen.runtimes.executorch.phone import EXECUTORCH
from sdk_gen.units import MIB
from sdk_gen.verify import Thresholds

if TYPE_CHECKING:
    from sdk_gen.runtimes.base import ConversionJob
    from sdk_gen.verify import VerificationResult

# fp32 must reproduce PyTorch: measured on the demo, greedy ids identical and max |dlogit| 3.1e-6.
_EXACT_FP32 = Thresholds(exact=True, min_correlation=0.99999, min_top1=0.99, min_top5_overlap=0.99, max_abs_logit_diff=1e-3)
# 8da4w is judged against the same torchao quantization run eagerly in PyTorch (runtime fidelity).
# XNNPACK's int8 dynamic-activation kernels do not round exactly as torchao's eager path does:
# measured on the demo (4 prompts + their greedy runs + the shipped text, 456 positions), the
# runtime differs from eager torchao by max |dlogit| 0.050 (rms 0.0109), 0.92x (rms 1.04x) how far
# eager torchao moves when its activations are not rounded to int8 at all (max 0.055, rms 0.0104;
# per prompt the ratio ranged 0.9-1.15): the noise scale the fidelity check multiplies. A factor of
# 2 covers that with margin and stays far below a misread weight (which moves logits by their own
# magnitude, ~3.5 on the demo). Greedy: 3 of 128 teacher-forced tokens differ, all at ties within
# the tolerance, so "token for token" holds only where the top two logits are apart.
_FIDELITY_8DA4W = Thresholds(exact=False, reference="artifact", fidelity_noise_factor=2.0)

# Shortest context the export takes: one call takes 1 to min(128, context - 1) tokens (export.prefill_chunk).
MIN_CONTEXT = 16


def _needs_group_multiple(spec) -> str | None:
    from sdk_gen.runtimes.executorch.export import GROUP_SIZE

    sizes = {"hidden size": spec.hidden_size, "intermediate size": spec.intermediate_size}
    for name, size in sizes.items():
        if size % GROUP_SIZE:
            return f"8da4w quantizes in groups of {GROUP_SIZE} inputs; this model's {name} ({size}) is not a multiple of {GROUP_SIZE}"
    return None


def _tied_copy(output_bits: float):
    """role_bits for a tied output matrix: the `.pte` holds it twice, once as the embedding table
    (a plain lookup outside XNNPACK) and once packed into XNNPACK's linear (8da4w: quantized, as
    the export unties it first). The plan counts a tied matrix once, under the embedding role, so
    the second copy is charged there (measured: tiny Gemma fp32 .pte 1.50x the single-copy
    prediction, 1.13-1.14x for untied families, the rest being the program and tokenizer)."""

    def bits(role: str, spec, base: float) -> float:
        return base + output_bits if role == "embedding" and spec.tied_embeddings else base

    return bits


class ExecuTorchRuntime(Runtime):
    key = "executorch"
    display_name = "ExecuTorch"
    # Each family exported and verified (fp32, context 256: greedy 128/128, max |dlogit| <= 4e-4)
    # on a tiny model of tests/test_litert.py's tiny_family_model; llama and qwen2 stay in the tests.
    # Sliding windows (gemma2/3) hold past the window: transformers' export keeps every position in
    # a full static cache and masks by the window (200 tokens over a 16-token window: max |dlogit|
    # 4.3e-4 after the window against 1.7e-4 inside it, i.e. no change).
    families = FAMILY_KEYS
    artifact_kind = ".pte"
    formats = ("pte",)
    platforms = ("android", "ios")
    auto_selectable = False
    engines = {("android", "pte"): EXECUTORCH, ("ios", "pte"): EXECUTORCH}
    default_quants = ("8da4w",)
    toolchain_packages = ("executorch", "torch", "torchao", "transformers")
    host_verification_gap = ""
    # The tiny demo (1.84M parameters) on this 2-core machine: the export child's wall time.
    convert_timings = {"fp32": ((1.84e6, 19.0),), "8da4w": ((1.84e6, 51.0),)}
    verify_timings = ((1.84e6, 40.0),)
    # The export holds the float32 model, its traced program and the lowered copy. Measured (the
    # export child's VmHWM, bench/figures.py runs): 3094 MiB for the 202.6M demo in fp32 (16.0 bytes
    # per parameter, libraries included), 2329 MiB in 8da4w (12.1), ~550 MB at 1.8M (libraries).
    conversion_bytes_per_param = 16.0
    conversion_memory_note = "torch.export holds the float32 model, its traced program and the lowered copy (measured: 202.6M demo, fp32)"
    # Measured with bench/figures.py (bench/host_run.py: ExecuTorch's C++ text runner, as the phone
    # engines create it, loads the `.pte` memory-mapped and decodes 32 tokens; peak RSS after the
    # import), demo 1.8M/25.7M/202.6M at context 256 and 1.8M at 1024, fp32 and 8da4w, 128-token
    # prefill chunk: meas/pred 0.955-1.012 with these figures. What the runner holds: the `.pte`'s weights
    # (mapped; XNNPACK repacks them without keeping a second resident copy: the same excess over
    # the file for fp32 and 8da4w), ExecuTorch's planned arena (read from the program: 4.0 MiB for
    # the tiny demo at context 256), and ~5-6.5 MiB of its own and XNNPACK's buffers.
    memory = MemoryTraits(
        # transformers' static cache is exported in the model's dtype (float32 buffers in the .pte's
        # mutable state), and the arena holds it twice: the buffers and index_put's functional copy,
        # written back with copy_ (the program's plan has both); XNNPACK has no GPU path.
        kv_bytes_cpu=8,
        kv_bytes_gpu=8,
        activation_bytes_cpu=4,
        activation_bytes_gpu=4,
        # ExecuTorch plans its arena at load for the longest call the method takes, whatever the
        # prompt (peak RSS within 0.1 MiB for 4- and 170-token prompts). The export caps that call
        # at export.PREFILL_CHUNK tokens (get_max_seq_len; context - 1 below it) and the text
        # runner prefills longer prompts in chunks of it, so activations and attention scores are
        # chunk x context, not context x context (an uncapped method took the tiny demo's arena
        # from 6.3 MiB at context 256 to 66.2 MiB at 1024 and its peak from 21 to 88 MiB; capped,
        # 17.7 and 29.6 MiB). The arena keeps ~4 score buffers side by side (scores, scaled,
        # masked, softmax): the tiny demo's peak grows by 4 x 128 x context x heads x 4 bytes
        # besides the KV cache from context 256 to 1024 (+5.9 MiB measured, +6.0 predicted).
        prefill_chunk=128,
        attention_score_copies=4,
        # The runner's host process after import is torch's libraries, not a phone's: this stays
        # an estimate of the AAR's/framework's libraries, tokenizer and an app's baseline.
        overhead_bytes=120 * MIB,
        overhead_note="ExecuTorch runtime, XNNPACK, tokenizer and an app's baseline (estimate, not yet measured on a phone)",
        # The runner's and XNNPACK's own buffers over the arena, with the 128-token chunk: 5.2-5.4
        # MiB at 1.8M parameters (contexts 256 and 1024), 5.0-6.5 at 25.7M (fp32 the larger);
        # 22 MiB at 202.6M before the cap, with context-long calls (now within 0.955-1.012).
        engine_buffers_cpu=int(5.5 * MIB),
    )

    def quant_formats(self) -> dict[str, QuantFormat]:
        # Bits from the export: fp32 stores every tensor as float32. 8da4w: torchao quantizes every
        # linear layer (lm_head included) to int4 with one float32 scale per group of 32 inputs
        # (4 + 32/32 bits); the embedding, norms and biases stay float32.
        return {
            "fp32": QuantFormat(
                "fp32", "float32 weights and compute (exact)", 32, 32, quality=100, auto=False, check=_EXACT_FP32,
                role_bits=_tied_copy(32),
            ),
            "8da4w": QuantFormat(
                "8da4w",
                "int8 dynamic activations, int4 weights in groups of 32 (torchao, XNNPACK)",
                4 + 32 / 32,
                32,
                quality=45,
                bits={"embedding": 32},
                role_bits=_tied_copy(4 + 32 / 32),
                requires=_needs_group_multiple,
                check=_FIDELITY_8DA4W,
            ),
        }

    def missing_tools(self) -> str | None:
        for module, package in (("executorch", "executorch"), ("torchao", "torchao")):
            if importlib.util.find_spec(module) is None:
                return f"{package} is not installed; run scripts/setup.sh (or pip install 'sdkgen[executorch]')"
        return None

    # --- conversion ------------------------------------------------------------------------

    def check_job(self, job: "ConversionJob") -> None:
        # The planner already holds --context to the model's positions and --backend to backends().
        if job.context < MIN_CONTEXT:
            raise BadInput(f"ExecuTorch exports need --context of at least {MIN_CONTEXT} tokens")

    def cache_options(self, job: "ConversionJob") -> dict:
        from sdk_gen.runtimes.executorch.export import GROUP_SIZE, TOKENIZER_METHODS, prefill_chunk

        return {"delegate": "xnnpack", "group_size": GROUP_SIZE, "dynamic_length": True, "tokenizer": sorted(TOKENIZER_METHODS),
                "tokenizer_json": "transformers' backend tokenizer, NFC normalizer dropped",
                "eos_ids": "config + generation_config", "prefill_chunk": prefill_chunk(job.context)}

    def convert(self, job: "ConversionJob", workdir: Path, log_path: Path, stop: threading.Event | None = None) -> Path:
        from sdk_gen.subprocess_log import run_converter

        produced = workdir / job.artifact_name
        request = {"model_dir": str(job.model_dir), "context": job.context, "quant": job.quant.name, "out": str(produced)}
        if job.tokenizer_dir is not None:
            request["tokenizer_dir"] = str(job.tokenizer_dir)
        run_converter("sdk_gen.runtimes.executorch.export", request, log_path, produced, "ExecuTorch export", stop=stop)
        return produced

    def verify_here(self, job: "ConversionJob", artifact: Path) -> "VerificationResult":
        from sdk_gen.runtimes.executorch.checks import verify_artifact

        return verify_artifact(job, artifact)
