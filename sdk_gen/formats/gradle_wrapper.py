"""The Gradle wrapper a generated Android project ships: `gradlew`, `gradlew.bat` and
`gradle/wrapper/gradle-wrapper.jar`, so `./gradlew` builds it with no Gradle installed.

The two scripts are sdkgen's own templates (templates/gradle/gradlew*.j2). The JAR is a binary
Gradle publishes with each release (`gradle wrapper` writes it); sdkgen has no Gradle, and no
registry this project may use publishes Gradle itself. One npm package carries Gradle's wrapper
JAR unchanged: React Native's app template. sdkgen takes the JAR from one pinned version of that
package and accepts it only if its SHA-256 is the one Gradle publishes for that JAR, so the
carrier is never trusted. It is downloaded once into the toolchain cache (scripts/setup.sh does
it ahead of time, so tests never wait on it).

The JAR only downloads, checks (distributionSha256Sum) and starts the distribution that
gradle/wrapper/gradle-wrapper.properties names, so the Gradle it came with (9.4.1) need not be
the Gradle the project builds with (AndroidVersions.gradle).

    python -m sdk_gen.formats.gradle_wrapper     # fetch it now (setup does)
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sdk_gen.toolchain_cache import toolchain_root


@dataclass(frozen=True)
class WrapperJarSource:
    """Where the wrapper JAR comes from, and the digests that make the source irrelevant."""

    # Gradle's published SHA-256 of its 9.4.1 wrapper JAR (services.gradle.org/distributions/
    # gradle-9.4.1-wrapper.jar.sha256; the same digest other projects record for that JAR).
    jar_sha256: str = "55243ef57851f12b070ad14f7f5bb8302daceeebc5bce5ece5fa6edb23e1145c"
    jar_gradle_version: str = "9.4.1"
    npm_package: str = "@react-native-community/template"
    npm_version: str = "0.87.2"
    # The registry's `dist.integrity` for that tarball.
    tarball_integrity: str = "sha512-s82pjwutknww5qMA3JMREi7RRPLUW4FJ8cq2tWLux/gYPvT6S02CdK+Q3mzh3Hx4l+DZvMagG22/7Yz0G4/5JQ=="
    member: str = "package/template/android/gradle/wrapper/gradle-wrapper.jar"
    registry: str = "https://registry.npmjs.org"

    @property
    def tarball_url(self) -> str:
        scope_free = self.npm_package.rsplit("/", 1)[-1]
        return f"{self.registry}/{self.npm_package}/-/{scope_free}-{self.npm_version}.tgz"

    @property
    def file_name(self) -> str:
        return f"gradle-wrapper-{self.jar_gradle_version}-{self.jar_sha256[:12]}.jar"


WRAPPER_JAR = WrapperJarSource()
# Where the JAR sits inside a generated project (the scripts and Gradle's docs expect it here).
JAR_PATH_IN_PROJECT = "gradle/wrapper/gradle-wrapper.jar"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cached_jar(source: WrapperJarSource = WRAPPER_JAR, root: Path | None = None) -> Path | None:
    """The verified JAR in the toolchain cache, or None (not fetched yet, or damaged)."""
    path = (root or toolchain_root()) / "gradle" / source.file_name
    if path.is_file() and _sha256(path.read_bytes()) == source.jar_sha256:
        return path
    return None


def fetch_jar(source: WrapperJarSource = WRAPPER_JAR, root: Path | None = None, timeout: float = 60) -> Path:
    """Download the carrier tarball, check it and the JAR inside, and cache the JAR.
    Raises OSError (network, or a digest that does not match) with a sentence saying which."""
    found = cached_jar(source, root)
    if found:
        return found
    with urllib.request.urlopen(source.tarball_url, timeout=timeout) as response:  # noqa: S310 (a fixed https URL)
        tarball = response.read()
    algorithm, _, expected = source.tarball_integrity.partition("-")
    if base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode() != expected:
        raise OSError(f"{source.tarball_url} does not match the registry's {algorithm} integrity pinned in sdkgen")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile(source.member)
        if member is None:
            raise OSError(f"{source.tarball_url} has no {source.member}")
        jar = member.read()
    if _sha256(jar) != source.jar_sha256:
        raise OSError(f"the wrapper JAR in {source.tarball_url} is not Gradle's {source.jar_gradle_version} wrapper JAR")
    target = (root or toolchain_root()) / "gradle" / source.file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside, then rename: a reader never sees half a JAR.
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as partial:
        partial.write(jar)
    os.replace(partial.name, target)
    target.chmod(0o644)
    return target


@dataclass(frozen=True)
class WrapperJar:
    """The JAR to copy into a project, or why there is none (the README then says what to run)."""

    path: Path | None
    missing_reason: str = ""


def wrapper_jar(source: WrapperJarSource = WRAPPER_JAR, root: Path | None = None) -> WrapperJar:
    try:
        return WrapperJar(fetch_jar(source, root))
    except OSError as exc:  # urllib's errors are OSErrors too: offline is a reason, not a failure
        return WrapperJar(None, f"the Gradle wrapper JAR could not be fetched ({exc})")


def main() -> int:
    jar = wrapper_jar()
    if jar.path is None:
        print(f"sdkgen: {jar.missing_reason}", file=sys.stderr)
        return 1
    print(jar.path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
