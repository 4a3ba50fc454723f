"""PEFT LoRA adapters: merged into the base before conversion, for every runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from sdk_gen.adapters import merge_adapter, read_adapter
from sdk_gen.errors import BadInput


def make_adapter(base: Path, out: Path, seed: int = 1) -> Path:
    """A small LoRA adapter with non-zero B matrices, so it really changes the model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base)
    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "fc1"], init_lora_weights=False, task_type="CAUSAL_LM")
    get_peft_model(model, config).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def lora_adapter(demo_model, tmp_path_factory) -> Path:
    return make_adapter(demo_model, tmp_path_factory.mktemp("adapters") / "tiny-lora")


def _logits(model, ids):
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0]


def test_merged_model_matches_peft_and_differs_from_base(demo_model, lora_adapter, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged_dir = merge_adapter(demo_model, read_adapter(lora_adapter), tmp_path / "merged")
    ids = AutoTokenizer.from_pretrained(demo_model)("The quick brown fox jumps").input_ids
    base = AutoModelForCausalLM.from_pretrained(demo_model).eval()
    base_logits = _logits(base, ids)
    unmerged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(demo_model), lora_adapter).eval()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    # The merged checkpoint computes what PyTorch computes with the adapter applied...
    assert torch.allclose(_logits(merged, ids), _logits(unmerged, ids), atol=1e-4)
    # ...which is not what the base computes.
    assert (_logits(merged, ids) - base_logits).abs().max() > 0.05
    # Tokenizer and chat template travel with the merge.
    assert (merged_dir / "tokenizer.json").is_file() and AutoTokenizer.from_pretrained(merged_dir).chat_template


def test_adapter_for_another_shape_is_refused(demo_model, tmp_path):
    import transformers as T

    other_base = tmp_path / "narrow"
    T.PhiForCausalLM(T.PhiConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=4, partial_rotary_factor=0.5)).save_pretrained(other_base)
    adapter = make_adapter(other_base, tmp_path / "narrow-lora")
    with pytest.raises(BadInput, match="does not match base model"):
        merge_adapter(demo_model, read_adapter(adapter), tmp_path / "merged")
    result = run_cli("convert", "--adapter", str(adapter), "--model", str(demo_model), "--runtime", "litert", "-o", str(tmp_path / "o"))
    assert result.code == 2 and len(result.stderr_lines) == 1 and "does not match base model" in result.stderr
    assert not (tmp_path / "o").exists()


