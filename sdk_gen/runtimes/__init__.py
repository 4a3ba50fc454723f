"""Runtime plug-ins. Built-ins are listed here; third-party runtimes register an entry point
in the ``sdkgen.runtimes`` group pointing at a Runtime subclass."""

from __future__ import annotations

from importlib.metadata import entry_points

from sdk_gen.errors import BadInput
from sdk_gen.runtimes.base import QuantFormat, Runtime
from sdk_gen.runtimes.executorch import ExecuTorchRuntime
from sdk_gen.runtimes.litert import LiteRtRuntime
from sdk_gen.runtimes.llamacpp import LlamaCppRuntime
from sdk_gen.runtimes.mlc import MlcRuntime

BUILTIN_RUNTIMES: tuple[type[Runtime], ...] = (LiteRtRuntime, LlamaCppRuntime, MlcRuntime, ExecuTorchRuntime)


def all_runtimes() -> list[Runtime]:
    """Every runtime, built-ins first in their preference order for `--runtime auto`."""
    found = [cls() for cls in BUILTIN_RUNTIMES]
    known = {r.key for r in found}
    for entry in entry_points(group="sdkgen.runtimes"):
        if entry.name not in known:
            found.append(entry.load()())
            known.add(entry.name)
    return found


def get_runtime(key: str) -> Runtime:
    for runtime in all_runtimes():
        if runtime.key == key:
            return runtime
    names = ", ".join(r.key for r in all_runtimes())
    raise BadInput(f"unknown runtime {key!r}; choose one of: auto, {names}")


def check_runtime_supports(runtime: Runtime, spec) -> None:
    """Refuse a model the runtime cannot convert, naming a runtime that can."""
    reason = runtime.unsupported_reason(spec)
    if reason:
        others = [r.key for r in all_runtimes() if r.key != runtime.key and not r.unsupported_reason(spec)]
        hint = f"; try --runtime {others[0]}" if others else ""
        raise BadInput(f"{reason}{hint}")


__all__ = ["QuantFormat", "Runtime", "all_runtimes", "check_runtime_supports", "get_runtime"]
