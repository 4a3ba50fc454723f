"""What sdkgen asks of MLC LLM, as data: the commands it runs and the files it writes for MLC.

MLC's documented flow for a phone app (llm.mlc.ai, "Compile models" and "Android/iOS SDK"):

    mlc_llm gen_config MODEL --quantization Q --conv-template T [--context-window-size N
                       --prefill-chunk-size P] -o WEIGHTS          -> WEIGHTS/mlc-chat-config.json
    mlc_llm convert_weight MODEL --quantization Q -o WEIGHTS       -> WEIGHTS/params_shard_*.bin
    mlc_llm compile WEIGHTS/mlc-chat-config.json --device android|iphone
                    --system-lib-prefix PREFIX -o LIB.tar          -> the model library
    mlc_llm package  (in the app, reads mlc-package-config.json)   -> dist/lib, dist/bundle

Everything here is pure so the tests can hold it to that contract without MLC installed.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from sdk_gen.chat import ChatFormat

# MLC's device names for `compile --device` and `package`'s "device" field, per phone OS.
MLC_DEVICE = {"android": "android", "ios": "iphone"}

# MLC's registered conversation template per family, when the model's own chat template does not
# name a better one (python/mlc_llm/conversation_template/).
FAMILY_TEMPLATES = {
    "phi": "phi-2",
    "phi3": "phi-3",
    "llama": "llama-3",
    "mistral": "mistral_default",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
    "gemma": "gemma_instruction",
    "gemma2": "gemma_instruction",
    "gemma3": "gemma3_instruction",
}


def conv_template_for(family: str, chat: ChatFormat) -> str:
    """The MLC conversation template whose turns match the model's own chat template.

    A fine-tune that keeps its base's format gets the family's template; one trained on ChatML
    (or another family's markers) gets the template with those markers, because MLC formats
    prompts from this template and not from the tokenizer's (mlc-llm#1528: a fine-tune that
    "forgets" its format on device is usually this mismatch).
    """
    prefix = chat.user_prefix
    if not chat.from_template:
        return FAMILY_TEMPLATES[family]
    if "<|im_start|>" in prefix:
        return FAMILY_TEMPLATES[family] if family in ("qwen2", "qwen3") else "chatml_nosystem"
    if "<|start_header_id|>" in prefix:
        return "llama-3"
    if "<start_of_turn>" in prefix:
        return "gemma3_instruction" if family == "gemma3" else "gemma_instruction"
    if "<|user|>" in prefix:
        return "phi-3" if family == "phi3" else "tinyllama_v1_0"
    if "[INST]" in prefix:
        return "mistral_default" if family == "mistral" else "llama-2"
    return FAMILY_TEMPLATES[family]


def model_lib_prefix(name: str, quant: str) -> str:
    """The `model_lib` name: a C identifier, as MLC turns "-" into "_".

    The library's symbols carry this name plus "_" (`MlcBuild.system_lib_prefix`)."""
    stem = re.sub(r"[^A-Za-z0-9]+", "_", f"{name}_{quant}").strip("_").lower() or "model"
    return stem if not stem[0].isdigit() else f"m_{stem}"


