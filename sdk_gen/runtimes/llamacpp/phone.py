"""The llama.cpp phone engine: a JNI bridge built from source by CMake on Android, the
`llama` XCFramework built by llama.cpp's own script on iOS (sdk_gen/runtimes/engine.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from sdk_gen import pins
from sdk_gen.runtimes.base import MemoryTraits
from sdk_gen.runtimes.engine import EngineTarget, Library, PhoneEngine, builtin_overlay
from sdk_gen.runtimes.llamacpp import toolchain
from sdk_gen.runtimes.llamacpp.loading import use_mmap
from sdk_gen.runtimes.llamacpp.split import WEB_SHARD_LIMIT_BYTES, cached_split


def project_settings(quant: str) -> dict:
    """What the Android and iOS templates need of llama.cpp: the pinned sdist their builds fetch
    (the one that converted and verified the model) and how to load this format."""
    return {
        "version": toolchain.VERSION,
        "sdist_url": toolchain.SDIST_URL,
        "sdist_sha256": toolchain.SDIST_SHA256,
        "ndk_version": toolchain.ANDROID_NDK_VERSION,
        "use_mmap": use_mmap(quant),
    }


def _context(generation, model_path: Path) -> Mapping[str, Any]:
    return {"llama": project_settings(generation.conversion.job.quant.name)}


_RUNTIME_VERSION = f"llama.cpp from llama-cpp-python {toolchain.VERSION}"

LLAMACPP = PhoneEngine(
    key="llamacpp",
    display_name="llama.cpp",
    host_package="llama-cpp-python",
    context=_context,
    targets=(
        EngineTarget(
            project_format="gradle",
            class_name="LlamaCppEngine",
            uncompressed=("gguf",),
            min_os="24",
            overlay=builtin_overlay("llamacpp", "gradle"),
            abis=("arm64-v8a", "x86_64"),
            abi_note="the JNI bridge and llama.cpp are built from source by CMake for arm64-v8a and x86_64.",
            keep_rules=(
                "# JNI_OnLoad registers natives on LlamaCppBridge and calls TokenListener.onToken by name.",
                "-keep class {sdk_package}.LlamaCppBridge { *; }",
                "-keep interface {sdk_package}.TokenListener { *; }",
            ),
            runtime_version=_RUNTIME_VERSION,
        ),
        EngineTarget(
            project_format="xcodegen",
            class_name="LlamaCppEngine",
            # llama.cpp's build-xcframework.sh builds for IOS_MIN_OS_VERSION=16.4 and MACOS_MIN_OS_VERSION=13.3
            # (llama-cpp-python 0.3.36's vendored copy); the generated script checks that before building.
            min_os="16.4",
            min_host_os="13.3",
            overlay=builtin_overlay("llamacpp", "xcodegen"),
            libraries=(Library("xcframework", "llama", toolchain.VERSION, url="Frameworks/llama.xcframework",
                               note="Built by scripts/build-llama-xcframework.sh from the sdist that converted the model."),),
            host_smoke_test=True,
            runtime_version=_RUNTIME_VERSION,
        ),
    ),
)


# The web: wllama, llama.cpp compiled to WebAssembly (its own llama.cpp build), as an npm package.
# Chrome 137 is the first with both features its single wasm needs (memory64 from 133, JSPI from 137).
def demo_banned_tokens(gguf: Path) -> list[int]:
    """The ids whose bytes are not valid UTF-8 on their own, in a GGUF's vocabulary. llama.cpp's
    server code (inside wllama) ends a request on such a token, and sdkgen's random-weight demo
    model emits them at once; a real model only emits them inside a whole character."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    banned = []
    for token in range(llm.n_vocab()):
        try:
            llm.detokenize([token]).decode("utf-8")
        except UnicodeDecodeError:
            banned.append(token)
    return banned


def _web_context(generation, model_path: Path) -> Mapping[str, Any]:
    job = generation.conversion.job
    is_demo = (job.spec.path / "sdkgen-demo.json").is_file()
    return {"demo_banned_tokens": demo_banned_tokens(generation.conversion.artifact.path) if is_demo else []}


WLLAMA = PhoneEngine(
    key="wllama",
    display_name="llama.cpp (wllama)",
    host_package="llama-cpp-python",
    context=_web_context,
    targets=(
        EngineTarget(
            project_format="vite",
            class_name="WllamaEngine",
            min_os="137",
            overlay=builtin_overlay("wllama", "vite"),
            libraries=(Library("npm", "@wllama/wllama", pins.WLLAMA, alias="wllama",
                               note="llama.cpp in WebAssembly; greedy ids equal llama_cpp.Llama's with flash attention"),),
            runtime_version=pins.WLLAMA,
            # A larger GGUF ships as shards in llama.cpp's split layout, which wllama loads as one model.
            max_model_file_bytes=WEB_SHARD_LIMIT_BYTES,
            split_model=cached_split,
        ),
    ),
)


def web_memory(phone: MemoryTraits) -> MemoryTraits:
    """In a browser tab the baseline is the renderer's, not an app's, and the fetched file is held
    while wllama reads it into llama.cpp's buffers in the wasm heap (the first visit downloads,
    hashes and stores it, then loads). Fitted with bench/web_memory.py (headless Chromium 156,
    renderer RSS, q8_0 demos at context 512): a blank tab holds 366-402 MiB, wllama's runtime
    about 150 MiB more; predicted/measured 0.92-1.00 from 2 MiB to 206 MiB GGUFs."""
    from dataclasses import replace

    from sdk_gen.units import MIB

    return replace(phone, overhead_bytes=540 * MIB, load_copy_factor=1.0,
                   overhead_note="the browser tab's renderer (~390 MiB) and wllama's wasm runtime (~150 MiB), measured in Chromium")
