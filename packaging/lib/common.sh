# shellcheck shell=sh
# shellcheck disable=SC2034  # the variables are used by the scripts sourcing this
# Shared helpers for install.sh, enable.sh, disable.sh, restart.sh,
# uninstall.sh, get-logs.sh, rc/boot.sh and the SetupHelper `setup` script.
#
# Plain POSIX sh: it must work under busybox ash on Venus OS and under dash.
# Every path below is prefixed with $ROOT (empty on a GX device), so the whole
# life cycle can be exercised in a scratch directory:
#     ROOT=/tmp/fakeroot ./install.sh
# Functions are prefixed agg_ so they cannot clash with SetupHelper's helpers
# when `setup` sources this file.

PKG=dbus-aggregate-smartshunts          # binary, daemontools service, log dir
ROOT=${ROOT:-}
ROOT=${ROOT%/}
[ -n "$ROOT" ] && ROOT=$(cd "$ROOT" && pwd -P)

# The package directory is wherever the calling script's package is: each
# script sets AGG_PKGDIR to the directory holding its lib/common.sh before
# sourcing this file. Nothing below assumes a fixed name, so the same files
# work as /data/AggregateSmartShunts, as a SetupHelper package named after a
# media archive, or as a tarball unpacked in /tmp (install.sh copies from
# there). The package name is the directory's name, as in SetupHelper.
: "${AGG_PKGDIR:?AGG_PKGDIR must be set before sourcing common.sh}"
DEST=$AGG_PKGDIR                          # package dir as this script sees it
PKG_NAME=$(basename "$DEST")
DEVICE_DIR=${DEST#"$ROOT"}                # package dir as the device sees it
SERVICE="$ROOT/service/$PKG"              # daemontools entry (tmpfs on Venus)
SERVICE_TMP="$ROOT/service/.$PKG.new"     # svscan ignores names starting with '.'
RC_LOCAL="$ROOT/data/rc.local"
RC_LOCAL_DISABLED="$ROOT/data/rc.local.disabled"   # GUI "disable system hooks"
LOG_DIR="$ROOT/var/log/$PKG"
VENUS_VERSION_FILE="$ROOT/opt/victronenergy/version"
# SetupHelper's places (its EssentialResources / ServiceResources)
SETUPHELPER_DIR="$ROOT/data/SetupHelper"
SETUPHELPER_SERVICE="$ROOT/opt/victronenergy/service/$PKG"
SETUPHELPER_INSTALLED="$ROOT/etc/venus/installedVersion-$PKG_NAME"

# The user's settings live outside the package directory, so that replacing
# the whole directory (a PackageManager download or media transfer, or a
# tarball unpacked over it) never touches them. Both routes use SetupHelper's
# per-package options directory.
SETTINGS_DEVICE_DIR="/data/setupOptions/$PKG_NAME"
SETTINGS="$ROOT$SETTINGS_DEVICE_DIR"
CONFIG="$SETTINGS/config.ini"             # the user's settings
DISABLED_MARK="$SETTINGS/disabled"        # persistent "stay off" flag (disable.sh)
RC_CREATED_MARK="$SETTINGS/created-rc-local"  # install.sh created rc.local, so may delete it
NO_AUTO_INSTALL="$SETTINGS/DO_NOT_AUTO_INSTALL"  # PackageManager: do not install on its own
INSTALLED_LIST="$DEST/.installed-files"   # payload of the installed version (install.sh)
INSTALLED_VERSION="$DEST/.installed-version"  # survives unpacking a tarball over $DEST
BOOT_LOG="$DEST/boot.log"                 # output of the last boot hook run
# Where versions up to 0.1.x kept everything, settings included.
LEGACY_DIR="$ROOT/data/$PKG"

# The one line install.sh puts into /data/rc.local. HOOK_TAG identifies it
# (also lines written by other versions of this package, whatever their dir).
HOOK_TAG="# $PKG boot hook"
HOOK_LINE="if [ -x $DEVICE_DIR/rc/boot.sh ]; then $DEVICE_DIR/rc/boot.sh; fi $HOOK_TAG (see $DEVICE_DIR/README.md)"

AGG_WAIT=${AGG_WAIT:-15}   # seconds to wait for the service to come up

agg_say()  { printf '%s\n' "$*"; }
agg_warn() { printf 'WARNING: %s\n' "$*" >&2; }
agg_die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

agg_version() { head -n 1 "${1:-$DEST}/version" 2>/dev/null || echo "v?"; }

# Machine name; AGG_MACHINE overrides `uname -m` (tests run on x86_64).
agg_machine() { printf '%s\n' "${AGG_MACHINE:-$(uname -m)}"; }

# Which of the shipped binaries runs here. ARMv6 is deliberately not mapped:
# the armv7 binary would die with SIGILL there, and no Venus OS machine is ARMv6.
agg_arch() {
    case "$(agg_machine)" in
        armv7*|armv8l) echo armv7 ;;      # armv8l: 32-bit userland on a 64-bit core
        aarch64|arm64) echo aarch64 ;;
        *) return 1 ;;
    esac
}

