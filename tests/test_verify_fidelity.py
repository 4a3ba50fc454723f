"""Host verification of GGUF files asks two questions and answers each on its own terms.

Runtime fidelity: llama.cpp against PyTorch running the GGUF's own weights (dequantized with
gguf-py), within the rounding llama.cpp's kernels explain. Quantization cost: those weights against
the original ones, both in PyTorch (KL, top-1, perplexity on sdkgen's text), judged only against a
floor the user sets.

Measured on the demo model (2 cores, llama-cpp-python 0.3.36; rms |dlogit| of llama.cpp against
PyTorch on the artifact's weights / rms of what rounding activations as ggml does moves PyTorch):
    f16     4.3e-4 / 3.4e-4 (1.27x: the fp16 KV cache adds its own), greedy 128/128 tokens
    q8_0    9.96e-3 / 9.98e-3 (1.00x), 4 greedy divergences, all at ties within the tolerance
    q4_0    1.04e-2 / 1.04e-2 (1.00x), 1 divergence at a tie
    q4_k_m  1.34e-2 / 1.34e-2 (1.00x), 3 divergences at ties
Quantization cost over 329 positions (the prompts and 256 tokens of the text; mean KL nats/token,
top-1 vs the original, perplexity ratio on the text; the demo's random weights give perplexity 838):
    f16 7.5e-8, 1.000, 0.99999; q8_0 4.9e-5, 0.985, 1.0013; q4_k_m 6.3e-3, 0.793, 1.022;
    q4_0 1.03e-2, 0.684, 1.0003.
A GGUF whose rope dimension count is wrong differs by 4.5x (q4_k_m) to 175x (f16) the rounding noise.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from sdk_gen.conversion import ConversionRequest, convert, prepare_job
from sdk_gen.hashing import sha256_file
from sdk_gen.runtimes.llamacpp.dequantize import GgufWeights, import_gguf
from sdk_gen.verify import QuantFloor, ReferenceCache, TorchReference, verification_text

QUANTS = ("f16", "q8_0", "q4_0", "q4_k_m")
CONTEXT = 256
# What a correct runtime shows (see the figures above): its rms deviation is one draw of the same
# rounding noise the emulation measures. 1.5x is the test's own bound, tighter than the check's 3x.
GENUINE_RMS_RATIO = 1.5


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fidelity-cache")


@pytest.fixture(autouse=True)
def _cache_env(cache, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(cache))


@pytest.fixture(scope="module")
def verified(demo_model, cache) -> dict:
    """Each format converted and verified once: quant -> ConversionResult."""
    return {
        quant: convert(ConversionRequest(model=str(demo_model), runtime="llamacpp", quant=quant, context=CONTEXT, cache_dir=cache))
        for quant in QUANTS
    }


def _job(model: Path, quant: str, cache: Path, **request):
    return prepare_job(ConversionRequest(model=str(model), runtime="llamacpp", quant=quant, context=CONTEXT, cache_dir=cache,
                                         **request)).job


@pytest.mark.slow
@pytest.mark.parametrize("quant", QUANTS)
def test_llama_cpp_runs_every_format_as_pytorch_runs_its_weights(verified, quant):
    verification = verified[quant].verification
    assert verification.passed, verification.failure_summary()
    assert verification.thresholds.reference == "artifact"
    f = verification.fidelity
    assert {"fidelity_logits", "fidelity_top1", "fidelity_greedy", "tokenizer_parity"} <= set(verification.checks)
    assert f.rms_diff <= GENUINE_RMS_RATIO * f.rms_rounding_noise, f
    assert f.max_abs_diff <= f.tolerance and f.decisive_top1_agreement == 1.0
    assert f.decisive_positions > 50, "the prompts and the text must give positions no rounding can flip"
    assert f.greedy_divergences == f.greedy_divergences_at_ties
    if quant == "f16":
        # fp16 activations are all the rounding: tight to the fp16 precision, greedy token for token.
        assert f.tolerance < 0.01 and verification.matched == verification.steps >= 4 * 30


@pytest.mark.slow
def test_quantization_cost_is_reported_and_ordered_by_bits(verified):
    cost = {quant: verified[quant].verification.cost for quant in QUANTS}
    assert cost["f16"].mean_kl < 1e-5 and cost["f16"].top1_agreement == 1.0
    assert cost["f16"].mean_kl < cost["q8_0"].mean_kl < cost["q4_k_m"].mean_kl
    assert cost["q8_0"].mean_kl < cost["q4_0"].mean_kl
    assert cost["f16"].top1_agreement >= cost["q8_0"].top1_agreement > max(cost["q4_0"].top1_agreement, cost["q4_k_m"].top1_agreement)
    for quant in QUANTS:
        c = cost[quant]
        assert c.text_tokens == CONTEXT and c.positions > c.text_tokens
        assert abs(np.log(c.perplexity_ratio)) < 0.1, c  # the same model, a little rounded
        report = verified[quant].report()["verification"]
        assert report["cost"]["mean_kl"] == c.mean_kl and report["cost"]["perplexity_ratio"] == c.perplexity_ratio
        assert report["fidelity"]["rms_diff"] == verified[quant].verification.fidelity.rms_diff


def _rewrite(gguf_path: Path, out: Path, change) -> Path:
    shutil.copy(gguf_path, out)
    reader = import_gguf().GGUFReader(out, "r+")
    change(reader)
    reader.data.flush()
    del reader
    return out


@pytest.mark.slow
@pytest.mark.parametrize("quant", ["f16", "q4_k_m"])
def test_a_misread_file_fails_fidelity(verified, demo_model, cache, tmp_path, quant):
    """A GGUF whose metadata says 16 rotary dimensions where the model has 32: llama.cpp runs
    it as written, PyTorch runs the model's architecture, and no rounding explains the gap."""

    def fewer_rotary_dims(reader):
        field = reader.fields["phi2.rope.dimension_count"]
        assert int(field.parts[field.data[0]][0]) == 32
        field.parts[field.data[0]][0] = 16

    wrong = _rewrite(verified[quant].artifact.path, tmp_path / f"wrong-{quant}.gguf", fewer_rotary_dims)
    job = _job(demo_model, quant, cache)
    result = job.runtime.verify_here(replace(job, reference_dir=tmp_path / "references"), wrong)
    assert not result.passed and result.checks["fidelity_logits"] is False
    assert result.fidelity.rms_diff > 4 * result.fidelity.rms_rounding_noise
    assert "fidelity_logits" in result.failure_summary()


