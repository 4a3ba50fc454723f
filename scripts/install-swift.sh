#!/usr/bin/env bash
# Install a Swift 6 compiler for checking generated iOS code (tests/swift_toolchain.py uses it).
# Idempotent: a second run only checks (and remounts the chroot's /proc, /sys and /dev if they are
# gone, never twice).
#
#   scripts/install-swift.sh           install if needed, then check `swift --version`
#   scripts/install-swift.sh --where   print how the tests reach Swift: "native" or the chroot's path
#
# How, by machine:
#   - swiftc 6 already on PATH: use it.
#   - Debian 13 (trixie) or later: apt-get install swiftlang (Swift 6.0.3 in Debian).
#   - Debian 12 (bookworm, these machines): Debian 12 has no Swift, so a minimal Debian 13 root is
#     built with debootstrap under the toolchain cache, at
#     ${SDKGEN_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sdkgen}/swift-trixie, and swiftlang is
#     installed inside it. Swift needs /proc, /sys and /dev there (without them it dies with
#     SIGILL); they are bind-mounted and left mounted for the session (a later run finds them).
#     Measured on 2 cores: debootstrap ~1.5 min, swiftlang ~1.5 min, ~1.3 GiB on disk.
set -euo pipefail

cd "$(dirname "$0")/.."
STEP_TAG=install-swift
STEP_RERUN=scripts/install-swift.sh
# shellcheck source=lib/steps.sh source-path=SCRIPTDIR
. scripts/lib/steps.sh

root=$toolchain_dir/swift-trixie
marker=$root/.sdkgen-swift-ready
suite=trixie

native_swift_major() {
    command -v swiftc >/dev/null 2>&1 || return 0
    swiftc --version 2>/dev/null | sed -n 's/.*Swift version \([0-9][0-9]*\)\..*/\1/p' | head -n 1
}

os_field() { sed -n "s/^$1=\"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" /etc/os-release 2>/dev/null | head -n 1; }

# debian_mirror: the first Debian archive URI in this machine's apt sources (deb822 or one-line).
debian_mirror() {
    local files=()
    [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && files+=("$f")
    done
    [ ${#files[@]} -gt 0 ] || return 0
    {
        sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' "${files[@]}"
        sed -n 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\).*/\2/p' "${files[@]}"
    } | grep -v -e security -e updates | grep -E '/debian/?$' | head -n 1 || true
}

# mount_chroot: /proc, /sys and /dev inside the chroot, each mounted once.
mount_chroot() {
    local fs
    for fs in proc sys dev; do
        mkdir -p "$root/$fs"
        if ! mountpoint -q "$root/$fs"; then
            case "$fs" in
                proc) attempt "mounting /proc in $root failed" "Swift needs it; check that this machine allows mount (root, not a restricted container)" \
                        as_root mount -t proc proc "$root/proc" ;;
                *) attempt "bind-mounting /$fs in $root failed" "Swift needs it; check that this machine allows mount (root, not a restricted container)" \
                        as_root mount --bind "/$fs" "$root/$fs" ;;
            esac
        fi
    done
}

in_chroot() { as_root chroot "$root" "$@"; }

if [ "${1:-}" = "--where" ]; then
    if [ "$(native_swift_major)" -ge 6 ] 2>/dev/null; then echo native; exit 0; fi
    [ -f "$marker" ] || fail "no Swift 6 here; run scripts/install-swift.sh"
    echo "$root"
    exit 0
fi
[ $# -eq 0 ] || { echo "usage: scripts/install-swift.sh [--where]" >&2; exit 2; }

# 1. A Swift 6 compiler on PATH is used as it is.
major=$(native_swift_major)
if [ -n "$major" ] && [ "$major" -ge 6 ]; then
    log "ready: $(swiftc --version 2>&1 | head -n 1) (on PATH)"
    exit 0
fi

os_id=$(os_field ID)
os_version=$(os_field VERSION_ID)
[ "$os_id" = debian ] || fail "this machine is '${os_id:-unknown}', not Debian; install Swift 6 from swift.org (swiftc on PATH) and rerun"

# 2. Debian 13 or later has swiftlang itself.
if [ -n "$os_version" ] && [ "$os_version" -ge 13 ]; then
    log "installing swiftlang from Debian $os_version"
    apt_install swiftlang
    major=$(native_swift_major)
    [ -n "$major" ] && [ "$major" -ge 6 ] || fail "swiftlang installed but swiftc 6 is not on PATH; check \`swiftc --version\`"
    log "ready: $(swiftc --version 2>&1 | head -n 1)"
    exit 0
fi

# 3. Debian 12 and older: a Debian 13 chroot under the toolchain cache.
if [ ! -f "$marker" ]; then
    if [ ! -x "$root/usr/bin/apt-get" ] || [ ! -f "$root/.sdkgen-debootstrap-done" ]; then
        if ! command -v debootstrap >/dev/null 2>&1; then
            log "installing debootstrap from Debian"
            apt_install debootstrap
        fi
        mirror=$(debian_mirror)
        [ -n "$mirror" ] || fail "no Debian mirror found in /etc/apt/sources.list{,.d/*}; add one (e.g. http://deb.debian.org/debian) and rerun"
        # A half-built root from an interrupted run is started again (nothing else lives there).
        if [ -e "$root" ]; then
            for fs in dev sys proc; do
                if mountpoint -q "$root/$fs"; then as_root umount -l "$root/$fs"; fi
            done
            as_root rm -rf --one-file-system "$root"
        fi
        mkdir -p "$toolchain_dir"
        log "building a minimal Debian $suite root in $root from $mirror (~1.5 min)"
        attempt "debootstrap $suite from $mirror failed" \
            "check that the mirror serves $suite and that debian-archive-keyring is current (apt-get install debian-archive-keyring), then rerun" \
            as_root debootstrap --variant=minbase "$suite" "$root" "$mirror"
        as_root touch "$root/.sdkgen-debootstrap-done"
    fi
    mount_chroot
    as_root cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    log "installing swiftlang in the $suite root (~1.5 min)"
    attempt "apt-get update in the $suite root failed" "check that this machine reaches Debian's mirrors and rerun" \
        in_chroot apt-get update -q
    attempt "apt-get install swiftlang in the $suite root failed" \
        "check its output above; to start over: umount $root/{proc,sys,dev}; rm -rf $root; rerun" \
        in_chroot apt-get install -y -q swiftlang
    as_root touch "$marker"
fi

mount_chroot
version=$(in_chroot swift --version 2>&1 | grep -m1 'Swift version') \
    || fail "swift in $root does not run; remove $marker and rerun to reinstall swiftlang"
log "ready: $version (in the chroot $root)"
