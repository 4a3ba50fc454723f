"""Host verification of LiteRT artifacts (runs in the verification child process).

f32/f16: LiteRT must reproduce PyTorch (f16: with the same fp16-rounded matrices).
int8/int4: two questions, as for llama.cpp's quantized GGUFs (sdk_gen/verify.py):
- runtime fidelity: LiteRT's interpreter on the bundled `.tflite` against PyTorch running the
  file's own weights (dequantize.py), within what XNNPACK's dynamic int8 activation rounding
  explains (activations.py); LiteRT's greedy tokens judged by teacher forcing, and litert_lm's
  engine text held to the interpreter's greedy tokens (the same file and kernels);
- quantization cost: those weights against the original ones, both in PyTorch (KL, top-1,
  perplexity on the shipped text), held to a floor only when the user sets one.
"""

from __future__ import annotations

import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from sdk_gen.verify import (
    GREEDY_STEPS,
    VERIFICATION_TEXT_TOKENS,
    LAYERWISE,
    GreedyRun,
    PromptResult,
    StopRule,
    TorchReference,
    VerificationResult,
    WHOLE_MODEL,
    apply_thresholds,
    compare_ids,
    compare_text,
    fidelity_figures,
    logit_figures,
    quant_cost,
    reference_for,
    verification_text,
)

if TYPE_CHECKING:
    from sdk_gen.runtimes.base import ConversionJob

HOST_THREADS = 2

TASK_NOTE = (
    "LiteRT-LM's .task loader does not apply MediaPipe's GPT-2 byte mapping and reads start/stop tokens as "
    "text, so a .task is checked as MediaPipe's LlmInference uses it: its .tflite through LiteRT's interpreter "
    "(greedy ids and logits) and its SentencePiece tokenizer for id parity with the Hugging Face one"
)


def _before_nul(reference: TorchReference, ids: list[int]) -> tuple[list[int], str | None]:
    """Cut a continuation before the first token whose text holds a NUL (litert_lm returns C strings)."""
    for k, token in enumerate(ids):
        if "\x00" in reference.decode([token]):
            return ids[:k], f"text compared up to token {k}: the next one holds a NUL byte, which ends litert_lm's C string"
    return ids, None


def _task_tokenizer(job: "ConversionJob", tokenizer_model: Path, reference: TorchReference, prompts: list[str]):
    """A .task's SentencePiece tokenizer as MediaPipe runs it, whether its ids equal the Hugging
    Face tokenizer's (the prompts and fixed texts, chat markers included), and the ids that end a reply."""
    from sdk_gen.runtimes.litert.task import PARITY_TEXTS, SentencePieceTokenizer, first_parity_mismatch, reply_stop_ids

    byte_level = job.spec.tokenizer_kind == "byte-level-bpe" and not (job.model_dir / "tokenizer.model").is_file()
    sp = SentencePieceTokenizer(tokenizer_model, byte_mapping=byte_level)
    parity = first_parity_mismatch(reference.tokenizer, sp, [*prompts, *PARITY_TEXTS]) is None
    stop = StopRule(tuple((i,) for i in reply_stop_ids(job.model_dir, reference.tokenizer)))
    return sp, parity, stop


