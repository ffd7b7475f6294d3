#!/bin/sh
# Life cycle of the device scripts in a scratch root, without a device:
#   tarball layout -> install -> install again -> config change + restart
#   (good and broken config) -> disable -> reboot -> enable -> reboot ->
#   refused upgrade (broken config) -> upgrade from /tmp -> upgrade unpacked
#   over the install dir while disabled -> uninstall --keep-config -> uninstall
# plus: existing /data/rc.local with `exit 0`, GUI-disabled hooks
# (rc.local.disabled), a leftover symlink of the Python original, the
# service/run arch selection, service/log/run with the real multilog, get-logs;
# migration from the original Python program in /data/apps (V1 and later
# layouts: stopped, boot lines commented out, config.ini keys carried over or
# listed), check-config's warnings and errors (DEVICE_MOD) shown by the
# scripts, the package's dbus-aggregate-smartshunts command on the installed
# configuration, the battery-monitor warning of disable.sh and uninstall.sh
# (localsettings through a stand-in of the velib `dbus` CLI), and the real
# check-config when a host build exists (CARGO_TARGET_DIR/release).
#
# daemontools is replaced by stubs (svc, svstat, svok) that log every call and
# keep a little state, the daemon by a shell script whose check-config
# rejects config.ini lines starting with BROKEN. The release tarballs are made
# by packaging/dist.sh from those fake binaries, so nothing here needs the Rust
# build.
#
#   tests/packaging/lifecycle.sh              scripts under /bin/sh + host tools
#   tests/packaging/lifecycle.sh --busybox    scripts under busybox sh with busybox
#                                             applets first on PATH (as on Venus)
set -eu

PKG=dbus-aggregate-smartshunts   # binary, service
NAME=AggregateSmartShunts        # package dir, tarball
repo=$(cd "$(dirname "$0")/../.." && pwd)

mode=host
SH="sh"
case "${1:-}" in
    --busybox) mode=busybox; SH="busybox sh" ;;
    "") ;;
    *) echo "usage: $0 [--busybox]" >&2; exit 2 ;;
esac
if [ "$mode" = busybox ] && ! command -v busybox >/dev/null 2>&1; then
    echo "lifecycle: FAIL: busybox not installed (packaging/ensure-tools.sh)" >&2
    exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/lifecycle.XXXXXX")
trap 'rm -rf "$T"' EXIT
CALLS="$T/calls.log"
export CALLS
: > "$CALLS"
HOST_PATH=$PATH   # dist.sh runs on the build host, with its GNU tools

n=0
step() { n=$((n + 1)); printf '[lifecycle/%s] %2d. %s\n' "$mode" "$n" "$*"; }
fail() {
    printf '[lifecycle/%s] FAIL: %s\n' "$mode" "$*" >&2
    if [ -s "$T/out" ]; then echo "--- last script output:" >&2; sed 's/^/    /' "$T/out" >&2; fi
    echo "--- daemontools calls:" >&2; tail -n 15 "$CALLS" | sed 's/^/    /' >&2
    exit 1
}
ok_file()   { [ -f "$1" ] || fail "expected file ${1#"$T"/}"; }
no_path()   { if [ -e "$1" ] || [ -L "$1" ]; then fail "expected ${1#"$T"/} to be absent"; fi; }
ok_realdir() { if [ ! -d "$1" ] || [ -L "$1" ]; then fail "$1 must be a directory (a copy), not a symlink"; fi; }
ok_exec()   { [ -x "$1" ] || fail "expected ${1#"$T"/} to be executable"; }
ok_same()   { cmp -s "$1" "$2" || fail "${1#"$T"/} differs from ${2#"$T"/}"; }
ok_grep()   { grep -q -- "$1" "$2" || fail "'$1' not found in ${2#"$T"/}"; }
no_grep()   { ! grep -q -- "$1" "$2" || fail "'$1' unexpectedly found in ${2#"$T"/}"; }
ok_count()  { c=$(grep -cF -- "$1" "$2" || true); [ "$c" -eq "$3" ] || fail "'$1' occurs $c times in ${2#"$T"/}, expected $3"; }
ok_call()   { grep -qxF -- "$1" "$CALLS" || fail "expected daemontools call: $1"; }
no_call()   { ! grep -q -- "$1" "$CALLS" || fail "unexpected daemontools call matching: $1"; }
reset_calls() { : > "$CALLS"; }
# run_ok / run_fails SCRIPT ARGS...: run a device script with the shell under test
run_ok()    { if ! $SH "$@" > "$T/out" 2>&1; then fail "$* exited non-zero"; fi; }
run_fails() { if $SH "$@" > "$T/out" 2>&1; then fail "$* should have failed"; fi; }

# --- stubs ---------------------------------------------------------------------
mkdir -p "$T/stubs"
cat > "$T/stubs/svc" <<'EOF'
#!/bin/sh
# svc stub: log, and remember what supervise would do
echo "svc $*" >> "$CALLS"
opt=$1; shift
for d in "$@"; do
    [ -d "$d" ] || { echo "svc: warning: unable to control $d: file does not exist" >&2; exit 111; }
    mkdir -p "$d/supervise"
    case "$opt" in
        *x*) echo exited > "$d/supervise/stub-state" ;;
        *d*) echo down > "$d/supervise/stub-state" ;;
        *u*|*t*) echo up > "$d/supervise/stub-state" ;;
    esac
done
EOF
cat > "$T/stubs/svstat" <<'EOF'
#!/bin/sh
# svstat stub; without state it answers what svscan + supervise would show
echo "svstat $*" >> "$CALLS"
for d in "$@"; do
    st=""
    [ -f "$d/supervise/stub-state" ] && st=$(cat "$d/supervise/stub-state")
    if [ -z "$st" ]; then
        if [ ! -d "$d" ]; then st=missing; elif [ -e "$d/down" ]; then st=down; else st=up; fi
    fi
    case "$st" in
        up) echo "$d: up (pid 4242) 12 seconds" ;;
        down) echo "$d: down 7 seconds, normally up" ;;
        *) echo "svstat: warning: unable to open $d/supervise/ok: file does not exist" ;;
    esac
done
EOF
cat > "$T/stubs/svok" <<'EOF'
#!/bin/sh
echo "svok $*" >> "$CALLS"
[ -d "$1" ] || exit 1
[ "$(cat "$1/supervise/stub-state" 2>/dev/null)" != exited ]
EOF
printf '#!/bin/sh\nexit 0\n' > "$T/stubs/sleep"   # keep the wait loops fast
# the velib `dbus` CLI: `dbus -y SERVICE PATH GetValue` answers from the file
# $DBUS_STUB/SERVICE/PATH, or fails like a missing service
cat > "$T/stubs/dbus" <<'EOF'
#!/bin/sh
echo "dbus $*" >> "$DBUS_STUB.log"
[ "$1" = -y ] && shift
if [ "$3" = GetValue ] && [ -f "$DBUS_STUB/$1$2" ]; then cat "$DBUS_STUB/$1$2"; exit 0; fi
echo "org.freedesktop.DBus.Error.ServiceUnknown: $1" >&2
exit 1
EOF
DBUS_STUB="$T/dbus"
export DBUS_STUB
chmod +x "$T/stubs/"*

