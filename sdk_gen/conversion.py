"""The convert stage: model (+ adapter) -> runtime artifact, cached, verified on the host.

    request -> job (runtime, format, quant, context) -> cache lookup
            -> [merge adapter] -> runtime.convert -> cache store
            -> runtime.verify -> ConversionResult (what the report and the templates need)

The lookup needs the model's SHA-256. For files hashed before it is free (hashing.py remembers
digests by file stats); for a new model the hashing runs beside the conversion (BackgroundLookup).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, NamedTuple

from sdk_gen import __version__
from sdk_gen.adapters import AdapterInfo, base_model_for, merge_adapter, read_adapter, tokenizer_source
from sdk_gen.budget import MemoryBudget
from sdk_gen.cache import ArtifactCache, CachedArtifact, cache_key, default_cache_root
from sdk_gen.errors import BadInput, ConversionFailed, DoesNotFit, OutOfSpace, ToolMissing, VerificationFailed
from sdk_gen.hashing import folder_digest, folder_remembered
from sdk_gen.model import inspect_model
from sdk_gen.output import atomic_output_dir
from sdk_gen.planner import DEFAULT_CONTEXT, PlanRequest, PlanResult, check_context, make_plan
from sdk_gen.profiles import TARGET_OSES, load_profile
from sdk_gen.progress import Progress, estimate_seconds
from sdk_gen.runtimes import check_runtime_supports, get_runtime
# ConversionJob is part of the runtime interface; it is importable from here as well, with the
# rest of the convert stage.
from sdk_gen.runtimes.base import ConversionJob
from sdk_gen.subprocess_log import Superseded
from sdk_gen.units import MIB, human_bytes
from sdk_gen.verify import VERIFICATION_VERSION, QuantFloor, VerificationResult
from sdk_gen.verification_memory import INTERPRETER_BYTES
from sdk_gen.verify_worker import available_memory_bytes, run_verification

# Bump when sdkgen changes how it drives a converter, so old cache entries stop matching.
CONVERTER_REVISION = 1


@dataclass(frozen=True)
class ConversionRequest:
    model: str | None
    runtime: str = "auto"
    quant: str | None = None
    context: int | None = None
    artifact_format: str | None = None
    adapter: Path | None = None
    profile: str | None = None
    backend: str | None = None
    allow_entitlement: bool = True
    verify: bool = True
    pre_tokenizer: str | None = None
    cache_dir: Path | None = None
    platform: str | None = None  # set by `sdkgen android|ios`: the profile must be for it
    # The quality the user demands of the quantized artifact (--max-quant-kl, --min-quant-top1);
    # judged after the verification, so a cached verification serves every floor.
    quant_floor: QuantFloor = QuantFloor()


@dataclass
class ConversionResult:
    job: ConversionJob
    artifact: CachedArtifact
    cache_hit: bool
    predicted_weights_bytes: int
    adapter: AdapterInfo | None
    plan: PlanResult | None
    verification: VerificationResult | None
    toolchain: dict[str, str]
    model_digest: str
    timings: dict[str, float] = field(default_factory=dict)
    # Memory figures the runtime's own tools reported for the artifact (Runtime.artifact_figures).
    runtime_figures: dict = field(default_factory=dict)
    # What no output may be, hold or sit inside (output.check_not_overlapping): model, adapter, cache.
    protected: dict = field(default_factory=dict)

    @property
    def actual_budget(self) -> MemoryBudget | None:
        """The plan's budget with the artifact's real size and whatever the runtime itself measured."""
        if self.plan is None:
            return None
        figures = dict(self.runtime_figures)
        if "weights_bytes" in figures:
            budget = self.plan.budget.with_artifact_size(figures["weights_bytes"], figures.get("source", "runtime"))
        else:
            budget = self.plan.budget.with_artifact_size(self.artifact.bytes)
        measured_kv = self.verification.measured.get("kv_cache_bytes") if self.verification else None
        if measured_kv or figures.get("kv_cache_bytes"):
            budget = budget.with_runtime_kv(measured_kv or figures["kv_cache_bytes"])
        if figures.get("working_bytes"):
            budget = budget.with_runtime_working(figures["working_bytes"], figures.get("source", "runtime"))
        return budget

    def report(self) -> dict:
        spec = self.job.spec
        data = {
            "sdkgen_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": {
                "path": str(spec.path),
                "architecture": spec.architecture,
                "num_params": spec.num_params,
                "digest": self.model_digest,
            },
            "adapter": None
            if self.adapter is None
            else {"path": str(self.adapter.path), "base_model": self.adapter.base_model, "rank": self.adapter.rank,
                  "merged": True},
            "runtime": self.job.runtime.key,
            "format": self.job.artifact_format,
            "quant": self.job.quant.name,
            "context": self.job.context,
            "backend": self.job.backend,
            "toolchain": self.toolchain,
            "cache": {"key": self.artifact.key, "hit": self.cache_hit, "path": str(self.artifact.path)},
            "artifacts": [{"path": self.job.artifact_name, "bytes": self.artifact.bytes, "sha256": self.artifact.sha256}],
            "weights": {
                "predicted_bytes": self.predicted_weights_bytes,
                "actual_bytes": self.artifact.bytes,
                "actual_over_predicted": round(self.artifact.bytes / self.predicted_weights_bytes, 4),
            },
            "plan": None,
            "budget": None,
            "verification": self.verification.to_json() if self.verification else None,
            "runtime_figures": self.runtime_figures,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }
        if self.plan is not None:
            data["plan"] = self.plan.plan.to_json()
            data["profile"] = self.plan.profile.id
            data["budget"] = {"predicted": self.plan.budget.to_json(), "actual": self.actual_budget.to_json()}
        return data


class PreparedJob(NamedTuple):
    """What prepare_job settled for a request; convert() takes it so a command prepares once."""

    job: ConversionJob
    adapter: AdapterInfo | None
    plan: PlanResult | None


def prepare_job(request: ConversionRequest) -> PreparedJob:
    """Validate the request and settle every choice, before any slow work starts."""
    adapter = read_adapter(request.adapter) if request.adapter else None
    model_arg = base_model_for(adapter, request.model) if adapter else request.model
    if not model_arg:
        raise BadInput("pass --model MODEL (or --adapter DIR whose config names its base)")
    if request.quant_floor.is_set and not request.verify:
        raise BadInput("--max-quant-kl and --min-quant-top1 are judged by the host verification: drop --no-verify, or drop them")
    spec = inspect_model(model_arg)

    plan = None
    if request.profile:
        profile = load_profile(request.profile)
        if request.platform and profile.platform != request.platform:
            raise BadInput(
                f"{profile.id} is {_a(TARGET_OSES.get(profile.platform, profile.platform))} device profile; "
                f"`sdkgen {request.platform}` needs {_a(TARGET_OSES.get(request.platform, request.platform))} profile "
                "(see `sdkgen profiles`)"
            )
        plan = make_plan(
            spec,
            profile,
            PlanRequest(
                runtime=request.runtime,
                quant=request.quant,
                context=request.context,
                backend=request.backend,
                allow_entitlement=request.allow_entitlement,
                needs_platform_wrapper=request.platform is not None,
            ),
        )
        runtime, quant = plan.plan.runtime, plan.plan.quant
        context, backend, threads = plan.plan.context, plan.plan.backend, plan.plan.threads
    else:
        if request.runtime == "auto":
            raise BadInput("--runtime auto chooses for a device: pass --profile, or name the runtime (--runtime litert)")
        runtime = get_runtime(request.runtime)
        check_runtime_supports(runtime, spec)
        quant_name = request.quant or runtime.default_quant(spec)
        quant = runtime.quant(quant_name)
        if quant is None:
            raise BadInput(
                f"unknown --quant {quant_name!r} for {runtime.display_name}; choose one of: {', '.join(runtime.quant_formats())}"
            )
        if quant.unsupported_reason(spec):
            raise BadInput(f"--quant {quant_name} cannot be used with this model: {quant.unsupported_reason(spec)}")
        check_context(spec, request.context)
        context = request.context or min(DEFAULT_CONTEXT, spec.max_context)
        backend = request.backend or "cpu"
        threads = 4

    missing = runtime.missing_tools()
    if missing:
        raise ToolMissing(missing)
    if request.quant_floor.is_set and runtime.host_verification_gap:
        raise BadInput(
            f"--max-quant-kl and --min-quant-top1 are judged by the host verification, which {runtime.display_name} "
            f"cannot run here ({runtime.host_verification_gap}); drop them"
        )
    if request.pre_tokenizer and not runtime.takes_pre_tokenizer:
        raise BadInput(
            f"--pre-tokenizer names llama.cpp's split rule; {runtime.display_name} reads the tokenizer files as they are: "
            "drop it, or add --runtime llamacpp"
        )
    platform = plan.profile.platform if plan else request.platform
    artifact_format = request.artifact_format or runtime.default_format(platform)
    if artifact_format is None:
        raise BadInput(
            f"{runtime.display_name} builds for one phone OS at a time: pass --profile (an Android or iOS device) "
            f"or --format {' or '.join(runtime.formats)}"
        )
    if artifact_format not in runtime.formats:
        raise BadInput(f"{runtime.display_name} writes {' or '.join(runtime.formats)}, not --format {artifact_format}")
    if not spec.has_weights and not any(spec.path.glob("pytorch_model*.bin")):
        raise BadInput(
            f"{spec.path} has a config.json but no weights (*.safetensors); converting needs them: fetch the whole "
            "checkpoint (e.g. `hf download REPO --local-dir DIR`); `sdkgen plan` works from config.json alone"
        )
    job = ConversionJob(
        model_dir=spec.path,
        spec=spec,
        runtime=runtime,
        quant=quant,
        context=context,
        artifact_format=artifact_format,
        backend=backend,
        threads=threads,
        pre_tokenizer=request.pre_tokenizer,
        name=adapter.path.name if adapter else spec.path.name,
        platform=platform,
        tokenizer_dir=tokenizer_source(spec.path, adapter) if adapter else None,
    )
    runtime.check_job(job)
    return PreparedJob(job, adapter, plan)


def protected_paths(job: ConversionJob, adapter: AdapterInfo | None, cache_dir: Path | None) -> dict[str, Path | None]:
    """The folders an output must keep clear of: replacing or filling them would destroy inputs."""
    return {
        "model folder": job.spec.path,
        "adapter folder": adapter.path if adapter else None,
        "sdkgen cache": cache_dir or default_cache_root(),
    }


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


@dataclass(frozen=True)
class CacheIdentity:
    """What a conversion is cached under."""

    key: str
    inputs: dict
    model_digest: str


def identify(job: ConversionJob, adapter: AdapterInfo | None, cache: ArtifactCache, toolchain: dict) -> CacheIdentity:
    """Hash everything that decides the artifact's bytes (reads files sdkgen has not hashed before)."""
    model_digest = folder_digest(job.spec.path, cache.hasher)
    inputs = {
        "converter_revision": CONVERTER_REVISION,
        "runtime": job.runtime.key,
        "format": job.artifact_format,
        "quant": job.quant.name,
        "context": job.context,
        "backend": job.backend,
        "pre_tokenizer": job.pre_tokenizer,
        "model": model_digest,
        "adapter": folder_digest(adapter.path, cache.hasher) if adapter else None,
        "toolchain": toolchain,
        "options": job.runtime.cache_options(job),
    }
    return CacheIdentity(cache_key(inputs), inputs, model_digest)


