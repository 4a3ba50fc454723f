"""Versions pinned across the Python package, the generated projects and the tools that check them.

One constant per fact: the engines (runtimes/*/phone.py) and project formats put these into the
generated projects, scripts/setup.sh installs the Kotlin compiler named here, and the tests
compare against these (never a literal).
Only pyproject.toml repeats the Python packages' pins, as packaging requires; a test holds it to
this file. llama.cpp's pin (one sdist, by URL and SHA-256) lives in runtimes/llamacpp/toolchain.py.
"""

from __future__ import annotations

# Kotlin: the generated projects' Kotlin Gradle plugin and the kotlinc (npm kotlin-compiler) that
# sdkgen's tests compile the generated code with: the same compiler on both sides.
KOTLIN = "2.4.20"

# LiteRT-LM's phone packages (Android AAR, Swift package), of the release line of the Python
# litert-lm-api that verifies the model on the host.
LITERTLM_PHONE = "0.18.0"
LITERTLM_HOST = "0.18.1"

# MediaPipe's GenAI tasks (Android tasks-genai, iOS pods): the release of the Python mediapipe
# whose bundler writes the .task.
MEDIAPIPE = "0.10.35"

# MediaPipe's GenAI tasks for the web (npm @mediapipe/tasks-genai): npm's newest release, older than
# the Python bundler's (npm has no 0.10.35); it runs sdkgen's .task on WebGPU in Debian's Chromium
# (tests/test_web_mediapipe.py).
MEDIAPIPE_WEB = "0.10.29"

# wllama (npm @wllama/wllama): llama.cpp compiled to WebAssembly, the engine of `sdkgen web` for
# GGUF. Its own llama.cpp build (b12211 for 3.13.0) runs sdkgen's GGUF with the greedy ids of
# llama_cpp.Llama with flash attention on (wllama's default), measured in Debian's Chromium.
WLLAMA = "3.13.0"

# ExecuTorch's phone packages: the Android AAR (Maven org.pytorch:executorch-android) and the
# Swift package (the executorch repository's swiftpm-<version> branch), of the release of the
# Python executorch that exports and verifies the .pte on the host (pyproject's executorch extra).
EXECUTORCH_HOST = "1.5.1"
EXECUTORCH_ANDROID = "1.5.1"
EXECUTORCH_IOS = "1.5.1"
