"""PEFT LoRA adapters: merged into their base before any runtime sees them.

Runtime LoRA is unreliable on phones (MediaPipe: GPU only, rank fixed at conversion; MLC: none;
LiteRT-LM: not exposed), while a merged checkpoint converts like any fine-tune. So sdkgen merges
with peft's ``merge_and_unload`` and converts the result, for every runtime.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from sdk_gen.errors import BadInput, ToolMissing
from sdk_gen.model.inspect import TOKENIZER_FILES


@dataclass(frozen=True)
class AdapterInfo:
    path: Path
    base_model: str | None
    peft_type: str
    rank: int | None
    target_modules: tuple[str, ...]


def read_adapter(adapter_dir: Path) -> AdapterInfo:
    adapter_dir = Path(adapter_dir)
    config_path = adapter_dir / "adapter_config.json"
    if not adapter_dir.is_dir():
        raise BadInput(f"adapter folder {adapter_dir} does not exist")
    if not config_path.is_file():
        raise BadInput(f"{adapter_dir} has no adapter_config.json; pass a PEFT adapter folder (saved with save_pretrained)")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        raise BadInput(f"{config_path} is not valid JSON ({exc.__class__.__name__}); re-save the adapter") from None
    peft_type = str(config.get("peft_type", "")).upper()
    if peft_type != "LORA":
        raise BadInput(f"{adapter_dir} is a {peft_type or 'unknown'} adapter; sdkgen merges LoRA adapters only")
    if not any((adapter_dir / name).is_file() for name in ("adapter_model.safetensors", "adapter_model.bin")):
        raise BadInput(f"{adapter_dir} has no adapter_model.safetensors; the adapter's weights are missing")
    targets = config.get("target_modules") or ()
    if isinstance(targets, str):
        targets = (targets,)
    return AdapterInfo(
        path=adapter_dir,
        base_model=config.get("base_model_name_or_path"),
        peft_type=peft_type,
        rank=config.get("r"),
        target_modules=tuple(targets),
    )


def base_model_for(adapter: AdapterInfo, model_arg: str | None) -> str:
    """The base to merge into: --model when given, else the adapter's recorded base."""
    if model_arg:
        return model_arg
    if adapter.base_model:
        return adapter.base_model
    raise BadInput(f"{adapter.path}/adapter_config.json names no base model; pass --model BASE")


def tokenizer_source(base_dir: Path, adapter: AdapterInfo) -> Path:
    """The folder whose tokenizer files the merged model carries: the adapter's when it ships its
    own tokenizer (a fine-tune that added tokens or changed the chat template), else the base's.

    One rule for the merge and for everything read from the merged model after its folder is
    gone (the generated apps' chat format, MLC's conversation template)."""
    return adapter.path if (adapter.path / "tokenizer_config.json").is_file() else base_dir


def merge_adapter(base_dir: Path, adapter: AdapterInfo, out_dir: Path) -> Path:
    """Write base + adapter, merged, as a plain Hugging Face checkpoint in ``out_dir``.

    peft and transformers run in a child process: they print warnings and progress bars, and the
    base model's memory is returned the moment the merge is written.
    """
    from sdk_gen.errors import ConversionFailed
    from sdk_gen.subprocess_log import BAD_INPUT_EXIT, bad_input_reported, describe_exit, run_python_module

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = out_dir.parent / "merge.log"
    request = {"base": str(base_dir), "adapter": str(adapter.path), "out": str(out_dir)}
    code = run_python_module("sdk_gen.adapters", [json.dumps(request)], log_path)
    if code == BAD_INPUT_EXIT and (refusal := bad_input_reported(log_path)):
        raise BadInput(refusal)
    if code == BAD_INPUT_EXIT + 2:
        raise ToolMissing("merging LoRA adapters needs peft; run scripts/setup.sh (or pip install 'sdkgen[adapters]')")
    if code != 0:
        raise ConversionFailed(f"merging {adapter.path} into {base_dir} failed: {describe_exit(code, log_path)}")
    return out_dir


def _merge_here(base_dir: Path, adapter: AdapterInfo, out_dir: Path) -> Path:
    try:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM
    except ImportError:
        raise ToolMissing("merging LoRA adapters needs peft; run scripts/setup.sh (or pip install 'sdkgen[adapters]')") from None

    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    try:
        peft_model = PeftModel.from_pretrained(base, adapter.path)
    except (RuntimeError, ValueError, KeyError) as exc:
        detail = " ".join(str(exc).split())[:300]
        raise BadInput(f"adapter {adapter.path} does not match base model {base_dir}: {detail}") from None
    merged = peft_model.merge_and_unload()
    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out_dir, safe_serialization=True)
    for name in ("generation_config.json",):
        if (base_dir / name).is_file() and not (out_dir / name).exists():
            shutil.copy2(base_dir / name, out_dir / name)
    tokenizer_dir = tokenizer_source(base_dir, adapter)
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).is_file():
            shutil.copy2(tokenizer_dir / name, out_dir / name)
    return out_dir


def _child(request: dict) -> int:
    from sdk_gen.subprocess_log import BAD_INPUT_EXIT, report_bad_input

    try:
        _merge_here(Path(request["base"]), read_adapter(Path(request["adapter"])), Path(request["out"]))
    except BadInput as refusal:
        return report_bad_input(refusal)
    except ToolMissing:
        return BAD_INPUT_EXIT + 2
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_child(json.loads(sys.argv[1])))
