SUMMARY = "Aggregates Victron SmartShunts into one virtual battery on the Venus OS D-Bus"
DESCRIPTION = "Watches the SmartShunt battery services on the system D-Bus and \
publishes one aggregate battery service, com.victronenergy.battery.aggregate_shunts, \
for the GUI, VRM and systemcalc."
HOMEPAGE = "https://github.com/dbus-aggregate-smartshunts/dbus-aggregate-smartshunts"
BUGTRACKER = "https://github.com/dbus-aggregate-smartshunts/dbus-aggregate-smartshunts/issues"
SECTION = "base"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=3310171256232b7dc213c43f4eb0bdf9"

PV = "0.1.0+git"
SRC_URI = "git://github.com/dbus-aggregate-smartshunts/dbus-aggregate-smartshunts.git;protocol=https;branch=main"
# PV and SRCREV are set by `packaging/crates-inc.py pin [COMMIT]`. The commit must
# have the same Cargo.lock as the one dbus-aggregate-smartshunts-crates.inc was
# generated from (cargo builds offline, --frozen, from the crate:// entries).
SRCREV = "0000000000000000000000000000000000000000"
S = "${WORKDIR}/git"

# Regenerate after every Cargo.lock change: packaging/crates-inc.py generate
# (or bitbake -c update_crates dbus-aggregate-smartshunts).
require ${BPN}-crates.inc

# Cargo.toml rust-version is 1.87: OE-core scarthgap's Rust 1.75 is too old,
# Venus OS adds meta-lts-mixins (scarthgap/rust) for a newer one.
inherit cargo cargo-update-recipe-crates
# The device build leaves the development tools (simulator, demo) out.
CARGO_BUILD_FLAGS:append = " --no-default-features"
# ve_package: bindir = /opt/victronenergy/${PN}; daemontools: generates
# /opt/victronenergy/service/${PN}/{run,log/run} (multilog to /var/log/${PN}).
inherit ve_package
inherit daemontools

# Settings live on the persistent /data partition: --config-dir reads
# config.default.ini (a link to the copy in the image, so a firmware update
# brings new defaults) and then the user's config.ini from there.
AGGREGATE_CONF_DIR = "${permanentsysconfdir}/${BPN}"
DAEMONTOOLS_RUN = "${@softlimit(d, data=100000000, stack=1000000, all=100000000)} ${bindir}/${BPN} --config-dir ${AGGREGATE_CONF_DIR}"
# nooelint: oelint.vars.mispell.unknown - DAEMONTOOLS_SCRIPT is read by daemontools.bbclass
DAEMONTOOLS_SCRIPT = "mkdir -p ${AGGREGATE_CONF_DIR} && ln -sf ${bindir}/config.default.ini ${AGGREGATE_CONF_DIR}/config.default.ini && exec ${DAEMONTOOLS_RUN}"

do_install:append() {
    install -m 0644 ${S}/config.default.ini ${D}${bindir}/config.default.ini
}
