# Shared by sdkgen's install scripts (setup.sh, install-swift.sh): one way to report a step, fail
# with what to do, run a step quietly, reach root and install Debian packages. Source it after
# setting STEP_TAG (the name shown in front of each line) and STEP_RERUN (the command to rerun).
# shellcheck shell=bash

# Package installs never stop to ask (here or inside a chroot these scripts build).
export DEBIAN_FRONTEND=noninteractive

# Where slow downloads and builds are cached (sdk_gen/runtimes/llamacpp/toolchain.py agrees).
# shellcheck disable=SC2034  # read by the scripts that source this file
toolchain_dir=${SDKGEN_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sdkgen}

log() { printf '\033[1m[%s]\033[0m %s\n' "$STEP_TAG" "$*"; }
fail() { printf '\033[1m[%s] FAILED:\033[0m %s\n' "$STEP_TAG" "$*" >&2; exit 1; }

# A command that fails without a message of its own still says where it failed and what to do.
on_error() {
    fail "line $1: \`$2\` exited $3; fix what it printed above and rerun $STEP_RERUN (it resumes where it stopped)"
}
set -E
trap 'on_error "$LINENO" "$BASH_COMMAND" "$?"' ERR

# attempt WHAT HOW COMMAND...: run COMMAND; when it fails, say WHAT failed and HOW to fix it, with
# the tail of its output (kept in a log, so a working run stays quiet).
attempt() {
    local what=$1 how=$2 output
    shift 2
    output=$(mktemp)
    if ! "$@" >"$output" 2>&1; then
        tail -n 25 "$output" >&2
        rm -f "$output"
        fail "$what; $how"
    fi
    rm -f "$output"
}

# as_root COMMAND...: run COMMAND as root (directly when this is root, else through sudo).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        command -v sudo >/dev/null 2>&1 || fail "\`$*\` needs root; rerun as root or install sudo"
        sudo "$@"
    fi
}

# apt_install PACKAGE...: install from Debian. The package lists of a fresh machine may be stale
# or empty, so they are updated first.
apt_install() {
    attempt "apt-get update failed" "check that this machine reaches Debian's mirrors and rerun" as_root apt-get update -q
    attempt "apt-get install $* failed" "install them yourself (apt-get install $*) and rerun" \
        as_root apt-get install -y -q --no-install-recommends "$@"
}