def predicted_conversion_bytes(job: ConversionJob) -> int | None:
    """The converter's peak memory for this job, where the runtime knows it (else None)."""
    prediction = predicted_conversion_memory(job)
    return None if prediction is None else prediction[0]


def predicted_conversion_memory(job: ConversionJob) -> tuple[int, str] | None:
    """(the converter's peak memory, how that figure is made), where the runtime knows it.

    A converter that holds the model (LiteRT's export) scales with every parameter
    (Runtime.conversion_bytes_per_param); one that streams tensor by tensor (llama.cpp's) scales
    with the largest tensor it holds at once (``conversion_bytes_per_largest_tensor_param``), plus
    the interpreter."""
    per_param = job.runtime.conversion_bytes_per_param
    if per_param is not None:
        return int(per_param * job.spec.num_params), (
            f"{per_param:g} bytes per parameter x {job.spec.num_params / 1e9:.2f}B parameters: {job.runtime.conversion_memory_note}"
        )
    per_tensor_param = getattr(job.runtime, "conversion_bytes_per_largest_tensor_param", None)
    if per_tensor_param is None:
        return None
    spec = job.spec
    largest = max(spec.params.embedding, spec.params.lm_head, spec.hidden_size * spec.intermediate_size)
    return int(per_tensor_param * largest) + INTERPRETER_BYTES, (
        f"{per_tensor_param:g} bytes per parameter of its largest tensor, {largest / 1e6:.0f}M, and the interpreter: "
        f"{job.runtime.conversion_memory_note}"
    )


