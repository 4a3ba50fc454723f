"""`sdkgen android --runtime executorch`: the generated Gradle project around ExecuTorch's LlmModule,
checked with real compilers against stubs kept to executorch-android's API (tests/stubs/java/org/pytorch)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

import android_toolchain as tc
from conftest import REPO
from sdk_gen import pins
from sdk_gen.conversion import ConversionRequest
from sdk_gen.formats.base import ProjectOptions
from sdk_gen.hashing import sha256_file
from sdk_gen.project import ProjectRequest, generate_project
from sdk_gen.runtimes.executorch.phone import EXECUTORCH

pytest.importorskip("executorch")

PACKAGE = "com.example.demo"
KOTLIN_DIR = "llm/src/main/kotlin/com/example/demo/llm"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """One artifact cache for the module: the fp32 and 8da4w projects each convert once."""
    return tmp_path_factory.mktemp("executorch-android-cache")


@pytest.fixture(autouse=True)
def _cache_env(cache_dir, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(cache_dir))


def generate(model: Path, out: Path, cache: Path, quant: str):
    conversion = ConversionRequest(model=str(model), runtime="executorch", quant=quant, profile="pixel8", cache_dir=cache)
    return generate_project(ProjectRequest("android", conversion, ProjectOptions(app_id=PACKAGE), out))


@pytest.fixture(scope="module")
def project(demo_model, tmp_path_factory, cache_dir):
    return generate(demo_model, tmp_path_factory.mktemp("executorch-android") / "DemoChat", cache_dir, "8da4w")


def test_project_layout(project):
    root = project.path
    kotlin = root / KOTLIN_DIR
    for name in ("LlmEngine.kt", "ExecuTorchEngine.kt", "PteText.kt", "MemoryBudget.kt", "AndroidMemoryProbe.kt",
                 "ModelStore.kt", "ModelIntegrity.kt", "ModelInfo.kt", "OnDeviceLlm.kt", "ChatFormat.kt"):
        assert (kotlin / name).is_file(), name
    for other in ("LiteRtLmEngine.kt", "MediaPipeLlmEngine.kt", "LlamaCppEngine.kt", "MlcEngine.kt"):
        assert not (kotlin / other).exists(), other
    assert (root / "llm/src/test/kotlin/com/example/demo/llm/PteTextTest.kt").is_file()
    assert not list(root.rglob("_hooks"))  # hooks are included, never copied
    # One file is delivered: the .pte, byte for byte the verified artifact (the tokenizer rides inside).
    assets = sorted(p.name for p in (root / "llm/src/main/assets").iterdir())
    assert assets == [project.conversion.job.artifact_name] and assets[0].endswith(".pte")
    assert sha256_file(root / "llm/src/main/assets" / assets[0]) == project.conversion.artifact.sha256
    factory = (kotlin / "OnDeviceLlm.kt").read_text()
    assert "return ExecuTorchEngine(file, settings, ChatFormat.MODEL)" in factory
    readme = (root / "README.md").read_text()
    assert f"`{assets[0]}.tokenizer.json`" in readme and f"executorch-android` {pins.EXECUTORCH_ANDROID}" in readme


def test_the_catalog_pins_executorch_android(project):
    catalog = tomllib.loads((project.path / "gradle/libs.versions.toml").read_text())
    library = catalog["libraries"]["executorch-android"]
    assert (library["group"], library["name"]) == ("org.pytorch", "executorch-android")
    assert catalog["versions"][library["version"]["ref"]] == pins.EXECUTORCH_ANDROID
    # The phone runtime follows the release that verified the .pte on the host (major.minor).
    assert pins.EXECUTORCH_ANDROID.rsplit(".", 1)[0] == pins.EXECUTORCH_HOST.rsplit(".", 1)[0]
    for value in catalog["versions"].values():
        assert re.fullmatch(r"\d+(\.\d+)+", value), value
    build = (project.path / "llm/build.gradle.kts").read_text()
    assert "api(libs.executorch.android)" in build
    engine = (project.path / KOTLIN_DIR / "ExecuTorchEngine.kt").read_text()
    assert f"`org.pytorch:executorch-android` {pins.EXECUTORCH_ANDROID}" in engine


def test_min_sdk_abis_and_uncompressed_pte(project):
    target = EXECUTORCH.target("gradle")
    assert target.min_os == "23"  # executorch_android/build.gradle's minSdk for the pinned release
    for module in ("app", "llm"):
        build = (project.path / module / "build.gradle.kts").read_text()
        assert f"minSdk = {target.min_os}\n" in build, module
    build = (project.path / "llm/build.gradle.kts").read_text()
    assert 'abiFilters += listOf("arm64-v8a", "x86_64")' in build
    assert re.search(r'noCompress \+= listOf\([^)]*"pte"', build)
    rules = (project.path / "llm/consumer-rules.pro").read_text()
    assert "-keep class org.pytorch.executorch.** { *; }" in rules and "com.facebook.jni" in rules


def test_every_kotlin_file_compiles_and_the_jvm_unit_tests_pass(project, stub_classes, tmp_path):
    classes = tc.compile_project(project.path, PACKAGE, stub_classes, tmp_path)
    assert (classes / "com/example/demo/llm/ExecuTorchEngine.class").is_file()
    report = tc.run_junit(tc.unit_test_classes(project.path, PACKAGE),
                          tc.classpath(classes, tc.kotlin_runtime_jars(), tc.junit_jars()))
    match = re.search(r"OK \((\d+) tests\)", report)
    assert match, report
    engine_tests = len(re.findall(r"@Test", (project.path / "llm/src/test/kotlin/com/example/demo/llm/PteTextTest.kt").read_text()))
    assert engine_tests >= 8 and int(match.group(1)) >= 14 + engine_tests, report


# The harness's scenarios (tests/harness/ExecuTorchEngineHarness.kt), each under a 10 s limit.
HARNESS_SCENARIOS = ("reply", "cancel", "close-mid-reply", "close-from-slow-collector", "close-before-collect",
                     "context-full", "generate-after-close", "reset-after-close")


def test_the_engine_runs_on_the_jvm_against_a_fake_llm_module(project, stub_classes, tmp_path):
    """The generated engine, compiled against the API-only stubs, run on the JVM over behavioural
    fakes of LlmModule, Module, EValue and Tensor (tests/harness/fake_executorch, first on the
    classpath so they shadow the stubs): replies, cancel, close mid-reply and before collecting,
    a full context, and use after close. The fakes record what the real runtime would not survive
    (LlmModule closed while generate runs, a call after close); the harness fails on any, and a
    scenario that hangs prints TIMEOUT."""
    classes = tc.compile_project(project.path, PACKAGE, stub_classes, tmp_path / "project")
    # The fakes replace the classes that run; interfaces (LlmCallback) come from the stubs.
    fakes = tc.javac(sorted((REPO / "tests/harness/fake_executorch").rglob("*.java")), tmp_path / "fakes", str(stub_classes))
    harness = tmp_path / "harness"
    tc.compile_kotlin([REPO / "tests/harness/ExecuTorchEngineHarness.kt"], harness,
                      tc.classpath(fakes, classes, tc.kotlin_runtime_jars()))
    model = tmp_path / "demo.pte"  # the fakes read nothing from it; the tokenizer is written beside it
    model.write_bytes(b"fake program")
    done = subprocess.run(
        ["java", "-cp", tc.classpath(harness, fakes, classes, stub_classes, tc.kotlin_runtime_jars()),
         "ExecuTorchEngineHarnessKt", str(model)],
        capture_output=True, text=True, timeout=180, cwd=tmp_path,  # a hang fails, never blocks
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("scenario ")]
    verdicts = {line.split(" ")[1]: line.split(" ")[2] for line in lines}
    assert verdicts == dict.fromkeys(HARNESS_SCENARIOS, "PASS"), done.stdout + done.stderr[-4000:]
    assert done.returncode == 0 and "done failures=0" in done.stdout, done.stdout + done.stderr[-4000:]
    assert (tmp_path / "demo.pte.tokenizer.json").is_file()


def test_the_engine_keeps_to_the_llm_module_api(project):
    """What the stubs cannot show: the calls the engine makes and why they are the right ones."""
    engine = (project.path / KOTLIN_DIR / "ExecuTorchEngine.kt").read_text()
    # The tokenizer is read out of the .pte through ExecuTorch's Module API (memory-mapped).
    assert 'Module.load(modelFile.absolutePath, Module.LOAD_MODE_MMAP)' in engine
    assert ".toTensor().dataAsUnsignedByteArray" in engine
    assert "LlmModule(modelFile.absolutePath, tokenizer.absolutePath, temperature())" in engine
    # Chat: no echo, no extra BOS, the reply's cap as seqLen (the runner budgets a reply of a .pte
    # whose calls are shorter than its cache from seqLen alone); the callback is an object
    # (LlmCallback is a plain Kotlin interface upstream, so a lambda would not compile against the real AAR).
    assert "val replyCap = minOf(settings.maxTokens, settings.maxReplyTokens)" in engine
    assert "active.generate(turn, replyCap, callback, false, temperature(), 0, 0)" in engine
    assert "object : LlmCallback {" in engine and not re.search(r"LlmCallback\s*\{", engine.replace("object : LlmCallback {", ""))
    for call in ("active.stop()", "resetContext()", "closing?.close()", "ContextFullException"):
        assert call in engine, call
    # The demo's tokenizer has no NFC normalizer: its text goes to the runner as given.
    assert "Normalizer" not in engine
    text = (project.path / KOTLIN_DIR / "PteText.kt").read_text()
    export = (REPO / "sdk_gen/runtimes/executorch/export.py").read_text()
    for method in re.findall(r'const val \w+_METHOD: String = "(\w+)"', text):
        assert f'"{method}"' in export, method  # the constant methods the export writes


def test_stubs_name_their_upstream_source():
    readme = (REPO / "tests/stubs/README.md").read_text()
    assert "ExecuTorch" in readme and "executorch_android" in readme
    stubs = sorted((REPO / "tests/stubs/java/org/pytorch/executorch").rglob("*.java"))
    assert {p.stem for p in stubs} >= {"Module", "EValue", "Tensor", "ExecutorchRuntimeException", "LlmModule", "LlmCallback"}
    for stub in stubs:
        body = stub.read_text()
        assert "executorch-android 1.5" in body, stub.name
        # Bodies throw (an interface's default methods stay empty): stubs type-check, never run.
        for head, inside in re.findall(r"([^;{}]*\))\s*\{([^{}]*)\}", body):
            assert 'throw new UnsupportedOperationException("stub")' in inside or (
                not inside.strip() and ("default" in head or re.fullmatch(r"\s*(private\s+)?[A-Z]\w*\(\)", head))), (stub.name, head)


def test_manifests_and_resources_link_with_aapt2(project, tmp_path):
    tc.link_resources(project.path / "llm/src/main/AndroidManifest.xml", None, f"{PACKAGE}.llm", tmp_path / "llm")
    tc.link_resources(project.path / "app/src/main/AndroidManifest.xml", project.path / "app/src/main/res", PACKAGE,
                      tmp_path / "app")


def test_kotlin_and_gradle_scripts_parse_without_errors(project):
    files = sorted(project.path.rglob("*.kts")) + sorted(project.path.rglob("*.kt"))
    problems = [problem for path in files for problem in tc.tree_sitter_errors(path, "kotlin")]
    assert problems == []


def test_workflow_builds_and_runs_the_smoke_test_on_an_emulator(project):
    workflow = yaml.safe_load((project.path / ".github/workflows/android.yml").read_text())
    jobs = workflow["jobs"]
    assert set(jobs) == {"build", "smoke-test"} and jobs["smoke-test"]["needs"] == "build"
    build_steps = " ".join(str(step.get("run", "")) for step in jobs["build"]["steps"])
    assert "assembleDebug" in build_steps and ":llm:testDebugUnitTest" in build_steps
    emulator = next(s for s in jobs["smoke-test"]["steps"] if "android-emulator-runner" in str(s.get("uses", "")))
    assert emulator["with"]["arch"] == "x86_64" and "x86_64" in EXECUTORCH.target("gradle").abis
    assert ":llm:connectedDebugAndroidTest" in emulator["with"]["script"]


def test_sdkgen_toml_records_the_runtime(project):
    data = tomllib.loads((project.path / "sdkgen.toml").read_text())
    assert data["plan"]["runtime"] == "executorch" and data["plan"]["quantization"] == "8da4w"
    assert data["artifact"]["sha256"] == project.conversion.artifact.sha256


@pytest.mark.slow
def test_fp32_variant_of_an_nfc_model_compiles(demo_model, tmp_path, cache_dir, stub_classes):
    """fp32, and a tiny Qwen2 whose tokenizer normalizes to NFC: the engine NFC-normalizes each
    turn with the JDK's java.text.Normalizer (the runner's own NFC strips accents)."""
    from test_litert import tiny_family_model

    model = tiny_family_model("qwen2", demo_model, tmp_path / "qwen2")
    result = generate(model, tmp_path / "Fp32Chat", cache_dir, "fp32")
    assert (result.path / "llm/src/main/assets/qwen2-fp32.pte").is_file()
    engine = (result.path / KOTLIN_DIR / "ExecuTorchEngine.kt").read_text()
    assert "import java.text.Normalizer" in engine
    assert "}.let { Normalizer.normalize(it, Normalizer.Form.NFC) }" in engine
    tc.compile_project(result.path, PACKAGE, stub_classes, tmp_path / "work")
