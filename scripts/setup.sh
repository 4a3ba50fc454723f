#!/usr/bin/env bash
# Install everything sdkgen and its tests need into ./.venv. Idempotent: re-running only checks.
#
#   scripts/setup.sh            # what `make demo` and `make test` run first
#
# Order matters: torch 2.13.0 (CPU build) goes in first so no later requirement can pull the
# multi-GB CUDA build from PyPI; every later install runs under constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

pick_python() {
    for candidate in "${PYTHON:-}" python3.11 python3; do
        if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1; then
            if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
                echo "$candidate"
                return
            fi
        fi
    done
    echo "sdkgen needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    exit 1
}

# System tools: g++ builds llama.cpp's wheel and the JNI bridge the tests run; the rest check
# generated projects (see tests/android_toolchain.py).
apt_packages=()
command -v javac >/dev/null 2>&1 || apt_packages+=(openjdk-17-jdk-headless)
command -v g++ >/dev/null 2>&1 || apt_packages+=(g++)
command -v aapt2 >/dev/null 2>&1 || apt_packages+=(aapt)
[ -f /usr/share/android-framework-res/framework-res.apk ] || apt_packages+=(android-framework-res)
[ -f /usr/share/java/junit4.jar ] || apt_packages+=(junit4)
[ -f /usr/share/java/hamcrest-core.jar ] || apt_packages+=(libhamcrest-java)
if [ ${#apt_packages[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    log "installing ${apt_packages[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -q "${apt_packages[@]}" >/dev/null \
        || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q "${apt_packages[@]}" >/dev/null; }
fi

if [ ! -x .venv/bin/python ]; then
    python=$(pick_python)
    log "creating .venv with $($python --version)"
    "$python" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --quiet --disable-pip-version-check)

if ! .venv/bin/python -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.13.0") else 1)' 2>/dev/null; then
    log "installing torch 2.13.0 (CPU build) first"
    "${PIP[@]}" install torch==2.13.0
fi

# llama.cpp comes from one file: the llama-cpp-python sdist on PyPI. It holds the GGUF converter
# and headers sdkgen uses, and the generated apps build llama.cpp from the same file (URL and
# SHA-256 in sdk_gen/runtimes/llamacpp/toolchain.py). Its wheel compiles llama.cpp for ~11
# minutes, so the built wheel is cached per CPU (the build tunes for the CPU it runs on).
sdkgen_cache=${SDKGEN_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sdkgen}
read -r llama_version sdist_url sdist_sha < <(PYTHONPATH=. .venv/bin/python -c \
    'from sdk_gen.runtimes.llamacpp import toolchain as t; print(t.VERSION, t.SDIST_URL, t.SDIST_SHA256)')
sdist=$sdkgen_cache/sdists/llama_cpp_python-$llama_version.tar.gz
if ! echo "$sdist_sha  $sdist" | sha256sum --check --status 2>/dev/null; then
    log "downloading the llama-cpp-python $llama_version sdist (73 MiB) from PyPI"
    mkdir -p "$(dirname "$sdist")"
    curl --fail --silent --show-error --location --retry 3 -o "$sdist.part" "$sdist_url"
    echo "$sdist_sha  $sdist.part" | sha256sum --check --status \
        || { echo "the downloaded sdist does not match its pinned SHA-256; not using it" >&2; rm -f "$sdist.part"; exit 1; }
    mv "$sdist.part" "$sdist"
fi
if ! .venv/bin/python -c 'import importlib.metadata as m, sys; sys.exit(m.version("llama-cpp-python") != sys.argv[1])' \
        "$llama_version" 2>/dev/null; then
    cpu_key=$(grep -m1 '^flags' /proc/cpuinfo | sha256sum | cut -c1-12)
    wheels=$sdkgen_cache/wheels/$cpu_key
    find_wheel() { find "$wheels" -maxdepth 1 -name "llama_cpp_python-$llama_version-*.whl" 2>/dev/null | head -n1; }
    wheel=$(find_wheel)
    if [ -z "$wheel" ]; then
        log "building llama-cpp-python $llama_version from the sdist (about 11 minutes, once; cached in $wheels)"
        staging=$(mktemp -d)
        "${PIP[@]}" wheel --no-deps -w "$staging" "$sdist"
        mkdir -p "$wheels"
        mv "$staging"/llama_cpp_python-*.whl "$wheels"/
        rmdir "$staging"
        wheel=$(find_wheel)
    fi
    log "installing $(basename "$wheel")"
    "${PIP[@]}" install -c constraints.txt "$wheel"
fi

stamp=.venv/.sdkgen-deps
wanted=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    log "installing sdkgen with its runtime toolchains and test tools"
    "${PIP[@]}" install -c constraints.txt -e ".[litert,llamacpp,adapters,dev]"
    echo "$wanted" > "$stamp"
fi

kotlinc=.tools/node_modules/kotlin-compiler/bin/kotlinc
if [ ! -x "$kotlinc" ]; then
    log "installing kotlinc 2.4.20 (npm kotlin-compiler) into .tools"
    npm install --prefix .tools --no-audit --no-fund --loglevel=error kotlin-compiler@2.4.20 >/dev/null
    chmod +x .tools/node_modules/kotlin-compiler/bin/*
fi

log "ready: $(.venv/bin/sdkgen --version)"
