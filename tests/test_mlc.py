"""MLC LLM: the commands sdkgen runs, the files it writes for `mlc_llm package`, the generated
mlc4j / MLCSwift projects, and, when mlc_llm is installed, the whole path on the demo model.

MLC's wheels are not on PyPI, so on machines without them the projects are rendered around a
bundle packed by sdkgen's own packer from files laid out as MLC writes them (`mlc_stand_in`);
the integration test at the end runs the real toolchain and is skipped, with the reason, here.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import jsonschema
import pytest
import yaml

import android_toolchain as tc
from conftest import REPO, run_cli, tree_snapshot
from sdk_gen.cache import CachedArtifact
from sdk_gen.chat import ChatFormat, chat_format_for_model
from sdk_gen.conversion import ConversionJob, ConversionResult
from sdk_gen.hashing import sha256_file
from sdk_gen.model import inspect_model
from sdk_gen.planner import PlanRequest, make_plan
from sdk_gen.formats.base import ProjectOptions
from sdk_gen.profiles import load_profile
from sdk_gen.project import render_project
from sdk_gen.runtimes import get_runtime
from sdk_gen.runtimes.mlc import read_bundle_meta
from sdk_gen.runtimes.mlc.convert import BUNDLE_META, pack_bundle
from sdk_gen.runtimes.mlc.steps import (
    MlcBuild,
    conv_template_for,
    function_memory_mb,
    kv_bytes_per_token,
    model_id,
    model_lib_prefix,
    package_config,
    params_bytes,
)
from sdk_gen.runtimes.mlc.toolchain import mlc_importable, source_ref
from sdk_gen.units import MIB

PACKAGE = "com.example.demo"
SCHEMA = json.loads((REPO / "tests/schemas/xcodegen-project.schema.json").read_text())

needs_mlc = pytest.mark.skipif(
    not mlc_importable(),
    reason="mlc_llm is not installed (MLC's wheels are not on PyPI: pip install --pre -f https://mlc.ai/wheels "
    "mlc-llm-nightly-cpu mlc-ai-nightly-cpu)",
)


# --- without mlc_llm ---------------------------------------------------------------------


@pytest.mark.skipif(mlc_importable(), reason="mlc_llm is installed here")
@pytest.mark.parametrize(
    "command",
    [
        ["convert", "--runtime", "mlc", "--profile", "pixel8"],
        ["android", "--runtime", "mlc", "--profile", "pixel8", "--package", PACKAGE],
        ["ios", "--runtime", "mlc", "--profile", "iphone15pro"],
    ],
)
def test_without_mlc_llm_every_command_stops_at_once(demo_model, tmp_path, command):
    before = tree_snapshot(tmp_path)
    result = run_cli(*command, "--model", str(demo_model), "-o", str(tmp_path / "out"))
    assert result.code == 4, result.stderr
    assert len(result.stderr_lines) == 1
    assert "MLC LLM is not installed" in result.stderr and "https://mlc.ai/wheels" in result.stderr
    assert tree_snapshot(tmp_path) == before


@pytest.mark.parametrize("profile", ["pixel8", "galaxy-s24", "iphone15pro", "ipad-pro-m4"])
def test_auto_never_picks_mlc(demo_model, profile):
    result = run_cli("plan", "--model", str(demo_model), "--profile", profile, "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["plan"]["runtime"] != "mlc"


def test_plan_with_mlc_works_without_it(demo_model):
    # Planning needs no toolchain: the budget is sdkgen's estimate until a library is compiled.
    result = run_cli("plan", "--model", str(demo_model), "--profile", "pixel8", "--runtime", "mlc", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["plan"]["runtime"] == "mlc" and report["plan"]["backend"] == "gpu"
    assert report["budget"]["working_source"] == "predicted"


def test_doctor_reports_mlc_and_what_phone_builds_need():
    result = run_cli("doctor", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    runtimes = {r["runtime"]: r for r in report["runtimes"]}
    assert runtimes["litert"]["ready"] and runtimes["llamacpp"]["ready"]
    assert runtimes["mlc"]["ready"] is mlc_importable()
    needs = {(r["platform"], r["name"]) for r in report["mlc"]["requirements"]}
    assert ("android", "Android NDK (ANDROID_NDK)") in needs
    assert ("android", "Rust target aarch64-linux-android") in needs
    assert ("ios", "Xcode") in needs
    for requirement in report["mlc"]["requirements"]:
        assert requirement["ok"] or requirement["how"], requirement
    tables = run_cli("doctor")
    assert tables.code == 0 and "MLC LLM phone builds" in tables.stdout


# --- the contract with MLC's CLI ---------------------------------------------------------

# The options of each `mlc_llm` subcommand sdkgen uses (python/mlc_llm/cli/*.py): positional
# argument, required options, and the other options it accepts.
MLC_CLI = {
    "gen_config": ("config", {"--quantization", "--conv-template", "--output"},
                   {"--model-type", "--context-window-size", "--sliding-window-size", "--prefill-chunk-size",
                    "--attention-sink-size", "--tensor-parallel-shards", "--pipeline-parallel-stages", "--max-batch-size"}),
    "convert_weight": ("config", {"--quantization", "--output"}, {"--model-type", "--device", "--source", "--source-format"}),
    "compile": ("model", {"--output"}, {"--quantization", "--model-type", "--device", "--host", "--opt",
                                        "--system-lib-prefix", "--overrides"}),
}


def _parse_like_mlc(subcommand: str, argv: list[str]) -> argparse.Namespace:
    positional, required, optional = MLC_CLI[subcommand]
    parser = argparse.ArgumentParser(prog=f"mlc_llm {subcommand}", exit_on_error=False)
    parser.add_argument(positional)
    for option in sorted(required | optional):
        aliases = [option, "-o"] if option == "--output" else [option]
        parser.add_argument(*aliases, required=option in required)
    return parser.parse_args(argv)


@pytest.mark.parametrize("platform, device", [("android", "android"), ("ios", "iphone")])
def test_commands_follow_mlc_cli(tmp_path, platform, device):
    build = MlcBuild(model_dir=Path("/models/demo"), quant="q4f16_1", conv_template="chatml_nosystem", context=2048,
                     prefill_chunk=128, platform=platform, prefix="demo_q4f16_1", model_id="demo-q4f16_1-MLC")
    steps = build.steps(tmp_path, python="python3")
    assert [s.name for s in steps] == ["gen_config", "convert_weight", "compile"]
    parsed = {}
    for step in steps:
        assert step.argv[:4] == ("python3", "-m", "mlc_llm", step.name)
        parsed[step.name] = _parse_like_mlc(step.name, list(step.argv[4:]))
    weights = tmp_path / "demo-q4f16_1-MLC"
    assert parsed["gen_config"].config == "/models/demo" and parsed["gen_config"].output == str(weights)
    assert parsed["gen_config"].conv_template == "chatml_nosystem"
    assert parsed["gen_config"].context_window_size == "2048" and parsed["gen_config"].prefill_chunk_size == "128"
    assert parsed["convert_weight"].output == str(weights) and parsed["convert_weight"].device == "cpu"
    assert parsed["gen_config"].quantization == parsed["convert_weight"].quantization == "q4f16_1"
    assert parsed["compile"].model == str(weights / "mlc-chat-config.json")
    # MLC's jit, `package`'s symbol check and the phone runtime all expect model_lib + "_".
    assert parsed["compile"].device == device and parsed["compile"].system_lib_prefix == "demo_q4f16_1_"
    assert parsed["compile"].output == str(tmp_path / "lib" / f"demo_q4f16_1-{device}.tar")


@pytest.mark.parametrize(
    "family, chat, expected",
    [
        ("phi", ChatFormat(), "phi-2"),  # phi-2 has no chat template: MLC's phi-2 turns
        ("phi", ChatFormat("<|im_start|>user\n", "<|im_end|>\n", "<|im_start|>assistant\n", True), "chatml_nosystem"),
        ("qwen2", ChatFormat("<|im_start|>user\n", "<|im_end|>\n", "<|im_start|>assistant\n", True), "qwen2"),
        ("llama", ChatFormat("<|start_header_id|>user<|end_header_id|>\n\n", "<|eot_id|>", "", True), "llama-3"),
        ("llama", ChatFormat("<|user|>\n", "</s>\n", "<|assistant|>\n", True), "tinyllama_v1_0"),
        ("phi3", ChatFormat("<|user|>\n", "<|end|>\n", "<|assistant|>\n", True), "phi-3"),
        ("gemma2", ChatFormat("<start_of_turn>user\n", "<end_of_turn>\n", "<start_of_turn>model\n", True), "gemma_instruction"),
        ("gemma3", ChatFormat("<start_of_turn>user\n", "<end_of_turn>\n", "<start_of_turn>model\n", True), "gemma3_instruction"),
        ("mistral", ChatFormat("[INST] ", " [/INST]", "", True), "mistral_default"),
    ],
)
def test_conversation_template_follows_the_model_s_own_format(family, chat, expected):
    assert conv_template_for(family, chat) == expected


def test_demo_model_gets_chatml(demo_model):
    assert conv_template_for("phi", chat_format_for_model(demo_model)) == "chatml_nosystem"


def test_names_are_what_mlc_accepts():
    assert model_lib_prefix("my-phi2.finetune", "q4f16_1") == "my_phi2_finetune_q4f16_1"
    assert model_lib_prefix("2b", "q0f16") == "m_2b_q0f16"
    assert model_id("my phi2", "q4f16_1") == "my-phi2-q4f16_1-MLC"


def test_source_ref_pins_the_runtime_to_the_compiler():
    assert source_ref("0.20.dev78+g1a2b3c4") == "1a2b3c4"
    assert source_ref("0.19.0") == "v0.19.0"
    assert source_ref("0.1.dev0") is None


def test_memory_figures_from_mlc_logs_and_weight_index(tmp_path):
    log = (
        "[2026-11-23 10:00:00] INFO estimate_memory_usage.py:58: [Memory usage] Function `batch_prefill`: 45.25 MB\n"
        "[2026-11-23 10:00:00] INFO estimate_memory_usage.py:58: [Memory usage] Function `decode`: 1.50 MB\n"
        "[2026-11-23 10:00:00] INFO estimate_memory_usage.py:58: [Memory usage] Function `prefill`: 44.00 MB\n"
    )
    assert function_memory_mb(log) == {"batch_prefill": 45.25, "decode": 1.5, "prefill": 44.0}
    (tmp_path / "tensor-cache.json").write_text(json.dumps({"records": [{"nbytes": 1000}, {"nbytes": 234}]}))
    assert params_bytes(tmp_path) == 1234
    # Phi-2: MLC's own figure, 320 KiB of KV per token in fp16 (REFERENCE: worked example).
    assert kv_bytes_per_token(head_dim=80, num_layers=32, num_kv_heads=32, quant="q4f16_1") == 320 * 1024


# --- a bundle as MLC's tools leave it -----------------------------------------------------


def mlc_stand_in(folder: Path, build: MlcBuild) -> tuple[Path, Path]:
    """Files laid out as `mlc_llm gen_config`/`convert_weight`/`compile` write them (see MLC's docs),
    for rendering the projects on machines without mlc_llm. Not a converter: nothing here runs."""
    weights = folder / build.model_id
    weights.mkdir(parents=True)
    shard = bytes(range(256)) * 64
    (weights / "params_shard_0.bin").write_bytes(shard)
    (weights / "tensor-cache.json").write_text(json.dumps({
        "metadata": {"ParamSize": 1, "ParamBytes": len(shard)},
        "records": [{"dataPath": "params_shard_0.bin", "format": "raw-shard", "nbytes": len(shard), "records": []}],
    }))
    (weights / "mlc-chat-config.json").write_text(json.dumps({
        "model_type": "phi", "quantization": build.quant, "context_window_size": build.context,
        "prefill_chunk_size": build.prefill_chunk, "conv_template": {"name": build.conv_template},
    }))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (weights / name).write_text("{}")
    library = folder / "lib" / build.lib_name
    library.parent.mkdir()
    with tarfile.open(library, "w") as archive:
        member = folder / "lib0.o"
        member.write_bytes(b"\x7fELF stand-in object")
        archive.add(member, "lib0.o", filter=lambda info: (setattr(info, "mtime", 0), info)[1])
    return weights, library


def mlc_result(demo_model: Path, platform: str, work: Path) -> ConversionResult:
    """A ConversionResult around a bundle packed by sdkgen's real packer (convert.pack_bundle)."""
    runtime = get_runtime("mlc")
    spec = inspect_model(str(demo_model))
    profile = load_profile("pixel8" if platform == "android" else "iphone15pro")
    plan = make_plan(spec, profile, PlanRequest(runtime="mlc", quant="q4f16_1", needs_platform_wrapper=True))
    job = ConversionJob(model_dir=demo_model, spec=spec, runtime=runtime, quant=plan.plan.quant, context=plan.plan.context,
                        artifact_format=runtime.default_format(platform), backend="gpu", threads=4, name="demo",
                        platform=platform)
    build = runtime.build_plan(job)
    weights, library = mlc_stand_in(work / "mlc-output", build)
    bundle = work / job.artifact_name
    functions = {"batch_prefill": 45.25, "decode": 1.5}
    pack_bundle(bundle, weights, library, {
        "model_id": build.model_id, "model_lib": build.prefix, "device": build.device,
        "conv_template": build.conv_template, "context_window_size": build.context,
        "prefill_chunk_size": build.prefill_chunk, "library": f"lib/{library.name}",
        "params_bytes": params_bytes(weights), "temp_bytes": int(max(functions.values()) * MIB),
        "function_memory_mb": functions,
        "toolchain": {"mlc_llm": "0.20.dev78+g1a2b3c4", "tvm": "0.20.dev78+g1a2b3c4",
                      "requirements": "mlc-ai-nightly-cpu==0.20.dev78 mlc-llm-nightly-cpu==0.20.dev78+g1a2b3c4"},
    })
    artifact = CachedArtifact("stand-in", bundle, bundle.stat().st_size, sha256_file(bundle), {})
    return ConversionResult(job=job, artifact=artifact, cache_hit=False, predicted_weights_bytes=job.quant.weight_bytes(spec),
                            adapter=None, plan=plan, verification=None, toolchain={"mlc_llm": "0.20.dev78+g1a2b3c4"},
                            model_digest="0" * 64, runtime_figures=runtime.artifact_figures(job, bundle))


def test_bundle_is_deterministic_ustar_with_mlc_s_figures(demo_model, tmp_path):
    first = mlc_result(demo_model, "android", tmp_path / "a")
    second = mlc_result(demo_model, "android", tmp_path / "b")
    assert first.artifact.sha256 == second.artifact.sha256  # no timestamps or owners inside
    with tarfile.open(first.artifact.path) as archive:
        names = archive.getnames()
        assert all(member.mtime == 0 and member.uid == 0 for member in archive.getmembers())
    assert "demo-q4f16_1-MLC/params_shard_0.bin" in names and "lib/demo_q4f16_1-android.tar" in names
    assert BUNDLE_META in names
    assert first.artifact.path.read_bytes()[257:263] == b"ustar\x00"  # POSIX ustar, no pax headers
    meta = read_bundle_meta(first.artifact.path)
    assert meta["device"] == "android" and meta["model_lib"] == "demo_q4f16_1"

    # The budget takes MLC's parameters and largest temporary buffer, and says so.
    budget = first.actual_budget
    assert budget.weights_bytes == 256 * 64 and budget.weights_source == "MLC LLM"
    assert budget.working_bytes == int(45.25 * MIB) and budget.working_source == "MLC LLM"
    assert first.report()["runtime_figures"]["source"] == "MLC LLM"


def test_package_config_is_what_mlc_llm_package_reads(demo_model, tmp_path):
    result = mlc_result(demo_model, "android", tmp_path)
    build = result.job.runtime.build_plan(result.job)
    config = package_config(build, "mlc/demo-q4f16_1-MLC", "mlc/lib/demo_q4f16_1-android.tar", 123456789)
    assert config["device"] == "android"
    (entry,) = config["model_list"]
    # interface/package.py: model, model_id and estimated_vram_bytes required; a local model
    # needs bundle_weight; model_lib names the library in model_lib_path_for_prepare_libs.
    assert entry["model"] == "mlc/demo-q4f16_1-MLC" and entry["model_id"] == "demo-q4f16_1-MLC"
    assert entry["bundle_weight"] is True and entry["estimated_vram_bytes"] == 123456789
    assert config["model_lib_path_for_prepare_libs"] == {entry["model_lib"]: "mlc/lib/demo_q4f16_1-android.tar"}
    assert entry["overrides"] == {"context_window_size": build.context, "prefill_chunk_size": build.prefill_chunk}


# --- the generated projects --------------------------------------------------------------


@pytest.fixture(scope="module")
def android_project(demo_model, tmp_path_factory):
    work = tmp_path_factory.mktemp("mlc-android")
    result = mlc_result(demo_model, "android", work)
    return render_project("android", result, ProjectOptions(app_id=PACKAGE, app_name="Demo Chat"), work / "DemoChat")


@pytest.fixture(scope="module")
def ios_project(demo_model, tmp_path_factory):
    work = tmp_path_factory.mktemp("mlc-ios")
    result = mlc_result(demo_model, "ios", work)
    return render_project("ios", result, ProjectOptions(app_id=PACKAGE, app_name="Demo Chat"), work / "DemoChat")


def test_android_project_includes_mlc4j_as_mlc_apps_do(android_project):
    root = android_project.path
    assert android_project.generation.engine.key == "mlc"
    settings = (root / "settings.gradle.kts").read_text()
    assert 'include(":mlc4j")' in settings and 'project(":mlc4j").projectDir = file("dist/lib/mlc4j")' in settings
    assert 'useVersion("2.1.21")' in settings
    assert 'api(project(":mlc4j"))' in (root / "llm/build.gradle.kts").read_text()
    catalog = (root / "gradle/libs.versions.toml").read_text()
    assert 'kotlin = "2.1.21"' in catalog
    for path in [root / "settings.gradle.kts", root / "llm/build.gradle.kts", *root.glob("llm/src/**/*.kt")]:
        assert tc.tree_sitter_errors(path, "kotlin") == [], path
    config = json.loads((root / "mlc-package-config.json").read_text())
    (entry,) = config["model_list"]
    assert entry["estimated_vram_bytes"] == android_project.generation.budget.total_bytes
    assert config["model_lib_path_for_prepare_libs"][entry["model_lib"]] == "mlc/lib/demo_q4f16_1-android.tar"
    model_info = (root / f"llm/src/main/kotlin/{PACKAGE.replace('.', '/')}/llm/ModelInfo.kt").read_text()
    assert 'MLC_MODEL_ID: String = "demo-q4f16_1-MLC"' in model_info and 'MLC_MODEL_LIB: String = "demo_q4f16_1"' in model_info
    assert (root / "llm/src/main/assets" / android_project.conversion.job.artifact_name).is_file()
    assert {"/mlc/", "/mlc-llm/", "/dist/"} <= set((root / ".gitignore").read_text().split())


def test_android_project_compiles_against_mlc4j_and_its_tests_pass(android_project, stub_classes, tmp_path):
    classes = tc.compile_project(android_project.path, PACKAGE, stub_classes, tmp_path)
    tests = tc.unit_test_classes(android_project.path, PACKAGE)
    assert f"{PACKAGE}.llm.ModelBundleTest" in tests
    report = tc.run_junit(tests, tc.classpath(classes, tc.kotlin_runtime_jars(), tc.junit_jars()))
    assert "OK (" in report, report


def test_kotlin_unpacks_the_bundle_sdkgen_packs(android_project, stub_classes, tmp_path):
    """The generated ModelBundle (compiled Kotlin, on the JVM) reads the product's real bundle."""
    classes = tc.compile_project(android_project.path, PACKAGE, stub_classes, tmp_path / "project")
    harness_src = tmp_path / "Unpack.kt"
    harness_src.write_text(
        f"import {PACKAGE}.llm.ModelBundle\nimport java.io.File\n\n"
        "fun main(args: Array<String>) {\n"
        "    val dir = ModelBundle.unpack(File(args[0]), args[1], File(args[2]), args[3])\n"
        "    println(dir.absolutePath)\n"
        "}\n"
    )
    harness = tmp_path / "harness"
    tc.compile_kotlin([harness_src], harness, tc.classpath(classes, tc.kotlin_runtime_jars()))
    bundle = android_project.path / "llm/src/main/assets" / android_project.conversion.job.artifact_name
    done = subprocess.run(
        ["java", "-cp", tc.classpath(harness, classes, tc.kotlin_runtime_jars()), "UnpackKt", str(bundle),
         "demo-q4f16_1-MLC", str(tmp_path / "device"), android_project.conversion.artifact.sha256],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    unpacked = Path(done.stdout.strip())
    with tarfile.open(bundle) as archive:
        expected = {m.name.split("/", 1)[1]: archive.extractfile(m).read() for m in archive.getmembers()
                    if m.name.startswith("demo-q4f16_1-MLC/")}
    got = {p.relative_to(unpacked).as_posix(): p.read_bytes() for p in unpacked.rglob("*") if p.is_file()}
    assert got.pop(".sdkgen-unpacked").decode() == android_project.conversion.artifact.sha256
    assert got == expected


def test_android_mlc_workflow_and_script(android_project, tmp_path):
    root = android_project.path
    workflow = yaml.safe_load((root / ".github/workflows/android.yml").read_text())
    steps = workflow["jobs"]["build"]["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    assert list(workflow["jobs"]) == ["build"]  # no emulator job: MLC needs the phone's GPU
    assert "rustup target add aarch64-linux-android" in runs and "TVM_NDK_CC" in runs
    assert "https://mlc.ai/wheels" in runs and "mlc-llm-nightly-cpu==0.20.dev78+g1a2b3c4" in runs
    assert runs.index("scripts/mlc-package.sh") < runs.index("assembleDebug")
    script = root / "scripts/mlc-package.sh"
    assert script.stat().st_mode & 0o111
    checked = subprocess.run([tc.shellcheck(), "--severity=style", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout
    text = script.read_text()
    assert "fetch --quiet origin '1a2b3c4'" in text  # MLC source at the commit that compiled the library
    assert android_project.conversion.artifact.sha256 in text


def test_mlc_package_script_refuses_a_wrong_bundle(android_project, tmp_path):
    copy = tmp_path / "project"
    shutil.copytree(android_project.path, copy, symlinks=True)
    bundle = copy / "llm/src/main/assets" / android_project.conversion.job.artifact_name
    bundle.write_bytes(bundle.read_bytes()[:-1] + b"\x01")
    done = subprocess.run(["bash", str(copy / "scripts/mlc-package.sh")], capture_output=True, text=True)
    assert done.returncode == 1 and "expected" in done.stderr
    assert not (copy / "mlc").exists()


def test_ios_project_links_mlcswift_in_the_app(ios_project):
    root = ios_project.path
    swift = sorted(root.rglob("*.swift"))
    assert {"MlcEngine.swift", "ModelBundle.swift", "ModelBundleTests.swift"} <= {p.name for p in swift}
    assert [problem for path in swift for problem in tc.tree_sitter_errors(path, "swift")] == []
    assert "MLCSwift" not in (root / "Package.swift").read_text()  # LLMKit stays testable with `swift test`
    project = yaml.safe_load((root / "project.yml").read_text())
    jsonschema.validate(project, SCHEMA)
    assert project["packages"]["MLCSwift"] == {"path": "mlc-llm/ios/MLCSwift"}
    (app,) = [t for t in project["targets"].values() if t["type"] == "application"]
    assert {"package": "MLCSwift"} in app["dependencies"]
    flags = app["settings"]["base"]["OTHER_LDFLAGS"]
    assert "-lmodel_iphone" in flags and "-Wl,-all_load" in flags
    config = json.loads((root / "mlc-package-config.json").read_text())
    assert config["device"] == "iphone"
    workflow = yaml.safe_load((root / ".github/workflows/ios.yml").read_text())
    app_runs = "\n".join(step.get("run", "") for step in workflow["jobs"]["app"]["steps"])
    assert "scripts/mlc-package.sh" in app_runs and "-sdk iphoneos" in app_runs
    assert "swift test" in "\n".join(step.get("run", "") for step in workflow["jobs"]["sdk-tests"]["steps"])


# --- the real toolchain ------------------------------------------------------------------


def _mlc_convert(demo_model: Path, out: Path, profile: str):
    return run_cli("convert", "--model", str(demo_model), "--runtime", "mlc", "--quant", "q4f16_1",
                   "--context", "256", "--profile", profile, "-o", str(out), "--json")


@needs_mlc
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("xcrun") is None, reason="MLC's iPhone build needs Xcode's xcrun (macOS only)")
def test_mlc_end_to_end_for_iphone(demo_model, tmp_path, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(tmp_path / "cache"))
    result = _mlc_convert(demo_model, tmp_path / "out", "iphone15pro")
    assert result.code == 0, result.stderr
    meta = read_bundle_meta(tmp_path / "out" / json.loads(result.stdout)["artifacts"][0]["path"])
    assert meta["device"] == "iphone"


@needs_mlc
@pytest.mark.skipif(shutil.which("xcrun") is not None, reason="this machine has Xcode's xcrun")
def test_mlc_iphone_without_xcode_stops_before_any_work(demo_model, tmp_path):
    result = run_cli("ios", "--model", str(demo_model), "--runtime", "mlc", "--profile", "iphone15pro",
                     "-o", str(tmp_path / "out"))
    assert result.code == 4 and len(result.stderr_lines) == 1 and "xcrun" in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def _bundle_contents(bundle: Path) -> dict:
    """Each member's header and SHA-256; for the library tar, its members' headers and sizes."""
    contents = {}
    with tarfile.open(bundle) as archive:
        for member in archive.getmembers():
            data = archive.extractfile(member).read()
            header = (member.mtime, member.uid, member.gid, member.mode, member.uname)
            if member.name.startswith("lib/"):
                with tarfile.open(fileobj=io.BytesIO(data)) as inner:
                    contents[member.name] = [(m.name, m.size, m.mtime, m.uid, m.mode) for m in inner.getmembers()]
            else:
                contents[member.name] = (header, hashlib.sha256(data).hexdigest())
    return contents


@needs_mlc
@pytest.mark.slow
def test_mlc_end_to_end_for_android_is_reproducible_and_packageable(demo_model, tmp_path, monkeypatch):
    contents = []
    for run in ("first", "second"):
        # Two cold builds (separate caches): nothing sdkgen writes may depend on when it was built.
        monkeypatch.setenv("SDKGEN_CACHE_DIR", str(tmp_path / run / "cache"))
        result = _mlc_convert(demo_model, tmp_path / run / "out", "pixel8")
        assert result.code == 0, result.stderr
        report = json.loads(result.stdout)
        contents.append(_bundle_contents(tmp_path / run / "out" / report["artifacts"][0]["path"]))
    # Every file is the same, and the library tar holds the same objects with the same headers.
    # The objects' bytes are TVM's code generator's: measured here it is not fully deterministic
    # (1 build in 3 swapped two instructions in lib0.o, 18 bytes), so they are compared by name
    # and size only; the cache keeps the first build, so one machine always ships the same bytes.
    assert contents[0] == contents[1]
    bundle = tmp_path / "first" / "out" / report["artifacts"][0]["path"]
    meta = read_bundle_meta(bundle)
    assert meta["device"] == "android" and meta["params_bytes"] > 0 and meta["temp_bytes"] > 0
    assert report["budget"]["actual"]["weights_source"] == "MLC LLM"
    with tarfile.open(bundle) as archive:
        names = archive.getnames()
        assert f"{meta['model_id']}/mlc-chat-config.json" in names and meta["library"] in names
        library = archive.extractfile(meta["library"])
        with tarfile.open(fileobj=library) as inner:
            objects = b"".join(inner.extractfile(m).read() for m in inner.getmembers() if m.isfile())
    # What `mlc_llm package` looks for to find a model_lib in the library (interface/package.py),
    # and what the phone runtime resolves: the model_lib name, then "_", then TVM's symbols.
    assert f"{meta['model_lib']}___tvm_ffi__library_bin".encode() in objects


# --- the driver (convert.py) against MLC's CLI contract ----------------------------------


def _fake_mlc_run(work_root: Path, calls: list):
    """Stands in for one `mlc_llm` command as MLC's CLI behaves: `compile -o` refuses a folder that
    does not exist (cli/compile.py's output check) and the library tar carries real file times,
    as TVM's export_library writes it. Used to hold sdkgen's driver to that contract."""

    def run(step_name: str, argv: tuple[str, ...]) -> str:
        calls.append(argv)
        args = list(argv)
        output = Path(args[args.index("-o") + 1])
        if step_name == "gen_config":
            output.mkdir(parents=True, exist_ok=True)
            (output / "mlc-chat-config.json").write_text("{}")
        elif step_name == "convert_weight":
            (output / "params_shard_0.bin").write_bytes(b"\x01" * 64)
            (output / "tensor-cache.json").write_text(json.dumps({"records": [{"nbytes": 64}]}))
        elif step_name == "compile":
            if not output.parent.is_dir():
                raise SystemExit(f"mlc_llm compile: error: argument --output/-o: Directory does not exist: {output.parent}")
            obj = output.parent / "lib0.o"
            obj.write_bytes(b"\x7fELF object")
            os.utime(obj, (len(calls) * 1000, len(calls) * 1000 + hash(str(work_root)) % 1000))
            with tarfile.open(output, "w") as archive:
                archive.add(obj, "lib0.o")
            obj.unlink()
            return "[Memory usage] Function `prefill`: 2.00 MB\n"
        return ""

    return run


def _driver_request(demo_model: Path, work: Path, platform: str = "android") -> dict:
    return {
        "workdir": str(work / "mlc"),
        "out": str(work / "bundle.mlc.tar"),
        "build": {"model_dir": str(demo_model), "quant": "q4f16_1", "conv_template": "chatml_nosystem", "context": 256,
                  "prefill_chunk": 128, "platform": platform, "prefix": "demo_q4f16_1", "model_id": "demo-q4f16_1-MLC"},
    }


def test_driver_creates_the_library_folder_and_bundles_reproducibly(demo_model, tmp_path, monkeypatch):
    from sdk_gen.runtimes.mlc import convert

    digests = []
    for run in ("first", "second"):
        calls: list = []
        monkeypatch.setattr(convert, "_run", _fake_mlc_run(tmp_path / run, calls))
        request = _driver_request(demo_model, tmp_path / run)
        (tmp_path / run / "mlc").mkdir(parents=True)
        convert.build(request)
        assert [c[3] for c in calls] == ["gen_config", "convert_weight", "compile"]
        digests.append(sha256_file(Path(request["out"])))
        with tarfile.open(request["out"]) as bundle:
            library = bundle.extractfile("lib/demo_q4f16_1-android.tar")
            with tarfile.open(fileobj=library) as inner:
                assert [(m.name, m.mtime, m.uid) for m in inner.getmembers()] == [("lib0.o", 0, 0)]
    # Different build times and folders, same bytes: the cache key and the app's SHA-256 agree.
    assert digests[0] == digests[1]


def test_a_failing_mlc_step_shows_mlc_s_own_error(tmp_path):
    from sdk_gen.runtimes.mlc.convert import MlcStepFailed, _run

    script = "import sys; print('compiling...'); print('ValueError: Unknown quantization: q9'); sys.exit(3)"
    with pytest.raises(MlcStepFailed) as failure:
        _run("compile", (sys.executable, "-c", script))
    assert "exit 3" in str(failure.value) and "ValueError: Unknown quantization: q9" in str(failure.value)


def _mlc_job(demo_model: Path, platform: str) -> ConversionJob:
    runtime = get_runtime("mlc")
    spec = inspect_model(str(demo_model))
    return ConversionJob(model_dir=demo_model, spec=spec, runtime=runtime, quant=runtime.quant("q4f16_1"), context=256,
                         artifact_format=runtime.default_format(platform), backend="gpu", threads=2, name="demo",
                         platform=platform)


def test_cache_key_covers_the_compile_flags(demo_model):
    job = _mlc_job(demo_model, "android")
    options = job.runtime.cache_options(job)
    assert options["compile_flags"] == ["--device", "android", "--system-lib-prefix", "demo_q4f16_1_"]
    assert options["driver_revision"] >= 2  # bundles built with the old prefix no longer match


@pytest.mark.skipif(shutil.which("xcrun") is not None, reason="this machine has Xcode's xcrun")
def test_iphone_build_without_xcode_is_refused_up_front(demo_model):
    from sdk_gen.errors import ToolMissing

    job = _mlc_job(demo_model, "ios")
    with pytest.raises(ToolMissing, match="xcrun"):
        job.runtime.check_job(job)
    job.runtime.check_job(_mlc_job(demo_model, "android"))  # Android needs no Xcode


def test_report_says_why_mlc_is_not_host_verified(demo_model, tmp_path):
    from rich.console import Console

    from sdk_gen.report import conversion_tables

    result = mlc_result(demo_model, "android", tmp_path)
    console = Console(width=400, record=True)
    for table in conversion_tables(result, tmp_path):
        console.print(table)
    text = console.export_text()
    assert "--no-verify" not in text and "not run on this machine" in text and "OpenCL" in text


def test_ios_gitignore_keeps_mlc_package_output_out(ios_project):
    ignored = (ios_project.path / ".gitignore").read_text().splitlines()
    assert "/build/" in ignored and "/dist/" in ignored
