"""The phone engines a LiteRT artifact runs in: LiteRT-LM for `.litertlm`, MediaPipe's LLM
Inference for `.task` (sdk_gen/runtimes/engine.py says what an engine unit is)."""

from __future__ import annotations

from sdk_gen import pins
from sdk_gen.runtimes.engine import EngineTarget, Library, PhoneEngine, builtin_overlay

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

MEDIAPIPE = PhoneEngine(
    key="mediapipe",
    display_name="MediaPipe LLM Inference",
    host_package="mediapipe",
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
    ),
)