@pytest.mark.slow
def test_damaged_weights_are_a_cost_not_a_fidelity_failure(verified, demo_model, cache, tmp_path):
    """One tensor's 8-bit values scrambled: llama.cpp still executes the file faithfully (PyTorch
    runs the same damaged weights), and the damage shows where it belongs, in what the artifact's
    weights cost against the original ones; a user's floor then fails it."""
    rng = np.random.default_rng(0)

    def scramble(reader):
        (tensor,) = [t for t in reader.tensors if t.name == "blk.0.ffn_up.weight"]
        blocks = tensor.data.reshape(tensor.data.shape[0], -1, 34)  # Q8_0: fp16 scale + 32 int8 per block
        blocks[:, :, 2:] = rng.integers(0, 256, size=blocks[:, :, 2:].shape, dtype=np.uint8)

    damaged = _rewrite(verified["q8_0"].artifact.path, tmp_path / "damaged-q8_0.gguf", scramble)
    job = replace(_job(demo_model, "q8_0", cache), reference_dir=tmp_path / "references")
    result = job.runtime.verify_here(job, damaged)
    assert result.passed, result.failure_summary()
    genuine = verified["q8_0"].verification.cost
    assert result.cost.mean_kl > 100 * genuine.mean_kl and result.cost.top1_agreement < genuine.top1_agreement
    assert QuantFloor(max_kl=10 * genuine.mean_kl).judge(result) and result.checks["quant_kl"] is False

    weights = GgufWeights(damaged, sha256_file(damaged))
    TorchReference(demo_model, "artifact", artifact=weights).model  # loads: the per-tensor errors are measured
    errors = {e.name: e.relative_rms for e in weights.tensor_errors}
    damaged_name = "model.layers.0.mlp.fc1.weight"  # blk.0.ffn_up
    assert errors[damaged_name] > 0.5
    assert max(error for name, error in errors.items() if name != damaged_name) < 0.01  # q8_0's own rounding: ~0.005


