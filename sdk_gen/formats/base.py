"""The small interface a project format (Gradle, XcodeGen + SwiftPM) implements.

A project is (target OS, project format). The format owns its template tree
(`templates/<format>/`) and a small manifest of it (`_format.toml`: the OSes it serves, where
models go, its layout version); it validates its own options (a Kotlin package, a bundle id),
turns a finished conversion into the values its templates need, and names the engine overlay it
renders (each engine's target for this format). Rendering, atomic output and the report are
shared (sdk_gen/project.py); which engine runs the model is the runtime's (sdk_gen/runtimes/engine.py).
"""

from __future__ import annotations

import abc
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sdk_gen.errors import BadInput
from sdk_gen.render import HOOKS_FOLDER, overlay_clashes
from sdk_gen.resources import data_dir

# Models up to this size ship inside the app; larger ones are downloaded or sideloaded. Play's
# base download is capped at 150 MB compressed and model files do not compress, so 100 MB
# leaves room for the app itself (REFERENCE: flutter#529, aub.ai#8).
BUNDLE_LIMIT_BYTES = 100 * 1000 * 1000


@dataclass(frozen=True)
class ProjectOptions:
    """What the user asked of the generated project, beyond the model and the plan."""

    app_id: str | None = None  # Android package / iOS bundle identifier
    app_name: str | None = None
    model_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def delivery_for(artifact_bytes: int, model_url: str | None) -> str:
    """How the model reaches the phone: "bundled" in the app, "download" on first run, or "sideload"."""
    if artifact_bytes <= BUNDLE_LIMIT_BYTES:
        return "bundled"
    return "download" if model_url else "sideload"


# fullmatch, not match + "$": "$" would accept a trailing newline.
_URL = re.compile(r"https?://[^\s/$.?#][^\s]*", re.IGNORECASE)


def check_model_url(url: str | None) -> str | None:
    if url is None:
        return None
    if not _URL.fullmatch(url) or any(ch in url for ch in "\"'`\\<>{}|^"):
        raise BadInput(f"--model-url {url!r} is not an http(s) URL; pass where the converted model can be downloaded")
    return url


def slug(text: str, fallback: str = "model") -> str:
    """Letters, digits and dashes only: safe as a Gradle project or Xcode target name."""
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")
    return cleaned[:60] or fallback


@dataclass(frozen=True)
class FormatManifest:
    """`templates/<format>/_format.toml`: what sdkgen needs to know about a template tree."""

    key: str
    display_name: str
    layout_version: int  # recorded in the report; bumped when the layout or the hooks change
    oses: tuple[str, ...]
    # Where the model goes, relative to the project root: "bundled" (inside the app), "outside"
    # (beside the project, for --model-url or sideloading), and optionally
    # "bundled_for_host_tests" (the one copy, when the package's own tests load the model).
    model_folders: dict[str, str]
    # Hooks every engine overlay must provide (the format has no default text for them).
    required_hooks: tuple[str, ...] = ()

    @classmethod
    def load(cls, template_dir: Path, key: str) -> "FormatManifest":
        path = template_dir / "_format.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            manifest = cls(
                key=str(data["format"]), display_name=str(data["display_name"]), layout_version=int(data["layout_version"]),
                oses=tuple(map(str, data["oses"])), model_folders={str(k): str(v) for k, v in data["models"].items()},
                required_hooks=tuple(map(str, data.get("required_hooks", ()))),
            )
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BadInput(f"the {key} project format's manifest {path} is missing or malformed ({exc!r}); reinstall its package") from None
        if manifest.key != key or not {"bundled", "outside"} <= manifest.model_folders.keys():
            raise BadInput(f"{path} must say format = {key!r} and give [models] bundled and outside; reinstall its package")
        return manifest


