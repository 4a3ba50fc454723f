"""Drive litert-torch's `export_hf` in a child process.

The child keeps litert-torch's (and TensorFlow's, JAX's) imports and log output out of sdkgen's
process, and can be stopped cleanly on Ctrl-C. Run as a module, this file is that child.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# Weight-only fp16: ai-edge-quantizer's float_casting algorithm stores every matrix as float16
# and dequantizes it to float32 before use, so compute stays float32.
_FP16_RECIPE = [
    {
        "regex": ".*",
        "operation": "*",
        "algorithm_key": "float_casting",
        "op_config": {
            "weight_tensor_config": {"num_bits": 16, "symmetric": True, "granularity": "CHANNELWISE", "dtype": "FLOAT"},
            "compute_precision": "FLOAT",
            "explicit_dequantize": True,
        },
    }
]

# sdkgen's quantization names -> ai-edge-quantizer recipes (see runtimes/litert/__init__.py).
RECIPES = {
    "f32": "",
    "f16": "fp16-weights.json",
    "int8": "dynamic_wi8_afp32",
    "int4": "dynamic_wi4b32_afp32",
}

# Peak host memory of the default export, per parameter (a full Phi-2 needed ~33 GiB); the
# lightweight mode needs ~6.8 bytes per parameter (17.8 GiB for Phi-2).
_DEFAULT_EXPORT_BYTES_PER_PARAM = 12


def recipe_argument(quant: str, workdir: Path) -> str:
    recipe = RECIPES[quant]
    if recipe.endswith(".json"):
        path = workdir / recipe
        path.write_text(json.dumps(_FP16_RECIPE))
        return str(path)
    return recipe


def use_lightweight_export(num_params: int) -> bool:
    """Whether the default export would not fit in this machine's memory."""
    try:
        host_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return False
    return num_params * _DEFAULT_EXPORT_BYTES_PER_PARAM > 0.7 * host_bytes


def export_arguments(model_dir: Path, output_dir: Path, context: int, prefill: int, recipe: str, lightweight: bool) -> dict:
    return {
        "model": str(model_dir),
        "output_dir": str(output_dir),
        "prefill_lengths": [prefill],
        "cache_length": context,
        "quantization_recipe": recipe,
        "experimental_lightweight_conversion": lightweight,
    }


def _child(request: dict) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from litert_torch.generative.export_hf import export as export_hf

    from sdk_gen.errors import BadInput
    from sdk_gen.subprocess_log import report_bad_input

    arguments = request["export"]
    export_hf.export(**arguments)
    produced = Path(arguments["output_dir"]) / "model.litertlm"
    if not produced.is_file():
        print(f"error: litert-torch finished without writing {produced}", file=sys.stderr)
        return 3
    # Before the .task is built from it, so both formats carry the patch (zero_scales.py).
    from sdk_gen.runtimes.litert.zero_scales import NonZeroBlock, describe, patch_zero_scales

    try:
        patched = patch_zero_scales(produced)
    except NonZeroBlock as error:
        print(f"error: {produced.name}: {error}; LiteRT cannot run it", file=sys.stderr)
        return 3
    if patched:
        print(describe(patched), flush=True)
    task = request.get("task")
    if task:
        from transformers import AutoTokenizer

        from sdk_gen.runtimes.litert.task import build_task, reply_stop_ids

        model_dir = Path(task["model_dir"])
        try:
            build_task(model_dir, produced, Path(task["workdir"]), Path(task["out"]),
                       reply_stop_ids(model_dir, AutoTokenizer.from_pretrained(model_dir)))
        except BadInput as refusal:
            return report_bad_input(refusal)
    return 0


if __name__ == "__main__":
    sys.exit(_child(json.loads(sys.argv[1])))