def test_adapter_folder_problems(tmp_path, lora_adapter):
    missing = run_cli("convert", "--adapter", str(tmp_path / "nope"), "--runtime", "litert", "-o", str(tmp_path / "o"))
    assert missing.code == 2 and "does not exist" in missing.stderr
    no_base = tmp_path / "orphan"
    no_base.mkdir()
    config = json.loads((lora_adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = None
    (no_base / "adapter_config.json").write_text(json.dumps(config))
    (no_base / "adapter_model.safetensors").write_bytes((lora_adapter / "adapter_model.safetensors").read_bytes())
    orphan = run_cli("convert", "--adapter", str(no_base), "--runtime", "litert", "-o", str(tmp_path / "o"))
    assert orphan.code == 2 and "--model BASE" in orphan.stderr
    config["peft_type"] = "IA3"
    (no_base / "adapter_config.json").write_text(json.dumps(config))
    ia3 = run_cli("convert", "--adapter", str(no_base), "--model", "x", "--runtime", "litert", "-o", str(tmp_path / "o"))
    assert ia3.code == 2 and "LoRA adapters only" in ia3.stderr


@pytest.mark.slow
@pytest.mark.parametrize("runtime, quant, suffix", [("litert", "f32", "litertlm"), ("llamacpp", "f16", "gguf")])
def test_convert_with_adapter_verifies_against_the_merged_model(demo_model, lora_adapter, tmp_path, monkeypatch,
                                                                runtime, quant, suffix):
    # Every runtime takes the merged checkpoint (llama.cpp too: merging first keeps one code path
    # and lets the apps load a single GGUF instead of base + LoRA).
    from sdk_gen.conversion import ConversionRequest, prepare_job
    from sdk_gen.verify_worker import run_verification

    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(tmp_path / "cache"))
    result = run_cli("convert", "--adapter", str(lora_adapter), "--runtime", runtime, "--quant", quant, "--context", "256",
                     "-o", str(tmp_path / "out"), "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["adapter"]["merged"] is True and report["adapter"]["base_model"] == str(demo_model)
    assert report["artifacts"][0]["path"] == f"tiny-lora-{quant}.{suffix}"
    assert report["verification"]["passed"] is True
    assert report["verification"]["matched"] == report["verification"]["steps"]

    # The adapter is really inside: the same artifact does not reproduce the base model.
    artifact = tmp_path / "out" / report["artifacts"][0]["path"]
    base_job, _, _ = prepare_job(ConversionRequest(model=str(demo_model), runtime=runtime, quant=quant, context=256))
    against_base = run_verification(base_job, artifact)
    if against_base.cost is None:
        assert against_base.passed is False  # judged against the original weights (LiteRT)
    else:
        # llama.cpp is judged on its own weights (fidelity, which holds whatever model it is) and
        # reports what those weights cost against the original: nothing against the merged model,
        # another model against the base.
        merged_kl = report["verification"]["cost"]["mean_kl"]
        assert merged_kl < 1e-5 and against_base.cost.mean_kl > 1000 * max(merged_kl, 1e-7), against_base.cost
        assert against_base.cost.top1_agreement < 0.5


# Phi-3's turn markers, not the demo model's ChatML: a project that took the base's template
# instead of the adapter's shows it at once.
ADAPTER_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


@pytest.fixture(scope="module")
def chat_adapter(demo_model, tmp_path_factory) -> Path:
    """An adapter fine-tuned to another chat format, saved with its tokenizer as PEFT training
    scripts save it (tokenizer_config.json and chat_template.jinja beside the adapter)."""
    from transformers import AutoTokenizer

    adapter = make_adapter(demo_model, tmp_path_factory.mktemp("adapters") / "chat-lora", seed=2)
    tokenizer = AutoTokenizer.from_pretrained(demo_model)
    tokenizer.chat_template = ADAPTER_CHAT_TEMPLATE
    tokenizer.save_pretrained(adapter)
    return adapter


def test_project_chats_in_the_adapter_s_template(demo_model, chat_adapter, tmp_path):
    # The merged checkpoint (which takes the adapter's tokenizer files) is deleted before the
    # project is rendered: the chat format must still be the adapter's, not the base's.
    from dataclasses import replace

    from sdk_gen.conversion import ConversionRequest
    from sdk_gen.formats.base import ProjectOptions
    from sdk_gen.project import ProjectRequest, generate_project
    from sdk_gen.runtimes import get_runtime

    def generate(output: Path):
        conversion = ConversionRequest(model=str(demo_model), adapter=chat_adapter, profile="pixel8", runtime="llamacpp",
                                       quant="f16", context=256, verify=False, cache_dir=tmp_path / "cache")
        return generate_project(ProjectRequest("android", conversion, ProjectOptions(app_id="com.example.chat"), output))

    converted = generate(tmp_path / "Converted")
    # Again from the cache: no merge at all this time, and the same format.
    cached = generate(tmp_path / "Cached")
    assert cached.conversion.cache_hit and not converted.conversion.cache_hit
    for project in (converted, cached):
        chat = project.generation.chat
        assert (chat.user_prefix, chat.user_suffix, chat.assistant_prefix, chat.assistant_suffix) == (
            "<|user|>\n", "<|end|>\n", "<|assistant|>\n", "<|end|>\n"
        )
        kotlin = next(project.path.rglob("ChatFormat.kt")).read_text()
        assert 'userPrefix = "<|user|>\\n"' in kotlin and "<|im_start|>" not in kotlin

    # MLC formats prompts from its conversation template, chosen from the same (adapter's) format.
    mlc = get_runtime("mlc")
    mlc_job = replace(converted.conversion.job, runtime=mlc, quant=mlc.quant("q4f16_1"), artifact_format="mlc-android")
    assert mlc.build_plan(mlc_job).conv_template == "tinyllama_v1_0"
    base_job = replace(mlc_job, tokenizer_dir=None)
    assert mlc.build_plan(base_job).conv_template == "chatml_nosystem"
