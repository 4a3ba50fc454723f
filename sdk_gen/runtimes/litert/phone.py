"""The phone engines a LiteRT artifact runs in: LiteRT-LM for `.litertlm`, MediaPipe's LLM
Inference for `.task` (sdk_gen/runtimes/engine.py says what an engine unit is)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from sdk_gen import pins
from sdk_gen.runtimes.base import MemoryTraits
from sdk_gen.runtimes.engine import EngineTarget, Library, PhoneEngine, builtin_overlay
from sdk_gen.units import MIB

# Both runtimes ship arm64-v8a (phones) and x86_64 (emulators) native libraries.
_PHONE_AND_EMULATOR_ABIS = ("arm64-v8a", "x86_64")

LITERTLM = PhoneEngine(
    key="litertlm",
    display_name="LiteRT-LM",
    host_package="litert-lm-api",
    targets=(
        EngineTarget(
            project_format="gradle",
            class_name="LiteRtLmEngine",
            uncompressed=("litertlm",),
            min_os="24",  # litertlm-android's AAR manifest
            overlay=builtin_overlay("litertlm", "gradle"),
            # LiteRT-LM's Android AAR of the same release line as the litert-lm-api that verified the model.
            libraries=(Library("maven", "litertlm-android", pins.LITERTLM_PHONE, group="com.google.ai.edge.litertlm",
                               alias="litertlm-android", version_key="litertlm"),),
            abis=_PHONE_AND_EMULATOR_ABIS,
            abi_note="LiteRT-LM's AAR ships arm64-v8a (phones) and x86_64 (emulators) native libraries only.",
            keep_rules=("-keep class com.google.ai.edge.litertlm.** { *; }",),
            runtime_version=pins.LITERTLM_PHONE,
        ),
        EngineTarget(
            project_format="xcodegen",
            class_name="LiteRTLMEngine",
            min_os="15.0",
            min_host_os="13.0",
            overlay=builtin_overlay("litertlm", "xcodegen"),
            libraries=(Library("swiftpm", "LiteRT-LM", pins.LITERTLM_PHONE, url="https://github.com/google-ai-edge/LiteRT-LM.git",
                               product="LiteRTLM",
                               note="LiteRT-LM's Swift package, the release line the model was verified with on the host."),),
            # LiteRT-LM's CPU path fails inside the iOS Simulator (LiteRT-LM#2504); `swift test` on the
            # Mac runs the same package as devices do.
            host_smoke_test=True,
            runtime_version=pins.LITERTLM_PHONE,
        ),
    ),
)

def _mediapipe_context(generation, model_path) -> Mapping[str, Any]:
    """The chat format the .task bundle was written with: the phones' LlmInference reads it from the
    bundle, but the web's generateResponse takes raw text, so the web SDK formats turns itself."""
    from sdk_gen.chat import chat_format_for_model

    fmt = chat_format_for_model(generation.conversion.job.model_dir)
    return {"chat_format": {"user_prefix": fmt.user_prefix, "user_suffix": fmt.user_suffix,
                            "assistant_prefix": fmt.assistant_prefix, "assistant_suffix": fmt.assistant_suffix,
                            "next_user_prefix": fmt.later_user_prefix}}


MEDIAPIPE = PhoneEngine(
    key="mediapipe",
    display_name="MediaPipe LLM Inference",
    host_package="mediapipe",
    context=_mediapipe_context,
    targets=(
        EngineTarget(
            project_format="gradle",
            class_name="MediaPipeLlmEngine",
            uncompressed=("task",),
            min_os="24",
            overlay=builtin_overlay("mediapipe", "gradle"),
            # MediaPipe's Android tasks-genai of the same release as the Python bundler that wrote the .task.
            libraries=(Library("maven", "tasks-genai", pins.MEDIAPIPE, group="com.google.mediapipe",
                               alias="mediapipe-tasks-genai", version_key="mediapipeGenai"),),
            abis=_PHONE_AND_EMULATOR_ABIS,
            abi_note=(
                "MediaPipe's tasks-genai targets arm64-v8a phones; its emulator support is limited (mediapipe#5551), "
                "so if the x86_64 emulator cannot load it, run the smoke test on a device."
            ),
            keep_rules=("-keep class com.google.mediapipe.** { *; }",),
            runtime_version=pins.MEDIAPIPE,
        ),
        EngineTarget(
            project_format="xcodegen",
            class_name="MediaPipeLLMEngine",
            min_os="15.0",
            min_host_os="13.0",
            overlay=builtin_overlay("mediapipe", "xcodegen"),
            # MediaPipe's GenAI pods, of the same release as the Python bundler that wrote the .task.
            libraries=(Library("pod", "MediaPipeTasksGenAI", pins.MEDIAPIPE), Library("pod", "MediaPipeTasksGenAIC", pins.MEDIAPIPE)),
            runtime_version=pins.MEDIAPIPE,
        ),
        EngineTarget(
            project_format="vite",
            class_name="MediaPipeLlmEngine",
            # WebGPU shipped in Chrome 113 (desktop) and 121 (Android); tasks-genai's graph runs on it.
            min_os="121",
            overlay=builtin_overlay("mediapipe", "vite"),
            libraries=(Library("npm", "@mediapipe/tasks-genai", pins.MEDIAPIPE_WEB, alias="mediapipe",
                               note="MediaPipe's LLM Inference for the web: the .task on WebGPU"),),
            runtime_version=pins.MEDIAPIPE_WEB,
            needs_webgpu=True,
        ),
    ),
)


def mediapipe_web_memory(phone: MemoryTraits) -> MemoryTraits:
    """In a browser tab MediaPipe streams the .task through its wasm runtime into WebGPU buffers.
    Measured with bench/web_memory.py --engine mediapipe (headless Chromium 156 on SwiftShader's
    WebGPU adapter, renderer + GPU process RSS, f16 .task demos of 3.7, 49.6 and 387 MiB at context
    512): a blank tab 451-455 MiB; loaded = 853 MiB + 5.1 x the file (least squares; each point
    within 3%). Beyond the weights themselves that is ~4.1 x the file: the adapter lacks shader-f16,
    so MediaPipe computes in float32 (the weights twice the file on the GPU), plus the wasm heap's
    copy of what it read and the GPU's staging copies. A real GPU with shader-f16 (and a discrete
    one's own memory) needs less: this errs on the safe side."""
    return replace(phone, overhead_bytes=830 * MIB, load_copy_factor=4.1,
                   overhead_note="the browser tab's renderer and GPU process (~450 MiB) and MediaPipe's wasm runtime and "
                                 "WebGPU device (~380 MiB), measured in Chromium on a software adapter")
