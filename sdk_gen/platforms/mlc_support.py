"""What the Android and iOS templates need to hand an MLC bundle to `mlc_llm package`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sdk_gen.runtimes.mlc import read_bundle_meta
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
