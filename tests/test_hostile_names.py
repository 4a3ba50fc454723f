"""Hostile names through every generated file, proved by PARSING each file with a real parser
(issue 13, item 4): aapt2 for Android resources, kotlinc for Kotlin, PyYAML for YAML, tomllib for
TOML, plistlib for plists, markdown-it-py (CommonMark) for READMEs. Each value must come back
exactly (or, in Markdown, as the same one-line text with no markup of its own).

The names reach the files as the app name (--app-name), the model folder's name and a custom
device profile's id and name. One conversion (llama.cpp f16, --no-verify) is cached and reused.
"""

from __future__ import annotations

import plistlib
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt

import android_toolchain as tc
from conftest import REPO
from sdk_gen.conversion import ConversionRequest
from sdk_gen.formats.base import ProjectOptions
from sdk_gen.project import ProjectRequest, generate_project
from sdk_gen.render import toml_string

HOSTILE = [
    "100% sure, 50% done",
    "it's a \"quoted\" name",
    "@string/app_name",
    "?attr/colorPrimary",
    "back\\slash \\n \\u0041 \\",
    "two\nlines\tand a tab\r",
    "<b>&amp; &copy;</b> ]]> <!-- -->",
    "  spaced   out  ",
    "**bold** _em_ `code` [link](http://x) ![i](y) # h ~~s~~ | pipe",
    "- list\n1. item\n> quote\n===",
    "key: value # comment, [flow] {map} &anchor *alias !tag %YAML",
    "caf\u00e9 \u00fcn\u00efc\u00f6d\u00e9 \U0001f600 \u2028 \u0085 \x7f \ufeff",
    "${'$'}{x} \\(x) %s %1$s %n",
    "\x01bell\x07",
]
IDS = [f"v{i}" for i in range(len(HOSTILE))]


def _folder_name(value: str) -> str:
    """A model folder holding as much of the value as a file name can (no / and no NUL)."""
    return value.replace("/", "\u2215").replace("\0", "") or "x"


def _xml_text(value: str) -> str:
    """What XML can carry of a value: XML 1.0 has no way to write most control characters."""
    return "".join(ch for ch in value if ch in "\t\n\r" or ord(ch) >= 0x20 and ch not in "\ufffe\uffff")


def _md_text(value: str) -> str:
    """What one line of Markdown text says: the words, single spaces (Markdown folds whitespace)."""
    return " ".join(value.split())


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile-cache")


@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    """pixel8 and iphone15pro with a hostile id and name."""
    folder = tmp_path_factory.mktemp("profiles")
    made = {}
    for key in ("pixel8", "iphone15pro"):
        text = (REPO / "device_profiles" / f"{key}.toml").read_text()
        hostile_id = f"id = {toml_string(key + ' <%1$s> [x](y) ' + chr(34) + 'q')}"
        hostile_name = f"name = {toml_string('Pixel *8* | ' + chr(92) + ' & <b>')}"
        text = re.sub(r'^id = ".*"$', lambda m: hostile_id, text, count=1, flags=re.M)
        text = re.sub(r'^name = ".*"$', lambda m: hostile_name, text, count=1, flags=re.M)
        path = folder / f"{key}.toml"
        path.write_text(text)
        made[key] = path
    return made


def _generate(platform: str, demo_model: Path, where: Path, cache: Path, value: str, profile: Path):
    model = where / "models" / _folder_name(value)
    if not model.exists():
        model.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(demo_model, model)
    conversion = ConversionRequest(model=str(model), runtime="llamacpp", quant="f16", context=256, verify=False,
                                   profile=str(profile), cache_dir=cache)
    options = ProjectOptions(app_id="com.example.demo", app_name=value)
    return generate_project(ProjectRequest(platform, conversion, options, where / platform))


def _readme_heading_and_text(path: Path) -> tuple[str, list[str], str]:
    """The README's first heading as text, the markup token types inside it, and all its text."""
    tokens = MarkdownIt("commonmark").enable("table").enable("strikethrough").parse(path.read_text(encoding="utf-8"))
    heading = next(tokens[i + 1] for i, t in enumerate(tokens) if t.type == "heading_open")
    kinds = [child.type for child in heading.children if child.type not in ("text", "softbreak")]
    text = "".join(child.content for child in heading.children if child.type == "text")
    everything = "".join(
        child.content for t in tokens if t.type == "inline" for child in t.children if child.type in ("text", "code_inline")
    )
    return text, kinds, everything


