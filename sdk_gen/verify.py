"""Host verification: does the converted artifact compute what the PyTorch model computes?

Two checks, both against a PyTorch reference run here:

- **greedy**: decode greedily from fixed prompts with the runtime the phone uses, and compare the
  tokens (or text) with PyTorch's greedy output under the same stop tokens.
- **logits**: feed the same token sequences through the artifact and PyTorch and compare the
  next-token logits: max |difference|, correlation per position, top-1 agreement and top-5 overlap.

Float exports must reproduce the reference exactly. The reference is the model *as stored in the
artifact*: for fp16-weight formats that is PyTorch with the same matrices rounded to fp16, so
the check tests the conversion and not the rounding (whose effect is reported separately).
Quantized exports pass when the logit figures clear thresholds set per format (QuantFormat.check).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import numpy as np  # imported where used: `sdkgen` starts faster without it

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
    reference: str = "original"  # "original" or "fp16-weights"


@dataclass
class LogitFigures:
    positions: int
    max_abs_diff: float
    mean_correlation: float
    min_correlation: float
    top1_agreement: float
    top5_overlap: float


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
        if self.logits:
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
        }


# Bump when what a verification checks or how it judges changes: older records stop being reused.
VERIFICATION_VERSION = 1


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
        return self.folder / f"{kind}-{hashlib.sha256(canonical.encode()).hexdigest()[:32]}{suffix}"

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

    def logits(self, request: dict, compute) -> "np.ndarray":
        import numpy as np

        path = self._path("logits", request, ".npy")
        try:
            rows = np.load(path, allow_pickle=False)
            if rows.shape[0] == len(request["ids"]):
                return rows
        except (OSError, ValueError):
            pass
        rows = compute()
        self._write(path, lambda f: np.save(f, rows, allow_pickle=False))
        return rows


class TorchReference:
    """The PyTorch model in float32, optionally with its matrices rounded to fp16 as stored.

    The model loads on first use: with a ReferenceCache that already holds every answer asked
    for, it never loads (no minutes, no gigabytes)."""

    def __init__(self, model_dir: Path, weights: str = "original", cache: ReferenceCache | None = None):
        from transformers import AutoConfig, AutoTokenizer

        if weights not in ("original", "fp16-weights"):
            raise ValueError(weights)
        self.model_dir = model_dir
        self.weights = weights
        self.cache = cache
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        architectures = getattr(AutoConfig.from_pretrained(model_dir), "architectures", None) or ["CausalLM"]
        self.model_class = architectures[0]
        self._model = None

    @property
    def model(self):
        if self._model is None:
            import torch
            from transformers import AutoModelForCausalLM

            model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=torch.float32).eval()
            if self.weights == "fp16-weights":
                with torch.no_grad():
                    for param in model.parameters():
                        if param.dim() == 2:
                            param.copy_(param.half().float())
            self._model = model
        return self._model

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
        if self.cache is None:
            return self._greedy(prompt_ids, steps, stop)
        # Cached without a stop rule (runtimes stop on different token sets): greedy decoding is
        # deterministic and a stop only cuts it short, so the cut is made on the cached tokens.
        request = {"weights": self.weights, "ids": list(prompt_ids), "steps": steps}
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
        return self.cache.logits({"weights": self.weights, "ids": list(ids)}, lambda: self._logits(ids))

    def _logits(self, ids: Sequence[int]) -> "np.ndarray":
        import torch

        with torch.no_grad():
            return self.model(input_ids=torch.tensor([list(ids)])).logits[0].float().numpy()


def reference_for(job, weights: str) -> TorchReference:
    """The PyTorch reference for ``job``'s model, with its answers cached when the job says where."""
    return TorchReference(job.model_dir, weights, ReferenceCache(job.reference_dir) if job.reference_dir else None)


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
    if t.exact:
        result.checks["greedy_identical"] = all(p.first_divergence is None for p in result.prompts)
        if result.logits and t.max_abs_logit_diff is not None:
            result.checks["logits_within_float_noise"] = result.logits.max_abs_diff <= t.max_abs_logit_diff
    if result.logits:
        result.checks["logit_correlation"] = result.logits.mean_correlation >= t.min_correlation
        result.checks["top1_agreement"] = result.logits.top1_agreement >= t.min_top1
        result.checks["top5_overlap"] = result.logits.top5_overlap >= t.min_top5_overlap
