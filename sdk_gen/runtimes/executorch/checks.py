"""Host verification of ExecuTorch `.pte` artifacts (runs in the verification child process).

fp32: ExecuTorch's greedy ids must equal PyTorch's, and its logits equal within float noise.
8da4w: two questions, as for llama.cpp's quantized GGUFs (sdk_gen/verify.py):
- runtime fidelity: PyTorch running the same torchao quantization eagerly (the function the
  export applied) against ExecuTorch, within what XNNPACK's activation rounding explains;
- quantization cost: that eager quantized model against the original weights (KL, top-1,
  perplexity on the shipped text).
"""

from __future__ import annotations

import contextlib
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from sdk_gen.verify import (
    GREEDY_STEPS,
    VERIFICATION_TEXT_TOKENS,
    GreedyRun,
    PromptResult,
    StopRule,
    VerificationResult,
    apply_thresholds,
    compare_ids,
    fidelity_figures,
    logit_figures,
    quant_cost,
    reference_for,
    verification_text,
)

if TYPE_CHECKING:
    from sdk_gen.runtimes.base import ConversionJob


class TorchaoWeights:
    """The `.pte`'s 8da4w weights as PyTorch runs them: the same torchao quantization applied to
    the checkpoint (torchao's config is deterministic), run eagerly (verify.ArtifactWeights)."""

    def __init__(self, artifact_sha256: str):
        from sdk_gen.runtimes.executorch.export import GROUP_SIZE

        self._identity = {"pte": artifact_sha256, "torchao": version("torchao"), "scheme": "8da4w", "group": GROUP_SIZE}

    @property
    def identity(self) -> dict:
        return self._identity

    def load_into(self, model) -> None:
        from sdk_gen.runtimes.executorch.export import prepare_8da4w

        prepare_8da4w(model)

    @contextlib.contextmanager
    def rounding(self, model):
        """While entered, the linears compute on float activations with the int4 weights
        dequantized: the int8 activation rounding taken out. How far that moves the logits is the
        noise scale XNNPACK's own (differently rounded) int8 activations are allowed a multiple of."""
        import torch

        swapped = []
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and hasattr(module.weight, "dequantize"):
                swapped.append((module, module.weight))
                module.weight = torch.nn.Parameter(module.weight.dequantize(), requires_grad=False)
        try:
            yield model
        finally:
            for module, weight in swapped:
                module.weight = weight


def _tokenizer_parity(decoder, reference, texts) -> bool:
    """The tokenizer carried inside the `.pte` encodes like the model's own."""
    from tokenizers import Tokenizer

    from sdk_gen.runtimes.executorch.export import TOKENIZER_METHODS

    data = decoder.constant_bytes(TOKENIZER_METHODS["tokenizer.json"])
    if data is None:
        return False
    carried = Tokenizer.from_str(data.decode("utf-8"))
    return all(carried.encode(text, add_special_tokens=False).ids == reference.encode(text) for text in texts)


def _stop_rule(decoder) -> StopRule:
    eos = decoder.constant("get_eos_ids")
    ids = [int(eos)] if isinstance(eos, int) else [int(i) for i in eos.tolist()]
    return StopRule(tuple((i,) for i in ids if i >= 0))


def verify_artifact(job: "ConversionJob", artifact: Path) -> VerificationResult:
    from sdk_gen.hashing import sha256_file
    from sdk_gen.runtimes.executorch.host import PteDecoder

    thresholds = job.quant.check
    quantized = thresholds.reference == "artifact"
    decoder = PteDecoder(artifact, quantized=quantized)
    runtime_name = f"ExecuTorch {version('executorch')} runtime (XNNPACK, Python module API: logits)"
    weights = TorchaoWeights(sha256_file(artifact)) if quantized else None
    reference = reference_for(job, thresholds.reference, weights)
    stop = _stop_rule(decoder)
    prompts = reference.prompts()
    prompt_ids = [reference.encode(p) for p in prompts]
    checks = {"tokenizer_parity": _tokenizer_parity(decoder, reference, prompts)}
    generated = [decoder.greedy(ids, GREEDY_STEPS, stop) for ids in prompt_ids]
    notes = ["the tokenizer files travel inside the .pte (constant methods sdkgen_tokenizer_json, ...)"]

    if not quantized:
        results = []
        sequences = []
        for prompt, ids, got_ids in zip(prompts, prompt_ids, generated):
            ref_ids = reference.greedy(ids, GREEDY_STEPS, stop)
            matched, divergence = compare_ids(ref_ids, got_ids)
            results.append(PromptResult(prompt, len(ref_ids), matched, divergence, reference.decode(ref_ids), reference.decode(got_ids)))
            sequences.append(ids + ref_ids)
        figures = logit_figures([reference.logits(s) for s in sequences], [decoder.logits(s) for s in sequences])
        result = VerificationResult(
            runtime=runtime_name, artifact=artifact.name,
            reference=f"PyTorch {reference.model_class} (original weights, float32 compute)",
            thresholds=thresholds, prompts=results, logits=figures, checks=checks, notes=notes,
        )
        apply_thresholds(result)
        return result

    # 8da4w: ExecuTorch's own greedy tokens, judged by teacher forcing against eager torchao.
    text_ids = reference.encode(verification_text())[: min(VERIFICATION_TEXT_TOKENS, decoder.context - 1)]
    sequences = [ids + more for ids, more in zip(prompt_ids, generated)] + [text_ids]
    artifact_rows = [decoder.logits(seq) for seq in sequences]
    reference_rows = reference.logits_batch(sequences)
    rounded_rows = reference.logits_batch(sequences, rounded=True)
    results, runs = [], []
    for prompt, ids, got_ids, rows in zip(prompts, prompt_ids, generated, reference_rows):
        ref_ids = [int(rows[len(ids) - 1 + step].argmax()) for step in range(len(got_ids))]
        matched, divergence = compare_ids(ref_ids, got_ids)
        results.append(PromptResult(prompt, len(ref_ids), matched, divergence, reference.decode(ref_ids), reference.decode(got_ids)))
        runs.append(GreedyRun(ids, ref_ids, got_ids, divergence))
    fidelity = fidelity_figures(reference_rows, rounded_rows, artifact_rows, runs, thresholds.fidelity_noise_factor, teacher_forced=True)
    figures = logit_figures(reference_rows, artifact_rows)
    costed = prompt_ids + [text_ids]
    quantized_rows = [rows[: len(ids)] for rows, ids in zip(reference_rows, costed)]
    reference.release()  # the original model loads next: one float32 model at a time
    original = reference_for(job, "original")
    cost = quant_cost(original.logits_batch(costed), quantized_rows, text_ids)
    original.release()
    result = VerificationResult(
        runtime=runtime_name, artifact=artifact.name,
        reference=f"PyTorch {reference.model_class} with the same torchao 8da4w quantization, run eagerly (teacher-forced greedy comparison)",
        thresholds=thresholds, prompts=results, logits=figures, checks=checks, notes=notes, fidelity=fidelity, cost=cost,
    )
    apply_thresholds(result)
    return result
