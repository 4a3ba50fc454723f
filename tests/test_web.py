"""`sdkgen web`: the generated Vite app, installed from its own lockfile, built, served on
127.0.0.1 with the headers the README asks for, and driven in Debian's headless Chromium
(tests/web/drive.mjs) against llama.cpp on the host."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import REPO
from sdk_gen import pins
from sdk_gen.conversion import ConversionRequest
from sdk_gen.formats.base import ProjectOptions
from sdk_gen.formats.vite import WebVersions
from sdk_gen.project import ProjectRequest, generate_project
from sdk_gen.runtimes.llamacpp.phone import demo_banned_tokens
from sdk_gen.toolchain_cache import toolchain_root
from sdk_gen.units import GIB, MIB

DRIVER = REPO / "tests/web/drive.mjs"
CHROMIUM = "/usr/bin/chromium"
PROMPT = "Hello, my name is"
CONTEXT = 512


def _need(tool: str) -> str:
    found = shutil.which(tool)
    if not found:
        pytest.fail(f"{tool} is missing: run scripts/setup.sh (it installs Debian's chromium; node and npm come with the machine)")
    return found


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("web-cache")


@pytest.fixture(scope="module")
def project(demo_model, tmp_path_factory, cache_dir):
    conversion = ConversionRequest(model=str(demo_model), profile="chrome-desktop", runtime="llamacpp", quant="q8_0",
                                   context=CONTEXT, cache_dir=cache_dir)
    out = tmp_path_factory.mktemp("web") / "demo-chat"
    return generate_project(ProjectRequest("web", conversion, ProjectOptions(app_id="demo-chat"), out))


def _npm(args: list[str], cwd: Path) -> None:
    # The npm cache is an optimisation only: `npm ci` works from an empty one (the registry is reachable).
    command = [_need("npm"), *args, "--no-audit", "--no-fund", "--cache", str(toolchain_root() / "npm-cache")]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"npm {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def built(project) -> Path:
    _npm(["ci"], project.path)
    done = subprocess.run([_need("npm"), "run", "build"], cwd=project.path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return project.path / "dist"


class _IsolatedSite(SimpleHTTPRequestHandler):
    """A static host set up as the generated README asks: cross-origin isolation on every response."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm"}

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args):
        pass


def _serve(folder: Path, handler: type = _IsolatedSite) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def site(built):
    server = _serve(built)
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