def check_conversion_memory(job: ConversionJob, available: int | None = None) -> None:
    """Refuse, before it starts, a conversion this machine cannot hold (``available``: its free
    memory, read when not given): it would swap for minutes and end in the out-of-memory killer.
    The line says what it needs and the ways out."""
    prediction = predicted_conversion_memory(job)
    if prediction is None:
        return
    needed, what = prediction
    available = available_memory_bytes() if available is None else available
    if needed > available:
        streams = job.runtime.conversion_bytes_per_param is None
        way_out = "convert on a machine with more memory" + (
            "" if streams else ", or use --runtime llamacpp (its converter streams the weights)"
        )
        raise DoesNotFit(
            f"converting with {job.runtime.display_name} needs about {human_bytes(needed)} ({what}) and this machine "
            f"has {human_bytes(available)} available; {way_out}"
        )


def verification_inputs(job: ConversionJob) -> dict:
    """What decides a verification's outcome beyond the artifact itself (its cache key covers
    model, runtime, toolchain and options): how sdkgen checks, and what it asks of this format."""
    return {"version": VERIFICATION_VERSION, "thresholds": asdict(job.quant.check), "context": job.context}


class BackgroundLookup(threading.Thread):
    """Hashes the inputs and looks the cache up while the conversion already runs.

    Reading a checkpoint sdkgen has not seen costs about a second per 1.5 GB, a few percent of a
    conversion; done beside it, it costs nothing. If the finished lookup finds the artifact
    cached after all (the same model in a new folder), ``found`` stops the converter.
    """

    def __init__(self, work: Callable[[], CacheIdentity], cache: ArtifactCache):
        super().__init__(name="sdkgen-hash", daemon=True)
        self._work = work
        self._cache = cache
        self.found = threading.Event()
        self.identity: CacheIdentity | None = None
        self.entry: CachedArtifact | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.identity = self._work()
            self.entry = self._cache.lookup(self.identity.key)
            if self.entry is not None:
                self.found.set()
        except BaseException as error:  # re-raised by result() in the main thread
            self.error = error

    def result(self) -> tuple[CacheIdentity, CachedArtifact | None]:
        self.join()
        if self.error is not None:
            raise self.error
        assert self.identity is not None
        return self.identity, self.entry


