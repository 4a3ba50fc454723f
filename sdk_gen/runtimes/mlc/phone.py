"""The MLC phone engine: mlc4j on Android, MLCSwift on iOS, both built by `mlc_llm package`
around the model library (sdk_gen/runtimes/engine.py says what an engine unit is)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sdk_gen.runtimes.engine import EngineTarget, PhoneEngine, builtin_overlay
from sdk_gen.runtimes.mlc.bundle import read_bundle_meta
from sdk_gen.runtimes.mlc.steps import MLC_DEVICE, MlcBuild, package_config
from sdk_gen.runtimes.mlc.toolchain import install_command, source_ref

# Where scripts/mlc-package.sh unpacks the bundle inside the project (git-ignored).
UNPACK_DIR = "mlc"
# Where it clones MLC LLM's source when MLC_LLM_SOURCE_DIR is not set (git-ignored).
SOURCE_DIR = "mlc-llm"


def mlc_context(generation, bundle_path: Path) -> dict[str, Any]:
    result = generation.conversion
    meta = read_bundle_meta(result.artifact.path)
    platform = next(p for p, d in MLC_DEVICE.items() if d == meta["device"])
    build = MlcBuild(
        model_dir=Path(UNPACK_DIR) / meta["model_id"],
        quant=result.job.quant.name,
        conv_template=meta["conv_template"],
        context=meta["context_window_size"],
        prefill_chunk=meta["prefill_chunk_size"],
        platform=platform,
        prefix=meta["model_lib"],
        model_id=meta["model_id"],
    )
    toolchain = meta.get("toolchain", {})
    mlc_version = toolchain.get("mlc_llm", "")
    requirements = toolchain.get("requirements", "").split()
    # MLC sizes its KV cache from what is left of this figure; sdkgen's budget total is the honest one.
    estimated_vram = generation.budget.total_bytes
    config = package_config(
        build,
        weights_path=f"{UNPACK_DIR}/{meta['model_id']}",
        lib_path=f"{UNPACK_DIR}/{meta['library']}",
        estimated_vram_bytes=estimated_vram,
    )
    return {
        "model_id": meta["model_id"],
        "model_lib": meta["model_lib"],
        "device": meta["device"],
        "conv_template": meta["conv_template"],
        "library": meta["library"],
        "bundle_path": bundle_path.as_posix(),
        "unpack_dir": UNPACK_DIR,
        "source_dir": SOURCE_DIR,
        "mlc_llm_version": mlc_version,
        "source_ref": source_ref(mlc_version) if mlc_version else None,
        "install_command": install_command(requirements),
        "estimated_vram_bytes": estimated_vram,
        "params_bytes": meta["params_bytes"],
        "temp_bytes": meta.get("temp_bytes"),
        "package_config_json": json.dumps(config, indent=2),
    }


def _context(generation, model_path: Path) -> dict[str, Any]:
    mlc = mlc_context(generation, model_path)
    return {"mlc": mlc, "runtime_version": f"mlc4j built from mlc-llm {mlc['source_ref'] or 'source'}"}


MLC = PhoneEngine(
    key="mlc",
    display_name="MLC LLM",
    host_package="mlc_llm",
    context=_context,
    targets=(
        EngineTarget(
            project_format="gradle",
            class_name="MlcEngine",
            uncompressed=("bin", "tar"),  # mlc4j assets: weight shards and the bundle
            min_os="26",  # MLC's MLCChat app
            overlay=builtin_overlay("mlc", "gradle"),
            abis=("arm64-v8a",),
            abi_note="mlc4j's prepare_libs.py builds MLC's runtime for arm64-v8a (aarch64-linux-android) only.",
            # MLC runs on the phone's GPU through OpenCL and mlc4j is arm64-v8a only: emulators offer neither.
            runs_on_emulator=False,
            # mlc4j's build.gradle (copied in by `mlc_llm package`) configures Kotlin with `kotlinOptions {}`,
            # which Kotlin 2.2 made an error; MLC projects stay on the last Kotlin that accepts it.
            version_overrides={"kotlin": "2.1.21"},
        ),
        EngineTarget(
            project_format="xcodegen",
            class_name="MlcEngine",
            min_os="15.0",
            min_host_os="13.0",
            overlay=builtin_overlay("mlc", "xcodegen"),
            # MLC's libraries are built for iPhone hardware (arm64, Metal): nothing runs on a Simulator.
            runs_on_emulator=False,
        ),
    ),
)
