"""The phones' path on the host: ExecuTorch's C++ text runner (TextLLMRunner, which Android's
LlmModule and iOS's TextRunner wrap) runs sdkgen's `.pte` with the tokenizer.json the phone engines
write out of it, and reproduces PyTorch's greedy text.

What the runner does, read from executorch 1.5.1 (extension/llm/runner/text_llm_runner.cpp) and
checked here:
- It encodes the prompt with pytorch/tokenizers' HFTokenizer: num_bos=0 encodes without special
  tokens, num_bos>0 applies tokenizer.json's post-processor (as transformers' add_special_tokens);
  the BOS id comes from the tokenizer, not from the `.pte`'s get_bos_id. The demo's post-processor
  adds nothing, so both give transformers' ids.
- echo=True hands the prompt string itself to the callback, then one piece per generated token:
  the token's own bytes (ByteLevel-decoded), the first from the prefill.
- It prefills a prompt longer than get_max_seq_len (the export's prefill chunk, 128) in calls of
  that many tokens (TextPrefiller::prefill), each from the position the last one reached.
- It stops after max_new_tokens or after emitting one of the `.pte`'s get_eos_ids (which replace
  the tokenizer's EOS). With get_max_seq_len below get_max_context_len it takes the model for a
  sliding-window one: it refuses only a prompt of get_max_context_len tokens or more, and does not
  cap the reply at the context; a call that runs past the static cache fails (InvalidArgument, the
  cache write's bounds check) after the reply's pieces up to the last position.
- The Python binding turns each piece into a str: a token that ends inside a UTF-8 character
  raises UnicodeDecodeError out of generate(). The demo's random weights emit such byte tokens
  within a few steps, so the texts compared here stop before the first one, and one test pins the
  failure. The phone engines must buffer split characters: Android's JNI layer does
  (utf8_check_validity); iOS's TextRunner makes an NSString of each piece (@(piece.c_str())),
  which is nil for a partial character, so its bytes never reach Swift.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli

CONTEXT = 256
# The demo's greedy continuation of this prompt is 10 whole characters, then a lone 0xfd byte.
PROMPT = "def main():"
PROMPT_IDS = [273, 72, 267, 67, 286, 10, 11, 28]


# --- helpers -----------------------------------------------------------------------------------


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, reversed: the character a ByteLevel token spells -> its byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return {c: b for b, c in chars.items()}


BYTE_DECODER = _byte_decoder()


def token_bytes(tokenizer_json: dict, token_id: int) -> bytes:
    """The bytes the runner's ByteLevel decoder gives for one token (its callback piece)."""
    for added in tokenizer_json["added_tokens"]:
        if added["id"] == token_id:
            return added["content"].encode()
    (token,) = [t for t, i in tokenizer_json["model"]["vocab"].items() if i == token_id]
    return bytes(BYTE_DECODER[c] for c in token)


def whole_characters(pieces: list[bytes]) -> int:
    """How many leading pieces are each valid UTF-8 on their own (what the binding can hand over)."""
    for n, piece in enumerate(pieces):
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError:
            return n
    return len(pieces)


def pytorch_greedy(model_dir: Path, ids: list[int], steps: int) -> list[int]:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    tokens = list(ids)
    with torch.no_grad():
        for _ in range(steps):
            tokens.append(int(model(torch.tensor([tokens])).logits[0, -1].argmax()))
    return tokens[len(ids):]


def write_tokenizer(pte: Path, folder: Path) -> Path:
    """What the phone engines do before starting the runner: the `.pte`'s sdkgen_tokenizer_json
    constant method, written byte for byte to tokenizer.json."""
    from sdk_gen.runtimes.executorch.host import PteDecoder

    data = PteDecoder(pte, quantized="8da4w" in pte.name).constant_bytes("sdkgen_tokenizer_json")
    assert data
    path = folder / "tokenizer.json"
    path.write_bytes(data)
    return path


