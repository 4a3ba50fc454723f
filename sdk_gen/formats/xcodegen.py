"""The XcodeGen + SwiftPM project format, for iOS: a Swift package (`LLMKit`) with the SDK, and a
SwiftUI app described for XcodeGen."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from sdk_gen.errors import BadInput
from sdk_gen.formats.base import Generation, ProjectFormat
from sdk_gen.units import GIB


# fullmatch, not match + "$": "$" would accept a trailing newline.
_BUNDLE_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")


def check_bundle_id(bundle_id: str) -> str:
    """A reverse-DNS bundle identifier: letters, digits and hyphens in at least two parts."""
    segments = bundle_id.split(".")
    problem = None
    if len(segments) < 2:
        problem = "it needs at least two dot-separated parts, like com.example.app"
    else:
        for segment in segments:
            if not _BUNDLE_SEGMENT.fullmatch(segment):
                problem = f"part {segment!r} may hold only letters, digits and hyphens, and must not start with a hyphen"
                break
    if problem:
        shown = bundle_id.encode("unicode_escape").decode("ascii")
        raise BadInput(f"invalid --bundle-id {shown!r}: {problem}")
    return bundle_id


def default_bundle_id(model_name: str) -> str:
    tail = re.sub(r"[^a-z0-9]", "", model_name.lower()) or "model"
    return f"com.example.{tail}"


def target_name(app_name: str) -> str:
    """An Xcode target name that is also a valid Swift module name (for `@testable import`)."""
    words = re.findall(r"[A-Za-z0-9]+", app_name)
    name = "".join(word[:1].upper() + word[1:] for word in words)
    if not name or not name[0].isalpha():
        name = "OnDevice" + name if name else "OnDeviceChat"
    return name[:50]


def memory_plan(budget, plan, profile) -> dict[str, Any]:
    """The thresholds the generated MemoryGuard applies, as data (Resources/MemoryPlan.json).

    The model may load when os_proc_available_memory() plus the resident credit is at least
    min_available_bytes, i.e. when the planned footprint uses at most (1 - margin) of what the
    process may still allocate. The credit: os_proc_available_memory() is measured with the app
    already running, so what the process holds is spent already; up to the plan's runtime overhead
    (which includes the app's own baseline) of that footprint is part of required_bytes, and
    counting it again would refuse plans that fit.
    """
    required = budget.total_bytes
    margin = budget.margin_bytes / budget.budget_bytes
    return {
        "required_bytes": required,
        "safety_margin": round(margin, 6),
        "min_available_bytes": math.ceil(required / (1 - margin)),
        "resident_credit_bytes": budget.overhead_bytes,
        "needs_increased_memory_limit": plan.memory_entitlement,
        "default_limit_bytes": profile.app_memory_bytes,
        "entitled_limit_bytes": profile.app_memory_entitled_bytes,
        "profile": profile.id,
    }


def memory_fits(plan_json: dict, available_bytes: int, footprint_bytes: int = 0) -> bool:
    """The decision MemoryGuard.swift makes with MemoryPlan.json (MemoryPlan.fits): what the process
    may still allocate, plus the part of what it already holds that the plan counts."""
    credit = min(max(footprint_bytes, 0), plan_json["resident_credit_bytes"])
    return available_bytes + credit >= plan_json["min_available_bytes"]


class XcodeGenFormat(ProjectFormat):
    key = "xcodegen"

    def check_app_id(self, app_id: str) -> str:
        return check_bundle_id(app_id)

    def default_app_id(self, model_name: str) -> str:
        return default_bundle_id(model_name)

    def path_vars(self, generation: Generation) -> dict[str, str]:
        return {"__target__": target_name(generation.options.app_name)}

    def check_min_os(self, engine_key: str, min_os: str) -> None:
        if not re.fullmatch(r"\d{2}\.\d{1,2}", min_os):
            raise BadInput(f"the '{engine_key}' engine's minimum iOS {min_os!r} is not a version like \"16.4\"")

    def context(self, generation: Generation) -> dict[str, Any]:
        result = generation.conversion
        profile = result.plan.profile
        plan = result.plan.plan
        engine, extra, _runtime_version = self.engine_values(generation)
        # The runtime's own minimum, not the profile's: the profile sizes the memory budget, and an
        # app that refused every iPhone older than it would turn away devices it can serve (the
        # on-device memory check decides per phone).
        reason = (
            f"{generation.engine.display_name}'s package needs iOS {engine.min_os}; the memory "
            f"budget was sized for the {profile.id} profile ({profile.os_minimum})"
        )
        plan_json = memory_plan(generation.budget, plan, profile)
        bundle_id = generation.options.app_id
        context = self.base_context(generation)
        context["artifact"]["swift_delivery"] = generation.delivery
        context.update(extra)
        context.update(
            engine=engine,
            engine_class=engine.class_name,
            bundle_id=bundle_id,
            bundle_prefix=bundle_id.rsplit(".", 1)[0],
            target_name=target_name(generation.options.app_name),
            runtime_display=generation.engine.display_name,
            ios={
                "deployment_target": engine.min_os,
                "macos_target": engine.min_host_os,
                "reason": reason,
                "device_family": "1,2" if profile.form_factor == "tablet" else "1",  # iPhone, or iPhone and iPad
            },
            memory_plan=plan_json,
            memory_plan_json=json.dumps(plan_json, indent=2),
            default_limit=profile.app_memory_bytes,
            # Address space beyond 4 GB: needed once the mappings outgrow it (mlc-llm#1260).
            extended_addressing=plan.memory_entitlement and generation.budget.total_bytes > 4 * GIB,
        )
        return context
