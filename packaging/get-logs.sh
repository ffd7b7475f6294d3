#!/bin/sh
# Show the log of dbus-aggregate-smartshunts with readable local timestamps.
#   get-logs.sh            last 100 lines
#   get-logs.sh -n 500     last 500 lines
#   get-logs.sh -f         follow (Ctrl-C to stop)
#   get-logs.sh --all      everything still kept (multilog keeps 4 old files of 25 kB)
#   get-logs.sh --boot     output of the boot hook at the last boot
# ROOT=<dir> reads below <dir> (tests).
set -eu
AGG_PKGDIR=$(cd "$(dirname "$0")" && pwd -P)
. "$AGG_PKGDIR/lib/common.sh"

mode="tail"
lines=100
while [ $# -gt 0 ]; do
    case "$1" in
        -f|--follow) mode=follow ;;
        -n) [ $# -ge 2 ] || agg_die "-n needs a number"; lines=$2; shift ;;
        --all) mode=all ;;
        --boot) mode=boot ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) agg_die "unknown option $1 (see --help)" ;;
    esac
    shift
done

if [ "$mode" = boot ]; then
    [ -f "$BOOT_LOG" ] || agg_die "no boot hook output yet ($BOOT_LOG)"
    cat "$BOOT_LOG"
    exit 0
fi

[ -f "$LOG_DIR/current" ] || agg_die "no log yet in ${LOG_DIR#"$ROOT"} (is the service installed and enabled? $(agg_svstat))"

# multilog writes TAI64N stamps; tai64nlocal (daemontools) converts them.
stamps() { if command -v tai64nlocal >/dev/null 2>&1; then tai64nlocal; else cat; fi; }

case "$mode" in
    follow)
        # -F follows `current` across multilog's rotations; plain -f if this
        # tail lacks -F
        { tail -n "$lines" -F "$LOG_DIR/current" 2>/dev/null ||
            tail -n "$lines" -f "$LOG_DIR/current"; } | stamps ;;
    all)
        # rotated files are named @<tai64n>.s/.u, so a sorted glob is oldest first
        for f in "$LOG_DIR"/@* "$LOG_DIR/current"; do
            [ -f "$f" ] && cat "$f"
        done | stamps ;;
    *) tail -n "$lines" "$LOG_DIR/current" | stamps ;;
esac