def verify_artifact(job: "ConversionJob", artifact: Path, reference_mode: str = WHOLE_MODEL) -> VerificationResult:
    from sdk_gen.runtimes.litert.host import EngineRunner, TfliteDecoder, unpack_litertlm

    thresholds = job.quant.check
    if thresholds.reference == "artifact":
        return verify_quantized(job, artifact, reference_mode=reference_mode)
    reference = reference_for(job, thresholds.reference)
    prompts = reference.prompts()
    checks: dict[str, bool] = {}
    notes: list[str] = []
    results: list[PromptResult] = []
    sequences: list[list[int]] = []

    with tempfile.TemporaryDirectory(prefix="sdkgen-verify-") as scratch:
        scratch_dir = Path(scratch)
        if job.artifact_format == "litertlm":
            tflite = unpack_litertlm(artifact, scratch_dir)
            engine = EngineRunner(artifact, job.context, HOST_THREADS)
            try:
                stop = engine.stop_rule()
                tokenizer_ok = True
                for prompt in prompts:
                    prompt_ids = reference.encode(prompt)
                    tokenizer_ok &= engine.tokenize(prompt) == prompt_ids
                    ref_ids = reference.greedy(prompt_ids, GREEDY_STEPS, stop)
                    text = engine.greedy_text(prompt, GREEDY_STEPS)
                    shown, why = engine.visible_reference(ref_ids, GREEDY_STEPS, stop)
                    shown, nul = _before_nul(reference, shown)
                    for reason in (why, nul):
                        if reason:
                            notes.append(f"prompt {len(results) + 1}: {reason}")
                    matched, divergence = compare_text(reference, shown, text)
                    results.append(PromptResult(prompt, len(shown), matched, divergence, reference.decode(shown), text))
                    sequences.append(prompt_ids + ref_ids)
            finally:
                engine.close()
            checks["tokenizer_parity"] = tokenizer_ok
            runtime_name = f"litert_lm.Engine {version('litert-lm-api')} (CPU) for greedy text; LiteRT interpreter for logits"
        else:
            from sdk_gen.runtimes.litert.task import read_task

            tflite, tokenizer_model = read_task(artifact, scratch_dir)
            sp, checks["tokenizer_parity"], stop = _task_tokenizer(job, tokenizer_model, reference, prompts)
            decoder = TfliteDecoder(tflite, HOST_THREADS)
            for prompt in prompts:
                prompt_ids = sp.encode(prompt)
                ref_ids = reference.greedy(prompt_ids, GREEDY_STEPS, stop)
                got_ids = decoder.greedy(prompt_ids, GREEDY_STEPS, stop)
                matched, divergence = compare_ids(ref_ids, got_ids)
                results.append(
                    PromptResult(prompt, len(ref_ids), matched, divergence, reference.decode(ref_ids), reference.decode(got_ids))
                )
                sequences.append(list(prompt_ids) + ref_ids)
            runtime_name = f"LiteRT interpreter (ai-edge-litert {version('ai-edge-litert')}) on the bundled .tflite"
            notes.append(TASK_NOTE)

        if job.artifact_format == "litertlm":
            decoder = TfliteDecoder(tflite, HOST_THREADS)
        artifact_rows = [decoder.logits(seq) for seq in sequences]
        figures = logit_figures([reference.logits(seq) for seq in sequences], artifact_rows)
        if thresholds.reference != "original":
            original = reference_for(job, "original")
            rounding = logit_figures([original.logits(seq) for seq in sequences], artifact_rows)
            notes.append(
                f"against the original float32 weights (the cost of fp16 storage): max |dlogit| {rounding.max_abs_diff:.2e}, "
                f"top-1 {rounding.top1_agreement:.3f}, correlation {rounding.mean_correlation:.6f}"
            )

    result = VerificationResult(
        runtime=runtime_name,
        artifact=artifact.name,
        reference=f"PyTorch {reference.model_class} ({thresholds.reference} weights, float32 compute)",
        thresholds=thresholds,
        prompts=results,
        logits=figures,
        checks=checks,
        notes=notes,
    )
    apply_thresholds(result)
    return result


