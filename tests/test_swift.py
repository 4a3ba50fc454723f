"""Generated Swift meets a real compiler: Swift 6.0.3 (scripts/install-swift.sh) builds the
generated SDK and the app's engine and model code against tests/stubs/swift, and runs the
generated XCTests with `swift test`.

Every variant is checked as one SwiftPM package (tests/swift_toolchain.py): Sources/LLMKit, the
app's *Engine*.swift, EngineFactory.swift and ChatModel.swift, and Tests/LLMKitTests. ChatView.swift
and ChatApp.swift are SwiftUI views and stay parse-only (tests/test_ios.py): SwiftUI exists only in
Apple's SDKs. For llama.cpp, LLMKit links the real libllama from the installed llama-cpp-python
wheel (headers from the pinned sdist), so the generated smoke test runs the GGUF.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import android_toolchain as tc
import swift_toolchain as st
from conftest import REPO
from sdk_gen.conversion import ConversionRequest
from sdk_gen.formats.base import ProjectOptions
from sdk_gen.project import ProjectRequest, generate_project
from sdk_gen.runtimes.llamacpp import toolchain as llama_toolchain
from sdk_gen.verify import StopRule

BUNDLE_ID = "com.example.demo"
INSTALL = REPO / "scripts" / "install-swift.sh"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("swift-cache")


@pytest.fixture(autouse=True)
def _cache_env(cache_dir, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(cache_dir))


@pytest.fixture(scope="session")
def swift() -> st.Swift:
    return st.swift()


def generate(model: Path, out: Path, cache: Path, app_name: str = "Demo Chat", **conversion):
    request = ConversionRequest(model=str(model), profile="iphone15pro", cache_dir=cache, **conversion)
    options = ProjectOptions(app_id=BUNDLE_ID, app_name=app_name, model_url=None)
    return generate_project(ProjectRequest("ios", request, options, out))


class Checked:
    """A generated project written as a package Swift on Linux builds (removed after the test)."""

    def __init__(self, swift: st.Swift, project: Path, engine: str, with_tests: bool = True):
        self.swift = swift
        self.dir = swift.workdir()
        st.write_check_package(project, self.dir, engine, llama_toolchain.include_dirs(),
                               llama_toolchain.library_dir(), with_tests=with_tests)

    def build(self) -> str:
        out = self.swift.check(["swift", "build"], self.dir, "swift build")
        assert "Build complete!" in out and "error:" not in out
        return out

    def test(self, *args: str) -> subprocess.CompletedProcess:
        return self.swift.run(["swift", "test", *args], self.dir)

    def close(self):
        st.remove_workdir(self.dir)


@pytest.fixture
def checked(swift):
    made = []

    def make(project: Path, engine: str, with_tests: bool = True) -> Checked:
        made.append(Checked(swift, project, engine, with_tests))
        return made[-1]

    yield make
    for item in made:
        item.close()


def passed_tests(output: str) -> set[str]:
    return set(re.findall(r"Test Case '(?:-\[)?[\w.]+[. ](\w+)\]?' passed", output))


def assert_tests_passed(done: subprocess.CompletedProcess, expected: set[str]) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    missing = expected - passed_tests(output)
    assert not missing, f"these XCTests did not pass: {sorted(missing)}\n{output[-4000:]}"


# --- the toolchain itself -----------------------------------------------------------------------


def test_install_script_passes_shellcheck():
    assert tc.shellcheck_errors(INSTALL) == ""
    assert INSTALL.stat().st_mode & 0o111
    assert "set -euo pipefail" in INSTALL.read_text()


def test_install_script_rerun_only_checks_and_never_mounts_twice(swift):
    def mounts() -> list[str]:
        return [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]

    done = subprocess.run([str(INSTALL)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    before = mounts()
    done = subprocess.run([str(INSTALL)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ready: Swift version 6." in done.stdout and "installing" not in done.stdout
    assert mounts() == before
    if swift.root is not None:
        for name in ("proc", "sys", "dev"):
            assert mounts().count(str(swift.root / name)) == 1, name
    where = subprocess.run([str(INSTALL), "--where"], capture_output=True, text=True)
    assert where.stdout.strip() == ("native" if swift.root is None else str(swift.root))


def test_the_compiler_does_find_errors(swift, tmp_path):
    work = swift.workdir()
    try:
        (work / "Broken.swift").write_text("let x: Int = \"not a number\"\n")
        done = swift.run(["swiftc", "-typecheck", "Broken.swift"], work)
        assert done.returncode != 0 and "error:" in done.stderr
    finally:
        st.remove_workdir(work)


# --- every variant compiles, and its XCTests run ------------------------------------------------

COMMON_TESTS = {
    "testAUserTurnIsWrappedForTheReply", "testTheModelFormatMatchesItsChatTemplate",
    "testALaterTurnClosesTheReplyAndSkipsWhatOnlyTheFirstTurnWrites",
    "testTheBundledPlanIsTheGeneratedOne", "testTheThresholdIsInclusive", "testTheThresholdKeepsTheSafetyMargin",
    "testNoJetsamLimitFallsBackToHalfThePhysicalMemory", "testCheckThrowsATypedErrorTheAppCanShow",
    "testTheAppsOwnFootprintIsNotCountedTwice",
    "testSHA256MatchesAKnownDigest", "testTheRightFileIsAccepted", "testATamperedFileIsRefused",
    "testTheVerifiedMarkerIsKeptOutsideTheModelsFolder",
}
UTF8_TESTS = {
    "testACharacterSplitAcrossTokensWaitsForItsLastByte", "testMalformedBytesDoNotHoldTheStreamBack",
    "testAnUnfinishedCharacterAtTheEndIsFlushed", "testSplittingAnywhereDecodesLikeTheWholeStream",
}
BUNDLE_TESTS = {"testOnlyTheWeightsFolderIsUnpacked", "testEntriesThatClimbOutAreRefused", "testATruncatedBundleIsAnError"}


@pytest.fixture(scope="module")
def litertlm_project(demo_model, tmp_path_factory, cache_dir):
    return generate(demo_model, tmp_path_factory.mktemp("sw-litertlm") / "DemoChat", cache_dir)


@pytest.fixture(scope="module")
def llamacpp_project(demo_model, tmp_path_factory, cache_dir):
    return generate(demo_model, tmp_path_factory.mktemp("sw-llama") / "DemoChat", cache_dir,
                    runtime="llamacpp", quant="f16", context=256, verify=False)


@pytest.mark.slow
def test_litertlm_variant_compiles_and_its_tests_pass(litertlm_project, checked):
    root = litertlm_project.path
    assert (root / "Sources/LLMKit/LiteRTLMEngine.swift").is_file()
    package = checked(root, "litertlm")
    package.build()
    # The smoke test would load the .litertlm with LiteRT-LM, which has no Linux build of its Swift
    # package (the stub cannot run it): it runs in the generated CI's `swift test` on macOS.
    assert_tests_passed(package.test("--skip", "SmokeTests"), COMMON_TESTS)


@pytest.mark.slow
def test_llamacpp_variant_compiles_and_its_tests_pass_with_real_llama_cpp(llamacpp_project, checked):
    root = llamacpp_project.path
    package = checked(root, "llamacpp")
    package.build()
    done = package.test()
    # SmokeTests loads the bundled GGUF through the real libllama and generates 8 pieces.
    assert_tests_passed(done, COMMON_TESTS | UTF8_TESTS | {"testLoadsTheModelAndGeneratesTokens"})
    assert "SDKGEN_SMOKE model=demo pieces=8" in done.stdout


@pytest.mark.slow
def test_mediapipe_variant_compiles_and_its_tests_pass(demo_model, tmp_path, cache_dir, checked):
    result = generate(demo_model, tmp_path / "mp", cache_dir, artifact_format="task")
    root = result.path
    assert (root / "App/Sources/MediaPipeLLMEngine.swift").is_file()
    package = checked(root, "mediapipe")
    package.build()
    assert_tests_passed(package.test(), COMMON_TESTS)


@pytest.mark.slow
def test_mlc_variant_compiles_and_its_tests_pass(demo_model, tmp_path, checked):
    from sdk_gen.project import render_project
    from test_mlc import mlc_result

    result = mlc_result(demo_model, "ios", tmp_path / "mlc")
    project = render_project("ios", result, ProjectOptions(app_id=BUNDLE_ID, app_name="Demo Chat"), tmp_path / "DemoChat")
    root = project.path
    assert (root / "App/Sources/MlcEngine.swift").is_file()
    package = checked(root, "mlc")
    package.build()
    assert_tests_passed(package.test(), COMMON_TESTS | BUNDLE_TESTS)


@pytest.mark.slow
def test_a_broken_threshold_fails_the_generated_tests(llamacpp_project, tmp_path, checked):
    """The memory XCTests check the plan they ship with: one byte off and `swift test` fails."""
    root = tmp_path / "broken"
    shutil.copytree(llamacpp_project.path, root)
    plan_path = root / "Sources/LLMKit/Resources/MemoryPlan.json"
    plan = json.loads(plan_path.read_text())
    plan["min_available_bytes"] += 1
    plan_path.write_text(json.dumps(plan))
    package = checked(root, "llamacpp")
    done = package.test("--filter", "MemoryGuardTests")
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert re.search(r"testTheBundledPlanIsTheGeneratedOne.*failed", output), output[-4000:]
    assert "testTheThresholdIsInclusive" in passed_tests(output)  # the rest still runs


# --- names from the user compile and read back exactly ---------------------------------------

HOSTILE_APP_NAME = 'Chat "quoted" \\(injected) $x \\ back\\slash <b>&amp;</b> \'s\' 🙂 ünï\nsecond line'
HOSTILE_MODEL_DIR = 'we"ird \\(model) $x \\ ünï'

READ_BACK = """\
import Foundation
import XCTest
@testable import LLMKit