agg_bin() {
    _arch=$(agg_arch) || return 1
    printf '%s\n' "$DEST/bin/$_arch/$PKG"
}

# Undo what HIDE_MEMBER_SHUNTS / SELECT_BATTERY_MONITOR changed in the system
# settings, with the service stopped (a running daemon would redo it). Only on
# a device: the tests run below ROOT, without a system bus.
agg_restore_system() {
    [ -z "$ROOT" ] || return 0
    _bin=$(agg_bin) || return 0
    [ -x "$_bin" ] || return 0
    "$_bin" restore-system || agg_warn "the system settings changed by HIDE_MEMBER_SHUNTS or SELECT_BATTERY_MONITOR were not restored (see above)"
}

agg_is_installed() { [ -f "$DEST/service/run" ] && [ -d "$DEST/bin" ]; }

# SetupHelper owns the service once its installService has put it into
# /opt/victronenergy/service, or while it records the package as installed.
# (A firmware update clears both; PackageManager then reinstalls at boot.)
agg_setuphelper_managed() { [ -e "$SETUPHELPER_SERVICE" ] || [ -e "$SETUPHELPER_INSTALLED" ]; }

# Copy $1 to $2 without ever exposing a half-written file: a running binary or
# run script keeps its old inode, readers see either the old or the new file.
agg_copy_atomic() {
    mkdir -p "$(dirname "$2")"
    cp -p "$1" "$2.new.$$" && mv -f "$2.new.$$" "$2"
}

# ---------------------------------------------------------------- config -----

agg_ensure_config() {
    mkdir -p "$SETTINGS"
    [ -e "$CONFIG" ] && return 0
    cat > "$CONFIG" <<CFG
# Your settings for $PKG. This file is never overwritten by an
# install, an upgrade or a SetupHelper reinstall. Every setting and its default
# value is listed in $DEVICE_DIR/config.default.ini:
# copy the lines you want to change to here, edit them, then run
# $DEVICE_DIR/restart.sh
CFG
    agg_say "created $SETTINGS_DEVICE_DIR/config.ini (empty: all defaults)"
}

# agg_check_pair BIN DEFAULTS [CONFIG [NAME]]: run BIN's check-config on the defaults
# of one package and the user's config.ini, given as two files in two places.
# The daemon reads both from one directory (--config-dir), so they are copied
# into a scratch directory; its name is mapped back to the real files in the
# messages (NAME, if given, stands for CONFIG). Prints the errors and returns 1 when the pair is rejected; when it
# is accepted, prints its warnings ("# warning: ..." lines before the
# settings) to stderr as WARNING lines, so that no script hides them.
agg_check_pair() {
    _dir=$(mktemp -d "${TMPDIR:-/tmp}/$PKG-check.XXXXXX") || return 1
    cp "$2" "$_dir/config.default.ini"
    [ -n "${3:-}" ] && [ -f "$3" ] && cp "$3" "$_dir/config.ini"
    if _out=$("$1" --config-dir "$_dir" check-config 2>&1); then _rc=0; else _rc=$?; fi
    rm -rf "$_dir"
    _out=$(printf '%s\n' "$_out" | sed -e "s#$_dir/config.default.ini#${2#"$ROOT"}#g" \
        -e "s#$_dir/config.ini#${4:-${3#"$ROOT"}}#g" -e "s#$_dir#$SETTINGS_DEVICE_DIR#g")
    if [ "$_rc" -eq 0 ]; then
        printf '%s\n' "$_out" | sed -n 's/^# warning: /WARNING: config: /p' >&2
        return 0
    fi
    if [ "$_rc" -ge 126 ]; then
        agg_warn "cannot run $1 on this machine (exit $_rc)"
    fi
    printf '%s\n' "$_out" | sed -e 's/^/    /' >&2
    return 1
}