if [ "$mode" = busybox ]; then
    mkdir -p "$T/bb"
    bb=$(command -v busybox)
    for a in $(busybox --list); do
        case "$a" in svc|svok|sleep|"[["|busybox) continue ;; esac
        ln -s "$bb" "$T/bb/$a"
    done
    PATH="$T/stubs:$T/bb:$PATH"
else
    PATH="$T/stubs:$PATH"
fi
export PATH
export AGG_MACHINE=armv7l AGG_WAIT=3

# --- fake daemon and tarballs ----------------------------------------------------
fake_bin() {   # fake_bin VERSION FILE
    cat > "$2" <<EOF
#!/bin/sh
# fake $PKG $1 for packaging tests
dir=.
if [ "\${1:-}" = --config-dir ]; then dir=\$2; shift 2; fi
c=\$dir/config.ini
case "\${1:-}" in
    check-config)
        if [ -n "\${2:-}" ]; then c=\$2; fi
        if grep -n '^BROKEN' "\$c" 2>/dev/null; then
            echo "\$c: unknown key BROKEN"; exit 1
        fi
        # like the real one: a misspelt key is an error with a suggestion,
        # virtual-bms needs all three limits, old keys only warn
        if l=\$(grep -n '^DEVICE_MOD[[:space:]]*=' "\$c" 2>/dev/null); then
            echo "config error: \$c:\${l%%:*}: DEVICE_MOD: unknown setting (did you mean DEVICE_MODE?); correct or remove it, or set ALLOW_UNKNOWN_KEYS = true to only be warned" >&2
            echo "1 error" >&2; exit 1
        fi
        if grep -q '^DEVICE_MODE = virtual-bms' "\$c" 2>/dev/null; then
            for k in MAX_CHARGE_VOLTAGE MAX_CHARGE_CURRENT MAX_DISCHARGE_CURRENT; do
                grep -q "^\$k = " "\$c" && continue
                echo "config error: \$c: DEVICE_MODE: virtual-bms needs \$k" >&2; echo "1 error" >&2; exit 1
            done
        fi
        grep -n -E '^(CAPACITY_MODE|SEARCH_TRIALS|READ_TRIALS)[[:space:]]*=' "\$c" 2>/dev/null |
            while IFS=: read -r ln rest; do
                echo "# warning: \$c:\$ln: \${rest%%[ =]*}: is a setting of an older version and is no longer used; ignored"
            done
        echo "config ok ($1), read from \$dir"
        grep -v -e '^#' -e '^\$' "\$c" 2>/dev/null | sed 's/^/setting: /'
        exit 0 ;;
    *) echo "fake daemon $1: \$* (config dir \$dir)"; exit 0 ;;
esac
EOF
    chmod 755 "$2"
}
cfg_default="$repo/config.default.ini"
if [ ! -f "$cfg_default" ]; then
    cfg_default="$T/config.default.ini"
    printf '[DEFAULT]\n# stand-in: the repository has no config.default.ini yet\n' > "$cfg_default"
fi
for v in 0.1.0 0.1.1 0.1.2; do
    fake_bin "$v" "$T/fake-$v"
    PATH=$HOST_PATH "$repo/packaging/dist.sh" --version "$v" --bin-armv7 "$T/fake-$v" --bin-aarch64 "$T/fake-$v" \
        --config-default "$cfg_default" --out "$T/dist" > "$T/out" 2>&1 || fail "dist.sh --version $v"
done
tb1="$T/dist/$NAME-0.1.0.tar.gz"
tb2="$T/dist/$NAME-0.1.1.tar.gz"
tb3="$T/dist/$NAME-0.1.2.tar.gz"

ROOT="$T/root"
export ROOT
D="$ROOT/data/$NAME"
O="$ROOT/data/setupOptions/$NAME"   # the user's settings
S="$ROOT/service/$PKG"
RC="$ROOT/data/rc.local"

# simulated boot: a fresh, empty /service tmpfs, then /data/rc.local runs
reboot() {
    rm -rf "$ROOT/service"
    mkdir -p "$ROOT/service"
    sed -e "s#/data/#$ROOT/data/#g" -e "s# /service/# $ROOT/service/#g" "$RC" > "$T/rc.local.run"
    $SH "$T/rc.local.run" > "$T/out" 2>&1 || fail "rc.local failed at boot"
}

# ==================================================================================
step "tarball layout: one top dir, scripts executable, SetupHelper files"
mkdir -p "$T/list"
tar -xzf "$tb1" -C "$T/list"
[ "$(ls "$T/list")" = "$NAME" ] || fail "tarball must hold exactly $NAME/"
P="$T/list/$NAME"
for f in $PKG bin/armv7/$PKG bin/aarch64/$PKG install.sh enable.sh disable.sh restart.sh \
    uninstall.sh get-logs.sh rc/boot.sh service/run service/log/run setup \
    services/$PKG/run services/$PKG/log/run; do
    ok_exec "$P/$f"
done
for f in config.default.ini lib/common.sh version firstCompatibleVersion README.md LICENSE MANIFEST; do
    ok_file "$P/$f"
done
[ "$(cat "$P/version")" = v0.1.0 ] || fail "version file is '$(cat "$P/version")', expected v0.1.0"
no_path "$P/gitHubInfo"   # no automatic downloads (README-install.md)
[ "$(cat "$P/firstCompatibleVersion")" = v2.80 ] || fail "firstCompatibleVersion is not v2.80"
ok_grep "v2.80" "$P/README.md"
ok_same "$P/service/run" "$P/services/$PKG/run"
ok_same "$P/service/log/run" "$P/services/$PKG/log/run"
(cd "$P" && find . -type f | sed 's#^\./##' | LC_ALL=C sort) > "$T/files"
LC_ALL=C sort "$P/MANIFEST" | cmp -s - "$T/files" || fail "MANIFEST does not list exactly the files in the tarball"
ok_grep "exec 2>&1" "$P/service/run"
ok_grep "exec softlimit " "$P/service/run"
ok_grep "exec multilog t s25000 n4 /var/log/$PKG" "$P/service/log/run"

# ==================================================================================
step "install (unpacked into /data): files, config.ini in setupOptions, /service copy, boot hook"
mkdir -p "$ROOT/data" "$ROOT/service" "$ROOT/var/log"
tar -xzf "$tb1" -C "$ROOT/data"
# pretend an older version shipped a file that 0.1.1 no longer has
echo "old" > "$D/obsolete-helper.sh"
echo "obsolete-helper.sh" >> "$D/MANIFEST"
run_ok "$D/install.sh"
ok_grep "^installed $PKG v0.1.0 (armv7)" "$T/out"
ok_file "$O/config.ini"
no_path "$D/config.ini"
ok_file "$O/DO_NOT_AUTO_INSTALL"
ok_grep "^pkg=/data/$NAME$" "$D/service/run"
ok_file "$D/.installed-files"
ok_realdir "$S"
ok_same "$D/service/run" "$S/run"
ok_same "$D/service/log/run" "$S/log/run"
no_path "$S/down"
no_path "$ROOT/service/.$PKG.new"
ok_exec "$RC"
[ "$(head -n 1 "$RC")" = "#!/bin/sh" ] || fail "rc.local must start with a shebang"
ok_count "# $PKG boot hook" "$RC" 1
ok_grep "/data/$NAME/rc/boot.sh" "$RC"
no_call "svc -t"
ok_call "svstat $S"