def _no_space_message(where: Path) -> str:
    try:
        stat = os.statvfs(_existing(where))
        free = f"{stat.f_bavail * stat.f_frsize // MIB} MiB free"
    except OSError:
        free = "full"
    return (
        f"No space left on device: the sdkgen cache {where} is on a full disk ({free}); free space there or set "
        "SDKGEN_CACHE_DIR to a folder on a larger disk"
    )


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _log_says_no_space(log_path: Path) -> bool:
    try:
        with log_path.open("rb") as log:
            log.seek(max(0, log_path.stat().st_size - 65536))
            tail = log.read().decode("utf-8", "replace")
    except OSError:
        return False
    return "No space left on device" in tail or "ENOSPC" in tail or "[Errno 28]" in tail


def _disk_nearly_full(folder: Path) -> bool:
    try:
        stat = os.statvfs(_existing(folder))
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < MIB


def convert(
    request: ConversionRequest, progress: Progress | None = None, prepared: PreparedJob | None = None
) -> ConversionResult:
    """Run the convert stage; the artifact lands in the cache (see ConversionResult.artifact).

    ``prepared``: prepare_job(request), when the caller already ran it (to check the output before
    the slow part), so the request is not validated and planned a second time.
    """
    cache_root = request.cache_dir or default_cache_root()
    try:
        return _convert(request, progress, prepared or prepare_job(request))
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OutOfSpace(_no_space_message(cache_root)) from None
        raise