class ProjectFormat(abc.ABC):
    key: str = ""  # also the name of its engines' targets
    # A plug-in format's own template tree; built-in formats use sdkgen's templates/<key>.
    templates: Path | None = None

    def __init__(self) -> None:
        self.template_dir = self.templates or data_dir("templates") / self.key
        self.manifest = FormatManifest.load(self.template_dir, self.key)

    @property
    def display_name(self) -> str:
        return self.manifest.display_name

    def serves(self, target_os: str) -> bool:
        return target_os in self.manifest.oses

    def check_target(self, engine_key: str, target) -> None:
        """Refuse, before any conversion, an engine target this format cannot render: a required
        hook it lacks, an overlay file that would replace one of the format's own, a minimum OS it
        cannot read. Formats add their own checks (check_min_os)."""
        hooks = target.overlay / HOOKS_FOLDER
        missing = [hook for hook in self.manifest.required_hooks if not (hooks / hook).is_file()]
        if missing:
            raise BadInput(
                f"the '{engine_key}' engine's {self.key} overlay lacks the hook(s) {', '.join(missing)} "
                f"({hooks}); the runtime's package is incomplete"
            )
        clashes = overlay_clashes(self.template_dir, target.overlay)
        if clashes:
            raise BadInput(f"the '{engine_key}' engine's {self.key} overlay would replace the format's own {clashes[0]}; rename it")
        self.check_min_os(engine_key, target.min_os)

    def check_min_os(self, engine_key: str, min_os: str) -> None:
        """Raise BadInput when ``min_os`` is not a minimum this format can write."""

    def engine_values(self, generation: "Generation") -> tuple[Any, dict[str, Any], str]:
        """The engine's target for this format, its extra template values and the phone runtime's
        version (an engine's values may replace the target's static one)."""
        target = generation.engine.target(self.key)
        extra = generation.engine.extra_context(generation, self.model_destinations(generation)[0])
        runtime_version = extra.pop("runtime_version", target.runtime_version)
        return target, extra, runtime_version

    def base_context(self, generation: "Generation") -> dict[str, Any]:
        """common_context plus what this format's manifest says (where models go), so templates
        name those folders from the manifest instead of repeating them."""
        context = common_context(generation)
        context["model_folders"] = dict(self.manifest.model_folders)
        context["layout_version"] = self.manifest.layout_version
        return context

    def model_destinations(self, generation: "Generation") -> list[Path]:
        """Where, relative to the project root, the model file goes (the manifest's folders)."""
        folders = self.manifest.model_folders
        if generation.delivery != "bundled":
            folder = folders["outside"]
        elif generation.engine.target(self.key).host_smoke_test and "bundled_for_host_tests" in folders:
            folder = folders["bundled_for_host_tests"]
        else:
            folder = folders["bundled"]
        return [Path(folder) / generation.conversion.job.artifact_name]

    def model_files(self, generation: "Generation") -> dict[Path, Any]:
        """What is placed at each of model_destinations: a cached artifact (sdk_gen.cache.CachedArtifact),
        by default the converted one at every destination. A format that ships the model as several
        files (a split GGUF) names one for each."""
        return {path: generation.conversion.artifact for path in self.model_destinations(generation)}

    def validate(self, options: ProjectOptions, model_name: str) -> ProjectOptions:
        """Check and complete the options (defaults filled in); raise BadInput on bad ones."""
        app_id = self.check_app_id(options.app_id) if options.app_id else self.default_app_id(model_name)
        app_name = options.app_name if options.app_name is not None else f"{model_name} chat"
        if not app_name.strip():
            raise BadInput("--app-name must not be empty")
        return ProjectOptions(app_id=app_id, app_name=app_name, model_url=check_model_url(options.model_url))

    def delivery(self, artifact_bytes: int, model_url: str | None) -> str:
        """How the model reaches the device: "bundled", "download" (from --model-url) or "sideload"."""
        return delivery_for(artifact_bytes, model_url)

    def binary_files(self, generation: "Generation") -> dict[str, Path]:
        """Files copied into the project as they are, by their path in it: what is neither a
        template nor in sdkgen's tree (a JAR fetched into the toolchain cache, say)."""
        return {}

    @abc.abstractmethod
    def check_app_id(self, app_id: str) -> str:
        """The user's --package / --bundle-id, checked for this format; raise BadInput on a bad one."""

    @abc.abstractmethod
    def default_app_id(self, model_name: str) -> str:
        """The app id used when the user gives none."""

    @abc.abstractmethod
    def context(self, generation: "Generation") -> dict[str, Any]:
        """The values the format's templates (and the engine's overlay) render with."""

    @abc.abstractmethod
    def path_vars(self, generation: "Generation") -> dict[str, str]:
        """Placeholders in template paths and their values."""



@dataclass
class Generation:
    """Everything known once the model is converted and verified: the input to rendering."""

    target_os: str  # "android", "ios": what the project runs on (the profile's OS)
    project_format: str  # the ProjectFormat's key: which template tree and engine overlay
    options: ProjectOptions
    conversion: Any  # sdk_gen.conversion.ConversionResult
    engine: Any  # sdk_gen.runtimes.engine.PhoneEngine
    delivery: str
    budget: Any  # MemoryBudget with the artifact's real size
    chat: Any  # sdk_gen.chat.ChatFormat
    created: str
    template_version: str