def model_id(name: str, quant: str) -> str:
    """The folder the converted weights live in, named as MLC names its own (``<model>-<quant>-MLC``)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"
    return f"{stem}-{quant}-MLC"


@dataclass(frozen=True)
class MlcStep:
    name: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class MlcBuild:
    """One model built for one phone OS."""

    model_dir: Path
    quant: str
    conv_template: str
    context: int
    prefill_chunk: int
    platform: str  # "android" or "ios"
    prefix: str
    model_id: str

    @property
    def device(self) -> str:
        return MLC_DEVICE[self.platform]

    @property
    def lib_name(self) -> str:
        return f"{self.prefix}-{self.device}.tar"

    @property
    def system_lib_prefix(self) -> str:
        """What `compile --system-lib-prefix` gets: the model_lib name and "_". MLC's own jit does
        the same, `mlc_llm package` finds a library's model_lib by it, and the phone runtime looks
        its functions up under it; without the "_" package reports no model_libs at all."""
        return f"{self.prefix}_"

    def compile_flags(self) -> tuple[str, ...]:
        """The compile options that change the library's bytes (part of the cache key)."""
        return ("--device", self.device, "--system-lib-prefix", self.system_lib_prefix)

    def library_path(self, workdir: Path) -> Path:
        return workdir / "lib" / self.lib_name

    def steps(self, workdir: Path, python: str = sys.executable) -> list[MlcStep]:
        weights = workdir / self.model_id
        mlc = (python, "-m", "mlc_llm")
        return [
            MlcStep(
                "gen_config",
                (*mlc, "gen_config", str(self.model_dir), "--quantization", self.quant,
                 "--conv-template", self.conv_template, "--context-window-size", str(self.context),
                 "--prefill-chunk-size", str(self.prefill_chunk), "-o", str(weights)),
            ),
            MlcStep(
                "convert_weight",
                # The host has no GPU: quantize on the CPU.
                (*mlc, "convert_weight", str(self.model_dir), "--quantization", self.quant,
                 "--device", "cpu", "-o", str(weights)),
            ),
            MlcStep(
                "compile",
                (*mlc, "compile", str(weights / "mlc-chat-config.json"), *self.compile_flags(),
                 "-o", str(self.library_path(workdir))),
            ),
        ]


def package_config(build: MlcBuild, weights_path: str, lib_path: str, estimated_vram_bytes: int) -> dict:
    """`mlc-package-config.json` for `mlc_llm package` in the generated project.

    The weights are local, so "bundle_weight" must be true (package refuses a local model
    otherwise); "model_lib_path_for_prepare_libs" hands package the library sdkgen compiled, so it
    links that one instead of compiling again.
    """
    return {
        "device": build.device,
        "model_list": [
            {
                "model": weights_path,
                "model_id": build.model_id,
                "model_lib": build.prefix,
                "estimated_vram_bytes": int(estimated_vram_bytes),
                "bundle_weight": True,
                "overrides": {
                    "context_window_size": build.context,
                    "prefill_chunk_size": build.prefill_chunk,
                },
            }
        ],
        "model_lib_path_for_prepare_libs": {build.prefix: lib_path},
    }


# `compile` logs the planned memory of every function (compiler_pass/estimate_memory_usage.py):
#   [Memory usage] Function `prefill`: 12.34 MB
_FUNCTION_MEMORY = re.compile(r"\[Memory usage\] Function `([^`]+)`: ([0-9.]+) MB")


def function_memory_mb(compile_log: str) -> dict[str, float]:
    """Planned temporary memory per function, from `mlc_llm compile`'s log (MB = MiB there)."""
    return {name: float(mb) for name, mb in _FUNCTION_MEMORY.findall(compile_log)}


def params_bytes(weights_dir: Path) -> int:
    """Bytes of the converted parameters, from the weight cache's index (tensor-cache.json;
    ndarray-cache.json in MLC releases before the rename)."""
    for name in ("tensor-cache.json", "ndarray-cache.json"):
        index = weights_dir / name
        if index.is_file():
            records = json.loads(index.read_text(encoding="utf-8")).get("records", [])
            return sum(int(shard["nbytes"]) for shard in records)
    raise FileNotFoundError(f"{weights_dir} has no tensor-cache.json (MLC's weight index)")


def kv_bytes_per_token(head_dim: int, num_layers: int, num_kv_heads: int, quant: str) -> int:
    """MLC's own figure (cli/model_metadata.py): K and V per layer, fp32 for *f32* formats else fp16."""
    dtype_bytes = 4 if "f32" in quant else 2
    return head_dim * num_layers * num_kv_heads * dtype_bytes * 2
