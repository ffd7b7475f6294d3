#!/bin/sh
# Boot hook of dbus-aggregate-smartshunts, run from /data/rc.local by the one
# line that install.sh adds there.
#
# /service is a tmpfs that Venus OS rebuilds at every boot from
# /opt/victronenergy/service, and a firmware update replaces /opt, so our
# /service entry must be re-created at every boot. It is created with a
# `down` file when disable.sh left its marker, so a disabled service stays
# stopped. rc.local runs after svscan has started; svscan notices the new
# entry within 5 seconds.
#
# Never fails (a boot script must not be aborted by us); the output of the
# last run is in boot.log in the package directory.
# ROOT=<dir> works below <dir> (tests).
AGG_PKGDIR=$(cd "$(dirname "$0")/.." && pwd -P)
. "$AGG_PKGDIR/lib/common.sh"

[ -d "$DEST" ] || exit 0
{
    echo "boot hook of $PKG $(agg_version) at $(date)"
    if agg_setuphelper_managed; then
        echo "SetupHelper manages the service; nothing to do"
    elif ! agg_is_installed; then
        echo "package files missing in $DEVICE_DIR; nothing to do"
    elif agg_render_run && agg_service_install; then
        if [ -e "$DISABLED_MARK" ]; then
            echo "created $SERVICE (disabled: down)"
        else
            echo "created $SERVICE"
        fi
    else
        echo "ERROR: could not create $SERVICE"
    fi
} > "$BOOT_LOG" 2>&1
exit 0
