#!/bin/sh
# Install the host tools that `make dist` and `make test-packaging` need, and
# only those that are missing. Safe to run again and again: when everything is
# present it prints nothing and exits 0.
#
#   apt packages  cross linkers + armhf/arm64 libc (for qemu -L), qemu-user-static,
#                 dbus (private bus for tests), daemontools (multilog check),
#                 busybox + shellcheck (scripts are tested under busybox sh and
#                 linted), python3-venv
#   rustup        armv7-unknown-linux-gnueabihf, aarch64-unknown-linux-gnu
#   cargo         cargo-zigbuild (pinned, --locked)
#   venv          <repo>/.venv-tools with ziglang and oelint-adv (pinned)
#
# Environment: ENSURE_TOOLS_SKIP_APT=1 skips the apt part (e.g. no root).
set -eu

ZIGBUILD_VERSION=0.24.1
ZIGLANG_VERSION=0.17.1
OELINT_VERSION=9.11.2
RUST_TARGETS="armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu"
APT_PACKAGES="binutils gcc-arm-linux-gnueabihf gcc-aarch64-linux-gnu libc6-armhf-cross \
libc6-arm64-cross qemu-user-static dbus daemontools busybox shellcheck python3-venv"

repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv-tools"

say() { printf 'ensure-tools: %s\n' "$*"; }
die() { printf 'ensure-tools: ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root (or sudo) to run: $*"
    fi
}

# --- apt ---------------------------------------------------------------------
if [ "${ENSURE_TOOLS_SKIP_APT:-0}" != 1 ] && command -v dpkg-query >/dev/null 2>&1; then
    missing=""
    for p in $APT_PACKAGES; do
        st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        case "$st" in *" ok installed") ;; *) missing="$missing $p" ;; esac
    done
    if [ -n "$missing" ]; then
        say "installing apt packages:$missing"
        as_root apt-get update -qq
        # shellcheck disable=SC2086
        as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
fi

# --- rust ----------------------------------------------------------------------
command -v rustup >/dev/null 2>&1 || die "rustup not found (install Rust with rustup first)"
installed_targets=$(rustup target list --installed)
for t in $RUST_TARGETS; do
    if ! printf '%s\n' "$installed_targets" | grep -qx "$t"; then
        say "installing rust target $t"
        rustup target add "$t"
    fi
done

if ! command -v cargo-zigbuild >/dev/null 2>&1; then
    say "installing cargo-zigbuild $ZIGBUILD_VERSION"
    cargo install cargo-zigbuild --version "$ZIGBUILD_VERSION" --locked
fi

# --- python venv: zig + oelint-adv ----------------------------------------------
want="ziglang==$ZIGLANG_VERSION oelint-adv==$OELINT_VERSION"
have=""
if [ -x "$venv/bin/python3" ]; then
    have=$("$venv/bin/python3" - <<'PY' 2>/dev/null || true
import importlib.metadata as m
out = []
for n in ("ziglang", "oelint-adv"):
    try:
        out.append("%s==%s" % (n, m.version(n)))
    except m.PackageNotFoundError:
        pass
print(" ".join(out))
PY
)
fi
if [ "$have" != "$want" ]; then
    if [ ! -x "$venv/bin/python3" ]; then
        say "creating venv $venv"
        python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    fi
    say "installing into .venv-tools: $want"
    # shellcheck disable=SC2086
    "$venv/bin/python3" -m pip install -q --disable-pip-version-check $want
fi
