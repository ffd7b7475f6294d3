#!/bin/sh
# Install or upgrade dbus-aggregate-smartshunts on a Venus OS GX device.
#
#   tar -xzf dbus-aggregate-smartshunts-<version>.tar.gz -C /data
#   /data/dbus-aggregate-smartshunts/install.sh
#
# Run it from the unpacked package: either the install dir itself
# (/data/dbus-aggregate-smartshunts) or any other place, e.g. a newer tarball
# unpacked in /tmp; the files are then copied into the install dir. Your
# config.ini and the disabled/enabled state are kept. Running it again changes
# nothing. ROOT=<dir> installs below <dir> instead of / (for tests).
set -eu

usage() {
    cat <<USAGE
usage: $0 [--no-start]
  --no-start   install and set up the boot hook, but do not (re)start the service
USAGE
}

start=1
for arg in "$@"; do
    case "$arg" in
        --no-start) start=0 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

SRC=$(cd "$(dirname "$0")" && pwd -P)
. "$SRC/lib/common.sh"

[ -f "$SRC/MANIFEST" ] || agg_die "no MANIFEST next to $0: run install.sh from an unpacked release tarball"
[ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ] && agg_die "run as root"

arch=$(agg_arch) ||
    agg_die "unsupported machine '$(agg_machine)': this package has binaries for 32-bit ARM (armv7) and aarch64 only"
[ -x "$SRC/bin/$arch/$PKG" ] || agg_die "missing $SRC/bin/$arch/$PKG"

if agg_setuphelper_managed; then
    agg_die "$PKG is installed through SetupHelper ($SETUPHELPER_SERVICE exists). Update or remove it in the PackageManager menu, or run '$DEVICE_DIR/setup uninstall' before using install.sh."
fi

new_version=$(agg_version "$SRC")
old_version=""   # from install.sh's own record: $DEST/version may already be the new one
[ -f "$INSTALLED_VERSION" ] && old_version=$(head -n 1 "$INSTALLED_VERSION")

# 1. Pre-flight: does the NEW binary accept the new defaults plus the user's
#    config.ini? Checked on a scratch copy, so a rejected upgrade changes nothing
#    and the running version keeps running.
check_dir=$(mktemp -d "${TMPDIR:-/tmp}/$PKG-check.XXXXXX")
trap 'rm -rf "$check_dir"' EXIT
cp "$SRC/config.default.ini" "$check_dir/"
[ -f "$DEST/config.ini" ] && cp "$DEST/config.ini" "$check_dir/"
if ! out=$("$SRC/bin/$arch/$PKG" --config-dir "$check_dir" check-config 2>&1); then
    printf '%s\n' "$out" | sed -e "s#$check_dir#$DEST#g" -e 's/^/    /' >&2
    agg_die "$PKG $new_version rejects the configuration above; nothing was changed. Fix $DEVICE_DIR/config.ini and run install.sh again."
fi

# 2. Files. Nothing to copy when the tarball was unpacked into the install dir.
mkdir -p "$DEST"
if [ "$SRC" != "$(cd "$DEST" && pwd -P)" ]; then
    agg_list_files "$SRC/MANIFEST" | while IFS= read -r f; do
        agg_copy_atomic "$SRC/$f" "$DEST/$f"
    done
    agg_say "copied $(agg_list_files "$SRC/MANIFEST" | wc -l | tr -d ' ') files to $DEVICE_DIR"
fi
# Files shipped by the previous version but not by this one.
if [ -f "$INSTALLED_LIST" ]; then
    agg_list_files "$INSTALLED_LIST" | while IFS= read -r f; do
        if ! grep -qxF "$f" "$DEST/MANIFEST"; then
            rm -f "$DEST/$f"
            agg_say "removed obsolete $f"
        fi
    done
    agg_prune_dirs
fi
cp "$DEST/MANIFEST" "$INSTALLED_LIST"
printf '%s\n' "$new_version" > "$INSTALLED_VERSION"
agg_ensure_config

# 3. /service entry (a copy, see lib/common.sh) and the boot hook.
agg_service_install
agg_hook_ensure

if [ -n "$old_version" ] && [ "$old_version" != "$new_version" ]; then
    agg_say "upgraded $PKG $old_version -> $new_version ($arch)"
elif [ -n "$old_version" ]; then
    agg_say "reinstalled $PKG $new_version ($arch)"
else
    agg_say "installed $PKG $new_version ($arch)"
fi
agg_say "settings: $DEVICE_DIR/config.ini (all options and defaults: config.default.ini)"

# 4. (Re)start so the new binary runs.
if [ -e "$DISABLED_MARK" ]; then
    agg_say "the service is disabled (disable.sh); run $DEVICE_DIR/enable.sh to start it"
    exit 0
fi
[ "$start" -eq 1 ] || exit 0
if [ "$AGG_CREATED" -eq 1 ]; then
    agg_say "waiting for svscan to start the service..."
elif agg_is_up; then
    agg_say "restarting the service"
    agg_svc -t "$SERVICE"
    if [ "$AGG_LOG_CHANGED" -eq 1 ]; then agg_svc -t "$SERVICE/log"; fi
    sleep 1
else
    agg_svc -u "$SERVICE"
fi
agg_wait_up || exit 1
agg_say "logs: $DEVICE_DIR/get-logs.sh -f"
