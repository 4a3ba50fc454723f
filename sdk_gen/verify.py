"""Host verification: does the converted artifact compute what the PyTorch model computes?

Two checks, both against a PyTorch reference run here:

- **greedy**: decode greedily from fixed prompts with the runtime the phone uses, and compare the
  tokens (or text) with PyTorch's greedy output under the same stop tokens.
- **logits**: feed the same token sequences through the artifact and PyTorch and compare the
  next-token logits: max |difference|, correlation per position, top-1 agreement and top-5 overlap.

Float exports must reproduce the reference exactly. The reference is the model *as stored in the
artifact*: for fp16-weight formats that is PyTorch with the same matrices rounded to fp16, so
the check tests the conversion and not the rounding (whose effect is reported separately).

Where the runtime can hand its weights back (ArtifactWeights: llama.cpp's GGUF, dequantized), a
verification answers two separate questions:

- **runtime fidelity**: PyTorch runs the artifact's own weights; the runtime must match it within
  what its arithmetic explains (FidelityFigures), for any model size or family.
- **quantization cost**: the artifact's weights against the original ones in PyTorch: KL divergence
  of next-token distributions, top-1 agreement and perplexity on a short shipped text (QuantCost),
  held to a floor only when the user sets one (QuantFloor).

Other formats pass when the logit figures clear thresholds set per format (QuantFormat.check).

The reference holds the whole float32 model, or (``mode=LAYERWISE``, sdk_gen/layerwise.py) one
decoder layer at a time, for models whose float32 copy does not fit the machine; which one is
decided before the verification starts, from each stage's predicted peak memory
(sdk_gen/verification_memory.py). The layer-by-layer reference computes logits, not greedy
decodes: llama.cpp's greedy tokens are then judged by teacher forcing (FidelityFigures.forced_*).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ContextManager, Protocol, Sequence

if TYPE_CHECKING:
    import numpy as np  # imported where used: `sdkgen` starts faster without it

    from sdk_gen.layerwise import WeightSource

# Fixed prompts: plain text, numbers and punctuation, and (when the model has one) a chat turn.
PLAIN_PROMPTS = (
    "The quick brown fox jumps over the lazy dog.",
    "What is the capital of France?",
    "Numbers: 1 2 3, punctuation; and a question?",
)
CHAT_MESSAGE = "Write a short poem about the sea."
GREEDY_STEPS = 32


@dataclass(frozen=True)
class Thresholds:
    """What a format must reach. ``exact``: greedy output identical and logits within float noise."""

    exact: bool
    min_correlation: float = 0.0
    min_top1: float = 0.0
    min_top5_overlap: float = 0.0
    max_abs_logit_diff: float | None = None  # for exact formats
    reference: str = "original"  # "original", "fp16-weights" or "artifact" (ArtifactWeights)
    # Judge runtime fidelity (FidelityFigures) instead of the figures above: the runtime may differ
    # from PyTorch on the artifact's weights by this many times what rounding its activations does.
    fidelity_noise_factor: float | None = None


class ArtifactWeights(Protocol):
    """An artifact's weights as PyTorch can run them, supplied by the runtime that wrote it."""

    @property
    def identity(self) -> dict:
        """What makes these weights these (the artifact's digest, the dequantizer): the key of
        the reference's cached answers."""

    def load_into(self, model) -> None:
        """Replace ``model``'s parameters in place by the artifact's."""

    def rounding(self, model) -> ContextManager:
        """While entered, ``model`` rounds its activations as the runtime's kernels do."""


class LayerwiseArtifactWeights(ArtifactWeights, Protocol):
    """Artifact weights the layer-by-layer reference can read one tensor at a time (the runtimes
    whose ``layerwise_reference`` is true supply these)."""

    def layer_source(self, original: "WeightSource") -> "WeightSource":
        """These weights one tensor at a time, for the layer-by-layer reference (``original``:
        the checkpoint, for anything the artifact dropped that PyTorch still computes)."""