def generate(runner, prompt: str, max_new_tokens: int, *, echo: bool = False, num_bos: int = 0,
             pieces: bool = True) -> tuple[list[str], object]:
    """One greedy generation from a fresh KV cache: the callback's pieces and the run's Stats."""
    from executorch.extension.llm.runner import GenerationConfig

    got: list[str] = []
    stats: list = []
    runner.reset()
    config = GenerationConfig(temperature=0.0, max_new_tokens=max_new_tokens, echo=echo, num_bos=num_bos)
    runner.generate(prompt, config, token_callback=got.append if pieces else None, stats_callback=stats.append)
    (info,) = stats
    return got, info


def convert(model: Path, out: Path, quant: str, cache: Path) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SDKGEN_CACHE_DIR", str(cache))
        result = run_cli("convert", "--model", str(model), "--runtime", "executorch", "--quant", quant,
                         "--context", str(CONTEXT), "--no-verify", "-o", str(out), "--json")
    assert result.code == 0, result.stderr
    (artifact,) = json.loads(result.stdout)["artifacts"]
    return out / artifact["path"]


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("executorch-runner-cache")


@pytest.fixture(scope="module")
def fp32(demo_model, tmp_path_factory, cache_dir) -> dict:
    """The demo's fp32 `.pte`, its tokenizer.json as the phone writes it, and the runner on both."""
    from executorch.extension.llm.runner import TextLLMRunner

    folder = tmp_path_factory.mktemp("executorch-runner-fp32")
    pte = convert(demo_model, folder / "out", "fp32", cache_dir)
    tokenizer = write_tokenizer(pte, folder)
    return {"pte": pte, "tokenizer": tokenizer, "runner": TextLLMRunner(str(pte), str(tokenizer))}


@pytest.fixture(scope="module")
def reference(demo_model) -> dict:
    """PyTorch's greedy continuation of PROMPT on the demo, as token ids and callback pieces."""
    tokenizer_json = json.loads((demo_model / "tokenizer.json").read_text())
    ids = pytorch_greedy(demo_model, PROMPT_IDS, 16)
    pieces = [token_bytes(tokenizer_json, t) for t in ids]
    return {"ids": ids, "pieces": pieces, "whole": whole_characters(pieces), "tokenizer_json": tokenizer_json}


# --- tests -------------------------------------------------------------------------------------


def test_the_runner_loads_the_tokenizer_json_the_phone_writes_and_encodes_as_transformers(fp32, demo_model):
    from pytorch_tokenizers.pytorch_tokenizers_cpp import HFTokenizer
    from transformers import AutoTokenizer

    # The constant method holds transformers' own serialization of the demo's tokenizer.
    hf = AutoTokenizer.from_pretrained(demo_model)
    assert fp32["tokenizer"].read_bytes() == hf.backend_tokenizer.to_str().encode()
    assert json.loads(fp32["tokenizer"].read_text())["decoder"]["type"] == "ByteLevel"
    # pytorch/tokenizers' HFTokenizer is the loader the runner links: ids equal transformers' for
    # words, digits, punctuation, runs of spaces and newlines, non-ASCII text and special tokens;
    # num_bos=1 applies the post-processor, which for the demo adds nothing.
    cpp = HFTokenizer()
    cpp.load(str(fp32["tokenizer"]))
    for text in (PROMPT, "The quick brown fox jumps over the lazy dog.", "Hello, world! 1234 + 56",
                 "  two  spaces\n\nand lines\t", "café naïve — 日本語", "<|im_start|>user\nhi<|im_end|>"):
        assert cpp.encode(text, 0, 0) == hf(text, add_special_tokens=False)["input_ids"], text
        assert cpp.encode(text, 1, 0) == hf(text)["input_ids"], text
    assert hf(PROMPT)["input_ids"] == PROMPT_IDS
    assert cpp.eos_tok() == 0 and cpp.bos_tok() == 0  # guessed from "<|endoftext|>"; unused for the demo


