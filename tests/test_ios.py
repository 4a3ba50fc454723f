"""`sdkgen ios`: the Swift package and the XcodeGen app, checked with the tools this machine has.

Swift files are parsed with tree-sitter-swift (zero ERROR nodes; the SwiftUI views are checked only
this way), plists round-trip through plistlib, project.yml validates against a schema this suite
owns and is read the way XcodeGen reads it, and the memory decision's thresholds are computed and
checked here from the plan. tests/test_swift.py compiles the rest with a real Swift 6 and runs the
generated XCTests.
"""

from __future__ import annotations

import json
import math
import plistlib
import re
import shutil
import tomllib
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
import yaml

import android_toolchain as tc
from conftest import PUBLISHED_CONFIGS, REPO, run_cli, tree_snapshot
from sdk_gen import pins
from sdk_gen.conversion import ConversionRequest
from sdk_gen.formats.base import ProjectOptions
from sdk_gen.formats.xcodegen import memory_fits
from sdk_gen.project import ProjectRequest, generate_project
from sdk_gen.units import human_bytes

BUNDLE_ID = "com.example.demo"
SCHEMA = json.loads((REPO / "tests/schemas/xcodegen-project.schema.json").read_text())


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ios-cache")


@pytest.fixture(autouse=True)
def _cache_env(cache_dir, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(cache_dir))


def generate(model: Path, out: Path, cache: Path, **changes):
    conversion = ConversionRequest(model=str(model), profile=changes.pop("profile", "iphone15pro"), cache_dir=cache,
                                   artifact_format=changes.pop("artifact_format", None), context=changes.pop("context", None))
    options = ProjectOptions(app_id=changes.pop("app_id", BUNDLE_ID), app_name=changes.pop("app_name", "Demo Chat"),
                             model_url=changes.pop("model_url", None))
    return generate_project(ProjectRequest("ios", conversion, options, out))


@pytest.fixture(scope="module")
def project(demo_model, tmp_path_factory, cache_dir):
    return generate(demo_model, tmp_path_factory.mktemp("ios") / "DemoChat", cache_dir)


def swift_errors(root: Path) -> list[str]:
    files = sorted(root.rglob("*.swift"))
    assert files
    return [problem for path in files for problem in tc.tree_sitter_errors(path, "swift")]


def test_the_swift_checker_does_find_errors(tmp_path):
    broken = tmp_path / "Broken.swift"
    broken.write_text("public struct X {\n    func f( {\n}\n")
    assert tc.tree_sitter_errors(broken, "swift")


def test_project_layout(project):
    root = project.path
    for relative in (
        "Package.swift", "project.yml", "App/Info.plist", "App/DemoChat.entitlements", ".github/workflows/ios.yml",
        "README.md", "sdkgen.toml", "sdkgen-report.json", "Sources/LLMKit/Resources/MemoryPlan.json",
    ):
        assert (root / relative).is_file(), relative
    for name in ("LLMEngine.swift", "LiteRTLMEngine.swift", "MemoryGuard.swift", "ModelStore.swift", "ModelIntegrity.swift",
                 "ModelInfo.swift", "ChatFormat.swift", "OnDeviceLLM.swift"):
        assert (root / "Sources/LLMKit" / name).is_file(), name
    for name in ("ChatApp.swift", "ChatView.swift", "ChatModel.swift", "EngineFactory.swift"):
        assert (root / "App/Sources" / name).is_file(), name
    assert not (root / "App/Sources/MediaPipeLLMEngine.swift").exists()
    assert not (root / "Podfile").exists()  # LiteRT-LM comes through SwiftPM
    artifact = project.conversion.job.artifact_name
    # One copy of the model in the repository: the package's smoke test reads it, the app bundles it.
    assert [p.relative_to(root).as_posix() for p in root.rglob(artifact)] == [f"Tests/LLMKitTests/Resources/{artifact}"]
    app_sources = yaml.safe_load((root / "project.yml").read_text())["targets"]["DemoChat"]["sources"]
    assert {"path": f"Tests/LLMKitTests/Resources/{artifact}", "buildPhase": "resources"} in app_sources


def test_every_swift_file_parses(project):
    assert swift_errors(project.path) == []


def test_package_pins_the_runtime(project):
    package = (project.path / "Package.swift").read_text()
    assert f'.package(url: "https://github.com/google-ai-edge/LiteRT-LM.git", exact: "{pins.LITERTLM_PHONE}")' in package
    # LiteRT-LM's package serves iOS 15: the iPhone 15 Pro profile (iOS 17) sizes the budget only.
    assert '.iOS("15.0")' in package