# The directory the service reads its configuration from (service/run makes
# it: links to the package's defaults and to the user's config.ini, in RAM),
# made the same way here; a private one if /var/run is not writable.
agg_config_dir() {
    _cd="$ROOT/var/run/$PKG"
    if ! mkdir -p "$_cd" 2>/dev/null || [ ! -w "$_cd" ]; then
        _cd=$(mktemp -d "${TMPDIR:-/tmp}/$PKG-config.XXXXXX") || return 1
    fi
    ln -sf "$DEST/config.default.ini" "$_cd/config.default.ini"
    ln -sf "$CONFIG" "$_cd/config.ini"
    printf '%s\n' "$_cd"
}

# Run the installed binary's check-config on the installed defaults and the
# user's config.ini.
agg_check_config() {
    _bin=$(agg_bin) || { agg_warn "unsupported machine '$(agg_machine)'"; return 1; }
    [ -x "$_bin" ] || { agg_warn "missing $_bin"; return 1; }
    agg_check_pair "$_bin" "$DEST/config.default.ini" "$CONFIG" && return 0
    agg_warn "the configuration ($SETTINGS_DEVICE_DIR/config.ini on top of $DEVICE_DIR/config.default.ini) has errors, see above"
    return 1
}

# Move settings from where older versions kept them (inside the package
# directory: config.ini, disabled, .created-rc-local) to $SETTINGS. Looks in
# $DEST and in the pre-0.2 install dir /data/dbus-aggregate-smartshunts. A
# config.ini already in $SETTINGS wins; a different old one is kept next to it
# as config.ini.old.
agg_migrate_settings() {
    mkdir -p "$SETTINGS"
    for _old in "$DEST" "$LEGACY_DIR"; do
        [ -d "$_old" ] || continue
        if [ -f "$_old/config.ini" ]; then
            if [ ! -e "$CONFIG" ]; then
                mv "$_old/config.ini" "$CONFIG"
                agg_say "moved ${_old#"$ROOT"}/config.ini to $SETTINGS_DEVICE_DIR/config.ini"
            elif cmp -s "$_old/config.ini" "$CONFIG"; then
                rm -f "$_old/config.ini"
            else
                mv "$_old/config.ini" "$CONFIG.old"
                agg_warn "kept $SETTINGS_DEVICE_DIR/config.ini; the different ${_old#"$ROOT"}/config.ini is now $SETTINGS_DEVICE_DIR/config.ini.old"
            fi
        fi
        if [ -e "$_old/disabled" ]; then
            : > "$DISABLED_MARK"
            rm -f "$_old/disabled"
            agg_say "kept the disabled state (now $SETTINGS_DEVICE_DIR/disabled)"
        fi
        if [ -e "$_old/.created-rc-local" ]; then
            : > "$RC_CREATED_MARK"
            rm -f "$_old/.created-rc-local"
        fi
    done
}

# Remove the files of a pre-0.2 install in /data/dbus-aggregate-smartshunts
# (after agg_migrate_settings has taken the settings out of it). Only files
# that install left there are removed; anything else stays, with a warning.
agg_remove_legacy_dir() {
    [ -d "$LEGACY_DIR" ] || return 0
    [ "$(cd "$LEGACY_DIR" && pwd -P)" = "$DEST" ] && return 0
    _list="$LEGACY_DIR/.installed-files"
    [ -f "$_list" ] || _list="$LEGACY_DIR/MANIFEST"
    [ -f "$_list" ] || { agg_warn "${LEGACY_DIR#"$ROOT"} is not a package dir of ours; left alone"; return 0; }
    _files=$(agg_list_files "$_list")
    printf '%s\n' "$_files" | while IFS= read -r _f; do
        if [ -n "$_f" ]; then rm -f "$LEGACY_DIR/$_f"; fi
    done
    rm -f "$LEGACY_DIR/.installed-files" "$LEGACY_DIR/.installed-version" "$LEGACY_DIR/boot.log" \
        "$LEGACY_DIR/services/$PKG/down"
    find "$LEGACY_DIR" -depth -type d | while IFS= read -r _d; do rmdir "$_d" 2>/dev/null || true; done
    if [ -d "$LEGACY_DIR" ]; then
        agg_warn "left in ${LEGACY_DIR#"$ROOT"} (not installed by this package): $(cd "$LEGACY_DIR" && find . -type f | tr '\n' ' ')"
    else
        agg_say "removed the old install dir ${LEGACY_DIR#"$ROOT"} (settings are in $SETTINGS_DEVICE_DIR)"
    fi
}

