"""The layer-by-layer PyTorch reference (sdk_gen/layerwise.py) and the memory plan that picks it.

A model whose float32 copy does not fit the machine (8B: 32 GB) is computed one weight-holding
unit at a time with transformers' own modules, all sequences of a question packed into one pass.
It must compute what the whole model computes, for every family sdkgen supports; the
teacher-forced judgement it enables must reach the verdict the autoregressive one reaches; and
the memory plan must choose it, or refuse, from the memory it is told the machine has.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import PUBLISHED_CONFIGS
from sdk_gen.conversion import ConversionJob, ConversionRequest, check_conversion_memory, predicted_conversion_bytes, prepare_job
from sdk_gen.errors import DoesNotFit
from sdk_gen.hashing import sha256_file
from sdk_gen.model import inspect_model
from sdk_gen.runtimes import get_runtime
from sdk_gen.runtimes.llamacpp.convert import intermediate_type
from sdk_gen.runtimes.llamacpp.dequantize import GgufWeights
from sdk_gen.units import GIB, MIB
from sdk_gen.verification_memory import plan_verification_memory
from sdk_gen.verify import LAYERWISE, WHOLE_MODEL, TorchReference, verification_text
from sdk_gen.verify_worker import check_machine_memory
from test_litert import FAMILY_MODELS, tiny_family_model

CONTEXT = 256
# Sequences of unlike lengths, longer than Gemma 2/3's 64-token test window, packed into one pass.
SEQUENCES = ([1, 2, 3, 4, 5, 6, 7], list(range(10, 90)), [5, 5, 5], list(range(100, 180)))
# What float32 noise allows between two orders of the same sums (packed vs one sequence at a time).
FLOAT32_NOISE = 1e-5


def _model(family: str, demo_model: Path, tmp_path_factory) -> Path:
    if family == "phi":
        return demo_model  # the demo is Phi-2's architecture
    return tiny_family_model(family, demo_model, tmp_path_factory.mktemp(family) / family)


def _assert_equal_within_noise(expected: list[np.ndarray], got: list[np.ndarray]) -> None:
    assert [e.shape for e in expected] == [g.shape for g in got]
    scale = max(1.0, max(float(np.abs(e).max()) for e in expected))
    worst = max(float(np.abs(e - g).max()) for e, g in zip(expected, got))
    assert worst <= FLOAT32_NOISE * scale, worst


@pytest.mark.parametrize("family", ["phi", *sorted(FAMILY_MODELS)])
@pytest.mark.parametrize("weights", ["original", "fp16-weights"])
def test_layer_by_layer_logits_equal_the_whole_model(family, weights, demo_model, tmp_path_factory):
    model_dir = _model(family, demo_model, tmp_path_factory)
    whole = TorchReference(model_dir, weights).logits_batch(SEQUENCES)
    layerwise = TorchReference(model_dir, weights, mode=LAYERWISE)
    _assert_equal_within_noise(whole, layerwise.logits_batch(SEQUENCES))
    assert layerwise._model is None  # the whole model was never loaded


@pytest.fixture(scope="module")
def gguf_files(demo_model, tmp_path_factory) -> dict:
    """The demo (Phi) in q8_0 and q4_k_m, and a tiny Llama (q/k rows permuted in the file) in q8_0."""
    work = tmp_path_factory.mktemp("layerwise-gguf")
    llama = tiny_family_model("llama", demo_model, work / "llama")
    files = {}
    for name, model, quant, pre in (("phi-q8_0", demo_model, "q8_0", None), ("phi-q4_k_m", demo_model, "q4_k_m", None),
                                    ("llama-q8_0", llama, "q8_0", "gpt-2")):
        job = prepare_job(ConversionRequest(model=str(model), runtime="llamacpp", quant=quant, context=CONTEXT,
                                            pre_tokenizer=pre, cache_dir=work / "cache")).job
        files[name] = (model, job.runtime.convert(job, work, work / f"{name}.log"))
    return files


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(values))))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["phi-q8_0", "phi-q4_k_m", "llama-q8_0"])
def test_layer_by_layer_runs_the_artifacts_weights_and_rounding_as_the_whole_model(name, gguf_files):
    """The GGUF's dequantized tensors, one at a time, give the whole model's logits; ggml's
    activation rounding (hooks by module name, which stay while tensors come and go) gives the
    same rounding noise. Rounded runs are not equal element for element: float32 noise moves a
    few values across an 8-bit rounding boundary, each a whole step (activations.py), so their
    difference is held to a tenth of the rounding noise the fidelity tolerance is built from."""
    model_dir, gguf = gguf_files[name]
    ids = TorchReference(model_dir).encode(verification_text())[:96]
    sequences = [*SEQUENCES[:2], ids]
    rows = {}
    for mode in (WHOLE_MODEL, LAYERWISE):
        for rounded in (False, True):
            reference = TorchReference(model_dir, "artifact", artifact=GgufWeights(gguf, sha256_file(gguf)), mode=mode)
            rows[mode, rounded] = reference.logits_batch(sequences, rounded=rounded)
    _assert_equal_within_noise(rows[WHOLE_MODEL, False], rows[LAYERWISE, False])
    whole_noise = np.concatenate(rows[WHOLE_MODEL, True]) - np.concatenate(rows[WHOLE_MODEL, False])
    layerwise_noise = np.concatenate(rows[LAYERWISE, True]) - np.concatenate(rows[LAYERWISE, False])
    assert _rms(whole_noise) > 1e-3  # the rounding is on in both
    assert _rms(np.concatenate(rows[WHOLE_MODEL, True]) - np.concatenate(rows[LAYERWISE, True])) < 0.1 * _rms(whole_noise)
    assert _rms(layerwise_noise) == pytest.approx(_rms(whole_noise), rel=0.1)


@pytest.mark.slow
def test_teacher_forced_judgement_agrees_with_the_autoregressive_one(gguf_files):
    """On the demo in q8_0 (random weights: greedy runs part at near-ties), PyTorch decoding on
    its own beside llama.cpp and PyTorch judging llama.cpp's tokens in one layer-by-layer pass
    reach the same verdict with the same figures."""
    from sdk_gen.runtimes.llamacpp.checks import AUTOREGRESSIVE, TEACHER_FORCED, verify_artifact

    model_dir, gguf = gguf_files["phi-q8_0"]
    job = prepare_job(ConversionRequest(model=str(model_dir), runtime="llamacpp", quant="q8_0", context=CONTEXT)).job
    autoregressive = verify_artifact(job, gguf, WHOLE_MODEL, AUTOREGRESSIVE)
    forced = verify_artifact(job, gguf, LAYERWISE, TEACHER_FORCED)
    assert autoregressive.passed and forced.passed, (autoregressive.failure_summary(), forced.failure_summary())
    assert forced.checks == autoregressive.checks
    assert [p.matched for p in forced.prompts] == [p.matched for p in autoregressive.prompts]
    assert [p.first_divergence for p in forced.prompts] == [p.first_divergence for p in autoregressive.prompts]
    a, f = autoregressive.fidelity, forced.fidelity
    assert f.greedy_divergences == a.greedy_divergences and f.greedy_divergences_at_ties == a.greedy_divergences_at_ties
    assert f.positions == a.positions or abs(f.positions - a.positions) <= 4 * 32  # runs may stop at other lengths
    for figure in ("max_abs_diff", "rounding_noise", "tolerance", "rms_diff", "rms_rounding_noise"):
        assert getattr(f, figure) == pytest.approx(getattr(a, figure), rel=0.1), figure
    # Teacher forcing judges every generated position; every disagreement is a near-tie.
    assert f.forced_positions == forced.steps > 0 and a.forced_positions == 0
    assert f.forced_disagreements == f.forced_disagreements_at_ties >= f.greedy_divergences
    # The quantization cost asks the same positions of the same weights.
    assert forced.cost.mean_kl == pytest.approx(autoregressive.cost.mean_kl, rel=1e-3)
    assert forced.cost.top1_agreement == autoregressive.cost.top1_agreement
    assert forced.cost.perplexity_ratio == pytest.approx(autoregressive.cost.perplexity_ratio, rel=1e-5)


def _job(model: Path, runtime: str, quant: str, artifact_format: str, context: int = 2048) -> ConversionJob:
    spec = inspect_model(str(model))
    backend = get_runtime(runtime)
    return ConversionJob(model_dir=model, spec=spec, runtime=backend, quant=backend.quant(quant), context=context,
                         artifact_format=artifact_format, backend="cpu", threads=2, name=None, platform=None)


def test_the_memory_plan_chooses_the_layer_by_layer_reference_when_the_whole_model_does_not_fit(demo_model):
    demo = _job(demo_model, "llamacpp", "q8_0", "gguf", context=CONTEXT)
    assert plan_verification_memory(demo, 2 * MIB, available=8 * GIB).mode == WHOLE_MODEL  # the whole model when it fits

    # Llama 3.2 1B's published shape: the whole model where the machine has room, else one layer at a time.
    small = _job(PUBLISHED_CONFIGS / "llama-3.2-1b-instruct", "llamacpp", "q8_0", "gguf")
    roomy = plan_verification_memory(small, int(1.2 * GIB), available=64 * GIB)
    assert roomy.mode == WHOLE_MODEL and roomy.peak(LAYERWISE) < roomy.peak(WHOLE_MODEL)
    between = (roomy.peak(WHOLE_MODEL) + roomy.peak(LAYERWISE)) // 2
    assert plan_verification_memory(small, int(1.2 * GIB), available=between).mode == LAYERWISE

    # Mistral 7B's published shape on this project's 24 GiB machine: the whole float32 reference
    # (~34 GiB) cannot fit, one layer at a time fits within 16 GiB beside nothing else.
    mistral = _job(PUBLISHED_CONFIGS / "mistral-7b-v0.1", "llamacpp", "q8_0", "gguf")
    plan = plan_verification_memory(mistral, int(7.2 * GIB), available=22 * GIB)
    assert plan.peak(WHOLE_MODEL) > 30 * GIB and plan.mode == LAYERWISE and plan.peak(LAYERWISE) < 16 * GIB
    assert plan.refusal("llama.cpp", mistral.spec.num_params) is None


def test_a_verification_no_reference_fits_is_refused_with_the_figure_and_the_way_out():
    mistral = _job(PUBLISHED_CONFIGS / "mistral-7b-v0.1", "llamacpp", "q8_0", "gguf")
    with pytest.raises(DoesNotFit) as refused:
        check_machine_memory(mistral, int(7.2 * GIB), available=4 * GIB)
    line = str(refused.value)
    plan = plan_verification_memory(mistral, int(7.2 * GIB), available=4 * GIB)
    assert plan.mode is None
    assert f"needs about {plan.smallest_peak / GIB:.1f} GiB" in line and "4.0 GiB available" in line
    assert "one layer at a time" in line and "--no-verify" in line and "\n" not in line
    # LiteRT's float checks decode with the whole model beside the runtime: no layer-by-layer way;
    # its int8/int4 checks run PyTorch on the file's own weights, which can go one layer at a time.
    litert = _job(PUBLISHED_CONFIGS / "mistral-7b-v0.1", "litert", "f16", "litertlm")
    assert list(plan_verification_memory(litert, int(14.4 * GIB), available=22 * GIB).references) == [WHOLE_MODEL]
    with pytest.raises(DoesNotFit, match="whole float32 model"):
        check_machine_memory(litert, int(14.4 * GIB), available=22 * GIB)
    litert_int8 = _job(PUBLISHED_CONFIGS / "mistral-7b-v0.1", "litert", "int8", "litertlm")
    assert plan_verification_memory(litert_int8, int(7.2 * GIB), available=22 * GIB).mode == LAYERWISE


def test_a_conversion_predicted_not_to_fit_is_refused_before_it_starts():
    mistral = _job(PUBLISHED_CONFIGS / "mistral-7b-v0.1", "llamacpp", "q8_0", "gguf")
    needed = predicted_conversion_bytes(mistral)
    assert 1 * GIB < needed < 6 * GIB  # llama.cpp's converter streams: the largest tensor, not the model
    check_conversion_memory(mistral, available=needed + 1)
    with pytest.raises(DoesNotFit) as refused:
        check_conversion_memory(mistral, available=needed - 1)
    line = str(refused.value)
    assert "converting with llama.cpp needs about" in line and "largest tensor" in line and "more memory" in line
    # LiteRT's export holds the model: the way out names the streaming converter.
    litert = _job(PUBLISHED_CONFIGS / "mistral-7b-v0.1", "litert", "int8", "litertlm")
    with pytest.raises(DoesNotFit, match="--runtime llamacpp"):
        check_conversion_memory(litert, available=22 * GIB)


def test_4_bit_formats_quantize_from_the_checkpoints_own_float_type():
    assert intermediate_type("bfloat16") == "bf16" and intermediate_type("float16") == "f16"
    assert intermediate_type("float32") == "f32"


@pytest.mark.slow
def test_a_bf16_checkpoint_is_quantized_without_an_f32_intermediate(demo_model, tmp_path):
    """The q4_k_m of a bf16 checkpoint, made through a bf16 GGUF, is the one made through f32."""
    import json
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    bf16 = tmp_path / "bf16"
    shutil.copytree(demo_model, bf16)
    weights = load_file(bf16 / "model.safetensors")
    save_file({k: v.to(torch.bfloat16) for k, v in weights.items()}, bf16 / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((bf16 / "config.json").read_text())
    (bf16 / "config.json").write_text(json.dumps({**config, "dtype": "bfloat16"}))
    job = prepare_job(ConversionRequest(model=str(bf16), runtime="llamacpp", quant="q4_k_m", context=CONTEXT,
                                        cache_dir=tmp_path / "cache")).job
    assert job.spec.dtype == "bfloat16"
    direct = job.runtime.convert(job, tmp_path, tmp_path / "direct.log")
    assert not list(tmp_path.glob("*.bf16.gguf")) and not list(tmp_path.glob("*.f32.gguf"))
    through_f32 = tmp_path / "f32"
    through_f32.mkdir()
    via_f32 = job.runtime.convert(replace(job, spec=replace(job.spec, dtype="float32")), through_f32, tmp_path / "f32.log")
    assert sha256_file(direct) == sha256_file(via_f32)
