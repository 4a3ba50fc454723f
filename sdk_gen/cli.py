"""The `sdkgen` command line: a thin layer over the library API that tests call directly.

Every failure a user can cause ends as one line on stderr (``sdkgen: error: ...``) and the
documented exit code of its error class (see sdk_gen/errors.py).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from sdk_gen import __version__
from sdk_gen.errors import ExitCode, SdkgenError
from sdk_gen.planner import DEFAULT_CONTEXT
from sdk_gen.runtimes import all_runtimes


def _apply_options(func, options: list):
    """Decorate ``func`` with ``options``, which appear in --help in list order."""
    for option in reversed(options):
        func = option(func)
    return func


def _quant_summary() -> str:
    """e.g. "litert: f32 f16 int8 int4; llamacpp: f16 q8_0 ...", from the runtimes themselves."""
    return "; ".join(f"{r.key}: {' '.join(r.quant_formats())}" for r in all_runtimes())


def _planning_choices() -> list:
    """The choices a plan makes unless told: declared once for every command that plans (plan,
    convert, android, ios), so each has one help text."""
    return [
        click.option(
            "--runtime",
            default="auto",
            show_default=True,
            help="litert (LiteRT-LM/MediaPipe), llamacpp or mlc; auto: the best that fits --profile.",
        ),
        click.option("--quant", default=None, help=f"Weight format ({_quant_summary()}); default: the best that fits --profile, else the runtime's."),
        click.option(
            "--context",
            type=int,
            default=None,
            help=f"Context length in tokens; default: {DEFAULT_CONTEXT} (at most the model's), shorter where that does not fit --profile.",
        ),
        click.option("--backend", type=click.Choice(["cpu", "gpu"]), default=None, help="Compute backend; default: the runtime's preference."),
        click.option(
            "--memory-entitlement/--no-memory-entitlement",
            default=True,
            show_default=True,
            help="iOS: allow plans that need com.apple.developer.kernel.increased-memory-limit.",
        ),
    ]


def _plan_options(func):
    """Options of `plan`: the model, the device and the planning choices."""
    return _apply_options(func, [
        click.option("--model", "model", required=True, help="Hugging Face model folder, known name (phi-2) or cached repo id."),
        click.option("--profile", "profile", required=True, help="Device profile id (see `sdkgen profiles`) or a .toml file."),
        *_planning_choices(),
    ])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sdkgen")
def cli() -> None:
    """Turn a fine-tuned Hugging Face LLM into a ready-to-build Android or iOS SDK."""


@cli.command("inspect")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def inspect_command(model: str, as_json: bool) -> None:
    """Describe MODEL (folder, known name or cached repo id) from its config and headers."""
    from sdk_gen.model import inspect_model
    from sdk_gen.report import model_table, print_json, print_tables

    spec = inspect_model(model)
    if as_json:
        print_json(spec.to_json())
    else:
        print_tables([model_table(spec)])


@cli.command("profiles")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def profiles_command(as_json: bool) -> None:
    """List the built-in device profiles."""
    from sdk_gen.profiles import list_profiles
    from sdk_gen.report import print_json, print_tables, profiles_table

    profiles = list_profiles()
    if as_json:
        print_json([p.to_json() for p in profiles])
    else:
        print_tables([profiles_table(profiles)])


@cli.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def doctor_command(as_json: bool) -> None:
    """Which runtimes can convert here, their versions, and what MLC's Android/iOS builds need."""
    from sdk_gen.doctor import diagnose
    from sdk_gen.report import doctor_tables, print_json, print_tables

    diagnosis = diagnose()
    if as_json:
        print_json(diagnosis.to_json())
    else:
        print_tables(doctor_tables(diagnosis))


@cli.command("plan")
@_plan_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def plan_command(as_json: bool, **options) -> None:
    """Choose runtime, quantization, context and backend, and show the memory budget."""
    from sdk_gen.report import plan_tables, print_json, print_tables

    result = _plan_from_options(**options)
    if as_json:
        print_json(result.to_json())
    else:
        print_tables(plan_tables(result))


