"""A third-party runtime, as a package outside sdkgen would ship it: the test suite installs it
through the `sdkgen.runtimes` entry point (tests/test_plugins.py) and sdkgen must generate a
project around it with no edit of its own.

It converts with llama.cpp's real converter (it is a LlamaCppRuntime under another name) and
brings its own phone engine: a Kotlin class that reads the GGUF header, with its own overlay
folder, Maven library, R8 rule and minimum Android. It has no iOS (XcodeGen) target, so
`sdkgen ios` must refuse it before converting anything.
"""

from __future__ import annotations

from pathlib import Path

from sdk_gen.runtimes.engine import EngineTarget, Library, PhoneEngine
from sdk_gen.runtimes.llamacpp import LlamaCppRuntime

OVERLAYS = Path(__file__).resolve().parent / "overlay"

GGUF_HEADER_ENGINE = PhoneEngine(
    key="ggufheader",
    display_name="GGUF header reader",
    host_package="llama-cpp-python",
    targets=(
        EngineTarget(
            project_format="gradle",
            class_name="GgufHeaderEngine",
            min_os="28",
            overlay=OVERLAYS / "gradle",
            libraries=(Library("maven", "okio", "3.9.1", group="com.squareup.okio", alias="okio", version_key="okio"),),
            abis=("arm64-v8a",),
            abi_note="the header reader is pure Kotlin; arm64-v8a only to show the ABI list comes from the engine.",
            keep_rules=("-keep class {sdk_package}.GgufHeaderEngine { *; }",),
            runtime_version="1.0",
        ),
    ),
)


class GgufHeaderRuntime(LlamaCppRuntime):
    key = "ggufheader"
    display_name = "GGUF header"
    auto_selectable = False
    # Offered for both OSes, though the engine is written for Gradle only: `sdkgen ios` must say so.
    engines = {("android", "gguf"): GGUF_HEADER_ENGINE, ("ios", "gguf"): GGUF_HEADER_ENGINE}
