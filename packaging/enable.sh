#!/bin/sh
# Start dbus-aggregate-smartshunts now and at every boot again (undoes disable.sh).
# Refuses when config.ini has errors. ROOT=<dir> works below <dir> (tests).
set -eu
. "$(cd "$(dirname "$0")" && pwd -P)/lib/common.sh"

agg_is_installed || agg_die "$PKG is not installed in $DEVICE_DIR (run install.sh)"
agg_check_config || agg_die "not enabling: fix $DEVICE_DIR/config.ini first"

rm -f "$DISABLED_MARK" "$DEST/services/$PKG/down"
if agg_setuphelper_managed; then
    rm -f "$SETUPHELPER_SERVICE/down"
else
    agg_hook_ensure
fi
agg_service_install
if [ "$AGG_CREATED" -eq 0 ]; then
    agg_svc -u "$SERVICE"
    agg_svc -u "$SERVICE/log" || true
fi
agg_say "enabled: $PKG runs now and after every reboot"
agg_wait_up