def test_fp32_runner_text_equals_pytorch_greedy(fp32, reference):
    whole = reference["whole"]
    # The demo must leave enough whole characters to compare (it gives 10 before a lone byte).
    assert whole >= 8, reference["pieces"]
    expected = [p.decode() for p in reference["pieces"][:whole]]
    for num_bos in (0, 1):  # the demo's post-processor adds no BOS either way (see the first test)
        pieces, stats = generate(fp32["runner"], PROMPT, whole, num_bos=num_bos)
        assert pieces == expected
        assert stats.num_prompt_tokens == len(PROMPT_IDS)
        assert stats.num_generated_tokens == whole - 1  # the decode loop's; the first came from the prefill
    # echo hands over the prompt as given, then the same pieces.
    pieces, _ = generate(fp32["runner"], PROMPT, whole, echo=True)
    assert pieces == [PROMPT, *expected]
    assert "".join(expected).encode() == b"".join(reference["pieces"][:whole])


def test_a_token_ending_inside_a_utf8_character_breaks_the_python_binding(fp32, reference):
    """Measured: the binding converts each piece to str, so the first byte token of a multi-byte
    character raises UnicodeDecodeError out of generate(); the phone engines must buffer such
    pieces (and iOS's TextRunner cannot hand them over at all, see the module docstring)."""
    whole = reference["whole"]
    assert whole < len(reference["pieces"]), "the demo no longer emits a split character here"
    split = reference["pieces"][whole]
    got: list[str] = []
    from executorch.extension.llm.runner import GenerationConfig

    fp32["runner"].reset()
    with pytest.raises(UnicodeDecodeError) as raised:
        fp32["runner"].generate(PROMPT, GenerationConfig(temperature=0.0, max_new_tokens=whole + 1, echo=False),
                                token_callback=got.append)
    assert raised.value.object == split
    assert got == [p.decode() for p in reference["pieces"][:whole]]
    # Without a Python callback nothing is converted: the same run completes (the runner prints
    # the raw bytes to stdout itself), and the runner is usable again after the failure.
    _, stats = generate(fp32["runner"], PROMPT, whole + 1, pieces=False)
    assert stats.num_generated_tokens == whole


def _words_prompt(hf, tokens: int, first: int = 0) -> str:
    words = " ".join(f"w{i}" for i in range(first, first + 400))
    ids = hf(words)["input_ids"][:tokens]
    prompt = hf.decode(ids)
    assert hf(prompt)["input_ids"] == ids
    return prompt


def test_the_export_caps_one_call_at_the_prefill_chunk(fp32):
    """get_max_seq_len is the prefill chunk (what the runner prefills per call, and what
    ExecuTorch plans its arena for); get_max_context_len is the KV cache."""
    from sdk_gen.runtimes import get_runtime
    from sdk_gen.runtimes.executorch.export import PREFILL_CHUNK, prefill_chunk
    from sdk_gen.runtimes.executorch.host import PteDecoder

    decoder = PteDecoder(fp32["pte"], quantized=False)
    assert decoder.chunk == PREFILL_CHUNK == 128 and decoder.context == CONTEXT
    assert get_runtime("executorch").memory.prefill_chunk == PREFILL_CHUNK
    assert prefill_chunk(64) == 63 and prefill_chunk(1024) == PREFILL_CHUNK
    import torch

    # The method itself refuses a longer call: the chunking is the callers' (runner, PteDecoder).
    with pytest.raises(Exception):
        decoder.forward.execute([torch.zeros((1, PREFILL_CHUNK + 1), dtype=torch.long),
                                 torch.arange(PREFILL_CHUNK + 1, dtype=torch.long)])


def test_a_prompt_longer_than_the_chunk_is_prefilled_in_chunks_and_equals_pytorch(fp32, demo_model, reference):
    """A ~200-token prompt at context 256: the runner prefills 128 + 72 tokens and continues as
    PyTorch does over the whole prompt at once; sdkgen's host decoder (chunked the same way)
    gives the same logits as one uncapped pass would."""
    from transformers import AutoTokenizer

    from sdk_gen.runtimes.executorch.host import PteDecoder
    from sdk_gen.verify import StopRule

    hf = AutoTokenizer.from_pretrained(demo_model)
    decoder = PteDecoder(fp32["pte"], quantized=False)
    compared = 0
    for first in range(0, 300, 20):  # until enough whole characters (random weights emit byte tokens)
        if compared >= 12:
            break
        prompt = _words_prompt(hf, 200, first)
        ids = hf(prompt)["input_ids"]
        expected_ids = pytorch_greedy(demo_model, ids, 8)
        assert decoder.greedy(ids, 8, StopRule(((0,),))) == expected_ids
        pieces = [token_bytes(reference["tokenizer_json"], t) for t in expected_ids]
        whole = whole_characters(pieces)
        if whole:
            got, stats = generate(fp32["runner"], prompt, whole)
            assert stats.num_prompt_tokens == 200 and got == [p.decode() for p in pieces[:whole]], first
            compared += whole
    assert compared >= 12


