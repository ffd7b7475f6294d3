#!/bin/sh
# The dbus-aggregate-smartshunts command of the installed package, installed
# as /data/AggregateSmartShunts/dbus-aggregate-smartshunts:
#   .../dbus-aggregate-smartshunts check-config     the installed configuration
#   .../dbus-aggregate-smartshunts status           the aggregate and its members
#   .../dbus-aggregate-smartshunts forget NAME|INSTANCE|SERIAL|all
# It runs the binary for this CPU (uname -m) on the configuration the service
# uses: the package's config.default.ini, then
# /data/setupOptions/<package>/config.ini, linked into
# /var/run/dbus-aggregate-smartshunts as service/run does (--config-dir).
# Messages name the real files. --config FILE, --config-dir DIR and
# `check-config FILE` are passed on as given. ROOT=<dir> works below <dir> (tests).
set -eu
self=$0
if [ -L "$self" ]; then self=$(readlink -f "$self"); fi
# shellcheck disable=SC2034  # AGG_PKGDIR is read by lib/common.sh
AGG_PKGDIR=$(cd "$(dirname "$self")" && pwd -P)
. "$AGG_PKGDIR/lib/common.sh"

bin=$(agg_bin) || agg_die "no binary for machine '$(agg_machine)': this package has binaries for armv7 and aarch64 only"
[ -x "$bin" ] || agg_die "missing $bin"
case "${1:-}" in
    --config|--config-dir) exec "$bin" "$@" ;;
esac
cfg=$(agg_config_dir) || agg_die "cannot make a configuration directory"
if [ "$#" -eq 1 ] && [ "$1" = check-config ]; then
    err=$(mktemp "${TMPDIR:-/tmp}/$PKG-err.XXXXXX")
    if out=$("$bin" --config-dir "$cfg" check-config 2>"$err"); then rc=0; else rc=$?; fi
    map() {
        sed -e "s#$cfg/config.default.ini#$DEVICE_DIR/config.default.ini#g" \
            -e "s#$cfg/config.ini#$SETTINGS_DEVICE_DIR/config.ini#g"
    }
    [ -z "$out" ] || printf '%s\n' "$out" | map
    map < "$err" >&2
    rm -f "$err"
    exit "$rc"
fi
exec "$bin" --config-dir "$cfg" "$@"