def _aapt2_string(apk: Path, name: str) -> str:
    """A string resource's value as aapt2 itself decoded it from the linked APK."""
    # Bytes, not text mode: universal newlines would turn a \r in the value into \n.
    dump = subprocess.run([tc.aapt2(), "dump", "resources", str(apk)], capture_output=True, check=True).stdout.decode("utf-8")
    start = dump.index(f" string/{name}\n")
    body = dump[start:].split("\n", 1)[1]
    body = re.split(r"\n    resource 0x", body)[0]
    match = re.match(r'\s*\(\) "(.*)"\s*$', body, re.S)
    assert match, body
    return match.group(1).replace("\n      ", "\n")  # the dump indents continuation lines


@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
def test_android_files_parse_and_read_back(value, demo_model, tmp_path, cache, profiles):
    root = _generate("android", demo_model, tmp_path, cache, value, profiles["pixel8"]).path
    # Resources: aapt2 compiles and links them, and reads the names back exactly.
    tc.link_resources(root / "app/src/main/AndroidManifest.xml", root / "app/src/main/res", "com.example.demo", tmp_path / "aapt")
    apk = tmp_path / "aapt" / "linked.apk"
    assert _aapt2_string(apk, "app_name") == value  # Android's \\uXXXX carries even control characters
    assert _aapt2_string(apk, "model_name") == _folder_name(value)
    # TOML and YAML: parse, and the names come back exactly.
    toml = tomllib.loads((root / "sdkgen.toml").read_text(encoding="utf-8"))
    assert toml["model"]["name"] == _folder_name(value)
    assert toml["model"]["path"].endswith(_folder_name(value))
    assert toml["plan"]["profile"] == 'pixel8 <%1$s> [x](y) "q'
    yaml.safe_load((root / ".github/workflows/android.yml").read_text(encoding="utf-8"))
    # Markdown: the heading is the app name as plain text, with no markup of its own.
    heading, markup, text = _readme_heading_and_text(root / "README.md")
    assert heading == _md_text(value) and markup == []
    assert _md_text(_folder_name(value)) in text and "Pixel *8* | \\ & <b>" in text


@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
def test_ios_files_parse_and_read_back(value, demo_model, tmp_path, cache, profiles):
    root = _generate("ios", demo_model, tmp_path, cache, value, profiles["iphone15pro"]).path
    plist = plistlib.loads((root / "App/Info.plist").read_bytes())
    assert plist["CFBundleDisplayName"] == _xml_text(value)
    assert plist["SDKGenModelName"] == _xml_text(_folder_name(value))
    project = yaml.safe_load((root / "project.yml").read_text(encoding="utf-8"))
    target = next(iter(project["targets"].values()))
    properties = target["info"]["properties"]
    assert properties["CFBundleDisplayName"] == value
    assert properties["SDKGenModelName"] == _folder_name(value)
    toml = tomllib.loads((root / "sdkgen.toml").read_text(encoding="utf-8"))
    assert toml["model"]["name"] == _folder_name(value)
    assert toml["plan"]["profile"] == 'iphone15pro <%1$s> [x](y) "q'
    heading, markup, text = _readme_heading_and_text(root / "README.md")
    assert heading == _md_text(value) and markup == []
    assert _md_text(_folder_name(value)) in text and "Pixel *8* | \\ & <b>" in text


def test_model_names_compile_in_kotlin_and_read_back(demo_model, tmp_path, cache, profiles):
    """Every hostile model name in ModelInfo.kt, compiled by kotlinc in one run and printed by the JVM."""
    sources = []
    for index, value in enumerate(HOSTILE):
        root = _generate("android", demo_model, tmp_path / f"k{index}", cache, value, profiles["pixel8"]).path
        info = root / "llm/src/main/kotlin/com/example/demo/llm/ModelInfo.kt"
        text = info.read_text(encoding="utf-8").replace("package com.example.demo.llm", f"package hostile.v{index}", 1)
        copy = tmp_path / "kotlin" / f"ModelInfo{index}.kt"
        copy.parent.mkdir(exist_ok=True)
        copy.write_text(text, encoding="utf-8")
        sources.append(copy)
    probe = tmp_path / "kotlin" / "Probe.kt"
    probe.write_text(
        "fun main() {\n"
        + "".join(f'    print(hostile.v{i}.ModelInfo.MODEL_NAME + "\\u0000")\n' for i in range(len(HOSTILE)))
        + "}\n"
    )
    tc.compile_kotlin([*sources, probe], tmp_path / "classes", tc.classpath(tc.kotlin_runtime_jars()))
    printed = subprocess.run(
        ["java", "-Dfile.encoding=UTF-8", "-Dstdout.encoding=UTF-8", "-cp",
         tc.classpath(tmp_path / "classes", tc.kotlin_runtime_jars()), "ProbeKt"],
        capture_output=True, check=True,
    ).stdout.decode("utf-8")
    assert printed.split("\0")[:-1] == [_folder_name(v) for v in HOSTILE]
