"""The generated iOS ModelStore's download, run with Swift on Linux against a local HTTP server.

The project is rendered with download delivery pointing at a server in this process that answers
Range requests as real servers do (206 / 416) and can misbehave on request: serve tampered bytes,
cut the body short, answer slowly, or 404. An XCTest written here (SDKGenDownloadHarness) drives the
generated LLMKit (ModelStore + ModelDownloader, its background-URLSession delegate) through the
cases tests/test_android.py::test_downloads_recover_from_every_leftover proves for Android, and
writes what happened to a JSON file this test reads next to the server's request log.

What Linux cannot run (see tests/swift_toolchain.py's LINUX_GAPS): swift-corelibs-foundation has no
background transfer service, so the background configuration is a default session with the same
delegate; it never produces resume data, and its `downloadTask(withResumeData:)` fails the task as
Apple does for resume data it cannot use. So a resume with Range after an interruption is not
observable here: the harness proves the resume data in a stopped task's error is kept and consumed,
and that an interruption never installs or keeps anything.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import swift_toolchain as st
from sdk_gen.conversion import ConversionRequest
from sdk_gen.formats.base import ProjectOptions
from sdk_gen.project import ProjectRequest, generate_project, render_files


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ios-dl-cache")


@pytest.fixture(autouse=True)
def _cache_env(cache_dir, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(cache_dir))


class ModelServer:
    """Serves one file at /model; /control?mode=M&case=C switches behaviour and labels the log."""

    def __init__(self, body: bytes):
        self.body = body
        self.mode = "ok"
        self.case = "start"
        self.log: list[tuple[str, str | None]] = []  # (case, Range header) per model request
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.startswith("/control"):
                    query = dict(part.split("=", 1) for part in self.path.split("?", 1)[1].split("&"))
                    server.mode, server.case = query["mode"], query["case"]
                    self._send(200, b"ok")
                    return
                server.log.append((server.case, self.headers.get("Range")))
                if server.mode == "missing":
                    self._send(404, b"not here")
                    return
                body = bytearray(server.body)
                if server.mode == "tampered":
                    body[len(body) // 2] ^= 0x01
                start = 0
                requested = self.headers.get("Range")
                if requested:
                    start = int(requested.removeprefix("bytes=").removesuffix("-"))
                    if start >= len(body):
                        self._send(416, b"")
                        return
                part = bytes(body[start:])
                self.send_response(206 if requested else 200)
                if requested:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(part)))
                self.send_header("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
                self.end_headers()
                if server.mode == "cut":
                    self.wfile.write(part[: len(part) // 2])
                    self.wfile.flush()
                    return  # the connection closes short of Content-Length
                if server.mode == "slow":
                    step = max(1, len(part) // 10)
                    for offset in range(0, len(part), step):
                        self.wfile.write(part[offset:offset + step])
                        self.wfile.flush()
                        time.sleep(0.15)
                    return
                self.wfile.write(part)

            def _send(self, status: int, payload: bytes):
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def requests(self, case: str) -> list[str | None]:
        return [rng for logged, rng in self.log if logged == case]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


HARNESS = r"""
import Foundation
import XCTest
@testable import LLMKit

final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [[Int64]] = []
    func add(_ written: Int64, _ total: Int64) { lock.lock(); values.append([written, total]); lock.unlock() }
    var all: [[Int64]] { lock.lock(); defer { lock.unlock() }; return values }
}

final class SDKGenDownloadHarness: XCTestCase {
    let store = ModelStore()
    var downloader: ModelDownloader { ModelDownloader.shared }
    var target: URL { store.modelDirectory.appendingPathComponent(ModelInfo.fileName) }
    var exists: (URL) -> Bool = { FileManager.default.fileExists(atPath: $0.path) }

