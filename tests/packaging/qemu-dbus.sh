#!/bin/sh
# Run the armv7 release binary under qemu-user against a private dbus-daemon,
# the way it will run on a GX device:
#   - check-config accepts the shipped config.default.ini and rejects a broken config.ini
#   - two simulated SmartShunts (`simulate` of the host build: the device build
#     leaves the development tools out)
#   - the aggregator (`--config-dir`, as service/run starts it) appears as
#     com.victronenergy.battery.aggregate_shunts and /Dc/0/Current is the sum
#   - `status` succeeds while it runs and fails once it is gone
#
#   tests/packaging/qemu-dbus.sh [BINARY]
# BINARY defaults to target/armv7-unknown-linux-gnueabihf/release/dbus-aggregate-smartshunts
# (packaging/build.sh armv7). binfmt_misc is not needed: qemu is called explicitly.
set -eu

PKG=dbus-aggregate-smartshunts
AGG=com.victronenergy.battery.aggregate_shunts
repo=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-$repo/target/armv7-unknown-linux-gnueabihf/release/$PKG}
TIMEOUT=${QEMU_DBUS_TIMEOUT:-25}
# The simulator is a development tool: the host debug build has it (cargo build).
SIM=${SIM_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/$PKG}

say()  { printf '[qemu-dbus] %s\n' "$*"; }
fail() {
    printf '[qemu-dbus] FAIL: %s\n' "$*" >&2
    for f in "$T"/*.log; do
        [ -s "$f" ] || continue
        echo "--- ${f##*/} (last 20 lines):" >&2
        tail -n 20 "$f" | sed 's/^/    /' >&2
    done
    exit 1
}

[ -f "$BIN" ] || { echo "[qemu-dbus] FAIL: $BIN missing (run packaging/build.sh armv7)" >&2; exit 1; }
[ -x "$SIM" ] || { echo "[qemu-dbus] FAIL: $SIM missing (run cargo build)" >&2; exit 1; }
for tool in qemu-arm-static dbus-daemon dbus-send; do
    command -v "$tool" >/dev/null 2>&1 ||
        { echo "[qemu-dbus] FAIL: $tool missing (packaging/ensure-tools.sh)" >&2; exit 1; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/qemu-dbus.XXXXXX")
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Background processes are started as `$QEMU "$BIN" ... &`, not through a
# function, so that $! is qemu itself and kill reaches it.
QEMU="qemu-arm-static -L /usr/arm-linux-gnueabihf"
arm() { $QEMU "$BIN" "$@"; }

# --- config checks (what install.sh and restart.sh rely on) -------------------
mkdir -p "$T/cfg" "$T/bad"
cp "$repo/config.default.ini" "$T/cfg/"
: > "$T/cfg/config.ini"
cp "$repo/config.default.ini" "$T/bad/"
printf '[DEFAULT]\nDEVICE_INSTANCE = not-a-number\n' > "$T/bad/config.ini"

say "check-config accepts config.default.ini + empty config.ini"
arm --config-dir "$T/cfg" check-config > "$T/check-good.log" 2>&1 || fail "check-config rejected the shipped defaults"
say "check-config rejects DEVICE_INSTANCE = not-a-number (exit 1, names the key)"
if arm --config-dir "$T/bad" check-config > "$T/check-bad.log" 2>&1; then
    fail "check-config accepted a broken config.ini"
fi
grep -q DEVICE_INSTANCE "$T/check-bad.log" || fail "check-config error does not name DEVICE_INSTANCE"

# --- private bus --------------------------------------------------------------
cat > "$T/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$T/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/><allow own="*"/><allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
dbus-daemon --config-file="$T/bus.conf" --nofork --print-address=1 > "$T/address" 2> "$T/dbus-daemon.log" &
pids="$pids $!"
i=0
while [ ! -s "$T/address" ]; do
    i=$((i + 1)); [ "$i" -le 50 ] || fail "dbus-daemon did not start"
    sleep 0.1
done
DBUS_SYSTEM_BUS_ADDRESS=$(head -n 1 "$T/address")
export DBUS_SYSTEM_BUS_ADDRESS
say "private bus at $DBUS_SYSTEM_BUS_ADDRESS"

get_value() {   # get_value SERVICE PATH -> prints the value, fails if absent
    dbus-send --bus="$DBUS_SYSTEM_BUS_ADDRESS" --print-reply=literal --reply-timeout=2000 \
        --dest="$1" "$2" com.victronenergy.BusItem.GetValue 2>/dev/null |
        awk '{ print $NF }'
}

# --- simulated shunts + aggregator ---------------------------------------------
say "simulating SmartShunts house1 (200 Ah, +12.5 A) and house2 (100 Ah, -4.3 A) with the host build"
"$SIM" simulate --shunt house1:280:200:12.5 --shunt house2:281:100:-4.3 > "$T/simulate.log" 2>&1 &
pids="$pids $!"
i=0
until [ -n "$(get_value com.victronenergy.battery.house2 /Dc/0/Current)" ]; do
    i=$((i + 1)); [ "$i" -le $((TIMEOUT * 5)) ] || fail "simulated shunts did not appear on the bus"
    sleep 0.2
done

say "starting the aggregator under qemu (--config-dir, as service/run does)"
start=$(date +%s)
$QEMU "$BIN" --config-dir "$T/cfg" > "$T/daemon.log" 2>&1 &
daemon=$!
pids="$pids $daemon"
expected=8.2   # the aggregate publishes currents with 0.1 A resolution
value=""
while :; do
    value=$(get_value "$AGG" /Dc/0/Current || true)
    if [ -n "$value" ] && awk -v v="$value" -v e="$expected" 'BEGIN { d = v - e; exit !(d < 0.06 && d > -0.06) }'; then
        break
    fi
    kill -0 "$daemon" 2>/dev/null || fail "the aggregator exited"
    [ $(($(date +%s) - start)) -lt "$TIMEOUT" ] ||
        fail "$AGG /Dc/0/Current is '${value:-absent}' after ${TIMEOUT}s, expected $expected"
    sleep 0.5
done
say "OK: $AGG /Dc/0/Current = $value A (12.5 + -4.3) after $(($(date +%s) - start)) s"

say "status succeeds while the aggregate runs"
arm status > "$T/status.log" 2>&1 || fail "status exited non-zero while the service runs"
kill "$daemon"
wait "$daemon" 2>/dev/null || true
say "status fails once the aggregate is gone"
if arm status > "$T/status-gone.log" 2>&1; then
    fail "status exited 0 without the service"
fi
say "all checks passed"
