"""`sdkgen doctor`: which runtimes can convert here, and what MLC's phone builds still need."""

from __future__ import annotations

from dataclasses import dataclass

from sdk_gen.runtimes import all_runtimes
from sdk_gen.runtimes.mlc.toolchain import DoctorReport, doctor as mlc_doctor


@dataclass(frozen=True)
class RuntimeStatus:
    key: str
    name: str
    ready: bool
    versions: dict[str, str]
    missing: str | None

    def to_json(self) -> dict:
        return {"runtime": self.key, "name": self.name, "ready": self.ready, "versions": self.versions, "missing": self.missing}


@dataclass(frozen=True)
class Diagnosis:
    runtimes: list[RuntimeStatus]
    mlc: DoctorReport

    def to_json(self) -> dict:
        return {"runtimes": [r.to_json() for r in self.runtimes], "mlc": self.mlc.to_json()}


def diagnose() -> Diagnosis:
    statuses = []
    mlc = mlc_doctor()
    for runtime in all_runtimes():
        missing = runtime.missing_tools()
        if runtime.key == "mlc":
            versions = {"mlc_llm": mlc.install.mlc_llm or "absent", "tvm": mlc.install.tvm or "absent"}
            if not missing and mlc.install.problems:
                missing = "; ".join(mlc.install.problems)
        else:
            versions = runtime.toolchain_versions()
        statuses.append(RuntimeStatus(runtime.key, runtime.display_name, missing is None, versions, missing))
    return Diagnosis(statuses, mlc)
