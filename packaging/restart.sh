#!/bin/sh
# Restart dbus-aggregate-smartshunts, e.g. after editing config.ini.
# The config is checked first: with errors the running instance is left alone
# and the errors are shown. ROOT=<dir> works below <dir> (tests).
set -eu
AGG_PKGDIR=$(cd "$(dirname "$0")" && pwd -P)
. "$AGG_PKGDIR/lib/common.sh"

agg_is_installed || agg_die "$PKG is not installed in $DEVICE_DIR (run install.sh)"
agg_check_config || agg_die "not restarting: fix $SETTINGS_DEVICE_DIR/config.ini (the running instance keeps its old settings)"
[ -e "$DISABLED_MARK" ] && agg_die "the service is disabled; run $DEVICE_DIR/enable.sh to start it"

if [ ! -d "$SERVICE" ] || [ -L "$SERVICE" ]; then
    # The entry is gone (e.g. /service was rebuilt and the boot hook did not run).
    if agg_setuphelper_managed && [ -d "$SETUPHELPER_SERVICE" ]; then
        rm -rf "$SERVICE"
        cp -R "$SETUPHELPER_SERVICE" "$SERVICE_TMP" && mv "$SERVICE_TMP" "$SERVICE"
    else
        agg_render_run
        agg_service_install
    fi
    agg_say "re-created $SERVICE"
else
    rm -f "$SERVICE/down"
    if agg_is_up; then
        agg_svc -t "$SERVICE"
        sleep 1
    else
        agg_svc -u "$SERVICE"
    fi
    agg_say "restarted"
fi
agg_wait_up