    func control(_ mode: String, _ label: String) {
        let port = ProcessInfo.processInfo.environment["SDKGEN_PORT"]!
        let url = URL(string: "http://127.0.0.1:\(port)/control?mode=\(mode)&case=\(label)")!
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: url) { _, _, _ in done.signal() }.resume()
        done.wait()
    }

    func reset(_ mode: String, _ label: String) {
        try? FileManager.default.removeItem(at: store.modelDirectory)
        try? FileManager.default.removeItem(at: ModelIntegrity.markerDirectory)
        control(mode, label)
    }

    func attempt(_ recorder: Recorder? = nil) async -> String {
        do {
            let url = try await store.ensureModel(onProgress: { written, total in recorder?.add(written, total) })
            try ModelIntegrity.verify(url)
            return url == target ? "ok" : "elsewhere"
        } catch let error as LLMError {
            switch error {
            case .integrity: return "integrity"
            case let .download(message): return "download:" + message
            case .insufficientStorage: return "storage"
            default: return "\(error)"
            }
        } catch {
            return "other:\(error)"
        }
    }

    func testDriveTheStore() async throws {
        var out: [String: Any] = ["modelDirectory": store.modelDirectory.path]

        reset("ok", "fresh")
        let progress = Recorder()
        out["fresh"] = [await attempt(progress), exists(downloader.stagedURL), exists(downloader.resumeDataURL)]
        out["progress"] = progress.all

        // The server sends corrupt bytes once: refused, nothing kept, and the next try starts over.
        reset("tampered", "tampered")
        let refused = await attempt()
        let kept = [exists(target), exists(downloader.stagedURL), exists(downloader.resumeDataURL)]
        control("ok", "tampered")
        out["tampered"] = [refused, kept, await attempt()]

        // An installed file of the right size whose bytes are wrong: fetched again, not an error forever.
        reset("ok", "wronginstalled")
        try FileManager.default.createDirectory(at: store.modelDirectory, withIntermediateDirectories: true)
        try Data(count: Int(ModelInfo.sizeBytes)).write(to: target)
        out["wronginstalled"] = [await attempt(), await attempt()]

        // A `.part` left by the foreground downloader of an earlier LLMKit is removed.
        reset("ok", "oldpart")
        try FileManager.default.createDirectory(at: store.modelDirectory, withIntermediateDirectories: true)
        try Data(count: 10).write(to: target.appendingPathExtension("part"))
        out["oldpart"] = [await attempt(), exists(target.appendingPathExtension("part"))]

        // The connection drops mid-body: an error, nothing installed or staged; the retry succeeds.
        reset("cut", "cut")
        let cut = await attempt()
        let afterCut = [exists(target), exists(downloader.stagedURL), exists(downloader.resumeDataURL)]
        control("ok", "cut")
        out["cut"] = [cut, afterCut, await attempt()]

        // An error page is never checked or installed.
        reset("missing", "missing")
        out["missing"] = [await attempt(), exists(target), exists(downloader.stagedURL)]

        // A stopped task's error carries the system's resume data: it is kept on disk for the retry...
        reset("ok", "keptresume")
        // (The stand-in task comes from a session of its own and never runs: it only carries an
        // identifier. An earlier harness cancelled a never-started task in the store's session,
        // and `swift test` died with SIGILL once in about ten runs; the cause was not pinned down.)
        let scratch = URLSession(configuration: .ephemeral)
        let stopped = scratch.downloadTask(with: URL(string: ModelInfo.downloadURL)!)
        let blob = Data("resume-data-from-the-system".utf8)
        let stop = NSError(domain: NSURLErrorDomain, code: NSURLErrorNetworkConnectionLost,
                           userInfo: [NSURLSessionDownloadTaskResumeData: blob])
        downloader.urlSession(downloader.session, task: stopped, didCompleteWithError: stop)
        let keptBlob = (try? Data(contentsOf: downloader.resumeDataURL)) == blob
        // ...and the retry resumes from it. Resume data the system cannot use fails that task (always
        // so on Linux): the store starts over instead of failing on every retry.
        out["keptresume"] = [keptBlob, await attempt(), exists(downloader.resumeDataURL)]

        // Two callers at once (the chat screen appearing twice): one download.
        reset("slow", "join")
        async let first = attempt()
        async let second = attempt()
        out["join"] = [await first, await second]

        // After a relaunch the session already runs the task: the store joins it, no second download.
        reset("slow", "reattach")
        try FileManager.default.createDirectory(at: store.modelDirectory, withIntermediateDirectories: true)
        downloader.session.downloadTask(with: URL(string: ModelInfo.downloadURL)!).resume()
        try await Task.sleep(nanoseconds: 300_000_000)
        out["reattach"] = [await attempt()]

        try JSONSerialization.data(withJSONObject: out).write(to: URL(fileURLWithPath: "harness-output.json"))
    }

    @MainActor
    func testTheBackgroundEventsHandlerIsCalledOnTheMainQueue() async throws {
        var calledElsewhere = false
        XCTAssertFalse(ModelStore.handleEventsForBackgroundURLSession("another.session") { calledElsewhere = true })
        let called = expectation(description: "completion handler")
        var onMain = false
        XCTAssertTrue(ModelStore.handleEventsForBackgroundURLSession(ModelStore.backgroundSessionIdentifier) {
            onMain = Thread.isMainThread
            called.fulfill()
        })
        let downloader = ModelDownloader.shared
        DispatchQueue.global().async {
            downloader.urlSessionDidFinishEvents(forBackgroundURLSession: downloader.session)
        }
        await fulfillment(of: [called], timeout: 10)
        XCTAssertTrue(onMain)
        XCTAssertFalse(calledElsewhere)
    }
}
"""


CORELIBS_TASK_REGISTRY_CRASH = "FoundationNetworking/TaskRegistry.swift:118: Fatal error: Trying to access a behaviour for a task"


@pytest.fixture(scope="module")
def swift() -> st.Swift:
    return st.swift()


def _bundled_project(demo_model: Path, out: Path, cache: Path):
    request = ConversionRequest(model=str(demo_model), profile="iphone15pro", cache_dir=cache, verify=False)
    options = ProjectOptions(app_id="com.example.demo", app_name="Demo Chat", model_url=None)
    return generate_project(ProjectRequest("ios", request, options, out))


def _with_download(project, out: Path, url: str) -> Path:
    """The same conversion rendered as a large model would be delivered (the demo model is tiny)."""
    generation = replace(project.generation, delivery="download", options=replace(project.generation.options, model_url=url))
    render_files(generation, out)
    return out


@pytest.mark.slow
def test_background_download_recovers_from_every_leftover(demo_model, tmp_path, cache_dir, swift):
    project = _bundled_project(demo_model, tmp_path / "bundled", cache_dir)
    (model,) = (project.path / "Tests/LLMKitTests/Resources").glob("*.litertlm")
    body = model.read_bytes()
    server = ModelServer(body)
    root = _with_download(project, tmp_path / "download", f"http://127.0.0.1:{server.port}/model")
    info = (root / "Sources/LLMKit/ModelInfo.swift").read_text()
    assert "ModelDelivery.download" in info and f"http://127.0.0.1:{server.port}/model" in info
    work = swift.workdir()
    try:
        st.write_check_package(root, work, "litertlm")
        (work / "Tests/LLMKitTests/SDKGenDownloadHarness.swift").write_text(HARNESS)
        home = swift.seen_as(work)
        env = {"SDKGEN_PORT": str(server.port), "XDG_DATA_HOME": f"{home}/xdg-data", "XDG_CACHE_HOME": f"{home}/xdg-cache"}
        with server:
            done = swift.run(["swift", "test", "--filter", "SDKGenDownloadHarness"], work, timeout=900, env=env)
            output = done.stdout + done.stderr
            if done.returncode != 0 and CORELIBS_TASK_REGISTRY_CRASH in output:
                # swift-corelibs-foundation's own assertion (a late libcurl callback for a task its
                # registry already dropped), seen about once in eight runs on Linux; Apple's
                # URLSession has no such code. Once more, from a clean slate; any other failure
                # counts at once.
                server.log.clear()
                for leftover in ("xdg-data", "xdg-cache"):
                    shutil.rmtree(work / leftover, ignore_errors=True)
                done = swift.run(["swift", "test", "--filter", "SDKGenDownloadHarness"], work, timeout=900, env=env)
                output = done.stdout + done.stderr
        assert done.returncode == 0, output[-6000:]
        for name in ("testDriveTheStore", "testTheBackgroundEventsHandlerIsCalledOnTheMainQueue"):
            assert f"{name}' passed" in output, output[-4000:]
        result = json.loads((work / "harness-output.json").read_text())
        installed = work / "xdg-data" / "Models"
        assert result["modelDirectory"].startswith(home)
        final = (installed / next(p.name for p in installed.iterdir() if not p.name.startswith("."))).read_bytes()
    finally:
        st.remove_workdir(work)

    size = len(body)
    assert final == body
    # A fresh download installs the verified file: nothing staged or kept for resuming; progress
    # comes from didWriteData and ends at the model's size. (The iCloud backup exclusion is not
    # observable here: corelibs does not store isExcludedFromBackup.)
    assert result["fresh"] == ["ok", False, False]
    assert result["progress"] and result["progress"][-1] == [size, size]
    assert all(total == size and 0 <= written <= size for written, total in result["progress"])
    assert server.requests("fresh") == [None]
    # Tampered bytes: refused with the integrity error, nothing kept anywhere; the retry starts over.
    assert result["tampered"] == ["integrity", [False, False, False], "ok"]
    assert server.requests("tampered") == [None, None]
    # A wrong installed file is fetched again once, then the verified one is used.
    assert result["wronginstalled"] == ["ok", "ok"] and server.requests("wronginstalled") == [None]
    assert result["oldpart"] == ["ok", False]
    # An interrupted download: an error saying to retry, nothing installed or staged, and the retry
    # installs the model. (Linux: corelibs gives no resume data, so no resume file and no Range.)
    cut, after_cut, retried = result["cut"]
    assert cut.startswith("download:") and "retry" in cut
    assert after_cut == [False, False, False] and retried == "ok"
    assert server.requests("cut") == [None, None]
    # An HTTP error page is neither checked nor installed.
    missing, target_exists, staged = result["missing"]
    assert "HTTP 404" in missing and not target_exists and not staged
    # Resume data from a stopped task is kept, consumed by the retry, and unusable resume data
    # falls back to one fresh download.
    assert result["keptresume"] == [True, "ok", False]
    assert server.requests("keptresume") == [None]
    # Concurrent callers and a task already running in the session share one download.
    assert result["join"] == ["ok", "ok"] and server.requests("join") == [None]
    assert result["reattach"] == ["ok"] and server.requests("reattach") == [None]