@pytest.mark.slow
def test_a_quant_floor_fails_the_run_with_exit_6_and_says_what_to_do(verified, demo_model, tmp_path):
    q4 = verified["q4_0"].verification.cost
    out = tmp_path / "out"
    strict = run_cli("convert", "--model", str(demo_model), "--runtime", "llamacpp", "--quant", "q4_0", "--context", str(CONTEXT),
                     "--max-quant-kl", f"{q4.mean_kl / 2:g}", "-o", str(out))
    assert strict.code == 6, strict.stderr
    line = strict.stderr_lines[-1]
    assert "--max-quant-kl" in line and "q4_0" in line and "--quant" in line and "runs correctly" in line, line
    assert not out.exists()

    top1 = run_cli("convert", "--model", str(demo_model), "--runtime", "llamacpp", "--quant", "q4_0", "--context", str(CONTEXT),
                   "--min-quant-top1", "0.95", "-o", str(out))
    assert top1.code == 6 and "--min-quant-top1" in top1.stderr_lines[-1], top1.stderr

    loose = run_cli("convert", "--model", str(demo_model), "--runtime", "llamacpp", "--quant", "q4_0", "--context", str(CONTEXT),
                    "--max-quant-kl", f"{q4.mean_kl * 2:g}", "--min-quant-top1", "0.5", "-o", str(out), "--json")
    assert loose.code == 0, loose.stderr
    verification = json.loads(loose.stdout)["verification"]
    assert verification["checks"]["quant_kl"] is True and verification["checks"]["quant_top1"] is True
    assert (out / "sdkgen-report.json").is_file()


def test_a_floor_without_verification_is_refused(demo_model, tmp_path):
    result = run_cli("convert", "--model", str(demo_model), "--runtime", "llamacpp", "--quant", "q4_0",
                     "--max-quant-kl", "0.01", "--no-verify", "-o", str(tmp_path / "out"))
    assert result.code == 2 and len(result.stderr_lines) == 1 and "--no-verify" in result.stderr, result.stderr


@pytest.mark.slow
def test_artifact_answers_are_keyed_by_the_artifact(verified, demo_model, tmp_path):
    """Two GGUFs of one model are two references; the same GGUF asked again never loads a model."""
    ids = TorchReference(demo_model).encode(verification_text())[:32]
    cache = ReferenceCache(tmp_path / "references")
    rows = {}
    for quant in ("q8_0", "q4_0"):
        path = verified[quant].artifact.path
        first = TorchReference(demo_model, "artifact", cache, GgufWeights(path, sha256_file(path)))
        rows[quant] = first.logits(ids)
        again = TorchReference(demo_model, "artifact", cache, GgufWeights(path, sha256_file(path)))
        assert np.array_equal(again.logits(ids), rows[quant]) and again._model is None
    assert not np.array_equal(rows["q8_0"], rows["q4_0"])
    assert len(list(cache.folder.glob("logits-artifact-*.npy"))) == 2


@pytest.mark.slow
@pytest.mark.parametrize("family", ["llama", "qwen3", "gemma3"])
def test_dequantized_f32_gguf_is_the_checkpoint(family, demo_model, cache, tmp_path):
    """Every parameter maps back to its Hugging Face name and layout: Llama's q/k rows un-permuted
    (with fewer KV heads than heads), Qwen3's q/k norms, Gemma 3's norms stored plus one."""
    import torch
    from transformers import AutoModelForCausalLM

    from test_litert import tiny_family_model

    model_dir = tiny_family_model(family, demo_model, tmp_path / family)
    job = _job(model_dir, "f16", cache, pre_tokenizer="gpt-2")
    f32 = job.runtime.convert(replace(job, quant=replace(job.quant, name="f32")), tmp_path, tmp_path / "converter.log")
    original = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    weights = GgufWeights(f32, "f32")
    weights.load_into(model)
    loaded = dict(model.named_parameters())
    for name, param in original.named_parameters():
        exact = not (family.startswith("gemma") and name.endswith("norm.weight"))  # (w + 1) - 1 rounds
        assert torch.allclose(loaded[name], param, rtol=0, atol=0 if exact else 1e-6), name
    assert set(weights.types_by_parameter.values()) == {"F32"}


