"""Host verification of GGUF files with llama_cpp.Llama (runs in the verification child process)."""

from __future__ import annotations

import ctypes
import re
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sdk_gen.runtimes.llamacpp.loading import use_mmap
from sdk_gen.units import MIB
from sdk_gen.verify import (
    GREEDY_STEPS,
    PromptResult,
    StopRule,
    VerificationResult,
    apply_thresholds,
    compare_ids,
    logit_figures,
    reference_for,
)

if TYPE_CHECKING:
    from sdk_gen.runtimes.base import ConversionJob

HOST_THREADS = 2


class LlamaLog:
    """Collects llama.cpp's log (sizes of the KV cache and compute buffers it allocated)."""

    def __init__(self):
        import llama_cpp

        self.lines: list[str] = []

        @llama_cpp.llama_log_callback
        def collect(level, text, user_data):
            self.lines.append(text.decode("utf-8", errors="replace"))

        self._callback = collect  # keep a reference: llama.cpp calls it later
        llama_cpp.llama_log_set(collect, ctypes.c_void_p(0))

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


def verify_artifact(job: "ConversionJob", artifact: Path) -> VerificationResult:
    import llama_cpp

    thresholds = job.quant.check
    reference = reference_for(job, thresholds.reference)
    log = LlamaLog()
    llm = open_model(artifact, job.context, job.quant.name)
    vocab = llm._model.vocab
    eog = [t for t in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t)]
    stop = StopRule(tuple((t,) for t in eog))

    prompts = reference.prompts()
    results: list[PromptResult] = []
    sequences: list[list[int]] = []
    tokenizer_ok = True
    for prompt in prompts:
        prompt_ids = reference.encode(prompt)
        tokenizer_ok &= llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True) == prompt_ids
        ref_ids = reference.greedy(prompt_ids, GREEDY_STEPS, stop)
        got_ids = greedy(llm, prompt_ids, GREEDY_STEPS, stop)
        matched, divergence = compare_ids(ref_ids, got_ids)
        results.append(PromptResult(prompt, len(ref_ids), matched, divergence, reference.decode(ref_ids), reference.decode(got_ids)))
        sequences.append(prompt_ids + ref_ids)
    figures = logit_figures([reference.logits(seq) for seq in sequences], [logits(llm, seq) for seq in sequences])

    notes = []
    kv_bytes = log.mib(r"llama_kv_cache: size = +([0-9.]+) MiB")
    compute_bytes = log.mib(r"compute buffer size = +([0-9.]+) MiB")
    if kv_bytes is not None:
        notes.append(f"llama.cpp allocated a {kv_bytes} B KV cache for {job.context} tokens")
    if compute_bytes is not None:
        notes.append(f"llama.cpp reserved a {compute_bytes} B compute buffer")
    result = VerificationResult(
        runtime=f"llama_cpp.Llama {version('llama-cpp-python')} (CPU, {HOST_THREADS} threads)",
        artifact=artifact.name,
        reference=f"PyTorch {reference.model_class} ({thresholds.reference} weights, float32 compute)",
        thresholds=thresholds,
        prompts=results,
        logits=figures,
        checks={"tokenizer_parity": tokenizer_ok},
        notes=notes,
        measured={"kv_cache_bytes": kv_bytes, "compute_buffer_bytes": compute_bytes},
    )
    apply_thresholds(result)
    return result