def test_plists_round_trip(project):
    for path in (project.path / "App/Info.plist", project.path / "App/DemoChat.entitlements"):
        data = plistlib.loads(path.read_bytes())
        assert plistlib.loads(plistlib.dumps(data)) == data
    info = plistlib.loads((project.path / "App/Info.plist").read_bytes())
    assert info["CFBundleDisplayName"] == "Demo Chat" and info["CFBundleIdentifier"] == "$(PRODUCT_BUNDLE_IDENTIFIER)"
    # The demo model fits the iPhone 15 Pro's default per-app limit: no entitlement requested.
    assert plistlib.loads((project.path / "App/DemoChat.entitlements").read_bytes()) == {}


def test_project_yml_validates_and_points_at_real_paths(project):
    spec = yaml.safe_load((project.path / "project.yml").read_text())
    jsonschema.validate(spec, SCHEMA)
    app = spec["targets"]["DemoChat"]
    for source in app["sources"]:
        assert (project.path / source["path"]).exists(), source
    assert (project.path / app["info"]["path"]).is_file() and (project.path / app["entitlements"]["path"]).is_file()
    assert app["settings"]["base"]["PRODUCT_BUNDLE_IDENTIFIER"] == BUNDLE_ID
    assert spec["packages"]["LLMKit"]["path"] == "."


def test_the_schema_rejects_a_misspelled_key(project):
    spec = yaml.safe_load((project.path / "project.yml").read_text())
    spec["targets"]["DemoChat"]["sorces"] = spec["targets"]["DemoChat"].pop("sources")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, SCHEMA)


# --- the project as XcodeGen writes it ----------------------------------------------------------
# `xcodegen generate` (yonaskolb/XcodeGen, Sources/XcodeGenKit/FileWriter.swift at 0f580363 and
# InfoPlistGenerator.swift at 1631236b) rewrites `info.path` with its defaults for the target type
# overlaid by `info.properties`, and `entitlements.path` with `entitlements.properties` alone. A key
# only in the template's file is lost when the user runs it.
XCODEGEN_INFO_DEFAULTS = {
    "CFBundleIdentifier": "$(PRODUCT_BUNDLE_IDENTIFIER)", "CFBundleInfoDictionaryVersion": "6.0",
    "CFBundleExecutable": "$(EXECUTABLE_NAME)", "CFBundleName": "$(PRODUCT_NAME)",
    "CFBundleDevelopmentRegion": "$(DEVELOPMENT_LANGUAGE)", "CFBundleShortVersionString": "1.0", "CFBundleVersion": "1",
}
XCODEGEN_PACKAGE_TYPES = {"application": "APPL", "bundle.unit-test": "BNDL", "bundle.ui-testing": "BNDL", "framework": "FMWK"}


def xcodegen_plists(root: Path) -> dict[str, dict]:
    """The plist files `xcodegen generate` writes for project.yml, by path."""
    spec = yaml.safe_load((root / "project.yml").read_text())
    written = {}
    for target in spec["targets"].values():
        if "info" in target:
            defaults = dict(XCODEGEN_INFO_DEFAULTS)
            if target["type"] in XCODEGEN_PACKAGE_TYPES:
                defaults["CFBundlePackageType"] = XCODEGEN_PACKAGE_TYPES[target["type"]]
            written[target["info"]["path"]] = {**defaults, **(target["info"].get("properties") or {})}
        if "entitlements" in target:
            written[target["entitlements"]["path"]] = dict(target["entitlements"].get("properties") or {})
    return written


def test_xcodegen_keeps_the_info_plist_keys(project):
    info = xcodegen_plists(project.path)["App/Info.plist"]
    assert info["CFBundleDisplayName"] == "Demo Chat" and info["SDKGenModelName"] == "demo"
    assert info["UILaunchScreen"] == {} and info["LSRequiresIPhoneOS"] is True
    # The file in the repository is what XcodeGen will write, so nothing changes when it runs.
    assert plistlib.loads((project.path / "App/Info.plist").read_bytes()) == info


def test_xcodegen_keeps_the_memory_entitlement(project, tmp_path):
    assert xcodegen_plists(project.path)["App/DemoChat.entitlements"] == {}
    out = render_entitled(project, tmp_path / "entitled")
    entitlements = xcodegen_plists(out)["App/DemoChat.entitlements"]
    assert entitlements == {"com.apple.developer.kernel.increased-memory-limit": True}
    assert plistlib.loads((out / "App/DemoChat.entitlements").read_bytes()) == entitlements


def test_swift_version_is_one_xcode_accepts(project):
    spec = yaml.safe_load((project.path / "project.yml").read_text())
    for target in spec["targets"].values():
        version = target.get("settings", {}).get("base", {}).get("SWIFT_VERSION")
        assert version is None or version in ("4.0", "4.2", "5.0", "6.0"), version


