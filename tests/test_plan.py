"""`plan`: budget figures checked against hand arithmetic, auto choices, and refusals that help."""

from __future__ import annotations

import json
import re

import pytest

from conftest import PUBLISHED_CONFIGS, run_cli, tree_snapshot
from sdk_gen.budget import SAFETY_MARGIN, compute_budget, working_bytes
from sdk_gen.model import inspect_model
from sdk_gen.planner import PlanRequest, make_plan
from sdk_gen.profiles import load_profile
from sdk_gen.runtimes import get_runtime
from sdk_gen.units import GIB, MIB

PHI2 = str(PUBLISHED_CONFIGS / "phi-2")

# Phi-2's parameters by role, worked out by hand from its config (see test_inspect for totals).
PHI2_EMBEDDING = 51200 * 2560  # also the size of the separate lm_head
PHI2_LINEAR = 32 * (4 * 2560 * 2560 + 2 * 2560 * 10240)
PHI2_NORMS_BIASES = 2_779_683_840 - 2 * PHI2_EMBEDDING - PHI2_LINEAR


def test_phi2_parameter_roles_add_up():
    spec = inspect_model(PHI2)
    assert spec.params.linear == PHI2_LINEAR == 2_516_582_400
    assert spec.params.other == PHI2_NORMS_BIASES == 957_440


@pytest.mark.parametrize(
    "runtime, quant, expected",
    [
        # ggml Q4_0: 4.5 bits everywhere except the output matrix, kept at Q6_K (6.5625 bits).
        ("llamacpp", "q4_0", (PHI2_EMBEDDING * 4.5 + PHI2_EMBEDDING * 6.5625 + PHI2_LINEAR * 4.5 + PHI2_NORMS_BIASES * 32) / 8),
        ("llamacpp", "q8_0", ((2 * PHI2_EMBEDDING + PHI2_LINEAR) * 8.5 + PHI2_NORMS_BIASES * 32) / 8),
        ("llamacpp", "f16", ((2 * PHI2_EMBEDDING + PHI2_LINEAR) * 16 + PHI2_NORMS_BIASES * 32) / 8),
        # LiteRT int4 blockwise-32 with fp16 scales: 4.5 bits for every matrix, float32 norms.
        ("litert", "int4", ((2 * PHI2_EMBEDDING + PHI2_LINEAR) * 4.5 + PHI2_NORMS_BIASES * 32) / 8),
        # MLC q4f16_1: int4 groups of 32 with an fp16 scale; norms in fp16.
        ("mlc", "q4f16_1", ((2 * PHI2_EMBEDDING + PHI2_LINEAR) * 4.5 + PHI2_NORMS_BIASES * 16) / 8),
    ],
)
def test_phi2_weight_bytes_by_hand(runtime, quant, expected):
    spec = inspect_model(PHI2)
    assert get_runtime(runtime).quant(quant).weight_bytes(spec) == pytest.approx(expected, abs=1)


@pytest.mark.parametrize("runtime, quant", [("litert", "int4"), ("llamacpp", "q4_0"), ("llamacpp", "q4_k_m"), ("mlc", "q4f16_1")])
def test_phi2_four_bit_lands_on_the_published_artifacts(runtime, quant):
    # Published Phi-2 4-bit files: MediaPipe int4 1.40 GB, GGUF Q4_0 1.60 GB, Q4_K_M 1.79 GB, MLC q4f16_1 ~1.56 GB.
    spec = inspect_model(PHI2)
    weights = get_runtime(runtime).quant(quant).weight_bytes(spec)
    assert 1.4e9 <= weights <= 1.8e9
    assert weights > spec.num_params * 0.5  # not params x 4 bits alone: scales and the output matrix cost more


def test_kv_cache_by_hand():
    pixel8 = load_profile("pixel8")
    llama = get_runtime("llamacpp")
    q = llama.quant("q4_0")
    phi2 = compute_budget(inspect_model(PHI2), llama, q, 2048, "cpu", pixel8, False)
    assert phi2.kv_cache_bytes == 32 * 2 * 32 * 80 * 2048 * 2 == 640 * MIB
    llama1b = compute_budget(inspect_model(PUBLISHED_CONFIGS / "llama-3.2-1b-instruct"), llama, q, 2048, "cpu", pixel8, False)
    assert llama1b.kv_cache_bytes == 16 * 2 * 8 * 64 * 2048 * 2 == 64 * MIB
    # Gemma 3: 22 of 26 layers slide over 512 tokens, so their cache stops growing there.
    gemma3 = compute_budget(inspect_model(PUBLISHED_CONFIGS / "gemma-3-1b-it"), llama, q, 2048, "cpu", pixel8, False)
    assert gemma3.kv_cache_bytes == 2 * 1 * 256 * (4 * 2048 + 22 * 512) * 2
    # LiteRT's exported cache is float32 on the CPU: twice llama.cpp's.
    litert = get_runtime("litert")
    phi2_litert = compute_budget(inspect_model(PHI2), litert, litert.quant("int4"), 2048, "cpu", pixel8, False)
    assert phi2_litert.kv_cache_bytes == 2 * phi2.kv_cache_bytes


