"""`sdkgen ios --runtime executorch`: the ExecuTorch engine in the app target, ExecuTorch's Swift
package pinned by its swiftpm-<version> branch in project.yml, and the generated Swift compiled with a
real Swift 6 against stubs of ExecuTorch's Swift API (tests/stubs/swift/ExecuTorch*), its XCTests run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

import android_toolchain as tc
import swift_toolchain as st
from conftest import REPO, run_cli
from sdk_gen import pins
from sdk_gen.runtimes.executorch.phone import EXECUTORCH
from test_ios import SCHEMA
from test_swift import COMMON_TESTS, assert_tests_passed

OVERLAY = REPO / "templates/engines/executorch/xcodegen"
TARGET = EXECUTORCH.target("xcodegen")
# What the app links: the runtime and its LLM runner, XNNPACK, the LLM custom ops, the CPU and the
# quantized kernels (ExecuTorch's docs, docs/source/using-executorch-ios.md).
PRODUCTS = {"executorch", "executorch_llm", "backend_xnnpack", "kernels_llm", "kernels_optimized", "kernels_quantized"}
ENGINE_TESTS = {
    "testASpecialTokenEndsTheReplyUnseen", "testARunOfTokensLostInsideACharacterShowsOnce",
    "testSpecialTokenTextsComeFromTheTokenizer", "testTokenizerFilesAreWrittenOnceAndReplacedWhenStale",
}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """One artifact cache for the module: the conversion runs once."""
    return tmp_path_factory.mktemp("executorch-ios-cache")


@pytest.fixture(autouse=True)
def _cache_env(cache_dir, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(cache_dir))


@pytest.fixture(scope="module")
def project(demo_model, tmp_path_factory, cache_dir) -> Path:
    # The module-scoped cache needs the variable set here too (the autouse fixture is per test).
    patch = pytest.MonkeyPatch()
    patch.setenv("SDKGEN_CACHE_DIR", str(cache_dir))
    out = tmp_path_factory.mktemp("et-ios") / "DemoChat"
    try:
        # The .pte's agreement with PyTorch is tests/test_executorch.py's subject: not verified again.
        result = run_cli("ios", "--model", str(demo_model), "--profile", "iphone15pro", "--runtime", "executorch",
                         "--quant", "8da4w", "--context", "256", "--app-name", "Demo Chat", "--no-verify", "-o", str(out))
    finally:
        patch.undo()
    assert result.code == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def swift() -> st.Swift:
    return st.swift()


# --- the engine's facts and overlay (no conversion) ---------------------------------------------


def test_the_ios_target_is_the_host_release_pinned_by_branch():
    assert TARGET.class_name == "ExecuTorchEngine"
    # The phone package is the release whose Python runtime exported and verified the .pte.
    assert TARGET.runtime_version == pins.EXECUTORCH_IOS == pins.EXECUTORCH_HOST
    # ExecuTorch's Package.swift (swiftpm-1.4.1 and the 1.5.0 nightlies) declares `.iOS(.v17)`.
    assert TARGET.min_os == "17.0"
    # Not a LLMKit dependency: Package.swift could only pin it `exact:` (a tag whose manifest wants
    # locally built frameworks); project.yml adds it to the app by branch instead.
    assert not TARGET.uses("swiftpm") and not TARGET.host_smoke_test
    hook = (OVERLAY / "_hooks/project-packages.yml.j2").read_text()
    assert "branch: swiftpm-{{ engine.runtime_version }}" in hook
    assert "url: https://github.com/pytorch/executorch.git" in hook


def test_the_engine_reads_the_tokenizer_methods_the_export_writes():
    from sdk_gen.runtimes.executorch.export import TOKENIZER_METHODS

    engine = (OVERLAY / "App/Sources/ExecuTorchEngine.swift.j2").read_text()
    table = dict(re.findall(r'"([\w.]+\.json)": "(sdkgen_\w+)"', engine))
    assert table == {name: TOKENIZER_METHODS[name] for name in ("tokenizer.json", "tokenizer_config.json")}


def test_the_stubs_name_the_upstream_they_mirror():
    for name in ("ExecuTorch", "ExecuTorchLLM"):
        text = (REPO / f"tests/stubs/swift/{name}/{name}.swift").read_text()
        assert "v1.4.1 (e4d02f41f790)" in text and "cff6f4dd32e6" in text, name
    readme = (REPO / "tests/stubs/swift/README.md").read_text()
    assert "ExecuTorch" in readme


# --- the generated project ----------------------------------------------------------------------


@pytest.mark.slow
def test_project_yml_adds_executorch_to_the_app_by_branch(project):
    spec = yaml.safe_load((project / "project.yml").read_text())
    jsonschema.validate(spec, SCHEMA)  # XcodeGen's package `branch` and dependency `product` keys included
    assert spec["packages"]["executorch"] == {"url": "https://github.com/pytorch/executorch.git",
                                              "branch": f"swiftpm-{pins.EXECUTORCH_IOS}"}
    app = spec["targets"]["DemoChat"]
    linked = {d["product"] for d in app["dependencies"] if d.get("package") == "executorch"}
    assert linked == PRODUCTS
    assert {"package": "LLMKit"} in app["dependencies"]
    # Kernels and backends register from static initialisers: the linker must keep them.
    assert "-all_load" in app["settings"]["base"]["OTHER_LDFLAGS"]
    assert spec["options"]["deploymentTarget"]["iOS"] == TARGET.min_os
    # LLMKit itself stays free of ExecuTorch (its `swift test` needs no ExecuTorch).
    package = (project / "Package.swift").read_text()
    assert "executorch" not in package.lower() and f'.iOS("{TARGET.min_os}")' in package
    assert (project / "App/Sources/ExecuTorchEngine.swift").is_file()
    assert (project / "App/Resources/demo-8da4w.pte").is_file()
    readme = (project / "README.md").read_text()
    assert f"swiftpm-{pins.EXECUTORCH_IOS}" in readme and f"Minimum iOS: {TARGET.min_os}" in readme


@pytest.mark.slow
def test_the_workflow_builds_and_tests_the_app(project):
    workflow = yaml.safe_load((project / ".github/workflows/ios.yml").read_text())
    jobs = workflow["jobs"]
    assert set(jobs) == {"sdk-tests", "app"}
    assert any(step.get("run") == "swift test" for step in jobs["sdk-tests"]["steps"])
    app_steps = " ".join(str(step.get("run", "")) for step in jobs["app"]["steps"])
    # XcodeGen writes the project, whose package reference Xcode resolves to the swiftpm branch.
    assert "xcodegen generate" in app_steps and "xcodebuild test" in app_steps
    assert "-project DemoChat.xcodeproj" in app_steps and "iOS Simulator" in app_steps


@pytest.mark.slow
def test_the_swift_parses(project):
    files = [project / "App/Sources/ExecuTorchEngine.swift", project / "Sources/LLMKit/ExecuTorchText.swift",
             project / "Tests/LLMKitTests/ExecuTorchTextTests.swift", project / "App/Sources/EngineFactory.swift"]
    assert [problem for path in files for problem in tc.tree_sitter_errors(path, "swift")] == []
    assert "ExecuTorchEngine(modelURL: modelURL" in (project / "App/Sources/EngineFactory.swift").read_text()


@pytest.mark.slow
def test_executorch_variant_compiles_and_its_tests_pass(project, swift):
    work = swift.workdir()
    try:
        st.write_check_package(project, work, "executorch")
        out = swift.check(["swift", "build"], work, "swift build")
        assert "Build complete!" in out and "error:" not in out
        # ExecuTorch's runner classes are marked experimental upstream: those are the only warnings.
        warnings = {line.split("warning:", 1)[1].strip() for line in out.splitlines() if "warning:" in line}
        assert warnings <= {"'TextRunner' is deprecated: This API is experimental.",
                            "'Config' is deprecated: This API is experimental."}, warnings
        assert_tests_passed(swift.run(["swift", "test"], work), COMMON_TESTS | ENGINE_TESTS)

        # The stubs hold the engine to ExecuTorch's real names: the Objective-C property name where
        # Swift sees its `is...` getter, or an unqualified `Error` (ExecuTorch's own type shadows
        # Swift's), does not compile.
        engine = work / "App/ExecuTorchEngine.swift"
        original = engine.read_text()
        for right, wrong in (("$0.isEchoEnabled", "$0.echoEnabled"),
                             ("AsyncThrowingStream<String, Swift.Error>", "AsyncThrowingStream<String, Error>")):
            assert right in original
            engine.write_text(original.replace(right, wrong, 1))
            done = swift.run(["swift", "build"], work)
            assert done.returncode != 0 and "error:" in done.stdout + done.stderr
        # An NFC model's engine (the template's other branch) normalizes the turn with Foundation's
        # precomposedStringWithCanonicalMapping, which Linux Foundation has too.
        plain, nfc = "return (runner, turn, stopTexts)", "return (runner, turn.precomposedStringWithCanonicalMapping, stopTexts)"
        assert plain in original and "Normalization" not in original and "precomposed" not in original
        assert nfc in (OVERLAY / "App/Sources/ExecuTorchEngine.swift.j2").read_text()
        engine.write_text(original.replace(plain, nfc, 1))
        out = swift.check(["swift", "build"], work, "swift build (NFC)")
        assert "Build complete!" in out and "error:" not in out
        engine.write_text(original)
    finally:
        st.remove_workdir(work)
