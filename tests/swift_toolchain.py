"""The real Swift compiler the tests check generated iOS code with.

- Swift 6 (swiftc, `swift build`, `swift test` with XCTest): on PATH when the machine has it
  (macOS, Debian 13 `swiftlang`), else in the Debian 13 chroot scripts/install-swift.sh builds under
  ${SDKGEN_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-~/.cache}/sdkgen}/swift-trixie on Debian 12.
- tests/stubs/swift/: modules Linux lacks (LiteRTLM, MediaPipeTasksGenAI, MLCSwift, CryptoKit, os,
  Combine, UIKit), kept to the real signatures.

A generated project is checked as one SwiftPM package this module writes: the generated
Sources/LLMKit and Tests/LLMKitTests, the app's engine and model sources as an `App` target, and the
stubs as targets. SwiftUI views (ChatView.swift, ChatApp.swift) are left out: SwiftUI exists only in
Apple's SDKs and a stand-in would have to re-declare most of it, so they stay parse-only
(tree-sitter). Branches under `#if os(iOS)` are compiled too (`os(iOS)` becomes
`(os(iOS) || SDKGEN_IOS)` with SDKGEN_IOS defined), so the iOS-only calls are type-checked.

A missing compiler fails the test with the command that installs it: none is optional here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STUBS = REPO / "tests" / "stubs" / "swift"
INSTALL = "scripts/install-swift.sh"
# The app sources that are SwiftUI views: parse-only here (see the module docstring).
SWIFTUI_ONLY = ("ChatView.swift", "ChatApp.swift")


class ToolMissing(AssertionError):
    pass


def toolchain_dir() -> Path:
    explicit = os.environ.get("SDKGEN_TOOLCHAIN_DIR")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "sdkgen"


def chroot_root() -> Path:
    return toolchain_dir() / "swift-trixie"


def _native_major() -> int | None:
    found = shutil.which("swiftc")
    if not found:
        return None
    done = subprocess.run([found, "--version"], capture_output=True, text=True)
    match = re.search(r"Swift version (\d+)\.", done.stdout + done.stderr)
    return int(match.group(1)) if match else None


def _is_mountpoint(path: Path) -> bool:
    return subprocess.run(["mountpoint", "-q", str(path)]).returncode == 0


def _ensure_mounts(root: Path) -> None:
    """/proc, /sys and /dev inside the chroot (Swift dies with SIGILL without them), each once."""
    for name, command in (("proc", ["mount", "-t", "proc", "proc"]), ("sys", ["mount", "--bind", "/sys"]),
                          ("dev", ["mount", "--bind", "/dev"])):
        target = root / name
        if _is_mountpoint(target):
            continue
        done = subprocess.run([*command, str(target)], capture_output=True, text=True)
        if done.returncode != 0 and not _is_mountpoint(target):
            raise ToolMissing(f"mounting /{name} in {root} failed ({done.stderr.strip()}); run {INSTALL} as root")


@dataclass(frozen=True)
class Swift:
    """Swift 6 on PATH (root None) or in the chroot at `root`."""

    root: Path | None

    @property
    def where(self) -> str:
        return "native" if self.root is None else f"chroot {self.root}"

    def workdir(self) -> Path:
        """A fresh folder Swift can see (inside the chroot when there is one); the caller removes it."""
        base = (self.root / "tmp" / "sdkgen-tests") if self.root else Path(os.environ.get("TMPDIR", "/tmp")) / "sdkgen-swift"
        path = base / uuid.uuid4().hex[:12]
        path.mkdir(parents=True)
        return path

    def seen_as(self, path: Path) -> str:
        """`path` (under a workdir) as Swift sees it."""
        if self.root is None:
            return str(path)
        return "/" + str(path.resolve().relative_to(self.root.resolve()))

    def run(self, argv: list[str], cwd: Path, timeout: int = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        if self.root is None:
            return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, **(env or {})})
        _ensure_mounts(self.root)
        variables = {"HOME": "/root", "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", **(env or {})}
        command = ["chroot", str(self.root), "/usr/bin/env", "-i", *[f"{k}={v}" for k, v in variables.items()],
                   "/bin/sh", "-c", 'cd "$0" && exec "$@"', self.seen_as(cwd), *argv]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)

    def check(self, argv: list[str], cwd: Path, what: str, timeout: int = 600, env: dict[str, str] | None = None) -> str:
        done = self.run(argv, cwd, timeout, env)
        if done.returncode != 0:
            raise AssertionError(f"{what} failed ({done.returncode}, Swift {self.where}):\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}")
        return done.stdout + done.stderr


def swift() -> Swift:
    major = _native_major()
    if major is not None and major >= 6:
        return Swift(None)
    root = chroot_root()
    if not (root / ".sdkgen-swift-ready").is_file():
        raise ToolMissing(f"Swift 6 is missing (no swiftc 6 on PATH, no {root}); run {INSTALL} (or scripts/setup.sh)")
    return Swift(root)


def remove_workdir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# --- a generated project as a package Swift on Linux can build ------------------------------

LINUX_GAPS = """\
// Added by sdkgen's tests (tests/swift_toolchain.py), not generated: what Linux Foundation lacks.
#if canImport(FoundationNetworking)
@_exported import FoundationNetworking
#endif
#if os(Linux)
import Foundation

extension URLSessionConfiguration {
    /// Apple's `background(withIdentifier:)`; swift-corelibs-foundation marks it unavailable (no
    /// system transfer service). A default session with the identifier set runs the same delegate
    /// calls in-process, so the tests drive the generated ModelDownloader through it.
    public class func background(withIdentifier identifier: String) -> URLSessionConfiguration {
        let configuration = URLSessionConfiguration.default
        configuration.identifier = identifier
        return configuration
    }

