"""Host verification in a child process.

Native runtimes (LiteRT-LM, llama.cpp) write their own logs straight to the process's stderr and
keep large buffers alive; running the check in a child keeps sdkgen's own output to one line on
failure, frees that memory at once, and lets a crash in native code be reported rather than
take sdkgen down. Run as a module, this file is that child: it rebuilds the job, runtime
included, from the registry, so it sits above the runtimes (which never import it).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from sdk_gen.errors import DoesNotFit, VerificationFailed
from sdk_gen.model import inspect_model
from sdk_gen.runtimes import get_runtime
from sdk_gen.runtimes.base import ConversionJob
from sdk_gen.subprocess_log import describe_exit, run_python_module
from sdk_gen.units import KIB
from sdk_gen.verification_memory import (
    INTERPRETER_BYTES,
    REFERENCE_BYTES_PER_PARAM,
    VerificationMemoryPlan,
    plan_verification_memory,
)
from sdk_gen.verify import WHOLE_MODEL, VerificationResult


def available_memory_bytes() -> int:
    """MemAvailable: what this machine can give a new process without swapping."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * KIB  # meminfo counts in kB (KiB)
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def predicted_peak_bytes(job: ConversionJob, artifact_bytes: int) -> int:
    """Peak memory of a verification holding the whole float32 reference beside the runtime."""
    reference = REFERENCE_BYTES_PER_PARAM * job.spec.num_params
    runtime = int(artifact_bytes * (1.0 + job.quant.cpu_load_copy))
    return reference + runtime + INTERPRETER_BYTES


def check_machine_memory(job: ConversionJob, artifact_bytes: int, available: int | None = None) -> VerificationMemoryPlan:
    """The verification's memory plan on this machine (``available``: its free memory, read when
    not given); refuse, before it starts, a verification no reference mode fits (it would swap
    for minutes and end in the out-of-memory killer), with the figures and the way out."""
    plan = plan_verification_memory(job, artifact_bytes, available_memory_bytes() if available is None else available)
    refusal = plan.refusal(job.runtime.display_name, job.spec.num_params)
    if refusal:
        raise DoesNotFit(refusal)
    return plan


def run_verification(job: ConversionJob, artifact: Path) -> VerificationResult:
    """Run ``job.runtime.verify_here`` on ``artifact`` in a child process and return its result."""
    plan = check_machine_memory(job, artifact.stat().st_size)
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
            "name": job.name,
            "platform": job.platform,
            "tokenizer_dir": str(job.tokenizer_dir) if job.tokenizer_dir else None,
            "reference_dir": str(job.reference_dir) if job.reference_dir else None,
            "artifact": str(artifact),
            "reference_mode": plan.mode,
            "result": str(result_path),
        }
        code = run_python_module("sdk_gen.verify_worker", [json.dumps(payload)], log_path)
        if code != 0 or not result_path.is_file():
            raise VerificationFailed(f"host verification of {artifact.name} crashed: {describe_exit(code, log_path)}")
        return VerificationResult.from_json(json.loads(result_path.read_text()))


def _child(payload: dict) -> int:
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
        name=payload["name"],
        platform=payload["platform"],
        tokenizer_dir=Path(payload["tokenizer_dir"]) if payload["tokenizer_dir"] else None,
        reference_dir=Path(payload["reference_dir"]) if payload["reference_dir"] else None,
    )
    # Only verifications that support another reference mode are ever planned with one.
    mode = payload["reference_mode"]
    more = {} if mode == WHOLE_MODEL else {"reference_mode": mode}
    result = runtime.verify_here(job, Path(payload["artifact"]), **more)
    Path(payload["result"]).write_text(json.dumps(result.to_json()))
    return 0


if __name__ == "__main__":
    sys.exit(_child(json.loads(sys.argv[1])))
