"""Choose runtime, quantization, context and backend for a model on a device.

What the user asked for explicitly is honoured or refused; everything else is searched, best
quality first, for the first plan that fits the device with the safety margin. A refusal names
the cheapest single change that would fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sdk_gen.budget import SAFETY_MARGIN, MemoryBudget, compute_budget
from sdk_gen.errors import BadInput, DoesNotFit
from sdk_gen.formats import format_for_os
from sdk_gen.model.spec import ModelSpec
from sdk_gen.profiles import DeviceProfile
from sdk_gen.runtimes import all_runtimes, check_runtime_supports, get_runtime
from sdk_gen.runtimes.base import QuantFormat, Runtime
from sdk_gen.runtimes.engine import PhoneEngine
from sdk_gen.units import human_bytes

# The context a plan or a conversion uses when the user names none (capped at the model's maximum).
DEFAULT_CONTEXT = 2048
# Contexts tried, longest first, when the user names none and the default does not fit.
FALLBACK_CONTEXTS = (DEFAULT_CONTEXT, 1024, 512, 256)
MAX_CONTEXT_ACCEPTED = 1 << 20


@dataclass(frozen=True)
class PlanRequest:
    runtime: str = "auto"
    quant: str | None = None
    context: int | None = None
    backend: str | None = None  # "cpu", "gpu" or None for the runtime's preference
    allow_entitlement: bool = True  # iOS: may the plan rely on increased-memory-limit?
    # Project commands plan only runtimes that have a wrapper for their platform.
    needs_platform_wrapper: bool = False


@dataclass(frozen=True)
class Plan:
    runtime: Runtime
    quant: QuantFormat  # one of runtime's formats
    context: int
    backend: str
    threads: int
    memory_entitlement: bool  # iOS: the app needs com.apple.developer.kernel.increased-memory-limit
    reasons: tuple[str, ...] = field(default=())

    def to_json(self) -> dict:
        return {
            "runtime": self.runtime.key,
            "quant": self.quant.name,
            "context": self.context,
            "backend": self.backend,
            "threads": self.threads,
            "memory_entitlement": self.memory_entitlement,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class PlanResult:
    spec: ModelSpec
    profile: DeviceProfile
    plan: Plan
    budget: MemoryBudget

    def to_json(self) -> dict:
        return {
            "model": self.spec.to_json(),
            "profile": self.profile.to_json(),
            "plan": self.plan.to_json(),
            "budget": self.budget.to_json(),
        }


@dataclass(frozen=True)
class _Candidate:
    runtime: Runtime
    quant: QuantFormat
    context: int
    backend: str
    entitled: bool


def make_plan(spec: ModelSpec, profile: DeviceProfile, request: PlanRequest = PlanRequest()) -> PlanResult:
    """Return the best plan that fits, or raise BadInput / DoesNotFit with one actionable line."""
    check_context(spec, request.context)
    runtimes = _candidate_runtimes(spec, profile, request)
    contexts = _candidate_contexts(spec, request.context)
    entitlements = _entitlement_options(profile, request)

    candidates = []
    for runtime_rank, runtime in enumerate(runtimes):
        backend = _choose_backend(runtime, profile, request.backend)
        for quant in _candidate_quants(spec, runtime, request.quant):
            candidates.append((runtime_rank, runtime, quant, backend))
    # Best quality first; the runtime preference order breaks ties.
    candidates.sort(key=lambda c: (-c[2].quality, c[0]))

    for context in contexts:
        for _, runtime, quant, backend in candidates:
            for entitled in entitlements:
                cand = _Candidate(runtime, quant, context, backend, entitled)
                budget = _budget(spec, profile, cand)
                if budget.fits:
                    return PlanResult(spec, profile, _plan(spec, profile, cand, request, budget), budget)

    raise DoesNotFit(_refusal(spec, profile, request, candidates, contexts, entitlements))


def check_context(spec: ModelSpec, context: int | None) -> None:
    if context is None:
        return
    if context <= 0:
        raise BadInput(f"--context must be a positive number of tokens, got {context}")
    if context > MAX_CONTEXT_ACCEPTED or context > spec.max_context:
        raise BadInput(
            f"--context {context} exceeds this model's maximum of {spec.max_context} tokens "
            f"(max_position_embeddings); use --context {min(spec.max_context, DEFAULT_CONTEXT)} or less"
        )


def writes_projects_for(runtime: Runtime, target_os: str) -> bool:
    """Can `sdkgen <os>` wrap this runtime's artifacts: does it bring an engine with a target for
    the project format that OS gets? (`--runtime auto` skips one that does not; naming it explicitly
    gets the one-line reason from project.check_engine.)"""
    project_format = format_for_os(target_os).key
    return any(
        os_name == target_os and isinstance(engine, PhoneEngine) and engine.target(project_format) is not None
        for (os_name, _), engine in runtime.engines.items()
    )


def _candidate_runtimes(spec: ModelSpec, profile: DeviceProfile, request: PlanRequest) -> list[Runtime]:
    if request.runtime != "auto":
        runtime = get_runtime(request.runtime)
        if profile.platform not in runtime.platforms:
            raise BadInput(f"{runtime.display_name} does not target {profile.platform}; choose another --runtime")
        check_runtime_supports(runtime, spec)
        if request.needs_platform_wrapper and not runtime.supports_platform(profile.platform):
            raise BadInput(f"sdkgen has no {profile.platform} wrapper for {runtime.display_name} yet; choose another --runtime")
        return [runtime]
    runtimes = [
        r for r in all_runtimes() if r.auto_selects(profile.platform) and profile.platform in r.platforms and not r.unsupported_reason(spec)
    ]
    if request.needs_platform_wrapper:
        runtimes = [r for r in runtimes if writes_projects_for(r, profile.platform)]
    if request.quant is not None:
        runtimes = [r for r in runtimes if r.quant(request.quant)]
        if not runtimes:
            raise BadInput(f"unknown --quant {request.quant!r}; {_quant_menu(spec, profile)}")
    if not runtimes:
        raise BadInput(f"no runtime can convert {spec.architecture} for {profile.platform}")
    return runtimes


def _quant_menu(spec: ModelSpec, profile: DeviceProfile) -> str:
    parts = [
        f"{r.key}: {', '.join(r.quant_formats())}"
        for r in all_runtimes()
        if profile.platform in r.platforms and not r.unsupported_reason(spec)
    ]
    return "choose one of " + "; ".join(parts)


def _candidate_quants(spec: ModelSpec, runtime: Runtime, requested: str | None) -> list[QuantFormat]:
    if requested is not None:
        quant = runtime.quant(requested)
        if quant is None:
            raise BadInput(
                f"unknown --quant {requested!r} for {runtime.display_name}; choose one of: {', '.join(runtime.quant_formats())}"
            )
        reason = quant.unsupported_reason(spec)
        if reason:
            raise BadInput(f"--quant {requested} cannot be used with this model: {reason}")
        return [quant]
    return [q for q in runtime.ranked_quants() if q.auto and not q.unsupported_reason(spec)]


def _candidate_contexts(spec: ModelSpec, requested: int | None) -> list[int]:
    if requested is not None:
        return [requested]
    contexts = [c for c in FALLBACK_CONTEXTS if c <= spec.max_context]
    return contexts or [spec.max_context]


def _entitlement_options(profile: DeviceProfile, request: PlanRequest) -> list[bool]:
    if profile.platform == "ios" and request.allow_entitlement and profile.app_memory_entitled_gib is not None:
        return [False, True]  # use the entitlement only when the plan needs it
    return [False]


def _choose_backend(runtime: Runtime, profile: DeviceProfile, requested: str | None) -> str:
    offered = runtime.backends(profile.platform)
    if requested is not None:
        if requested not in offered:
            raise BadInput(f"{runtime.display_name} has no {requested} backend on {profile.platform}; choose {' or '.join(offered)}")
        if requested == "gpu" and runtime.gpu_api(profile.platform) not in profile.gpu_apis:
            raise BadInput(
                f"{runtime.display_name}'s GPU backend needs {runtime.gpu_api(profile.platform)}, which {profile.name} "
                f"does not offer ({', '.join(profile.gpu_apis)}); use --backend cpu"
            )
        return requested
    for backend in offered:
        if backend == "cpu" or runtime.gpu_api(profile.platform) in profile.gpu_apis:
            return backend
    raise BadInput(
        f"{runtime.display_name} needs {runtime.gpu_api(profile.platform)} on the GPU, which {profile.name} does not offer"
    )


def _budget(spec: ModelSpec, profile: DeviceProfile, cand: _Candidate) -> MemoryBudget:
    return compute_budget(spec, cand.runtime, cand.quant, cand.context, cand.backend, profile, cand.entitled)


def _plan(spec: ModelSpec, profile: DeviceProfile, cand: _Candidate, request: PlanRequest, budget: MemoryBudget) -> Plan:
    reasons = []
    if request.runtime == "auto":
        reasons.append(f"{cand.runtime.display_name}: first runtime for {profile.platform} that converts {spec.family}")
    if request.quant is None:
        reasons.append(f"{cand.quant.name}: the best quality that fits with the {int(SAFETY_MARGIN * 100)}% margin")
    if request.context is None:
        if cand.context < min(DEFAULT_CONTEXT, spec.max_context):
            reasons.append(f"context {cand.context}: the longest of {FALLBACK_CONTEXTS} that fits")
        else:
            reasons.append(f"context {cand.context}: sdkgen's default, within the model's {spec.max_context}")
    if cand.entitled:
        reasons.append(
            f"needs com.apple.developer.kernel.increased-memory-limit: {human_bytes(budget.total_bytes)} exceeds the "
            f"default per-app limit's usable {human_bytes(_usable(profile.app_memory_bytes))}"
        )
    return Plan(
        runtime=cand.runtime,
        quant=cand.quant,
        context=cand.context,
        backend=cand.backend,
        threads=profile.cpu_big_cores,
        memory_entitlement=cand.entitled,
        reasons=tuple(reasons),
    )


def _usable(budget_bytes: int) -> int:
    return budget_bytes - int(budget_bytes * SAFETY_MARGIN)


def _refusal(
    spec: ModelSpec,
    profile: DeviceProfile,
    request: PlanRequest,
    candidates: list,
    contexts: list[int],
    entitlements: list[bool],
) -> str:
    """One line: what was asked, what it needs, what the device allows, and the cheapest way out."""
    explicit = request.quant is not None or request.context is not None or not request.allow_entitlement
    if explicit:
        _, runtime, quant, backend = candidates[0]
        asked = _Candidate(runtime, quant, contexts[0], backend, entitlements[-1])
        what = f"{spec.path.name} with {runtime.display_name} {quant.name} at {asked.context} tokens"
    else:
        _, runtime, quant, backend = min(candidates, key=lambda c: (c[2].quality, c[0]))
        asked = _Candidate(runtime, quant, contexts[-1], backend, entitlements[-1])
        what = f"even the smallest plan for {spec.path.name} ({runtime.display_name} {quant.name} at {asked.context} tokens)"
    needed = _budget(spec, profile, asked)
    head = (
        f"{what} needs {human_bytes(needed.total_bytes)} but {profile.id} allows "
        f"{human_bytes(_usable(needed.budget_bytes))} ({human_bytes(needed.budget_bytes)} less the "
        f"{int(SAFETY_MARGIN * 100)}% margin)"
    )
    return f"{head}; {_cheapest_change(spec, profile, asked)}"


def _cheapest_change(spec: ModelSpec, profile: DeviceProfile, asked: _Candidate) -> str:
    def fits(**changes) -> MemoryBudget | None:
        values = {**asked.__dict__, **changes}
        budget = _budget(spec, profile, _Candidate(**values))
        return budget if budget.fits else None

    # 1. The entitlement costs no quality.
    if profile.platform == "ios" and not asked.entitled and profile.app_memory_entitled_gib is not None:
        if budget := fits(entitled=True):
            return (
                "cheapest change that fits: allow the increased-memory-limit entitlement (drop --no-memory-entitlement; "
                f"{human_bytes(budget.total_bytes)})"
            )
    # 2. A shorter context keeps the model's quality; prefer it while it keeps at least half.
    shorter = _longest_fitting_context(spec, profile, asked)
    lower = None
    for quant in asked.runtime.ranked_quants():
        if quant.quality < asked.quant.quality and not quant.unsupported_reason(spec):
            if budget := fits(quant=quant):
                lower = (quant, budget)
                break
    if shorter and (shorter >= asked.context // 2 or lower is None):
        budget = fits(context=shorter)
        return f"cheapest change that fits: --context {shorter} ({human_bytes(budget.total_bytes)})"
    if lower:
        return f"cheapest change that fits: --quant {lower[0].name} ({human_bytes(lower[1].total_bytes)})"
    # 3. Nothing on this runtime fits: say so, and where the model would fit.
    other_runtimes = [
        r for r in all_runtimes()
        if r.key != asked.runtime.key and profile.platform in r.platforms and not r.unsupported_reason(spec) and r.auto_selects(profile.platform)
    ]
    for runtime in other_runtimes:
        for quant in runtime.ranked_quants():
            if quant.unsupported_reason(spec):
                continue
            backend = _choose_backend(runtime, profile, None)
            if fits(runtime=runtime, quant=quant, backend=backend):
                return f"cheapest change that fits: --runtime {runtime.key} --quant {quant.name}"
    bigger = _profiles_where_it_fits(spec, profile, asked)
    where = f" (it fits on {', '.join(bigger)})" if bigger else ""
    return f"no quantization or context of this runtime fits: use a smaller model or a device with more memory{where}"


def _longest_fitting_context(spec: ModelSpec, profile: DeviceProfile, asked: _Candidate) -> int | None:
    """The longest context (a multiple of 128, at least 128) that fits with the asked quant."""
    low, high = 0, asked.context // 128
    while low < high:
        mid = (low + high + 1) // 2
        cand = _Candidate(asked.runtime, asked.quant, mid * 128, asked.backend, asked.entitled)
        if _budget(spec, profile, cand).fits:
            low = mid
        else:
            high = mid - 1
    return low * 128 if low else None


def _profiles_where_it_fits(spec: ModelSpec, profile: DeviceProfile, asked: _Candidate) -> list[str]:
    from sdk_gen.profiles import list_profiles

    found = []
    for other in list_profiles():
        if other.platform != profile.platform or other.id == profile.id:
            continue
        entitled = other.platform == "ios" and other.app_memory_entitled_gib is not None
        smallest = min(asked.runtime.ranked_quants(), key=lambda q: q.quality)
        cand = _Candidate(asked.runtime, smallest, min(asked.context, 512), asked.backend, entitled)
        if _budget(spec, other, cand).fits:
            found.append(other.id)
    return found[:3]
