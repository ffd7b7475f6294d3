# Fuzzing (cargo-fuzz / libFuzzer, nightly Rust). Included by the top-level Makefile:
#     include fuzz/fuzz.mk
# Not part of `make test`. Targets:
#   fuzz              every fuzz target for FUZZ_SECONDS each; one summary line per target
#                     (runs, exec/s, coverage, findings); fails if anything was found.
#                     Installs the nightly toolchain and cargo-fuzz when missing.
#   fuzz-<target>     one target: fuzz-config, fuzz-decode, fuzz-recording
#   fuzz-cmin         minimise the grown corpora (fuzz/target/corpus, `cargo fuzz cmin`) and
#                     list committed seeds (fuzz/corpus) that add no coverage
#   fuzz-clean        remove the fuzz build, grown corpora, logs and artifacts
# Variables: FUZZ_SECONDS (60), FUZZ_RSS_MB (2048), FUZZ_TIMEOUT (10 s per input),
#            FUZZ_TOOLCHAIN (nightly).

FUZZ_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
FUZZ_TARGETS := config decode recording
FUZZ_SECONDS ?= 60
FUZZ_RSS_MB ?= 2048
FUZZ_TIMEOUT ?= 10
FUZZ_TOOLCHAIN ?= nightly
FUZZ_ENV = FUZZ_RSS_MB=$(FUZZ_RSS_MB) FUZZ_TIMEOUT=$(FUZZ_TIMEOUT) FUZZ_TOOLCHAIN=$(FUZZ_TOOLCHAIN)

.PHONY: fuzz fuzz-cmin fuzz-clean $(addprefix fuzz-,$(FUZZ_TARGETS))

fuzz:
	@$(FUZZ_ENV) sh $(FUZZ_DIR)/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

$(addprefix fuzz-,$(FUZZ_TARGETS)):
	@$(FUZZ_ENV) sh $(FUZZ_DIR)/run.sh $(FUZZ_SECONDS) $(@:fuzz-%=%)

fuzz-cmin:
	@$(FUZZ_ENV) sh $(FUZZ_DIR)/run.sh --cmin $(FUZZ_TARGETS)

fuzz-clean:
	rm -rf $(FUZZ_DIR)/target $(FUZZ_DIR)/artifacts $(FUZZ_DIR)/coverage
