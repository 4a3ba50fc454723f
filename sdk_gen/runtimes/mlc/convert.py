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
from sdk_gen.subprocess_log import telling_line
from sdk_gen.units import MIB

BUNDLE_META = "sdkgen-mlc.json"


class MlcStepFailed(RuntimeError):
    """One MLC command failed; the message carries MLC's own last error line."""


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
        raise MlcStepFailed(f"mlc_llm {step_name} failed (exit {code}): {telling_line(captured)}")
    return "".join(captured)


def _reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # Same inputs, same bytes: the bundle's SHA-256 must not depend on when or by whom it was built.
    info.mtime = 0
    info.mode = 0o644 if info.isfile() else 0o755
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def normalise_library(library: Path) -> None:
    """Rewrite the model library tar MLC compiled so equal objects give equal bytes.

    TVM's export_library tars its object files with their real times, owner and directory order;
    the bundle's SHA-256 (the cache entry, the app's integrity check) must not depend on them.
    The object files inside are kept byte for byte."""
    rewritten = library.with_name(library.name + ".normalised")
    with tarfile.open(library) as source, tarfile.open(rewritten, "w", format=tarfile.USTAR_FORMAT) as target:
        for member in sorted(source.getmembers(), key=lambda m: m.name):
            if not member.isfile():
                continue
            data = source.extractfile(member)
            info = _reset(tarfile.TarInfo(member.name))
            info.size, info.mode = member.size, 0o644
            target.addfile(info, data)
    rewritten.replace(library)


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
    library = plan.library_path(work)
    # `compile -o` must name a file in an existing folder (MLC checks before compiling).
    library.parent.mkdir(parents=True, exist_ok=True)
    logs = {step.name: _run(step.name, step.argv) for step in plan.steps(work)}
    weights = work / plan.model_id
    normalise_library(library)
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
    try:
        build(json.loads(sys.argv[1]))
    except MlcStepFailed as failure:
        # One line for the parent (it reports the log's last error line), not a traceback.
        print(f"Error: {failure}", flush=True)
        sys.exit(1)