@dataclass
class LogitFigures:
    positions: int
    max_abs_diff: float
    mean_correlation: float
    min_correlation: float
    top1_agreement: float
    top5_overlap: float


@dataclass
class FidelityFigures:
    """The runtime against PyTorch running the same (artifact) weights.

    ``rounding_noise``: how far PyTorch's own logits move when its activations are rounded as the
    runtime's kernels round them: the scale of disagreement the runtime's arithmetic explains.
    ``tolerance``: what the runtime may differ by (a multiple of that noise, never below the fp16
    rounding of the logits themselves). Both as the largest difference (a local error shows) and
    as the root mean square over every logit (steady: a misread file shows even where the largest
    rounding difference is large). A position is *decisive* when PyTorch's top token leads the
    next by more than twice the tolerance: no allowed error can flip it.
    """

    positions: int
    max_abs_diff: float
    rounding_noise: float
    tolerance: float
    rms_diff: float
    rms_rounding_noise: float
    rms_tolerance: float
    decisive_positions: int
    decisive_top1_agreement: float
    greedy_divergences: int  # greedy runs that parted from PyTorch's
    greedy_divergences_at_ties: int  # ...of which at a position where the two tokens were within tolerance
    # Teacher forcing (PyTorch's logits over the runtime's own greedy tokens): every generated
    # position is judged, not only each run's first parting. Zero when PyTorch decoded on its own.
    forced_positions: int = 0
    forced_disagreements: int = 0  # positions where the runtime's token is not PyTorch's top token
    forced_disagreements_at_ties: int = 0  # ...of which within the tolerance of it


@dataclass
class QuantCost:
    """What quantization costs: PyTorch with the artifact's weights against the original weights,
    next-token distributions over the same positions (the verification prompts and a short plain
    text shipped with sdkgen), and perplexity on that text."""

    positions: int
    mean_kl: float  # KL(original || artifact) of next-token distributions, nats per token
    max_kl: float
    top1_agreement: float
    text_tokens: int
    perplexity_original: float
    perplexity_artifact: float

    @property
    def perplexity_ratio(self) -> float:
        return self.perplexity_artifact / self.perplexity_original


@dataclass(frozen=True)
class QuantFloor:
    """The quality a user demands of a quantized artifact (--max-quant-kl, --min-quant-top1)."""

    max_kl: float | None = None
    min_top1: float | None = None

    @property
    def is_set(self) -> bool:
        return self.max_kl is not None or self.min_top1 is not None

    def judge(self, result: "VerificationResult") -> str | None:
        """Add the floor's checks to ``result``; return what fell short, in words, or None."""
        cost = result.cost
        if cost is None:
            return f"{result.runtime} reports no quantization cost, so --max-quant-kl / --min-quant-top1 cannot be checked"
        failed = []
        if self.max_kl is not None:
            result.checks["quant_kl"] = cost.mean_kl <= self.max_kl
            if not result.checks["quant_kl"]:
                failed.append(f"KL {cost.mean_kl:.4g} nats/token > --max-quant-kl {self.max_kl:g}")
        if self.min_top1 is not None:
            result.checks["quant_top1"] = cost.top1_agreement >= self.min_top1
            if not result.checks["quant_top1"]:
                failed.append(f"top-1 agreement {cost.top1_agreement:.3f} < --min-quant-top1 {self.min_top1:g}")
        return "; ".join(failed) or None


@dataclass
class PromptResult:
    prompt: str
    steps: int  # reference tokens generated
    matched: int  # leading tokens the artifact reproduced
    first_divergence: int | None
    reference_text: str
    artifact_text: str


