"""LiteRT-LM / MediaPipe: real litert-torch exports of the demo model, checked with LiteRT itself."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from conftest import run_cli, tree_snapshot
from sdk_gen.conversion import ConversionJob, ConversionRequest, convert, prepare_job
from sdk_gen.errors import VerificationFailed
from sdk_gen.model import inspect_model
from sdk_gen.model.inspect import TOKENIZER_FILES
from sdk_gen.verify_worker import run_verification

CONTEXT = "256"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """One artifact cache for the module: later tests reuse earlier conversions."""
    return tmp_path_factory.mktemp("litert-cache")


@pytest.fixture(autouse=True)
def _cache_env(cache_dir, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(cache_dir))


def _convert_json(model, out, *extra) -> dict:
    result = run_cli("convert", "--model", str(model), "--runtime", "litert", "--context", CONTEXT, "-o", str(out), "--json", *extra)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("quant", ["f32", "f16"])
def test_float_exports_equal_pytorch_token_for_token(demo_model, tmp_path, quant):
    report = _convert_json(demo_model, tmp_path / "out", "--quant", quant)
    verification = report["verification"]
    assert verification["passed"] is True
    assert verification["matched"] == verification["steps"] >= 4 * 30
    assert all(p["first_divergence"] is None for p in verification["prompts"])
    assert verification["checks"]["tokenizer_parity"] is True
    assert verification["logits"]["max_abs_diff"] < 1e-3
    assert verification["logits"]["top1_agreement"] == 1.0
    if quant == "f16":
        # Exact against the weights as stored; the fp16 rounding itself is reported, not hidden.
        assert verification["thresholds"]["reference"] == "fp16-weights"
        assert "cost of fp16 storage" in " ".join(verification["notes"])
    artifact = report["artifacts"][0]
    path = tmp_path / "out" / artifact["path"]
    assert path.suffix == ".litertlm" and path.stat().st_size == artifact["bytes"]
    assert len(artifact["sha256"]) == 64
    on_disk = json.loads((tmp_path / "out" / "sdkgen-report.json").read_text())
    assert on_disk["artifacts"] == report["artifacts"] and on_disk["verification"]["passed"] is True


@pytest.mark.slow
@pytest.mark.parametrize("quant", ["int8", "int4"])
def test_quantized_exports_pass_fidelity_and_report_cost(demo_model, tmp_path, quant):
    """int8/int4 are judged against PyTorch running the .tflite's own weights (no longer against
    the original weights with fixed correlation/top-1 floors, which judged the quantization's cost
    on near-flat random logits: tests/test_litert_fidelity.py); the cost is reported."""
    report = _convert_json(demo_model, tmp_path / "out", "--quant", quant)
    verification = report["verification"]
    assert verification["passed"] is True
    assert verification["thresholds"]["reference"] == "artifact" and verification["thresholds"]["exact"] is False
    assert {"fidelity_logits", "fidelity_top1", "fidelity_greedy", "engine_text"} <= set(verification["checks"])
    logits = verification["logits"]  # against the artifact's own weights: only activation rounding apart
    assert logits["mean_correlation"] > 0.999 and logits["top1_agreement"] > 0.9
    assert logits["max_abs_diff"] > 1e-3  # XNNPACK rounds activations to int8: not bit-identical
    cost = verification["cost"]
    assert cost["mean_kl"] > 0 and 0.5 < cost["top1_agreement"] <= 1.0


@pytest.mark.slow
def test_sizes_predicted_and_actual(demo_model, tmp_path):
    sizes = {}
    for quant in ("f32", "f16", "int8", "int4"):
        report = _convert_json(demo_model, tmp_path / quant, "--quant", quant, "--no-verify")
        sizes[quant] = report["weights"]
        # The demo model is tiny, so the bundle's fixed parts (graph, tokenizer) show: within 30%.
        assert 1.0 <= report["weights"]["actual_over_predicted"] <= 1.3, report["weights"]
    actual = {q: s["actual_bytes"] for q, s in sizes.items()}
    assert actual["f32"] > actual["f16"] > actual["int8"] > actual["int4"]


@pytest.mark.slow
def test_task_bundle_for_mediapipe(demo_model, tmp_path):
    report = _convert_json(demo_model, tmp_path / "out", "--quant", "f16", "--format", "task")
    task = tmp_path / "out" / report["artifacts"][0]["path"]
    assert task.suffix == ".task"
    with zipfile.ZipFile(task) as bundle:
        assert set(bundle.namelist()) >= {"TF_LITE_PREFILL_DECODE", "TOKENIZER_MODEL", "METADATA"}
        import sentencepiece

        processor = sentencepiece.SentencePieceProcessor()
        processor.LoadFromSerializedProto(bundle.read("TOKENIZER_MODEL"))
        # The chat markers are atomic pieces, so MediaPipe tokenizes a chat prompt like transformers.
        assert processor.EncodeAsIds("<|im_start|>") == [1]
    verification = report["verification"]
    assert verification["passed"] is True and verification["checks"]["tokenizer_parity"] is True
    assert verification["matched"] == verification["steps"]


@pytest.mark.slow
def test_cache_hit_skips_the_converter_and_a_corrupt_entry_is_rebuilt(demo_model, tmp_path, cache_dir):
    first = _convert_json(demo_model, tmp_path / "a", "--quant", "int8", "--no-verify")
    second = _convert_json(demo_model, tmp_path / "b", "--quant", "int8", "--no-verify")
    assert second["cache"]["hit"] is True and second["cache"]["key"] == first["cache"]["key"]
    assert "convert" not in second["timings_s"]  # the converter did not run
    assert second["artifacts"] == first["artifacts"]

    cached = Path(second["cache"]["path"])
    data = cached.read_bytes()
    cached.write_bytes(data[: len(data) // 2])  # a damaged entry must never be used
    third = _convert_json(demo_model, tmp_path / "c", "--quant", "int8", "--no-verify")
    assert third["cache"]["hit"] is False and "convert" in third["timings_s"]
    # .litertlm files carry a uuid and timestamp, so the rebuild differs in bytes; it must be whole.
    from sdk_gen.hashing import sha256_file

    rebuilt = tmp_path / "c" / third["artifacts"][0]["path"]
    assert rebuilt.stat().st_size == third["artifacts"][0]["bytes"] == Path(third["cache"]["path"]).stat().st_size
    assert sha256_file(rebuilt) == third["artifacts"][0]["sha256"]


@pytest.mark.slow
def test_verification_fails_against_a_different_model(demo_model, tmp_path):
    """The thresholds are not decorative: an artifact of another model fails. A float one fails
    every logit check; a quantized one fails earlier: its weights are not this checkpoint's
    matrices quantized, so no PyTorch reference on them can be built (dequantize.py)."""
    from sdk_gen.model.demo import write_demo_model

    other = write_demo_model(tmp_path / "other", seed=1)
    for quant in ("int4", "f32"):
        result = convert(ConversionRequest(model=str(demo_model), runtime="litert", quant=quant, context=256, verify=False))
        job, _, _ = prepare_job(ConversionRequest(model=str(other), runtime="litert", quant=quant, context=256))
        verification = run_verification(job, result.artifact.path)
        assert verification.passed is False
        if quant == "int4":
            assert verification.checks["weights_read_back"] is False
            assert "cannot map" in " ".join(verification.notes)
        else:
            assert verification.logits.mean_correlation < 0.5 and verification.logits.top1_agreement < 0.2


def test_architecture_nobody_converts(tmp_path):
    import transformers as T

    T.GPTNeoXConfig(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                    num_attention_heads=4).save_pretrained(tmp_path / "pythia")
    before = tree_snapshot(tmp_path)
    result = run_cli("convert", "--model", str(tmp_path / "pythia"), "--runtime", "litert", "-o", str(tmp_path / "out"))
    assert result.code == 2 and len(result.stderr_lines) == 1
    assert "gpt_neox" in result.stderr and "not supported" in result.stderr and "PhiForCausalLM" in result.stderr
    assert tree_snapshot(tmp_path) == before


# Tiny random checkpoints that vary what real models vary: grouped-query attention (2 KV heads for
# 4, Gemma's 1), tied embeddings (Gemma's default, and a tied Llama), biases on q/k/v (Qwen2's
# default), Gemma 2's attention and final logit soft-capping (its defaults), and sliding windows of
# 16 tokens, shorter than every verification sequence (prompt + 32 greedy steps), as real models'
# windows are shorter than their contexts.
FAMILY_MODELS = {
    "phi3": ("Phi3Config", "Phi3ForCausalLM", dict(num_key_value_heads=2)),
    "llama": ("LlamaConfig", "LlamaForCausalLM", dict(num_key_value_heads=2)),
    "llama-tied": ("LlamaConfig", "LlamaForCausalLM", dict(num_key_value_heads=2, tie_word_embeddings=True)),
    "mistral": ("MistralConfig", "MistralForCausalLM", dict(num_key_value_heads=2, sliding_window=None)),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", dict(num_key_value_heads=2)),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", dict(num_key_value_heads=2, head_dim=16)),
    "gemma": ("GemmaConfig", "GemmaForCausalLM", dict(num_key_value_heads=1, head_dim=16)),
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM", dict(num_key_value_heads=2, head_dim=16, sliding_window=16)),
    # Gemma 3's query scale as in the published 1B-12B models (query_pre_attn_scalar = head_dim):
    # llama.cpp assumes it (1/sqrt(head_dim)) rather than reading it from the file.
    "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM",
               dict(num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=16, sliding_window=16)),
}


def tiny_family_model(family: str, demo_model: Path, out: Path) -> Path:
    """A tiny random model of ``family`` with the demo model's tokenizer (the demo itself is Phi)."""
    import torch
    import transformers as T

    config_name, model_name, extra = FAMILY_MODELS[family]
    config = getattr(T, config_name)(
        vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=512, bos_token_id=0, eos_token_id=0, pad_token_id=0, initializer_range=0.05, **extra,
    )
    torch.manual_seed(0)
    getattr(T, model_name)(config).save_pretrained(out)
    for name in TOKENIZER_FILES:
        if (demo_model / name).is_file():
            shutil.copy(demo_model / name, out / name)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILY_MODELS))