# Write the package dir into the run scripts (service/run and SetupHelper's
# services/$PKG/run): a copied run script cannot find the package by itself.
agg_render_run() {
    for _r in "$DEST/service/run" "$DEST/services/$PKG/run"; do
        [ -f "$_r" ] || continue
        grep -qxF "pkg=$DEVICE_DIR" "$_r" && continue
        sed "s#^pkg=.*#pkg=$DEVICE_DIR#" "$_r" > "$_r.new.$$"
        chmod 755 "$_r.new.$$"
        mv -f "$_r.new.$$" "$_r"
    done
}

# ---------------------------------------------------- Venus OS version ------

# Version string (v3.14, v3.20~18, v2.80) -> comparable integer; ~/b beta,
# a alpha, d develop count as before the release of the same number.
agg_version_number() {
    printf '%s\n' "$1" | awk '{
        s = $0; sub(/^[^0-9]*/, "", s); n = split(s, p, /[^0-9]+/)
        rel = 90000; pre = 0
        if (s ~ /[~b][0-9]+$/) { rel = 60000; pre = p[n]; n-- }
        else if (s ~ /a[0-9]+$/) { rel = 30000; pre = p[n]; n-- }
        else if (s ~ /d[0-9]+$/) { rel = 0; pre = p[n]; n-- }
        printf "%.0f\n", (p[1] * 1000000 + (n >= 2 ? p[2] : 0) * 1000 + (n >= 3 ? p[3] : 0)) * 100000 + rel + pre }'
}

# The package's firstCompatibleVersion against /opt/victronenergy/version
# (the same rule SetupHelper applies). Unknown versions pass.
agg_venus_compatible() {
    [ -f "$1/firstCompatibleVersion" ] && [ -f "$VENUS_VERSION_FILE" ] || return 0
    _first=$(head -n 1 "$1/firstCompatibleVersion")
    _venus=$(head -n 1 "$VENUS_VERSION_FILE")
    _vn=$(agg_version_number "$_venus") && _fn=$(agg_version_number "$_first") || return 0
    case "$_vn$_fn" in ''|*[!0-9]*) return 0 ;; esac
    [ "$_vn" -ge "$_fn" ] && return 0
    agg_warn "Venus OS $_venus is older than $_first, the first version this package supports"
    return 1
}

# --------------------------------------------------------- daemontools -------

agg_svc() {
    command -v svc >/dev/null 2>&1 || { agg_warn "svc not found, cannot run: svc $*"; return 1; }
    svc "$@"
}

agg_svstat() { svstat "$SERVICE" 2>/dev/null || true; }

agg_is_up() { case "$(agg_svstat)" in *": up "*) return 0 ;; esac; return 1; }

# Wait until the service has been up for at least 2 seconds (so a daemon that
# exits right after starting is not reported as running).
agg_wait_up() {
    _i=0
    while [ "$_i" -lt "$AGG_WAIT" ]; do
        _st=$(agg_svstat)
        case "$_st" in
            *": up "*)
                _secs=$(printf '%s\n' "$_st" | sed -n 's/.*) \([0-9]*\) seconds.*/\1/p')
                if [ "${_secs:-0}" -ge 2 ]; then agg_say "$_st"; return 0; fi ;;
        esac
        sleep 1
        _i=$((_i + 1))
    done
    agg_warn "service did not stay up within ${AGG_WAIT}s: $(agg_svstat)"
    agg_warn "see the log: $DEVICE_DIR/get-logs.sh"
    return 1
}

# Ask supervise (of the service and of its logger) to stop and exit, then wait
# until both are gone. Only our own service directory is addressed.
agg_supervise_exit() {
    [ -e "$SERVICE" ] || return 0
    agg_svc -dx "$SERVICE" || true
    [ -d "$SERVICE/log" ] && { agg_svc -dx "$SERVICE/log" || true; }
    _i=0
    while [ "$_i" -lt 10 ]; do
        if ! command -v svok >/dev/null 2>&1; then sleep 1; return 0; fi
        _busy=0
        svok "$SERVICE" 2>/dev/null && _busy=1
        [ -d "$SERVICE/log" ] && svok "$SERVICE/log" 2>/dev/null && _busy=1
        [ "$_busy" -eq 0 ] && return 0
        sleep 1
        _i=$((_i + 1))
    done
    agg_warn "supervise for $SERVICE did not exit"
}