@dataclass
class VerificationResult:
    runtime: str  # what ran the artifact, e.g. "litert_lm.Engine 0.18.1"
    artifact: str
    reference: str
    thresholds: Thresholds
    prompts: list[PromptResult]
    logits: LogitFigures | None
    checks: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # What the runtime itself reported while running the artifact (e.g. llama.cpp's KV cache bytes).
    measured: dict[str, int | None] = field(default_factory=dict)
    fidelity: FidelityFigures | None = None
    cost: QuantCost | None = None

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    @property
    def steps(self) -> int:
        return sum(p.steps for p in self.prompts)

    @property
    def matched(self) -> int:
        return sum(p.matched for p in self.prompts)

    def failure_summary(self) -> str:
        failed = [name for name, ok in self.checks.items() if not ok]
        parts = [f"failed {', '.join(failed)}"]
        if self.fidelity:
            f = self.fidelity
            parts.append(
                f"max |dlogit| {f.max_abs_diff:.3g} (tolerance {f.tolerance:.3g}), rms {f.rms_diff:.3g} (tolerance "
                f"{f.rms_tolerance:.3g}) against PyTorch on the artifact's own weights, "
                f"decisive top-1 {f.decisive_top1_agreement:.3f} over {f.decisive_positions} positions"
            )
        elif self.logits:
            parts.append(
                f"logit correlation {self.logits.mean_correlation:.4f} (min {self.thresholds.min_correlation}), "
                f"top-1 {self.logits.top1_agreement:.2f} (min {self.thresholds.min_top1})"
            )
        parts.append(f"greedy {self.matched}/{self.steps} tokens matched")
        return "; ".join(parts)

    @classmethod
    def from_json(cls, data: dict) -> "VerificationResult":
        return cls(
            runtime=data["runtime"],
            artifact=data["artifact"],
            reference=data["reference"],
            thresholds=Thresholds(**data["thresholds"]),
            prompts=[PromptResult(**p) for p in data["prompts"]],
            logits=LogitFigures(**data["logits"]) if data["logits"] else None,
            checks=dict(data["checks"]),
            notes=list(data["notes"]),
            measured=dict(data.get("measured", {})),
            fidelity=FidelityFigures(**data["fidelity"]) if data.get("fidelity") else None,
            cost=QuantCost(**{k: v for k, v in data["cost"].items() if k != "perplexity_ratio"}) if data.get("cost") else None,
        )

    def to_json(self) -> dict:
        return {
            "runtime": self.runtime,
            "artifact": self.artifact,
            "reference": self.reference,
            "passed": self.passed,
            "checks": self.checks,
            "steps": self.steps,
            "matched": self.matched,
            "prompts": [asdict(p) for p in self.prompts],
            "logits": asdict(self.logits) if self.logits else None,
            "thresholds": asdict(self.thresholds),
            "notes": self.notes,
            "measured": self.measured,
            "fidelity": asdict(self.fidelity) if self.fidelity else None,
            "cost": {**asdict(self.cost), "perplexity_ratio": self.cost.perplexity_ratio} if self.cost else None,
        }


# Bump when what a verification checks or how it judges changes: older records stop being reused.
VERIFICATION_VERSION = 3

# The plain text whose perplexity the quantization cost reports (package data, sdkgen's own words),
# and at most how many of its tokens are used (the runtime runs it within the job's context too).
VERIFICATION_TEXT = "verification-text.txt"
VERIFICATION_TEXT_TOKENS = 256


def verification_text() -> str:
    from importlib.resources import files

    return files("sdk_gen").joinpath("data", VERIFICATION_TEXT).read_text(encoding="utf-8")


