#!/bin/sh
# Remove dbus-aggregate-smartshunts installed with install.sh: stop the
# service, remove its /service entry, its boot hook line (and /data/rc.local if
# install.sh created it and it is now empty), its log directory, every file of
# the package dir and the settings in /data/setupOptions/<package>/. Undoes
# what HIDE_MEMBER_SHUNTS and SELECT_BATTERY_MONITOR changed in the system
# settings, and warns when the aggregate is still the system's battery
# monitor. The original Python program
# (/data/apps/...) is not brought back; its files stay where they are.
#   --keep-config   keep /data/setupOptions/<package>/config.ini
#   --keep-logs     keep /var/log/dbus-aggregate-smartshunts
# A SetupHelper install is removed in the PackageManager menu instead.
# ROOT=<dir> works below <dir> (tests).
set -eu
AGG_PKGDIR=$(cd "$(dirname "$0")" && pwd -P)
. "$AGG_PKGDIR/lib/common.sh"

keep_config=0
keep_logs=0
for arg in "$@"; do
    case "$arg" in
        --keep-config) keep_config=1 ;;
        --keep-logs) keep_logs=1 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) agg_die "unknown option $arg (see --help)" ;;
    esac
done

if agg_setuphelper_managed; then
    agg_die "$PKG is installed through SetupHelper: uninstall it in the PackageManager menu (or run '$DEVICE_DIR/setup uninstall'), then run this script again to delete the files."
fi

agg_service_remove
# Undo what HIDE_MEMBER_SHUNTS / SELECT_BATTERY_MONITOR changed in the system
# settings (only on a device: the tests run below ROOT without a bus), then
# say whether the aggregate is still the battery monitor.
agg_restore_system
agg_warn_battery_monitor uninstalling
agg_hook_remove
if [ -L "$ROOT/usr/local/bin/$PKG" ] && [ "$(readlink "$ROOT/usr/local/bin/$PKG")" = "$DEST/$PKG" ]; then
    rm -f "$ROOT/usr/local/bin/$PKG"
fi

if [ -d "$DEST" ]; then
    list="$INSTALLED_LIST"
    [ -f "$list" ] || list="$DEST/MANIFEST"
    # Read the list into memory first: it is one of the files being deleted.
    files=$(agg_list_files "$list")
    printf '%s\n' "$files" | while IFS= read -r f; do
        if [ -n "$f" ]; then rm -f "$DEST/$f"; fi
    done
    rm -f "$INSTALLED_LIST" "$INSTALLED_VERSION" "$BOOT_LOG" "$DEST/services/$PKG/down"
    agg_prune_dirs
    if [ -d "$DEST" ]; then
        left=$(find "$DEST" -type f | sed "s#^$DEST/##" | tr '\n' ' ')
        [ -n "$left" ] && agg_warn "left in $DEVICE_DIR (not installed by this package): $left"
    else
        agg_say "removed $DEVICE_DIR"
    fi
fi

# Settings: ours go (config.ini unless kept); flags SetupHelper's
# PackageManager keeps there for itself stay.
rm -f "$DISABLED_MARK" "$RC_CREATED_MARK" "$NO_AUTO_INSTALL" "$CONFIG.old"
if [ "$keep_config" -eq 1 ]; then
    [ -f "$CONFIG" ] && agg_say "kept $SETTINGS_DEVICE_DIR/config.ini"
else
    rm -f "$CONFIG"
fi
if [ -d "$SETTINGS" ]; then
    rmdir "$SETTINGS" 2>/dev/null && agg_say "removed $SETTINGS_DEVICE_DIR"
    rmdir "$ROOT/data/setupOptions" 2>/dev/null || true
fi

if [ "$keep_logs" -eq 0 ] && [ -d "$LOG_DIR" ]; then
    rm -rf "$LOG_DIR"
    agg_say "removed ${LOG_DIR#"$ROOT"}"
fi
agg_say "$PKG uninstalled"
# The original Python program stays off: install.sh turned its boot lines
# into comments, and nothing here turns them back.
if agg_orig_found; then
    agg_say "the original Python program is not restored: its files are still in $ORIG_DEVICE_DIR (remove them with: rm -rf $ORIG_DEVICE_DIR)"
    if grep -qF "$ORIG_OFF" "$RC_LOCAL" "$RC_LOCAL_DISABLED" 2>/dev/null; then
        agg_say "  its boot lines in /data/rc.local are comments starting with '$ORIG_OFF'; to use it again, remove that prefix and run its enable.sh"
    fi
fi