def test_every_family_converts_and_equals_pytorch(family, demo_model, tmp_path):
    model = tiny_family_model(family, demo_model, tmp_path / family)
    report = _convert_json(model, tmp_path / "out", "--quant", "f32")
    verification = report["verification"]
    assert verification["passed"] is True, verification
    assert verification["logits"]["max_abs_diff"] < 1e-4
    assert all(p["first_divergence"] is None for p in verification["prompts"])


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gemma2", "gemma3"])
def test_sliding_windows_shorter_than_the_sequence_pass_the_f16_bound(family, demo_model, tmp_path):
    """f16 against PyTorch with the same fp16 weights, where each layer's window (16 tokens) is
    shorter than the sequences checked: Gemma 2 measured max |dlogit| 5.8e-4 under the 1e-3 bound."""
    model = tiny_family_model(family, demo_model, tmp_path / family)
    verification = _convert_json(model, tmp_path / "out", "--quant", "f16")["verification"]
    assert verification["passed"] is True, verification
    assert verification["logits"]["max_abs_diff"] < 1e-3
    assert all(p["first_divergence"] is None for p in verification["prompts"])


def test_task_needs_a_tokenizer(demo_model, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        shutil.copy(demo_model / name, bare / name)
    result = run_cli("convert", "--model", str(bare), "--runtime", "litert", "--format", "task", "-o", str(tmp_path / "out"))
    assert result.code == 2 and len(result.stderr_lines) == 1
    assert "tokenizer" in result.stderr and "--format litertlm" in result.stderr
    assert not (tmp_path / "out").exists()


def test_tokenizer_that_cannot_become_sentencepiece(demo_model, tmp_path):
    model = tmp_path / "wordpiece"
    shutil.copytree(demo_model, model)
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(model / "tokenizer.json"))
    result = run_cli("convert", "--model", str(model), "--runtime", "litert", "--format", "task", "-o", str(tmp_path / "out"))
    assert result.code == 2 and "wordpiece" in result.stderr and "--format litertlm" in result.stderr


