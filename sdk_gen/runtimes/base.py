"""The small interface every on-device runtime ("backend") implements.

A runtime knows: which model families it can take, its weight formats and what each costs in
bits per parameter (by weight role), how it lays out memory on the phone (KV cache precision,
prefill chunk, fixed overhead), and (in the modules that implement them) how to convert and
verify, and which phone engines run its artifacts (runtimes/engine.py). Project formats and the
planner talk to runtimes only through this interface.

The job a runtime converts (ConversionJob) is part of that interface and lives here, so the
runtimes never import the convert stage that drives them (sdk_gen/conversion.py).
"""

from __future__ import annotations

import abc
import math
import threading
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from sdk_gen.chat import ChatFormat, chat_format_for_model
from sdk_gen.errors import ToolMissing
from sdk_gen.model.spec import WEIGHT_ROLES, ModelSpec, ParamBreakdown
from sdk_gen.runtimes.engine import PhoneEngine
from sdk_gen.verify import Thresholds

if TYPE_CHECKING:
    from sdk_gen.verify import VerificationResult


@dataclass(frozen=True)
class QuantFormat:
    """One weight format of one runtime, and what it costs per weight role.

    ``bits`` maps weight roles to bits per parameter *including* quantization scales; roles not
    listed use ``default_bits`` (for 2-D matrices) or ``other_bits`` (norms and biases).
    ``role_bits`` may override per model, for rules that depend on the shape (llama.cpp keeps
    the output matrix at Q6_K only when its rows divide into 256-wide super-blocks).
    """

    name: str
    description: str
    default_bits: float
    other_bits: float
    quality: int  # larger is closer to the original model; used to rank candidates
    bits: Mapping[str, float] = field(default_factory=dict)
    role_bits: Callable[[str, ModelSpec, float], float] | None = None
    auto: bool = True  # may `plan` choose it without being asked?
    requires: Callable[[ModelSpec], str | None] | None = None  # why a model cannot use it, or None
    # What host verification demands of this format (see sdk_gen/verify.py).
    check: Thresholds = Thresholds(exact=False)
    # Bytes the CPU backend holds at load beyond the weights file, per byte of it: weights the
    # runtime converts or packs into its own layout while the mapped file stays resident.
    cpu_load_copy: float = 0.0

    def bits_for(self, role: str, spec: ModelSpec) -> float:
        if role == "other":
            base = self.other_bits
        else:
            base = self.bits.get(role, self.default_bits)
        return self.role_bits(role, spec, base) if self.role_bits else base

    def weight_bytes(self, spec: ModelSpec, params: ParamBreakdown | None = None) -> int:
        params = params or spec.params
        total_bits = sum(getattr(params, role) * self.bits_for(role, spec) for role in WEIGHT_ROLES)
        return math.ceil(total_bits / 8)

    def unsupported_reason(self, spec: ModelSpec) -> str | None:
        return self.requires(spec) if self.requires else None


@dataclass(frozen=True)
class MemoryTraits:
    """How a runtime spends memory beyond the weights, for the budget."""

    kv_bytes_cpu: float  # bytes per cached K/V element on the CPU path
    kv_bytes_gpu: float
    activation_bytes_cpu: int
    activation_bytes_gpu: int
    prefill_chunk: int  # tokens processed per prefill step; sizes the activation buffers
    # Runtime libraries, tokenizer, allocator slack and the host app's own baseline, on the phone.
    overhead_bytes: int
    overhead_note: str
    # Buffers the CPU engine allocates at load whatever the model's size (arenas, workspaces).
    engine_buffers_cpu: int = 0
    # The load copy as a share of the weights, where the OS decides it rather than the format
    # (a browser holds the fetched file while the runtime reads it); None: the format's own.
    load_copy_factor: float | None = None
    # How many chunk x context x heads score buffers the engine holds at once (a planned arena
    # may keep the scores, their scaled/masked copies and the softmax side by side).
    attention_score_copies: int = 1


