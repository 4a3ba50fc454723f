"""Device profiles: the built-in set, their sources, and refusals of malformed user profiles."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from conftest import REPO, run_cli
from sdk_gen.profiles import list_profiles, load_profile

REQUIRED_IDS = {
    "pixel8", "pixel8pro", "pixel7", "pixel6a", "galaxy-s24", "galaxy-s23", "galaxy-a54", "oneplus12", "android-4gb",
    "iphone15pro", "iphone15", "iphone14", "iphone13", "iphone12", "ipad-pro-m4",
}


def test_the_required_profiles_exist_one_file_each():
    files = {p.stem for p in (REPO / "device_profiles").glob("*.toml")}
    assert REQUIRED_IDS <= files
    profiles = list_profiles()
    assert len(profiles) >= 15
    assert {p.id for p in profiles} == files  # id matches the file name


@pytest.mark.parametrize("profile", list_profiles(), ids=lambda p: p.id)
def test_every_figure_has_a_source_and_a_derivation(profile):
    for figure in ("total_ram", "app_memory", "soc", "gpu", "os"):
        assert len(profile.sources[figure]) > 10, figure
    assert len(profile.app_memory_derivation) > 40
    assert 0 < profile.app_memory_gib < profile.total_ram_gib
    assert profile.cpu_big_cores <= profile.cpu_cores
    if profile.platform == "ios":
        assert profile.gpu_apis == ("Metal",)
        assert profile.app_memory_gib <= profile.app_memory_entitled_gib <= profile.total_ram_gib
        assert "increased-memory-limit" in profile.app_memory_entitled_derivation
        assert re.fullmatch(r"\d+\.\d+", profile.ios_version)
    elif profile.platform == "web":
        # A browser profile: the budget is one tab's, under WebAssembly's heap limit plus the renderer.
        assert profile.browser is not None and profile.browser.minimum_version >= 133  # memory64
        assert len(profile.sources["browser"]) > 10
        assert profile.app_memory_gib <= profile.browser.wasm_heap_limit_gib + 1
        assert profile.browser.device_memory_gib in (0.25, 0.5, 1, 2, 4, 8)  # what Chrome can report
        assert profile.browser.device_memory_gib <= profile.total_ram_gib
        assert profile.android_api_level is None and profile.app_memory_entitled_gib is None
    else:
        assert profile.android_api_level >= 30
        assert profile.app_memory_entitled_gib is None
        assert profile.browser is None


def test_reference_figures():
    # Figures REFERENCE.md sources (pocketpal-ai PR#651, rtabmap PR#1446, macrumors).
    assert load_profile("pixel8").total_ram_gib == 8
    assert load_profile("iphone15pro").app_memory_entitled_gib == 6.0
    assert load_profile("iphone15").total_ram_gib == 6
    assert load_profile("iphone13").total_ram_gib == 4


def test_profiles_cli_table_and_json():
    table = run_cli("profiles")
    assert table.code == 0
    for profile_id in REQUIRED_IDS:
        assert profile_id in table.stdout
    listing = json.loads(run_cli("profiles", "--json").stdout)
    assert {p["id"] for p in listing} >= REQUIRED_IDS
    assert all(p["sources"] for p in listing)


def test_user_profile_file_is_accepted(tmp_path):
    text = (REPO / "device_profiles" / "pixel8.toml").read_text().replace('id = "pixel8"', 'id = "my-phone"')
    path = tmp_path / "my-device.toml"
    path.write_text(text)
    assert load_profile(str(path)).id == "my-phone"


def test_form_factor_is_a_profile_fact_not_its_name(tmp_path):
    # A tablet is said by the profile, whatever its id: a renamed iPad stays a tablet.
    assert load_profile("ipad-pro-m4").form_factor == "tablet" and load_profile("iphone15pro").form_factor == "phone"
    text = (REPO / "device_profiles" / "ipad-pro-m4.toml").read_text().replace('id = "ipad-pro-m4"', 'id = "studio-slate"')
    path = tmp_path / "studio-slate.toml"
    path.write_text(text)
    assert load_profile(str(path)).form_factor == "tablet"


def _write_variant(tmp_path, mutate):
    data = tomllib.loads((REPO / "device_profiles" / "pixel8.toml").read_text())
    mutate(data)
    path = tmp_path / "bad.toml"
    path.write_text(_to_toml(data))
    return path


def _to_toml(data, prefix=""):
    """A tiny TOML writer for the profile shape (tables of scalars and string lists)."""
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    for key, value in tables:
        lines.append(f"\n[{prefix}{key}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in value.items())
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d["memory"].pop("total_ram_gib"), "memory.total_ram_gib"),
        (lambda d: d["memory"].update(app_memory_gib="lots"), "memory.app_memory_gib"),
        (lambda d: d["memory"].update(app_memory_gib=12), "memory.app_memory_gib"),
        (lambda d: d.update(platform="windows"), "platform"),
        (lambda d: d.update(form_factor="watch"), "form_factor"),
        (lambda d: d["soc"].update(gpu_apis=["DirectX"]), "soc.gpu_apis"),
        (lambda d: d["soc"].update(cpu_big_cores=20), "soc.cpu_big_cores"),
        (lambda d: d["sources"].pop("app_memory"), "sources.app_memory"),
        (lambda d: d["os"].pop("android_api_level"), "os.android_api_level"),
    ],
)
def test_profile_with_missing_or_wrong_field_names_file_and_field(tmp_path, demo_model, mutate, field):
    path = _write_variant(tmp_path, mutate)
    result = run_cli("plan", "--model", str(demo_model), "--profile", str(path))
    assert result.code == 2
    assert len(result.stderr_lines) == 1
    assert str(path) in result.stderr and f"'{field}'" in result.stderr


def test_malformed_toml(tmp_path, demo_model):
    path = tmp_path / "broken.toml"
    path.write_text('id = "x"\n[memory\ntotal_ram_gib = 8\n')
    result = run_cli("plan", "--model", str(demo_model), "--profile", str(path))
    assert result.code == 2 and len(result.stderr_lines) == 1
    assert "not valid TOML" in result.stderr and str(path) in result.stderr


def test_unknown_profile_lists_close_names(demo_model):
    result = run_cli("plan", "--model", str(demo_model), "--profile", "iphone15-pro")
    assert result.code == 2 and len(result.stderr_lines) == 1
    assert "iphone15pro" in result.stderr
