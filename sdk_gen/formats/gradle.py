"""The Gradle (Kotlin DSL) project format, for Android: an `:llm` SDK module and a Compose `:app`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdk_gen import pins
from sdk_gen.errors import BadInput
from sdk_gen.formats import gradle_wrapper
from sdk_gen.formats.base import Generation, ProjectFormat, slug
from sdk_gen.units import MIB


@dataclass(frozen=True)
class AndroidVersions:
    """Pinned build versions (Kotlin is the one sdkgen's own checks compile the code with)."""

    gradle: str = "8.13"
    # Gradle's published SHA-256 of gradle-<gradle>-bin.zip: the wrapper refuses any other download.
    gradle_sha256: str = "20f1b1176237254a6fc204d8434196fa11a4cfb387567519c61556e8710aed78"
    agp: str = "8.13.2"
    kotlin: str = pins.KOTLIN
    coroutines: str = "1.10.2"
    core_ktx: str = "1.17.0"
    activity_compose: str = "1.12.2"
    lifecycle: str = "2.10.0"
    work: str = "2.11.1"  # androidx.work:work-runtime-ktx, only for download delivery
    compose_bom: str = "2025.12.01"
    junit: str = "4.13.2"
    androidx_test_ext_junit: str = "1.3.0"
    androidx_test_runner: str = "1.7.0"


COMPILE_SDK = 36
TARGET_SDK = 36

_KEYWORDS = frozenset(
    """
    abstract as assert boolean break byte case catch char class const continue default do double else enum
    extends false final finally float for fun goto if implements import in instanceof int interface is long
    native new null object package private protected public return short static strictfp super switch
    synchronized this throw throws transient true try typealias typeof val var void volatile when while
    """.split()
)
# fullmatch, not match + "$": "$" would accept a trailing newline.
_SEGMENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def check_package(package: str) -> str:
    """An Android application id that is also a valid Kotlin/Java package."""
    segments = package.split(".")
    problem = None
    if len(segments) < 2:
        problem = "it needs at least two dot-separated parts, like com.example.app"
    else:
        for segment in segments:
            if not _SEGMENT.fullmatch(segment):
                problem = f"part {segment!r} must start with a letter and hold only letters, digits and _"
                break
            if segment in _KEYWORDS:
                problem = f"part {segment!r} is a Kotlin/Java keyword"
                break
    if problem:
        shown = package.encode("unicode_escape").decode("ascii")
        raise BadInput(f"invalid --package {shown!r}: {problem}")
    return package


def default_package(model_name: str) -> str:
    tail = re.sub(r"[^a-z0-9]", "", model_name.lower()) or "model"
    if not tail[0].isalpha():
        tail = "m" + tail
    if tail in _KEYWORDS:
        tail += "app"
    return f"com.example.{tail}"


class GradleFormat(ProjectFormat):
    key = "gradle"
    versions = AndroidVersions()

    def check_app_id(self, app_id: str) -> str:
        return check_package(app_id)

    def default_app_id(self, model_name: str) -> str:
        return default_package(model_name)

    def path_vars(self, generation: Generation) -> dict[str, str]:
        return {"__package__": generation.options.app_id.replace(".", "/")}

    def binary_files(self, generation: Generation) -> dict[str, Path]:
        # context() fetched it when it could; without it the README says how to make one.
        jar = gradle_wrapper.cached_jar()
        return {gradle_wrapper.JAR_PATH_IN_PROJECT: jar} if jar else {}

    def check_min_os(self, engine_key: str, min_os: str) -> None:
        if not (min_os.isdigit() and 21 <= int(min_os) <= COMPILE_SDK):
            raise BadInput(f"the '{engine_key}' engine's minimum Android {min_os!r} is not an API level from 21 to {COMPILE_SDK}")

    def context(self, generation: Generation) -> dict[str, Any]:
        result = generation.conversion
        profile = result.plan.profile
        engine, extra, runtime_version = self.engine_values(generation)
        # The runtime's own minimum, not the profile's: the profile sizes the memory budget, and an
        # SDK that refused every phone older than it would turn away devices it can serve (the
        # on-device memory gate decides per phone).
        min_sdk = int(engine.min_os)
        min_reason = (
            f"{generation.engine.display_name}'s minimum; the memory budget was sized for the {profile.id} "
            f"profile ({profile.os_minimum}), and the on-device memory check decides per phone"
        )
        total_mb = generation.budget.total_bytes // MIB
        wrapper = gradle_wrapper.wrapper_jar()
        context = self.base_context(generation)
        # Android says "asset" for files shipped inside the APK.
        context["artifact"]["delivery"] = "asset" if generation.delivery == "bundled" else generation.delivery
        context.update(extra)
        context.update(
            package=generation.options.app_id,
            project_slug=slug(generation.options.app_name, fallback="ondevice-llm"),
            engine=engine,
            runtime_display=generation.engine.display_name,
            engine_class=engine.class_name,
            abis=engine.abis,
            no_compress=engine.uncompressed or (result.job.artifact_name.rsplit(".", 1)[-1],),
            abi_note=engine.abi_note,
            keep_rules=engine.rules_for(f"{generation.options.app_id}.llm"),
            sdk={"compile": COMPILE_SDK, "target": TARGET_SDK, "min": min_sdk, "min_reason": min_reason},
            versions={
                **self.versions.__dict__,
                **engine.version_overrides,
                "runtime_host": result.toolchain.get(generation.engine.host_package, ""),
                "runtime_android": runtime_version,
            },
            gradle_wrapper={
                "included": wrapper.path is not None,
                "jar_path": gradle_wrapper.JAR_PATH_IN_PROJECT,
                "jar_version": f"Gradle {gradle_wrapper.WRAPPER_JAR.jar_gradle_version}",
                "missing_reason": wrapper.missing_reason,
            },
            emulator={
                # The smoke test runs on the Android the profile's device runs (its budget's device).
                "api_level": max(min_sdk, profile.android_api_level, 33),
                "arch": "x86_64",
                "ram_mb": 4096 if total_mb < 2500 else 6144,
                "disk_mb": 6000 + 2 * result.artifact.bytes // MIB,
            },
        )
        return context