step "install again: nothing added, service restarted"
cp "$RC" "$T/rc.before"
(cd "$ROOT" && find . -path ./service -prune -o -type f -print | LC_ALL=C sort | xargs cksum) > "$T/tree.before"
reset_calls
run_ok "$D/install.sh"
ok_grep "^reinstalled $PKG v0.1.0" "$T/out"
ok_same "$RC" "$T/rc.before"
(cd "$ROOT" && find . -path ./service -prune -o -type f -print | LC_ALL=C sort | xargs cksum) > "$T/tree.after"
ok_same "$T/tree.after" "$T/tree.before"
ok_call "svc -t $S"

# ==================================================================================
step "config change + restart.sh; a broken config.ini is refused, service untouched"
echo "# my setting" >> "$O/config.ini"
reset_calls
run_ok "$D/restart.sh"
ok_call "svc -t $S"
echo "BROKEN = 1" >> "$O/config.ini"
reset_calls
run_fails "$D/restart.sh"
ok_grep "unknown key BROKEN" "$T/out"
ok_grep "not restarting" "$T/out"
no_call "svc "
ok_grep "/data/setupOptions/$NAME/config.ini: unknown key BROKEN" "$T/out"
grep -v '^BROKEN' "$O/config.ini" > "$T/cfg" && cat "$T/cfg" > "$O/config.ini"
cp "$O/config.ini" "$T/config.user"

# ==================================================================================
step "disable: marker in setupOptions, down file, svc -d; idempotent"
reset_calls
run_ok "$D/disable.sh"
ok_file "$O/disabled"
ok_file "$S/down"
ok_file "$D/services/$PKG/down"
ok_call "svc -d $S"
run_ok "$D/disable.sh"
run_fails "$D/restart.sh"
ok_grep "disabled" "$T/out"

step "reboot (fresh empty /service, rc.local runs): entry back, still disabled"
reboot
[ -d "$S" ] || fail "boot hook did not re-create $S"
ok_file "$S/down"
ok_same "$D/service/run" "$S/run"
ok_grep "disabled" "$D/boot.log"

step "enable: marker and down files gone, svc -u; reboot keeps it enabled"
reset_calls
run_ok "$D/enable.sh"
no_path "$O/disabled"
no_path "$S/down"
no_path "$D/services/$PKG/down"
ok_call "svc -u $S"
ok_count "# $PKG boot hook" "$RC" 1
reboot
[ -d "$S" ] || fail "boot hook did not re-create $S"
no_path "$S/down"

# ==================================================================================
step "upgrade refused when the new version rejects config.ini: nothing changes"
mkdir -p "$T/up2"
tar -xzf "$tb2" -C "$T/up2"
echo "BROKEN = yes" >> "$O/config.ini"
cp "$D/bin/armv7/$PKG" "$T/bin.before"
reset_calls
run_fails "$T/up2/$NAME/install.sh"
ok_grep "nothing was changed" "$T/out"
ok_grep "/data/setupOptions/$NAME/config.ini: unknown key BROKEN" "$T/out"
[ "$(cat "$D/version")" = v0.1.0 ] || fail "version changed by a refused upgrade"
ok_same "$D/bin/armv7/$PKG" "$T/bin.before"
no_call "svc "
cat "$T/config.user" > "$O/config.ini"

step "upgrade from a tarball unpacked in /tmp: new files, config kept, restarted"
reset_calls
run_ok "$T/up2/$NAME/install.sh"
ok_grep "upgraded $PKG v0.1.0 -> v0.1.1" "$T/out"
[ "$(cat "$D/version")" = v0.1.1 ] || fail "version not upgraded"
ok_same "$D/bin/armv7/$PKG" "$T/fake-0.1.1"
ok_same "$O/config.ini" "$T/config.user"
no_path "$D/obsolete-helper.sh"
ok_grep "removed obsolete obsolete-helper.sh" "$T/out"
ok_same "$D/MANIFEST" "$T/up2/$NAME/MANIFEST"
ok_call "svc -t $S"
ok_count "# $PKG boot hook" "$RC" 1

step "upgrade unpacked over the install dir while disabled: stays disabled"
run_ok "$D/disable.sh"
tar -xzf "$tb3" -C "$ROOT/data"
reset_calls
run_ok "$D/install.sh"
ok_grep "upgraded $PKG v0.1.1 -> v0.1.2" "$T/out"
ok_grep "disabled" "$T/out"
ok_file "$S/down"
ok_same "$O/config.ini" "$T/config.user"
no_call "svc -t"
no_call "svc -u"
run_ok "$D/enable.sh"

# ==================================================================================
step "service/log/run + get-logs.sh"
mkdir -p "$ROOT/var/log/$PKG"
if command -v multilog >/dev/null 2>&1; then
    sed "s#/var/log/#$ROOT/var/log/#" "$D/service/log/run" > "$T/logrun"
    echo "hello from the daemon" | $SH "$T/logrun"
    grep -q '^@4000[0-9a-f]* hello from the daemon$' "$ROOT/var/log/$PKG/current" ||
        fail "multilog did not write a stamped line"
else
    echo "    (multilog not installed: log/run not executed)"
    echo "@400000006b0608d000000000 hello from the daemon" > "$ROOT/var/log/$PKG/current"
fi
run_ok "$D/get-logs.sh" -n 5
ok_grep "hello from the daemon" "$T/out"
run_ok "$D/get-logs.sh" --boot
ok_grep "boot hook of $PKG" "$T/out"

# ==================================================================================
step "uninstall --keep-config: entry, hook, rc.local (ours), logs, package files gone"
reset_calls
run_ok "$D/uninstall.sh" --keep-config
no_path "$S"
no_path "$RC"
no_path "$ROOT/var/log/$PKG"
ok_call "svc -dx $S"
ok_call "svc -dx $S/log"
no_path "$D"
[ "$(cd "$O" && find . -type f)" = "./config.ini" ] || fail "only config.ini may remain, found: $(cd "$O" && find . | tr '\n' ' ')"
ok_same "$O/config.ini" "$T/config.user"

step "uninstall again without --keep-config: nothing of ours left under ROOT"
tar -xzf "$tb1" -C "$ROOT/data"
run_ok "$D/uninstall.sh"
no_path "$D"
no_path "$O"
left=$(find "$ROOT" -type f -o -type l)
[ -z "$left" ] || fail "left behind: $left"

# ==================================================================================
step "existing rc.local ending in 'exit 0': hook goes before it and runs; uninstall restores it"
ROOT="$T/root2"; D="$ROOT/data/$NAME"; O="$ROOT/data/setupOptions/$NAME"; S="$ROOT/service/$PKG"; RC="$ROOT/data/rc.local"
mkdir -p "$ROOT/data" "$ROOT/service"
printf '#!/bin/bash\necho other add-on\nexit 0\n' > "$RC"
chmod 755 "$RC"
cp "$RC" "$T/rc.orig"
tar -xzf "$tb1" -C "$ROOT/data"
run_ok "$D/install.sh"
sed -n 2p "$RC" | grep -qF "# $PKG boot hook" || fail "hook must be line 2 (after the shebang)"
[ "$(tail -n 1 "$RC")" = "exit 0" ] || fail "rc.local must still end with exit 0"
ok_grep "echo other add-on" "$RC"
no_path "$O/created-rc-local"
reboot
[ -d "$S" ] || fail "hook before 'exit 0' did not run"
run_ok "$D/uninstall.sh"
ok_same "$RC" "$T/rc.orig"
ok_exec "$RC"

