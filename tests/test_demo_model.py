"""The built-in demo model: made locally, deterministic, a real Phi checkpoint with a chat template."""

from __future__ import annotations

import hashlib
import json

from conftest import run_cli, tree_snapshot


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_demo_model_is_a_loadable_phi_checkpoint(demo_model):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(demo_model)
    model = AutoModelForCausalLM.from_pretrained(demo_model).eval()
    assert type(model).__name__ == "PhiForCausalLM"
    assert len(tokenizer) == model.config.vocab_size == 512
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hello"}], tokenize=False, add_generation_prompt=True)
    assert prompt == "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    # The special tokens are single ids, so runtimes can stop on <|im_end|>.
    assert ids[0, 0].item() == tokenizer.convert_tokens_to_ids("<|im_start|>")
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > ids.shape[1]
    text = "the quick brown fox"
    assert tokenizer.decode(tokenizer(text).input_ids) == text


def test_demo_model_is_deterministic(tmp_path, demo_model):
    again = tmp_path / "again"
    result = run_cli("demo-model", str(again))
    assert result.code == 0, result.stderr
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert _sha(again / name) == _sha(demo_model / name), name
    assert json.loads((again / "sdkgen-demo.json").read_text())["sdkgen_demo_model"] is True


def test_demo_model_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "demo"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    before = tree_snapshot(tmp_path)
    refused = run_cli("demo-model", str(target))
    assert refused.code == 2 and "--force" in refused.stderr and len(refused.stderr_lines) == 1
    assert tree_snapshot(tmp_path) == before  # no staging folder left behind
    not_ours = run_cli("demo-model", str(target), "--force")  # --force replaces only what sdkgen wrote
    assert not_ours.code == 2 and "not written by sdkgen" in not_ours.stderr and (target / "keep.txt").is_file()
    (target / "sdkgen-demo.json").write_text("{}")  # an earlier demo model
    replaced = run_cli("demo-model", str(target), "--force")
    assert replaced.code == 0
    assert not (target / "keep.txt").exists() and (target / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_demo_model_sizes_for_the_benchmarks(tmp_path):
    from sdk_gen.model import inspect_model
    from sdk_gen.model.demo import write_demo_model

    small = inspect_model(write_demo_model(tmp_path / "small", size="small"))
    assert 20e6 < small.num_params < 40e6 and small.hidden_size % 256 == 0
