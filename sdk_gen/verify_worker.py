"""Host verification in a child process.

Native runtimes (LiteRT-LM, llama.cpp) write their own logs straight to the process's stderr and
keep large buffers alive; running the check in a child keeps sdkgen's own output to one line on
failure, frees that memory at once, and lets a crash in native code be reported rather than
take sdkgen down. Run as a module, this file is that child.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sdk_gen.errors import VerificationFailed
from sdk_gen.subprocess_log import describe_exit, run_python_module
from sdk_gen.verify import VerificationResult

if TYPE_CHECKING:
    from sdk_gen.conversion import ConversionJob


def run_verification(job: "ConversionJob", artifact: Path) -> VerificationResult:
    with tempfile.TemporaryDirectory(prefix="sdkgen-verify-") as scratch:
        result_path = Path(scratch) / "result.json"
        log_path = Path(scratch) / "verify.log"
        payload = {
            "runtime": job.runtime.key,
            "model_dir": str(job.model_dir),
            "spec_path": str(job.spec.path),
            "quant": job.quant.name,
            "context": job.context,
            "format": job.artifact_format,
            "backend": job.backend,
            "threads": job.threads,
            "pre_tokenizer": job.pre_tokenizer,
            "artifact": str(artifact),
            "result": str(result_path),
        }
        code = run_python_module("sdk_gen.verify_worker", [json.dumps(payload)], log_path)
        if code != 0 or not result_path.is_file():
            raise VerificationFailed(f"host verification of {artifact.name} crashed: {describe_exit(code, log_path)}")
        return VerificationResult.from_json(json.loads(result_path.read_text()))


def _child(payload: dict) -> int:
    from sdk_gen.conversion import ConversionJob
    from sdk_gen.model import inspect_model
    from sdk_gen.runtimes import get_runtime

    runtime = get_runtime(payload["runtime"])
    job = ConversionJob(
        model_dir=Path(payload["model_dir"]),
        spec=inspect_model(payload["spec_path"]),
        runtime=runtime,
        quant=runtime.quant(payload["quant"]),
        context=payload["context"],
        artifact_format=payload["format"],
        backend=payload["backend"],
        threads=payload["threads"],
        pre_tokenizer=payload["pre_tokenizer"],
    )
    result = runtime.verify_here(job, Path(payload["artifact"]))
    Path(payload["result"]).write_text(json.dumps(result.to_json()))
    return 0


if __name__ == "__main__":
    sys.exit(_child(json.loads(sys.argv[1])))
