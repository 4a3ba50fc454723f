"""A GGUF larger than one file the browser runtime can load ships as llama.cpp split-GGUF shards:
sdkgen's splitter (sdk_gen/runtimes/llamacpp/split.py) checked against gguf-py and llama.cpp, and
the generated web app with forced small shards of the demo model, built, served and driven in
headless Chromium like tests/test_web.py does (its helpers and fixtures are reused)."""

from __future__ import annotations

import functools
import json
import re
import sys
import threading
from dataclasses import replace
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from sdk_gen.conversion import ConversionRequest, convert
from sdk_gen.errors import BadInput
from sdk_gen.formats import get_format
from sdk_gen.formats.base import ProjectOptions
from sdk_gen.formats.vite import SHARD_LIMIT_OPTION
from sdk_gen.hashing import sha256_file
from sdk_gen.project import ProjectRequest, generate_project
from sdk_gen.runtimes.llamacpp import split
from sdk_gen.runtimes.llamacpp.split import (
    SPLIT_COUNT,
    SPLIT_NO,
    SPLIT_TENSORS_COUNT,
    WEB_SHARD_LIMIT_BYTES,
    cached_split,
    gguf_py,
    split_gguf,
)

# The web tests' helpers, and their fixtures over this module's own `project` (the split one):
# `cache_dir`, `built` (npm ci + build), `site` (served with COOP/COEP) and `reference` (llama.cpp
# on the host, greedy, over the unsplit GGUF, with wllama's banned tokens).
from test_web import CONTEXT, PROMPT, _IsolatedSite, drive
from test_web import built, cache_dir, reference, site  # noqa: F401  (fixtures)

SHARDS = 3  # what the forced limit below makes of the demo model


def _conversion(demo_model, cache_dir) -> ConversionRequest:
    return ConversionRequest(model=str(demo_model), profile="chrome-desktop", runtime="llamacpp", quant="q8_0",
                             context=CONTEXT, cache_dir=cache_dir, platform="web")


@pytest.fixture(scope="module")
def artifact(demo_model, cache_dir):
    """The verified q8_0 GGUF of the demo model (Q8_0 matrices, F32 norms and biases)."""
    return convert(_conversion(demo_model, cache_dir)).artifact


@pytest.fixture(scope="module")
def forced_limit(artifact) -> int:
    """Half the file: no two shards can hold it, so it ships as three."""
    return artifact.bytes // 2


@pytest.fixture(scope="module")
def project(demo_model, tmp_path_factory, cache_dir, forced_limit):
    options = ProjectOptions(app_id="split-chat", extra={SHARD_LIMIT_OPTION: forced_limit})
    out = tmp_path_factory.mktemp("web-split") / "split-chat"
    return generate_project(ProjectRequest("web", _conversion(demo_model, cache_dir), options, out))


def _read(path: Path):
    with gguf_py() as gguf:
        return gguf.GGUFReader(path)


def _value(field):
    """A metadata value as stored: strings as bytes, arrays as lists."""
    if len(field.types) > 1:  # an array
        return [bytes(field.parts[i]) if field.types[1].name == "STRING" else field.parts[i][0].item() for i in field.data]
    part = field.parts[field.data[0]]
    return bytes(part) if field.types[0].name == "STRING" else part[0].item()


def _keys(reader) -> dict:
    return {name: _value(field) for name, field in reader.fields.items() if not name.startswith("GGUF.")}


def _greedy(gguf: Path, steps: int = 16) -> list[int]:
    import llama_cpp
    import numpy as np

    llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=CONTEXT, n_threads=1, logits_all=True, verbose=False, seed=0)
    llm.eval(llm.tokenize(PROMPT.encode("utf-8"), add_bos=True, special=True))
    ids = []
    for _ in range(steps):
        ids.append(int(np.argmax(llm.scores[llm.n_tokens - 1])))
        llm.eval([ids[-1]])
    return ids


# --- the splitter ---------------------------------------------------------------------------

