"""ExecuTorch: real `.pte` exports of the demo and tiny models, run with ExecuTorch's own runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli, tree_snapshot
from test_litert import tiny_family_model

CONTEXT = "256"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """One artifact cache for the module: later tests reuse earlier conversions."""
    return tmp_path_factory.mktemp("executorch-cache")


@pytest.fixture(autouse=True)
def _cache_env(cache_dir, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(cache_dir))


def _convert_json(model, out, *extra) -> dict:
    result = run_cli("convert", "--model", str(model), "--runtime", "executorch", "--context", CONTEXT, "-o", str(out), "--json", *extra)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def test_registered_but_never_chosen_automatically(demo_model):
    from sdk_gen.runtimes import all_runtimes, get_runtime

    runtime = get_runtime("executorch")
    assert [r.key for r in all_runtimes()][-1] == "executorch"
    assert runtime.formats == ("pte",) and set(runtime.quant_formats()) == {"fp32", "8da4w"}
    assert runtime.auto_selectable is False and set(runtime.engines) == {("android", "pte"), ("ios", "pte")}
    assert runtime.quant("fp32").check.exact and runtime.quant("8da4w").check.reference == "artifact"
    assert {"executorch", "torch", "torchao", "transformers"} <= set(runtime.toolchain_versions())
    assert runtime.missing_tools() is None
    result = run_cli("plan", "--model", str(demo_model), "--profile", "pixel8", "--json")
    assert result.code == 0 and json.loads(result.stdout)["plan"]["runtime"] != "executorch"


def test_too_short_context_refused_before_any_work(demo_model, tmp_path, cache_dir):
    before = tree_snapshot(cache_dir)
    result = run_cli("convert", "--model", str(demo_model), "--runtime", "executorch", "--quant", "fp32", "--context", "8",
                     "-o", str(tmp_path / "out"))
    assert result.code == 2 and len(result.stderr_lines) == 1, result.stderr
    assert "--context of at least" in result.stderr
    assert not (tmp_path / "out").exists()
    assert not {p for p in tree_snapshot(cache_dir) - before if "artifacts" in p}


def test_8da4w_needs_group_aligned_matrices(demo_model, tmp_path):
    import shutil

    import torch
    import transformers as T

    from sdk_gen.model.inspect import TOKENIZER_FILES

    config = T.LlamaConfig(vocab_size=512, hidden_size=48, intermediate_size=128, num_hidden_layers=1, num_attention_heads=4,
                           num_key_value_heads=2, max_position_embeddings=512, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    torch.manual_seed(0)
    model = tmp_path / "odd"
    T.LlamaForCausalLM(config).save_pretrained(model)
    for name in TOKENIZER_FILES:
        if (demo_model / name).is_file():
            shutil.copy(demo_model / name, model / name)
    result = run_cli("convert", "--model", str(model), "--runtime", "executorch", "--quant", "8da4w", "--context", CONTEXT,
                     "-o", str(tmp_path / "out"))
    assert result.code == 2 and len(result.stderr_lines) == 1, result.stderr
    assert "groups of 32 inputs" in result.stderr and "hidden size (48)" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_fp32_equals_pytorch_and_is_cached(demo_model, tmp_path):
    report = _convert_json(demo_model, tmp_path / "first", "--quant", "fp32")
    verification = report["verification"]
    assert verification["passed"] is True, verification
    assert verification["matched"] == verification["steps"] >= 4 * 30
    assert all(p["first_divergence"] is None for p in verification["prompts"])
    assert verification["checks"]["tokenizer_parity"] is True
    assert verification["logits"]["max_abs_diff"] < 1e-4 and verification["logits"]["top1_agreement"] == 1.0
    artifact = report["artifacts"][0]
    path = tmp_path / "first" / artifact["path"]
    assert path.suffix == ".pte" and path.stat().st_size == artifact["bytes"]
    # The plan predicted the float32 weights; the program, KV cache shape and tokenizer add ~1%.
    assert 1.0 <= report["weights"]["actual_over_predicted"] < 1.05

    again = _convert_json(demo_model, tmp_path / "second", "--quant", "fp32")
    assert report["cache"]["hit"] is False and again["cache"]["hit"] is True
    assert again["artifacts"] == report["artifacts"] and again["verification"]["passed"] is True


@pytest.mark.slow
def test_8da4w_matches_eager_torchao_and_reports_its_cost(demo_model, tmp_path):
    report = _convert_json(demo_model, tmp_path / "out", "--quant", "8da4w")
    verification = report["verification"]
    assert verification["passed"] is True, verification
    assert verification["thresholds"]["reference"] == "artifact"
    fidelity = verification["fidelity"]
    assert fidelity["max_abs_diff"] <= fidelity["tolerance"] and fidelity["decisive_top1_agreement"] == 1.0
    assert fidelity["forced_disagreements"] == fidelity["forced_disagreements_at_ties"]
    assert fidelity["forced_positions"] >= 4 * 30
    cost = verification["cost"]
    assert 0 < cost["mean_kl"] < 0.1 and cost["top1_agreement"] > 0.5 and cost["perplexity_ratio"] < 1.1
    assert 0.9 < report["weights"]["actual_over_predicted"] < 1.1


@pytest.mark.slow
@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_tiny_families_equal_pytorch(family, demo_model, tmp_path):
    model = tiny_family_model(family, demo_model, tmp_path / family)
    report = _convert_json(model, tmp_path / "out", "--quant", "fp32")
    verification = report["verification"]
    assert verification["passed"] is True, verification
    assert verification["checks"]["tokenizer_parity"] is True
    assert verification["logits"]["max_abs_diff"] < 1e-4
    assert all(p["first_divergence"] is None for p in verification["prompts"])


@pytest.mark.slow
def test_the_engines_nfc_normalize_exactly_when_the_tokenizer_does(demo_model, tmp_path):
    """A tiny Qwen2 (transformers gives it an NFC normalizer): the `.pte`'s tokenizer.json goes
    without it and both engines NFC-normalize each turn. The demo (no normalizer) gets neither:
    test_executorch_android.py / test_executorch_ios.py check its engines hold no normalization."""
    from sdk_gen.runtimes.executorch.export import needs_nfc
    from sdk_gen.runtimes.executorch.host import PteDecoder

    model = tiny_family_model("qwen2", demo_model, tmp_path / "qwen2")
    assert needs_nfc(model) and not needs_nfc(demo_model)
    for platform, profile in (("android", "pixel8"), ("ios", "iphone15pro")):
        result = run_cli(platform, "--model", str(model), "--profile", profile, "--runtime", "executorch", "--quant", "fp32",
                         "--context", CONTEXT, "--app-name", "Demo Chat", "--no-verify", "-o", str(tmp_path / platform))
        assert result.code == 0, result.stderr
    (kotlin,) = (tmp_path / "android").rglob("ExecuTorchEngine.kt")
    engine = kotlin.read_text()
    assert "import java.text.Normalizer" in engine and engine.count("Normalizer.normalize(it, Normalizer.Form.NFC)") == 1
    swift = (tmp_path / "ios/App/Sources/ExecuTorchEngine.swift").read_text()
    assert swift.count("turn.precomposedStringWithCanonicalMapping") == 1
    (pte,) = (tmp_path / "android").rglob("*.pte")
    tokenizer = json.loads(PteDecoder(pte, quantized=False).constant_bytes("sdkgen_tokenizer_json"))
    assert tokenizer["normalizer"] is None