step "hook lines of an older version (two of them) are replaced by exactly one current line"
printf '#!/bin/sh\n/data/%s/rc/boot.sh & # %s boot hook v0\necho other\n/data/%s/rc/boot.sh # %s boot hook v0\n' \
    "$PKG" "$PKG" "$PKG" "$PKG" > "$RC"
tar -xzf "$tb1" -C "$ROOT/data"
run_ok "$D/install.sh"
ok_count "# $PKG boot hook" "$RC" 1
no_grep "boot hook v0" "$RC"
ok_grep "^echo other$" "$RC"
run_ok "$D/uninstall.sh"
[ "$(cat "$RC")" = "$(printf '#!/bin/sh\necho other')" ] || fail "uninstall left: $(cat "$RC")"
cp "$T/rc.orig" "$RC"

step "hooks disabled in the GUI (rc.local.disabled): hook added there, with a warning"
RCD="$ROOT/data/rc.local.disabled"
mv "$RC" "$RCD"
tar -xzf "$tb1" -C "$ROOT/data"
run_ok "$D/install.sh"
ok_grep "system hooks are disabled" "$T/out"
no_path "$RC"
ok_count "# $PKG boot hook" "$RCD" 1
run_ok "$D/uninstall.sh"
ok_same "$RCD" "$T/rc.orig"

step "symlink left by the Python original in /service is replaced"
mkdir -p "$ROOT/data/apps/$PKG/service"
ln -s "$ROOT/data/apps/$PKG/service" "$S"
tar -xzf "$tb1" -C "$ROOT/data"
reset_calls
run_ok "$D/install.sh"
ok_grep "replacing the symlink" "$T/out"
ok_call "svc -dx $S"
ok_realdir "$S"
run_ok "$D/uninstall.sh"

step "SetupHelper-managed install: standalone install/uninstall refuse politely"
tar -xzf "$tb1" -C "$ROOT/data"
mkdir -p "$ROOT/opt/victronenergy/service/$PKG"
run_fails "$D/install.sh"
ok_grep "SetupHelper" "$T/out"
run_fails "$D/uninstall.sh"
ok_grep "PackageManager" "$T/out"
rm -rf "$ROOT/opt"
run_ok "$D/uninstall.sh"

# ==================================================================================
# The SetupHelper route, with the stand-ins of SetupHelper's HelperResources and
# PackageManager in tests/packaging/setuphelper-standin (see their headers).
SI="$repo/tests/packaging/setuphelper-standin"
sh_root() {   # a fresh Venus-like root with SetupHelper's helpers in /data/SetupHelper
    ROOT=$1; D="$ROOT/data/$NAME"; O="$ROOT/data/setupOptions/$NAME"; S="$ROOT/service/$PKG"
    RC="$ROOT/data/rc.local"; OPT="$ROOT/opt/victronenergy/service/$PKG"
    mkdir -p "$ROOT/data/SetupHelper" "$ROOT/service" "$ROOT/opt/victronenergy/service" "$ROOT/etc/venus" "$ROOT/var/log"
    cp -R "$SI/HelperResources" "$ROOT/data/SetupHelper/"
    echo einstein > "$ROOT/etc/venus/machine"
    echo v3.14 > "$ROOT/opt/victronenergy/version"
}
pm()       { if ! bash "$SI/pm.sh" "$@" > "$T/out" 2>&1; then fail "pm.sh $* failed"; fi; }
pm_fails() { if bash "$SI/pm.sh" "$@" > "$T/out" 2>&1; then fail "pm.sh $* should have failed"; fi; }
STANDIN_SVSCAN_UP=1
export STANDIN_SVSCAN_UP

step "stand-in fidelity: endScript INSTALL_SERVICE installs nothing, INSTALL_SERVICES does"
sh_root "$T/root3"
PR="$ROOT/data/Probe"
mkdir -p "$PR/services/probe/log"
printf '#!/bin/sh\nexec sleep 1\n' > "$PR/services/probe/run"
cp "$PR/services/probe/run" "$PR/services/probe/log/run"
echo v1.0 > "$PR/version"
# shellcheck disable=SC2016  # expanded when the probe runs
printf '#!/bin/bash\nstandardPromptAndActions=no\nsource "$(dirname "$0")/../SetupHelper/HelperResources/IncludeHelpers"\nendScript INSTALL_SERVICE\n' > "$PR/setup"
chmod 755 "$PR/setup"
pm install Probe
ok_grep "Probe install exit 0" "$T/out"
ok_file "$ROOT/etc/venus/installedVersion-Probe"
no_path "$ROOT/opt/victronenergy/service/probe"
no_path "$ROOT/service/probe"
sed -i 's/INSTALL_SERVICE$/INSTALL_SERVICES/' "$PR/setup"
pm install Probe
ok_realdir "$ROOT/opt/victronenergy/service/probe"
ok_realdir "$ROOT/service/probe"
pm uninstall Probe
no_path "$ROOT/opt/victronenergy/service/probe"
no_path "$ROOT/service/probe"
echo v3.00 > "$ROOT/opt/victronenergy/version"   # no firstCompatibleVersion: v3.10 at least
pm_fails install Probe
ok_grep "before first compatible v3.10" "$T/out"
echo v3.14 > "$ROOT/opt/victronenergy/version"
rm -rf "$PR" "$ROOT/data/setupOptions/Probe"

step "SetupHelper: PackageManager lists the unpacked package; menu install installs the service"
tar -xzf "$tb1" -C "$ROOT/data"
pm list
ok_grep "^$NAME$" "$T/out"
reset_calls
pm install "$NAME"
ok_grep "$NAME install exit 0" "$T/out"
ok_realdir "$OPT"
ok_realdir "$S"
ok_grep "^pkg=/data/$NAME$" "$OPT/run"
ok_same "$OPT/run" "$S/run"
ok_same "$D/services/$PKG/log/run" "$S/log/run"
ok_grep "^$PKG$" "$ROOT/etc/venus/installedModifications/installedServices-$NAME"
[ "$(cat "$ROOT/etc/venus/installedVersion-$NAME")" = v0.1.0 ] || fail "installedVersion"
ok_file "$O/config.ini"
no_path "$O/DO_NOT_AUTO_INSTALL"
no_path "$RC"
no_path "$D/.installed-files"
ok_call "svstat $S"   # svscan picks the new entry up; SetupHelper only checks

step "SetupHelper: install.sh and uninstall.sh refuse while SetupHelper owns the service"
run_fails "$D/install.sh"
ok_grep "installed through SetupHelper" "$T/out"
run_fails "$D/uninstall.sh"
ok_grep "PackageManager" "$T/out"
ok_realdir "$OPT"
no_path "$RC"