# Create or refresh /service/$PKG as a COPY of $DEST/service.
#
# Why a copy and not a symlink to $DEST/service: /service is a tmpfs on Venus
# OS, so with a copy the supervise/ state directories that daemontools creates
# inside the entry live in RAM and start clean at every boot, nothing is ever
# written to the /data flash by supervise, and an upgrade can replace the
# files in $DEST without pulling a directory out from under a running
# supervise. This is also what Venus does for its own services (copied from
# /opt/victronenergy/service) and what SetupHelper does. The copied run script
# is a thin wrapper that execs the binary in $DEST, so it never goes stale.
#
# Sets AGG_CREATED=1 when the entry was newly created (svscan starts it within
# about 5 s), AGG_LOG_CHANGED=1 when an existing log/run was replaced.
agg_service_install() {
    AGG_CREATED=0
    AGG_LOG_CHANGED=0
    if [ ! -f "$DEST/service/run" ] || [ ! -f "$DEST/service/log/run" ]; then
        agg_warn "missing $DEST/service/run or log/run"
        return 1
    fi
    mkdir -p "$ROOT/service"
    if [ -L "$SERVICE" ]; then
        # e.g. the Python original linked /service/$PKG to /data/apps/...
        agg_warn "replacing the symlink $SERVICE -> $(readlink "$SERVICE")"
        agg_supervise_exit
        rm -f "$SERVICE"
    fi
    if [ -d "$SERVICE" ]; then
        cmp -s "$DEST/service/run" "$SERVICE/run" ||
            agg_copy_atomic "$DEST/service/run" "$SERVICE/run"
        if ! cmp -s "$DEST/service/log/run" "$SERVICE/log/run"; then
            agg_copy_atomic "$DEST/service/log/run" "$SERVICE/log/run"
            AGG_LOG_CHANGED=1
        fi
    else
        rm -rf "$SERVICE_TMP"
        mkdir -p "$SERVICE_TMP/log"
        cp -p "$DEST/service/run" "$SERVICE_TMP/run"
        cp -p "$DEST/service/log/run" "$SERVICE_TMP/log/run"
        [ -e "$DISABLED_MARK" ] && : > "$SERVICE_TMP/down"
        mv "$SERVICE_TMP" "$SERVICE"
        AGG_CREATED=1
    fi
    if [ -e "$DISABLED_MARK" ]; then
        : > "$SERVICE/down"
    else
        rm -f "$SERVICE/down"
    fi
}

agg_service_remove() {
    [ -e "$SERVICE" ] || [ -L "$SERVICE" ] || { rm -rf "$SERVICE_TMP"; return 0; }
    [ -d "$SERVICE" ] && [ ! -L "$SERVICE" ] && : > "$SERVICE/down"
    agg_supervise_exit
    rm -rf "$SERVICE" "$SERVICE_TMP"
    agg_say "removed $SERVICE"
}

# ------------------------------------------------------------ boot hook ------

# The file the hook belongs in: /data/rc.local, or rc.local.disabled when the
# GUI's "disable system hooks" has renamed it (the hook then becomes active
# again when the user re-enables the hooks).
agg_hook_file() {
    if [ ! -e "$RC_LOCAL" ] && [ -e "$RC_LOCAL_DISABLED" ]; then
        echo "$RC_LOCAL_DISABLED"
    else
        echo "$RC_LOCAL"
    fi
}

# Ensure the file holds exactly one hook line (the current one), placed right
# after the shebang so that an `exit 0` further down cannot skip it.
agg_hook_ensure() {
    _f=$(agg_hook_file)
    if [ -f "$_f" ] && grep -qxF "$HOOK_LINE" "$_f" &&
        [ "$(grep -cF "$HOOK_TAG" "$_f")" -eq 1 ]; then
        [ -x "$_f" ] || chmod 755 "$_f"
        return 0
    fi
    mkdir -p "$(dirname "$_f")"
    _tmp="$_f.tmp.$$"
    if [ -s "$_f" ]; then
        awk -v line="$HOOK_LINE" -v tag="$HOOK_TAG" '
            index($0, tag) { next }
            !done && FNR == 1 && /^#!/ { print; print line; done = 1; next }
            !done { print line; done = 1 }
            { print }
            END { if (!done) print line }' "$_f" > "$_tmp"
    else
        [ -e "$_f" ] || { mkdir -p "$SETTINGS"; : > "$RC_CREATED_MARK"; }
        printf '#!/bin/sh\n%s\n' "$HOOK_LINE" > "$_tmp"
    fi
    chmod 755 "$_tmp"
    mv -f "$_tmp" "$_f"
    agg_say "boot hook added to ${_f#"$ROOT"}"
    [ "$_f" = "$RC_LOCAL_DISABLED" ] &&
        agg_warn "system hooks are disabled in the GUI (/data/rc.local.disabled): the service will not come back after a reboot until you enable them again (Settings > General > Modification checks)"
    return 0
}

