"""Drive MLC LLM's CLI in a child process and pack what it produced into one bundle file.

The bundle (an uncompressed tar, what sdkgen caches and hands to the project generator):

    <model_id>/             mlc-chat-config.json, tensor-cache.json, params_shard_*.bin, tokenizer
    lib/<prefix>-<device>.tar   the model library `mlc_llm compile` built for the phone
    sdkgen-mlc.json         how it was built and MLC's own memory figures for it
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

from sdk_gen.runtimes.mlc.steps import MlcBuild, function_memory_mb, params_bytes

BUNDLE_META = "sdkgen-mlc.json"
MIB = 1024 * 1024


def _run(step_name: str, argv: tuple[str, ...]) -> str:
    """Run one MLC command, echoing its output into the log; return the output."""
    print(f"$ {' '.join(argv)}", flush=True)
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    captured = []
    assert child.stdout is not None
    for line in child.stdout:
        sys.stdout.write(line)
        captured.append(line)
    code = child.wait()
    if code != 0:
        raise RuntimeError(f"mlc_llm {step_name} failed (exit {code})")
    return "".join(captured)


def _reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # Same inputs, same bytes: the bundle's SHA-256 must not depend on when or by whom it was built.
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack_bundle(out: Path, weights: Path, library: Path, meta: dict) -> None:
    meta_path = out.parent / BUNDLE_META
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    # Plain ustar (no pax headers): the apps' small tar readers (ModelBundle) read exactly this.
    with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as bundle:
        for path in sorted(weights.rglob("*")):
            if path.is_file():
                bundle.add(path, f"{weights.name}/{path.relative_to(weights).as_posix()}", filter=_reset)
        bundle.add(library, f"lib/{library.name}", filter=_reset)
        bundle.add(meta_path, BUNDLE_META, filter=_reset)


def build(request: dict) -> None:
    work = Path(request["workdir"])
    spec = request["build"]
    plan = MlcBuild(
        model_dir=Path(spec["model_dir"]), quant=spec["quant"], conv_template=spec["conv_template"],
        context=spec["context"], prefill_chunk=spec["prefill_chunk"], platform=spec["platform"],
        prefix=spec["prefix"], model_id=spec["model_id"],
    )
    logs = {step.name: _run(step.name, step.argv) for step in plan.steps(work)}
    weights = work / plan.model_id
    library = work / "lib" / plan.lib_name
    functions = function_memory_mb(logs["compile"])
    meta = {
        "model_id": plan.model_id,
        "model_lib": plan.prefix,
        "device": plan.device,
        "conv_template": plan.conv_template,
        "context_window_size": plan.context,
        "prefill_chunk_size": plan.prefill_chunk,
        "library": f"lib/{library.name}",
        "params_bytes": params_bytes(weights),
        # The largest planned temporary buffer of any function (what model_metadata reports).
        "temp_bytes": int(max(functions.values()) * MIB) if functions else None,
        "function_memory_mb": functions,
        # What compiled the library: the phone runtime (mlc4j, MLCSwift) must come from the same
        # mlc-llm source, or loading fails on an ABI mismatch (mlc-llm#2832).
        "toolchain": request.get("toolchain", {}),
    }
    pack_bundle(Path(request["out"]), weights, library, meta)


if __name__ == "__main__":
    build(json.loads(sys.argv[1]))