step "SetupHelper: disabled stays disabled across a firmware update and the boot-time reinstall"
reset_calls
run_ok "$D/disable.sh"
ok_file "$O/disabled"
ok_file "$OPT/down"
ok_file "$S/down"
ok_call "svc -d $S"
pm firmware-update
no_path "$OPT"
pm boot
ok_grep "$NAME install exit 0" "$T/out"
ok_realdir "$OPT"
ok_file "$OPT/down"
ok_file "$S/down"
no_path "$RC"
reset_calls
run_ok "$D/enable.sh"
no_path "$O/disabled"
no_path "$OPT/down"
no_path "$S/down"
ok_call "svc -u $S"
pm boot   # a plain reboot: installed, nothing to reinstall
no_grep "install exit" "$T/out"
ok_realdir "$S"
no_path "$S/down"

step "SetupHelper: a media update replaces the package folder; settings are kept"
echo "# my setting under SetupHelper" >> "$O/config.ini"
cp "$O/config.ini" "$T/config.sh"
echo "mine" > "$D/dropped-in-package-dir"
mkdir -p "$T/media"
cp "$tb2" "$T/media/$NAME-0.1.1.tar.gz"
pm media "$T/media/$NAME-0.1.1.tar.gz"
ok_grep "^$NAME$" "$T/out"
[ "$(cat "$D/version")" = v0.1.1 ] || fail "media transfer did not replace the package"
no_path "$D/dropped-in-package-dir"
ok_same "$O/config.ini" "$T/config.sh"
pm install "$NAME"
[ "$(cat "$ROOT/etc/venus/installedVersion-$NAME")" = v0.1.1 ] || fail "installedVersion after update"
ok_same "$D/bin/armv7/$PKG" "$T/fake-0.1.1"
ok_same "$O/config.ini" "$T/config.sh"
ok_grep "^pkg=/data/$NAME$" "$S/run"
pm_fails download "$NAME" "$tb3"
ok_grep "no downloads" "$T/out"

step "SetupHelper: a broken config.ini fails the install with the error (SetupHelper undoes it); warnings are logged"
echo "BROKEN = 1" >> "$O/config.ini"
tar -xzf "$tb3" -C "$ROOT/data"
pm_fails install "$NAME"
ok_grep "config.ini has errors" "$T/out"
ok_grep "unknown key BROKEN" "$T/out"
cp "$T/config.sh" "$O/config.ini"
echo "SEARCH_TRIALS = 3" >> "$O/config.ini"      # accepted with a warning, which is shown
pm install "$NAME"
ok_realdir "$OPT"
ok_grep "WARNING: config: /data/setupOptions/$NAME/config.ini:[0-9]*: SEARCH_TRIALS: is a setting of an older version" "$T/out"
cp "$T/config.sh" "$O/config.ini"

step "hand-over SetupHelper -> install.sh (--from-setuphelper); PackageManager then keeps off"
reset_calls
run_ok "$D/install.sh" --from-setuphelper
ok_grep "installed $PKG v0.1.2" "$T/out"
no_path "$OPT"
no_path "$ROOT/etc/venus/installedVersion-$NAME"
ok_realdir "$S"
ok_count "# $PKG boot hook" "$RC" 1
ok_file "$O/DO_NOT_AUTO_INSTALL"
ok_same "$O/config.ini" "$T/config.sh"
pm firmware-update
pm boot
no_grep "install exit" "$T/out"
no_path "$OPT"
ok_realdir "$S"
ok_grep "created $S" "$D/boot.log"

step "a failed SetupHelper install leaves the standalone install running"
echo "BROKEN = 1" >> "$O/config.ini"
pm_fails install "$NAME"
ok_count "# $PKG boot hook" "$RC" 1
ok_realdir "$S"
no_path "$OPT"
cp "$T/config.sh" "$O/config.ini"

step "hand-over install.sh -> SetupHelper (menu install): hook gone, entry updated in place"
reset_calls
pm install "$NAME"
ok_realdir "$OPT"
ok_realdir "$S"
no_path "$RC"
no_path "$O/created-rc-local"
no_path "$O/DO_NOT_AUTO_INSTALL"
no_path "$D/.installed-files"
ok_call "svc -t $S"
ok_same "$O/config.ini" "$T/config.sh"

step "SetupHelper: menu uninstall removes the service, keeps files and settings; then uninstall.sh"
reset_calls
pm uninstall "$NAME"
no_path "$OPT"
no_path "$S"
no_path "$ROOT/etc/venus/installedVersion-$NAME"
ok_file "$O/DO_NOT_AUTO_INSTALL"
ok_same "$O/config.ini" "$T/config.sh"
ok_file "$D/setup"
pm firmware-update
pm boot
no_grep "install exit" "$T/out"
no_path "$S"
run_ok "$D/uninstall.sh"
no_path "$D"
no_path "$O/config.ini"
no_path "$RC"

step "USB/SD media: the package is named after the archive up to the first '-'"
sh_root "$T/root4"
mkdir -p "$T/media4"
cp "$tb1" "$T/media4/$PKG-0.1.0.tar.gz"      # the old tarball name
pm media "$T/media4/$PKG-0.1.0.tar.gz"
ok_grep "^dbus$" "$T/out"
ok_file "$ROOT/data/dbus/setup"
pm install dbus                             # works, derived from where it is
ok_grep "^pkg=/data/dbus$" "$OPT/run"
ok_file "$ROOT/data/setupOptions/dbus/config.ini"
pm uninstall dbus
rm -rf "$ROOT/data/dbus" "$ROOT/data/setupOptions/dbus"
cp "$tb1" "$T/media4/$NAME-0.1.0.tar.gz"
pm media "$T/media4/$NAME-0.1.0.tar.gz"
ok_grep "^$NAME$" "$T/out"
pm install "$NAME"
ok_grep "^pkg=/data/$NAME$" "$OPT/run"
pm uninstall "$NAME"

step "firstCompatibleVersion v2.80 for both routes"
echo v2.70 > "$ROOT/opt/victronenergy/version"
pm_fails install "$NAME"
ok_grep "before first compatible v2.80" "$T/out"
run_fails "$D/install.sh"
ok_grep "older than v2.80" "$T/out"
echo v2.80 > "$ROOT/opt/victronenergy/version"
pm install "$NAME"
pm uninstall "$NAME"
run_ok "$D/install.sh"
run_ok "$D/uninstall.sh"

step "upgrade from a pre-0.2 install in /data/$PKG: settings moved, old dir and hook replaced"
sh_root "$T/root5"
L="$ROOT/data/$PKG"
mkdir -p "$L/bin/armv7" "$L/rc" "$L/service/log"
printf '%s\n' install.sh bin/armv7/$PKG rc/boot.sh service/run service/log/run MANIFEST > "$L/MANIFEST"
for f in install.sh bin/armv7/$PKG rc/boot.sh service/run service/log/run; do echo old > "$L/$f"; done
cp "$L/MANIFEST" "$L/.installed-files"
echo v0.1.0 > "$L/.installed-version"
echo "# my old setting" > "$L/config.ini"
cp "$L/config.ini" "$T/config.old"
: > "$L/disabled"
: > "$L/.created-rc-local"
printf '#!/bin/sh\nif [ -x /data/%s/rc/boot.sh ]; then /data/%s/rc/boot.sh; fi # %s boot hook (see /data/%s/README.md)\n' \
    "$PKG" "$PKG" "$PKG" "$PKG" > "$RC"