def verification_summary(result) -> dict[str, str]:
    """How the artifact was checked on the host, in one sentence for generated READMEs."""
    verification = result.verification
    if verification is None:
        gap = result.job.runtime.host_verification_gap
        return {"ran": False, "runtime": "", "summary": gap or "verification was skipped (--no-verify)"}
    summary = f"{verification.matched}/{verification.steps} greedy tokens matched over {len(verification.prompts)} prompts"
    if verification.logits:
        figures = verification.logits
        summary += f", logit correlation {figures.mean_correlation:.5f}, top-1 agreement {figures.top1_agreement:.3f}"
    return {"ran": True, "runtime": verification.runtime, "summary": summary}


# What a chat app samples with when the model's generation_config.json does not say: llama.cpp's
# own defaults (top-k 40, top-p 0.95, temperature 0.8).
DEFAULT_CHAT_SAMPLER = {"top_k": 40, "top_p": 0.95, "temperature": 0.8, "source": "llama.cpp's defaults"}


def chat_sampler(model_dir: Path) -> dict[str, Any]:
    """The generated app's sampling defaults: the model's own (generation_config.json) where it
    gives them, else DEFAULT_CHAT_SAMPLER. Smoke tests pass greedy settings themselves, so they stay
    deterministic whatever the app uses."""
    import json

    try:
        config = json.loads((model_dir / "generation_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = None
    # Only the sampling values count: transformers writes "do_sample": false into every config it
    # saves, so that flag says nothing about how the model's authors meant it to chat.
    if not isinstance(config, dict) or not {"temperature", "top_k", "top_p"} & config.keys():
        return dict(DEFAULT_CHAT_SAMPLER)

    def number(key: str, low: float, high: float, default: float) -> float:
        value = config.get(key)
        usable = isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high  # NaN fails too
        return float(value) if usable else default

    return {
        "top_k": int(number("top_k", 1, 1000, DEFAULT_CHAT_SAMPLER["top_k"])),
        "top_p": number("top_p", 0.0, 1.0, DEFAULT_CHAT_SAMPLER["top_p"]),
        "temperature": number("temperature", 0.0, 5.0, DEFAULT_CHAT_SAMPLER["temperature"]),
        "source": "the model's generation_config.json",
    }


def common_context(generation: Generation) -> dict[str, Any]:
    """Template values every format uses: provenance, names (as UserText), plan and budget."""
    from sdk_gen import __version__
    from sdk_gen.budget import SAFETY_MARGIN
    from sdk_gen.render import UserText

    result = generation.conversion
    job = result.job
    plan = result.plan.plan
    profile = result.plan.profile
    return {
        "sdkgen_version": __version__,
        "template_version": generation.template_version,
        "created": generation.created,
        "app_name": UserText(generation.options.app_name),
        "model_name": UserText(job.name or job.spec.path.name),
        "model_path": UserText(str(job.spec.path)),
        "model_digest": result.model_digest,
        "architecture": job.spec.architecture,
        "num_params": job.spec.num_params,
        "profile_id": profile.id,
        "profile_name": UserText(profile.name),
        # What the plan assumed one app may use on the profile's device, and its RAM: the app
        # scales that share to the RAM of the device it runs on (the memory gate's ceiling).
        "profile_memory": {"ram_bytes": profile.total_ram_bytes, "app_bytes": profile.app_memory_bytes},
        "plan": {
            "runtime": plan.runtime.key,
            "quant": plan.quant.name,
            "context": plan.context,
            "backend": plan.backend,
            "threads": plan.threads,
            "memory_entitlement": plan.memory_entitlement,
        },
        "budget": generation.budget.to_json(),
        # The parts of the footprint, in order (key, label, bytes, source): every budget table loops over them.
        "budget_rows": [asdict(row) for row in generation.budget.rows()],
        "safety_margin": SAFETY_MARGIN,
        "artifact": {
            "file_name": job.artifact_name,
            "format": job.artifact_format,
            "bytes": result.artifact.bytes,
            "sha256": result.artifact.sha256,
            "delivery": generation.delivery,
            "url": UserText(generation.options.model_url or ""),
        },
        "sampler": chat_sampler(job.spec.path),
        "chat": {
            "user_prefix": UserText(generation.chat.user_prefix),
            "user_suffix": UserText(generation.chat.user_suffix),
            "assistant_prefix": UserText(generation.chat.assistant_prefix),
            "assistant_suffix": UserText(generation.chat.assistant_suffix),
            "next_user_prefix": UserText(generation.chat.later_user_prefix),
            "example_turn": UserText(generation.chat.format_user_turn("Hello")),
            "example_next_turn": UserText(generation.chat.format_next_user_turn("Again")),
        },
        "verification": verification_summary(result),
    }