def test_unknown_format_and_quant(demo_model, tmp_path):
    bad_format = run_cli("convert", "--model", str(demo_model), "--runtime", "litert", "--format", "gguf", "-o", str(tmp_path / "o"))
    assert bad_format.code == 2 and "litertlm or task" in bad_format.stderr
    bad_quant = run_cli("convert", "--model", str(demo_model), "--runtime", "litert", "--quant", "q4_0", "-o", str(tmp_path / "o"))
    assert bad_quant.code == 2 and "f32, f16, int8, int4" in bad_quant.stderr
    auto_without_profile = run_cli("convert", "--model", str(demo_model), "-o", str(tmp_path / "o"))
    assert auto_without_profile.code == 2 and "--profile" in auto_without_profile.stderr
    assert not (tmp_path / "o").exists()


def test_existing_output_is_refused_before_any_work(demo_model, tmp_path, cache_dir):
    out = tmp_path / "out"
    out.mkdir()
    before = tree_snapshot(cache_dir)
    result = run_cli("convert", "--model", str(demo_model), "--runtime", "litert", "-o", str(out))
    assert result.code == 2 and "--force" in result.stderr
    assert tree_snapshot(cache_dir) == before  # refused before converting anything


def test_job_names_the_artifact_after_model_and_quant(demo_model):
    job, _, _ = prepare_job(ConversionRequest(model=str(demo_model), runtime="litert", quant="int4"))
    assert isinstance(job, ConversionJob) and job.artifact_name == "demo-int4.litertlm"
    assert job.context == 2048 and job.spec == inspect_model(demo_model)


@pytest.mark.slow
def test_profile_refreshes_the_budget_with_the_real_artifact(demo_model, tmp_path):
    report = _convert_json(demo_model, tmp_path / "out", "--quant", "int8", "--profile", "pixel8", "--no-verify")
    assert report["profile"] == "pixel8" and report["plan"]["quant"] == "int8"
    predicted, actual = report["budget"]["predicted"], report["budget"]["actual"]
    assert predicted["weights_source"] == "predicted" and actual["weights_source"] == "artifact"
    assert actual["weights_bytes"] == report["artifacts"][0]["bytes"] != predicted["weights_bytes"]
    assert actual["kv_cache_bytes"] == predicted["kv_cache_bytes"]
    # The real size replaces the prediction, and XNNPack's repacked copy (int8 on the CPU) scales with it.
    assert actual["load_copy_bytes"] == int(actual["weights_bytes"] * actual["load_copy_factor"]) > 0
    weights_and_copy = ("weights_bytes", "load_copy_bytes")
    assert actual["total_bytes"] - predicted["total_bytes"] == sum(actual[k] - predicted[k] for k in weights_and_copy)
    assert report["weights"]["predicted_bytes"] == predicted["weights_bytes"]