chmod 755 "$RC"
mkdir -p "$S/log"
echo old > "$S/run"; echo old > "$S/log/run"; : > "$S/down"
tar -xzf "$tb2" -C "$ROOT/data"
run_ok "$D/install.sh"
ok_grep "upgraded $PKG v0.1.0 -> v0.1.1" "$T/out"
ok_same "$O/config.ini" "$T/config.old"
ok_file "$O/disabled"
ok_file "$S/down"
no_path "$L"
ok_count "# $PKG boot hook" "$RC" 1
ok_grep "/data/$NAME/rc/boot.sh" "$RC"
no_grep "/data/$PKG/" "$RC"
ok_same "$D/service/run" "$S/run"
run_ok "$D/uninstall.sh"
no_path "$RC"

step "upgrade of a SetupHelper install whose config.ini was in the package dir: moved on install"
tar -xzf "$tb1" -C "$ROOT/data"
echo "# kept in the package dir by 0.1.0" > "$D/config.ini"
cp "$D/config.ini" "$T/config.old"
pm install "$NAME"
ok_same "$O/config.ini" "$T/config.old"
no_path "$D/config.ini"
pm uninstall "$NAME"
unset STANDIN_SVSCAN_UP
ROOT="$T/root2"; D="$ROOT/data/$NAME"; O="$ROOT/data/setupOptions/$NAME"; S="$ROOT/service/$PKG"; RC="$ROOT/data/rc.local"

# ==================================================================================
step "service/run picks the binary for uname -m, wraps it in softlimit"
mkdir -p "$T/runstub"
printf '#!/bin/sh\necho "exec: $*"\n' > "$T/runstub/softlimit"
# shellcheck disable=SC2016  # expanded when the stub runs
printf '#!/bin/sh\necho "$FAKE_UNAME"\n' > "$T/runstub/uname"
chmod +x "$T/runstub/"*
tar -xzf "$tb1" -C "$ROOT/data"
sed -e "s#/data/#$ROOT/data/#g" -e "s#/var/run/#$T/varrun/#" "$D/service/run" > "$T/run"
check_run() {   # check_run MACHINE EXPECTED-SUBSTRING [fails]
    if FAKE_UNAME=$1 PATH="$T/runstub:$PATH" $SH "$T/run" > "$T/out" 2>&1; then rc=0; else rc=1; fi
    [ "${3:-}" = fails ] && [ "$rc" -eq 0 ] && fail "run should fail on $1"
    [ "${3:-}" != fails ] && [ "$rc" -ne 0 ] && fail "run failed on $1"
    ok_grep "$2" "$T/out"
}
check_run armv7l "exec: -d 100000000 -s 1000000 -a 100000000 $D/bin/armv7/$PKG --config-dir $T/varrun/$PKG"
check_run aarch64 "exec: -d 100000000 -s 1000000 -a 400000000 $D/bin/aarch64/$PKG --config-dir $T/varrun/$PKG"
[ "$(readlink "$T/varrun/$PKG/config.default.ini")" = "$D/config.default.ini" ] || fail "run: defaults link"
[ "$(readlink "$T/varrun/$PKG/config.ini")" = "$O/config.ini" ] || fail "run: config.ini link"
ok_grep "^config: $D/config.default.ini, then $O/config.ini" "$T/out"
check_run x86_64 "ERROR: no binary for machine 'x86_64'" fails
check_run armv6l "ERROR: no binary for machine 'armv6l'" fails
ok_grep '^\*\*\* starting' "$T/out"