class ReferenceCache:
    """PyTorch's answers for one model (its digest names the folder), kept on disk: greedy ids and
    logits per (weights, token ids, steps, stop rule). A second runtime, format or platform for the
    same model, or a rerun, reads them instead of loading the model again."""

    def __init__(self, folder: Path):
        self.folder = folder

    def _path(self, kind: str, request: dict, suffix: str) -> Path:
        import hashlib
        import json

        from importlib.metadata import version

        # What computes the answer: another torch or transformers may compute another one.
        libraries = {name: version(name) for name in ("torch", "transformers")}
        canonical = json.dumps({"kind": kind, **request, "libraries": libraries}, sort_keys=True)
        # The weights' kind in the name too, so one can see (and tests count) whose answers are kept.
        return self.folder / f"{kind}-{request['weights']}-{hashlib.sha256(canonical.encode()).hexdigest()[:32]}{suffix}"

    def _write(self, path: Path, write) -> None:
        import os
        import tempfile

        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=path.suffix, delete=False) as partial:
            write(partial)
        os.replace(partial.name, path)

    def greedy(self, request: dict, compute) -> list[int]:
        import json

        path = self._path("greedy", request, ".json")
        try:
            ids = json.loads(path.read_text())
            if isinstance(ids, list) and all(isinstance(i, int) for i in ids):
                return ids
        except (OSError, ValueError):
            pass
        ids = compute()
        self._write(path, lambda f: f.write(json.dumps(ids).encode()))
        return ids

    def peek_logits(self, request: dict) -> "np.ndarray | None":
        """The cached logits for ``request``, or None."""
        import numpy as np

        try:
            rows = np.load(self._path("logits", request, ".npy"), allow_pickle=False)
            if rows.shape[0] == len(request["ids"]):
                return rows
        except (OSError, ValueError):
            pass
        return None

    def logits(self, request: dict, compute) -> "np.ndarray":
        import numpy as np

        path = self._path("logits", request, ".npy")
        rows = self.peek_logits(request)
        if rows is not None:
            return rows
        rows = compute()
        self._write(path, lambda f: np.save(f, rows, allow_pickle=False))
        return rows


# How the reference holds the model: all of it in float32, or one weight-holding unit at a time
# (sdk_gen/layerwise.py: for models whose float32 copy does not fit; logits only, no decoding).
WHOLE_MODEL = "whole-model"
LAYERWISE = "layerwise"
REFERENCE_MODES = (WHOLE_MODEL, LAYERWISE)


