#!/bin/bash
# CI stand-in for the parts of kwindrem's PackageManager (SetupHelper v9.4)
# this package depends on; written for the tests, not PackageManager's code.
# Every absolute path is below $ROOT.
#
#   pm.sh list                 packages PackageManager would add from /data
#   pm.sh media ARCHIVE        a .tar.gz on USB/SD media: the package is named
#                              after the archive's name up to the first '-';
#                              the unpacked package REPLACES /data/<name> as a
#                              whole (nothing of the old folder is kept); same
#                              version: nothing done. Prints the name.
#   pm.sh download NAME ARCHIVE   a GitHub download: needs gitHubInfo (user:branch);
#                              ARCHIVE stands in for <user>/<NAME>/archive/<branch>.tar.gz;
#                              replaces /data/<NAME> like a media transfer
#   pm.sh install NAME | uninstall NAME   the menu's Install / Uninstall buttons
#   pm.sh firmware-update      a new rootfs: /opt/victronenergy/service back to
#                              stock, /etc/venus emptied
#   pm.sh boot                 /service rebuilt from /opt/victronenergy/service,
#                              /data/rc.local run, then PackageManager's boot-time
#                              reinstall: every package that is not installed
#                              (no installedVersion) and may auto-install (no
#                              DO_NOT_AUTO_INSTALL) is installed
set -u
ROOT=${ROOT:-}
D="$ROOT/data"
accept='-current -latest -main -test -debug -beta -install -0 -1 -2 -3 -4 -5 -6 -7 -8 -9'
reject='-current -latest -main -test -temp -debug -beta -backup1 -backup2 -blind -0 -1 -2 -3 -4 -5 -6 -7 -8 -9 ccgx'
rejectNames='conf db etc home keys log lost+found setupOptions themes tmp var venus vrmfilescache'

name_valid() {
    local r
    [ -n "$1" ] && [ "${1:0:1}" != . ] || return 1
    case "$1" in *' '*) return 1 ;; esac
    for r in $rejectNames; do [ "$1" == "$r" ] && return 1; done
    for r in $reject; do [[ "$1" == *"$r"* ]] && return 1; done
    return 0
}

list() {
    local p v
    for p in "$D"/*; do
        p=${p##*/}
        name_valid "$p" || continue
        [ -e "$D/$p/setup" ] || continue
        v=$(head -n 1 "$D/$p/version" 2>/dev/null) || continue
        [ "${v:0:1}" == v ] || continue
        [ -e "$D/setupOptions/$p/DO_NOT_AUTO_ADD" ] && continue
        echo "$p"
    done
}

# first directory below $1 that holds a version file
locate() {
    local d
    for d in "$1"/*/; do
        d=${d%/}
        [ -d "$d" ] || continue
        if [ -f "$d/version" ]; then echo "$d"; return 0; fi
        locate "$d" && return 0
    done
    return 1
}

replace_folder() {   # replace_folder NAME ARCHIVE
    local tmp unpacked
    tmp=$(mktemp -d)
    tar -xzf "$2" -C "$tmp" || { rm -rf "$tmp"; echo "pm: could not unpack $2" >&2; return 1; }
    unpacked=$(locate "$tmp") || { rm -rf "$tmp"; echo "pm: no package directory in $2" >&2; return 1; }
    if [ "$(head -n 1 "$D/$1/version" 2>/dev/null)" == "$(head -n 1 "$unpacked/version")" ]; then
        rm -rf "$tmp"; echo "pm: $1 versions are the same - skipping transfer" >&2; return 0
    fi
    rm -rf "$D/$1-temp"
    [ -e "$D/$1" ] && mv "$D/$1" "$D/$1-temp"
    mv "$unpacked" "$D/$1"
    rm -rf "$D/$1-temp" "$tmp"
}

setup() {   # setup NAME ACTION
    local rc=0
    "$D/$1/setup" "$2" runFromPm || rc=$?
    echo "pm: $1 $2 exit $rc"
    return "$rc"
}

case "${1:-}" in
    list) list ;;
    media)
        base=${2##*/}
        case "$base" in *.tar.gz) ;; *) echo "pm: not an archive" >&2; exit 1 ;; esac
        ok=false
        for a in $accept; do [[ "$base" == *"$a"* ]] && ok=true; done
        $ok || { echo "pm: $2 not a valid archive name - rejected" >&2; exit 1; }
        name=${base%%-*}
        replace_folder "$name" "$2" && echo "$name" ;;
    download)
        info=$(head -n 1 "$D/$2/gitHubInfo" 2>/dev/null)
        case "$info" in
            ?*:?*) replace_folder "$2" "$3" ;;
            *) echo "pm: $2 has no GitHub user/branch - no downloads" >&2; exit 1 ;;
        esac ;;
    install)
        rm -f "$D/setupOptions/$2/DO_NOT_AUTO_INSTALL"
        setup "$2" install ;;
    uninstall)
        mkdir -p "$D/setupOptions/$2"
        touch "$D/setupOptions/$2/DO_NOT_AUTO_INSTALL"
        setup "$2" uninstall ;;
    firmware-update)
        rm -rf "$ROOT/etc/venus" "$ROOT/opt/victronenergy/service"
        mkdir -p "$ROOT/etc/venus" "$ROOT/opt/victronenergy/service"
        echo einstein > "$ROOT/etc/venus/machine" ;;
    boot)
        rm -rf "$ROOT/service"
        cp -R "$ROOT/opt/victronenergy/service" "$ROOT/service"
        if [ -x "$D/rc.local" ]; then
            sed "s#/data/#$D/#g" "$D/rc.local" > "$ROOT/rc.local.run"
            sh "$ROOT/rc.local.run"
            rm -f "$ROOT/rc.local.run"
        fi
        rc=0
        for p in $(list); do
            [ -e "$D/setupOptions/$p/DO_NOT_AUTO_INSTALL" ] && continue
            [ -e "$ROOT/etc/venus/installedVersion-$p" ] && continue
            setup "$p" install || rc=1
        done
        exit "$rc" ;;
    *) sed -n '2,27p' "$0" >&2; exit 2 ;;
esac