# ==================================================================================
# Coming from the original Python program (/data/apps/dbus-aggregate-smartshunts),
# laid out as its own install.sh / enable.sh leave it.
A_DEV="/data/apps/$PKG"
orig_root() {   # orig_root DIR: fresh root, the tarball unpacked; the original's files
    ROOT=$1; D="$ROOT/data/$NAME"; O="$ROOT/data/setupOptions/$NAME"; S="$ROOT/service/$PKG"; RC="$ROOT/data/rc.local"
    A="$ROOT$A_DEV"
    mkdir -p "$ROOT/data" "$ROOT/service" "$A/service/log" "$A/ext/velib_python"
    for f in dbus-aggregate-smartshunts.py settings.py config.default.ini install.sh uninstall.sh \
        restart.sh disable.sh service/log/run; do echo "original $f" > "$A/$f"; done
    # its enable.sh, as run from rc.local: leaves a trace and links its service
    # shellcheck disable=SC2016  # expanded when it runs
    printf '#!/bin/sh\necho ran > "$(dirname "$0")/started-at-boot"\n' > "$A/enable.sh"
    printf '#!/bin/sh\nexec python3 %s/dbus-aggregate-smartshunts.py\n' "$A_DEV" > "$A/service/run"
    chmod 755 "$A"/*.sh "$A/service/run"
    ln -s "$A/service" "$S"    # its /service entry: a symlink to its service dir
    tar -xzf "$tb1" -C "$ROOT/data"
}

# its boot line runs enable.sh in the background: give it a moment (real sleep)
boot_trace() {   # boot_trace yes|no
    i=0
    while [ ! -e "$A/started-at-boot" ] && [ "$i" -lt 20 ]; do PATH=$HOST_PATH sleep 0.05; i=$((i + 1)); done
    if [ "$1" = yes ]; then ok_file "$A/started-at-boot"; else no_path "$A/started-at-boot"; fi
}

step "original program, V1 layout: detected, stopped, boot line commented out, settings carried over"
orig_root "$T/root6"
mkdir -p "$ROOT/opt/victronenergy/service-templates/$PKG"
ln -s "$A_DEV/service/run" "$ROOT/opt/victronenergy/service-templates/$PKG/run"
ln -s "$A_DEV/service/log" "$ROOT/opt/victronenergy/service-templates/$PKG/log"
printf '#!/bin/bash\nbash %s/enable.sh > %s/startup.log 2>&1 &\n' "$A_DEV" "$A_DEV" > "$RC"
chmod 755 "$RC"
cat > "$A/config.ini" <<'INI'
[DEFAULT]
; my bank
logging = debug
DEVICE_NAME = House, aft
EXCLUDE_SHUNTS = 288, Starter
TOTAL_CAPACITY = -1
CAPACITY_MODE = soc
DEVICE_MODE = monitor
MAX_CHARGE_VOLTAGE = 0
TEMP_COLD_DANGER: 3.5
SEARCH_TRIALS = 10
LOG_PERIOD = 600
DEVICE_INSTANCE = 7
[other]
IGNORED = 1
INI
reboot                                   # fidelity: its boot line does run its enable.sh
boot_trace yes
rm -f "$A/started-at-boot"
rm -rf "$S"; ln -s "$A/service" "$S"
reset_calls
run_ok "$D/install.sh"
ok_grep "original Python program is installed in $A_DEV (V1 layout" "$T/out"
ok_call "svc -d $S"
ok_grep "stopped it: svc -d /service/$PKG" "$T/out"
ok_grep "disabled its boot hook" "$T/out"
ok_grep "^# off, replaced by /data/$NAME (install.sh): bash $A_DEV/enable.sh" "$RC"
no_grep "^bash $A_DEV" "$RC"
ok_count "# $PKG boot hook" "$RC" 1
no_path "$ROOT/opt/victronenergy/service-templates/$PKG"
ok_grep "removed its service template" "$T/out"
ok_realdir "$S"
ok_file "$A/dbus-aggregate-smartshunts.py"
ok_grep "rm -rf $A_DEV" "$T/out"
for kv in "LOGGING = DEBUG" 'DEVICE_NAME = "House, aft"' "EXCLUDE_SHUNTS = 288, Starter" \
    "DEVICE_MODE = monitor" "TEMP_COLD_DANGER = 3.5" "LOG_PERIOD = 600"; do
    [ "$(grep -cxF -- "$kv" "$O/config.ini")" -eq 1 ] || fail "expected the line '$kv' once in config.ini"
    ok_grep "^    $kv" "$T/out"
done
no_grep "^TOTAL_CAPACITY" "$O/config.ini"
no_grep "^MAX_CHARGE_VOLTAGE" "$O/config.ini"
no_grep "^CAPACITY_MODE" "$O/config.ini"
no_grep "^IGNORED" "$O/config.ini"
no_grep "^DEVICE_INSTANCE" "$O/config.ini"
ok_grep "DEVICE_INSTANCE = 7: not a key of the original program" "$T/out"
ok_grep "not carried over from the original program.s config.ini (no equivalent here), and what to do:" "$T/out"
ok_grep "CAPACITY_MODE = soc: no equivalent; .* set TOTAL_CAPACITY" "$T/out"
ok_grep "SEARCH_TRIALS = 10: no equivalent" "$T/out"
ok_grep "TOTAL_CAPACITY = -1: negative meant" "$T/out"
ok_grep "^# not carried over: CAPACITY_MODE = soc" "$O/config.ini"
cp "$O/config.ini" "$T/config.carried"

step "original V1: after a reboot its boot line stays off; install again carries nothing twice"
reboot
boot_trace no
ok_realdir "$S"
run_ok "$D/install.sh"
ok_same "$O/config.ini" "$T/config.carried"
ok_grep "original Python program is off" "$T/out"
no_grep "not carrying over" "$T/out"

step "scripts show check-config's warnings: restart.sh, enable.sh, install.sh"
echo "CAPACITY_MODE = register" >> "$O/config.ini"
cfgline=$(grep -n '^CAPACITY_MODE' "$O/config.ini" | cut -d: -f1)
warn="WARNING: config: /data/setupOptions/$NAME/config.ini:$cfgline: CAPACITY_MODE: is a setting of an older version"
run_ok "$D/restart.sh"
ok_grep "$warn" "$T/out"
run_ok "$D/enable.sh"
ok_grep "$warn" "$T/out"
run_ok "$D/install.sh"
ok_grep "$warn" "$T/out"

step "a typo (DEVICE_MOD) is refused with the message by restart.sh, enable.sh and install.sh"
echo "DEVICE_MOD = virtual-bms" >> "$O/config.ini"
typo="/data/setupOptions/$NAME/config.ini:$((cfgline + 1)): DEVICE_MOD: unknown setting (did you mean DEVICE_MODE?)"
reset_calls
run_fails "$D/restart.sh"
ok_grep "$typo" "$T/out"
ok_grep "not restarting" "$T/out"
run_fails "$D/enable.sh"
ok_grep "$typo" "$T/out"
ok_grep "not enabling" "$T/out"
run_fails "$D/install.sh"
ok_grep "$typo" "$T/out"
ok_grep "nothing was changed" "$T/out"
no_call "svc "

step "the $PKG command in the package dir: check-config reads the installed configuration"
ok_exec "$D/$PKG"
run_fails "$D/$PKG" check-config
ok_grep "$typo" "$T/out"
grep -v '^DEVICE_MOD =' "$O/config.ini" > "$T/cfg" && cat "$T/cfg" > "$O/config.ini"
run_ok "$D/$PKG" check-config
ok_grep "^setting: DEVICE_NAME = \"House, aft\"" "$T/out"
ok_grep "read from $ROOT/var/run/$PKG" "$T/out"
ok_grep "^# warning: /data/setupOptions/$NAME/config.ini:$cfgline: CAPACITY_MODE" "$T/out"
[ "$(readlink "$ROOT/var/run/$PKG/config.ini")" = "$O/config.ini" ] || fail "command: config.ini link"
[ "$(readlink "$ROOT/var/run/$PKG/config.default.ini")" = "$D/config.default.ini" ] || fail "command: defaults link"
run_ok "$D/$PKG" status
ok_grep "fake daemon .*: status (config dir $ROOT/var/run/$PKG)" "$T/out"
run_ok "$D/$PKG" forget 288
ok_grep ": forget 288 (config dir $ROOT/var/run/$PKG)" "$T/out"
printf 'BROKEN = 1\n' > "$T/other.ini"
run_fails "$D/$PKG" check-config "$T/other.ini"     # an explicit FILE is passed on
AGG_MACHINE=x86_64 run_fails "$D/$PKG" status
ok_grep "no binary for machine 'x86_64'" "$T/out"

step "the command as a link in /usr/local/bin, when that is writable; uninstall removes it"
mkdir -p "$ROOT/usr/local/bin"
run_ok "$D/install.sh"
ok_grep "command: /data/$NAME/$PKG check-config" "$T/out"
[ "$(readlink "$ROOT/usr/local/bin/$PKG")" = "$D/$PKG" ] || fail "no /usr/local/bin link"
run_ok "$ROOT/usr/local/bin/$PKG" check-config
ok_grep "read from $ROOT/var/run/$PKG" "$T/out"

step "disable.sh warns while the aggregate is the battery monitor (instance from the bus or DEVICE_INSTANCE)"
BS="$DBUS_STUB/com.victronenergy.settings/Settings/SystemSetup"
mkdir -p "$BS" "$DBUS_STUB/com.victronenergy.battery.aggregate_shunts"
nomon="NO battery monitor until you choose one again"
echo "DEVICE_INSTANCE = 7" >> "$O/config.ini"
echo "'com.victronenergy.battery/7'" > "$BS/BatteryService"       # DEVICE_INSTANCE = 7
run_ok "$D/disable.sh"
ok_grep "com.victronenergy.battery/7) is the system's battery monitor" "$T/out"
ok_grep "$nomon" "$T/out"
ok_grep "dbus -y com.victronenergy.settings /Settings/SystemSetup/BatteryService GetValue" "$DBUS_STUB.log"
echo "'default'" > "$BS/BatteryService"
run_ok "$D/disable.sh"
no_grep "$nomon" "$T/out"
echo "com.victronenergy.battery/288" > "$BS/BatteryService"         # a real shunt
run_ok "$D/disable.sh"
no_grep "$nomon" "$T/out"
echo 101 > "$DBUS_STUB/com.victronenergy.battery.aggregate_shunts/DeviceInstance"   # running as 101
echo "com.victronenergy.battery/101" > "$BS/BatteryService"
run_ok "$D/disable.sh"
ok_grep "$nomon" "$T/out"
echo "com.victronenergy.battery/7" > "$BS/BatteryService"
run_ok "$D/disable.sh"
no_grep "$nomon" "$T/out"
rm -f "$DBUS_STUB/com.victronenergy.battery.aggregate_shunts/DeviceInstance"
run_ok "$D/enable.sh"

step "uninstall: battery monitor warning; the original is not restored, its files and commented lines stay"
reset_calls
run_ok "$D/uninstall.sh"
ok_grep "$nomon" "$T/out"
ok_grep "original Python program is not restored" "$T/out"
ok_grep "rm -rf $A_DEV" "$T/out"
ok_file "$A/dbus-aggregate-smartshunts.py"
no_path "$S"
no_path "$ROOT/usr/local/bin/$PKG"
ok_grep "^# off, replaced by /data/$NAME (install.sh): bash $A_DEV/enable.sh" "$RC"
no_grep "^bash $A_DEV" "$RC"
no_grep "# $PKG boot hook" "$RC"
reboot
boot_trace no
no_path "$S"
rm -rf "$DBUS_STUB"

step "original program, later layout (ln -sf line + enable.sh line): stopped, both lines off, HEAD keys carried"
orig_root "$T/root7"
echo "original gate.py" > "$A/gate.py"
printf '#!/bin/bash\necho other add-on\nln -sf %s/service /service/%s\nbash %s/enable.sh > %s/startup.log 2>&1 &\n' \
    "$A_DEV" "$PKG" "$A_DEV" "$A_DEV" > "$RC"
chmod 755 "$RC"
cat > "$A/config.ini" <<'INI'
[DEFAULT]
LOGGING = INFO
DEVICE_NAME = SmartShunts
UPDATE_INTERVAL_FIND_DEVICES = 1
MAX_UPDATE_INTERVAL_FIND_DEVICES = 1800
SEARCH_TRIALS = 3
READ_TRIALS = 3
TIME_BEFORE_RESTART = 0
LOG_PERIOD = 300
INI
reset_calls
run_ok "$D/install.sh"
ok_grep "original Python program is installed in $A_DEV (later layout" "$T/out"
ok_call "svc -d $S"
ok_grep "^# off, replaced by /data/$NAME (install.sh): ln -sf $A_DEV/service /service/$PKG$" "$RC"
ok_grep "^# off, replaced by /data/$NAME (install.sh): bash $A_DEV/enable.sh" "$RC"
ok_grep "^echo other add-on$" "$RC"
for kv in "LOGGING = INFO" "DEVICE_NAME = SmartShunts" "LOG_PERIOD = 300"; do
    [ "$(grep -cxF -- "$kv" "$O/config.ini")" -eq 1 ] || fail "expected the line '$kv' once in config.ini"
done
ok_count ": no equivalent;" "$T/out" 5
no_grep "^SEARCH_TRIALS" "$O/config.ini"
ok_grep "not carried over: use EXCLUDE_SHUNTS, TEMP_COLD_DANGER and TEMP_HOT_DANGER" "$T/out"
reboot                                   # neither line may run: no link inside our entry
boot_trace no
ok_realdir "$S"
no_path "$S/service"
ok_grep "created $S" "$D/boot.log"
run_ok "$D/uninstall.sh"
ok_grep "original Python program is not restored" "$T/out"
ok_count "# off, replaced by /data/$NAME" "$RC" 2

step "original program + a config.ini of ours with settings: ours is kept, nothing carried over"
orig_root "$T/root8"
printf '[DEFAULT]\nDEVICE_NAME = Theirs\n' > "$A/config.ini"
mkdir -p "$O"
printf '# mine\nDEVICE_NAME = Mine\n' > "$O/config.ini"
cp "$O/config.ini" "$T/config.mine"
run_ok "$D/install.sh"
ok_same "$O/config.ini" "$T/config.mine"
ok_grep "not carrying over $A_DEV/config.ini" "$T/out"
ok_realdir "$S"
run_ok "$D/uninstall.sh"

step "original program whose settings this version rejects: install refused, nothing changed"
orig_root "$T/root9"
printf '#!/bin/bash\nbash %s/enable.sh > %s/startup.log 2>&1 &\n' "$A_DEV" "$A_DEV" > "$RC"
cp "$RC" "$T/rc.orig9"
printf '[DEFAULT]\nDEVICE_MODE = virtual-bms\nMAX_CHARGE_VOLTAGE = 28.4\n' > "$A/config.ini"
reset_calls
run_fails "$D/install.sh"
ok_grep "DEVICE_MODE: virtual-bms needs MAX_CHARGE_CURRENT" "$T/out"
ok_grep "carried over from the original program's $A_DEV/config.ini" "$T/out"
ok_grep "nothing was changed" "$T/out"
ok_same "$RC" "$T/rc.orig9"
[ -L "$S" ] || fail "the original's service link must stay"
no_path "$O/config.ini"
no_call "svc "

# ==================================================================================
# The same messages from the real check-config, when a host build of it exists
# The debug build comes first: `make test` has just built it from this tree, where a release
# build may be left over from another checkout (CARGO_TARGET_DIR is honoured, AGG_HOST_BIN
# overrides).
host_bin=${AGG_HOST_BIN:-}
if [ -z "$host_bin" ]; then
    for profile in debug release; do
        host_bin=${CARGO_TARGET_DIR:-$repo/target}/$profile/$PKG
        [ -x "$host_bin" ] && break
    done
fi
step "real check-config (host build): warning shown, DEVICE_MOD refused, the command reads the installed config"
if [ -x "$host_bin" ] && "$host_bin" --version > /dev/null 2>&1; then
    ROOT="$T/root10"; D="$ROOT/data/$NAME"; O="$ROOT/data/setupOptions/$NAME"; S="$ROOT/service/$PKG"; RC="$ROOT/data/rc.local"
    mkdir -p "$ROOT/data" "$ROOT/service"
    tar -xzf "$tb1" -C "$ROOT/data"
    cp "$host_bin" "$D/bin/armv7/$PKG"        # AGG_MACHINE=armv7l picks this one
    cp "$repo/config.default.ini" "$D/config.default.ini"
    run_ok "$D/install.sh"
    printf 'DEVICE_NAME = Real bank\nCAPACITY_MODE = soc\n' >> "$O/config.ini"
    line=$(grep -n '^CAPACITY_MODE' "$O/config.ini" | cut -d: -f1)
    run_ok "$D/restart.sh"
    ok_grep "^WARNING: config: /data/setupOptions/$NAME/config.ini:$line: CAPACITY_MODE: is a setting of an older version" "$T/out"
    run_ok "$D/$PKG" check-config
    ok_grep "^DEVICE_NAME = \"\{0,1\}Real bank" "$T/out"
    ok_grep "^# warning: /data/setupOptions/$NAME/config.ini:$line: CAPACITY_MODE" "$T/out"
    echo "DEVICE_MOD = virtual-bms" >> "$O/config.ini"
    run_fails "$D/restart.sh"
    ok_grep "/data/setupOptions/$NAME/config.ini:$((line + 1)): DEVICE_MOD: unknown setting (did you mean DEVICE_MODE?)" "$T/out"
    run_fails "$D/$PKG" check-config
    ok_grep "/data/setupOptions/$NAME/config.ini:$((line + 1)): DEVICE_MOD: unknown setting" "$T/out"
    run_ok "$D/uninstall.sh"
else
    echo "    (no host build at $host_bin: skipped)"
fi

echo "[lifecycle/$mode] all $n steps passed"
