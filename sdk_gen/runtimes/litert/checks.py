"""Host verification of LiteRT artifacts (runs in the verification child process)."""

from __future__ import annotations

import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from sdk_gen.verify import (
    GREEDY_STEPS,
    PromptResult,
    StopRule,
    TorchReference,
    VerificationResult,
    apply_thresholds,
    compare_ids,
    compare_text,
    logit_figures,
    reference_for,
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


def verify_artifact(job: "ConversionJob", artifact: Path) -> VerificationResult:
    from sdk_gen.runtimes.litert.host import EngineRunner, TfliteDecoder, unpack_litertlm

    thresholds = job.quant.check
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
            from sdk_gen.runtimes.litert.task import (
                PARITY_TEXTS,
                SentencePieceTokenizer,
                first_parity_mismatch,
                read_task,
                reply_stop_ids,
            )

            tflite, tokenizer_model = read_task(artifact, scratch_dir)
            byte_level = job.spec.tokenizer_kind == "byte-level-bpe" and not (job.model_dir / "tokenizer.model").is_file()
            sp = SentencePieceTokenizer(tokenizer_model, byte_mapping=byte_level)
            checks["tokenizer_parity"] = first_parity_mismatch(reference.tokenizer, sp, [*prompts, *PARITY_TEXTS]) is None
            decoder = TfliteDecoder(tflite, HOST_THREADS)
            stop = StopRule(tuple((i,) for i in reply_stop_ids(job.model_dir, reference.tokenizer)))
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