class Runtime(abc.ABC):
    """Base class for runtimes. Subclasses fill in the class attributes and the hooks."""

    key: str = ""
    display_name: str = ""
    platforms: tuple[str, ...] = ("android", "ios")
    families: tuple[str, ...] = ()
    auto_selectable: bool = True  # may `plan --runtime auto` pick it?
    memory: MemoryTraits
    artifact_kind: str = ""  # e.g. ".litertlm"
    formats: tuple[str, ...] = ()  # artifact formats `convert --format` accepts; the first is the default
    toolchain_packages: tuple[str, ...] = ()  # Python distributions whose versions key the cache
    takes_pre_tokenizer: bool = False  # does `--pre-tokenizer` mean anything to its converter?
    # Why this runtime's artifacts cannot be run on this machine ("" when they can be verified here).
    host_verification_gap: str = ""
    # Measured (parameters, seconds) on this project's 2-core machine, per quantization, for the
    # progress line's estimate (sdk_gen.progress.estimate_seconds); empty: no estimate shown.
    convert_timings: Mapping[str, tuple[tuple[float, float], ...]] = {}
    verify_timings: tuple[tuple[float, float], ...] = ()
    # Peak memory of the converter per parameter of the model, where it holds the whole model
    # (None: it streams the weights, and no up-front check is made).
    conversion_bytes_per_param: float | None = None
    conversion_memory_note: str = ""
    # Host verification's memory (verification_memory.py): can verify_here take reference_mode=
    # LAYERWISE (PyTorch on the artifact's weights one layer at a time, for checks against the
    # artifact's own weights)? And what the runtime's weight reader holds beside the whole float32
    # model, per parameter.
    layerwise_reference: bool = False
    reference_extra_bytes_per_param: float = 0.0

    @abc.abstractmethod
    def quant_formats(self) -> dict[str, QuantFormat]:
        """The runtime's weight formats by user-facing name."""

    # (target OS, artifact format) -> the phone engine a project wraps that artifact in. The engine
    # unit (sdk_gen/runtimes/engine.py) is the runtime's: its facts and its template overlays.
    engines: Mapping[tuple[str, str], PhoneEngine] = {}

    def engine_for(self, target_os: str, artifact_format: str) -> PhoneEngine | None:
        return self.engines.get((target_os, artifact_format))

    def default_format(self, platform: str | None) -> str | None:
        """The artifact format to write for ``platform`` (None: the user must say)."""
        return self.formats[0] if self.formats else None

    def file_suffix(self, artifact_format: str) -> str:
        """The artifact's file name suffix (without the dot) for a format."""
        return artifact_format

    def supports_platform(self, platform: str) -> bool:
        return any(p == platform for p, _ in self.engines)

    def auto_selects(self, platform: str) -> bool:
        """May `--runtime auto` pick this runtime for ``platform``?"""
        return self.auto_selectable

    def backends(self, platform: str) -> tuple[str, ...]:
        """Compute backends this runtime offers on ``platform``, preferred first."""
        return ("cpu",)

    # The GPU API its gpu backend needs on each OS (checked against the profile); an OS it does not
    # name has no GPU path.
    gpu_apis: Mapping[str, str] = {}

    def gpu_api(self, target_os: str) -> str | None:
        return self.gpu_apis.get(target_os)

    # Memory traits that differ on one OS (a browser tab's baseline is far larger than an app's).
    platform_memory: Mapping[str, MemoryTraits] = {}

    def memory_for(self, platform: str | None) -> MemoryTraits:
        return self.platform_memory.get(platform or "", self.memory)

    def unsupported_reason(self, spec: ModelSpec) -> str | None:
        if spec.family not in self.families:
            return f"{self.display_name} has no converter for the {spec.family} family ({spec.architecture})"
        return None

    def missing_tools(self) -> str | None:
        """Why this runtime's toolchain cannot run here, or None when it can."""
        return None

    # Formats `convert` uses when neither --quant nor --profile decides, in order of preference.
    default_quants: tuple[str, ...] = ()

    def default_quant(self, spec: ModelSpec) -> str:
        for name in self.default_quants:
            quant = self.quant(name)
            if quant and not quant.unsupported_reason(spec):
                return name
        return self.ranked_quants()[-1].name

    def quant(self, name: str) -> QuantFormat | None:
        return self.quant_formats().get(name)

    def ranked_quants(self) -> list[QuantFormat]:
        return sorted(self.quant_formats().values(), key=lambda q: q.quality, reverse=True)

    def kv_bytes(self, backend: str) -> float:
        return self.memory.kv_bytes_gpu if backend == "gpu" else self.memory.kv_bytes_cpu

    def activation_bytes(self, backend: str) -> int:
        return self.memory.activation_bytes_gpu if backend == "gpu" else self.memory.activation_bytes_cpu

    # --- conversion ----------------------------------------------------------------------

    def toolchain_versions(self) -> dict[str, str]:
        """Versions of the packages that produce this runtime's artifacts (part of the cache key)."""
        versions = {}
        for package in self.toolchain_packages:
            try:
                versions[package] = version(package)
            except PackageNotFoundError:
                versions[package] = "absent"
        return versions

    def check_job(self, job: "ConversionJob") -> None:
        """Refuse (BadInput) a job this runtime cannot convert, before any work starts."""

    def cache_options(self, job: "ConversionJob") -> dict:
        """Options beyond the job's own fields that change the artifact's bytes."""
        return {}

    def convert(self, job: "ConversionJob", workdir: Path, log_path: Path, stop: threading.Event | None = None) -> Path:
        """Convert ``job.model_dir`` into one artifact file inside ``workdir`` and return its path.

        A converter child is stopped (subprocess_log.Superseded) once ``stop`` is set.
        """
        raise ToolMissing(f"{self.display_name} has no converter in sdkgen {self._sdkgen_version()}")

    def artifact_figures(self, job: "ConversionJob", artifact: Path) -> dict:
        """Memory figures the runtime's own tools reported for this artifact.

        Keys (all optional): weights_bytes, working_bytes, kv_cache_bytes, and source (who
        measured them). The budget uses them in place of its estimates.
        """
        return {}

    def verify_here(self, job: "ConversionJob", artifact: Path) -> "VerificationResult":
        """Run ``artifact`` with the runtime's host build and compare it with PyTorch.

        sdk_gen.verify_worker.run_verification calls this in a child process, which rebuilds the
        runtime from the registry; the interface itself knows nothing of that child."""
        raise ToolMissing(f"{self.display_name} has no host verifier in sdkgen {self._sdkgen_version()}")

    @staticmethod
    def _sdkgen_version() -> str:
        from sdk_gen import __version__

        return __version__


