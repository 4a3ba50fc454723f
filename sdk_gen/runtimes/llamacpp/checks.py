"""Host verification of GGUF files with llama_cpp.Llama (runs in the verification child process).

Runtime fidelity: llama.cpp against PyTorch running the GGUF's own weights (dequantize.py), within
the rounding llama.cpp's kernels explain (activations.py). Quantization cost: those weights against
the original ones, both in PyTorch. llama.cpp runs first and is closed; then the two references run
one after the other, never together, each held whole or one layer at a time (sdk_gen/layerwise.py).
"""

from __future__ import annotations

import ctypes
import re
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sdk_gen.hashing import sha256_file
from sdk_gen.runtimes.llamacpp.dequantize import GgufWeights
from sdk_gen.runtimes.llamacpp.loading import use_mmap
from sdk_gen.units import MIB
from sdk_gen.verification_memory import peak_rss_bytes, reset_peak_rss
from sdk_gen.verify import (
    GREEDY_STEPS,
    LAYERWISE,
    WHOLE_MODEL,
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

HOST_THREADS = 2


class LlamaLog:
    """Collects llama.cpp's log (sizes of the KV cache and compute buffers it allocated) while
    the ``with`` block runs.

    llama.cpp keeps only a C pointer to the log callback. Left installed, it would outlive this
    object: the next log line in the process (any later model load) would call freed memory and
    crash it. Leaving the block puts back the callback that was there before (llama-cpp-python's own).
    """

    def __init__(self):
        self.lines: list[str] = []
        self._callback = None
        self._previous = None

    def __enter__(self) -> "LlamaLog":
        import llama_cpp

        previous, user_data = llama_cpp.llama_log_callback(), ctypes.c_void_p()
        llama_cpp.llama_log_get(ctypes.byref(previous), ctypes.byref(user_data))
        self._previous = (previous, user_data)

        @llama_cpp.llama_log_callback
        def collect(level, text, user_data):
            self.lines.append(text.decode("utf-8", errors="replace"))

        self._callback = collect  # alive for as long as llama.cpp may call it
        llama_cpp.llama_log_set(collect, ctypes.c_void_p(0))
        return self

    def __exit__(self, *exc_info) -> None:
        import llama_cpp

        previous, user_data = self._previous
        llama_cpp.llama_log_set(previous, user_data)
        self._callback = None

    def mib(self, pattern: str) -> int | None:
        found = re.findall(pattern, "".join(self.lines))
        return int(float(found[-1]) * MIB) if found else None


def greedy(llm, prompt_ids: list[int], steps: int, stop: StopRule) -> list[int]:
    llm.reset()
    llm.eval(prompt_ids)
    return continue_greedy(llm, steps, stop)


def continue_greedy(llm, steps: int, stop: StopRule) -> list[int]:
    """Greedy tokens after what ``llm`` has evaluated, decoding each as the apps do (one at a
    time; an end-of-generation token is not decoded), up to the end of the context."""
    generated: list[int] = []
    for _ in range(steps):
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        generated.append(token)
        if stop.hit(generated) or llm.n_tokens >= llm.n_ctx():
            break
        llm.eval([token])
    return stop.strip(generated)


def logits(llm, ids: list[int]) -> np.ndarray:
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def open_model(artifact: Path, context: int, quant: str, logits_all: bool = True):
    """llama_cpp.Llama set up as the generated apps set up llama.cpp (by default keeping every
    position's logits, which the verification compares)."""
    import llama_cpp

    # The apps leave flash attention to llama.cpp (AUTO), which turns it on for the CPU; it changes
    # the accumulation order, so the host runs the same attention path as the phone.
    return llama_cpp.Llama(
        model_path=str(artifact), n_ctx=context, n_threads=HOST_THREADS, logits_all=logits_all, verbose=False, seed=0,
        flash_attn=True, use_mmap=use_mmap(quant),
    )


# How PyTorch's side of the greedy comparison is made. Teacher forcing: llama.cpp decodes greedily,
# then PyTorch computes its logits at every position of (prompt + llama.cpp's tokens) in one pass,
# and each llama.cpp token must be PyTorch's top token there or tied with it within the tolerance.
# That is the autoregressive question (does PyTorch pick the same token after the same prefix?)
# asked of every position at once, with the weights read once instead of once per token, and with
# llama.cpp closed before PyTorch starts. Autoregressive: PyTorch decodes on its own beside
# llama.cpp (whole-model reference only; kept to show the two agree, tests/test_layerwise_reference.py).
TEACHER_FORCED = "teacher-forced"
AUTOREGRESSIVE = "autoregressive"


def verify_artifact(
    job: "ConversionJob", artifact: Path, reference_mode: str = WHOLE_MODEL, judgement: str = TEACHER_FORCED,
) -> VerificationResult:
    import gc

    import llama_cpp

    if judgement == AUTOREGRESSIVE and reference_mode != WHOLE_MODEL:
        raise ValueError("only the whole-model reference decodes on its own")
    thresholds = job.quant.check
    weights = GgufWeights(artifact, sha256_file(artifact))
    reference = reference_for(job, "artifact", weights, reference_mode)
    with LlamaLog() as log:  # llama.cpp logs its buffers' sizes as the model and context are created
        llm = open_model(artifact, job.context, job.quant.name)
    vocab = llm._model.vocab
    eog = [t for t in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t)]
    stop = StopRule(tuple((t,) for t in eog))

    prompts = reference.prompts()
    prompt_ids: list[list[int]] = []
    generated: list[list[int]] = []  # llama.cpp's greedy tokens per prompt
    decoded: list[list[int]] = []  # PyTorch's, when it decodes on its own
    tokenizer_ok = True
    for prompt in prompts:
        ids = reference.encode(prompt)
        tokenizer_ok &= llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True) == ids
        prompt_ids.append(ids)
        if judgement == AUTOREGRESSIVE:
            decoded.append(reference.greedy(ids, GREEDY_STEPS, stop))
        generated.append(greedy(llm, ids, GREEDY_STEPS, stop))
    # The shipped text, within the context llama.cpp was opened with: it is run by both sides too.
    text_ids = reference.encode(verification_text())[: min(VERIFICATION_TEXT_TOKENS, job.context)]
    continuations = generated if judgement == TEACHER_FORCED else decoded
    sequences = [ids + more for ids, more in zip(prompt_ids, continuations)] + [text_ids]
    artifact_rows = [logits(llm, seq) for seq in sequences]
    kv_bytes = log.mib(r"llama_kv_cache: size = +([0-9.]+) MiB")
    compute_bytes = log.mib(r"compute buffer size = +([0-9.]+) MiB")
    del llm, vocab
    gc.collect()  # llama.cpp's weights and buffers go before PyTorch's arrive
    runtime_peak = peak_rss_bytes()
    reset_peak_rss()

    reference_rows = reference.logits_batch(sequences)
    rounded_rows = reference.logits_batch(sequences, rounded=True)
    if judgement == TEACHER_FORCED:
        # PyTorch's top token at each of llama.cpp's positions: its own greedy choice after the same prefix.
        decoded = [
            [int(rows[len(ids) - 1 + step].argmax()) for step in range(len(more))]
            for ids, more, rows in zip(prompt_ids, generated, reference_rows)
        ]
    results: list[PromptResult] = []
    runs: list[GreedyRun] = []
    for prompt, ids, ref_ids, got_ids in zip(prompts, prompt_ids, decoded, generated):
        matched, divergence = compare_ids(ref_ids, got_ids)
        results.append(PromptResult(prompt, len(ref_ids), matched, divergence, reference.decode(ref_ids), reference.decode(got_ids)))
        runs.append(GreedyRun(ids, ref_ids, got_ids, divergence))
    fidelity = fidelity_figures(
        reference_rows, rounded_rows, artifact_rows, runs, thresholds.fidelity_noise_factor,
        teacher_forced=judgement == TEACHER_FORCED,
    )
    figures = logit_figures(reference_rows, artifact_rows)
    # The cost is asked on the prompts and the text alone, which no format changes: the original
    # model's answers, cached, serve every format of this model. The artifact's side is the first
    # rows of the sequences above (a causal model's logits over a prefix do not depend on what follows).
    costed = prompt_ids + [text_ids]
    artifact_cost_rows = [rows[: len(ids)] for rows, ids in zip(reference_rows, costed)]
    reference.release()  # the original model loads next: one float32 model at a time
    original = reference_for(job, "original", mode=reference_mode)
    cost = quant_cost(original.logits_batch(costed), artifact_cost_rows, text_ids)
    original.release()
    reference_peak = peak_rss_bytes()

    notes = []
    if kv_bytes is not None:
        notes.append(f"llama.cpp allocated a {kv_bytes} B KV cache for {job.context} tokens")
    if compute_bytes is not None:
        notes.append(f"llama.cpp reserved a {compute_bytes} B compute buffer")
    result = VerificationResult(
        runtime=f"llama_cpp.Llama {version('llama-cpp-python')} (CPU, {HOST_THREADS} threads)",
        artifact=artifact.name,
        reference=(
            f"PyTorch {reference.model_class} (the GGUF's own weights, dequantized; float32 compute"
            f"{', one layer at a time' if reference_mode == LAYERWISE else ''}; {judgement} greedy comparison)"
        ),
        thresholds=thresholds,
        prompts=results,
        logits=figures,
        checks={"tokenizer_parity": tokenizer_ok},
        notes=notes,
        # This process's peak while llama.cpp ran, and while PyTorch ran after it (each stage's own).
        measured={"kv_cache_bytes": kv_bytes, "compute_buffer_bytes": compute_bytes,
                  "runtime_stage_peak_rss_bytes": runtime_peak, "reference_stage_peak_rss_bytes": reference_peak},
        fidelity=fidelity,
        cost=cost,
    )
    apply_thresholds(result)
    return result