class TorchReference:
    """The PyTorch model in float32, optionally with its matrices rounded to fp16 as stored, or
    with the artifact's own weights (``weights="artifact"`` and an ArtifactWeights).

    The model loads on first use: with a ReferenceCache that already holds every answer asked
    for, it never loads (no minutes, no gigabytes). ``release`` drops it, so a verification can
    ask the original model and the artifact's weights in turn while holding one of them.

    ``mode=LAYERWISE`` never holds the model: each batch of sequences is one pass over the
    weights, one unit at a time. It answers logits (``logits_batch``), not greedy decoding: a
    verification then judges the runtime's own greedy tokens by teacher forcing."""

    def __init__(
        self, model_dir: Path, weights: str = "original", cache: ReferenceCache | None = None,
        artifact: ArtifactWeights | None = None, mode: str = WHOLE_MODEL,
    ):
        from transformers import AutoConfig, AutoTokenizer

        if weights not in ("original", "fp16-weights", "artifact") or (weights == "artifact") != (artifact is not None):
            raise ValueError(weights)
        if mode not in REFERENCE_MODES:
            raise ValueError(mode)
        if mode == LAYERWISE and artifact is not None and not hasattr(artifact, "layer_source"):
            raise ValueError(f"{type(artifact).__name__} runs only as a whole model, not layer by layer")
        self.mode = mode
        self._layerwise = None
        self.model_dir = model_dir
        self.weights = weights
        self.artifact = artifact
        self.cache = cache
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        architectures = getattr(AutoConfig.from_pretrained(model_dir), "architectures", None) or ["CausalLM"]
        self.model_class = architectures[0]
        self._model = None

    @property
    def model(self):
        if self.mode == LAYERWISE:
            raise ValueError("the layer-by-layer reference holds no model: ask logits_batch")
        if self._model is None:
            import torch
            from transformers import AutoModelForCausalLM

            model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=torch.float32).eval()
            if self.weights == "fp16-weights":
                with torch.no_grad():
                    for param in model.parameters():
                        if param.dim() == 2:
                            param.copy_(param.half().float())
            elif self.artifact is not None:
                self.artifact.load_into(model)  # in place: one float32 model is held
            self._model = model
        return self._model

    def release(self) -> None:
        """Free the model (its answers stay in the cache)."""
        import gc

        self._model = None
        self._layerwise = None
        gc.collect()

    @property
    def layerwise(self):
        """The layer-by-layer model (built on first use: a skeleton without weights, instant)."""
        if self._layerwise is None:
            from sdk_gen.layerwise import CheckpointWeights, LayerwiseModel

            original = CheckpointWeights(self.model_dir, fp16=self.weights == "fp16-weights")
            source = self.artifact.layer_source(original) if self.artifact is not None else original
            self._layerwise = LayerwiseModel(self.model_dir, source)
        return self._layerwise

    def _request(self, ids: Sequence[int], **more) -> dict:
        request = {"weights": self.weights, "ids": list(ids), **more}
        if self.artifact is not None:
            request["artifact"] = self.artifact.identity
        return request

    def prompts(self) -> list[str]:
        return [*PLAIN_PROMPTS, *self.chat_prompts(self.tokenizer)]

    @staticmethod
    def chat_prompts(tokenizer) -> list[str]:
        """The chat-formatted verification prompt, when the model has a chat template."""
        if not getattr(tokenizer, "chat_template", None):
            return []
        return [
            tokenizer.apply_chat_template([{"role": "user", "content": CHAT_MESSAGE}], tokenize=False, add_generation_prompt=True)
        ]

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)

    def greedy(self, prompt_ids: Sequence[int], steps: int, stop: "StopRule") -> list[int]:
        if self.mode == LAYERWISE:
            raise ValueError("the layer-by-layer reference does not decode: judge the runtime's tokens by teacher forcing")
        if self.cache is None:
            return self._greedy(prompt_ids, steps, stop)
        # Cached without a stop rule (runtimes stop on different token sets): greedy decoding is
        # deterministic and a stop only cuts it short, so the cut is made on the cached tokens.
        request = self._request(prompt_ids, steps=steps)
        whole = self.cache.greedy(request, lambda: self._greedy(prompt_ids, steps, StopRule(())))
        for end in range(1, len(whole) + 1):
            if stop.hit(whole[:end]):
                return stop.strip(whole[:end])
        return whole

    def _greedy(self, prompt_ids: Sequence[int], steps: int, stop: "StopRule") -> list[int]:
        import torch

        generated: list[int] = []
        past = None
        inputs = torch.tensor([list(prompt_ids)])
        with torch.no_grad():
            for _ in range(steps):
                out = self.model(input_ids=inputs, past_key_values=past, use_cache=True)
                past = out.past_key_values
                token = int(out.logits[0, -1].argmax())
                generated.append(token)
                if stop.hit(generated):
                    generated = stop.strip(generated)
                    break
                inputs = torch.tensor([[token]])
        return generated

    def logits(self, ids: Sequence[int]) -> "np.ndarray":
        if self.cache is None:
            return self._logits(ids)
        return self.cache.logits(self._request(ids), lambda: self._logits(ids))

    def rounded_logits(self, ids: Sequence[int]) -> "np.ndarray":
        """Logits with activations rounded as the artifact's runtime rounds them (artifact weights)."""
        if self.artifact is None:
            raise ValueError("only an artifact's weights know how their runtime rounds")
        if self.cache is None:
            return self._rounded_logits(ids)
        return self.cache.logits(self._request(ids, activations="runtime-rounded"), lambda: self._rounded_logits(ids))

    def _rounded_logits(self, ids: Sequence[int]) -> "np.ndarray":
        if self.mode == LAYERWISE:
            return self._compute_batch([ids], rounded=True)[0]
        with self.artifact.rounding(self.model):
            return self._logits(ids)

    def logits_batch(self, sequences: Sequence[Sequence[int]], rounded: bool = False) -> list["np.ndarray"]:
        """``logits`` (``rounded``: ``rounded_logits``) of each sequence; those not cached are
        computed together, in one pass over the weights when layer by layer."""
        if rounded and self.artifact is None:
            raise ValueError("only an artifact's weights know how their runtime rounds")
        extra = {"activations": "runtime-rounded"} if rounded else {}
        found: dict[int, "np.ndarray"] = {}
        if self.cache is not None:
            for i, seq in enumerate(sequences):
                rows = self.cache.peek_logits(self._request(seq, **extra))
                if rows is not None:
                    found[i] = rows
        missing = [i for i in range(len(sequences)) if i not in found]
        if missing:
            computed = self._compute_batch([sequences[i] for i in missing], rounded)
            for i, rows in zip(missing, computed):
                found[i] = rows
                if self.cache is not None:
                    self.cache.logits(self._request(sequences[i], **extra), lambda rows=rows: rows)
        return [found[i] for i in range(len(sequences))]

    def _compute_batch(self, sequences: Sequence[Sequence[int]], rounded: bool) -> list["np.ndarray"]:
        import contextlib

        if self.mode == WHOLE_MODEL:
            compute = self._rounded_logits if rounded else self._logits
            return [compute(seq) for seq in sequences]
        model = self.layerwise
        with self.artifact.rounding(model.model) if rounded else contextlib.nullcontext():
            return model.logits(sequences)

    def _logits(self, ids: Sequence[int]) -> "np.ndarray":
        import torch

        if self.mode == LAYERWISE:
            return self._compute_batch([ids], rounded=False)[0]

        with torch.no_grad():
            return self.model(input_ids=torch.tensor([list(ids)])).logits[0].float().numpy()


