#!/bin/sh
# Start dbus-aggregate-smartshunts now and at every boot again (undoes disable.sh).
# Refuses when config.ini has errors. ROOT=<dir> works below <dir> (tests).
set -eu
AGG_PKGDIR=$(cd "$(dirname "$0")" && pwd -P)
. "$AGG_PKGDIR/lib/common.sh"

agg_is_installed || agg_die "$PKG is not installed in $DEVICE_DIR (run install.sh)"
agg_check_config || agg_die "not enabling: fix $SETTINGS_DEVICE_DIR/config.ini first"

rm -f "$DISABLED_MARK" "$DEST/services/$PKG/down"
if agg_setuphelper_managed; then
    # SetupHelper's copy in /opt/victronenergy/service is what /service gets
    # at boot; /service may lack the entry (e.g. disabled before a reboot).
    rm -f "$SETUPHELPER_SERVICE/down"
    AGG_CREATED=0
    if [ ! -d "$SERVICE" ] && [ -d "$SETUPHELPER_SERVICE" ]; then
        cp -R "$SETUPHELPER_SERVICE" "$SERVICE_TMP" && mv "$SERVICE_TMP" "$SERVICE"
        AGG_CREATED=1
    fi
    rm -f "$SERVICE/down"
else
    agg_hook_ensure
    agg_render_run
    agg_service_install
fi
if [ "$AGG_CREATED" -eq 0 ]; then
    agg_svc -u "$SERVICE"
    agg_svc -u "$SERVICE/log" || true
fi
agg_say "enabled: $PKG runs now and after every reboot"
agg_wait_up
