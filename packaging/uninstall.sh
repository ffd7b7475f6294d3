#!/bin/sh
# Remove dbus-aggregate-smartshunts: stop the service, remove its /service
# entry, its boot hook line (and /data/rc.local if install.sh created it and it
# is now empty), its log directory and every file of the install dir.
#   --keep-config   keep $DEVICE_DIR/config.ini (everything else is removed)
#   --keep-logs     keep /var/log/dbus-aggregate-smartshunts
# ROOT=<dir> works below <dir> (tests).
set -eu
. "$(cd "$(dirname "$0")" && pwd -P)/lib/common.sh"

keep_config=0
keep_logs=0
for arg in "$@"; do
    case "$arg" in
        --keep-config) keep_config=1 ;;
        --keep-logs) keep_logs=1 ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) agg_die "unknown option $arg (see --help)" ;;
    esac
done

if agg_setuphelper_managed; then
    agg_die "$PKG is installed through SetupHelper: uninstall it in the PackageManager menu (or run '$DEVICE_DIR/setup uninstall'), then run this script again to delete the files."
fi

agg_service_remove
agg_hook_remove

if [ -d "$DEST" ]; then
    list="$INSTALLED_LIST"
    [ -f "$list" ] || list="$DEST/MANIFEST"
    # Read the list into memory first: it is one of the files being deleted.
    files=$(agg_list_files "$list")
    printf '%s\n' "$files" | while IFS= read -r f; do
        if [ -n "$f" ]; then rm -f "$DEST/$f"; fi
    done
    rm -f "$DISABLED_MARK" "$INSTALLED_LIST" "$INSTALLED_VERSION" "$RC_CREATED_MARK" "$BOOT_LOG" \
        "$DEST/services/$PKG/down"
    if [ "$keep_config" -eq 1 ]; then
        [ -f "$DEST/config.ini" ] && agg_say "kept $DEVICE_DIR/config.ini"
    else
        rm -f "$DEST/config.ini"
    fi
    agg_prune_dirs
    if [ -d "$DEST" ]; then
        left=$(find "$DEST" -type f ! -name config.ini | sed "s#^$DEST/##" | tr '\n' ' ')
        [ -n "$left" ] && agg_warn "left in $DEVICE_DIR (not installed by this package): $left"
    else
        agg_say "removed $DEVICE_DIR"
    fi
fi

if [ "$keep_logs" -eq 0 ] && [ -d "$LOG_DIR" ]; then
    rm -rf "$LOG_DIR"
    agg_say "removed ${LOG_DIR#"$ROOT"}"
fi
agg_say "$PKG uninstalled"