def reference_for(job, weights: str, artifact: ArtifactWeights | None = None, mode: str = WHOLE_MODEL) -> TorchReference:
    """The PyTorch reference for ``job``'s model, with its answers cached when the job says where."""
    return TorchReference(job.model_dir, weights, ReferenceCache(job.reference_dir) if job.reference_dir else None, artifact, mode)


@dataclass(frozen=True)
class StopRule:
    """Stop when the output ends with one of these token sequences (single ids are the usual case)."""

    sequences: tuple[tuple[int, ...], ...]

    def hit(self, generated: Sequence[int]) -> bool:
        return any(len(generated) >= len(s) and tuple(generated[-len(s):]) == s for s in self.sequences)

    def strip(self, generated: Sequence[int]) -> list[int]:
        for s in self.sequences:
            if len(generated) >= len(s) and tuple(generated[-len(s):]) == s:
                return list(generated[: len(generated) - len(s)])
        return list(generated)


def logit_figures(reference: Sequence[np.ndarray], artifact: Sequence[np.ndarray]) -> LogitFigures:
    """Compare next-token logits position by position (rows: positions, columns: vocab)."""
    import numpy as np

    ref = np.concatenate(reference)
    got = np.concatenate(artifact)
    vocab = min(ref.shape[1], got.shape[1])
    ref, got = ref[:, :vocab].astype(np.float64), got[:, :vocab].astype(np.float64)
    correlations = [_correlation(a, b) for a, b in zip(ref, got)]
    top5_ref = np.argsort(-ref, axis=1)[:, :5]
    top5_got = np.argsort(-got, axis=1)[:, :5]
    overlap = [len(set(a) & set(b)) / 5 for a, b in zip(top5_ref, top5_got)]
    return LogitFigures(
        positions=int(ref.shape[0]),
        max_abs_diff=float(np.abs(ref - got).max()),
        mean_correlation=float(np.mean(correlations)),
        min_correlation=float(np.min(correlations)),
        top1_agreement=float(np.mean(ref.argmax(1) == got.argmax(1))),
        top5_overlap=float(np.mean(overlap)),
    )


# The runtime keeps K/V and attention scores in fp16 (llama.cpp's default cache type), which no
# activation emulation here reproduces: its logits are never trusted closer than fp16's relative
# precision (2^-10 of their largest magnitude).
FP16_RELATIVE_PRECISION = 2.0**-10