# Remove our line(s) from rc.local and rc.local.disabled; delete the file if we
# created it and nothing but the shebang is left.
agg_hook_remove() {
    for _f in "$RC_LOCAL" "$RC_LOCAL_DISABLED"; do
        [ -f "$_f" ] || continue
        if grep -qF "$HOOK_TAG" "$_f"; then
            _tmp="$_f.tmp.$$"
            grep -vF "$HOOK_TAG" "$_f" > "$_tmp" || true
            chmod 755 "$_tmp"
            mv -f "$_tmp" "$_f"
            agg_say "boot hook removed from ${_f#"$ROOT"}"
        fi
        if [ -e "$RC_CREATED_MARK" ] &&
            ! grep -qvE '^(#!.*|[[:space:]]*)$' "$_f"; then
            rm -f "$_f"
            agg_say "removed ${_f#"$ROOT"} (it was created by install.sh and is now empty)"
        fi
    done
    rm -f "$RC_CREATED_MARK"
}

# ------------------------------------------------ the original program ------
# The Python program this one replaces (TechBlueprints/dbus-aggregate-smartshunts)
# lived in /data/apps/dbus-aggregate-smartshunts, its /service entry was a
# symlink to its service/ dir. Boot: V1 added a /data/rc.local line running
# its enable.sh in the background (and a service template in /opt); later
# versions add that line and/or `ln -sf <app>/service /service/<name>`.
ORIG_DEVICE_DIR="/data/apps/$PKG"
ORIG_DIR="$ROOT$ORIG_DEVICE_DIR"
ORIG_TEMPLATE="$ROOT/opt/victronenergy/service-templates/$PKG"
# What install.sh puts in front of the original's boot lines (keeps them readable).
ORIG_OFF="# off, replaced by $DEVICE_DIR (install.sh):"
AGG_DBUS_NAME=com.victronenergy.battery.aggregate_shunts   # our D-Bus service

# Active (not commented) lines of file $1 that run the original program.
agg_orig_lines() {
    [ -f "$1" ] || return 0
    awk -v d="$ORIG_DEVICE_DIR" 'index($0, d) && $0 !~ /^[[:space:]]*#/' "$1"
}

# Is /service/$PKG the original's symlink?
agg_orig_service_link() {
    [ -L "$SERVICE" ] || return 1
    case "$(readlink "$SERVICE")" in *"/data/apps/"*) return 0 ;; esac
    return 1
}

agg_orig_found() {
    [ -d "$ORIG_DIR" ] || [ -e "$ORIG_TEMPLATE" ] || [ -L "$ORIG_TEMPLATE" ] || agg_orig_service_link ||
        [ -n "$(agg_orig_lines "$RC_LOCAL")$(agg_orig_lines "$RC_LOCAL_DISABLED")" ]
}