def test_shards_are_ggufs_in_llama_cpp_split_layout_with_the_tensor_bytes_unchanged(artifact, forced_limit, tmp_path):
    shards = split_gguf(artifact.path, tmp_path / "shards", forced_limit)
    source = _read(artifact.path)
    stem = artifact.path.stem
    assert [s.path.name for s in shards] == [f"{stem}-{i:05d}-of-{SHARDS:05d}.gguf" for i in range(1, SHARDS + 1)]
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [s.path.name for s in shards]  # nothing else

    source_keys = _keys(source)
    source_tensors = {t.name: t for t in source.tensors}
    seen = []
    for index, shard in enumerate(shards):
        assert shard.bytes == shard.path.stat().st_size <= forced_limit
        assert shard.sha256 == sha256_file(shard.path)
        reader = _read(shard.path)
        keys = _keys(reader)
        split_keys = {SPLIT_NO: index, SPLIT_COUNT: SHARDS, SPLIT_TENSORS_COUNT: len(source.tensors)}
        # The first shard: every key of the source, in its order, then the split keys; the others: only those.
        expected = {**source_keys, **split_keys} if index == 0 else split_keys
        assert keys == expected and list(keys) == list(expected)
        assert [reader.fields[k].types[0].name for k in split_keys] == ["UINT16", "UINT16", "INT32"]
        assert shard.tensors == len(reader.tensors) > 0
        for tensor in reader.tensors:
            original = source_tensors[tensor.name]
            assert tensor.tensor_type == original.tensor_type and list(tensor.shape) == list(original.shape)
            assert bytes(tensor.data) == bytes(original.data)  # copied unchanged, quantized blocks included
            assert tensor.data_offset % (source.alignment if index == 0 else 32) == 0
            seen.append(tensor.name)
    assert seen == [t.name for t in source.tensors]  # each tensor once, in the source's order
    assert {t.tensor_type.name for t in source.tensors} == {"Q8_0", "F32"}


def test_llama_cpp_loads_the_first_shard_and_decodes_what_the_whole_file_decodes(artifact, forced_limit, tmp_path):
    shards = split_gguf(artifact.path, tmp_path / "shards", forced_limit)
    whole = _greedy(artifact.path)
    assert _greedy(shards[0].path) == whole
    assert len(set(whole)) > 1  # a real sequence, not one token repeated