def test_the_runner_bounds_only_the_prompt_by_the_context(fp32, demo_model):
    """With the prefill chunk below the cache the runner takes the model for a sliding-window one
    (text_llm_runner.cpp): it refuses a prompt of the whole context, but a reply is not capped at
    the context; the cache write's bounds check then fails the call at position 256 (an error, not
    a write past the cache), which the phone engines report as a full context."""
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(demo_model)
    prompt = _words_prompt(hf, CONTEXT - 6)
    # 7 new tokens: the last is sampled from position 255's logits and never written.
    _, stats = generate(fp32["runner"], prompt, 7, pieces=False)
    assert stats.num_prompt_tokens == CONTEXT - 6 and stats.num_generated_tokens == 7 - 1
    with pytest.raises(RuntimeError):  # the 8th would be written at position 256
        generate(fp32["runner"], prompt, 8, pieces=False)
    with pytest.raises(RuntimeError):  # max_new_tokens=-1 resolves to the whole context (256) more
        generate(fp32["runner"], prompt, -1, pieces=False)
    with pytest.raises(RuntimeError):
        generate(fp32["runner"], _words_prompt(hf, CONTEXT), 4, pieces=False)
    # The runner is usable again afterwards.
    _, stats = generate(fp32["runner"], PROMPT, 2, pieces=False)
    assert stats.num_generated_tokens == 1


def test_an_nfc_normalizer_is_left_to_the_phone_and_encodes_as_transformers(fp32, demo_model, tmp_path):
    """transformers gives a Qwen2 model its family's tokenizer.json (NFC normalizer, Split
    pre-tokenizer). The runner's HFTokenizer applies its own NFC, which turns precomposed "é"/"ï"
    into "e"/"i" ("café naïve": 8 tokens against transformers' 11). So the export drops an NFC
    normalizer from the embedded tokenizer.json and the phone engines NFC-normalize the turn
    (needs_nfc; the generated code is checked in test_executorch.py): the runner's ids are then
    transformers', for text given precomposed or decomposed. The demo's `.pte` stands in for the
    model (the same 512-token vocabulary)."""
    import unicodedata

    from executorch.extension.llm.runner import TextLLMRunner
    from pytorch_tokenizers.pytorch_tokenizers_cpp import HFTokenizer
    from test_litert import tiny_family_model
    from transformers import AutoTokenizer

    from sdk_gen.runtimes.executorch.export import TOKENIZER_METHODS, needs_nfc, tokenizer_files

    model = tiny_family_model("qwen2", demo_model, tmp_path / "qwen2")
    hf = AutoTokenizer.from_pretrained(model)
    assert json.loads(hf.backend_tokenizer.to_str())["normalizer"] == {"type": "NFC"}
    assert needs_nfc(model) and not needs_nfc(demo_model)
    data = tokenizer_files(model, model)[TOKENIZER_METHODS["tokenizer.json"]]
    written = json.loads(data)
    expected = json.loads(hf.backend_tokenizer.to_str())
    assert written["normalizer"] is None
    expected["normalizer"] = None
    assert written == expected  # nothing else changed
    # The demo's own tokenizer (no normalizer) is embedded byte for byte as transformers writes it.
    assert tokenizer_files(demo_model, demo_model)[TOKENIZER_METHODS["tokenizer.json"]] == \
        AutoTokenizer.from_pretrained(demo_model).backend_tokenizer.to_str().encode()
    path = tmp_path / "tokenizer.json"
    path.write_bytes(data)
    cpp = HFTokenizer()
    cpp.load(str(path))
    runner = TextLLMRunner(str(fp32["pte"]), str(path))
    texts = ("café naïve", "cafe\u0301 nai\u0308ve", "Ångström — Straße, déjà vu, ﬁ ½ Ω", "日本語 한국어 e\u0301\u0323",
             "<|im_start|>user\nrésumé<|im_end|>")
    for text in texts:
        want = hf(text, add_special_tokens=False)["input_ids"]
        phone = unicodedata.normalize("NFC", text)  # what the engines hand the runner
        assert cpp.encode(phone, 0, 0) == want, text
        _, stats = generate(runner, phone, 1, pieces=False)
        assert stats.num_prompt_tokens == len(want), text
    assert len(hf("café naïve", add_special_tokens=False)["input_ids"]) == 11
    # Without the phone's normalization, decomposed text would give other ids than transformers.
    assert cpp.encode("cafe\u0301", 0, 0) != hf("cafe\u0301", add_special_tokens=False)["input_ids"]


