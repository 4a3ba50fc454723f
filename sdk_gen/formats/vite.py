"""The Vite (TypeScript) project format, for the web: a static app over a small SDK module that
runs the model in the browser."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from sdk_gen.errors import BadInput
from sdk_gen.formats.base import Generation, ProjectFormat, ProjectOptions, slug
from sdk_gen.units import GIB, MIB


@dataclass(frozen=True)
class WebVersions:
    """Pinned npm versions of the generated project's build and test tools (every one exact, with a
    lockfile); the engine's own packages come with its target (EngineTarget.libraries)."""

    vite: str = "8.3.8"
    typescript: str = "7.0.2"
    playwright_core: str = "1.65.1"
    playwright_test: str = "1.65.1"
    hash_wasm: str = "4.13.0"
    # Vite 8 needs Node ^20.19 or >= 22.12.
    node: str = "22"


# npm's rules for a package name (what --package is here): lowercase, URL-safe, at most 214 bytes.
_NPM_NAME = re.compile(r"[a-z0-9][a-z0-9._~-]*")


def check_package_name(name: str) -> str:
    if len(name) > 214 or not _NPM_NAME.fullmatch(name):
        shown = name.encode("unicode_escape").decode("ascii")
        raise BadInput(
            f"invalid --package {shown!r}: an npm package name is lowercase letters, digits and . _ ~ -, "
            "starting with a letter or digit, at most 214 characters"
        )
    return name


# A bundled model file above this size goes to Git LFS in the generated project: GitHub warns
# about files over 50 MiB in a repository and refuses them over 100 MiB.
GIT_LARGE_FILE_BYTES = 50 * MIB

# ProjectOptions.extra key: the largest model file the project ships, in bytes (at most, and by
# default, what the engine's runtime can read: EngineTarget.max_model_file_bytes). A smaller one
# makes even a small model ship split: tests use it to run the split path on the tiny demo model.
SHARD_LIMIT_OPTION = "shard_limit_bytes"


def check_web_extra(extra: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(extra) - {SHARD_LIMIT_OPTION})
    if unknown:
        raise BadInput(f"the web format has no option {unknown[0]!r} (it takes {SHARD_LIMIT_OPTION!r})")
    if SHARD_LIMIT_OPTION not in extra:
        return {}
    limit = extra[SHARD_LIMIT_OPTION]
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        raise BadInput(f"{SHARD_LIMIT_OPTION} must be a positive whole number of bytes, not {limit!r}")
    return {SHARD_LIMIT_OPTION: limit}


class ViteFormat(ProjectFormat):
    key = "vite"
    versions = WebVersions()

    def check_app_id(self, app_id: str) -> str:
        return check_package_name(app_id)

    def default_app_id(self, model_name: str) -> str:
        return f"{slug(model_name.lower(), fallback='model')}-chat"

    def path_vars(self, generation: Generation) -> dict[str, str]:
        return {}

    def validate(self, options: ProjectOptions, model_name: str) -> ProjectOptions:
        return replace(super().validate(options, model_name), extra=check_web_extra(options.extra))

    def model_parts(self, generation: Generation) -> list:
        """The files the model ships as (sdk_gen.cache.CachedArtifact), in load order: the artifact
        itself, or, when it is larger than the engine's runtime can read in one file, the pieces of
        the runtime's own split layout (a split GGUF for wllama). Split once, then reused from the
        artifact's cache entry."""
        artifact = generation.conversion.artifact
        limit = self.shard_limit(generation)
        if limit is None or artifact.bytes <= limit:
            return [artifact]
        return generation.engine.target(self.key).split_model(artifact, limit)

    def shard_limit(self, generation: Generation) -> int | None:
        """The size above which the model ships split; None when its engine ships it whole."""
        target = generation.engine.target(self.key)
        return target.model_file_limit(generation.options.extra.get(SHARD_LIMIT_OPTION)) if target else None

    def model_destinations(self, generation: Generation) -> list[Path]:
        (whole,) = super().model_destinations(generation)
        parts = self.model_parts(generation)
        if len(parts) == 1:
            return [whole]
        return [whole.parent / part.path.name for part in parts]  # the shards side by side, where the file would be

    def model_files(self, generation: Generation) -> dict[Path, Any]:
        return dict(zip(self.model_destinations(generation), self.model_parts(generation), strict=True))

    def delivery(self, artifact_bytes: int, model_url: str | None) -> str:
        # A site serves its own files whatever their size (an app package has a limit): without
        # --model-url the model is one of the site's files, fetched from the same origin.
        return "download" if model_url else "bundled"

    def check_min_os(self, engine_key: str, min_os: str) -> None:
        if not (min_os.isdigit() and 80 <= int(min_os) <= 999):
            raise BadInput(f"the '{engine_key}' engine's minimum browser {min_os!r} is not a Chrome major version")

    def context(self, generation: Generation) -> dict[str, Any]:
        profile = generation.conversion.plan.profile
        engine, extra, runtime_version = self.engine_values(generation)
        browser = profile.browser
        context = self.base_context(generation)
        context.update(extra)
        parts = self.model_parts(generation)
        context.update(
            model_files=[{"file_name": part.path.name, "bytes": part.bytes, "sha256": part.sha256} for part in parts],
            model_split=len(parts) > 1,
            # The project's CI checks the bundled model out with Git LFS when a file is that large.
            models_in_lfs=generation.delivery == "bundled" and max(part.bytes for part in parts) > GIT_LARGE_FILE_BYTES,
            shard_limit_bytes=self.shard_limit(generation),
            project_slug=generation.options.app_id,
            engine={**asdict(engine), "libraries": [asdict(library) for library in engine.libraries],
                    "runtime_version": runtime_version},
            runtime_display=generation.engine.display_name,
            versions=asdict(self.versions),
            browser={
                "name": browser.name if browser else "Chrome",
                # The engine's minimum decides what the page needs; the profile only sizes the budget.
                "minimum_version": int(engine.min_os),
                "heap_limit_bytes": browser.wasm_heap_limit_bytes if browser else 4 * GIB,
                "device_memory_gib": browser.device_memory_gib if browser else None,
                "tab_memory_bytes": profile.app_memory_bytes,
            },
        )
        return context