def drive(project_dir: Path, url: str, actions: list[dict], webgpu: bool = False) -> list[dict]:
    """Run the actions in headless Chromium (tests/web/drive.mjs); ``webgpu`` gives the page a
    WebGPU adapter (SwiftShader's, in software) for engines that compute on one."""
    _need("node")
    if not Path(CHROMIUM).is_file():
        pytest.fail("Chromium is missing: run scripts/setup.sh (apt-get install chromium)")
    env = {"PATH": "/usr/bin:/bin", "CHROMIUM_PATH": CHROMIUM, "DRIVE_WEBGPU": "1" if webgpu else "0"}
    done = subprocess.run(["node", str(DRIVER), str(project_dir), url, json.dumps(actions)],
                          capture_output=True, text=True, timeout=900, env=env)
    try:
        # split("\n"), not splitlines(): page text in the JSON may hold U+2028, a line break to Python.
        output = json.loads(done.stdout.strip().split("\n")[-1])
    except (ValueError, IndexError):
        pytest.fail(f"the driver printed no result (rc {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return output["results"]


def _gguf(project) -> Path:
    return project.conversion.artifact.path


@pytest.fixture(scope="module")
def reference(project):
    """llama.cpp on the host, set up as wllama runs it (flash attention on), with the tokens whose
    bytes are not valid UTF-8 on their own banned: wllama ends a request on such a token, and a
    random-weight demo model emits them at once. End-of-generation tokens are banned too, so both
    sides decode the full length."""
    import llama_cpp
    import numpy as np

    llm = llama_cpp.Llama(model_path=str(_gguf(project)), n_ctx=CONTEXT, n_threads=1, flash_attn=True, logits_all=True,
                          verbose=False, seed=0)
    vocab = llm._model.vocab
    banned = sorted(set(demo_banned_tokens(_gguf(project)))
                    | {token for token in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, token)})

    def greedy(prompt: str, steps: int) -> list[int]:
        llm.reset()
        llm.eval(llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
        ids = []
        for _ in range(steps):
            logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
            logits[banned] = -np.inf
            token = int(np.argmax(logits))
            ids.append(token)
            llm.eval([token])
        return ids

    return {"banned": banned, "greedy": greedy}


def test_the_project_pins_every_package_and_its_lockfile_agrees(project):
    root = project.path
    package = json.loads((root / "package.json").read_text())
    wanted = {"vite": WebVersions().vite, "typescript": WebVersions().typescript, "@wllama/wllama": pins.WLLAMA,
              "hash-wasm": WebVersions().hash_wasm, "@playwright/test": WebVersions().playwright_test,
              "playwright-core": WebVersions().playwright_core}
    declared = {**package.get("dependencies", {}), **package.get("devDependencies", {})}
    assert {name: declared.get(name) for name in wanted} == wanted  # exact versions, no ranges
    lock = json.loads((root / "package-lock.json").read_text())
    root_entry = lock["packages"][""]
    assert root_entry.get("dependencies", {}) == package.get("dependencies", {})
    assert root_entry.get("devDependencies", {}) == package.get("devDependencies", {})
    for name, version in wanted.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    config = (root / "vite.config.ts").read_text()
    assert "Cross-Origin-Opener-Policy" in config and "Cross-Origin-Embedder-Policy" in config
    readme = (root / "README.md").read_text()
    assert "Cross-Origin-Embedder-Policy" in readme and "npm ci" in readme
    assert (root / ".github/workflows/web.yml").is_file() and (root / "e2e/chat.spec.ts").is_file()
    model = root / "public/models" / project.generation.conversion.job.artifact_name
    assert model.read_bytes() == _gguf(project).read_bytes()


def test_the_page_decodes_what_llama_cpp_decodes_streamed_whole_and_after_a_cancel(project, site, reference):
    steps = 16
    results = drive(project.path, site, [
        {"do": "env"},
        {"do": "prepare", "storage": "opfs", "settings": {"threads": 1}},
        {"do": "generate", "prompt": PROMPT, "maxTokens": steps, "banned": reference["banned"], "stream": True},
        {"do": "generate", "prompt": PROMPT, "maxTokens": steps, "banned": reference["banned"], "stream": False},
        {"do": "cancel", "prompt": PROMPT, "afterTokens": 5, "maxTokens": 64, "banned": reference["banned"]},
        {"do": "generate", "prompt": PROMPT, "maxTokens": steps, "banned": reference["banned"], "stream": True},
    ])
    env, prepared, streamed, whole, cancelled, after = results
    assert all(r["ok"] for r in results), results
    assert env["crossOriginIsolated"] is True
    assert prepared["prepared"] and prepared["stages"] == ["CHECKING_MEMORY", "FETCHING_MODEL", "CHECKING_MEMORY", "LOADING"]
    assert prepared["sha256"] == project.conversion.artifact.sha256
    expected = reference["greedy"](PROMPT, steps)
    assert streamed["ids"] == expected
    assert streamed["streamedIds"] == expected and streamed["streamedText"] == streamed["text"]
    assert whole["ids"] == expected and whole["text"] == streamed["text"]
    # Cancel after five tokens: the stream stops there, and the engine decodes the same again.
    assert cancelled["pieces"] == 5 and cancelled["ids"][:5] == expected[:5]
    assert after["ids"] == expected


def test_a_tampered_model_is_refused_and_not_kept(project, built, tmp_path):
    copy = tmp_path / "dist"
    shutil.copytree(built, copy)
    model = copy / "models" / project.generation.conversion.job.artifact_name
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    server = _serve(copy)
    try:
        prepared, stored = drive(project.path, f"http://127.0.0.1:{server.server_port}/", [
            {"do": "prepare", "storage": "opfs"},
            {"do": "stored"},
        ])
    finally:
        server.shutdown()
    assert prepared["prepared"] is False and prepared["error"]["name"] == "ModelIntegrityError", prepared
    assert "LOADING" not in prepared["stages"]
    assert stored["bytes"] is None


class _DroppingRangeSite(_IsolatedSite):
    """Serves the model with byte ranges (206, as static hosts do); the first request for it gets
    the headers of the whole file and then only ``cut`` bytes before the connection drops."""

    model_path = ""
    cut = 0
    requests: list = []

    def do_GET(self):
        if self.path.split("?")[0] != self.model_path:
            return super().do_GET()
        data = (Path(self.directory) / self.model_path.lstrip("/")).read_bytes()
        wanted = self.headers.get("Range")
        type(self).requests.append(wanted)
        start = int(wanted.removeprefix("bytes=").split("-")[0]) if wanted else 0
        self.send_response(206 if wanted else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if len(type(self).requests) == 1:
            self.wfile.write(data[: self.cut])
            self.wfile.flush()
            time.sleep(1.0)  # the page reads what was sent before the connection drops
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(data[start:])


def _dropping_site(project, built: Path) -> tuple[type, ThreadingHTTPServer]:
    """The built site, its model served by a fresh _DroppingRangeSite cut halfway (its own request log)."""
    name = project.generation.conversion.job.artifact_name
    site = type("Site", (_DroppingRangeSite,), {"model_path": f"/models/{name}", "cut": project.conversion.artifact.bytes // 2,
                                                "requests": []})
    return site, _serve(built, site)


def test_an_interrupted_download_continues_from_the_bytes_it_kept(project, built):
    size = project.conversion.artifact.bytes
    site, server = _dropping_site(project, built)
    try:
        dropped, kept, resumed = drive(project.path, f"http://127.0.0.1:{server.server_port}/", [
            {"do": "prepare", "storage": "opfs"},
            {"do": "stored"},
            {"do": "prepare", "storage": "opfs"},
        ])
    finally:
        server.shutdown()
    assert dropped["prepared"] is False and dropped["error"]["name"] == "DownloadError", dropped
    # What reached the page before the drop (the network stack may hold back the last chunks) is kept.
    assert 0 < kept["bytes"] <= size // 2, kept
    assert resumed["prepared"] is True and resumed["sha256"] == project.conversion.artifact.sha256, resumed
    assert site.requests == [None, f"bytes={kept['bytes']}-"]  # the second request asks only for the rest


def test_kept_bytes_that_were_changed_fail_the_check_and_the_next_try_starts_afresh(project, built):
    site, server = _dropping_site(project, built)
    try:
        dropped, _, refused, fresh = drive(project.path, f"http://127.0.0.1:{server.server_port}/", [
            {"do": "prepare", "storage": "opfs"},
            {"do": "tamper", "byte": 100},  # the kept half, changed on disk
            {"do": "prepare", "storage": "opfs"},
            {"do": "prepare", "storage": "opfs"},
        ])
    finally:
        server.shutdown()
    assert dropped["error"]["name"] == "DownloadError", dropped
    # The continued file is checked whole: the changed byte fails it, it is deleted, never loaded ...
    assert refused["prepared"] is False and refused["error"]["name"] == "ModelIntegrityError", refused
    assert "LOADING" not in refused["stages"]
    # ... and the next try downloads it all again.
    assert fresh["prepared"] is True and site.requests[1].startswith("bytes=") and site.requests[2] is None, site.requests


def test_the_memory_gate_refuses_before_any_download(project, site):
    tiny_device = {"deviceMemoryGiB": 0.25}
    refused, allowed = drive(project.path, site, [
        {"do": "prepare", "storage": "none", "memory": tiny_device},
        {"do": "prepare", "storage": "none", "memory": tiny_device, "allowInsufficientMemory": True},
    ])
    assert refused["prepared"] is False and refused["error"]["name"] == "InsufficientMemoryError", refused
    assert refused["stages"] == ["CHECKING_MEMORY"] and "download" not in refused["phases"]
    assert allowed["prepared"] is True


def test_the_chat_page_after_a_reply(project, site, tmp_path):
    from PIL import Image, ImageStat

    shot = tmp_path / "chat.png"
    loaded, sent, _ = drive(project.path, site, [
        {"do": "ui-load"},
        # No banned ids from the test: the app's own default keeps the demo model's replies text.
        {"do": "ui-send", "message": "Hello", "maxTokens": 24, "greedy": True},
        {"do": "screenshot", "path": str(shot)},
    ])
    assert loaded["state"] == "ready" and loaded["sendEnabled"], loaded
    assert loaded["progress"]["value"] == loaded["progress"]["max"]
    assert sent["reply"] and sent["reply"].strip(), sent
    assert "tokens/s" in sent["stats"]
    with Image.open(shot) as image:
        assert image.width >= 300 and image.height >= 300
        spread = ImageStat.Stat(image.convert("L")).stddev[0]
    assert spread > 5, "the screenshot is blank"


def test_retry_writes_the_last_reply_again_in_its_place(project, site):
    _, first, retried = drive(project.path, site, [
        {"do": "ui-load"},
        {"do": "ui-send", "message": "Hello", "maxTokens": 12, "greedy": True},
        {"do": "evaluate", "expression": """(async () => {
            const before = Number(document.body.dataset.replies);
            document.getElementById('retry').click();
            while (Number(document.body.dataset.replies) === before || document.body.dataset.state !== 'ready') {
                await new Promise((done) => setTimeout(done, 50));
            }
            const items = [...document.querySelectorAll('#messages li')];
            return { items: items.length, reply: items.at(-1).querySelector('.text').textContent,
                     turns: window.sdkgen.engine.messages.map((m) => m.role) };
        })()"""},
    ])
    assert first["reply"] and retried["ok"], retried
    # One exchange on the screen and in the conversation, not two; greedy, so the same reply again.
    assert retried["value"]["items"] == 2 and retried["value"]["turns"] == ["user", "assistant"], retried
    assert retried["value"]["reply"] == first["reply"]


def run_project_playwright_test(root: Path) -> None:
    """The generated project's own Playwright test (its CI job), in Debian's Chromium: one test passes."""
    done = subprocess.run([_need("npx"), "playwright", "test"], cwd=root, capture_output=True, text=True, timeout=900,
                          env={"PATH": "/usr/bin:/bin", "CHROMIUM_PATH": CHROMIUM, "CI": "1", "HOME": str(root)})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout, done.stdout[-4000:]


@pytest.mark.slow
def test_the_generated_playwright_test_passes(project, built):
    run_project_playwright_test(project.path)


def test_a_bundled_model_too_large_for_git_goes_to_lfs(demo_model, tmp_path, cache_dir, monkeypatch, project):
    import yaml

    from sdk_gen.formats import vite

    assert not (project.path / ".gitattributes").exists()  # the demo model is small: plain Git
    monkeypatch.setattr(vite, "GIT_LARGE_FILE_BYTES", 1000)  # as if the demo were over GitHub's 50 MiB
    conversion = ConversionRequest(model=str(demo_model), profile="chrome-desktop", runtime="llamacpp", quant="q8_0",
                                   context=CONTEXT, cache_dir=cache_dir)
    big = generate_project(ProjectRequest("web", conversion, ProjectOptions(app_id="big-chat"), tmp_path / "big")).path
    assert (big / ".gitattributes").read_text().splitlines()[-1] == "public/models/** filter=lfs diff=lfs merge=lfs -text"
    steps = yaml.safe_load((big / ".github/workflows/web.yml").read_text())["jobs"]["build-and-test"]["steps"]
    assert steps[0] == {"uses": "actions/checkout@v4", "with": {"lfs": True}}
    assert "git lfs install" in (big / "README.md").read_text()


def test_a_file_over_the_streaming_threshold_is_hashed_as_it_streams(project, site):
    """Above 64 MiB the SHA-256 comes from hash-wasm over the stream (constant memory), not from
    SubtleCrypto's one-shot digest: the same digest as Python's."""
    import hashlib

    import numpy as np

    size = 70 * 1024 * 1024
    (hashed,) = drive(project.path, site, [{"do": "evaluate", "expression": f"""(async () => {{
        const bytes = new Uint8Array({size});
        for (let i = 0; i < bytes.length; i++) bytes[i] = i % 251;
        const seen = [];
        const digest = await window.sdkgen.sha256Hex(new Blob([bytes]), (n) => seen.push(n));
        return {{ digest, threshold: window.sdkgen.STREAMING_HASH_FROM_BYTES, updates: seen.length }};
    }})()"""}])
    assert hashed["ok"], hashed
    expected = hashlib.sha256((np.arange(size, dtype=np.int64) % 251).astype(np.uint8).tobytes()).hexdigest()
    value = hashed["value"]
    assert value["threshold"] < size and value["digest"] == expected
    assert value["updates"] > 1  # streamed in chunks, with progress for each


def test_a_site_serves_its_own_model_whatever_its_size():
    from sdk_gen.formats import get_format

    web, gradle = get_format("vite"), get_format("gradle")
    assert web.delivery(3 * GIB, None) == "bundled" and web.delivery(3 * GIB, "https://x.example/m.gguf") == "download"
    assert gradle.delivery(3 * GIB, None) == "sideload"  # an APK has a size limit; a site does not


def test_the_tab_budget_counts_the_renderer_and_the_fetched_copy(demo_model):
    from conftest import run_cli

    plan = json.loads(run_cli("plan", "--model", str(demo_model), "--profile", "chrome-desktop", "--json").stdout)
    budget = plan["budget"] if "weights_bytes" in plan["budget"] else plan["budget"]["predicted"]
    assert plan["plan"]["runtime"] == "llamacpp"  # auto takes wllama; MediaPipe on WebGPU is asked for
    assert budget["load_copy_bytes"] == budget["weights_bytes"]  # the fetched file, held while wllama reads it
    assert budget["overhead_bytes"] == 540 * MIB
    assert budget["budget_bytes"] == int(4.5 * GIB)


HOSTILE_APP_NAME = 'Chat "q" </script><img src=x onerror=alert(1)> ${x} `t` \\ \u2028 ünï\nline'


def test_a_hostile_app_name_builds_and_reads_back_exactly(demo_model, tmp_path, cache_dir):
    """A name with quotes, a closing script tag, markup, template syntax, a backslash, U+2028 and a
    newline: the project type-checks and builds, the page shows it as text, and JavaScript reads
    it back unchanged."""
    conversion = ConversionRequest(model=str(demo_model), profile="chrome-desktop", runtime="llamacpp", quant="q8_0",
                                   context=CONTEXT, cache_dir=cache_dir)
    result = generate_project(ProjectRequest("web", conversion, ProjectOptions(app_id="hostile-chat", app_name=HOSTILE_APP_NAME),
                                             tmp_path / "hostile"))
    _npm(["ci"], result.path)
    done = subprocess.run([_need("npm"), "run", "build"], cwd=result.path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    html = (result.path / "dist/index.html").read_text()
    assert "<img src=x" not in html and "</script><img" not in html
    server = _serve(result.path / "dist")
    try:
        (read,) = drive(result.path, f"http://127.0.0.1:{server.server_port}/", [
            {"do": "evaluate", "expression": "({title: document.title, name: window.sdkgen.ModelInfo.appName ?? null, "
                                             "imgs: document.images.length})"},
        ])
    finally:
        server.shutdown()
    assert read["ok"], read
    assert read["value"]["imgs"] == 0
    assert read["value"]["title"].replace("\n", " ").split() == HOSTILE_APP_NAME.replace("\n", " ").split()
    if read["value"]["name"] is not None:
        assert read["value"]["name"] == HOSTILE_APP_NAME


ENGINE_RACES = """(async () => {
  const engine = window.__drive.engine;
  // cancel() right after asking: the request never reaches the runtime.
  const asked = engine.chat('Hello', { maxTokens: 200 });
  engine.cancel();
  const cancelled = await asked;
  const before = await engine.chat('Hi', { maxTokens: 8 });
  // reset() not awaited, then a turn: the turn must not carry the old conversation.
  engine.reset();
  const after = await engine.chat('Hi', { maxTokens: 8 });
  const messages = engine.messages.length;
  // close() while a reply runs: it stops; a later request is refused with a clear error.
  const running = engine.chat('Tell me more', { maxTokens: 200 });
  const closing = engine.close();
  const late = await engine.chat('again').then(() => 'answered', (error) => `${error.name}: ${error.message}`);
  const stopped = await running;
  await closing;
  return {
    cancelled: { finish: cancelled.finishReason, ids: cancelled.ids.length },
    promptBefore: before.promptTokens + before.cachedTokens,
    promptAfter: after.promptTokens + after.cachedTokens,
    messages,
    late,
    stopped: stopped.finishReason,
  };
})()"""


def test_cancel_reset_and_close_reach_queued_and_running_requests(project, site):
    prepared, races = drive(project.path, site, [
        {"do": "prepare", "storage": "none"},
        {"do": "evaluate", "expression": ENGINE_RACES},
    ])
    assert prepared["prepared"] and races["ok"], races
    value = races["value"]
    assert value["cancelled"] == {"finish": "cancelled", "ids": 0}
    assert value["promptAfter"] < value["promptBefore"] and value["messages"] == 2
    assert value["late"] == "EngineError: The engine was closed; prepare a new one."
    assert value["stopped"] == "cancelled"


def test_only_what_lives_in_the_wasm_heap_is_held_to_its_limit(project, site):
    """The tab's own memory and the fetched copy are outside WebAssembly's 4 GiB: a plan whose
    heap part fits is not refused for its total, and one whose heap part does not fit is."""
    (check,) = drive(project.path, site, [{"do": "evaluate", "expression": f"""(() => {{
        const snapshot = {{ wasmHeapLimitBytes: 4 * {GIB}, deviceMemoryGiB: 8 }};
        const fits = window.sdkgen.decideMemory(snapshot, 4.5 * {GIB}, 1, 2.2 * {GIB});
        const over = window.sdkgen.decideMemory(snapshot, 5 * {GIB}, 1, 4.2 * {GIB});
        return {{ fits: fits.kind, over: over.kind }};
    }})()"""}])
    assert check["ok"], check
    assert check["value"]["fits"] != "exceeds-wasm-heap" and check["value"]["over"] == "exceeds-wasm-heap"


def test_a_browser_without_jspi_is_told_before_any_download(project, site):
    checked, refused = drive(project.path, site, [
        {"do": "evaluate", "expression": "window.sdkgen.missingBrowserFeature()"},
        {"do": "evaluate", "expression": """(async () => {
            delete WebAssembly.Suspending;  // what a browser without JSPI looks like
            const llm = new window.sdkgen.OnDeviceLlm({ storage: 'none' });
            const phases = [];
            try {
                await llm.prepare({ onProgress: (p) => phases.push(p.phase) });
                return { error: null, phases };
            } catch (error) {
                return { error: error.name, message: error.message, phases };
            }
        })()"""},
    ])
    assert checked["ok"] and checked["value"] is None  # this Chromium has everything
    assert refused["value"]["error"] == "UnsupportedBrowserError" and "JSPI" in refused["value"]["message"]
    assert refused["value"]["phases"] == []
