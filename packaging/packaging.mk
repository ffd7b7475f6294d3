# Release packaging and its tests. Included by the top-level Makefile:
#     include packaging/packaging.mk
# Targets:
#   ensure-tools      install missing host tools (apt, rustup targets,
#                     cargo-zigbuild, .venv-tools with zig + oelint-adv)
#   dist              dist/AggregateSmartShunts-<version>.tar.gz
#                     (armv7 + aarch64, cargo zigbuild, glibc <= 2.28)
#   test-packaging    all packaging tests below, in order
#     test-packaging-build      1. armv7 zigbuild; print/enforce GLIBC ceiling and size
#     test-packaging-qemu       2. armv7 binary under qemu on a private dbus-daemon
#     test-packaging-lifecycle  3. device scripts in a scratch root (sh and busybox sh),
#                               standalone and SetupHelper routes (stand-in helpers)
#     test-packaging-yocto      4. crates.inc == Cargo.lock, oelint-adv clean
#     test-packaging-lint       shellcheck of every shipped script
#   crates-inc        regenerate the Yocto crates list after a Cargo.lock change

PKGING_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
PKGING_RECIPE := $(PKGING_ROOT)/meta-aggregate-shunts/recipes-ve/dbus-aggregate-smartshunts/dbus-aggregate-smartshunts_git.bb
PKGING_OELINT := $(PKGING_ROOT)/.venv-tools/bin/oelint-adv --quiet --release scarthgap --noinfo --suppress oelint.vars.homepageping
PKGING_SCRIPTS := $(addprefix $(PKGING_ROOT)/,packaging/install.sh packaging/enable.sh \
	packaging/disable.sh packaging/restart.sh packaging/uninstall.sh packaging/get-logs.sh \
	packaging/lib/common.sh packaging/lib/cli.sh packaging/dist.sh packaging/build.sh packaging/ensure-tools.sh \
	rc/boot.sh service/run service/log/run tests/packaging/lifecycle.sh tests/packaging/qemu-dbus.sh)
# run a step with a banner and its duration; any failure stops make
PKGING_STEP = @printf '\n=== test-packaging: %s\n' $(1); s=$$(date +%s); \
	$(2) || { printf '=== test-packaging: FAILED: %s\n' $(1) >&2; exit 1; }; \
	printf '=== test-packaging: ok (%ss): %s\n' "$$(($$(date +%s) - s))" $(1)

.PHONY: ensure-tools dist crates-inc test-packaging test-packaging-build \
	test-packaging-qemu test-packaging-lifecycle test-packaging-yocto test-packaging-lint

ensure-tools:
	@$(PKGING_ROOT)/packaging/ensure-tools.sh

dist: ensure-tools
	$(PKGING_ROOT)/packaging/dist.sh

crates-inc:
	$(PKGING_ROOT)/packaging/crates-inc.py generate

test-packaging: ensure-tools
	@$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) test-packaging-lint \
		test-packaging-yocto test-packaging-lifecycle test-packaging-build test-packaging-qemu

test-packaging-lint:
	$(call PKGING_STEP,"shellcheck of the shipped and test scripts",\
		shellcheck -x -s sh -e SC1091 $(PKGING_SCRIPTS) && \
		shellcheck -s bash -e SC1091 -e SC2154 $(PKGING_ROOT)/packaging/setup && \
		shellcheck -s bash $(PKGING_ROOT)/tests/packaging/setuphelper-standin/pm.sh \
			$(PKGING_ROOT)/tests/packaging/setuphelper-standin/HelperResources/IncludeHelpers)

test-packaging-yocto:
	$(call PKGING_STEP,"4. Yocto: crates.inc matches Cargo.lock; oelint-adv clean",\
		$(PKGING_ROOT)/packaging/crates-inc.py check && \
		$(PKGING_OELINT) $(PKGING_RECIPE) && \
		$(PKGING_OELINT) $(PKGING_ROOT)/meta-aggregate-shunts/conf/layer.conf && \
		echo "oelint-adv: recipe and layer.conf clean")

test-packaging-lifecycle:
	$(call PKGING_STEP,"3. install/config/restart/disable/reboot/enable/upgrade/uninstall: standalone and SetupHelper routes",\
		$(PKGING_ROOT)/tests/packaging/lifecycle.sh && \
		$(PKGING_ROOT)/tests/packaging/lifecycle.sh --busybox)

test-packaging-build:
	$(call PKGING_STEP,"1. armv7 release build (zigbuild .2.28): GLIBC ceiling and size",\
		$(PKGING_ROOT)/packaging/build.sh armv7)

test-packaging-qemu: test-packaging-build
	$(call PKGING_STEP,"2. armv7 binary under qemu on a private D-Bus: aggregate current",\
		$(PKGING_ROOT)/tests/packaging/qemu-dbus.sh)
