"""The second round of hostile inputs (issue 13): nothing lost, nothing stale, nothing injected.

Same style as tests/test_bad_input.py: every case runs the real CLI against real files and checks
one stderr line, the documented exit code, and what is (not) left on disk. Conversions use the
llama.cpp runtime with --no-verify, the fastest real converter (a few seconds on the demo model).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from conftest import REPO, run_cli
from test_bad_input import _can_mount_in_namespace, documented_exit_codes

FAST = ["--runtime", "llamacpp", "--quant", "f16", "--context", "256", "--no-verify"]
ANDROID_FAST = ["--profile", "pixel8", "--package", "com.example.demo", *FAST]
IOS_FAST = ["--profile", "iphone15pro", "--bundle-id", "com.example.demo", *FAST]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _contents(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its SHA-256: proves a folder was neither removed nor changed."""
    return {str(p.relative_to(folder)): _sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line_error(result, code: int, *says: str) -> None:
    lines = result.stderr_lines
    assert result.code == code, lines
    assert code in documented_exit_codes()
    assert len(lines) == 1, lines
    assert lines[0].startswith("sdkgen: error: ") and "Traceback" not in result.stderr
    for fragment in says:
        assert fragment in lines[0], lines[0]


# --- 1. the output never is, holds or sits inside the model, the adapter or the cache ---------


@dataclass
class Place:
    """A scratch tree: a copy of the demo model, a LoRA adapter folder, the cache, and a bystander."""

    root: Path
    model: Path
    adapter: Path
    cache: Path
    bystander: Path


def _adapter(folder: Path, base: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "base_model_name_or_path": str(base), "r": 4, "lora_alpha": 8,
        "target_modules": ["q_proj", "k_proj", "v_proj", "dense"],
    }))
    (folder / "adapter_model.safetensors").write_bytes(b"\0" * 16)  # never read: every case stops before
    return folder


@dataclass(frozen=True)
class OverlapCase:
    id: str
    argv: Callable[[Place], list[str]]
    says: tuple[str, ...]


OVERLAP_CASES = [
    OverlapCase("convert-into-the-model", lambda p: ["convert", "--model", str(p.model), *FAST, "-o", str(p.model), "--force"],
                ("is the model folder",)),
    OverlapCase("convert-into-the-models-parent",
                lambda p: ["convert", "--model", str(p.model), *FAST, "-o", str(p.model.parent), "--force"],
                ("holds the model folder",)),
    OverlapCase("convert-inside-the-model",
                lambda p: ["convert", "--model", str(p.model), *FAST, "-o", str(p.model / "out")], ("is inside the model folder",)),
    OverlapCase("convert-into-the-model-through-dotdot",
                lambda p: ["convert", "--model", str(p.model), *FAST, "-o", f"{p.model}/sub/..", "--force"],
                ("is the model folder",)),
    OverlapCase("convert-into-the-cache",
                lambda p: ["convert", "--model", str(p.model), *FAST, "-o", str(p.cache), "--force"], ("is the sdkgen cache",)),
    OverlapCase("convert-inside-the-cache",
                lambda p: ["convert", "--model", str(p.model), *FAST, "-o", str(p.cache / "v1" / "out")],
                ("is inside the sdkgen cache",)),
    OverlapCase("convert-around-the-cache",
                lambda p: ["convert", "--model", str(p.model), *FAST, "-o", str(p.cache.parent), "--force"],
                ("holds the",)),
    OverlapCase("convert-into-the-adapter",
                lambda p: ["convert", "--adapter", str(p.adapter), *FAST, "-o", str(p.adapter), "--force"],
                ("is the adapter folder",)),
    OverlapCase("android-into-the-model",
                lambda p: ["android", "--model", str(p.model), *ANDROID_FAST, "-o", str(p.model), "--force"],
                ("is the model folder",)),
    OverlapCase("android-into-the-models-parent",
                lambda p: ["android", "--model", str(p.model), *ANDROID_FAST, "-o", str(p.root), "--force"],
                ("holds the model folder",)),
    OverlapCase("ios-into-the-cache",
                lambda p: ["ios", "--model", str(p.model), *IOS_FAST, "-o", str(p.cache), "--force"], ("is the sdkgen cache",)),
    OverlapCase("ios-inside-the-adapter",
                lambda p: ["ios", "--adapter", str(p.adapter), *IOS_FAST, "-o", str(p.adapter / "ios")],
                ("is inside the adapter folder",)),
    # --force replaces only a folder sdkgen wrote, never an arbitrary one.
    OverlapCase("force-over-a-folder-sdkgen-did-not-write",
                lambda p: ["convert", "--model", str(p.model), *FAST, "-o", str(p.bystander.parent), "--force"],
                ("not written by sdkgen",)),
    OverlapCase("android-force-over-a-folder-sdkgen-did-not-write",
                lambda p: ["android", "--model", str(p.model), *ANDROID_FAST, "-o", str(p.bystander.parent), "--force"],
                ("not written by sdkgen",)),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in OVERLAP_CASES])