@dataclass(frozen=True)
class GreedyRun:
    """One prompt's greedy decode by both sides, for judging where they parted."""

    prompt_ids: list[int]
    reference_ids: list[int]
    artifact_ids: list[int]
    first_divergence: int | None


def fidelity_figures(
    reference: Sequence[np.ndarray], rounded: Sequence[np.ndarray], artifact: Sequence[np.ndarray],
    runs: Sequence[GreedyRun], noise_factor: float, teacher_forced: bool = False,
) -> FidelityFigures:
    """The runtime (``artifact`` logits) against PyTorch on the artifact's weights (``reference``),
    within ``noise_factor`` x how far rounding activations as the runtime does moves PyTorch
    (``rounded``). The first len(runs) sequences are the greedy runs' (prompt + reference ids;
    ``teacher_forced``: prompt + the runtime's ids, and then every generated position is judged:
    the runtime's token must be PyTorch's top token or within the tolerance of it)."""
    import numpy as np

    vocab = min(reference[0].shape[1], artifact[0].shape[1])
    ref = [r[:, :vocab].astype(np.float64) for r in reference]
    got = [a[:, :vocab].astype(np.float64) for a in artifact]
    every_ref, every_got = np.concatenate(ref), np.concatenate(got)
    every_rounded = np.concatenate([q[:, :vocab] for q in rounded]).astype(np.float64)

    def rms(values: np.ndarray) -> float:
        return float(np.sqrt(np.mean(np.square(values))))

    noise, rms_noise = float(np.abs(every_ref - every_rounded).max()), rms(every_ref - every_rounded)
    tolerance = max(noise_factor * noise, FP16_RELATIVE_PRECISION * float(np.abs(every_ref).max()))
    rms_tolerance = max(noise_factor * rms_noise, FP16_RELATIVE_PRECISION * rms(every_ref))
    top2 = np.sort(every_ref, axis=1)[:, -2:]
    decisive = (top2[:, 1] - top2[:, 0]) > 2 * tolerance
    agree = every_ref.argmax(1) == every_got.argmax(1)

    divergences = at_ties = 0
    for run, r, g in zip(runs, ref, got):
        if run.first_divergence is None:
            continue
        divergences += 1
        row = len(run.prompt_ids) - 1 + run.first_divergence
        ours = int(r[row].argmax())
        theirs = run.artifact_ids[run.first_divergence] if run.first_divergence < len(run.artifact_ids) else int(g[row].argmax())
        if theirs < vocab and r[row, ours] - r[row, theirs] <= 2 * tolerance:
            at_ties += 1
    forced = forced_disagreements = forced_at_ties = 0
    if teacher_forced:
        for run, r in zip(runs, ref):
            for step, token in enumerate(run.artifact_ids):
                row = len(run.prompt_ids) - 1 + step
                forced += 1
                ours = int(r[row].argmax())
                if token != ours:
                    forced_disagreements += 1
                    forced_at_ties += int(token < vocab and r[row, ours] - r[row, token] <= 2 * tolerance)
    return FidelityFigures(
        forced_positions=forced,
        forced_disagreements=forced_disagreements,
        forced_disagreements_at_ties=forced_at_ties,
        positions=int(every_ref.shape[0]),
        max_abs_diff=float(np.abs(every_ref - every_got).max()),
        rounding_noise=noise,
        tolerance=tolerance,
        rms_diff=rms(every_ref - every_got),
        rms_rounding_noise=rms_noise,
        rms_tolerance=rms_tolerance,
        decisive_positions=int(decisive.sum()),
        decisive_top1_agreement=float(agree[decisive].mean()) if decisive.any() else 1.0,
        greedy_divergences=divergences,
        greedy_divergences_at_ties=at_ties,
    )


