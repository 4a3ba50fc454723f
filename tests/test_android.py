"""`sdkgen android`: the generated Gradle project, checked with real compilers and tools."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

import android_toolchain as tc
from conftest import REPO, run_cli, tree_snapshot
from sdk_gen import pins
from sdk_gen.conversion import ConversionRequest
from sdk_gen.hashing import sha256_file
from sdk_gen.formats.base import ProjectOptions
from sdk_gen.project import ProjectRequest, generate_project
from sdk_gen.units import human_bytes

PACKAGE = "com.example.demo"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("android-cache")


@pytest.fixture(autouse=True)
def _cache_env(cache_dir, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(cache_dir))


def generate(model: Path, out: Path, cache: Path, **changes):
    conversion = ConversionRequest(model=str(model), profile=changes.pop("profile", "pixel8"), cache_dir=cache,
                                   artifact_format=changes.pop("artifact_format", None))
    options = ProjectOptions(app_id=changes.pop("app_id", PACKAGE), app_name=changes.pop("app_name", None),
                             model_url=changes.pop("model_url", None))
    return generate_project(ProjectRequest("android", conversion, options, out, force=changes.pop("force", False)))


@pytest.fixture(scope="module")
def project(demo_model, tmp_path_factory, cache_dir):
    return generate(demo_model, tmp_path_factory.mktemp("android") / "DemoChat", cache_dir)


def test_project_layout(project):
    root = project.path
    for relative in (
        "settings.gradle.kts", "build.gradle.kts", "gradle.properties", "gradle/libs.versions.toml",
        "gradle/wrapper/gradle-wrapper.properties", "llm/build.gradle.kts", "llm/src/main/AndroidManifest.xml",
        "app/build.gradle.kts", "app/src/main/AndroidManifest.xml", ".github/workflows/android.yml", "README.md",
        "sdkgen.toml", "sdkgen-report.json",
    ):
        assert (root / relative).is_file(), relative
    kotlin = root / "llm/src/main/kotlin/com/example/demo/llm"
    for name in ("LlmEngine.kt", "LiteRtLmEngine.kt", "MemoryBudget.kt", "AndroidMemoryProbe.kt", "ModelStore.kt",
                 "ModelIntegrity.kt", "ModelInfo.kt", "OnDeviceLlm.kt", "ChatFormat.kt"):
        assert (kotlin / name).is_file(), name
    assert not (kotlin / "MediaPipeLlmEngine.kt").exists()  # only the chosen runtime's wrapper
    assert (root / "llm/src/androidTest/kotlin/com/example/demo/llm/SmokeTest.kt").is_file()
    assert (root / "app/src/main/kotlin/com/example/demo/MainActivity.kt").is_file()
    # The demo model is small: it ships as an asset, byte for byte the verified artifact.
    asset = root / "llm/src/main/assets" / project.conversion.job.artifact_name
    assert sha256_file(asset) == project.conversion.artifact.sha256


def test_versions_are_pinned_in_the_catalog(project):
    catalog = tomllib.loads((project.path / "gradle/libs.versions.toml").read_text())
    versions = catalog["versions"]
    assert versions["kotlin"] == pins.KOTLIN and versions["litertlm"] == pins.LITERTLM_PHONE
    for value in versions.values():
        assert re.fullmatch(r"\d+(\.\d+)+", value), value  # no '+', no 'latest.release'
    assert catalog["libraries"]["litertlm-android"]["group"] == "com.google.ai.edge.litertlm"
    wrapper = (project.path / "gradle/wrapper/gradle-wrapper.properties").read_text()
    assert "gradle-8.13-bin.zip" in wrapper


def test_min_sdk_is_the_runtime_s_not_the_profile_s(project):
    # Pixel 8 launched with Android 14 (API 34), but LiteRT-LM serves API 24 and up: an SDK
    # that refused older phones would turn away devices it can serve.
    for module in ("app", "llm"):
        build = (project.path / module / "build.gradle.kts").read_text()
        assert "minSdk = 24" in build, module
    build = (project.path / "app/build.gradle.kts").read_text()
    assert "targetSdk = 36" in build and "compileSdk = 36" in build


def test_every_kotlin_file_compiles_and_the_jvm_unit_tests_pass(project, stub_classes, tmp_path):
    classes = tc.compile_project(project.path, PACKAGE, stub_classes, tmp_path)
    report = tc.run_junit(tc.unit_test_classes(project.path, PACKAGE),
                          tc.classpath(classes, tc.kotlin_runtime_jars(), tc.junit_jars()))
    match = re.search(r"OK \((\d+) tests\)", report)
    assert match and int(match.group(1)) >= 14, report
    # Edge to edge (forced by Android 15 at targetSdk 35+): the compiled screen asks for it and
    # pads for the system bars and the keyboard, read from the bytecode javap prints.
    compiled = "\n".join(
        subprocess.run(["javap", "-c", "-p", "-cp", str(classes), f"{PACKAGE}.{path.stem}"],
                       capture_output=True, text=True, check=True).stdout
        for path in (classes / PACKAGE.replace(".", "/")).glob("MainActivity*.class")
    )
    for call in ("enableEdgeToEdge", "Scaffold", "imePadding", "consumeWindowInsets"):
        assert call in compiled, call


def test_baked_in_figures_match_the_plan_and_the_artifact(project):
    info = (project.path / "llm/src/main/kotlin/com/example/demo/llm/ModelInfo.kt").read_text()
    report = json.loads((project.path / "sdkgen-report.json").read_text())
    actual = report["budget"]["actual"]

    def constant(name):
        return int(re.search(rf"const val {name}: Long = (\d+)L", info).group(1))

    assert constant("SIZE_BYTES") == report["artifacts"][0]["bytes"]
    assert f'SHA256: String = "{report["artifacts"][0]["sha256"]}"' in info
    for name, key in (("WEIGHTS_BYTES", "weights_bytes"), ("LOAD_COPY_BYTES", "load_copy_bytes"),
                      ("KV_CACHE_BYTES", "kv_cache_bytes"), ("WORKING_BYTES", "working_bytes"),
                      ("OVERHEAD_BYTES", "overhead_bytes")):
        assert constant(name) == actual[key]
    assert actual["load_copy_bytes"] > 0  # int8 on the CPU: XNNPack repacks the weights
    assert actual["weights_bytes"] == report["artifacts"][0]["bytes"]  # the real size, not the prediction
    assert "ModelDelivery.ASSET" in info
    assert report["project"]["engine"] == "litertlm" and report["project"]["delivery"] == "bundled"


def test_readme_and_model_info_show_every_budget_row(project):
    # Both render MemoryBudget.rows(): every part, its figure, and a total that is their sum.
    budget = project.generation.budget
    readme = (project.path / "README.md").read_text()
    info = (project.path / "llm/src/main/kotlin/com/example/demo/llm/ModelInfo.kt").read_text()
    constants = [f"{row.key.upper()}_BYTES" for row in budget.rows()]
    for row, constant in zip(budget.rows(), constants):
        assert row.bytes > 0, row.key  # int8 on the CPU: every part, the load copy included, is in the table
        assert f"| {row.label} | {row.bytes} | {human_bytes(row.bytes)} |" in readme, row.key
        assert f"const val {constant}: Long = {row.bytes}L" in info, row.key
    assert f"const val REQUIRED_BYTES: Long = {' + '.join(constants)}\n" in info
    assert f"| **total** | {budget.total_bytes} |" in readme
    assert f"margin | {budget.headroom_bytes} |" in readme and budget.fits


def test_manifests_and_resources_link_with_aapt2(project, tmp_path):
    tc.link_resources(project.path / "llm/src/main/AndroidManifest.xml", None, f"{PACKAGE}.llm", tmp_path / "llm")
    tc.link_resources(project.path / "app/src/main/AndroidManifest.xml", project.path / "app/src/main/res", PACKAGE,
                      tmp_path / "app")
    dump = tc.resource_strings(tmp_path / "app" / "linked.apk")
    assert "app_name" in dump and "demo chat" in dump
    manifest = (project.path / "llm/src/main/AndroidManifest.xml").read_text()
    assert 'android:name="libOpenCL.so" android:required="false"' in manifest


def test_kotlin_and_gradle_scripts_parse_without_errors(project):
    files = sorted(project.path.rglob("*.kts")) + sorted(project.path.rglob("*.kt"))
    assert len(files) >= 15
    problems = [problem for path in files for problem in tc.tree_sitter_errors(path, "kotlin")]
    assert problems == []


def test_workflow_builds_tests_and_runs_the_smoke_test_on_an_emulator(project):
    workflow = yaml.safe_load((project.path / ".github/workflows/android.yml").read_text())
    jobs = workflow["jobs"]
    assert set(jobs) == {"build", "smoke-test"} and jobs["smoke-test"]["needs"] == "build"
    build_steps = " ".join(str(step.get("run", "")) for step in jobs["build"]["steps"])
    assert "assembleDebug" in build_steps and ":llm:testDebugUnitTest" in build_steps
    emulator = next(s for s in jobs["smoke-test"]["steps"] if "android-emulator-runner" in str(s.get("uses", "")))
    assert emulator["with"]["arch"] == "x86_64"  # LiteRT-LM's AAR ships x86_64 for emulators
    assert int(emulator["with"]["api-level"]) >= 34
    assert ":llm:connectedDebugAndroidTest" in emulator["with"]["script"]
    header = (project.path / ".github/workflows/android.yml").read_text().splitlines()[:8]
    assert any("x86_64" in line and "arm64-v8a" in line for line in header)


def test_sdkgen_toml_records_the_provenance(project):
    data = tomllib.loads((project.path / "sdkgen.toml").read_text())
    assert data["plan"]["profile"] == "pixel8" and data["plan"]["runtime"] == "litert"
    assert data["artifact"]["sha256"] == project.conversion.artifact.sha256
    assert data["model"]["digest"] == project.conversion.model_digest
    assert len(data["sdkgen"]["template"]) == 16


@pytest.mark.slow
def test_mediapipe_task_variant_compiles(demo_model, tmp_path, cache_dir, stub_classes):
    result = generate(demo_model, tmp_path / "mp", cache_dir, artifact_format="task")
    kotlin = result.path / "llm/src/main/kotlin/com/example/demo/llm"
    assert (kotlin / "MediaPipeLlmEngine.kt").is_file() and not (kotlin / "LiteRtLmEngine.kt").exists()
    catalog = tomllib.loads((result.path / "gradle/libs.versions.toml").read_text())
    assert catalog["libraries"]["mediapipe-tasks-genai"]["name"] == "tasks-genai"
    assert catalog["versions"]["mediapipeGenai"] == pins.MEDIAPIPE
    tc.compile_project(result.path, PACKAGE, stub_classes, tmp_path / "work")


def _render_with_delivery(project, out: Path, delivery: str, url: str | None) -> Path:
    """Render the same conversion as a large model would be delivered (the demo model is tiny)."""
    from sdk_gen.project import render_files

    generation = replace(project.generation, delivery=delivery, options=replace(project.generation.options, model_url=url))
    render_files(generation, out)
    return out


def test_download_delivery(project, stub_classes, tmp_path):
    root = _render_with_delivery(project, tmp_path / "dl", "download", "https://models.example.com/demo.litertlm")
    info = (root / "llm/src/main/kotlin/com/example/demo/llm/ModelInfo.kt").read_text()
    assert "ModelDelivery.DOWNLOAD" in info and '"https://models.example.com/demo.litertlm"' in info
    assert "android.permission.INTERNET" in (root / "llm/src/main/AndroidManifest.xml").read_text()
    workflow = yaml.safe_load((root / ".github/workflows/android.yml").read_text())
    fetch = [s for s in workflow["jobs"]["smoke-test"]["steps"] if s.get("name") == "Fetch the model for the test APK"]
    assert fetch and "sha256sum --check" in fetch[0]["run"]
    assert "model/" in (root / ".gitignore").read_text()
    tc.compile_project(root, PACKAGE, stub_classes, tmp_path / "work")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_downloads_recover_from_every_leftover(project, stub_classes, tmp_path):
    """The generated ModelStore, run on the JVM against a local server that answers Range requests
    as real servers do: corrupt bytes are never kept, a full-size leftover or a wrong installed
    file does not dead-end (HTTP 416 forever / a throw on every launch), and a partial resumes."""
    port = _free_port()
    root = _render_with_delivery(project, tmp_path / "dl", "download", f"http://127.0.0.1:{port}/demo.litertlm")
    classes = tc.compile_project(root, PACKAGE, stub_classes, tmp_path / "work")
    harness = tmp_path / "harness"
    tc.compile_kotlin([REPO / "tests/harness/ModelStoreHarness.kt", REPO / "tests/harness/HostActivityManager.kt"], harness,
                      tc.classpath(classes, stub_classes, tc.kotlin_runtime_jars()))
    (model,) = (project.path / "llm/src/main/assets").glob("*.litertlm")
    done = subprocess.run(
        ["java", "-cp", tc.classpath(harness, classes, stub_classes, tc.kotlin_runtime_jars()), "ModelStoreHarnessKt",
         str(model), str(port), str(tmp_path / "files")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = {line.split(" ", 1)[0]: line.split(" ")[1:] for line in done.stdout.splitlines()}
    size = model.stat().st_size
    assert lines["fresh"] == ["ok"]
    assert lines["tampered"] == ["ModelIntegrityException", "false", "ok"]
    assert lines["fullpart"] == ["ok", "0"]  # no Range past the end was asked for
    assert lines["wronginstalled"] == ["ok", "ok"]
    assert lines["resumed"] == ["ok", f"bytes={size // 2}-"]
    # The memory gate refuses before any byte is fetched, and lets a user's explicit choice through.
    assert lines["gate"] == ["refused", "false", "past-gate", "true"]
    # ...and says which stage it is in, in order (a progress screen shows them).
    assert lines["stages"] == ["CHECKING_MEMORY", "CHECKING_MEMORY,FETCHING_MODEL,CHECKING_MEMORY,LOADING"]
    assert (tmp_path / "files" / "models" / model.name).read_bytes() == model.read_bytes()


def test_sideload_delivery_documents_adb_push(project, tmp_path):
    root = _render_with_delivery(project, tmp_path / "side", "sideload", None)
    readme = (root / "README.md").read_text()
    assert "adb push model/" in readme and f"/sdcard/Android/data/{PACKAGE}/files/models/" in readme
    assert "ModelDelivery.SIDELOAD" in (root / "llm/src/main/kotlin/com/example/demo/llm/ModelInfo.kt").read_text()


# --- names from the user cannot break out ----------------------------------------------------

HOSTILE_APP_NAME = 'Chat "quoted" $HOME ${x} \\n back\\slash <b>&amp;</b> \'single\' 🙂 ünï\nsecond line'
HOSTILE_MODEL_DIR = 'we"ird $model \\ ${name} \'q\' ünï'


@pytest.fixture(scope="module")
def hostile_project(demo_model, tmp_path_factory, cache_dir):
    models = tmp_path_factory.mktemp("hostile-models")
    model = models / HOSTILE_MODEL_DIR
    shutil.copytree(demo_model, model)
    return generate(model, tmp_path_factory.mktemp("hostile") / "out", cache_dir, app_name=HOSTILE_APP_NAME)


def test_hostile_names_compile_and_round_trip_exactly(hostile_project, stub_classes, tmp_path):
    root = hostile_project.path
    classes = tc.compile_project(root, PACKAGE, stub_classes, tmp_path)
    probe = tmp_path / "Probe.kt"
    probe.write_text(
        "import com.example.demo.llm.ModelInfo\n"
        "import com.example.demo.llm.ChatFormat\n"
        "fun main() {\n"
        "    print(ModelInfo.MODEL_NAME + \"\\u0000\" + ChatFormat.MODEL.formatUserTurn(\"Hello\"))\n"
        "}\n"
    )
    tc.compile_kotlin([probe], tmp_path / "probe", tc.classpath(classes, tc.kotlin_runtime_jars()))
    import subprocess

    printed = subprocess.run(
        ["java", "-cp", tc.classpath(tmp_path / "probe", classes, tc.kotlin_runtime_jars()), "ProbeKt"],
        capture_output=True, text=True, check=True,
    ).stdout
    model_name, turn = printed.split("\0")
    assert model_name == HOSTILE_MODEL_DIR
    assert turn == "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"


def test_hostile_names_in_resources_gradle_yaml_and_toml(hostile_project, tmp_path):
    root = hostile_project.path
    tc.link_resources(root / "app/src/main/AndroidManifest.xml", root / "app/src/main/res", PACKAGE, tmp_path / "app")
    problems = [p for path in sorted(root.rglob("*.kts")) for p in tc.tree_sitter_errors(path, "kotlin")]
    assert problems == []
    settings = (root / "settings.gradle.kts").read_text()
    assert re.search(r'rootProject.name = "[A-Za-z0-9-]+"', settings)
    yaml.safe_load((root / ".github/workflows/android.yml").read_text())
    toml = tomllib.loads((root / "sdkgen.toml").read_text())
    assert toml["model"]["name"] == HOSTILE_MODEL_DIR
    # Android string resources: the escaped text must decode back to the name exactly.
    strings = (root / "app/src/main/res/values/strings.xml").read_text()
    raw = re.search(r'<string name="app_name"[^>]*>(.*)</string>', strings).group(1)
    import html

    unescaped = html.unescape(raw)
    decoded = re.sub(r"\\(u[0-9a-fA-F]{4}|.)",
                     lambda m: chr(int(m.group(1)[1:], 16)) if len(m.group(1)) == 5
                     else {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), unescaped)
    assert decoded == HOSTILE_APP_NAME


@pytest.mark.parametrize(
    "package, problem",
    [
        ("com", "at least two"),
        ("1com.example", "start with a letter"),
        ("com.example.class", "keyword"),
        ("com.exa-mple", "only letters"),
        ("com..example", "start with a letter"),
        ("com.exämple", "only letters"),
        ("com.example;rm -rf", "only letters"),
        ("com.example\n.x", "only letters"),
    ],
)
def test_invalid_package_is_refused_before_any_work(demo_model, tmp_path, cache_dir, package, problem):
    before = tree_snapshot(cache_dir)
    result = run_cli("android", "--model", str(demo_model), "--profile", "pixel8", "--package", package, "-o", str(tmp_path / "o"))
    assert result.code == 2 and len(result.stderr_lines) == 1
    assert "invalid --package" in result.stderr and problem in result.stderr
    assert not (tmp_path / "o").exists() and tree_snapshot(cache_dir) == before


def test_ios_profile_is_refused(demo_model, tmp_path):
    result = run_cli("android", "--model", str(demo_model), "--profile", "iphone15pro", "-o", str(tmp_path / "o"))
    assert result.code == 2 and "an iOS device profile" in result.stderr and "an Android profile" in result.stderr


def test_bad_model_url_is_refused(demo_model, tmp_path):
    result = run_cli("android", "--model", str(demo_model), "--profile", "pixel8", "--model-url", "ftp://x y",
                     "-o", str(tmp_path / "o"))
    assert result.code == 2 and "--model-url" in result.stderr


def test_existing_output_needs_force(project, demo_model, cache_dir):
    result = run_cli("android", "--model", str(demo_model), "--profile", "pixel8", "--package", PACKAGE, "-o", str(project.path))
    assert result.code == 2 and "--force" in result.stderr
    replaced = run_cli("android", "--model", str(demo_model), "--profile", "pixel8", "--package", PACKAGE,
                       "-o", str(project.path), "--force", "--no-verify", "--json")
    assert replaced.code == 0, replaced.stderr
    assert json.loads(replaced.stdout)["project"]["path"] == str(project.path)
    siblings = sorted(p.name for p in project.path.parent.iterdir())
    assert siblings == [project.path.name]  # no staging or retired folders left beside it


def test_tables_name_the_project_and_the_delivery(demo_model, tmp_path, cache_dir):
    result = run_cli("android", "--model", str(demo_model), "--profile", "pixel8", "--package", PACKAGE,
                     "-o", str(tmp_path / "App"), "--no-verify")
    assert result.code == 0, result.stderr
    assert "Generated Android project (gradle)" in result.stdout and "bundled in the app" in result.stdout
    assert "Memory budget" in result.stdout


def test_each_command_prepares_its_job_once(demo_model, tmp_path, monkeypatch):
    """Validating and planning a request runs once per command: the early output check and the
    conversion share one prepared job."""
    from sdk_gen import conversion
    from sdk_gen import project as project_module

    prepared = []
    prepare = conversion.prepare_job

    def counted(request):
        prepared.append(request)
        return prepare(request)

    monkeypatch.setattr(conversion, "prepare_job", counted)
    monkeypatch.setattr(project_module, "prepare_job", counted)
    request = ConversionRequest(model=str(demo_model), profile="pixel8", runtime="llamacpp", quant="f16", context=256,
                                verify=False)
    generate_project(ProjectRequest("android", request, ProjectOptions(app_id=PACKAGE), tmp_path / "App"))
    assert len(prepared) == 1

    prepared.clear()
    converted = run_cli("convert", "--model", str(demo_model), "--profile", "pixel8", "--runtime", "llamacpp",
                        "--quant", "f16", "--context", "256", "--no-verify", "-o", str(tmp_path / "artifact"))
    assert converted.code == 0, converted.stderr
    assert len(prepared) == 1


def test_chat_sampling_comes_from_the_model_and_smoke_tests_stay_greedy(project, tmp_path):
    from sdk_gen.formats.base import DEFAULT_CHAT_SAMPLER, chat_sampler

    assert chat_sampler(tmp_path) == DEFAULT_CHAT_SAMPLER  # no generation_config.json
    (tmp_path / "generation_config.json").write_text(json.dumps({"do_sample": True, "temperature": 0.6, "top_p": 0.9}))
    assert chat_sampler(tmp_path) == {"top_k": 40, "top_p": 0.9, "temperature": 0.6,
                                      "source": "the model's generation_config.json"}
    # transformers saves "do_sample": false in every config: not a reason to chat greedily.
    (tmp_path / "generation_config.json").write_text(json.dumps({"do_sample": False, "bos_token_id": 0}))
    assert chat_sampler(tmp_path) == DEFAULT_CHAT_SAMPLER
    (tmp_path / "generation_config.json").write_text('{"temperature": NaN, "top_k": true, "top_p": 7}')
    assert chat_sampler(tmp_path) == {**DEFAULT_CHAT_SAMPLER, "source": "the model's generation_config.json"}
    # The generated app chats with sampling; its smoke test asks for greedy itself.
    info = next(project.path.rglob("ModelInfo.kt")).read_text()
    assert "const val TEMPERATURE: Double = 0.8" in info and "const val TOP_K: Int = 40" in info
    smoke = next(project.path.rglob("SmokeTest.kt")).read_text()
    assert "topK = 1, temperature = 0.0" in smoke
