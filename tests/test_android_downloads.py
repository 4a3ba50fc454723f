"""Background-safe model downloads (download delivery) in the generated Android project.

The download runs as WorkManager work in a foreground service of type dataSync with a progress
notification (ModelDownloadWorker), so it survives the user leaving the app; bundled and
sideloaded projects carry none of it. Checked with kotlinc against tests/stubs, aapt2 and a JVM
harness that runs the worker's download step against a local HTTP server.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import android_toolchain as tc
from conftest import REPO
from sdk_gen.formats.gradle import AndroidVersions
from test_android import PACKAGE, _free_port, _render_with_delivery, generate

ANDROID = "{http://schemas.android.com/apk/res/android}"
TOOLS = "{http://schemas.android.com/tools}"
KOTLIN = "llm/src/main/kotlin/com/example/demo/llm"
WORKER_FILES = ("ModelDownloadWorker.kt", "ModelDownloads.kt")
DOWNLOAD_PERMISSIONS = {
    "android.permission.INTERNET",
    "android.permission.ACCESS_NETWORK_STATE",
    "android.permission.FOREGROUND_SERVICE",
    "android.permission.FOREGROUND_SERVICE_DATA_SYNC",
    "android.permission.POST_NOTIFICATIONS",
}
FOREGROUND_SERVICE = "androidx.work.impl.foreground.SystemForegroundService"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("android-downloads-cache")


@pytest.fixture(autouse=True)
def _cache_env(cache_dir, monkeypatch):
    monkeypatch.setenv("SDKGEN_CACHE_DIR", str(cache_dir))


@pytest.fixture(scope="module")
def stubs(tmp_path_factory) -> Path:
    return tc.build_stubs(tmp_path_factory.mktemp("stubs"))


@pytest.fixture(scope="module")
def project(demo_model, tmp_path_factory, cache_dir):
    """The demo model's project: small, so bundled as an asset."""
    return generate(demo_model, tmp_path_factory.mktemp("android") / "DemoChat", cache_dir)


@pytest.fixture(scope="module")
def download_root(project, tmp_path_factory) -> Path:
    return _render_with_delivery(project, tmp_path_factory.mktemp("dl") / "dl", "download",
                                 "https://models.example.com/demo.litertlm")


def _bytecode(classes: Path, *names: str) -> str:
    return "\n".join(
        subprocess.run(["javap", "-c", "-p", "-cp", str(classes), name], capture_output=True, text=True, check=True).stdout
        for name in names
    )


def test_download_project_runs_the_download_as_foreground_work(download_root, stubs, tmp_path):
    kotlin = download_root / KOTLIN
    for name in WORKER_FILES:
        assert (kotlin / name).is_file(), name
    sources = sorted(download_root.rglob("*.kt")) + sorted(download_root.rglob("*.kts"))
    assert [problem for path in sources for problem in tc.tree_sitter_errors(path, "kotlin")] == []
    # The pin comes from AndroidVersions, once, and only a download project depends on WorkManager.
    catalog = tomllib.loads((download_root / "gradle/libs.versions.toml").read_text())
    assert catalog["versions"]["work"] == AndroidVersions().work
    assert re.fullmatch(r"2\.\d+\.\d+", AndroidVersions().work)
    library = catalog["libraries"]["androidx-work-runtime-ktx"]
    assert (library["group"], library["name"], library["version"]["ref"]) == ("androidx.work", "work-runtime-ktx", "work")
    assert "implementation(libs.androidx.work.runtime.ktx)" in (download_root / "llm/build.gradle.kts").read_text()

    classes = tc.compile_project(download_root, PACKAGE, stubs, tmp_path / "work")
    worker = _bytecode(classes, f"{PACKAGE}.llm.ModelDownloadWorker", f"{PACKAGE}.llm.ModelDownloadNotifications")
    # Foreground (dataSync on API 29+, the 2-argument form below), progress to WorkManager and the
    # notification, and WorkManager results for each outcome.
    for call in ("setForeground", "setProgress", "createNotificationChannel", "notify"):
        assert call in worker, call
    for result in ("success", "retry", "failure"):
        assert re.search(rf"ListenableWorker\$Result\S*\.{result}:", worker), result
    assert "ForegroundInfo.\"<init>\":(ILandroid/app/Notification;I)V" in worker
    assert "ForegroundInfo.\"<init>\":(ILandroid/app/Notification;)V" in worker
    source = (kotlin / "ModelDownloadWorker.kt").read_text()
    assert "ForegroundInfo(NOTIFICATION_ID, notification, ServiceInfo.FOREGROUND_SERVICE_TYPE_DATA_SYNC)" in source
    assert "ModelDownloadStep(ModelStore(applicationContext)).run(runAttemptCount)" in source  # the harness's step
    downloads = _bytecode(classes, f"{PACKAGE}.llm.ModelDownloads")
    for call in ("enqueueUniqueWork", "ExistingWorkPolicy.KEEP", "NetworkType.CONNECTED", "getWorkInfosForUniqueWorkFlow"):
        assert call in downloads, call
    # prepare() fetches through the background download by default; the screen asks for the
    # notification permission first.
    assert "fetcher: ModelFetcher = ModelDownloads(context)" in (kotlin / "OnDeviceLlm.kt").read_text()
    activity = _bytecode(classes, f"{PACKAGE}.MainActivity")
    assert "requestPermissions" in activity and "android.permission.POST_NOTIFICATIONS" in activity