# Stop the original program and disable its boot hook, saying what was done.
# Its files stay (uninstall.sh never brings it back either).
agg_orig_stop() {
    agg_orig_found || return 0
    _rc_lines="$(agg_orig_lines "$RC_LOCAL")$(agg_orig_lines "$RC_LOCAL_DISABLED")"
    if ! agg_orig_service_link && [ -z "$_rc_lines" ] && [ ! -e "$ORIG_TEMPLATE" ] && [ ! -L "$ORIG_TEMPLATE" ]; then
        # stopped and unhooked already (by an earlier install.sh, or by hand)
        agg_say "the original Python program is off; its files are still in $ORIG_DEVICE_DIR (once you no longer need them: rm -rf $ORIG_DEVICE_DIR)"
        return 0
    fi
    if [ -e "$ORIG_TEMPLATE" ] || [ -L "$ORIG_TEMPLATE" ]; then
        _layout="V1 layout: service template, boot line running its enable.sh"
    elif [ -f "$ORIG_DIR/gate.py" ] || printf '%s\n' "$_rc_lines" | grep -q 'ln -sf'; then
        _layout="later layout: boot lines linking its service dir or running its enable.sh"
    else
        _layout="boot line running its enable.sh"
    fi
    agg_say "the original Python program is installed in $ORIG_DEVICE_DIR ($_layout):"
    if agg_orig_service_link; then
        agg_svc -d "$SERVICE" || true
        agg_say "  stopped it: svc -d /service/$PKG (a link to $(readlink "$SERVICE")); the link is replaced by this package's service"
    fi
    for _f in "$RC_LOCAL" "$RC_LOCAL_DISABLED"; do
        _lines=$(agg_orig_lines "$_f")
        [ -n "$_lines" ] || continue
        _tmp="$_f.tmp.$$"
        awk -v d="$ORIG_DEVICE_DIR" -v off="$ORIG_OFF" '
            index($0, d) && $0 !~ /^[[:space:]]*#/ { print off " " $0; next } { print }' "$_f" > "$_tmp"
        chmod 755 "$_tmp"
        mv -f "$_tmp" "$_f"
        agg_say "  disabled its boot hook: these lines of ${_f#"$ROOT"} are now comments, so it does not put its service back at boot:"
        printf '%s\n' "$_lines" | sed 's/^/      /'
    done
    if [ -e "$ORIG_TEMPLATE" ] || [ -L "$ORIG_TEMPLATE" ]; then
        if rm -rf "$ORIG_TEMPLATE" 2>/dev/null && [ ! -e "$ORIG_TEMPLATE" ]; then
            agg_say "  removed its service template ${ORIG_TEMPLATE#"$ROOT"}"
        else
            agg_say "  left its service template ${ORIG_TEMPLATE#"$ROOT"} (read-only root file system; nothing starts it, the next firmware update removes it)"
        fi
    fi
    if [ -d "$ORIG_DIR" ]; then
        agg_say "  its files stay in $ORIG_DEVICE_DIR; once you no longer need them: rm -rf $ORIG_DEVICE_DIR"
    fi
    agg_say "  settings it kept in the GUI (later versions: shunt switches, temperature sliders) are not carried over: use EXCLUDE_SHUNTS, TEMP_COLD_DANGER and TEMP_HOT_DANGER in config.ini"
}

# Does config file $1 set anything (more than comments, blank lines, a section header)?
agg_config_has_settings() {
    [ -f "$1" ] && grep -qv -e '^[[:space:]]*[#;]' -e '^[[:space:]]*$' -e '^[[:space:]]*\[.*\][[:space:]]*$' "$1"
}