def _convert(request: ConversionRequest, progress: Progress | None, prepared: PreparedJob) -> ConversionResult:
    progress = progress or Progress(quiet=True)
    timings: dict[str, float] = {}
    job, adapter, plan = prepared
    cache = ArtifactCache(request.cache_dir)
    toolchain = job.runtime.toolchain_versions()
    seen_before = folder_remembered(job.spec.path, cache.hasher) and (
        adapter is None or folder_remembered(adapter.path, cache.hasher)
    )

    background: BackgroundLookup | None = None
    identity: CacheIdentity | None = None
    entry: CachedArtifact | None = None
    if seen_before:
        start = time.perf_counter()
        identity = identify(job, adapter, cache, toolchain)
        entry = cache.lookup(identity.key)
        timings["cache_lookup"] = time.perf_counter() - start
    else:
        # Bound now: ``job`` is rebound to the merged checkpoint while the lookup may still run.
        unmerged = job
        background = BackgroundLookup(lambda: identify(unmerged, adapter, cache, toolchain), cache)
        background.start()
    cache_hit = entry is not None
    verifies = request.verify and not job.runtime.host_verification_gap
    record = cache.verification_record(entry.key, verification_inputs(job)) if entry is not None and verifies else None
    workdir = cache.staging_dir()
    try:
        if adapter and (entry is None or (verifies and record is None)):
            with progress.stage(f"merging LoRA adapter {adapter.path.name} into {job.spec.path.name}"):
                job = replace(job, model_dir=merge_adapter(job.spec.path, adapter, workdir / "merged"))
        if entry is None:
            check_conversion_memory(job)
            log_path = workdir / "converter.log"
            title = f"converting with {job.runtime.display_name}: {job.quant.name}, context {job.context}, .{job.artifact_format}"
            start = time.perf_counter()
            artifact: Path | None = None
            estimate = estimate_seconds(job.runtime.convert_timings.get(job.quant.name, ()), job.spec.num_params)
            with progress.stage(title, estimate):
                try:
                    artifact = job.runtime.convert(job, workdir, log_path, stop=background.found if background else None)
                except Superseded:
                    pass  # the background lookup found the artifact cached: use that
                except ConversionFailed as failure:
                    if _log_says_no_space(log_path) or _disk_nearly_full(workdir):
                        raise OutOfSpace(_no_space_message(cache.root.parent)) from None
                    raise ConversionFailed(f"{failure.message} ({cache.keep_log(log_path, job.runtime.key)})") from None
            timings["convert"] = time.perf_counter() - start
            if background is not None:
                start = time.perf_counter()
                identity, entry = background.result()
                timings["cache_lookup"] = time.perf_counter() - start
                cache_hit = entry is not None
            if entry is None:
                assert artifact is not None and identity is not None
                entry = cache.store(identity.key, artifact, identity.inputs)
        else:
            progress.note(f"reusing cached artifact {entry.path}")
        cache.hasher.save()

        verification = None
        figures = job.runtime.artifact_figures(job, entry.path)
        if request.verify and job.runtime.host_verification_gap:
            progress.note(f"not verified on this machine: {job.runtime.host_verification_gap}")
        elif record is not None:
            verification = VerificationResult.from_json(record)
            progress.note(f"reusing this artifact's host verification ({verification.matched}/{verification.steps} greedy tokens matched)")
        elif request.verify:
            assert identity is not None
            job = replace(job, reference_dir=cache.reference_dir(identity.inputs))
            start = time.perf_counter()
            estimate = estimate_seconds(job.runtime.verify_timings, job.spec.num_params)
            with progress.stage(f"verifying on the host against PyTorch ({job.quant.check.reference} weights)", estimate):
                verification = run_verification(job, entry.path)
            timings["verify"] = time.perf_counter() - start
            if verification.passed:
                cache.store_verification(entry.key, verification_inputs(job), verification.to_json())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    assert identity is not None
    result = ConversionResult(
        job=job,
        artifact=entry,
        cache_hit=cache_hit,
        predicted_weights_bytes=job.quant.weight_bytes(job.spec),
        adapter=adapter,
        plan=plan,
        verification=verification,
        toolchain=toolchain,
        model_digest=identity.model_digest,
        timings=timings,
        runtime_figures=figures,
        protected=protected_paths(job, adapter, request.cache_dir),
    )
    if verification is not None and not verification.passed:
        raise VerificationFailed(
            f"{job.artifact_name} does not reproduce the PyTorch model: {verification.failure_summary()}; "
            f"the artifact stays in the cache ({entry.path}) for inspection"
        )
    shortfall = request.quant_floor.judge(verification) if verification is not None and request.quant_floor.is_set else None
    if shortfall and verification.cost is None:
        raise VerificationFailed(f"{shortfall}: drop them, or use --runtime llamacpp, whose verification measures it")
    if shortfall:
        raise VerificationFailed(
            f"{job.artifact_name} runs correctly but its {job.quant.name} quantization costs more than asked: {shortfall}; "
            "choose a format with more bits (--quant, e.g. q8_0) or relax the floor"
        )
    return result