def quant_cost(original: Sequence[np.ndarray], artifact: Sequence[np.ndarray], text_ids: Sequence[int]) -> QuantCost:
    """Original weights against the artifact's, both in PyTorch, over the same sequences; the last
    sequence is the verification text, whose perplexity each side gets."""
    import numpy as np

    vocab = min(original[0].shape[1], artifact[0].shape[1])
    log_p = [_log_softmax(o[:, :vocab]) for o in original]
    log_q = [_log_softmax(a[:, :vocab]) for a in artifact]
    kl = np.concatenate([(np.exp(p) * (p - q)).sum(1) for p, q in zip(log_p, log_q)])
    agree = np.concatenate([p.argmax(1) == q.argmax(1) for p, q in zip(log_p, log_q)])
    following = np.asarray(text_ids[1:])
    rows = np.arange(len(following))

    def perplexity(log_probs: np.ndarray) -> float:
        return float(np.exp(-log_probs[rows, following].mean()))

    return QuantCost(
        positions=int(kl.shape[0]),
        mean_kl=float(kl.mean()),
        max_kl=float(kl.max()),
        top1_agreement=float(agree.mean()),
        text_tokens=len(text_ids),
        perplexity_original=perplexity(log_p[-1]),
        perplexity_artifact=perplexity(log_q[-1]),
    )


def _log_softmax(rows: np.ndarray) -> np.ndarray:
    import numpy as np

    rows = rows.astype(np.float64)
    shifted = rows - rows.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    import numpy as np
    a = a - a.mean()
    b = b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator else 0.0


def compare_ids(reference: Sequence[int], artifact: Sequence[int]) -> tuple[int, int | None]:
    """(matched leading tokens, index of the first divergence or None when identical)."""
    matched = 0
    for a, b in zip(reference, artifact):
        if a != b:
            break
        matched += 1
    identical = matched == len(reference) == len(artifact)
    return matched, None if identical else matched


def compare_text(reference: TorchReference, ref_ids: Sequence[int], artifact_text: str) -> tuple[int, int | None]:
    """Like compare_ids, when the runtime returns text: count reference tokens whose text it reproduced.

    A token prefix can end inside a multi-byte character (its text then ends in U+FFFD, which the
    whole text does not contain), so a non-matching prefix does not end the count: the longest
    prefix whose text starts the artifact's text does.
    """
    if artifact_text == reference.decode(ref_ids):
        return len(ref_ids), None
    matched = 0
    for k in range(1, len(ref_ids) + 1):
        if artifact_text.startswith(reference.decode(ref_ids[:k])):
            matched = k
    return matched, matched


def apply_thresholds(result: VerificationResult) -> None:
    """Fill result.checks from its figures and thresholds."""
    t = result.thresholds
    if t.fidelity_noise_factor is not None:
        f = result.fidelity
        assert f is not None, "a fidelity threshold needs fidelity figures"
        # Within what the runtime's arithmetic explains; no allowed error flips a decisive top-1;
        # greedy runs part only where the two tokens were tied within the tolerance.
        result.checks["fidelity_logits"] = f.max_abs_diff <= f.tolerance and f.rms_diff <= f.rms_tolerance
        result.checks["fidelity_top1"] = f.decisive_top1_agreement == 1.0
        result.checks["fidelity_greedy"] = (
            f.greedy_divergences == f.greedy_divergences_at_ties and f.forced_disagreements == f.forced_disagreements_at_ties
        )
        return
    if t.exact:
        result.checks["greedy_identical"] = all(p.first_divergence is None for p in result.prompts)
        if result.logits and t.max_abs_logit_diff is not None:
            result.checks["logits_within_float_noise"] = result.logits.max_abs_diff <= t.max_abs_logit_diff
    if result.logits:
        result.checks["logit_correlation"] = result.logits.mean_correlation >= t.min_correlation
        result.checks["top1_agreement"] = result.logits.top1_agreement >= t.min_top1
        result.checks["top5_overlap"] = result.logits.top5_overlap >= t.min_top5_overlap
