"""MLC LLM: drives an installed mlc_llm toolchain (its wheels are not on PyPI).

sdkgen runs MLC's own CLI (gen_config, convert_weight, compile; see steps.py) and never stands
in for it: without mlc_llm, `--runtime mlc` stops at once saying what to install, and `--runtime
auto` never picks MLC. The artifact is a bundle of the converted weights and the model library
compiled for one phone OS; the generated project hands both to `mlc_llm package`.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sdk_gen.errors import BadInput, ToolMissing
from sdk_gen.model.families import FAMILY_KEYS
from sdk_gen.runtimes.base import MemoryTraits, QuantFormat, Runtime
from sdk_gen.runtimes.mlc.bundle import read_bundle_meta
from sdk_gen.runtimes.mlc.phone import MLC
from sdk_gen.units import MIB

if TYPE_CHECKING:
    from sdk_gen.runtimes.base import ConversionJob
    from sdk_gen.runtimes.mlc.steps import MlcBuild

DRIVER_REVISION = 2

# `--format` per phone OS: the model library is compiled for one of them.
FORMAT_FOR_PLATFORM = {"android": "mlc-android", "ios": "mlc-iphone"}


class MlcRuntime(Runtime):
    key = "mlc"
    display_name = "MLC LLM"
    families = FAMILY_KEYS
    auto_selectable = False  # only when asked: the toolchain is not installable from PyPI
    artifact_kind = ".mlc.tar"
    formats = ("mlc-android", "mlc-iphone")
    gpu_apis = {"android": "OpenCL", "ios": "Metal"}
    engines = {("android", "mlc-android"): MLC, ("ios", "mlc-iphone"): MLC}
    default_quants = ("q4f16_1",)
    host_verification_gap = (
        "MLC compiles the model library for the phone's GPU (OpenCL on Android, Metal on iOS), which "
        "cannot run here; the generated project's CI builds the app around it"
    )
    memory = MemoryTraits(
        kv_bytes_cpu=2,
        kv_bytes_gpu=2,  # f16 KV (MLC's kv_bytes_per_token uses 2 bytes per element)
        activation_bytes_cpu=2,
        activation_bytes_gpu=2,
        prefill_chunk=128,  # what MLC's own Android and iOS package configs use
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

    def default_format(self, platform: str | None) -> str | None:
        return FORMAT_FOR_PLATFORM.get(platform or "")

    def file_suffix(self, artifact_format: str) -> str:
        return artifact_format.removeprefix("mlc-") + ".mlc.tar"

    def missing_tools(self) -> str | None:
        from sdk_gen.runtimes.mlc.toolchain import INSTALL_HINT, mlc_importable

        if not mlc_importable():
            return f"MLC LLM is not installed (its wheels are not on PyPI): {INSTALL_HINT}; `sdkgen doctor` shows what is found"
        return None

    def toolchain_versions(self) -> dict[str, str]:
        from sdk_gen.runtimes.mlc.toolchain import probe_install

        install = probe_install()
        versions = {"mlc_llm": install.mlc_llm or "absent", "tvm": install.tvm or "absent"}
        if install.requirements:
            versions["requirements"] = " ".join(install.requirements)
        return versions

    # --- conversion ------------------------------------------------------------------------

    def check_job(self, job: "ConversionJob") -> None:
        wanted = next(p for p, f in FORMAT_FOR_PLATFORM.items() if f == job.artifact_format)
        if job.platform and job.platform != wanted:
            raise BadInput(f"--format {job.artifact_format} builds for {wanted}, not {job.platform}; drop --format")
        if wanted == "ios" and shutil.which("xcrun") is None:
            # MLC compiles the iPhone library's Metal kernels with `xcrun metal` (TVM's
            # tvm_callback_metal_compile); without Xcode that fails deep inside the compile.
            raise ToolMissing(
                "MLC's iPhone build compiles Metal kernels with Xcode's `xcrun`, which this machine lacks; "
                "run this on macOS with Xcode, or use --runtime llamacpp or litert for iOS"
            )

    def build_plan(self, job: "ConversionJob") -> "MlcBuild":
        from sdk_gen.runtimes.mlc.steps import MlcBuild, conv_template_for, model_id, model_lib_prefix

        platform = next(p for p, f in FORMAT_FOR_PLATFORM.items() if f == job.artifact_format)
        return MlcBuild(
            model_dir=job.model_dir,
            quant=job.quant.name,
            conv_template=conv_template_for(job.spec.family, job.chat_format),
            context=job.context,
            prefill_chunk=min(self.memory.prefill_chunk, job.context),
            platform=platform,
            prefix=model_lib_prefix(job.name or job.spec.path.name, job.quant.name),
            model_id=model_id(job.name or job.spec.path.name, job.quant.name),
        )

    def cache_options(self, job: "ConversionJob") -> dict:
        plan = self.build_plan(job)
        return {
            # Bump when the way sdkgen drives MLC changes the bundle (2: the "_" system-lib
            # prefix and the normalised library tar), so bundles built before stop matching.
            "driver_revision": DRIVER_REVISION,
            "conv_template": plan.conv_template,
            "prefill_chunk": plan.prefill_chunk,
            "prefix": plan.prefix,
            "model_id": plan.model_id,
            "compile_flags": list(plan.compile_flags()),
        }

    def convert(self, job: "ConversionJob", workdir: Path, log_path: Path, stop: threading.Event | None = None) -> Path:
        from sdk_gen.subprocess_log import run_converter

        plan = self.build_plan(job)
        out = workdir / job.artifact_name
        request = {
            "workdir": str(workdir / "mlc"),
            "out": str(out),
            "toolchain": self.toolchain_versions(),
            "build": {
                "model_dir": str(plan.model_dir), "quant": plan.quant, "conv_template": plan.conv_template,
                "context": plan.context, "prefill_chunk": plan.prefill_chunk, "platform": plan.platform,
                "prefix": plan.prefix, "model_id": plan.model_id,
            },
        }
        (workdir / "mlc").mkdir(parents=True, exist_ok=True)
        run_converter("sdk_gen.runtimes.mlc.convert", request, log_path, out, "MLC LLM conversion", stop=stop)
        return out

    def artifact_figures(self, job: "ConversionJob", artifact: Path) -> dict:
        meta = read_bundle_meta(artifact)
        figures = {"weights_bytes": meta["params_bytes"], "source": "MLC LLM"}
        if meta.get("temp_bytes"):
            figures["working_bytes"] = meta["temp_bytes"]
        return figures
