#!/bin/sh
# Stop dbus-aggregate-smartshunts and keep it stopped, also after reboots and
# firmware updates (a marker in the settings dir, /data/setupOptions/<package>/,
# tells the boot hook and SetupHelper's reinstall).
# Warns when the aggregate is the system's battery monitor.
# enable.sh undoes this. ROOT=<dir> works below <dir> (tests).
set -eu
AGG_PKGDIR=$(cd "$(dirname "$0")" && pwd -P)
. "$AGG_PKGDIR/lib/common.sh"

agg_is_installed || agg_die "$PKG is not installed in $DEVICE_DIR"

agg_warn_battery_monitor disabling
mkdir -p "$SETTINGS"
: > "$DISABLED_MARK"
# SetupHelper copies services/$PKG at its next reinstall; a down file there
# keeps the service stopped in that case too.
[ -d "$DEST/services/$PKG" ] && : > "$DEST/services/$PKG/down"
[ -d "$SETUPHELPER_SERVICE" ] && : > "$SETUPHELPER_SERVICE/down"
if [ -d "$SERVICE" ]; then
    : > "$SERVICE/down"
    agg_svc -d "$SERVICE"
    agg_say "$(agg_svstat)"
fi
agg_say "disabled: $PKG stays stopped (also after a reboot); run $DEVICE_DIR/enable.sh to undo"
