"""int4 exports of a model with all-zero blocks of weights run (sdk_gen/runtimes/litert/zero_scales.py).

A block of 32 zero weights (a tied embedding's zero padding row; Llama 3 base's untrained token rows)
gets int4 block scale 0 from ai-edge-quantizer, and LiteRT's XNNPACK then refuses the tensor at load
("unsupported scale value (0.000000) in channel 0 for INT4 tensor"): litert-torch's file cannot run.
The export child replaces those scales by 2^-14 (the block's integers are 0, so its weights stay 0).
Measured on this module's model (litert-torch 0.10, ai-edge-litert 2.3.0, litert-lm-api 0.18.1):
litert-torch's file fails in the interpreter and in litert_lm's Engine; the patched one differs in 5
bytes (the high byte of each zero scale), runs in both, and sdkgen's verification passes (rms |dlogit|
1.008x the rounding noise). int8 is not affected: an all-zero row gets scale 7.9e-12, normal and
accepted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from sdk_gen.runtimes.litert.dequantize import dequantize, read_quantized_tensors
from sdk_gen.runtimes.litert.host import EngineRunner, TfliteDecoder, unpack_litertlm
from sdk_gen.runtimes.litert.zero_scales import SAFE_SCALE, find_zero_scales, patch_zero_scales

pytestmark = pytest.mark.slow

CONTEXT = 256
ZERO_ROWS = (0, 7)  # whole rows: 2 blocks each at hidden 64
HALF_ZERO_ROW = 9  # only its first block of 32 is zero
ZERO_BLOCKS = 2 * len(ZERO_ROWS) + 1
RECIPES = {"int4": "dynamic_wi4b32_afp32", "int8": "dynamic_wi8_afp32"}


@pytest.fixture(scope="module")
def zero_model(demo_model, tmp_path_factory) -> Path:
    """Tiny Llama with a tied embedding (embedding = lm_head) holding all-zero rows and one zero block."""
    import torch
    from transformers import AutoModelForCausalLM

    from test_litert import tiny_family_model

    out = tiny_family_model("llama-tied", demo_model, tmp_path_factory.mktemp("zero-model") / "llama-tied")
    model = AutoModelForCausalLM.from_pretrained(out)
    with torch.no_grad():
        weight = model.get_input_embeddings().weight
        weight[list(ZERO_ROWS)] = 0
        weight[HALF_ZERO_ROW, :32] = 0
    assert model.get_output_embeddings().weight.data_ptr() == weight.data_ptr()
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def dense_model(demo_model, tmp_path_factory) -> Path:
    """The same tiny Llama with no zero block (its padding row filled in)."""
    import torch
    from transformers import AutoModelForCausalLM

    from test_litert import tiny_family_model

    out = tiny_family_model("llama-tied", demo_model, tmp_path_factory.mktemp("dense-model") / "llama-tied")
    model = AutoModelForCausalLM.from_pretrained(out)
    with torch.no_grad():
        weight = model.get_input_embeddings().weight
        weight[0] = weight[1].flip(0)
    model.save_pretrained(out)
    return out


def _litert_torch_export(model: Path, out: Path, quant: str) -> Path:
    """litert-torch's own `.litertlm`, exactly as it writes it (no sdkgen patch), in a child process."""
    from sdk_gen.runtimes.litert.export import export_arguments

    arguments = export_arguments(model, out, context=CONTEXT, prefill=128, recipe=RECIPES[quant], lightweight=False)
    script = "import json, sys; from litert_torch.generative.export_hf import export; export.export(**json.loads(sys.argv[1]))"
    subprocess.run([sys.executable, "-c", script, json.dumps(arguments)], check=True, capture_output=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return out / "model.litertlm"


@pytest.fixture(scope="module")
def exports(zero_model, dense_model, tmp_path_factory) -> dict:
    """name -> litert-torch's unpatched `.litertlm`."""
    root = tmp_path_factory.mktemp("zero-exports")
    return {
        "zero-int4": _litert_torch_export(zero_model, root / "zero-int4", "int4"),
        "zero-int8": _litert_torch_export(zero_model, root / "zero-int8", "int8"),
        "dense-int4": _litert_torch_export(dense_model, root / "dense-int4", "int4"),
    }


@pytest.fixture(scope="module")
def patched(exports, tmp_path_factory) -> tuple[Path, list]:
    path = tmp_path_factory.mktemp("zero-patched") / "model.litertlm"
    shutil.copy(exports["zero-int4"], path)
    return path, patch_zero_scales(path)


def _weights(litertlm: Path, into: Path) -> dict[int, np.ndarray]:
    tflite = unpack_litertlm(litertlm, into)
    return {s.index: dequantize(tflite, s) for s in read_quantized_tensors(tflite)}


def test_litert_torch_int4_file_cannot_run_as_written(exports, tmp_path):
    """The defect itself: if this starts passing, litert-torch or LiteRT fixed it upstream."""
    spans = find_zero_scales(exports["zero-int4"])
    assert sum(len(s.positions) for s in spans) == ZERO_BLOCKS
    tflite = unpack_litertlm(exports["zero-int4"], tmp_path / "unpacked")
    with pytest.raises(RuntimeError, match="unsupported scale value"):
        TfliteDecoder(tflite).logits([1, 2])


def test_patch_changes_only_the_zero_scales(exports, patched, tmp_path):
    path, spans = patched
    before = np.frombuffer(exports["zero-int4"].read_bytes(), np.uint8)
    after = np.frombuffer(path.read_bytes(), np.uint8)
    assert before.size == after.size
    positions = [p for span in spans for p in span.positions]
    assert len(positions) == ZERO_BLOCKS
    changed = set(np.flatnonzero(before != after).tolist())
    assert changed and changed <= {p + k for p in positions for k in (0, 1)}
    for p in positions:
        assert before[p: p + 2].tobytes() == b"\0\0"
        assert after[p: p + 2].view(np.float16)[0] == SAFE_SCALE
    assert find_zero_scales(path) == []
    assert patch_zero_scales(path) == [] and np.array_equal(np.frombuffer(path.read_bytes(), np.uint8), after)
    # Every weight dequantizes as before: the zero blocks stay exactly zero.
    old, new = _weights(exports["zero-int4"], tmp_path / "old"), _weights(path, tmp_path / "new")
    assert old.keys() == new.keys()
    for index in old:
        assert np.array_equal(old[index], new[index]), index
    embedding = [w for w in new.values() if w.shape == (512, 64)]
    assert embedding and all(not w[list(ZERO_ROWS)].any() and not w[HALF_ZERO_ROW, :32].any() for w in embedding)


def test_patched_file_runs_in_the_interpreter_and_the_engine(patched, tmp_path):
    path, _ = patched
    logits = TfliteDecoder(unpack_litertlm(path, tmp_path / "unpacked")).logits([1, 2, 3, 4])
    assert np.isfinite(logits).all()
    assert not logits[:, list(ZERO_ROWS)].any()  # lm_head's zero rows give logit 0
    engine = EngineRunner(path, CONTEXT)
    try:
        assert isinstance(engine.greedy_text("hello", 8), str)
    finally:
        engine.close()


def test_files_without_zero_blocks_are_left_byte_identical(exports, tmp_path):
    """int4 without zero blocks, and int8 with zero rows (which gets a tiny nonzero scale, accepted)."""
    for name in ("dense-int4", "zero-int8"):
        copy = tmp_path / f"{name}.litertlm"
        shutil.copy(exports[name], copy)
        assert patch_zero_scales(copy) == []
        assert copy.read_bytes() == exports[name].read_bytes(), name
    tflite = unpack_litertlm(exports["zero-int8"], tmp_path / "int8")
    stored = read_quantized_tensors(tflite)
    assert {s.kind for s in stored} == {"int8-channelwise"}
    assert all((s.scales > 0).all() for s in stored)
    assert np.isfinite(TfliteDecoder(tflite).logits([1, 2, 3])).all()


@pytest.mark.parametrize("artifact_format", ["litertlm", "task"])
def test_sdkgen_converts_and_verifies_int4_with_zero_blocks(zero_model, artifact_format, tmp_path, monkeypatch):
    """`sdkgen convert --runtime litert --quant int4`: the artifact runs and passes the full
    verification (runtime fidelity and quantization cost); the .task inherits the patch."""
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(tmp_path / "cache"))
    result = run_cli("convert", "--model", str(zero_model), "--runtime", "litert", "--quant", "int4", "--format", artifact_format,
                     "--context", str(CONTEXT), "-o", str(tmp_path / "out"), "--json")
    assert result.code == 0, result.stderr
    verification = json.loads(result.stdout)["verification"]
    assert verification["passed"] is True, verification
    assert {"fidelity_logits", "fidelity_top1", "fidelity_greedy", "tokenizer_parity"} <= set(verification["checks"])
    assert all(verification["checks"].values()), verification["checks"]
    assert verification["fidelity"]["rms_diff"] <= 1.5 * verification["fidelity"]["rms_rounding_noise"]
    assert verification["cost"]["positions"] > 0
