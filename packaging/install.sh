#!/bin/sh
# Install or upgrade dbus-aggregate-smartshunts on a Venus OS GX device, the
# standalone way (no SetupHelper needed):
#
#   tar -xzf AggregateSmartShunts-<version>.tar.gz -C /data
#   /data/AggregateSmartShunts/install.sh
#
# Run it from the unpacked package: either the package dir itself (any
# directory directly in /data) or any other place, e.g. a newer tarball
# unpacked in /tmp; the files are then copied into /data/<name of the unpacked
# dir>. Your settings (config.ini, the disabled state) live in
# /data/setupOptions/<package>/ and are kept; older versions kept them in the
# package dir and they are moved there. Running it again changes nothing.
# ROOT=<dir> installs below <dir> instead of / (for tests).
set -eu

usage() {
    cat <<USAGE
usage: $0 [--no-start] [--from-setuphelper]
  --no-start          install and set up the boot hook, but do not (re)start the service
  --from-setuphelper  the package is installed through SetupHelper: uninstall it there
                      first (its setup script, unattended), then take the service over
USAGE
}

start=1
takeover=0
for arg in "$@"; do
    case "$arg" in
        --no-start) start=0 ;;
        --from-setuphelper) takeover=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

SRC=$(cd "$(dirname "$0")" && pwd -P)
# Where to install: in place when the package was unpacked directly in /data,
# otherwise into /data/<its directory name>.
data=${ROOT:-}/data
mkdir -p "$data"
data=$(cd "$data" && pwd -P)
# shellcheck disable=SC2034  # AGG_PKGDIR is read by lib/common.sh
if [ "$(dirname "$SRC")" = "$data" ]; then
    AGG_PKGDIR=$SRC
else
    AGG_PKGDIR="$data/$(basename "$SRC")"
fi
. "$SRC/lib/common.sh"

[ -f "$SRC/MANIFEST" ] || agg_die "no MANIFEST next to $0: run install.sh from an unpacked release tarball"
[ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ] && agg_die "run as root"
case "$PKG_NAME" in
    *[!A-Za-z0-9]*) agg_warn "package dir name '$PKG_NAME' is not letters and digits only; SetupHelper's PackageManager may not handle it" ;;
esac

arch=$(agg_arch) ||
    agg_die "unsupported machine '$(agg_machine)': this package has binaries for 32-bit ARM (armv7) and aarch64 only"
[ -x "$SRC/bin/$arch/$PKG" ] || agg_die "missing $SRC/bin/$arch/$PKG"
agg_venus_compatible "$SRC" || agg_die "not installed"

# One owner of the service at a time: hand over from SetupHelper only on request.
if agg_setuphelper_managed; then
    if [ "$takeover" -eq 0 ]; then
        agg_die "$PKG is installed through SetupHelper. Uninstall it in the PackageManager menu first, or run '$0 --from-setuphelper' to do that and take the service over."
    fi
    [ -x "$DEST/setup" ] || agg_die "no $DEVICE_DIR/setup to uninstall the SetupHelper install with; uninstall it in the PackageManager menu"
    agg_say "uninstalling the SetupHelper install ($DEVICE_DIR/setup uninstall auto)"
    bash "$DEST/setup" uninstall auto || agg_die "SetupHelper's uninstall failed (see /var/log/PackageManager/current); nothing else was changed"
    agg_setuphelper_managed && agg_die "SetupHelper still manages $PKG after the uninstall; nothing else was changed"
fi

new_version=$(agg_version "$SRC")
old_version=""   # from install.sh's own record: $DEST/version may already be the new one
[ -f "$INSTALLED_VERSION" ] && old_version=$(head -n 1 "$INSTALLED_VERSION")
if [ -z "$old_version" ] && [ -f "$LEGACY_DIR/.installed-version" ]; then
    old_version=$(head -n 1 "$LEGACY_DIR/.installed-version")
fi

# 1. Pre-flight: does the NEW binary accept the new defaults plus the user's
#    config.ini (wherever it is now)? A rejected upgrade changes nothing and
#    the running version keeps running.
user_config=""
for c in "$CONFIG" "$DEST/config.ini" "$LEGACY_DIR/config.ini"; do
    if [ -f "$c" ]; then user_config=$c; break; fi