def test_every_limit_is_respected_and_a_tensor_never_spans_shards(artifact, tmp_path):
    source = _read(artifact.path)
    largest = max(t.n_bytes for t in source.tensors)
    for number, limit in enumerate([artifact.bytes + 4096, artifact.bytes // 2, artifact.bytes // 4, largest + 4096]):
        shards = split_gguf(artifact.path, tmp_path / f"limit-{number}", limit)
        assert all(s.bytes <= limit for s in shards), (limit, [s.bytes for s in shards])
        assert sum(s.tensors for s in shards) == len(source.tensors)
    assert len(shards) > SHARDS  # the smallest limit makes many


@pytest.mark.parametrize("limit", [1000, "largest"])
def test_a_limit_no_tensor_fits_is_refused_and_leaves_nothing(artifact, tmp_path, limit):
    largest = max(t.n_bytes for t in _read(artifact.path).tensors)
    before = set(tmp_path.iterdir())
    with pytest.raises(BadInput, match="does not fit"):
        split_gguf(artifact.path, tmp_path / "shards", largest if limit == "largest" else limit)
    assert set(tmp_path.iterdir()) == before


def test_a_failure_while_writing_leaves_nothing_behind(artifact, forced_limit, tmp_path, monkeypatch):
    written = []
    real = split._write_shard

    def fail_on_the_second(gguf, reader, path, index, *args):
        if index == 1:
            raise OSError(28, "No space left on device")
        real(gguf, reader, path, index, *args)
        written.append(path)

    monkeypatch.setattr(split, "_write_shard", fail_on_the_second)
    with pytest.raises(OSError):
        split_gguf(artifact.path, tmp_path / "shards", forced_limit)
    assert written and not written[0].exists()  # the first shard was written, then removed with its staging folder
    assert list(tmp_path.iterdir()) == []


def test_the_splitter_refuses_a_shard_and_an_existing_folder_and_leaves_sys_path_alone(artifact, forced_limit, tmp_path):
    path_before = list(sys.path)
    shards = split_gguf(artifact.path, tmp_path / "shards", forced_limit)
    assert sys.path == path_before
    with pytest.raises(BadInput, match="already a shard"):
        split_gguf(shards[0].path, tmp_path / "again", forced_limit)
    with pytest.raises(BadInput, match="already exists"):
        split_gguf(artifact.path, tmp_path / "shards", forced_limit)


def test_cached_shards_are_reused_and_a_damaged_set_is_written_again(artifact, forced_limit, tmp_path):
    import shutil

    from sdk_gen.cache import CachedArtifact

    entry = tmp_path / "entry"
    entry.mkdir()
    shutil.copyfile(artifact.path, entry / artifact.path.name)
    copy = CachedArtifact(artifact.key, entry / artifact.path.name, artifact.bytes, artifact.sha256, {})
    first = cached_split(copy, forced_limit)
    stamps = [p.path.stat().st_mtime_ns for p in first]
    again = cached_split(copy, forced_limit)
    assert again == first and [p.path.stat().st_mtime_ns for p in again] == stamps  # reused, not rewritten
    first[1].path.write_bytes(b"truncated")
    repaired = cached_split(copy, forced_limit)
    assert [(p.path.name, p.bytes, p.sha256) for p in repaired] == [(p.path.name, p.bytes, p.sha256) for p in first]
    assert all(sha256_file(p.path) == p.sha256 for p in repaired)


def test_the_web_shard_limit_is_what_wllama_can_read():
    # wllama reads a file through a 32-bit ftell(): 2^31 - 1 bytes at most (its worker's note).
    assert WEB_SHARD_LIMIT_BYTES == 2**31 - 1


# --- the generated project ------------------------------------------------------------------

def _model_info_files(root: Path) -> list[dict]:
    text = (root / "src/sdk/modelInfo.ts").read_text()
    found = re.findall(r'\{ fileName: ("[^"]+"), sizeBytes: (\d+), sha256: ("[0-9a-f]{64}") \}', text)
    return [{"file_name": json.loads(name), "bytes": int(size), "sha256": json.loads(digest)} for name, size, digest in found]


def test_the_project_ships_the_shards_and_names_each_with_its_size_and_sha256(project, artifact):
    root = project.path
    models = root / "public/models"
    names = sorted(p.name for p in models.iterdir())
    assert len(names) == SHARDS and artifact.path.name not in names
    files = _model_info_files(root)
    assert [f["file_name"] for f in files] == names  # in load order: 00001 first
    for file in files:
        assert (models / file["file_name"]).stat().st_size == file["bytes"]
        assert sha256_file(models / file["file_name"]) == file["sha256"]
    info = (root / "src/sdk/modelInfo.ts").read_text()
    assert f"totalBytes: {sum(f['bytes'] for f in files)}," in info
    assert f'url: "models/{artifact.path.name}",' in info  # the shards are resolved beside it
    readme = (root / "README.md").read_text()
    assert all(f"`{f['file_name']}` | {f['bytes']} | `{f['sha256']}`" in readme for f in files)
    report = json.loads((root / "sdkgen-report.json").read_text())
    assert {f"public/models/{name}" for name in names} <= set(report["project"]["files"])
    import tomllib

    recorded = tomllib.loads((root / "sdkgen.toml").read_text())["artifact"]
    assert recorded["sha256"] == artifact.sha256
    assert [{"file_name": r["file"], "bytes": r["bytes"], "sha256": r["sha256"]} for r in recorded["shards"]] == files
    # The memory gate checks the whole model (its weights, and every shard held while loading), not one file.
    rows = {row.key: row.bytes for row in project.generation.budget.rows()}
    assert rows["weights"] == artifact.bytes and rows["load_copy"] >= artifact.bytes
    assert int(re.search(r"requiredBytes: (\d+),", info).group(1)) == sum(rows.values()) > sum(f["bytes"] for f in files)


def test_a_small_model_keeps_its_one_file(demo_model, tmp_path, cache_dir, artifact):
    result = generate_project(ProjectRequest("web", _conversion(demo_model, cache_dir), ProjectOptions(app_id="one-chat"),
                                             tmp_path / "one"))
    assert sorted(p.name for p in (result.path / "public/models").iterdir()) == [artifact.path.name]
    assert _model_info_files(result.path) == [{"file_name": artifact.path.name, "bytes": artifact.bytes, "sha256": artifact.sha256}]
    assert "shards" not in (result.path / "README.md").read_text()


def test_with_a_model_url_the_shards_wait_beside_the_project_and_the_readme_says_where_they_go(demo_model, tmp_path, cache_dir,
                                                                                                 forced_limit):
    url = "https://models.example/demo/demo-q8_0.gguf"
    options = ProjectOptions(app_id="remote-chat", model_url=url, extra={SHARD_LIMIT_OPTION: forced_limit})
    result = generate_project(ProjectRequest("web", _conversion(demo_model, cache_dir), options, tmp_path / "remote"))
    names = sorted(p.name for p in (result.path / "model").iterdir())
    assert len(names) == SHARDS and not (result.path / "public/models").exists()
    assert f'url: "{url}",' in (result.path / "src/sdk/modelInfo.ts").read_text()
    readme = " ".join((result.path / "README.md").read_text().split())
    assert "last path segment" in readme and all(f"`{name}`" in readme for name in names)


@pytest.mark.parametrize("extra", [{SHARD_LIMIT_OPTION: 0}, {SHARD_LIMIT_OPTION: -1},
                                   {SHARD_LIMIT_OPTION: "1M"}, {SHARD_LIMIT_OPTION: True}, {"shard_limit": 10}])
def test_a_bad_shard_limit_is_refused_before_anything_runs(extra):
    with pytest.raises(BadInput):
        get_format("vite").validate(ProjectOptions(extra=extra), "demo")


def test_the_shard_limit_option_survives_validation():
    checked = get_format("vite").validate(ProjectOptions(extra={SHARD_LIMIT_OPTION: 1234}), "demo")
    assert checked.extra == {SHARD_LIMIT_OPTION: 1234} and replace(checked, extra={}).app_id == "demo-chat"


# --- in the browser -------------------------------------------------------------------------

class _FirstServingTampered(_IsolatedSite):
    """The isolated static host, except that the first request for one file gets it with a byte
    flipped (a corrupted download); every request's file name is logged."""

    def __init__(self, *args, tampered: str, requests: list[str], **kwargs):
        self.tampered, self.requests = tampered, requests
        super().__init__(*args, **kwargs)

    def do_GET(self):
        name = self.path.split("?", 1)[0].rsplit("/", 1)[-1]
        self.requests.append(name)
        if name != self.tampered or self.requests.count(name) > 1:
            return super().do_GET()
        data = bytearray((Path(self.directory) / "models" / name).read_bytes())
        data[len(data) // 2] ^= 0x01
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(bytes(data))


@pytest.mark.slow
def test_the_page_loads_the_shards_and_decodes_what_llama_cpp_decodes(project, site, reference):
    steps = 16
    remote = "https://models.example/demo/demo-q8_0.gguf?signature=1"
    urls, prepared, parts, generated, again, parts_again = drive(project.path, site, [
        # Where the shards of a model at --model-url (or OnDeviceLlm's modelUrl) are fetched from.
        {"do": "evaluate", "expression": f"window.sdkgen.modelFileUrls({{ url: {json.dumps(remote)}, "
                                         "files: window.sdkgen.ModelInfo.files })"},
        {"do": "prepare", "storage": "opfs", "settings": {"threads": 1}},
        {"do": "evaluate", "expression": "window.__drive.llm.lastModelFile.parts.map((p) => "
                                         "({ name: p.fileName, bytes: p.blob.size, sha256: p.sha256, source: p.source }))"},
        {"do": "generate", "prompt": PROMPT, "maxTokens": steps, "banned": reference["banned"], "stream": True},
        # A second visit's prepare: every shard from the browser's storage.
        {"do": "prepare", "storage": "opfs", "settings": {"threads": 1}},
        {"do": "evaluate", "expression": "window.__drive.llm.lastModelFile.parts.map((p) => p.source)"},
    ])
    files = _model_info_files(project.path)
    assert urls["value"] == [f"https://models.example/demo/{f['file_name']}" for f in files]
    assert prepared["prepared"], prepared
    assert prepared["stages"] == ["CHECKING_MEMORY", "FETCHING_MODEL", "CHECKING_MEMORY", "LOADING"]
    assert parts["value"] == [{"name": f["file_name"], "bytes": f["bytes"], "sha256": f["sha256"], "source": "network"}
                              for f in files]
    assert prepared["lastProgress"]["totalBytes"] == sum(f["bytes"] for f in files)
    assert generated["ok"] and generated["ids"] == reference["greedy"](PROMPT, steps)
    assert again["prepared"] and parts_again["value"] == ["opfs"] * SHARDS


@pytest.mark.slow
def test_a_tampered_shard_is_refused_deleted_and_fetched_again_alone(project, built, reference):
    files = [f["file_name"] for f in _model_info_files(project.path)]
    requests: list[str] = []
    handler = functools.partial(_FirstServingTampered, directory=str(built), tampered=files[1], requests=requests)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        refused, stored, retried, generated = drive(project.path, f"http://127.0.0.1:{server.server_port}/", [
            {"do": "prepare", "storage": "opfs", "settings": {"threads": 1}},
            {"do": "evaluate", "expression": "window.__drive.llm.store.storedFiles().then((blobs) => blobs.map((b) => b && b.size))"},
            {"do": "prepare", "storage": "opfs", "settings": {"threads": 1}},
            {"do": "generate", "prompt": PROMPT, "maxTokens": 8, "banned": reference["banned"], "stream": False},
        ])
    finally:
        server.shutdown()
    assert refused["prepared"] is False and refused["error"]["name"] == "ModelIntegrityError", refused
    assert files[1] in refused["error"]["message"] and "LOADING" not in refused["stages"]
    sizes = [f["bytes"] for f in _model_info_files(project.path)]
    assert stored["value"] == [sizes[0], None, None]  # the good shard kept, the bad one deleted, the rest never fetched
    assert retried["prepared"], retried
    # The retry fetched only what was missing: the first shard once in all, the tampered one twice.
    model_requests = [name for name in requests if name in files]
    assert model_requests == [files[0], files[1], files[1], files[2]]
    assert generated["ids"] == reference["greedy"](PROMPT, 8)
