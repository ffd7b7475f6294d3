#!/bin/sh
# Cross-build the release binaries for Venus OS and check them.
#
#   packaging/build.sh [armv7] [aarch64]     build (default: both) and check
#   packaging/build.sh --check-only [armv7] [aarch64]   only check existing binaries
#
# Builds with `cargo zigbuild --release --locked --target <triple>.2.28`: zig
# (from the ziglang wheel in .venv-tools) links against glibc 2.28 symbol
# versions, so the binaries run on every Venus OS from v2.80 (glibc 2.31) on.
# No Docker. The checks print and enforce: ELF machine, highest GLIBC_x.y
# symbol version needed (<= GLIBC_MAX), size. Output (cargo-zigbuild drops the
# .2.28 suffix): target/<triple>/release/dbus-aggregate-smartshunts
# (CARGO_TARGET_DIR is honoured).
set -eu

BIN_NAME=dbus-aggregate-smartshunts
GLIBC_TARGET=${GLIBC_TARGET:-2.28}
GLIBC_MAX=${GLIBC_MAX:-$GLIBC_TARGET}

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

triple_of() {
    case "$1" in
        armv7) echo armv7-unknown-linux-gnueabihf ;;
        aarch64) echo aarch64-unknown-linux-gnu ;;
        *) echo "build.sh: unknown arch '$1' (armv7|aarch64)" >&2; exit 2 ;;
    esac
}

# check_binary ARCH FILE: print facts, fail loudly when a limit is exceeded.
check_binary() {
    arch=$1 f=$2
    [ -f "$f" ] || { echo "build.sh: FAIL: $f does not exist" >&2; return 1; }
    machine=$(LC_ALL=C readelf -h "$f" | sed -n 's/^ *Machine: *//p')
    case "$arch:$machine" in
        armv7:ARM|aarch64:AArch64) ;;
        *) echo "build.sh: FAIL: $f is for '$machine', expected $arch" >&2; return 1 ;;
    esac
    glibc=$(LC_ALL=C readelf -V "$f" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -n 1)
    size=$(wc -c < "$f" | tr -d ' ')
    needed=$(LC_ALL=C readelf -d "$f" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')
    printf '%-8s %s\n' "$arch" "$f"
    printf '         size %s bytes (%s KiB), needs GLIBC_%s (limit %s), libs: %s\n' \
        "$size" "$((size / 1024))" "${glibc:-none}" "$GLIBC_MAX" "$needed"
    if [ -n "$glibc" ] && [ "$(printf '%s\n%s\n' "$glibc" "$GLIBC_MAX" | sort -V | tail -n 1)" != "$GLIBC_MAX" ]; then
        echo "build.sh: FAIL: $f needs GLIBC_$glibc, newer than $GLIBC_MAX" >&2
        return 1
    fi
    if LC_ALL=C readelf -S "$f" | grep -q '\.debug_info'; then
        echo "build.sh: FAIL: $f is not stripped" >&2
        return 1
    fi
}

check_only=0
arches=""
for a in "$@"; do
    case "$a" in
        --check-only) check_only=1 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) triple_of "$a" >/dev/null; arches="$arches $a" ;;
    esac
done
[ -n "$arches" ] || arches="armv7 aarch64"

if [ "$check_only" -eq 0 ]; then
    export CARGO_ZIGBUILD_PYTHON_PATH="${CARGO_ZIGBUILD_PYTHON_PATH:-$repo/.venv-tools/bin/python3}"
    [ -x "$CARGO_ZIGBUILD_PYTHON_PATH" ] ||
        { echo "build.sh: $CARGO_ZIGBUILD_PYTHON_PATH missing; run packaging/ensure-tools.sh" >&2; exit 1; }
    targets=""
    for a in $arches; do targets="$targets --target $(triple_of "$a").$GLIBC_TARGET"; done
    # The device build leaves the development tools (simulator, demo) out.
    echo "build.sh: cargo zigbuild --release --locked --no-default-features --bin $BIN_NAME$targets"
    # shellcheck disable=SC2086
    cargo zigbuild --release --locked --no-default-features --bin "$BIN_NAME" $targets
fi

rc=0
for a in $arches; do
    check_binary "$a" "${CARGO_TARGET_DIR:-target}/$(triple_of "$a")/release/$BIN_NAME" || rc=1
done
exit "$rc"
