"""A phone engine: the wrapper a generated project puts around one runtime's artifact.

An engine is one unit owned by its runtime: its facts are data here (class name, minimum OS,
ABIs, dependencies with their pins, R8 keep rules, whether a host smoke test can load the model)
and its engine-only templates live in one overlay folder per project format. The shared templates
of a project format never name an engine: they loop over these facts, and where an engine adds
text to a shared file they include a named *hook* that the overlay may provide
(`{% include "hook/<name>" ignore missing %}`).

An overlay folder is laid out like the project it adds to; its `_hooks/` folder holds the hooks
and is not copied. A runtime from a plug-in ships its own overlay folders and needs no edit here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from sdk_gen.resources import data_dir

@dataclass(frozen=True)
class Library:
    """A package the engine's SDK depends on, with the version it was verified with.

    Gradle reads ``group:name`` from a version catalog (``alias`` and ``version_key`` name its
    entries); SwiftPM reads ``url`` and ``product``; CocoaPods reads ``name``; an XCFramework the
    project builds itself is ``name`` at the path ``url``."""

    kind: str  # "maven", "swiftpm", "pod", "xcframework" or "npm"
    name: str
    version: str
    group: str = ""
    alias: str = ""
    version_key: str = ""
    url: str = ""  # SwiftPM: the package's repository; an XCFramework: its path in the project
    product: str = ""
    note: str = ""  # the comment the manifest carries above it

    @property
    def accessor(self) -> str:
        """Gradle's type-safe accessor for a catalog alias (`litertlm-android` -> `libs.litertlm.android`)."""
        return "libs." + self.alias.replace("-", ".")


@dataclass(frozen=True)
class EngineTarget:
    """What one engine brings to one project format."""

    project_format: str  # "gradle", "xcodegen", ...
    class_name: str  # the engine class the SDK's factory creates
    min_os: str  # the oldest OS the runtime's package supports (Android API level, iOS version)
    overlay: Path  # engine-only templates, laid out like the project
    libraries: tuple[Library, ...] = ()
    runtime_version: str = ""  # the phone runtime's version, as READMEs and version catalogs name it
    min_host_os: str = ""  # the build host's OS its host tests need (macOS for `swift test`)
    abis: tuple[str, ...] = ()  # native ABIs the runtime ships (Android)
    # File suffixes the runtime memory-maps from the app package, so the build must not compress
    # them (Android's noCompress); empty means the artifact's own suffix.
    uncompressed: tuple[str, ...] = ()
    abi_note: str = ""
    keep_rules: tuple[str, ...] = ()  # R8 rules; "{sdk_package}" stands for the SDK's package
    # Can the SDK's own tests load the model on the build host (e.g. `swift test` on a Mac)?
    host_smoke_test: bool = False
    # Can CI run the app on an emulator or simulator at all (GPU-only runtimes cannot)?
    runs_on_emulator: bool = True
    # The largest model file the runtime can read (0: any size), and how the runtime's own split
    # layout cuts a larger artifact: (cached artifact, largest file in bytes) -> its files, in load
    # order. An engine without a split ships every artifact whole.
    max_model_file_bytes: int = 0
    split_model: Callable[[Any, int], list] | None = None
    # The web: does the engine compute on WebGPU? Its tests then start Chromium with a WebGPU
    # adapter (SwiftShader's, in software, on CI machines without a GPU).
    needs_webgpu: bool = False
    # Build versions of the project format this engine needs changed (e.g. an older Kotlin).
    version_overrides: Mapping[str, str] = field(default_factory=dict)

    def model_file_limit(self, forced: int | None = None) -> int | None:
        """The size above which the artifact ships split (``forced`` lowers it, for tests), or None
        when it always ships whole."""
        if self.split_model is None:
            return None
        return min(forced, self.max_model_file_bytes or forced) if forced else self.max_model_file_bytes or None

    def uses(self, kind: str) -> bool:
        """Does the engine bring a library of this kind ("maven", "swiftpm", "pod", "xcframework")?"""
        return any(library.kind == kind for library in self.libraries)

    def rules_for(self, sdk_package: str) -> list[str]:
        return [rule.replace("{sdk_package}", sdk_package) for rule in self.keep_rules]


@dataclass(frozen=True)
class PhoneEngine:
    """One engine: its name and its targets, one per project format it can be written for."""

    key: str
    display_name: str  # what READMEs and ModelInfo call the runtime
    host_package: str  # the Python distribution whose version verified the model on the host
    targets: tuple[EngineTarget, ...]
    # Extra template values computed from the finished conversion (the llama.cpp sdist pin, the MLC
    # bundle's layout), keyed by the name the overlay reads them under; "runtime_version", when
    # given, replaces the target's (MLC's depends on the source that compiled the model; see
    # ProjectFormat.engine_values).
    context: Callable[[Any, Path], Mapping[str, Any]] | None = None  # (Generation, model path)

    def target(self, project_format: str) -> EngineTarget | None:
        return next((t for t in self.targets if t.project_format == project_format), None)

    def formats(self) -> tuple[str, ...]:
        return tuple(t.project_format for t in self.targets)

    def extra_context(self, generation: Any, model_path: Path) -> dict[str, Any]:
        return dict(self.context(generation, model_path)) if self.context else {}


def builtin_overlay(engine: str, project_format: str) -> Path:
    """Where a built-in engine keeps its overlay for a project format (inside sdkgen's templates)."""
    # Named at import, when the templates may be missing: rendering reports that (project.check_engine).
    return data_dir("templates", must_exist=False) / "engines" / engine / project_format