def test_working_memory_by_hand():
    spec = inspect_model(PHI2)
    chunk, hidden, inter, qkv = 512, 2560, 10240, 3 * 2560
    expected = 4 * chunk * hidden * 4 + chunk * (inter + qkv) * 4 + chunk * 2048 * 32 * 4 + 51200 * 4
    assert working_bytes(spec, get_runtime("llamacpp"), 2048, "cpu") == expected


def test_total_and_fit_rule():
    spec = inspect_model(PHI2)
    llama = get_runtime("llamacpp")
    budget = compute_budget(spec, llama, llama.quant("q4_k_m"), 2048, "cpu", load_profile("pixel8"), False)
    assert budget.total_bytes == budget.weights_bytes + budget.kv_cache_bytes + budget.working_bytes + budget.overhead_bytes
    assert budget.load_copy_bytes == 0  # llama.cpp's repacked formats load without mmap: one copy
    assert budget.budget_bytes == 4 * GIB
    assert budget.fits == (budget.total_bytes <= 4 * GIB * (1 - SAFETY_MARGIN))


def test_litert_cpu_budget_counts_what_xnnpack_makes_of_the_weights():
    # Measured by bench/figures.py: on the CPU, LiteRT computes an f16 model in float32 and keeps
    # the unpacked copy beside the mapped file (3x the file in all); quantized formats are repacked.
    spec = inspect_model(PHI2)
    litert = get_runtime("litert")
    pixel8 = load_profile("pixel8")

    def budget(quant, backend):
        return compute_budget(spec, litert, litert.quant(quant), 1024, backend, pixel8, False)

    f16_cpu = budget("f16", "cpu")
    assert f16_cpu.load_copy_bytes == 2 * f16_cpu.weights_bytes
    assert f16_cpu.total_bytes - budget("f16", "gpu").total_bytes > 2 * f16_cpu.weights_bytes
    int4 = budget("int4", "cpu")
    assert 0.15 * int4.weights_bytes < int4.load_copy_bytes < 0.3 * int4.weights_bytes
    assert budget("int8", "gpu").load_copy_bytes == 0
    # The real artifact size carries its copy with it.
    assert f16_cpu.with_artifact_size(1000).load_copy_bytes == 2000
    # Phi-2 in f16 (5.6 GB file, ~17 GB resident on the CPU) cannot fit; auto stays quantized.
    assert not f16_cpu.fits
    assert make_plan(spec, pixel8, PlanRequest(runtime="litert")).plan.quant.name in ("int8", "int4")


