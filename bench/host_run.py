"""Load one artifact with its host runtime, decode 32 tokens, and print what it cost (JSON).

    python bench/host_run.py {litert|llamacpp|executorch} ARTIFACT CONTEXT QUANT

Run in a fresh process per artifact so its peak RSS belongs to that artifact alone: the
baseline is its RSS after importing the runtime, before loading anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sdk_gen.units import KIB  # noqa: E402

PROMPT = "The quick brown fox jumps over the lazy dog."
PREFILL_TOKENS = 16
DECODE_TOKENS = 32
THREADS = 2


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def start_measuring() -> int:
    """Reset the peak-RSS mark to the RSS now and return that baseline (bytes).

    VmHWM, not getrusage: Linux carries ru_maxrss across exec, so a child of a big parent
    would report the parent's peak. Writing 5 to clear_refs resets VmHWM, so transient
    import-time peaks do not hide the load either.
    """
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS") * KIB


def peak_rss_bytes() -> int:
    return _status_kib("VmHWM") * KIB


def run_litert(artifact: Path, context: int, quant: str) -> dict:
    """litert_lm's own benchmark: it prefills a fixed token count and decodes exactly
    DECODE_TOKENS (end-of-sequence does not stop it), so the rate is over a known count."""
    import litert_lm

    litert_lm.set_min_log_severity(litert_lm.LogSeverity.ERROR)
    baseline = start_measuring()
    with tempfile.TemporaryDirectory(prefix="sdkgen-bench-") as cache_dir:
        info = litert_lm.Benchmark(
            model_path=str(artifact),
            backend=litert_lm.Backend.CPU(thread_count=THREADS),
            prefill_tokens=PREFILL_TOKENS,
            decode_tokens=DECODE_TOKENS,
            max_num_tokens=context,
            cache_dir=cache_dir,
            prompt=PROMPT,
        ).run()
    return {
        "baseline_rss": baseline,
        "peak_rss": peak_rss_bytes(),
        "load_s": info.init_time_in_second,
        "decoded_tokens": info.last_decode_token_count,
        "decode_tokens_per_s": info.last_decode_tokens_per_second,
    }


def run_llamacpp(artifact: Path, context: int, quant: str) -> dict:
    import llama_cpp  # noqa: F401  (loaded before the baseline, as litert_lm is)

    from sdk_gen.runtimes.llamacpp.checks import open_model

    baseline = start_measuring()
    start = time.perf_counter()
    # As the generated apps set llama.cpp up (flash attention, mmap per format), last-token logits only.
    llm = open_model(artifact, context, quant, logits_all=False)
    loaded = time.perf_counter()
    prompt = llm.tokenize(PROMPT.encode(), add_bos=False)
    # The first token carries the prefill; the rate is over the tokens after it. Greedy sampling
    # does not stop at end-of-sequence here, so the count is always DECODE_TOKENS.
    produced = 0
    first_token_at = 0.0
    for _ in llm.generate(prompt, top_k=1, temp=0.0):
        produced += 1
        if produced == 1:
            first_token_at = time.perf_counter()
        if produced == DECODE_TOKENS + 1:
            break
    decoded = time.perf_counter()
    return {
        "baseline_rss": baseline,
        "peak_rss": peak_rss_bytes(),
        "load_s": loaded - start,
        "decoded_tokens": produced - 1,
        "decode_tokens_per_s": (produced - 1) / (decoded - first_token_at),
    }


# Run in a child before measuring: writes the `.pte`'s tokenizer.json constant to a file, as the
# phone engines do before they start ExecuTorch's text runner (which takes the tokenizer as a file).
_WRITE_TOKENIZER = (
    "import sys\n"
    "from pathlib import Path\n"
    "from sdk_gen.runtimes.executorch.host import PteDecoder\n"
    "data = PteDecoder(Path(sys.argv[1]), quantized=sys.argv[3] != 'fp32').constant_bytes('sdkgen_tokenizer_json')\n"
    "Path(sys.argv[2]).write_bytes(data)\n"
)


def run_executorch(artifact: Path, context: int, quant: str) -> dict:
    """ExecuTorch's C++ text runner (TextLLMRunner, what Android's LlmModule and iOS's TextRunner
    wrap), created as they create it: the `.pte` memory-mapped (mlock where the OS allows it, which
    neither this machine's 8 MiB memlock limit nor a phone app does for a real model), tokenizer.json
    from a file. Greedy; the first token comes from the prefill, then DECODE_TOKENS decode steps
    (the demo never emits its end-of-sequence token, so the count is exact)."""
    with tempfile.TemporaryDirectory(prefix="sdkgen-bench-") as scratch:
        tokenizer = Path(scratch) / "tokenizer.json"
        subprocess.run([sys.executable, "-c", _WRITE_TOKENIZER, str(artifact), str(tokenizer), quant],
                       check=True, cwd=REPO, capture_output=True)
        from executorch.extension.llm.runner import GenerationConfig, TextLLMRunner

        baseline = start_measuring()
        stats: list = []
        config = GenerationConfig(temperature=0.0, max_new_tokens=DECODE_TOKENS + 1, echo=False)
        # The runner prints every piece to stdout itself (raw bytes, possibly split UTF-8): send fd 1
        # to /dev/null while it runs, so this script's last line stays its JSON.
        saved = os.dup(1)
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
            runner = TextLLMRunner(str(artifact), str(tokenizer))
            runner.generate(PROMPT, config, stats_callback=stats.append)
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(null)
            os.close(saved)
    (info,) = stats
    # num_generated_tokens counts the decode loop's tokens, not the one the prefill produced.
    decoded = info.num_generated_tokens
    return {
        "baseline_rss": baseline,
        "peak_rss": peak_rss_bytes(),
        "load_s": (info.model_load_end_ms - info.model_load_start_ms) / 1000,
        "decoded_tokens": decoded,
        "decode_tokens_per_s": decoded / max((info.inference_end_ms - info.first_token_ms) / 1000, 1e-6),
    }


RUNNERS = {"litert": run_litert, "llamacpp": run_llamacpp, "executorch": run_executorch}

if __name__ == "__main__":
    runtime, artifact, context, quant = sys.argv[1:5]
    print(json.dumps(RUNNERS[runtime](Path(artifact), int(context), quant)))