final class SDKGenReadBackTests: XCTestCase {
    func testWriteTheNamesForPython() throws {
        let names = ["modelName": ModelInfo.modelName, "fileName": ModelInfo.fileName]
        let data = try JSONSerialization.data(withJSONObject: names)
        try data.write(to: URL(fileURLWithPath: "names.json"))
    }
}
"""


@pytest.mark.slow
def test_hostile_names_compile_and_read_back(demo_model, tmp_path, cache_dir, checked):
    model = tmp_path / HOSTILE_MODEL_DIR
    shutil.copytree(demo_model, model)
    result = generate(model, tmp_path / "out", cache_dir, app_name=HOSTILE_APP_NAME,
                      runtime="llamacpp", quant="f16", context=256, verify=False)
    package = checked(result.path, "llamacpp")
    (package.dir / "Tests/LLMKitTests/SDKGenReadBackTests.swift").write_text(READ_BACK)
    package.build()
    assert_tests_passed(package.test("--filter", "SDKGenReadBackTests"), {"testWriteTheNamesForPython"})
    names = json.loads((package.dir / "names.json").read_text())
    assert names["modelName"] == HOSTILE_MODEL_DIR


# --- the Package.swift manifest ------------------------------------------------------------


def render_with_ios(project, ios_version: str, out: Path, monkeypatch) -> Path:
    """The same conversion rendered as if its runtime needed iOS `ios_version` (the deployment
    target is the runtime's minimum)."""
    from dataclasses import replace

    from sdk_gen.project import render_files

    engine = project.generation.engine
    engine = replace(engine, targets=tuple(replace(t, min_os=ios_version) for t in engine.targets))
    generation = replace(project.generation, engine=engine)
    render_files(generation, out)
    return out


@pytest.mark.parametrize("ios_version", ["17.0", "18.0", "18.2"])
def test_package_manifest_loads_for_every_deployment_target(llamacpp_project, swift, ios_version, tmp_path, monkeypatch):
    """SwiftPM itself reads the generated Package.swift: `.iOS(.v18)` under tools 5.9 did not load."""
    out = render_with_ios(llamacpp_project, ios_version, tmp_path / "p", monkeypatch)
    work = swift.workdir()
    try:
        shutil.copy2(out / "Package.swift", work / "Package.swift")
        for folder in ("Sources/LLMKit", "Tests/LLMKitTests"):
            (work / folder).mkdir(parents=True)
        done = swift.run(["swift", "package", "dump-package"], work)
        assert done.returncode == 0, done.stderr[-4000:]
        dump = json.loads(done.stdout)
    finally:
        st.remove_workdir(work)
    platforms = {p["platformName"]: p["version"] for p in dump["platforms"]}
    assert platforms["ios"] == ios_version and platforms["macos"] == "13.3"


# --- the llama.cpp XCFramework script ----------------------------------------------------------


def run_xcframework_script(project: Path, tmp_path: Path, deployment: str | None = None) -> tuple[subprocess.CompletedProcess, str]:
    """Runs the generated scripts/build-llama-xcframework.sh up to llama.cpp's own build script, with
    the pinned sdist from the local cache and stand-ins for macOS's `shasum`, and a `sysctl` (the
    first command llama.cpp's script runs) that records how that script was called, then stops it."""
    root = tmp_path / "p"
    shutil.copytree(project, root, ignore=shutil.ignore_patterns("*.gguf"))
    script = root / "scripts/build-llama-xcframework.sh"
    if deployment:
        target = yaml_deployment(root)
        script.write_text(script.read_text().replace(f'"{target}"', f'"{deployment}"').replace(f"iOS {target}", f"iOS {deployment}"))
    shims = tmp_path / "bin"
    shims.mkdir()
    log = tmp_path / "called"
    (shims / "curl").write_text(f'#!/bin/sh\nwhile [ "$1" != "-o" ]; do shift; done\ncp "{llama_toolchain.sdist_path()}" "$2"\n')
    (shims / "shasum").write_text('#!/bin/sh\nexec sha256sum --check\n')
    (shims / "sysctl").write_text(f'#!/bin/sh\ntr "\\0" " " < /proc/$PPID/cmdline > "{log}"\nkill -TERM $PPID\nexit 1\n')
    for shim in shims.iterdir():
        shim.chmod(0o755)
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PATH": f"{shims}:/usr/bin:/bin"})
    return done, log.read_text() if log.exists() else ""


def yaml_deployment(root: Path) -> str:
    return yaml.safe_load((root / "project.yml").read_text())["options"]["deploymentTarget"]["iOS"]


def test_xcframework_script_builds_only_ios_simulator_and_macos(llamacpp_project, tmp_path):
    root = llamacpp_project.path
    minimum = re.search(r"^IOS_MIN_OS_VERSION=(\S+)$", (llama_toolchain.llama_cpp_dir() / "build-xcframework.sh").read_text(), re.M)
    deployment = yaml_deployment(root)
    # The project declares an iOS llama.cpp's framework supports.
    assert tuple(map(int, deployment.split("."))) >= tuple(map(int, minimum.group(1).split(".")))
    done, called = run_xcframework_script(root, tmp_path)
    assert called.split()[1:] == ["./build-xcframework.sh", "ios-device", "ios-sim", "macos"], (called, done.stderr[-2000:])


def test_xcframework_script_refuses_a_project_below_llama_cpp_s_minimum(llamacpp_project, tmp_path):
    done, called = run_xcframework_script(llamacpp_project.path, tmp_path, deployment="15.0")
    assert done.returncode == 1 and called == ""
    assert "above this project's iOS 15.0" in done.stderr


# --- LlamaCppEngine.swift on real llama.cpp ------------------------------------------------------
# As tests/test_llamacpp.py does for the Kotlin engine over its JNI bridge: the generated Swift
# engine, built against the wheel's libllama.so, runs the f16 GGUF here.

HARNESS = """\
import Foundation
import XCTest
@testable import LLMKit

final class SDKGenLlamaHarness: XCTestCase {
    private func collect(_ stream: AsyncThrowingStream<String, Error>, stopAfter: Int = Int.max) async throws -> [String] {
        var pieces: [String] = []
        for try await piece in stream {
            pieces.append(piece)
            if pieces.count >= stopAfter {
                break
            }
        }
        return pieces
    }

    func testDriveTheEngine() async throws {
        let input = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "harness-input.json"))) as! [String: Any]
        let settings = EngineSettings(maxTokens: input["context"] as! Int, useGPU: false, cpuThreads: 2, topK: 1, topP: 1, temperature: 0)
        let engine = LlamaCppEngine(modelURL: URL(fileURLWithPath: input["model"] as! String), settings: settings)
        try await engine.load()
        var greedy: [[String: [Int]]] = []
        for prompt in input["prompts"] as! [String] {
            let ids = try await engine.tokenize(prompt)
            let generated = try await engine.generateTokens(ids, maxTokens: input["steps"] as! Int)
            greedy.append(["ids": ids.map { Int($0) }, "generated": generated.map { Int($0) }])
        }
        let chat = input["chat"] as! String
        let full = try await collect(engine.generate(chat)).joined()
        // The conversation goes on until the context is full: then a typed error, and a new chat
        // (reset) starts clean.
        var turns = 1
        var contextFull = false
        while turns < 100 {
            do {
                _ = try await collect(engine.generate("And then?"))
                turns += 1
            } catch LLMError.contextFull {
                contextFull = true
                break
            }
        }
        try await engine.reset()
        // A consumer that stops early cancels the generation; the engine must stay usable after.
        let first = try await collect(engine.generate(chat), stopAfter: 2)
        try await engine.reset()
        let again = try await collect(engine.generate(chat)).joined()
        try await engine.reset()
        // Cancelling the Task that iterates (what the app's Stop button does), then sending at once.
        let stopped = Task {
            try await self.collect(engine.generate(chat))
        }
        stopped.cancel()
        _ = try? await stopped.value
        try await engine.reset()
        let resent = try await collect(engine.generate(chat)).joined()
        await engine.close()
        let output: [String: Any] = ["greedy": greedy, "full": full, "first": first, "again": again, "resent": resent,
                                     "contextFull": contextFull, "turns": turns]
        try JSONSerialization.data(withJSONObject: output).write(to: URL(fileURLWithPath: "harness-output.json"))
    }
}
"""


@pytest.mark.slow
def test_llamacpp_engine_generates_what_llama_cpp_does(llamacpp_project, demo_model, checked):
    from sdk_gen.runtimes.llamacpp.checks import greedy as llama_greedy
    from sdk_gen.runtimes.llamacpp.checks import open_model
    from sdk_gen.verify import TorchReference

    root = llamacpp_project.path
    model_file = root / "Tests/LLMKitTests/Resources/demo-f16.gguf"
    context = int(re.search(r"contextTokens = (\d+)", (root / "Sources/LLMKit/ModelInfo.swift").read_text()).group(1))
    reference = TorchReference(demo_model, "fp16-weights")
    prompts = reference.prompts()
    steps = 32
    package = checked(root, "llamacpp")
    (package.dir / "Tests/LLMKitTests/SDKGenLlamaHarness.swift").write_text(HARNESS)
    (package.dir / "harness-input.json").write_text(json.dumps({
        "model": package.swift.seen_as(package.dir / "Tests/LLMKitTests/Resources/demo-f16.gguf"),
        "context": context, "prompts": prompts, "steps": steps, "chat": "Hello",
    }))
    assert_tests_passed(package.test("--filter", "SDKGenLlamaHarness"), {"testDriveTheEngine"})
    output = json.loads((package.dir / "harness-output.json").read_text())

    import llama_cpp

    llm = open_model(model_file, context, "f16")
    vocab = llm._model.vocab
    stop = StopRule(tuple((t,) for t in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t)))
    for prompt, result in zip(prompts, output["greedy"], strict=True):
        assert result["ids"] == llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True), prompt
        assert result["ids"] == reference.encode(prompt), prompt
        assert result["generated"] == llama_greedy(llm, result["ids"], steps, stop), prompt
        assert result["generated"]
    chat_prompt = reference.tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hello"}], tokenize=False, add_generation_prompt=True
    )
    chat_ids = reference.encode(chat_prompt)
    expected_ids = llama_greedy(llm, chat_ids, context - len(chat_ids), stop)
    expected_text = llm.detokenize(expected_ids).decode("utf-8", errors="replace")
    assert output["full"] == expected_text and output["full"]
    assert len(output["first"]) == 2 and output["full"].startswith("".join(output["first"]))
    assert output["again"] == output["full"] and output["resent"] == output["full"]
    # The chat keeps its turns until the context is full, then says so with LLMError.contextFull.
    assert output["contextFull"] is True and 1 <= output["turns"] < 100
