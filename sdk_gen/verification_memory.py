"""What each stage of a host verification will hold, predicted before it starts, and the choice
of how the PyTorch reference holds the model.

The stages, in the order a verification runs them:

- **runtime**: the runtime runs the artifact (its weights, load copy, KV cache, logit buffers);
- **reference**: PyTorch computes its logits, either with the whole float32 model held
  (REFERENCE_BYTES_PER_PARAM per parameter) or one weight-holding unit at a time
  (sdk_gen/layerwise.py: the largest unit, usually the embedding or the output matrix, a few
  times over for the bytes read, dequantized and copied), beside the logit rows being judged.

A verification against the artifact's own weights (llama.cpp's) closes the runtime before PyTorch
starts, so its peak is the larger stage; others hold both, so theirs is the sum. The whole model is
used when it fits (it also decodes, and is quicker on small models); else the layer-by-layer
reference, where the verification supports it; else the verification is refused up front with the
figure and the way out.

Every figure takes the memory available as an argument: nothing here reads the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sdk_gen.units import GIB, KIB
from sdk_gen.verify import (
    GREEDY_STEPS,
    LAYERWISE,
    PLAIN_PROMPTS,
    VERIFICATION_TEXT_TOKENS,
    WHOLE_MODEL,
)

if TYPE_CHECKING:
    from sdk_gen.runtimes.base import ConversionJob

# What the whole-model reference holds, per parameter: the float32 model (4 bytes) and about as
# much again while transformers loads and casts the checkpoint. Fitted to a Phi-2-shaped 2.78B
# model: 16.7 GB peak with a 1.74 GB q4_k_m GGUF beside it.
REFERENCE_BYTES_PER_PARAM = 5
# Python, torch and transformers themselves: about 1 GiB.
INTERPRETER_BYTES = GIB
# The layer-by-layer reference holds one unit at a time: its stored bytes as read (at most 4 per
# parameter), the float32 values a dequantizer returns (4) and the float32 copy PyTorch runs (4).
LAYERWISE_BYTES_PER_UNIT_PARAM = 12
# Positions a verification judges, at most: each prompt (the plain ones and a chat turn, none
# longer than this many tokens) with its greedy tokens, and the shipped text.
PROMPT_TOKENS_BOUND = 64
JUDGED_POSITIONS = (len(PLAIN_PROMPTS) + 1) * (PROMPT_TOKENS_BOUND + GREEDY_STEPS) + VERIFICATION_TEXT_TOKENS
# Bytes per logit while judging: four sets of float32 rows (the runtime's, PyTorch's on the
# artifact's weights, with rounded activations, on the original weights) and the float64 copies
# the figures are computed on (fidelity_figures: up to six at once).
JUDGING_BYTES_PER_LOGIT = 4 * 4 + 6 * 8
# The runtime keeps every position's logits for the whole context, twice (llama.cpp's buffer and
# llama-cpp-python's copy) when the verification compares all positions.
RUNTIME_LOGIT_COPIES = 2
FLOAT32_BYTES = 4


@dataclass(frozen=True)
class StagePrediction:
    stage: str
    bytes: int
    what: str  # how the figure is made, for the refusal line and the report

    def line(self) -> str:
        return f"{self.stage} {self.bytes / GIB:.1f} GiB ({self.what})"


@dataclass(frozen=True)
class VerificationMemoryPlan:
    """The stages' predicted peaks on a machine with ``available`` bytes, and the chosen reference."""

    runtime: StagePrediction
    references: dict  # reference mode -> StagePrediction, in order of preference
    runtime_closed_first: bool  # the runtime is closed before PyTorch starts (else both are held)
    available: int

    def peak(self, mode: str) -> int:
        reference = self.references[mode].bytes
        return max(self.runtime.bytes, reference) if self.runtime_closed_first else self.runtime.bytes + reference

    @property
    def mode(self) -> str | None:
        """The first reference mode whose peak fits, or None."""
        return next((mode for mode in self.references if self.peak(mode) <= self.available), None)

    @property
    def smallest_peak(self) -> int:
        return min(self.peak(mode) for mode in self.references)

    def refusal(self, runtime_name: str, params: int) -> str | None:
        """The line refusing this verification, or None when it fits."""
        if self.mode is not None:
            return None
        reference = min(self.references.values(), key=lambda r: r.bytes)
        holding = "then" if self.runtime_closed_first else "beside"
        return (
            f"host verification needs about {self.smallest_peak / GIB:.1f} GiB ({self.runtime.line()}, {holding} "
            f"{reference.line()}, for {params / 1e9:.2f}B parameters under {runtime_name}) and this machine has "
            f"{self.available / GIB:.1f} GiB available; rerun with --no-verify, or verify on a machine with more memory"
        )


def largest_unit_params(job: "ConversionJob") -> int:
    """Parameters of the largest unit the layer-by-layer reference loads: the embedding, the
    output matrix, or one decoder layer (the rest of the model spread over its layers)."""
    params = job.spec.params
    layer = (job.spec.num_params - params.embedding - params.lm_head) / max(job.spec.num_layers, 1)
    return int(max(params.embedding, params.lm_head, layer))


def plan_verification_memory(job: "ConversionJob", artifact_bytes: int, available: int) -> VerificationMemoryPlan:
    spec = job.spec
    against_artifact = job.quant.check.reference == "artifact"
    judging = JUDGED_POSITIONS * spec.vocab_size * JUDGING_BYTES_PER_LOGIT
    runtime_bytes = int(artifact_bytes * (1.0 + job.quant.cpu_load_copy))
    what = f"the {artifact_bytes / GIB:.1f} GiB artifact and its load copy"
    if against_artifact:
        kv = int(spec.kv_cache_elements(job.context) * job.runtime.memory.kv_bytes_cpu)
        logits = RUNTIME_LOGIT_COPIES * job.context * spec.vocab_size * FLOAT32_BYTES
        runtime_bytes += kv + logits
        what += f", a {job.context}-token KV cache and its logits"
    runtime = StagePrediction("runtime", runtime_bytes + INTERPRETER_BYTES, what)
    per_param = REFERENCE_BYTES_PER_PARAM + (job.runtime.reference_extra_bytes_per_param if against_artifact else 0)
    references = {
        WHOLE_MODEL: StagePrediction(
            "PyTorch reference", int(per_param * spec.num_params) + INTERPRETER_BYTES + judging,
            "the whole float32 model",
        )
    }
    if against_artifact and job.runtime.layerwise_reference:
        unit = largest_unit_params(job)
        references[LAYERWISE] = StagePrediction(
            "PyTorch reference", LAYERWISE_BYTES_PER_UNIT_PARAM * unit + INTERPRETER_BYTES + judging,
            f"one layer at a time, the largest {unit / 1e6:.0f}M parameters",
        )
    return VerificationMemoryPlan(runtime, references, runtime_closed_first=against_artifact, available=available)


def peak_rss_bytes() -> int | None:
    """This process's peak resident memory since it started or since reset_peak_rss (VmHWM)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * KIB
    except OSError:
        pass
    return None


def reset_peak_rss() -> None:
    """Start VmHWM afresh (Linux: writing 5 to clear_refs), so the next stage's peak is its own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