REPORT_NAME = "sdkgen-report.json"


def place_artifact(artifact: CachedArtifact, dest: Path) -> None:
    """Put the cached artifact at ``dest`` (a hard link when the filesystem allows, else a copy) and
    check the placed bytes' SHA-256: what ships is what the report and the generated constants name."""
    from sdk_gen.hashing import sha256_file

    if artifact.path.is_symlink():
        raise ConversionFailed(f"cached artifact {artifact.path} is a symbolic link; delete its cache entry and run again")
    try:
        os.link(artifact.path, dest)
    except OSError:
        shutil.copy2(artifact.path, dest)
    if os.path.getsize(dest) != artifact.bytes or sha256_file(dest) != artifact.sha256:
        os.unlink(dest)
        if (artifact.path.parent / "entry.json").is_file():
            shutil.rmtree(artifact.path.parent, ignore_errors=True)  # the damaged cache entry: the next run rebuilds it
        raise ConversionFailed(
            f"cached artifact {artifact.path.name} changed on disk after it was checked (SHA-256 differs); "
            "its cache entry was removed: run the command again to rebuild it"
        )


def write_conversion_output(result: ConversionResult, dest: Path, force: bool) -> Path:
    """Write the artifact and sdkgen-report.json into ``dest``, all or nothing."""
    with atomic_output_dir(dest, force, result.protected) as staging:
        place_artifact(result.artifact, staging / result.job.artifact_name)
        (staging / REPORT_NAME).write_text(json.dumps(result.report(), indent=2) + "\n")
    return dest