@dataclass(frozen=True)
class ConversionJob:
    """Everything a runtime needs to produce (and check) one artifact."""

    model_dir: Path  # the folder the converter reads: the merged checkpoint when an adapter is given
    spec: ModelSpec
    runtime: Runtime
    quant: QuantFormat
    context: int
    artifact_format: str
    backend: str
    threads: int
    pre_tokenizer: str | None = None
    name: str = ""  # what the artifact is named after: the adapter's folder, else the model's
    platform: str | None = None  # the phone OS the artifact is for, when known (profile or command)
    # Where the artifact's tokenizer files come from when not from the model's folder: a LoRA
    # adapter that ships its own (sdk_gen.adapters.tokenizer_source, the rule the merge copies by).
    # Known before the merge, and still known after its folder is deleted.
    tokenizer_dir: Path | None = None
    # Where PyTorch's answers for this model are cached (verify.ReferenceCache); None: not cached.
    reference_dir: Path | None = None

    @property
    def artifact_name(self) -> str:
        source = self.name or self.spec.path.name
        stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in source).strip("-.") or "model"
        while len(stem.encode("utf-8", "surrogatepass")) > 160:  # file names stay under the 255 bytes filesystems allow
            stem = stem[:-1]
        stem = stem.strip("-.") or "model"
        return f"{stem}-{self.quant.name}.{self.runtime.file_suffix(self.artifact_format)}"

    @cached_property
    def chat_format(self) -> ChatFormat:
        """The chat turns of the tokenizer the artifact carries (the adapter's template, when it
        ships one), for prompts built outside the tokenizer: MLC's conversation template and the
        generated apps. Cached: loading a tokenizer is not free, and a job is asked more than once
        (MLC's cache key, its build, the project's templates)."""
        return chat_format_for_model(self.spec.path, tokenizer_dir=self.tokenizer_dir)
