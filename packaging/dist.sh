#!/bin/sh
# Build the release tarball dist/AggregateSmartShunts-<version>.tar.gz.
#
#   packaging/dist.sh                  build both binaries (packaging/build.sh), package
#   packaging/dist.sh --no-build       package the binaries already in target/
#   packaging/dist.sh --version 0.1.1 --bin-armv7 F --bin-aarch64 F --out DIR
#                                      repackage given binaries under another version
#                                      (used by tests/packaging/lifecycle.sh)
#   --config-default F                 use F instead of <repo>/config.default.ini
#
# The tarball holds one directory, AggregateSmartShunts/, which is the package
# dir /data/AggregateSmartShunts on the device. The package name has letters
# and digits only because SetupHelper's PackageManager names a package from
# USB/SD media after the archive's name up to the first '-'
# (AggregateSmartShunts-0.2.0.tar.gz -> /data/AggregateSmartShunts):
#   bin/{armv7,aarch64}/dbus-aggregate-smartshunts   config.default.ini
#   install.sh enable.sh disable.sh restart.sh uninstall.sh get-logs.sh lib/common.sh
#   dbus-aggregate-smartshunts (packaging/lib/cli.sh: check-config/status/forget
#                              on the installed configuration)
#   service/{run,log/run} rc/boot.sh                  standalone daemontools + boot hook
#   setup version firstCompatibleVersion services/dbus-aggregate-smartshunts/{run,log/run}
#                                                     SetupHelper package files
#   README.md LICENSE MANIFEST
# No gitHubInfo: PackageManager downloads <user>/<package>/archive/<branch>.tar.gz
# and expects a ready package (binaries included) at its root, which the source
# repository is not; so there are no automatic downloads (README-install.md).
# The archive is reproducible: sorted, root-owned, mtime of the last commit.
set -eu

PKG=dbus-aggregate-smartshunts       # binary and service name
PKG_NAME=AggregateSmartShunts        # package (directory, tarball) name
# First Venus OS version supported, for install.sh and SetupHelper alike
# (glibc 2.28+ binaries; Venus OS v2.80 has glibc 2.31). Keep in step with
# README.md and packaging/README-install.md.
FIRST_VENUS=v2.80
repo=$(cd "$(dirname "$0")/.." && pwd)
caller=$(pwd)

die() { echo "dist.sh: ERROR: $*" >&2; exit 1; }

version=""
build=1
bin_armv7=""
bin_aarch64=""
out="$repo/dist"
config_default="$repo/config.default.ini"
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=0 ;;
        --version) version=$2; shift ;;
        --bin-armv7) bin_armv7=$2; build=0; shift ;;
        --bin-aarch64) bin_aarch64=$2; build=0; shift ;;
        --out) out=$2; shift ;;
        --config-default) config_default=$2; shift ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done

# paths given on the command line are relative to where we were called from
abs() { case "$1" in /*|"") printf '%s\n' "$1" ;; *) printf '%s\n' "$caller/$1" ;; esac; }
bin_armv7=$(abs "$bin_armv7")
bin_aarch64=$(abs "$bin_aarch64")
out=$(abs "$out")
config_default=$(abs "$config_default")
cd "$repo"

# version = [package] version in Cargo.toml, unless given
if [ -z "$version" ]; then
    version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
    [ -n "$version" ] || die "no version in Cargo.toml"
fi
# SetupHelper's version file must start with 'v'; it reads a/b/~/d as
# pre-release markers: map semver 1.2.3-alpha.4 -> v1.2.3a4, -beta.4 -> b4, -rc.4 -> ~4
sh_version=$(printf '%s\n' "$version" | sed -e 's/-alpha\.\{0,1\}/a/' -e 's/-beta\.\{0,1\}/b/' \
    -e 's/-rc\.\{0,1\}/~/' -e 's/-.*/d/' -e 's/^/v/')

if [ "$build" -eq 1 ]; then
    packaging/build.sh armv7 aarch64
fi
tdir=${CARGO_TARGET_DIR:-target}
[ -n "$bin_armv7" ] || bin_armv7="$tdir/armv7-unknown-linux-gnueabihf/release/$PKG"
[ -n "$bin_aarch64" ] || bin_aarch64="$tdir/aarch64-unknown-linux-gnu/release/$PKG"
for f in "$bin_armv7" "$bin_aarch64" "$config_default"; do
    [ -f "$f" ] || die "missing $f"
done

stage=$(mktemp -d "${TMPDIR:-/tmp}/$PKG-dist.XXXXXX")
trap 'rm -rf "$stage"' EXIT
d="$stage/$PKG_NAME"

put() {   # put MODE SRC DEST-RELATIVE
    mkdir -p "$(dirname "$d/$3")"
    cp "$2" "$d/$3"
    chmod "$1" "$d/$3"
}
put 755 "$bin_armv7" "bin/armv7/$PKG"
put 755 "$bin_aarch64" "bin/aarch64/$PKG"
put 644 "$config_default" config.default.ini
for s in install enable disable restart uninstall get-logs; do
    put 755 "packaging/$s.sh" "$s.sh"
done
put 644 packaging/lib/common.sh lib/common.sh
put 755 service/run service/run
put 755 service/log/run service/log/run
put 755 rc/boot.sh rc/boot.sh
put 755 packaging/lib/cli.sh "$PKG"   # the command on the installed configuration
put 755 service/run "services/$PKG/run"
put 755 service/log/run "services/$PKG/log/run"
put 755 packaging/setup setup
put 644 packaging/README-install.md README.md
put 644 LICENSE LICENSE
printf '%s\n' "$sh_version" > "$d/version"
printf '%s\n' "$FIRST_VENUS" > "$d/firstCompatibleVersion"
(cd "$d" && { find . -type f | sed 's#^\./##'; echo MANIFEST; }) | LC_ALL=C sort > "$stage/MANIFEST"
mv "$stage/MANIFEST" "$d/MANIFEST"
chmod 644 "$d/version" "$d/firstCompatibleVersion" "$d/MANIFEST"
find "$d" -type d -exec chmod 755 {} +

mtime=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
tarball="$out/$PKG_NAME-$version.tar.gz"
# GNU tar (build host); busybox tar on the device reads ustar fine
tar --format=ustar --sort=name --owner=0 --group=0 --numeric-owner \
    --mtime="@$mtime" -C "$stage" -cf "$stage/pkg.tar" "$PKG_NAME"
gzip -9n < "$stage/pkg.tar" > "$tarball.tmp"
mv -f "$tarball.tmp" "$tarball"

size=$(wc -c < "$tarball" | tr -d ' ')
echo "dist.sh: $tarball ($size bytes, $(wc -l < "$d/MANIFEST" | tr -d ' ') files, version $sh_version)"
echo "dist.sh: sha256 $(sha256sum "$tarball" | cut -d' ' -f1)"