@pytest.mark.slow
def test_the_runner_stops_at_the_eos_the_export_wrote(demo_model, reference, tmp_path, cache_dir):
    """A copy of the demo whose config names one of its greedy tokens as end-of-sequence: the export
    writes it to get_eos_ids, and the runner emits that token's piece and stops there."""
    from executorch.extension.llm.runner import TextLLMRunner

    whole, ids = reference["whole"], reference["ids"]
    stop_at = next(k for k in range(3, whole) if ids[k] not in ids[:k])
    model = tmp_path / "demo-eos"
    shutil.copytree(demo_model, model)
    for name in ("config.json", "generation_config.json"):
        path = model / name
        if path.is_file():
            config = json.loads(path.read_text())
            config["eos_token_id"] = ids[stop_at]
            path.write_text(json.dumps(config, indent=2))
    pte = convert(model, tmp_path / "out", "fp32", cache_dir)
    runner = TextLLMRunner(str(pte), str(write_tokenizer(pte, tmp_path)))
    pieces, stats = generate(runner, PROMPT, whole)
    assert pieces == [p.decode() for p in reference["pieces"][: stop_at + 1]]
    assert stats.num_generated_tokens == stop_at


@pytest.mark.slow
def test_8da4w_runner_agrees_with_the_module_api_token_for_token(demo_model, tmp_path, cache_dir, reference):
    """The C++ runner and sdkgen's host decoder (ExecuTorch's Module API, what verification runs)
    on the same 8da4w `.pte`: the same greedy tokens, hence the same text, up to each prompt's first
    split character (8da4w reaches one within 3-10 tokens on the demo's random weights)."""
    from executorch.extension.llm.runner import TextLLMRunner
    from transformers import AutoTokenizer

    from sdk_gen.runtimes.executorch.host import PteDecoder
    from sdk_gen.verify import StopRule

    hf = AutoTokenizer.from_pretrained(demo_model)
    pte = convert(demo_model, tmp_path / "out", "8da4w", cache_dir)
    decoder = PteDecoder(pte, quantized=True)
    runner = TextLLMRunner(str(pte), str(write_tokenizer(pte, tmp_path)))
    compared = 0
    for prompt in (PROMPT, "The capital of France is", "In the beginning", "Paris is", "I like"):
        ids = decoder.greedy(hf(prompt)["input_ids"], 16, StopRule(((0,),)))
        assert len(ids) == 16  # no end-of-sequence on the demo
        expected = [token_bytes(reference["tokenizer_json"], t) for t in ids]
        whole = whole_characters(expected)
        if whole:
            pieces, stats = generate(runner, prompt, whole)
            assert pieces == [p.decode() for p in expected[:whole]], prompt
            assert stats.num_generated_tokens == whole - 1
        compared += whole
        # The whole run, split characters included, without Python's str conversion: same length.
        _, stats = generate(runner, prompt, 16, pieces=False)
        assert stats.num_generated_tokens == 15
    assert compared >= 12