def _conversion_options(func):
    """Options of every command that converts: convert, android, ios (each adds its --profile)."""
    return _apply_options(func, [
        click.option("--model", default=None, help="Hugging Face model folder, known name or cached repo id (the base, with --adapter)."),
        *_planning_choices(),
        click.option("--format", "artifact_format", default=None, help="Artifact format: litert writes litertlm (default) or task."),
        click.option("--adapter", type=click.Path(path_type=Path), default=None, help="PEFT LoRA adapter folder, merged into the base first."),
        click.option("--pre-tokenizer", default=None, help="llama.cpp: name the pre-tokenizer when the converter does not recognise it."),
        click.option("--verify/--no-verify", default=True, show_default=True, help="Check the artifact against PyTorch on this machine."),
        click.option(
            "--max-quant-kl", type=click.FloatRange(min=0), default=None,
            help="Fail (exit 6) when quantization moves next-token distributions by more than this mean KL divergence (nats per token); see the report's verification.cost.",
        ),
        click.option(
            "--min-quant-top1", type=click.FloatRange(0, 1), default=None,
            help="Fail (exit 6) when the quantized model picks the original's top token less often than this share of positions.",
        ),
        click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Output folder."),
        click.option("--force", is_flag=True, help="Replace an output folder sdkgen wrote before (never the model, adapter or cache, nor a folder sdkgen did not write)."),
        click.option("--json", "as_json", is_flag=True, help="Print the report JSON instead of tables."),
    ])


def _conversion_request(options: dict, profile: str | None):
    from sdk_gen.conversion import ConversionRequest
    from sdk_gen.verify import QuantFloor

    return ConversionRequest(
        model=options["model"],
        runtime=options["runtime"],
        quant=options["quant"],
        context=options["context"],
        artifact_format=options["artifact_format"],
        adapter=options["adapter"],
        profile=profile,
        backend=options["backend"],
        allow_entitlement=options["memory_entitlement"],
        verify=options["verify"],
        pre_tokenizer=options["pre_tokenizer"],
        quant_floor=QuantFloor(max_kl=options["max_quant_kl"], min_top1=options["min_quant_top1"]),
    )


@cli.command("convert")
@_conversion_options
@click.option("--profile", default=None, help="Device profile: plan quantization and context for it and check the budget.")
def convert_command(output, force, as_json, profile, **options) -> None:
    """Convert a model for a runtime (cached), verify it on the host, and write it with a report."""
    from sdk_gen.conversion import convert, prepare_job, protected_paths, write_conversion_output
    from sdk_gen.output import check_output_target
    from sdk_gen.progress import Progress
    from sdk_gen.report import conversion_tables, print_json, print_tables

    request = _conversion_request(options, profile)
    prepared = prepare_job(request)
    job = prepared.job
    if output is None:
        output = Path(f"{job.spec.path.name}-{job.runtime.key}-{job.quant.name}")
    # Fail before the slow part, not after it; never into (or around) the model, adapter or cache.
    check_output_target(output, force, protected_paths(job, prepared.adapter, request.cache_dir))
    result = convert(request, Progress(quiet=as_json), prepared=prepared)
    write_conversion_output(result, output, force)
    if as_json:
        print_json(result.report())
    else:
        print_tables(conversion_tables(result, output))


def _project_command(target_os: str, output, force, as_json, profile, app_id, app_name, model_url, options) -> None:
    from sdk_gen.formats.base import ProjectOptions
    from sdk_gen.progress import Progress
    from sdk_gen.project import ProjectRequest, generate_project
    from sdk_gen.report import print_json, print_tables, project_tables

    request = ProjectRequest(
        target_os=target_os,
        conversion=_conversion_request(options, profile),
        options=ProjectOptions(app_id=app_id, app_name=app_name, model_url=model_url),
        output=output or Path(f"{target_os}-project"),
        force=force,
    )
    result = generate_project(request, Progress(quiet=as_json))
    if as_json:
        print_json(result.report())
    else:
        print_tables(project_tables(result))