done
# The original Python program's settings (/data/apps/...): carried over into
# ours only while ours sets nothing, and checked with it before anything changes.
carry=""
carried=""
carry_notes=""
check_config=$user_config
check_name=""
tmp_check=""
trap 'rm -f "$tmp_check"' EXIT
if [ -f "$ORIG_DIR/config.ini" ]; then
    if [ -n "$user_config" ] && agg_config_has_settings "$user_config"; then
        grep -q '^# Carried over from the original program' "$user_config" ||
            agg_say "not carrying over $ORIG_DEVICE_DIR/config.ini of the original program: ${user_config#"$ROOT"} has settings already (compare the two by hand)"
    else
        carry=$(agg_orig_carry "$ORIG_DIR/config.ini")
        carried=$(printf '%s\n' "$carry" | sed -n 's/^S //p')
        carry_notes=$(printf '%s\n' "$carry" | sed -n 's/^N //p')
        if [ -n "$carried" ]; then
            tmp_check=$(mktemp "${TMPDIR:-/tmp}/$PKG-carried.XXXXXX")
            { if [ -n "$user_config" ]; then cat "$user_config"; fi; printf '%s\n' "$carried"; } > "$tmp_check"
            check_config=$tmp_check
            check_name="$SETTINGS_DEVICE_DIR/config.ini (with the settings carried over from $ORIG_DEVICE_DIR/config.ini)"
        fi
    fi
fi
if ! agg_check_pair "$SRC/bin/$arch/$PKG" "$SRC/config.default.ini" "$check_config" "$check_name"; then
    if [ -n "$carried" ]; then
        agg_say "settings carried over from the original program's $ORIG_DEVICE_DIR/config.ini:" >&2
        printf '%s\n' "$carried" | sed 's/^/    /' >&2
        agg_die "$PKG $new_version rejects them (see above); nothing was changed. Fix $ORIG_DEVICE_DIR/config.ini, or write your own settings into $SETTINGS_DEVICE_DIR/config.ini (then nothing is carried over), and run install.sh again."
    fi
    if [ -n "$user_config" ]; then
        agg_die "$PKG $new_version rejects the configuration above; nothing was changed. Fix ${user_config#"$ROOT"} and run install.sh again."
    fi
    agg_die "$PKG $new_version rejects its own config.default.ini (a broken package?); nothing was changed. Unpack the tarball again and run install.sh again."
fi

# 2. Settings out of the package dir, then the files. Nothing to copy when the
#    tarball was unpacked into the package dir.
agg_migrate_settings
mkdir -p "$DEST"
if [ "$SRC" != "$DEST" ]; then
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
if [ -n "$carried" ]; then
    {
        echo ""
        echo "# Carried over from the original program's $ORIG_DEVICE_DIR/config.ini by install.sh"
        echo "# on $(date '+%Y-%m-%d %H:%M'):"
        printf '%s\n' "$carried"
        [ -z "$carry_notes" ] || printf '%s\n' "$carry_notes" | sed 's/^/# not carried over: /'
    } >> "$CONFIG"
    agg_say "carried over from the original program's $ORIG_DEVICE_DIR/config.ini into $SETTINGS_DEVICE_DIR/config.ini:"
    printf '%s\n' "$carried" | sed 's/^/    /'
elif [ -f "$ORIG_DIR/config.ini" ] && [ -n "$carry_notes$carry" ]; then
    agg_say "nothing in the original program's $ORIG_DEVICE_DIR/config.ini has an equivalent here"
fi
if [ -n "$carry_notes" ]; then
    agg_warn "not carried over from the original program's config.ini (no equivalent here), and what to do:"
    printf '%s\n' "$carry_notes" | sed 's/^/    /' >&2
fi
agg_render_run
# The disabled state for SetupHelper too, should it take over later.
if [ -e "$DISABLED_MARK" ]; then
    : > "$DEST/services/$PKG/down"
else
    rm -f "$DEST/services/$PKG/down"
fi
# This route owns the service: PackageManager (if SetupHelper is or gets
# installed) must not install the package on its own, e.g. at the boot after a
# firmware update. A manual install from its menu takes over (see setup).
: > "$NO_AUTO_INSTALL"

# 3. The original Python program stops for good (its boot lines become
#    comments); /service entry (a copy, see lib/common.sh) and the boot hook;
#    a pre-0.2 install dir is emptied (its hook line is replaced by the new one).
agg_orig_stop
agg_service_install
agg_hook_ensure
agg_remove_legacy_dir

if [ -n "$old_version" ] && [ "$old_version" != "$new_version" ]; then
    agg_say "upgraded $PKG $old_version -> $new_version ($arch)"
elif [ -n "$old_version" ]; then
    agg_say "reinstalled $PKG $new_version ($arch)"
else
    agg_say "installed $PKG $new_version ($arch)"
fi
agg_say "package: $DEVICE_DIR; settings: $SETTINGS_DEVICE_DIR/config.ini (all options and defaults: $DEVICE_DIR/config.default.ini)"
# The command for check-config, status and forget on the installed
# configuration; also on PATH when /usr/local/bin can take a link (the root
# file system of Venus OS is normally read-only).
agg_say "command: $DEVICE_DIR/$PKG check-config | status | forget NAME"
if [ -d "$ROOT/usr/local/bin" ] && ln -sf "$DEST/$PKG" "$ROOT/usr/local/bin/$PKG" 2>/dev/null; then
    agg_say "  (also as $PKG, a link in /usr/local/bin)"
fi

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