def test_output_never_overlaps_the_inputs(case, demo_model, tmp_path, monkeypatch):
    root = tmp_path / "work"
    model = root / "demo"
    shutil.copytree(demo_model, model)
    cache = root / "caches" / "sdkgen"
    (cache / "v1").mkdir(parents=True)
    (cache / "v1" / "precious.txt").write_text("an entry")
    bystander = root / "mine" / "notes.txt"
    bystander.parent.mkdir()
    bystander.write_text("not sdkgen's")
    place = Place(root, model, _adapter(root / "adapter", model), cache, bystander)
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(cache))
    before = _contents(root)
    result = run_cli(*case.argv(place), cwd=tmp_path)
    _one_line_error(result, 2, *case.says)
    assert _contents(root) == before, "an input, the cache or a bystander was changed"  # checked before any work
    assert not list((cache / "v1").glob("artifacts")), "the conversion ran before the refusal"


def test_force_still_replaces_what_sdkgen_wrote(demo_model, tmp_path, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    assert run_cli("convert", "--model", str(demo_model), *FAST, "-o", str(out)).code == 0
    (out / "stale.txt").write_text("from an earlier run")
    again = run_cli("convert", "--model", str(demo_model), *FAST, "-o", str(out), "--force")
    assert again.code == 0, again.stderr
    assert not (out / "stale.txt").exists() and (out / "sdkgen-report.json").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()  # an empty folder holds nothing to lose
    assert run_cli("convert", "--model", str(demo_model), *FAST, "-o", str(empty), "--force").code == 0


# --- 3. a cached artifact is re-hashed before it ships; entry metadata is validated ---------


def _convert_json(model: Path, out: Path, *extra: str) -> dict:
    result = run_cli("convert", "--model", str(model), *FAST, "--json", "-o", str(out), *extra)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def _flip_a_byte_keeping_stats(path: Path) -> None:
    """What silent disk corruption looks like: same size, same mtime, different bytes."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_corruption_behind_unchanged_stats_is_rebuilt_not_shipped(demo_model, tmp_path, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(tmp_path / "cache"))
    first = _convert_json(demo_model, tmp_path / "first")
    entry = Path(first["cache"]["path"])
    good = first["artifacts"][0]["sha256"]
    _flip_a_byte_keeping_stats(entry)
    second = _convert_json(demo_model, tmp_path / "second")
    assert second["cache"]["hit"] is False  # re-hashed, found damaged, rebuilt
    assert second["artifacts"][0]["sha256"] == good
    assert _sha(tmp_path / "second" / second["artifacts"][0]["path"]) == good
    # The same through `sdkgen android`: the model it ships hashes to the constant it bakes in.
    _flip_a_byte_keeping_stats(entry)
    project = tmp_path / "android"
    result = run_cli("android", "--model", str(demo_model), *ANDROID_FAST, "--json", "-o", str(project))
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    shipped = project / "llm/src/main/assets" / report["artifacts"][0]["path"]
    assert report["cache"]["hit"] is False and _sha(shipped) == report["artifacts"][0]["sha256"] == good
    assert good in (project / "llm/src/main/kotlin/com/example/demo/llm/ModelInfo.kt").read_text()


def _tamper_entry(entry_dir: Path, outside: Path, how: str) -> None:
    record = entry_dir / "entry.json"
    meta = json.loads(record.read_text())
    artifact = entry_dir / meta["file"]
    if how == "name-leaves-the-entry":
        # A shared cache: someone points the record at a file of theirs, with its true size and hash.
        relative = os.path.relpath(outside, entry_dir)
        meta.update(file=relative, bytes=outside.stat().st_size, sha256=_sha(outside))
    elif how == "artifact-is-a-link-out":
        artifact.unlink()
        artifact.symlink_to(outside)
        meta.update(bytes=outside.stat().st_size, sha256=_sha(outside))
    elif how == "entry-is-a-link-out":
        shutil.rmtree(entry_dir)
        fake = outside.parent / "fake-entry"
        fake.mkdir()
        shutil.copy(outside, fake / "demo-f16.gguf")
        meta.update(bytes=outside.stat().st_size, sha256=_sha(outside))
        (fake / "entry.json").write_text(json.dumps(meta))
        entry_dir.symlink_to(fake, target_is_directory=True)
        return
    elif how == "inputs-is-a-list":
        meta["inputs"] = []
    elif how == "inputs-of-another-conversion":
        meta["inputs"] = {**meta["inputs"], "quant": "q8_0"}
    else:
        raise AssertionError(how)
    record.write_text(json.dumps(meta))


@pytest.mark.parametrize("how", [
    "name-leaves-the-entry", "artifact-is-a-link-out", "entry-is-a-link-out", "inputs-is-a-list", "inputs-of-another-conversion",
])
def test_tampered_cache_entries_are_rebuilt_never_followed(how, demo_model, tmp_path, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(tmp_path / "cache"))
    first = _convert_json(demo_model, tmp_path / "first")
    entry_dir = Path(first["cache"]["path"]).parent
    secret = tmp_path / "elsewhere" / "passwd"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    _tamper_entry(entry_dir, secret, how)
    second = _convert_json(demo_model, tmp_path / "second")
    assert second["cache"]["hit"] is False
    shipped = tmp_path / "second" / second["artifacts"][0]["path"]
    assert _sha(shipped) == first["artifacts"][0]["sha256"] != _sha(secret)
    assert secret.read_text().startswith("root:")  # the file outside the cache was not touched
    assert not Path(second["cache"]["path"]).is_symlink() and not Path(second["cache"]["path"]).parent.is_symlink()


def test_artifact_changed_after_lookup_is_not_placed(tmp_path):
    from sdk_gen.cache import CachedArtifact
    from sdk_gen.conversion import place_artifact
    from sdk_gen.errors import ConversionFailed

    entry = tmp_path / "entry"
    entry.mkdir()
    artifact = entry / "model.gguf"
    artifact.write_bytes(b"verified bytes")
    (entry / "entry.json").write_text("{}")
    cached = CachedArtifact("k", artifact, artifact.stat().st_size, _sha(artifact), {})
    artifact.write_bytes(b"verified bytez")  # between the lookup and the copy
    with pytest.raises(ConversionFailed, match="changed on disk"):
        place_artifact(cached, tmp_path / "placed.gguf")
    assert not (tmp_path / "placed.gguf").exists() and not entry.exists()


# --- 2. the cache key covers every file the converter reads ---------------------------------


def test_pytorch_bin_weights_are_part_of_the_cache_key(demo_model, tmp_path, monkeypatch):
    """A checkpoint in pytorch_model.bin form (accepted as input): changed weights, new artifact."""
    import torch
    from safetensors.torch import load_file

    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(tmp_path / "cache"))
    model = tmp_path / "bin-model"
    shutil.copytree(demo_model, model)
    state = load_file(model / "model.safetensors")
    (model / "model.safetensors").unlink()
    torch.save(state, model / "pytorch_model.bin")
    first = _convert_json(model, tmp_path / "first")
    again = _convert_json(model, tmp_path / "again")
    assert again["cache"]["hit"] is True  # nothing the converter reads changed: a hit
    name = next(k for k, v in state.items() if v.ndim == 2)
    state[name] = state[name] * 0.5
    torch.save(state, model / "pytorch_model.bin")
    second = _convert_json(model, tmp_path / "second")
    assert second["cache"]["hit"] is False
    assert second["artifacts"][0]["sha256"] != first["artifacts"][0]["sha256"]


def test_index_shards_outside_the_top_level_are_part_of_the_cache_key(demo_model, tmp_path):
    from sdk_gen.hashing import FileHasher, folder_digest

    model = tmp_path / "sharded"
    shutil.copytree(demo_model, model)
    (model / "weights").mkdir()
    (model / "model.safetensors").rename(model / "weights" / "model-00001-of-00001.safetensors")
    from sdk_gen.model.safetensors_header import read_header

    names = [t.name for t in read_header(model / "weights" / "model-00001-of-00001.safetensors")]
    (model / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {n: "weights/model-00001-of-00001.safetensors" for n in names}}))
    before = folder_digest(model, FileHasher(None))
    shard = model / "weights" / "model-00001-of-00001.safetensors"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0x01
    shard.write_bytes(bytes(data))
    assert folder_digest(model, FileHasher(None)) != before
    extra = model / "added_tokens.json"  # any other file at the top is read by some converter
    digest = folder_digest(model, FileHasher(None))
    extra.write_text("{}")
    assert folder_digest(model, FileHasher(None)) != digest


# --- 5. one line and the documented code, and everything cheap checked before conversion -----


@dataclass(frozen=True)
class EarlyCase:
    id: str
    argv: Callable[[Path, Path], list[str]]  # (model copy, scratch) -> argv
    code: int
    says: tuple[str, ...]


def _index(model: Path, weight_map) -> Path:
    (model / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return model


EARLY_CASES = [
    EarlyCase("weight-map-is-a-list", lambda m, s: ["inspect", str(_index(m, ["model.safetensors"]))], 2,
              ("weight_map",)),
    EarlyCase("weight-map-values-not-strings", lambda m, s: ["convert", "--model", str(_index(m, {"a": 3})), *FAST,
                                                             "-o", str(s / "out")], 2, ("weight_map",)),
    EarlyCase("index-names-a-shard-outside-the-folder",
              lambda m, s: ["inspect", str(_index(m, {"a": "../../../../etc/passwd"}))], 2, ("outside the model folder",)),
    EarlyCase("app-name-not-utf8",
              lambda m, s: ["android", "--model", str(m), *ANDROID_FAST, "--app-name", "caf\udce9 chat", "-o", str(s / "out")], 2,
              ("--app-name", "not valid UTF-8")),
    EarlyCase("ios-app-name-not-utf8",
              lambda m, s: ["ios", "--model", str(m), *IOS_FAST, "--app-name", "\udcff", "-o", str(s / "out")], 2,
              ("--app-name", "not valid UTF-8")),
    EarlyCase("output-path-not-utf8",
              lambda m, s: ["android", "--model", str(m), *ANDROID_FAST, "-o", str(s / "out\udcff")], 2,
              ("not valid UTF-8",)),
    EarlyCase("output-name-too-long",
              lambda m, s: ["convert", "--model", str(m), *FAST, "-o", str(s / ("o" * 250))], 2, ("too long",)),
    EarlyCase("project-output-name-too-long",
              lambda m, s: ["android", "--model", str(m), *ANDROID_FAST, "-o", str(s / ("o" * 250))], 2, ("too long",)),
    EarlyCase("package-part-too-long",
              lambda m, s: ["android", "--model", str(m), *FAST, "--profile", "pixel8", "--package",
                            "com.example." + "a" * 250, "-o", str(s / "out")], 2, ("too long",)),
    EarlyCase("project-paths-too-long",
              lambda m, s: ["android", "--model", str(m), *ANDROID_FAST, "-o",
                            str(s / "/".join(["d" * 200] * 20))], 2, ("shorter -o",)),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in EARLY_CASES])
def test_refused_in_one_line_before_any_conversion(case, demo_model, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(cache))
    model = tmp_path / "demo"
    shutil.copytree(demo_model, model)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    argv = case.argv(model, scratch)
    before = _contents(tmp_path)
    result = run_cli(*argv, cwd=tmp_path)
    _one_line_error(result, case.code, *case.says)
    assert not (cache / "v1" / "artifacts").exists(), "the conversion ran before the refusal"
    assert _contents(tmp_path) == before


@pytest.mark.parametrize("memo", ["[]", '"text"', "3", '{"/x": ["a"]}', '{"/x": "a"}'])
def test_damaged_hash_memo_only_costs_rehashing(memo, demo_model, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(cache))
    (cache / "v1").mkdir(parents=True)
    first = _convert_json(demo_model, tmp_path / "first")
    memo_path = cache / "v1" / "file-hashes.json"
    if memo.startswith('{"/x"'):  # valid memo shape outside, a bad record for each of the model's files
        records = {str(p.resolve()): json.loads(memo)["/x"] for p in demo_model.iterdir()}
        memo_path.write_text(json.dumps(records))
    else:
        memo_path.write_text(memo)
    second = _convert_json(demo_model, tmp_path / "second")
    third = _convert_json(demo_model, tmp_path / "third")  # and the memo it rewrote is sound
    assert second["cache"]["hit"] is True and third["cache"]["hit"] is True
    assert second["cache"]["key"] == first["cache"]["key"]


def test_model_folder_name_not_utf8_is_refused_before_conversion(demo_model, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(cache))
    model = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9-model"))
    shutil.copytree(demo_model, model)
    result = run_cli("android", "--model", str(model), *ANDROID_FAST, "-o", str(tmp_path / "out"))
    _one_line_error(result, 2, "not valid UTF-8")
    assert not (cache / "v1" / "artifacts").exists() and not (tmp_path / "out").exists()


def test_full_cache_disk_is_one_line_and_exit_2(demo_model, tmp_path):
    """The cache on a 1 MiB filesystem (a user namespace's tmpfs): the converter runs out of space."""
    if not _can_mount_in_namespace():
        pytest.skip("this machine does not allow mount namespaces (unshare -rm)")
    cache = tmp_path / "cache"
    cache.mkdir()
    argv = [sys.executable, "-m", "sdk_gen", "convert", "--model", str(demo_model), *FAST, "-o", str(tmp_path / "out")]
    command = " ".join(f"'{a}'" for a in argv)
    script = f"mount -t tmpfs -o size=1m tmpfs {cache} && {command}; echo \"exit=$?\"; find {cache}/v1/artifacts {cache}/v1/tmp -mindepth 1 2>/dev/null"
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "SDKGEN_CACHE_DIR": str(cache), "COLUMNS": "80"})
    lines = done.stdout.strip().splitlines()
    code_line = next(line for line in lines if line.startswith("exit="))
    assert int(code_line.removeprefix("exit=")) == 2, done.stderr
    assert lines[-1] == code_line, f"left in the cache: {lines[lines.index(code_line) + 1:]}"
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("sdkgen: error: "), errors
    assert "No space left on device" in errors[0] and "SDKGEN_CACHE_DIR" in errors[0]
    for debris in ("Traceback", "%|", "it/s", "\r"):
        assert debris not in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()
