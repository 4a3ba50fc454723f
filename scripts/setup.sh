#!/usr/bin/env bash
# Install everything sdkgen and its tests need into ./.venv (and ./.tools). Idempotent: a second
# run only checks. Works from nothing: no .venv, no .tools, no toolchain cache, no apt extras.
#
#   scripts/setup.sh          what `make demo` and `make test` run first
#   scripts/setup.sh --plan   say what an install would do here, change nothing
#
# Order matters: torch 2.13.0 (CPU build) goes in first so no later requirement can pull the
# multi-GB CUDA build from PyPI; every later install runs under constraints.txt.
#
# Slow downloads and builds are cached under SDKGEN_TOOLCHAIN_DIR (default
# $XDG_CACHE_HOME/sdkgen, else ~/.cache/sdkgen). The cache is only an optimisation: an empty or
# missing one is the normal first run, and CI (.ci/run) runs this against an empty one.
set -Eeuo pipefail
cd "$(dirname "$0")/.."

plan_only=false
case "${1:-}" in
    --plan) plan_only=true ;;
    "") ;;
    *) echo "usage: scripts/setup.sh [--plan]" >&2; exit 2 ;;
esac

STEP_TAG=setup
STEP_RERUN=scripts/setup.sh
# shellcheck source=lib/steps.sh source-path=SCRIPTDIR
. scripts/lib/steps.sh

# --- system packages (Debian) ------------------------------------------------------------------
# g++ and cmake build llama.cpp's wheel and the JNI bridge the tests run; the rest check generated
# projects (see tests/android_toolchain.py). The list, with what proves each is there, is
# scripts/system-packages.txt (.ci/run reads it too).
missing_system_packages() {
    local package proof kind
    while read -r package proof kind; do
        case "$package" in ''|'#'*) continue ;; esac
        case "$proof" in
            command:*) command -v "${proof#command:}" >/dev/null 2>&1 || echo "$package" ;;
            file:*) [ -f "${proof#file:}" ] || echo "$package" ;;
            *) fail "scripts/system-packages.txt: '$proof' for $package is neither command:NAME nor file:PATH ($kind)" ;;
        esac
    done < scripts/system-packages.txt
}

# --- llama.cpp (one pinned sdist; its wheel cached per CPU) ------------------------------------

# cached_wheel WHEEL_DIR VERSION: the cached wheel's path, or nothing. A missing folder is the
# normal first run, not an error (under `set -o pipefail` a failing `find` would end the script).
cached_wheel() {
    local wheels=$1 version=$2
    [ -d "$wheels" ] || return 0
    find "$wheels" -maxdepth 1 -name "llama_cpp_python-$version-*.whl" | head -n 1
}

cpu_key() { grep -m1 '^flags' /proc/cpuinfo | sha256sum | cut -c1-12; }

venv_has_llama() {
    .venv/bin/python -c 'import importlib.metadata as m, sys; sys.exit(m.version("llama-cpp-python") != sys.argv[1])' \
        "$1" 2>/dev/null
}

# The one source of the pins: sdk_gen/runtimes/llamacpp/toolchain.py (stdlib-only imports).
llama_pins() {
    PYTHONPATH=. "$1" -c 'from sdk_gen.runtimes.llamacpp import toolchain as t; print(t.VERSION, t.SDIST_URL, t.SDIST_SHA256)'
}

# The version of the kotlinc in .tools, or nothing when there is none (a first run).
installed_kotlin() {
    local package=.tools/node_modules/kotlin-compiler/package.json
    [ -f "$package" ] || return 0
    sed -n 's/^ *"version": "\([^"]*\)".*/\1/p' "$package" | head -n 1
}

pick_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3; do
        if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
            echo "$candidate"
            return 0
        fi
    done
    fail "sdkgen needs Python 3.11 or newer; install it or set PYTHON=/path/to/python3.11"
}

python=$(pick_python)
read -r llama_version sdist_url sdist_sha < <(llama_pins "$python")
sdist=$toolchain_dir/sdists/llama_cpp_python-$llama_version.tar.gz
wheels=$toolchain_dir/wheels/$(cpu_key)
wheel=$(cached_wheel "$wheels" "$llama_version")
read -r -a system_packages < <(missing_system_packages | tr '\n' ' '; echo)
# The Kotlin pin is sdk_gen/pins.py's: the compiler the tests check generated code with is the
# one the generated projects build with.
kotlin_version=$(PYTHONPATH=. "$python" -c 'from sdk_gen import pins; print(pins.KOTLIN)')

if $plan_only; then
    log "toolchain cache: $toolchain_dir"
    log "system packages to install: ${system_packages[*]:-none}"
    if [ -x .venv/bin/python ]; then log ".venv: present"; else log ".venv: to create with $($python --version)"; fi
    if echo "$sdist_sha  $sdist" | sha256sum --check --status 2>/dev/null; then
        log "llama-cpp-python $llama_version sdist: cached"
    else
        log "llama-cpp-python $llama_version sdist: to download"
    fi
    log "llama-cpp-python $llama_version wheel: ${wheel:-to build from the sdist (cached in $wheels)}"
    kotlin_here=$(installed_kotlin)
    if [ "$kotlin_here" = "$kotlin_version" ]; then
        log "kotlinc $kotlin_version: present"
    else
        log "kotlinc $kotlin_version: to install${kotlin_here:+ (found $kotlin_here)}"
    fi
    exit 0