def test_plan_json_contract(demo_model):
    result = run_cli("plan", "--model", str(demo_model), "--profile", "pixel8", "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {"model", "profile", "plan", "budget"}
    assert set(data["plan"]) >= {"runtime", "quant", "context", "backend"}
    assert set(data["budget"]) >= {
        "weights_bytes", "kv_cache_bytes", "working_bytes", "overhead_bytes", "total_bytes", "budget_bytes", "fits",
    }
    budget = data["budget"]
    parts = ("weights_bytes", "load_copy_bytes", "kv_cache_bytes", "working_bytes", "overhead_bytes")
    assert budget["total_bytes"] == sum(budget[k] for k in parts)
    assert budget["fits"] is True and data["profile"]["id"] == "pixel8"


def test_plan_table_shows_the_budget(demo_model):
    result = run_cli("plan", "--model", str(demo_model), "--profile", "iphone15pro")
    assert result.code == 0, result.stderr
    for label in ("weights", "KV cache", "working memory", "runtime overhead", "total", "device budget", "headroom", "fits"):
        assert label in result.stdout


def test_auto_picks_the_best_quality_that_fits():
    spec = inspect_model(PHI2)
    # 12 GB Android: room for 8-bit weights at the full 2048 context.
    roomy = make_plan(spec, load_profile("oneplus12"))
    assert roomy.plan.quant.name in ("q8_0", "int8") and roomy.plan.context == 2048
    # 8 GB Android: 8-bit does not fit at 2048 tokens, so a 4-bit format is chosen.
    tight = make_plan(spec, load_profile("pixel8"))
    assert tight.plan.quant.name in ("q4_k_m", "int4", "q4_0") and tight.budget.fits
    # f32 is never chosen automatically even when it would fit.
    tiny = make_plan(inspect_model(PUBLISHED_CONFIGS / "qwen2.5-0.5b-instruct"), load_profile("oneplus12"))
    assert tiny.plan.quant.name != "f32"


def test_auto_never_picks_mlc():
    for profile in ("pixel8", "iphone15pro", "oneplus12"):
        assert make_plan(inspect_model(PHI2), load_profile(profile)).plan.runtime.key != "mlc"


def test_ios_uses_the_entitlement_only_when_needed(demo_model):
    small = make_plan(inspect_model(demo_model), load_profile("iphone15pro"))
    assert small.plan.memory_entitlement is False and small.budget.budget_source == "app_memory"
    big = make_plan(inspect_model(PHI2), load_profile("iphone15pro"))
    assert big.plan.memory_entitlement is True and big.budget.budget_source == "app_memory_entitled"
    assert big.budget.total_bytes > load_profile("iphone15pro").app_memory_bytes * (1 - SAFETY_MARGIN)


def _suggested_flags(line: str) -> list[str]:
    match = re.search(r"cheapest change that fits: (--[a-z-]+ \S+)", line)
    assert match, line
    return match.group(1).split()


def _replace(args: list[str], flag: str, value: str) -> list[str]:
    out = list(args)
    if flag in out:
        out[out.index(flag) + 1] = value
    else:
        out += [flag, value]
    return out


@pytest.mark.parametrize(
    "profile, extra",
    [
        ("pixel8", ["--runtime", "llamacpp", "--quant", "q8_0", "--context", "2048"]),  # -> shorter context
        ("pixel8", ["--runtime", "litert", "--quant", "f16", "--context", "2048"]),  # -> lower quant
        ("iphone13", ["--runtime", "llamacpp", "--quant", "q4_0", "--context", "2048"]),
    ],
)
def test_explicit_request_that_cannot_fit_names_a_change_that_does(profile, extra):
    args = ["plan", "--model", PHI2, "--profile", profile, *extra]
    refused = run_cli(*args)
    assert refused.code == 3, refused.stdout
    assert len(refused.stderr_lines) == 1
    line = refused.stderr_lines[0]
    assert "needs" in line and "allows" in line
    flag, value = _suggested_flags(line)
    fixed = run_cli(*_replace(args, flag, value), "--json")
    assert fixed.code == 0, fixed.stderr
    assert json.loads(fixed.stdout)["budget"]["fits"] is True


def test_entitlement_is_named_when_it_is_the_way_out():
    args = ["plan", "--model", PHI2, "--profile", "iphone15pro", "--quant", "int4", "--context", "2048"]
    refused = run_cli(*args, "--no-memory-entitlement")
    assert refused.code == 3
    assert "increased-memory-limit entitlement" in refused.stderr_lines[0]
    allowed = run_cli(*args, "--json")
    assert allowed.code == 0
    assert json.loads(allowed.stdout)["plan"]["memory_entitlement"] is True


def test_model_too_big_for_the_device_says_where_it_fits():
    result = run_cli("plan", "--model", str(PUBLISHED_CONFIGS / "mistral-7b-v0.1"), "--profile", "android-4gb")
    assert result.code == 3 and len(result.stderr_lines) == 1
    assert "smallest plan" in result.stderr and "smaller model" in result.stderr


# --- bad flags: one line, exit 2, nothing written ---------------------------------------------


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--context", "-5"], "positive"),
        (["--context", "0"], "positive"),
        (["--context", "100000000000"], "exceeds"),
        (["--context", "4096"], "maximum of 2048"),
        (["--context", "many"], "not a valid integer"),
        (["--quant", "q4_k_m", "--runtime", "litert"], "unknown --quant 'q4_k_m' for LiteRT-LM"),
        (["--quant", "int3"], "unknown --quant 'int3'"),
        (["--runtime", "onnx"], "unknown runtime 'onnx'"),
        (["--backend", "npu"], "Invalid value for '--backend'"),
    ],
)
def test_bad_flags(tmp_path, demo_model, extra, fragment):
    before = tree_snapshot(tmp_path)
    result = run_cli("plan", "--model", str(demo_model), "--profile", "pixel8", *extra, cwd=tmp_path)
    assert result.code == 2, result.stdout
    assert len(result.stderr_lines) == 1 and fragment in result.stderr
    assert tree_snapshot(tmp_path) == before


def test_k_quants_refused_for_narrow_models():
    # Qwen2.5-0.5B's hidden size (896) does not split into 256-wide K-quant super-blocks.
    result = run_cli("plan", "--model", str(PUBLISHED_CONFIGS / "qwen2.5-0.5b-instruct"), "--profile", "pixel8",
                     "--runtime", "llamacpp", "--quant", "q4_k_m")
    assert result.code == 2 and "multiple of 256" in result.stderr and "q4_0" in result.stderr
