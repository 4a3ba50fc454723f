"""`inspect`: shapes and parameter counts from config.json alone and from safetensors headers."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from conftest import PUBLISHED_CONFIGS, run_cli
from sdk_gen.errors import BadInput
from sdk_gen.model import inspect_model

# Parameter counts the model cards / hub pages publish for these checkpoints.
PUBLISHED_PARAMS = {
    "phi-2": 2_779_683_840,
    "llama-3.2-1b-instruct": 1_235_814_400,
    "qwen2.5-0.5b-instruct": 494_032_768,
    "gemma-2b-it": 2_506_172_416,
    "tinyllama-1.1b-chat": 1_100_048_384,
    "phi-3-mini-4k-instruct": 3_821_079_552,
    "qwen3-0.6b": 596_049_920,
    "gemma-3-1b-it": 999_885_952,
    "mistral-7b-v0.1": 7_241_732_096,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_published_configs_count_like_the_model_cards(name):
    spec = inspect_model(PUBLISHED_CONFIGS / name)
    assert spec.params_source == "config"
    assert spec.num_params == PUBLISHED_PARAMS[name]


def test_phi2_shape_fields():
    spec = inspect_model(PUBLISHED_CONFIGS / "phi-2")
    assert (spec.architecture, spec.family) == ("PhiForCausalLM", "phi")
    assert (spec.num_layers, spec.num_attention_heads, spec.num_kv_heads, spec.head_dim) == (32, 32, 32, 80)
    assert (spec.hidden_size, spec.intermediate_size, spec.vocab_size, spec.max_context) == (2560, 10240, 51200, 2048)
    assert spec.tied_embeddings is False
    # The output projection and embedding are separate 131M-parameter matrices in Phi-2.
    assert spec.params.embedding == spec.params.lm_head == 51200 * 2560
    assert spec.tokenizer_kind == "none" and spec.has_chat_template is False


def test_grouped_query_attention_and_tied_embeddings():
    spec = inspect_model(PUBLISHED_CONFIGS / "llama-3.2-1b-instruct")
    assert (spec.num_attention_heads, spec.num_kv_heads, spec.head_dim) == (32, 8, 64)
    assert spec.tied_embeddings is True and spec.params.lm_head == 0
    assert spec.params.attn_k == 16 * 2048 * 8 * 64


def test_sliding_window_layers_are_read_per_family():
    gemma3 = inspect_model(PUBLISHED_CONFIGS / "gemma-3-1b-it")
    # Every sixth layer is global, the other 22 of 26 slide over 512 tokens.
    assert gemma3.layer_windows.count(None) == 4 and gemma3.layer_windows.count(512) == 22
    mistral = inspect_model(PUBLISHED_CONFIGS / "mistral-7b-v0.1")
    assert set(mistral.layer_windows) == {4096}
    qwen = inspect_model(PUBLISHED_CONFIGS / "qwen2.5-0.5b-instruct")
    assert set(qwen.layer_windows) == {None}  # use_sliding_window is false


def _tiny_family_models():
    import transformers as T

    common = dict(
        vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=256,
    )
    return {
        "phi": (T.PhiConfig, T.PhiForCausalLM, dict(partial_rotary_factor=0.5)),
        "phi-qk-layernorm": (T.PhiConfig, T.PhiForCausalLM, dict(partial_rotary_factor=0.5, qk_layernorm=True)),
        "phi3": (T.Phi3Config, T.Phi3ForCausalLM, dict(num_key_value_heads=2, pad_token_id=0, bos_token_id=1, eos_token_id=2)),
        "llama": (T.LlamaConfig, T.LlamaForCausalLM, dict(num_key_value_heads=2)),
        "llama-biases-tied": (
            T.LlamaConfig, T.LlamaForCausalLM, dict(num_key_value_heads=2, attention_bias=True, mlp_bias=True, tie_word_embeddings=True)
        ),
        "mistral": (T.MistralConfig, T.MistralForCausalLM, dict(num_key_value_heads=2, sliding_window=64)),
        "qwen2": (T.Qwen2Config, T.Qwen2ForCausalLM, dict(num_key_value_heads=2, tie_word_embeddings=True)),
        "qwen3": (T.Qwen3Config, T.Qwen3ForCausalLM, dict(num_key_value_heads=2, head_dim=32)),
        "gemma": (T.GemmaConfig, T.GemmaForCausalLM, dict(num_key_value_heads=1, head_dim=16)),
        "gemma2": (T.Gemma2Config, T.Gemma2ForCausalLM, dict(num_key_value_heads=2, head_dim=16, sliding_window=32)),
        "gemma3": (T.Gemma3TextConfig, T.Gemma3ForCausalLM, dict(num_key_value_heads=2, head_dim=16, sliding_window=32)),
    }


@pytest.mark.parametrize("variant", sorted(_tiny_family_models()))
def test_counts_match_transformers_from_config_and_from_headers(variant, tmp_path):
    import torch

    config_cls, model_cls, extra = _tiny_family_models()[variant]
    torch.manual_seed(0)
    config = config_cls(
        vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=256, **extra,
    )
    model = model_cls(config)
    expected = sum(p.numel() for p in model.parameters())

    config.save_pretrained(tmp_path)
    from_config = inspect_model(tmp_path)
    model.save_pretrained(tmp_path)
    from_headers = inspect_model(tmp_path)

    assert from_config.params_source == "config" and from_headers.params_source == "safetensors"
    assert from_config.num_params == from_headers.num_params == expected
    # Not only the total: each role (embedding, attention, MLP, norms) must agree.
    assert from_config.params == from_headers.params
    assert from_headers.num_kv_heads == config.num_key_value_heads


def test_demo_model_is_described_fully(demo_model):
    spec = inspect_model(demo_model)
    assert spec.architecture == "PhiForCausalLM"
    assert spec.params_source == "safetensors" and spec.weight_files == ("model.safetensors",)
    assert spec.tokenizer_kind == "byte-level-bpe" and spec.has_chat_template
    assert spec.vocab_size == 512 and spec.hidden_size == 256


def test_inspect_json_has_every_field(demo_model):
    result = run_cli("inspect", str(demo_model), "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    for key in (
        "architecture", "num_params", "num_layers", "num_attention_heads", "num_kv_heads", "head_dim", "hidden_size",
        "vocab_size", "max_context", "tied_embeddings", "tokenizer_kind", "has_chat_template",
    ):
        assert key in data
    assert data["num_params"] == inspect_model(demo_model).num_params


def test_inspect_table_names_the_fields(demo_model):
    result = run_cli("inspect", str(demo_model))
    assert result.code == 0
    for label in ("architecture", "parameters", "KV heads", "head dim", "max context", "chat template"):
        assert label in result.stdout


def _fake_hf_cache(root: Path, repo_id: str, config_src: Path) -> Path:
    """Lay out a Hugging Face hub cache entry the way huggingface_hub writes one."""
    repo_dir = root / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    shutil.copy(config_src / "config.json", snapshot / "config.json")
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text("a" * 40)
    return snapshot


def test_known_name_resolves_through_the_local_hf_cache(tmp_path, monkeypatch):
    _fake_hf_cache(tmp_path, "microsoft/phi-2", PUBLISHED_CONFIGS / "phi-2")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert inspect_model("phi-2").num_params == PUBLISHED_PARAMS["phi-2"]
    assert inspect_model("microsoft/phi-2").num_params == PUBLISHED_PARAMS["phi-2"]


def test_known_name_missing_from_cache_says_which_repo_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    result = run_cli("inspect", "qwen2.5-0.5b-instruct")
    assert result.code == 2
    assert len(result.stderr_lines) == 1
    line = result.stderr_lines[0]
    assert "Qwen/Qwen2.5-0.5B-Instruct" in line and "hf download Qwen/Qwen2.5-0.5B-Instruct" in line


# --- bad input: one line, exit 2 -------------------------------------------------------------


def _assert_one_line_error(result, *fragments):
    assert result.code == 2, (result.code, result.stdout, result.stderr)
    assert len(result.stderr_lines) == 1, result.stderr
    assert result.stderr_lines[0].startswith("sdkgen: error: ")
    for fragment in fragments:
        assert fragment in result.stderr_lines[0]
    assert result.stdout == ""


def test_missing_folder(tmp_path):
    _assert_one_line_error(run_cli("inspect", str(tmp_path / "nope")), "does not exist")


def test_folder_without_config(tmp_path):
    _assert_one_line_error(run_cli("inspect", str(tmp_path)), "no config.json")


def test_corrupt_config(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "phi", "hidden_size": 25')
    _assert_one_line_error(run_cli("inspect", str(tmp_path)), "not valid JSON", "line 1")


def test_config_missing_a_dimension(tmp_path):
    config = json.loads((PUBLISHED_CONFIGS / "phi-2" / "config.json").read_text())
    del config["num_attention_heads"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    _assert_one_line_error(run_cli("inspect", str(tmp_path)), "num_attention_heads")


def test_unknown_architecture_names_the_supported_ones(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertForMaskedLM"], "model_type": "bert"}))
    result = run_cli("inspect", str(tmp_path))
    _assert_one_line_error(result, "BertForMaskedLM", "not supported", "PhiForCausalLM", "Gemma3ForCausalLM", "Qwen3ForCausalLM")


def test_truncated_safetensors_header(tmp_path, demo_model):
    shutil.copy(demo_model / "config.json", tmp_path / "config.json")
    data = (demo_model / "model.safetensors").read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    (tmp_path / "model.safetensors").write_bytes(data[: 8 + header_len // 2])
    _assert_one_line_error(run_cli("inspect", str(tmp_path)), "model.safetensors", "truncated")


def test_truncated_safetensors_data(tmp_path, demo_model):
    shutil.copy(demo_model / "config.json", tmp_path / "config.json")
    data = (demo_model / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) - 1000])
    _assert_one_line_error(run_cli("inspect", str(tmp_path)), "truncated")


def test_library_raises_bad_input_not_a_traceback(tmp_path):
    with pytest.raises(BadInput):
        inspect_model(tmp_path)
