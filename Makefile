# dbus-aggregate-smartshunts — developer entry points.
#   make demo    private bus, simulated SmartShunts, the real daemon, a live view (Ctrl-C ends it)
#   make test    cargo fmt --check and clippy -D warnings, unit, property and private-bus
#                integration tests, then the packaging tests
#   make dist    release tarball for GX devices (armv7 + aarch64)
#   make bench   end-to-end figures beside the floor (release build, private bus, ~3 minutes)
#   make soak    bounded soak: RSS and open fds over SOAK_SECONDS (default 600)
#   make fuzz    cargo-fuzz targets for a bounded time each (FUZZ_SECONDS, default 60)
# Missing Debian packages, rust targets and tools are installed on the way (as root).

SHELL := /bin/bash
CARGO ?= cargo
DEMO_BIN := target/bench-fast/dbus-aggregate-smartshunts

.PHONY: demo test lint test-rust check-rust ensure-dbus ensure-floor build clean bench soak

demo: check-rust ensure-dbus
	$(CARGO) build --locked --profile bench-fast
	$(DEMO_BIN) demo $(if $(DURATION),--duration $(DURATION))

# Ends with one plain total: every cargo test plus the five packaging steps (make stops at the
# first failure, so reaching the total means none failed).
test: ensure-tools lint test-rust test-packaging
	@passed=$$(grep -hoE '^test result: ok\. [0-9]+ passed' target/test-rust.log | awk '{s += $$4} END {print s + 0}'); \
	 echo; echo "make test: $$passed cargo tests and 5 packaging steps"; \
	 echo "$$((passed + 5)) passed, 0 failed"

# Formatting and clippy first: they fail in seconds where the tests take minutes.
lint: check-rust
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	# The device build (no development tools) must stay clean too.
	$(CARGO) clippy --locked --no-default-features -- -D warnings

test-rust: check-rust ensure-dbus
	@mkdir -p target
	set -o pipefail; $(CARGO) test --locked --no-fail-fast 2>&1 | tee target/test-rust.log

# The floor every figure is set beside: shared/bench-floor's null-agg (C on sd-bus), built into
# target/ because shared/ may be read-only.
FLOOR_SRC := $(CURDIR)/../shared/bench-floor
FLOOR_BIN := $(CURDIR)/target/null-agg

bench: check-rust ensure-dbus ensure-floor
	BENCH_FLOOR=$(FLOOR_BIN) $(CARGO) bench --locked --bench e2e

ensure-floor:
	@pkg-config --exists libsystemd 2>/dev/null && command -v gcc >/dev/null || { \
	  echo "installing the Debian packages 'libsystemd-dev pkg-config gcc' (the benchmark's floor)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsystemd-dev pkg-config gcc >/dev/null; }
	@mkdir -p $(dir $(FLOOR_BIN))
	$(MAKE) --no-print-directory -C $(FLOOR_SRC) OUT=$(FLOOR_BIN)

SOAK_SECONDS ?= 600
soak: check-rust ensure-dbus
	SOAK_SECONDS=$(SOAK_SECONDS) $(CARGO) bench --locked --bench soak

build: check-rust
	$(CARGO) build --locked --release

check-rust:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust 1.87 or newer (https://rustup.rs)" >&2; exit 1; }
	@v=$$($(CARGO) --version | awk '{print $$2}'); \
	 if [ "$$(printf '%s\n1.87.0\n' "$$v" | sort -V | head -1)" != "1.87.0" ]; then \
	   echo "cargo $$v is too old: Rust 1.87 or newer is needed (zbus 5)" >&2; exit 1; fi

ensure-dbus:
	@command -v dbus-daemon >/dev/null || { \
	  echo "installing the Debian package 'dbus' (private test buses)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dbus >/dev/null; }

clean:
	$(CARGO) clean
	rm -rf dist

include packaging/packaging.mk
-include fuzz/fuzz.mk