def test_download_manifest_declares_the_data_sync_foreground_service(download_root, tmp_path):
    manifest_path = download_root / "llm/src/main/AndroidManifest.xml"
    manifest = ET.parse(manifest_path).getroot()
    permissions = {element.get(f"{ANDROID}name") for element in manifest.iter("uses-permission")}
    assert permissions == DOWNLOAD_PERMISSIONS
    (service,) = manifest.find("application").iter("service")
    assert service.get(f"{ANDROID}name") == FOREGROUND_SERVICE
    assert service.get(f"{ANDROID}foregroundServiceType") == "dataSync"
    assert service.get(f"{TOOLS}node") == "merge"
    # aapt2 links it against Android's framework and encodes the type as its flag (dataSync = 0x1).
    tc.link_resources(manifest_path, None, f"{PACKAGE}.llm", tmp_path / "llm")
    tree = subprocess.run([tc.aapt2(), "dump", "xmltree", "--file", "AndroidManifest.xml", str(tmp_path / "llm/linked.apk")],
                          capture_output=True, text=True, check=True).stdout
    assert re.search(r"foregroundServiceType\(0x[0-9a-f]+\)=0x0*1\b", tree), tree
    assert FOREGROUND_SERVICE in tree


@pytest.mark.parametrize("delivery", ["bundled", "sideload"])
def test_other_deliveries_carry_no_background_download(project, delivery, tmp_path):
    root = project.path if delivery == "bundled" else _render_with_delivery(project, tmp_path / "side", "sideload", None)
    for name in WORKER_FILES:
        assert not (root / KOTLIN / name).exists(), name
    catalog = tomllib.loads((root / "gradle/libs.versions.toml").read_text())
    assert "work" not in catalog["versions"] and "androidx-work-runtime-ktx" not in catalog["libraries"]
    assert "androidx.work" not in (root / "llm/build.gradle.kts").read_text()
    manifest_text = (root / "llm/src/main/AndroidManifest.xml").read_text()
    manifest = ET.fromstring(manifest_text)
    assert list(manifest.iter("uses-permission")) == [] and list(manifest.iter("service")) == []
    assert "xmlns:tools" not in manifest_text
    assert "POST_NOTIFICATIONS" not in (root / "app/src/main/kotlin/com/example/demo/MainActivity.kt").read_text()
    assert "fetcher: ModelFetcher = store" in (root / KOTLIN / "OnDeviceLlm.kt").read_text()


def test_the_download_step_resumes_retries_and_gives_up_for_good(project, stubs, tmp_path):
    """ModelDownloadWorker's attempt without WorkManager, run on the JVM against a local server:
    a cut connection retries and the next attempt resumes with a Range request; wrong bytes, a
    missing file and a server that never answers are final; prepare() defaults to WorkManager."""
    port = _free_port()
    root = _render_with_delivery(project, tmp_path / "dl", "download", f"http://127.0.0.1:{port}/demo.litertlm")
    classes = tc.compile_project(root, PACKAGE, stubs, tmp_path / "work")
    harness = tmp_path / "harness"
    tc.compile_kotlin([REPO / "tests/harness/ModelDownloadHarness.kt", REPO / "tests/harness/ModelStoreHarness.kt",
                       REPO / "tests/harness/HostActivityManager.kt"], harness,
                      tc.classpath(classes, stubs, tc.kotlin_runtime_jars()))
    (model,) = (project.path / "llm/src/main/assets").glob("*.litertlm")
    done = subprocess.run(
        ["java", "-cp", tc.classpath(harness, classes, stubs, tc.kotlin_runtime_jars()), "ModelDownloadHarnessKt",
         str(model), str(port), str(tmp_path / "files")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = {line.split(" ", 1)[0]: line.split(" ")[1:] for line in done.stdout.splitlines()}
    size = model.stat().st_size
    assert lines["fresh"] == ["done", "true"]
    retried, kept, resumed, ranges = lines["cut"]
    assert retried == "retry" and 0 < int(kept) < size and resumed == "done" and ranges == f"bytes={kept}-"
    assert lines["tampered"] == ["failed", "false", "false"]
    assert lines["missing"] == ["failed"]
    assert lines["busy"] == ["retry", "failed"]
    assert lines["states"] == ["waiting,running:4/10,failed:boom,succeeded,cancelled,idle"]
    assert lines["default"] == ["workmanager", "false", "0"]