def test_hosted_tests_do_not_link_llmkit_a_second_time(project):
    spec = yaml.safe_load((project.path / "project.yml").read_text())
    tests = spec["targets"]["DemoChatTests"]
    assert tests["dependencies"] == [{"target": "DemoChat"}]  # the host app links LLMKit once
    assert {"package": "LLMKit"} in spec["targets"]["DemoChat"]["dependencies"]


def test_deployment_targets_agree(project):
    spec = yaml.safe_load((project.path / "project.yml").read_text())
    package = (project.path / "Package.swift").read_text()
    target = spec["options"]["deploymentTarget"]["iOS"]
    assert f'.iOS("{target}")' in package
    if (project.path / "Podfile").exists():
        assert f"platform :ios, '{target}'" in (project.path / "Podfile").read_text()


def test_workflow_runs_package_tests_and_simulator_tests(project):
    workflow = yaml.safe_load((project.path / ".github/workflows/ios.yml").read_text())
    jobs = workflow["jobs"]
    assert set(jobs) == {"sdk-tests", "app"} and all(job["runs-on"].startswith("macos") for job in jobs.values())
    assert any(step.get("run") == "swift test" for step in jobs["sdk-tests"]["steps"])
    app_steps = " ".join(str(step.get("run", "")) for step in jobs["app"]["steps"])
    assert "xcodegen generate" in app_steps and "xcodebuild test" in app_steps and "iOS Simulator" in app_steps


def test_memory_plan_thresholds(project):
    plan = json.loads((project.path / "Sources/LLMKit/Resources/MemoryPlan.json").read_text())
    report = json.loads((project.path / "sdkgen-report.json").read_text())
    actual = report["budget"]["actual"]
    assert plan["required_bytes"] == actual["total_bytes"]
    assert plan["min_available_bytes"] == math.ceil(actual["total_bytes"] / (1 - 0.1))
    # The decision MemoryGuard.swift makes with this file, at its boundary:
    assert memory_fits(plan, plan["min_available_bytes"]) and not memory_fits(plan, plan["min_available_bytes"] - 1)
    # The app is running when iOS reports what it may still allocate: the plan's overhead (its
    # baseline included) is already in that footprint and in required_bytes, so it counts once.
    credit = plan["resident_credit_bytes"]
    assert credit == report["budget"]["actual"]["overhead_bytes"] > 0
    short = plan["min_available_bytes"] - credit
    assert not memory_fits(plan, short) and memory_fits(plan, short, footprint_bytes=credit)
    assert not memory_fits(plan, short - 1, footprint_bytes=10 * credit)  # beyond the plan's overhead: spent
    # ...and it keeps the plan's margin: at the threshold the model uses 90% of what is available.
    assert plan["required_bytes"] / plan["min_available_bytes"] == pytest.approx(0.9, abs=1e-6)
    tests = (project.path / "Tests/LLMKitTests/MemoryGuardTests.swift").read_text()
    assert f"XCTAssertEqual(plan.minAvailableBytes, {plan['min_available_bytes']})" in tests


def test_readme_shows_every_budget_row(project):
    # The README renders MemoryBudget.rows(); MemoryPlan.json carries their sum (the test above).
    budget = project.generation.budget
    readme = (project.path / "README.md").read_text()
    for row in budget.rows():
        assert row.bytes > 0, row.key  # int8 on the CPU: every part, the load copy included, is in the table
        assert f"| {row.label} | {row.bytes} | {human_bytes(row.bytes)} |" in readme, row.key
    assert f"| **total** | {budget.total_bytes} |" in readme


def render_entitled(project, out: Path) -> Path:
    """The same conversion, rendered as if the plan needed the larger limit (a Phi-2 on an iPhone 15 Pro does)."""
    from sdk_gen.project import render_files

    generation = project.generation
    plan_result = generation.conversion.plan
    entitled_plan = replace(plan_result, plan=replace(plan_result.plan, memory_entitlement=True))
    conversion = replace(generation.conversion, plan=entitled_plan)
    generation = replace(generation, conversion=conversion)
    render_files(generation, out)
    return out


def test_entitlement_and_readme_when_the_plan_needs_it(project, tmp_path):
    out = render_entitled(project, tmp_path / "entitled")
    entitlements = plistlib.loads((out / "App/DemoChat.entitlements").read_bytes())
    assert entitlements == {"com.apple.developer.kernel.increased-memory-limit": True}
    readme = (out / "README.md").read_text()
    assert "needs `com.apple.developer.kernel.increased-memory-limit`" in readme and "provisioning profile" in readme
    assert json.loads((out / "Sources/LLMKit/Resources/MemoryPlan.json").read_text())["needs_increased_memory_limit"] is True