def verify_quantized(job: "ConversionJob", artifact: Path, corrupt=None, reference_mode: str = WHOLE_MODEL) -> VerificationResult:
    """int8/int4: runtime fidelity against PyTorch on the file's own weights, and the cost of
    quantization against the original weights. ``corrupt``: for tests, misreads the file's weights
    (see dequantize.TfliteWeights) to show that a wrong reference fails fidelity."""
    from sdk_gen.hashing import sha256_file
    from sdk_gen.runtimes.litert.dequantize import TfliteWeights, UnmappedWeights
    from sdk_gen.runtimes.litert.host import EngineRunner, TfliteDecoder, unpack_litertlm

    thresholds = job.quant.check
    checks: dict[str, bool] = {}
    notes: list[str] = []
    digest = sha256_file(artifact)
    with tempfile.TemporaryDirectory(prefix="sdkgen-verify-") as scratch:
        scratch_dir = Path(scratch)
        engine_texts: list[str] | None = None
        if job.artifact_format == "litertlm":
            tflite = unpack_litertlm(artifact, scratch_dir)
            weights = TfliteWeights(tflite, digest, corrupt=corrupt)
            reference = reference_for(job, "artifact", weights, reference_mode)
            prompts = reference.prompts()
            prompt_ids = [reference.encode(p) for p in prompts]
            engine = EngineRunner(artifact, job.context, HOST_THREADS)
            try:
                stop = engine.stop_rule()
                checks["tokenizer_parity"] = all(engine.tokenize(p) == ids for p, ids in zip(prompts, prompt_ids))
                engine_texts = [engine.greedy_text(p, GREEDY_STEPS) for p in prompts]
            finally:
                engine.close()
            runtime_name = (
                f"LiteRT interpreter (ai-edge-litert {version('ai-edge-litert')}, XNNPACK) on the bundled .tflite for greedy ids "
                f"and logits; litert_lm.Engine {version('litert-lm-api')} (CPU) for greedy text"
            )
        else:
            from sdk_gen.runtimes.litert.task import read_task

            tflite, tokenizer_model = read_task(artifact, scratch_dir)
            weights = TfliteWeights(tflite, digest, corrupt=corrupt)
            reference = reference_for(job, "artifact", weights, reference_mode)
            prompts = reference.prompts()
            sp, checks["tokenizer_parity"], stop = _task_tokenizer(job, tokenizer_model, reference, prompts)
            prompt_ids = [list(sp.encode(p)) for p in prompts]
            runtime_name = f"LiteRT interpreter (ai-edge-litert {version('ai-edge-litert')}, XNNPACK) on the bundled .tflite"
            notes.append(TASK_NOTE)

        decoder = TfliteDecoder(tflite, HOST_THREADS)
        generated = [decoder.greedy(ids, GREEDY_STEPS, stop) for ids in prompt_ids]
        text_ids = reference.encode(verification_text())[: min(VERIFICATION_TEXT_TOKENS, decoder.context)]
        sequences = [ids + more for ids, more in zip(prompt_ids, generated)] + [text_ids]
        artifact_rows = [decoder.logits(seq) for seq in sequences]
        del decoder

        if engine_texts is not None:
            # litert_lm runs the same .tflite with the same XNNPACK kernels: its text must be the
            # interpreter's greedy tokens' (as far as its text API can show them).
            same = True
            for k, (ids, text) in enumerate(zip(generated, engine_texts)):
                shown, why = EngineRunner.visible_reference(ids, GREEDY_STEPS, stop)
                shown, nul = _before_nul(reference, shown)
                for reason in (why, nul):
                    if reason:
                        notes.append(f"prompt {k + 1}: {reason}")
                matched, divergence = compare_text(reference, shown, text)
                same &= divergence is None
            checks["engine_text"] = same

        try:
            reference_rows = reference.logits_batch(sequences)
        except UnmappedWeights as refusal:
            # Not this checkpoint's weights (another model's file, or one damaged past recognition).
            checks["weights_read_back"] = False
            return VerificationResult(
                runtime=runtime_name, artifact=artifact.name, reference=f"PyTorch {reference.model_class} (the .tflite's own weights)",
                thresholds=thresholds, prompts=[], logits=None, checks=checks, notes=[*notes, str(refusal)],
            )
        rounded_rows = reference.logits_batch(sequences, rounded=True)
        results: list[PromptResult] = []
        runs: list[GreedyRun] = []
        for prompt, ids, got_ids, rows in zip(prompts, prompt_ids, generated, reference_rows):
            # PyTorch's top token at each of LiteRT's positions: its greedy choice after the same prefix.
            ref_ids = [int(rows[len(ids) - 1 + step].argmax()) for step in range(len(got_ids))]
            matched, divergence = compare_ids(ref_ids, got_ids)
            results.append(PromptResult(prompt, len(ref_ids), matched, divergence, reference.decode(ref_ids), reference.decode(got_ids)))
            runs.append(GreedyRun(ids, ref_ids, got_ids, divergence))
        fidelity = fidelity_figures(
            reference_rows, rounded_rows, artifact_rows, runs, thresholds.fidelity_noise_factor, teacher_forced=True
        )
        figures = logit_figures(reference_rows, artifact_rows)
        costed = prompt_ids + [text_ids]
        artifact_cost_rows = [rows[: len(ids)] for rows, ids in zip(reference_rows, costed)]
        kinds = sorted(set(weights.kinds_by_parameter.values()))
        worst = max(weights.tensor_errors, key=lambda e: e.relative_rms, default=None)
        reference.release()  # the original model loads next: one float32 model at a time
        original = reference_for(job, "original", mode=reference_mode)
        cost = quant_cost(original.logits_batch(costed), artifact_cost_rows, text_ids)
        original.release()

    if weights.kinds_by_parameter:  # (empty when every answer came from the reference cache)
        notes.append(
            f"{len(weights.kinds_by_parameter)} matrices read back from the .tflite ({', '.join(kinds)}), each matched to "
            "its checkpoint parameter by value"
            + (f"; largest quantization error {worst.relative_rms:.3g} of the norm ({worst.name})" if worst else "")
        )
    if weights.paired_by_elimination:
        notes.append(
            f"{', '.join(weights.paired_by_elimination)}: no stored tensor lies near the checkpoint's, paired with the only "
            "one of its shape left (a tensor damaged in the file: its damage is in the quantization cost)"
        )
    result = VerificationResult(
        runtime=runtime_name,
        artifact=artifact.name,
        reference=(
            f"PyTorch {reference.model_class} (the .tflite's own weights, dequantized; float32 compute"
            f"{', one layer at a time' if reference_mode == LAYERWISE else ''}; teacher-forced greedy comparison)"
        ),
        thresholds=thresholds,
        prompts=results,
        logits=figures,
        checks=checks,
        notes=notes,
        fidelity=fidelity,
        cost=cost,
    )
    apply_thresholds(result)
    return result