fi

if [ ${#system_packages[@]} -gt 0 ]; then
    log "installing ${system_packages[*]} from Debian"
    apt_install "${system_packages[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    log "creating .venv with $($python --version)"
    attempt "creating .venv failed" "install Python's venv module (apt-get install python3-venv) and rerun" \
        "$python" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check)

if ! .venv/bin/python -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.13.0") else 1)' 2>/dev/null; then
    log "installing torch 2.13.0 (CPU build) first"
    attempt "installing torch 2.13.0 failed" "check access to PyPI; the CPU build is what sdkgen needs" \
        "${PIP[@]}" install torch==2.13.0
fi

# llama.cpp comes from one file: the llama-cpp-python sdist on PyPI. It holds the GGUF converter
# and headers sdkgen uses, and the generated apps build llama.cpp from the same file (URL and
# SHA-256 in sdk_gen/runtimes/llamacpp/toolchain.py). Its wheel compiles llama.cpp (minutes), so
# the built wheel is cached per CPU (the build tunes for the CPU it runs on).
if ! echo "$sdist_sha  $sdist" | sha256sum --check --status 2>/dev/null; then
    log "downloading the llama-cpp-python $llama_version sdist (73 MiB) from PyPI"
    mkdir -p "$(dirname "$sdist")"
    attempt "downloading $sdist_url failed" "check access to PyPI (files.pythonhosted.org) and rerun" \
        curl --fail --silent --show-error --location --retry 3 -o "$sdist.part" "$sdist_url"
    echo "$sdist_sha  $sdist.part" | sha256sum --check --status \
        || { rm -f "$sdist.part"; fail "the downloaded sdist does not match its pinned SHA-256; rerun to download it again"; }
    mv "$sdist.part" "$sdist"
fi
if ! venv_has_llama "$llama_version"; then
    if [ -z "$wheel" ]; then
        log "building llama-cpp-python $llama_version from the sdist (3-11 minutes on 2 cores, once; cached in $wheels)"
        staging=$(mktemp -d)
        attempt "building the llama-cpp-python wheel failed" \
            "it needs g++ and cmake (apt-get install g++ cmake); the full log: rerun .venv/bin/python -m pip wheel --no-deps $sdist" \
            "${PIP[@]}" wheel --no-deps -w "$staging" "$sdist"
        mkdir -p "$wheels"
        mv "$staging"/llama_cpp_python-*.whl "$wheels"/
        rmdir "$staging"
        wheel=$(cached_wheel "$wheels" "$llama_version")
        [ -n "$wheel" ] || fail "the llama-cpp-python build left no wheel in $wheels; rerun scripts/setup.sh"
    fi
    log "installing $(basename "$wheel")"
    attempt "installing $wheel failed" "delete it (a broken cache entry) and rerun scripts/setup.sh" \
        "${PIP[@]}" install -c constraints.txt "$wheel"
fi

stamp=.venv/.sdkgen-deps
wanted=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    log "installing sdkgen with its runtime toolchains and test tools (PyPI)"
    attempt "installing sdkgen's Python dependencies failed" "check access to PyPI and rerun scripts/setup.sh" \
        "${PIP[@]}" install -c constraints.txt -e ".[litert,llamacpp,executorch,adapters,dev]"
    echo "$wanted" > "$stamp"
fi

kotlinc=.tools/node_modules/kotlin-compiler/bin/kotlinc
if [ ! -x "$kotlinc" ] || [ "$(installed_kotlin)" != "$kotlin_version" ]; then
    log "installing kotlinc $kotlin_version (npm kotlin-compiler) into .tools"
    attempt "npm install kotlin-compiler@$kotlin_version failed" "check access to the npm registry and rerun scripts/setup.sh" \
        npm install --prefix .tools --no-audit --no-fund --loglevel=error "kotlin-compiler@$kotlin_version"
    chmod +x .tools/node_modules/kotlin-compiler/bin/*
fi

# The Gradle wrapper JAR generated Android projects ship (sdk_gen/formats/gradle_wrapper.py says
# where it comes from); sdkgen would fetch it on first use, this keeps tests and demos off the network.
if ! .venv/bin/python -c 'import sys; from sdk_gen.formats import gradle_wrapper as w; sys.exit(w.cached_jar() is None)' 2>/dev/null; then
    log "fetching the Gradle wrapper JAR (npm registry, 140 KiB)"
    attempt "fetching the Gradle wrapper JAR failed" "check access to the npm registry (registry.npmjs.org) and rerun scripts/setup.sh" \
        .venv/bin/python -m sdk_gen.formats.gradle_wrapper
fi

if [ -x scripts/install-swift.sh ]; then
    scripts/install-swift.sh
fi

log "ready: $(.venv/bin/sdkgen --version)"