def test_phi2_plan_on_iphone15pro_needs_the_entitlement():
    from sdk_gen.model import inspect_model
    from sdk_gen.planner import PlanRequest, make_plan
    from sdk_gen.profiles import load_profile

    result = make_plan(inspect_model(PUBLISHED_CONFIGS / "phi-2"), load_profile("iphone15pro"),
                       PlanRequest(needs_platform_wrapper=True))
    assert result.plan.memory_entitlement is True


@pytest.mark.slow
def test_mediapipe_task_variant(demo_model, tmp_path, cache_dir):
    result = generate(demo_model, tmp_path / "mp", cache_dir, artifact_format="task")
    root = result.path
    assert (root / "App/Sources/MediaPipeLLMEngine.swift").is_file()
    assert not (root / "Sources/LLMKit/LiteRTLMEngine.swift").exists()
    podfile = (root / "Podfile").read_text()
    assert f"pod 'MediaPipeTasksGenAI', '{pins.MEDIAPIPE}'" in podfile and f"pod 'MediaPipeTasksGenAIC', '{pins.MEDIAPIPE}'" in podfile
    assert "LiteRT-LM" not in (root / "Package.swift").read_text()
    workflow = yaml.safe_load((root / ".github/workflows/ios.yml").read_text())
    assert "pod install" in " ".join(str(s.get("run", "")) for s in workflow["jobs"]["app"]["steps"])
    assert swift_errors(root) == []


# --- names from the user cannot break out ----------------------------------------------------

HOSTILE_APP_NAME = 'Chat "quoted" \\(injected) $x \\ back\\slash <b>&amp;</b> \'s\' 🙂 ünï\nsecond line'
HOSTILE_MODEL_DIR = 'we"ird \\(model) $x \\ ünï'


def swift_string_value(source: str, name: str) -> str:
    """The value of `static let NAME = "..."` read back with Swift's escape rules."""
    match = re.search(rf'static let {name} = "((?:[^"\\]|\\.)*)"', source)
    assert match, name
    raw = match.group(1)
    assert "\\(" not in raw.replace("\\\\", ""), "an unescaped interpolation would run code"

    def unescape(m):
        token = m.group(1)
        simple = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "0": "\0"}
        if token in simple:
            return simple[token]
        return chr(int(token[2:-1], 16))

    return re.sub(r"\\(u\{[0-9a-fA-F]+\}|.)", unescape, raw)


def test_hostile_names(demo_model, tmp_path, cache_dir):
    model = tmp_path / HOSTILE_MODEL_DIR
    shutil.copytree(demo_model, model)
    result = generate(model, tmp_path / "out", cache_dir, app_name=HOSTILE_APP_NAME)
    root = result.path
    assert swift_errors(root) == []
    info = (root / "Sources/LLMKit/ModelInfo.swift").read_text()
    assert swift_string_value(info, "modelName") == HOSTILE_MODEL_DIR
    plist = plistlib.loads((root / "App/Info.plist").read_bytes())
    assert plist["CFBundleDisplayName"] == HOSTILE_APP_NAME and plist["SDKGenModelName"] == HOSTILE_MODEL_DIR
    written = xcodegen_plists(root)["App/Info.plist"]  # what `xcodegen generate` writes from project.yml
    assert written["CFBundleDisplayName"] == HOSTILE_APP_NAME and written["SDKGenModelName"] == HOSTILE_MODEL_DIR
    spec = yaml.safe_load((root / "project.yml").read_text())
    jsonschema.validate(spec, SCHEMA)
    # The target name is also the Swift module name tests import: letters and digits only.
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", spec["name"]) and spec["name"].startswith("ChatQuoted")
    assert tomllib.loads((root / "sdkgen.toml").read_text())["model"]["name"] == HOSTILE_MODEL_DIR
    yaml.safe_load((root / ".github/workflows/ios.yml").read_text())


@pytest.mark.parametrize(
    "bundle_id",
    ["demo", "com..demo", "com.exa_mple", "com.-demo", "com.ex ample", "com.exämple", "com.example\n.x", "com.example;x"],
)
def test_invalid_bundle_id_is_refused_before_any_work(demo_model, tmp_path, cache_dir, bundle_id):
    before = tree_snapshot(cache_dir)
    result = run_cli("ios", "--model", str(demo_model), "--profile", "iphone15pro", "--bundle-id", bundle_id,
                     "-o", str(tmp_path / "o"))
    assert result.code == 2 and len(result.stderr_lines) == 1 and "invalid --bundle-id" in result.stderr
    assert not (tmp_path / "o").exists() and tree_snapshot(cache_dir) == before


def test_android_profile_is_refused(demo_model, tmp_path):
    result = run_cli("ios", "--model", str(demo_model), "--profile", "pixel8", "-o", str(tmp_path / "o"))
    assert result.code == 2 and "an Android device profile" in result.stderr and "`sdkgen ios`" in result.stderr