@cli.command("android")
@_conversion_options
@click.option("--profile", required=True, help="Android device profile (see `sdkgen profiles`) or a .toml file.")
@click.option("--package", "app_id", default=None, help="Application id and Kotlin package (default com.example.<model>).")
@click.option("--app-name", default=None, help="The app's display name (default: '<model> chat').")
@click.option("--model-url", default=None, help="Where the app downloads a model too large to bundle (first run, resumable).")
def android_command(output, force, as_json, profile, app_id, app_name, model_url, **options) -> None:
    """Convert, verify and generate a Gradle project: SDK module, Compose chat app, tests and CI."""
    _project_command("android", output, force, as_json, profile, app_id, app_name, model_url, options)


@cli.command("ios")
@_conversion_options
@click.option("--profile", required=True, help="iOS device profile (see `sdkgen profiles`) or a .toml file.")
@click.option("--bundle-id", "app_id", default=None, help="Bundle identifier (default com.example.<model>).")
@click.option("--app-name", default=None, help="The app's display name (default: '<model> chat').")
@click.option("--model-url", default=None, help="Where the app downloads a model too large to bundle (first run, resumable).")
def ios_command(output, force, as_json, profile, app_id, app_name, model_url, **options) -> None:
    """Convert, verify and generate a Swift package SDK and a SwiftUI app (XcodeGen), tests and CI."""
    _project_command("ios", output, force, as_json, profile, app_id, app_name, model_url, options)


@cli.command("web")
@_conversion_options
@click.option("--profile", required=True, help="Browser profile (see `sdkgen profiles`: chrome-desktop, chrome-android-midrange) or a .toml file.")
@click.option("--package", "app_id", default=None, help="The npm package name of the app (default <model>-chat).")
@click.option("--app-name", default=None, help="The page's title (default: '<model> chat').")
@click.option("--model-url", default=None, help="Where the page downloads a model too large to ship with the site.")
def web_command(output, force, as_json, profile, app_id, app_name, model_url, **options) -> None:
    """Convert, verify and generate a Vite + TypeScript web app that runs the model in the browser."""
    _project_command("web", output, force, as_json, profile, app_id, app_name, model_url, options)


@cli.command("demo-model")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--size", type=click.Choice(["tiny", "small", "medium"]), default="tiny", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--force", is_flag=True, help="Replace DEST if sdkgen wrote it (a demo model or an sdkgen output).")
def demo_model_command(dest: Path, size: str, seed: int, force: bool) -> None:
    """Write the built-in demo model (random-weight Phi-2 architecture, local tokenizer) to DEST."""
    from sdk_gen.model.demo import write_demo_model

    write_demo_model(dest, size=size, seed=seed, force=force)
    click.echo(f"wrote the {size} demo model to {dest}")


def _plan_from_options(model, profile, runtime, quant, context, backend, memory_entitlement):
    from sdk_gen.model import inspect_model
    from sdk_gen.planner import PlanRequest, make_plan
    from sdk_gen.profiles import load_profile

    device = load_profile(profile)
    spec = inspect_model(model)
    request = PlanRequest(
        runtime=runtime, quant=quant, context=context, backend=backend, allow_entitlement=memory_entitlement
    )
    return make_plan(spec, device, request)


def _fail(message: str, code: int) -> None:
    click.echo(f"sdkgen: error: {' '.join(str(message).split())}", err=True)
    sys.exit(code)


def _interrupt_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so every temp folder and child process is cleaned up."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:
        pass  # not the main thread (tests calling main from a worker): nothing to install


def main(argv: list[str] | None = None) -> None:
    _interrupt_on_sigterm()
    try:
        cli.main(args=argv, prog_name="sdkgen", standalone_mode=False)
    except SdkgenError as exc:
        _fail(exc.message, exc.exit_code)
    except click.exceptions.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        _fail(exc.format_message() + hint, ExitCode.BAD_INPUT)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except OSError as exc:
        # Disk full, read-only filesystem, permissions: the environment, not sdkgen, said no.
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}; free space or choose a writable -o / SDKGEN_CACHE_DIR", ExitCode.BAD_INPUT)
    except (KeyboardInterrupt, click.exceptions.Abort):
        _fail("interrupted; nothing partial was left behind", ExitCode.INTERRUPTED)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