    /// Apple's `sessionSendsLaunchEvents` (iOS): no app relaunch on Linux.
    public var sessionSendsLaunchEvents: Bool {
        get { false }
        set {}
    }
}

/// Apple's key for a stopped download's resume data in the error's userInfo; corelibs never
/// produces resume data (its `downloadTask(withResumeData:)` fails the task, as Apple does for
/// resume data it cannot use).
public let NSURLSessionDownloadTaskResumeData = "NSURLSessionDownloadTaskResumeData"

extension URLResourceKey {
    /// Apple's key; here the volume's available capacity, which corelibs reads with statfs.
    public static let volumeAvailableCapacityForImportantUsageKey = URLResourceKey.volumeAvailableCapacityKey
}

extension URLResourceValues {
    public var volumeAvailableCapacityForImportantUsage: Int64? { volumeAvailableCapacity.map(Int64.init) }
}
#endif
"""

LLAMA_MODULEMAP = """\
module llama [system] {
    header "include/llama.h"
    link "llama"
    export *
}
"""


def _copy_swift_tree(source: Path, dest: Path, skip: tuple[str, ...] = ()) -> None:
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.name in skip:
            continue
        target = dest / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".swift":
            text = path.read_text()
            target.write_text(re.sub(r"\bos\(iOS\)", "(os(iOS) || SDKGEN_IOS)", text))
        else:
            shutil.copy2(path, target)


def write_check_package(project: Path, dest: Path, engine: str, llama_include: list[Path] | None = None,
                        llama_lib: Path | None = None, with_tests: bool = True) -> Path:
    """Writes into `dest` a SwiftPM package of the generated `project` that Swift on Linux builds."""
    stubs = {"CryptoKit", "os", "Combine", "UIKit"}
    llmkit_deps = ['"CryptoKit"', '"os"']
    app_deps = ['"LLMKit"', '"Combine"', '"UIKit"']
    if engine == "litertlm":
        stubs.add("LiteRTLM")
        llmkit_deps.append('"LiteRTLM"')
    elif engine == "mediapipe":
        stubs.add("MediaPipeTasksGenAI")
        app_deps.append('"MediaPipeTasksGenAI"')
    elif engine == "mlc":
        stubs.add("MLCSwift")
        app_deps.append('"MLCSwift"')
    elif engine == "executorch":
        stubs.update({"ExecuTorch", "ExecuTorchLLM"})
        app_deps.extend(['"ExecuTorch"', '"ExecuTorchLLM"'])
    targets = [f'        .target(name: "{name}", path: "Stubs/{name}"),' for name in sorted(stubs)]
    for name in stubs:
        shutil.copytree(STUBS / name, dest / "Stubs" / name)
    linker = ""
    if engine == "llamacpp":
        assert llama_include and llama_lib, "the llama.cpp variant needs llama.cpp's headers and libllama"
        include = dest / "Clib/llama/include"
        include.mkdir(parents=True)
        for folder in llama_include:
            for header in folder.glob("*.h"):
                shutil.copy2(header, include / header.name)
        (dest / "Clib/llama/module.modulemap").write_text(LLAMA_MODULEMAP)
        libs = dest / "Clib/lib"
        libs.mkdir(parents=True)
        for library in llama_lib.glob("*.so*"):
            shutil.copy2(library, libs / library.name, follow_symlinks=True)
        targets.append('        .systemLibrary(name: "llama", path: "Clib/llama"),')
        llmkit_deps.append('"llama"')
        lib_path = _seen(dest, libs)
        linker = (f',\n            linkerSettings: [.unsafeFlags(["-L{lib_path}", "-Xlinker", "-rpath", '
                  f'"-Xlinker", "{lib_path}"])]')
    _copy_swift_tree(project / "Sources/LLMKit", dest / "Sources/LLMKit")
    (dest / "Sources/LLMKit/_LinuxGaps.swift").write_text(LINUX_GAPS)
    _copy_swift_tree(project / "App/Sources", dest / "App", skip=SWIFTUI_ONLY)
    settings = '[.define("SDKGEN_IOS")]'
    targets.append(f'        .target(name: "LLMKit", dependencies: [{", ".join(llmkit_deps)}], path: "Sources/LLMKit",\n'
                   f'            resources: [.process("Resources")], swiftSettings: {settings}{linker}),')
    targets.append(f'        .target(name: "App", dependencies: [{", ".join(app_deps)}], path: "App", swiftSettings: {settings}),')
    if with_tests:
        _copy_swift_tree(project / "Tests/LLMKitTests", dest / "Tests/LLMKitTests")
        targets.append('        .testTarget(name: "LLMKitTests", dependencies: ["LLMKit"], path: "Tests/LLMKitTests",\n'
                       '            resources: [.copy("Resources")]),')
    body = "\n".join(targets)
    (dest / "Package.swift").write_text(
        "// swift-tools-version: 5.9\n// Written by sdkgen's tests (tests/swift_toolchain.py) to build a generated project on Linux.\n"
        "import PackageDescription\n\nlet package = Package(\n    name: \"SDKGenCheck\",\n"
        f"    targets: [\n{body}\n    ]\n)\n"
    )
    return dest


def _seen(dest: Path, path: Path) -> str:
    """`path` as Swift will see it: inside the chroot the workdir's absolute path differs."""
    for parent in [dest, *dest.parents]:
        if parent.name == "sdkgen-tests" and parent.parent.name == "tmp":
            return "/" + str(path.relative_to(parent.parent.parent))
    return str(path)