# agg_orig_carry INI: the original's config.ini (V1 or later keys) read as
# its configparser did ([DEFAULT] section, keys in any case, '=' or ':',
# whole-line '#'/';' comments, no inline comments). Prints one line per key:
#   S KEY = value     a setting of ours with the same meaning
#   N text            a key with no equivalent here (or not carried over), and what to do
# Empty values meant "default" there and are skipped (our defaults are the same).
agg_orig_carry() {
    awk '
    function num(v) { return v ~ /^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$/ }
    function set(k, v) { printf "S %s = %s\n", k, v }
    function note(t) { printf "N %s\n", t }
    /^[[:space:]]*[#;]/ || /^[[:space:]]*$/ { next }
    /^[ \t]/ { next }                                # a continuation line
    /^\[.*\][[:space:]]*$/ { sect = $0; sub(/^\[/, "", sect); sub(/\][[:space:]]*$/, "", sect); next }
    sect != "DEFAULT" { next }
    {
        p = match($0, /[=:]/); if (!p) next
        k = toupper(substr($0, 1, p - 1)); v = substr($0, p + 1)
        gsub(/^[ \t]+|[ \t\r]+$/, "", k); gsub(/^[ \t]+|[ \t\r]+$/, "", v)
        if (!(k in val)) order[++n] = k
        val[k] = v
    }
    END {
        for (i = 1; i <= n; i++) {
            k = order[i]; v = val[k]; kv = k " = " v
            if (v == "") continue
            if (k == "LOGGING") {
                u = toupper(v)
                if (u ~ /^(ERROR|WARNING|INFO|DEBUG)$/) set(k, u)
                else note(kv ": not a level the original knew (it used INFO); not carried over, the default is INFO")
            } else if (k == "DEVICE_NAME") {
                if (v ~ /"/) note(kv ": contains a double quote; set DEVICE_NAME in config.ini yourself")
                else if (v ~ /[,#;]/) set(k, "\"" v "\"")
                else set(k, v)
            } else if (k == "EXCLUDE_SHUNTS") {
                if (v ~ /[#;"]/) note(kv ": a name contains # ; or a quote; write EXCLUDE_SHUNTS yourself (see config.default.ini)")
                else set(k, v)
            } else if (k == "TOTAL_CAPACITY") {
                if (!num(v)) note(kv ": not a number (the original refused to start); not carried over")
                else if (v + 0 > 0) set(k, v)
                else if (v + 0 < 0) note(kv ": negative meant \"add up the capacities set in the shunts\", which is the default here (empty); nothing to do")
                else note(kv ": 0 was an error in the original; not carried over")
            } else if (k == "DEVICE_MODE") {
                m = tolower(v)
                if (m == "monitor") set(k, m)
                else if (m == "virtual-bms") {
                    set(k, m)
                    note("DEVICE_MODE = virtual-bms: carried over. This virtual BMS needs all three MAX_* limits and has more settings (charge stages, taper tables, MIN_BANK_VOLTAGE): check them in config.default.ini")
                } else note(kv ": not a mode the original knew; not carried over (default: monitor)")
            } else if (k ~ /^MAX_(CHARGE_VOLTAGE|CHARGE_CURRENT|DISCHARGE_CURRENT)$/) {
                if (!num(v)) note(kv ": not a number; not carried over")
                else if (v + 0 > 0) set(k, v)
                # 0 or less meant "not published", the same as empty here
            } else if (k ~ /^TEMP_(COLD|HOT)_DANGER$/ || k == "LOG_PERIOD") {
                if (num(v)) set(k, v); else note(kv ": not a number; not carried over")
            } else if (k == "CAPACITY_MODE") {
                if (tolower(v) == "soc") note(kv ": no equivalent; if the capacities set in the shunts are wrong, set TOTAL_CAPACITY (Ah) in config.ini instead")
                else note(kv ": no such key here; the capacities set in the shunts are always added up (TOTAL_CAPACITY overrides); nothing to do")
            } else if (k ~ /^(MAX_)?UPDATE_INTERVAL_FIND_DEVICES$/) {
                note(kv ": no equivalent; shunts are found as soon as they appear on D-Bus (RESCAN_INTERVAL is a slow safety check); nothing to do")
            } else if (k ~ /^(SEARCH_TRIALS|READ_TRIALS|TIME_BEFORE_RESTART)$/) {
                note(kv ": no equivalent; this program does not exit when shunts are missing, it waits for them (START_TIMEOUT, OFFLINE_GRACE); nothing to do")
            } else {
                note(kv ": not a key of the original program (it ignored it); not carried over")
            }
        }
    }' "$1"
}

# agg_warn_battery_monitor WHAT: warn when localsettings names our aggregate as
# the system's battery monitor (Settings > System setup > Battery monitor):
# after WHAT ("disabling", "uninstalling") the system has none. Our instance is
# asked from the running aggregate, else taken from DEVICE_INSTANCE.
agg_warn_battery_monitor() {
    command -v dbus >/dev/null 2>&1 || return 0
    _bs=$(dbus -y com.victronenergy.settings /Settings/SystemSetup/BatteryService GetValue 2>/dev/null |
        head -n 1 | tr -d "\"' \r") || return 0
    case "$_bs" in com.victronenergy.battery/[0-9]*) ;; *) return 0 ;; esac
    _inst=$(dbus -y "$AGG_DBUS_NAME" /DeviceInstance GetValue 2>/dev/null | head -n 1 | tr -dc '0-9') || _inst=""
    if [ -z "$_inst" ]; then    # stopped: the instance localsettings keeps for it
        _inst=$(dbus -y com.victronenergy.settings /Settings/Devices/aggregate_shunts/ClassAndVrmInstance GetValue 2>/dev/null |
            head -n 1 | tr -dc '0-9') || _inst=""
    fi
    if [ -z "$_inst" ]; then
        _inst=$(cat "$DEST/config.default.ini" "$CONFIG" 2>/dev/null |
            sed -n 's/^[[:space:]]*DEVICE_INSTANCE[[:space:]]*[=:][[:space:]]*\([0-9][0-9]*\).*/\1/p' | tail -n 1)
    fi
    [ "${_bs#com.victronenergy.battery/}" = "${_inst:-100}" ] || return 0
    agg_warn "the aggregate ($_bs) is the system's battery monitor: after $1 the system has NO battery monitor until you choose one again (Settings > System setup > Battery monitor)"
}

# Lines of a file list that are safe relative paths inside $DEST.
agg_list_files() {
    [ -f "$1" ] || return 0
    grep -v -e '^/' -e '\.\./' -e '^\.\.$' -e '^$' "$1" || true
}

# Remove now-empty directories below $DEST, deepest first.
agg_prune_dirs() {
    [ -d "$DEST" ] || return 0
    find "$DEST" -depth -type d | while IFS= read -r _d; do
        rmdir "$_d" 2>/dev/null || true
    done
}
