"""The ExecuTorch phone engines: the `org.pytorch:executorch-android` AAR's LlmModule on Android,
the ExecuTorch Swift package's ExecuTorchLLM TextRunner on iOS (sdk_gen/runtimes/engine.py says
what an engine unit is).

Both run the same `.pte` through ExecuTorch's C++ text runner, which needs the tokenizer as a file:
the `.pte` carries tokenizer.json as a constant method (export.py), and the engine writes it out
beside the model once, through the runtime's own Module API, so delivery stays one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from sdk_gen import pins
from sdk_gen.runtimes.engine import EngineTarget, Library, PhoneEngine, builtin_overlay


def _context(generation, model_path: Path) -> Mapping[str, Any]:
    """``executorch.nfc``: whether the engines NFC-normalize the prompt before the runner encodes
    it. The runner's tokenizer library mis-implements NFC (it strips accents), so the export drops
    an NFC normalizer from the `.pte`'s tokenizer.json (export.without_nfc) and the phone applies
    it instead; only for such models, since other tokenizers see decomposed text as it is."""
    from sdk_gen.runtimes.executorch.export import needs_nfc

    job = generation.conversion.job
    return {"executorch": {"nfc": needs_nfc(job.tokenizer_dir or job.model_dir)}}


EXECUTORCH = PhoneEngine(
    key="executorch",
    display_name="ExecuTorch",
    host_package="executorch",
    context=_context,
    targets=(
        EngineTarget(
            project_format="gradle",
            class_name="ExecuTorchEngine",
            uncompressed=("pte",),
            # extension/android/executorch_android/build.gradle: minSdk 23 at v1.4.1 and on main
            # at version 1.5.0 (the source of the 1.5 releases); the AAR also
            # brings fbjni 0.7.0 and soloader's nativeloader 0.10.5 as its own dependencies.
            min_os="23",
            overlay=builtin_overlay("executorch", "gradle"),
            libraries=(Library("maven", "executorch-android", pins.EXECUTORCH_ANDROID, group="org.pytorch",
                               alias="executorch-android", version_key="executorch"),),
            abis=("arm64-v8a", "x86_64"),
            abi_note="ExecuTorch's AAR ships arm64-v8a (phones) and x86_64 (emulators) native libraries.",
            keep_rules=("-keep class org.pytorch.executorch.** { *; }", "-keep class com.facebook.jni.** { *; }"),
            runtime_version=pins.EXECUTORCH_ANDROID,
        ),
        EngineTarget(
            project_format="xcodegen",
            class_name="ExecuTorchEngine",
            # The Swift package's own platforms (`.iOS(.v17)`, Package.swift of the swiftpm-1.4.1 and
            # swiftpm-1.5.0 nightly branches of pytorch/executorch).
            min_os="17.0",
            min_host_os="13.0",
            overlay=builtin_overlay("executorch", "xcodegen"),
            # No `libraries`: ExecuTorch's Swift package is pinned by branch (`swiftpm-<version>`; the
            # v<version> tag holds a manifest for frameworks built locally), which LLMKit's
            # Package.swift (`exact:`) cannot say, and ExecuTorch's docs link its kernels and backends
            # into the app target. So the engine lives in the app and the overlay's project.yml hooks
            # add the package, its products and `-all_load` (templates/engines/executorch/xcodegen).
            runtime_version=pins.EXECUTORCH_IOS,
        ),
    ),
)
