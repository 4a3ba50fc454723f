"""`sdkgen android` / `sdkgen ios`: plan, convert, verify, render, report; all or nothing.

    request -> validate everything cheap (options, output, profile, plan) -> convert (cached)
            -> verify on the host -> render the format's templates and the engine's overlay into a staging folder
            -> place the model -> write sdkgen-report.json -> move the project into place
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import jinja2

from sdk_gen.conversion import (
    REPORT_NAME,
    ConversionRequest,
    ConversionResult,
    convert,
    place_artifact,
    prepare_job,
    protected_paths,
)
from sdk_gen.errors import BadInput, DoesNotFit, ToolMissing
from sdk_gen.formats import format_for_os, get_format
from sdk_gen.formats.base import Generation, ProjectFormat, ProjectOptions
from sdk_gen.output import atomic_output_dir, check_output_target
from sdk_gen.profiles import TARGET_OSES
from sdk_gen.progress import Progress
from sdk_gen.render import render_tree
from sdk_gen.runtimes.engine import PhoneEngine
from sdk_gen.units import human_bytes


@dataclass(frozen=True)
class ProjectRequest:
    target_os: str  # "android" or "ios": `sdkgen <os>`
    conversion: ConversionRequest
    options: ProjectOptions
    output: Path
    force: bool = False


@dataclass
class ProjectResult:
    path: Path
    target_os: str
    conversion: ConversionResult
    generation: Generation
    files: list[str]

    def report(self) -> dict:
        data = self.conversion.report()
        data["project"] = {
            "platform": self.target_os,
            "format": self.generation.project_format,
            "path": str(self.path),
            "engine": self.generation.engine.key,
            "delivery": self.generation.delivery,
            "app_id": self.generation.options.app_id,
            "files": self.files,
            "template_version": self.generation.template_version,
        }
        return data


def template_version(template_dir: Path, target) -> str:
    """A digest of what shaped the project: the format's template tree, the engine's overlay for
    it, the pieces the engine shares across formats, and the engine's facts (pins, ABIs, rules);
    recorded in sdkgen.toml so regeneration can tell what changed."""
    digest = hashlib.sha256()
    for root in (template_dir, target.overlay, target.overlay.parent / "shared"):
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(f"{root.name}/{path.relative_to(root).as_posix()}".encode())
            digest.update(path.read_bytes())
    digest.update(repr(replace(target, overlay=Path(target.overlay.name))).encode())
    return digest.hexdigest()[:16]


# The longest path a template writes below the project root, beyond the package folders
# (llm/src/androidTest/kotlin/<package>/llm/ModelIntegrityTest.kt and the like), with room to spare.
_TEMPLATE_PATH_ALLOWANCE = 160
_PATH_MAX = 4096
_NAME_MAX = 255


def _check_text(what: str, value: str | None) -> None:
    """Text that goes into generated files must be encodable as UTF-8: a name from undecodable
    command-line bytes (surrogate escapes) is refused here, not after the conversion."""
    if value is None:
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput(f"{what} {ascii(value)} is not valid UTF-8; pass it as UTF-8 text (or rename the folder)") from None


def _check_app_id_length(app_id: str | None) -> None:
    """Each part of an app id becomes a folder (Kotlin packages): it must fit a file name."""
    for part in (app_id or "").split("."):
        if len(part.encode("utf-8")) > _NAME_MAX - 16:
            raise BadInput(f"--package / --bundle-id part {part[:24]}... is too long ({len(part)} characters); keep each part short")


def _check_path_length(output: Path, app_id: str | None) -> None:
    longest = len(os.fsencode(str(output))) + len((app_id or "").encode("utf-8")) + _TEMPLATE_PATH_ALLOWANCE
    if longest > _PATH_MAX:
        raise BadInput(
            f"the project's deepest files would need paths of about {longest} bytes, over the {_PATH_MAX} this system "
            "allows; choose a shorter -o path or --package / --bundle-id"
        )


def check_engine(target_os: str, project_format: ProjectFormat, runtime, artifact_format: str) -> PhoneEngine:
    """The phone engine the project wraps the artifact in, refused with one line when the runtime
    has none for this OS or none written for this project format (checked before any conversion)."""
    os_name = TARGET_OSES.get(target_os, target_os)
    engine = runtime.engine_for(target_os, artifact_format)
    if engine is None:
        raise BadInput(f"{runtime.display_name} .{artifact_format} files have no {os_name} wrapper; choose another --format")
    if not isinstance(engine, PhoneEngine):
        # A plug-in written for an older sdkgen names its engine instead of bringing one.
        raise BadInput(
            f"{runtime.display_name} names its {os_name} engine ({engine!r}) instead of bringing one "
            "(sdk_gen.runtimes.engine.PhoneEngine); update the runtime's package, or use sdkgen convert for the artifact alone"
        )
    target = engine.target(project_format.key)
    if target is None:
        # A runtime from a plug-in may bring an engine with no overlay for this project format.
        raise BadInput(
            f"{runtime.display_name}'s '{engine.key}' engine has no {project_format.key} project templates "
            f"(it has: {', '.join(engine.formats()) or 'none'}); use sdkgen convert for the artifact alone"
        )
    if not target.overlay.is_dir():
        raise BadInput(
            f"the '{engine.key}' engine's {project_format.key} templates are missing ({target.overlay}); "
            f"reinstall the package that provides {runtime.display_name}"
        )
    project_format.check_target(engine.key, target)
    return engine


def generate_project(request: ProjectRequest, progress: Progress | None = None) -> ProjectResult:
    progress = progress or Progress(quiet=True)
    project_format = format_for_os(request.target_os)
    conversion_request = replace(request.conversion, platform=request.target_os)
    if not conversion_request.profile:
        raise BadInput(f"`sdkgen {request.target_os}` needs --profile (see `sdkgen profiles`)")

    # Everything cheap first, so a bad option never costs a conversion.
    _check_text("--app-name", request.options.app_name)
    _check_text("--package / --bundle-id", request.options.app_id)
    _check_text("--model-url", request.options.model_url)
    prepared = prepare_job(conversion_request)
    job, adapter = prepared.job, prepared.adapter
    _check_text("the model folder's name", job.name or job.spec.path.name)
    _check_text("the model folder's path", str(job.spec.path))
    options = project_format.validate(request.options, job.name or job.spec.path.name)
    _check_app_id_length(options.app_id)
    check_engine(request.target_os, project_format, job.runtime, job.artifact_format)
    output = check_output_target(request.output, request.force, protected_paths(job, adapter, conversion_request.cache_dir))
    _check_path_length(output, options.app_id)

    result = convert(conversion_request, progress, prepared=prepared)
    return render_project(request.target_os, result, options, output, request.force, progress)


def render_files(generation: Generation, dest: Path) -> list[Path]:
    """Write the format's templates and the engine's overlay for ``generation`` into ``dest``
    (the model file is placed by the caller); return the files written."""
    project_format = get_format(generation.project_format)
    overlay = generation.engine.target(project_format.key).overlay
    written = render_tree(
        project_format.template_dir, dest, project_format.context(generation), project_format.path_vars(generation), overlay
    )
    for relative, source in project_format.binary_files(generation).items():
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(target)
    return written


def render_project(
    target_os: str, result: ConversionResult, options: ProjectOptions, output: Path, force: bool = False,
    progress: Progress | None = None,
) -> ProjectResult:
    """Render the OS's project around a finished conversion (the plan must be in it)."""
    progress = progress or Progress(quiet=True)
    project_format = format_for_os(target_os)
    job, plan = result.job, result.plan
    if plan is None:
        raise BadInput(f"the conversion of {job.spec.path.name} carries no plan; generate projects with sdkgen {target_os}")
    engine = check_engine(target_os, project_format, job.runtime, job.artifact_format)
    budget = result.actual_budget
    if not budget.fits:
        raise DoesNotFit(
            f"the converted artifact ({human_bytes(result.artifact.bytes)}) makes the plan need {human_bytes(budget.total_bytes)}, "
            f"over {plan.profile.id}'s usable {human_bytes(budget.budget_bytes - budget.margin_bytes)}; "
            "choose a smaller --quant or --context"
        )

    generation = Generation(
        target_os=target_os,
        project_format=project_format.key,
        options=options,
        conversion=result,
        engine=engine,
        delivery=project_format.delivery(result.artifact.bytes, options.model_url),
        budget=budget,
        # From the tokenizer the artifact carries (an adapter's own, when it ships one): the merged
        # checkpoint the converter read is gone by now.
        chat=job.chat_format,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        template_version=template_version(project_format.template_dir, engine.target(project_format.key)),
    )
    with progress.stage(f"rendering the {TARGET_OSES.get(target_os, target_os)} project ({project_format.display_name})"):
        with atomic_output_dir(output, force, result.protected) as staging:
            try:
                written = render_files(generation, staging)
            except jinja2.TemplateError as exc:
                # A plug-in's overlay that does not render (an unknown value, a syntax error): one line, not a traceback.
                raise ToolMissing(
                    f"the '{engine.key}' engine's {project_format.key} templates do not render: {exc.__class__.__name__}: "
                    f"{exc}; fix or reinstall the package that provides {job.runtime.display_name}"
                ) from None
            model_paths = []
            for relative, artifact in project_format.model_files(generation).items():
                model_path = staging / relative
                model_path.parent.mkdir(parents=True, exist_ok=True)
                place_artifact(artifact, model_path)
                model_paths.append(model_path)
            files = sorted(str(p.relative_to(staging)) for p in [*written, *model_paths])
            project = ProjectResult(output, target_os, result, generation, files)
            (staging / REPORT_NAME).write_text(json.dumps(project.report(), indent=2) + "\n", encoding="utf-8")
    return project
