"""Runtimes from other packages: installed through the `sdkgen.runtimes` entry point, they bring
their phone engine (facts and template overlay) and sdkgen generates projects around them with
no edit of its own (tests/toy_runtime is such a package)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

import android_toolchain as tc
from conftest import run_cli
from sdk_gen.runtimes.engine import PhoneEngine

PACKAGE = "com.example.plugin"


def install_entry_point(site: Path, monkeypatch, distribution: str, group: str, entry: str) -> Path:
    """What pip leaves for a package declaring one entry point: a dist-info folder on sys.path."""
    dist_info = site / f"{distribution.replace('-', '_')}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(f"[{group}]\n{entry}\n")
    monkeypatch.syspath_prepend(str(site))
    return site


@pytest.fixture
def toy_runtime_installed(tmp_path, monkeypatch):
    """Install tests/toy_runtime the way pip would: a dist-info folder on sys.path whose
    entry_points.txt names it in the `sdkgen.runtimes` group."""
    site = install_entry_point(tmp_path / "site", monkeypatch, "toy-sdkgen-runtime", "sdkgen.runtimes",
                               "ggufheader = toy_runtime:GgufHeaderRuntime")
    # sdkgen's worker processes (conversion, host verification) must find it too, as they would
    # find a package pip installed.
    tests_dir = Path(__file__).resolve().parent
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), str(tests_dir), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(tmp_path / "cache"))
    return site


def _generate(demo_model: Path, out: Path, os_name: str = "android", profile: str = "pixel8"):
    return run_cli(os_name, "--model", str(demo_model), "--profile", profile, "--runtime", "ggufheader",
                   "--quant", "q8_0", "--package" if os_name == "android" else "--bundle-id", PACKAGE, "-o", str(out))


def test_a_plug_in_runtime_generates_an_android_project_from_its_own_overlay(demo_model, tmp_path, toy_runtime_installed):
    out = tmp_path / "app"
    result = _generate(demo_model, out)
    assert result.code == 0, result.stderr
    kotlin = out / "llm/src/main/kotlin/com/example/plugin/llm"
    # The engine's own file comes from its overlay; no built-in engine's file is written.
    assert "class GgufHeaderEngine" in (kotlin / "GgufHeaderEngine.kt").read_text()
    assert not (kotlin / "LlamaCppEngine.kt").exists() and not (out / "llm/src/main/cpp").exists()
    # Its hook fills the shared factory.
    assert "return GgufHeaderEngine(file, settings)" in (kotlin / "OnDeviceLlm.kt").read_text()
    # Its facts, as data, reach the shared templates: library and pin, R8 rule, minimum SDK, ABIs.
    catalog = tomllib.loads((out / "gradle/libs.versions.toml").read_text())
    assert catalog["versions"]["okio"] == "3.9.1"
    assert catalog["libraries"]["okio"] == {"group": "com.squareup.okio", "name": "okio", "version": {"ref": "okio"}}
    gradle = (out / "llm/build.gradle.kts").read_text()
    assert "api(libs.okio)" in gradle and "minSdk = 28" in gradle and 'abiFilters += listOf("arm64-v8a")' in gradle
    assert "-keep class com.example.plugin.llm.GgufHeaderEngine { *; }" in (out / "llm/consumer-rules.pro").read_text()
    readme = (out / "README.md").read_text()
    assert "GGUF header reader" in readme and "`GgufHeaderEngine`" in readme
    report = (out / "sdkgen-report.json").read_text()
    assert '"engine": "ggufheader"' in report


@pytest.mark.slow
def test_the_plug_in_s_project_compiles(demo_model, tmp_path, toy_runtime_installed):
    out = tmp_path / "app"
    assert _generate(demo_model, out).code == 0
    stubs = tc.build_stubs(tmp_path / "stubs")
    tc.compile_project(out, PACKAGE, stubs, tmp_path / "work")


def test_a_format_the_plug_in_s_engine_lacks_is_refused_before_conversion(demo_model, tmp_path, toy_runtime_installed):
    result = _generate(demo_model, tmp_path / "app", "ios", "iphone15pro")
    assert result.code == 2 and len(result.stderr_lines) == 1, result.stderr
    assert "'ggufheader' engine has no xcodegen project templates" in result.stderr and "gradle" in result.stderr
    assert not (tmp_path / "app").exists() and not list((tmp_path / "cache").rglob("*.gguf"))


@pytest.mark.parametrize("os_name, profile", [("android", "pixel8"), ("ios", "iphone15pro")])
def test_an_engine_named_but_not_brought_is_refused_before_conversion(demo_model, tmp_path, monkeypatch, os_name, profile):
    # A plug-in written before engines were units names its engine as a string.
    from sdk_gen.runtimes import get_runtime

    runtime = get_runtime("llamacpp")
    monkeypatch.setattr(type(runtime), "engine_for", lambda self, target_os, artifact_format: "phantom")
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(tmp_path / "cache"))
    result = run_cli(os_name, "--model", str(demo_model), "--profile", profile, "--runtime", "llamacpp",
                     "--quant", "q8_0", "-o", str(tmp_path / "o"))
    assert result.code == 2 and len(result.stderr_lines) == 1, result.stderr
    assert "'phantom'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists() and not list((tmp_path / "cache").rglob("*.gguf"))


def test_an_engine_whose_overlay_is_missing_is_refused(demo_model, tmp_path, monkeypatch):
    from sdk_gen.runtimes import get_runtime

    runtime = get_runtime("llamacpp")
    engine = runtime.engine_for("android", "gguf")
    broken = replace(engine, targets=tuple(replace(t, overlay=tmp_path / "nowhere") for t in engine.targets))
    assert isinstance(broken, PhoneEngine)
    monkeypatch.setattr(type(runtime), "engine_for", lambda self, target_os, artifact_format: broken)
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(tmp_path / "cache"))
    result = run_cli("android", "--model", str(demo_model), "--profile", "pixel8", "--runtime", "llamacpp",
                     "--quant", "q8_0", "-o", str(tmp_path / "o"))
    assert result.code == 2 and "templates are missing" in result.stderr and "Traceback" not in result.stderr


# --- a plug-in's mistakes are one line, before any conversion --------------------------------


def _toy_with(monkeypatch, tmp_path, change_overlay=None, **target_changes):
    """The toy runtime with its Gradle target changed (and its overlay copied and edited)."""
    import shutil

    import toy_runtime

    overlay = tmp_path / "overlay" / "gradle"
    shutil.copytree(toy_runtime.OVERLAYS / "gradle", overlay)
    if change_overlay:
        change_overlay(overlay)
    engine = toy_runtime.GGUF_HEADER_ENGINE
    changed = replace(engine, targets=tuple(replace(t, overlay=overlay, **target_changes) for t in engine.targets))
    monkeypatch.setattr(toy_runtime.GgufHeaderRuntime, "engines", {("android", "gguf"): changed, ("ios", "gguf"): changed})


def test_an_engine_that_cannot_run_on_emulators_gets_the_format_s_own_ci_text(demo_model, tmp_path, toy_runtime_installed, monkeypatch):
    _toy_with(monkeypatch, tmp_path, runs_on_emulator=False)
    out = tmp_path / "app"
    result = _generate(demo_model, out)
    assert result.code == 0, result.stderr
    workflow = (out / ".github/workflows/android.yml").read_text()
    assert "smoke-test:" not in workflow and "GGUF header reader does not run on Android emulators" in workflow
    assert "It runs no emulator smoke test" in (out / "README.md").read_text()


@pytest.mark.parametrize("mistake, change_overlay, target_changes", [
    ("lacks the hook(s) create-engine.kt.j2", lambda o: (o / "_hooks/create-engine.kt.j2").unlink(), {}),
    ("would replace the format's own llm/build.gradle.kts.j2",
     lambda o: (o / "llm").mkdir(exist_ok=True) or (o / "llm/build.gradle.kts.j2").write_text("x\n"), {}),
    ("minimum Android 'twenty'", None, {"min_os": "twenty"}),
])
def test_a_plug_in_engine_s_mistake_is_refused_before_conversion(demo_model, tmp_path, toy_runtime_installed, monkeypatch,
                                                                   mistake, change_overlay, target_changes):
    _toy_with(monkeypatch, tmp_path, change_overlay, **target_changes)
    result = _generate(demo_model, tmp_path / "app")
    assert result.code == 2 and len(result.stderr_lines) == 1, result.stderr
    assert mistake in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "app").exists() and not list((tmp_path / "cache").rglob("*.gguf"))


def test_an_overlay_that_does_not_render_is_one_line_and_leaves_nothing(demo_model, tmp_path, toy_runtime_installed, monkeypatch):
    def break_it(overlay: Path) -> None:
        engine_file = next(overlay.rglob("GgufHeaderEngine.kt.j2"))
        engine_file.write_text(engine_file.read_text() + "// {{ no_such_value }}\n")

    _toy_with(monkeypatch, tmp_path, break_it)
    result = _generate(demo_model, tmp_path / "app")
    assert result.code == 4 and len(result.stderr_lines) == 1, result.stderr
    assert "'ggufheader' engine's gradle templates do not render" in result.stderr and "no_such_value" in result.stderr
    assert not (tmp_path / "app").exists()


def test_a_broken_format_plug_in_does_not_break_the_built_in_formats(tmp_path, monkeypatch):
    from sdk_gen.errors import BadInput
    from sdk_gen.formats import format_for_os, get_format

    install_entry_point(tmp_path / "site", monkeypatch, "broken-format", "sdkgen.formats", "flutter = no_such_module:FlutterFormat")
    assert format_for_os("android").key == "gradle" and format_for_os("ios").key == "xcodegen"
    with pytest.raises(BadInput, match="'flutter'.*does not load"):
        get_format("flutter")


# --- hooks: the whitespace rule every overlay follows ---------------------------------------


def test_hooks_end_as_their_include_sites_need():
    """A hook included inside a line must not end with a newline (it would break the line); one
    included on a line of its own must (lstrip/trim_blocks drop the include's own line)."""
    import re

    from conftest import REPO

    templates = REPO / "templates"
    sites: dict[str, set[str]] = {}
    for template in templates.rglob("*.j2"):
        for line in template.read_text().splitlines():
            for match in re.finditer(r'\{% include "hook/([^"]+)"', line):
                alone = re.fullmatch(r'\s*\{% include "hook/[^"]+"( ignore missing)? %\}\s*', line) is not None
                sites.setdefault(match.group(1), set()).add("line" if alone else "inline")
    assert sites, "no hook includes found"
    hook_files = [p for p in templates.rglob("_hooks/*") if p.is_file()]
    hook_files += [p for p in (REPO / "tests/toy_runtime").rglob("_hooks/*") if p.is_file()]
    for hook in hook_files:
        kinds = sites.get(hook.name)
        assert kinds, f"{hook} is included nowhere"
        assert len(kinds) == 1, f"{hook.name} is included both inline and on its own line"
        text = hook.read_text()
        if kinds == {"inline"}:
            assert not text.endswith("\n"), f"{hook} is included inside a line: it must not end with a newline"
        else:
            assert text.endswith("\n"), f"{hook} is included on its own line: it must end with a newline"


def test_auto_skips_a_runtime_whose_engine_has_no_target_for_the_os_s_format(demo_model, toy_runtime_installed, monkeypatch):
    """`--runtime auto` for `sdkgen ios` must not pick a runtime it would then refuse to wrap."""
    import toy_runtime
    from sdk_gen import planner
    from sdk_gen.model.inspect import inspect_model
    from sdk_gen.profiles import load_profile
    from sdk_gen.runtimes import get_runtime

    runtime = toy_runtime.GgufHeaderRuntime()
    assert planner.writes_projects_for(runtime, "android") and not planner.writes_projects_for(runtime, "ios")
    assert planner.writes_projects_for(get_runtime("llamacpp"), "ios") and planner.writes_projects_for(get_runtime("mlc"), "android")

    monkeypatch.setattr(toy_runtime.GgufHeaderRuntime, "auto_selectable", True)
    spec = inspect_model(str(demo_model))
    request = planner.PlanRequest(runtime="auto", needs_platform_wrapper=True)

    def candidates(profile: str) -> list[str]:
        return [r.key for r in planner._candidate_runtimes(spec, load_profile(profile), request)]

    assert "ggufheader" in candidates("pixel8") and "ggufheader" not in candidates("iphone15pro")