@pytest.mark.slow
def test_a_llama_file_passes_and_a_wrong_rope_base_fails_fidelity(demo_model, cache, tmp_path):
    """A tiny Llama (q/k rows permuted by the converter, fewer KV heads than heads) in q8_0 passes;
    the same file claiming another rotary base fails.

    A file whose *weights* are wrong (say q rows left in Hugging Face's order) is not a fidelity
    failure: PyTorch runs the very weights llama.cpp runs (un-permuting rows llama.cpp pairs
    differently only renames the dimensions both sides rotate alike), so it shows as cost."""
    from test_litert import tiny_family_model

    model_dir = tiny_family_model("llama", demo_model, tmp_path / "llama")
    job = replace(_job(model_dir, "q8_0", cache, pre_tokenizer="gpt-2"), reference_dir=tmp_path / "references")
    genuine = job.runtime.convert(job, tmp_path, tmp_path / "converter.log")
    passed = job.runtime.verify_here(job, genuine)
    assert passed.passed, passed.failure_summary()
    assert passed.fidelity.rms_diff <= GENUINE_RMS_RATIO * passed.fidelity.rms_rounding_noise

    def other_rope_base(reader):
        field = reader.fields["llama.rope.freq_base"]
        assert float(field.parts[field.data[0]][0]) == 10000.0
        field.parts[field.data[0]][0] = 100.0

    result = job.runtime.verify_here(job, _rewrite(genuine, tmp_path / "other-rope-base.gguf", other_rope_base))
    assert not result.passed and result.checks["fidelity_logits"] is False


# The families llama.cpp converts from a tokenizer.json alone (Gemma, Gemma 2 and Phi-3 need a
# tokenizer.model and are refused up front: tests/test_llamacpp.py), each a tiny random checkpoint
# from tests/test_litert.py: grouped-query attention, tied embeddings, Qwen2's q/k/v biases, Qwen3's
# q/k norms, and Gemma 3's 16-token sliding window, shorter than every verified sequence.
# transformers gives a Qwen2 tokenizer Qwen2's own split rule whatever tokenizer.json says, so
# llama.cpp is told that rule's name.
PRE_TOKENIZERS = {"qwen2": "qwen2"}
@pytest.mark.slow
@pytest.mark.parametrize("family", ["llama", "llama-tied", "mistral", "qwen2", "qwen3", "gemma3"])
def test_every_family_llama_cpp_converts_runs_as_pytorch_runs_its_weights(family, demo_model, cache, tmp_path):
    from test_litert import tiny_family_model

    model_dir = tiny_family_model(family, demo_model, tmp_path / family)
    result = convert(ConversionRequest(model=str(model_dir), runtime="llamacpp", quant="q8_0", context=CONTEXT,
                                       cache_dir=cache, pre_tokenizer=PRE_TOKENIZERS.get(family, "gpt-2")))
    verification = result.verification
    assert verification is not None and verification.passed, verification.failure_summary()
    fidelity = verification.fidelity
    assert fidelity.rms_diff <= GENUINE_RMS_RATIO * fidelity.rms_rounding_noise, fidelity
    assert verification.cost is not None and verification.cost.top1_agreement > 0.5


def test_a_gemma_whose_query_scale_llama_cpp_would_ignore_is_refused_up_front(demo_model, tmp_path):
    """llama.cpp assumes Gemma's query scale from the head size and never reads
    query_pre_attn_scalar: a checkpoint that says otherwise is refused before converting (with the
    published models' relation it converts: the family test above)."""
    import json as json_module

    from test_litert import tiny_family_model

    from sdk_gen.runtimes.llamacpp import gemma_query_scale_mismatch

    model_dir = tiny_family_model("gemma3", demo_model, tmp_path / "gemma3")
    config = json_module.loads((model_dir / "config.json").read_text())
    assert gemma_query_scale_mismatch("gemma3", config) is None  # 16 = head_dim, as published
    config["query_pre_attn_scalar"] = 256
    (model_dir / "config.json").write_text(json_module.dumps(config))
    result = run_cli("convert", "--model", str(model_dir), "--runtime", "llamacpp", "--quant", "q8_0",
                     "--pre-tokenizer", "gpt-2", "-o", str(tmp_path / "out"))
    assert result.code == 2 and len(result.stderr_lines) == 1, result.stderr
    assert "query_pre_attn_scalar is 256" in result.stderr and "--runtime litert" in result.stderr
    assert not (tmp_path / "out").exists()
    # The 27B models' own relation (hidden / heads) is what llama.cpp assumes for their layer count.
    big = {"num_attention_heads": 32, "hidden_size": 5376, "head_dim": 128, "query_pre_attn_scalar": 168,
           "num_hidden_layers": 62}
    assert gemma_query_scale_mismatch("gemma3", big) is None
