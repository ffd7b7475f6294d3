#!/bin/sh
# Runs the cargo-fuzz targets for a bounded time each and prints one summary line per target.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     fuzz; default 60 s each, every target
#   fuzz/run.sh --cmin [TARGET...]        minimise the grown corpora; list redundant seeds
#
# Environment: FUZZ_TOOLCHAIN (nightly), FUZZ_RSS_MB (2048), FUZZ_TIMEOUT (10 s per input).
# Inputs libFuzzer finds interesting go to fuzz/target/corpus/<target> (not committed); the
# committed seeds in fuzz/corpus/<target> are only read. A crash, hang or out-of-memory input
# is written to fuzz/artifacts/<target>/ and counted as a finding; any finding makes the exit
# status 1. Logs: fuzz/target/logs/<target>.log.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
mode=fuzz
secs=60
case "${1:-}" in
    --cmin) mode=cmin; shift ;;
    [0-9]*) secs=$1; shift ;;
esac
targets=${*:-config decode recording}
toolchain=${FUZZ_TOOLCHAIN:-nightly}
rss=${FUZZ_RSS_MB:-2048}
timeout=${FUZZ_TIMEOUT:-10}

command -v rustup >/dev/null || { echo "fuzz: rustup not found (https://rustup.rs)" >&2; exit 2; }
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    echo "fuzz: installing the $toolchain toolchain (cargo fuzz needs it)"
    rustup toolchain install "$toolchain" --profile minimal || exit 2
fi
if ! command -v cargo-fuzz >/dev/null; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked || exit 2
fi

cd "$root" || exit 2
mkdir -p "$here/target/logs"
echo "fuzz: building the targets ($toolchain, AddressSanitizer, debug assertions)"
cargo "+$toolchain" fuzz build --fuzz-dir "$here" >"$here/target/logs/build.log" 2>&1 || {
    tail -30 "$here/target/logs/build.log" >&2
    echo "fuzz: build failed (full log: $here/target/logs/build.log)" >&2
    exit 2
}

count() { find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l; }

if [ "$mode" = cmin ]; then
    for t in $targets; do
        work="$here/target/corpus/$t"
        log="$here/target/logs/cmin-$t.log"
        if [ -d "$work" ]; then
            before=$(count "$work")
            cargo "+$toolchain" fuzz cmin --fuzz-dir "$here" "$t" "$work" -- -rss_limit_mb="$rss" \
                >"$log" 2>&1 || { tail -20 "$log" >&2; exit 1; }
            echo "fuzz-cmin $t: grown corpus $before -> $(count "$work") files"
        fi
        # The seeds keep their names, so they are not rewritten: a merge into a scratch
        # directory (files named by SHA-1) shows which of them add no coverage.
        scratch="$here/target/cmin-seeds/$t"
        rm -rf "$scratch" && mkdir -p "$scratch"
        cargo "+$toolchain" fuzz run --fuzz-dir "$here" "$t" "$scratch" "$here/corpus/$t" -- \
            -merge=1 -rss_limit_mb="$rss" >>"$log" 2>&1 || { tail -20 "$log" >&2; exit 1; }
        redundant=""
        for f in "$here/corpus/$t"/*; do
            [ -f "$scratch/$(sha1sum <"$f" | cut -d' ' -f1)" ] || redundant="$redundant ${f#"$root/"}"
        done
        echo "fuzz-cmin $t: $(count "$here/corpus/$t") seeds; adding no coverage:${redundant:- none}"
    done
    exit 0
fi

failed=0
summary=""
for t in $targets; do
    work="$here/target/corpus/$t"
    log="$here/target/logs/$t.log"
    mkdir -p "$work" "$here/artifacts/$t"
    stamp="$here/target/logs/$t.stamp"
    : >"$stamp"
    set --
    [ -f "$here/dict/$t.dict" ] && set -- "-dict=$here/dict/$t.dict"
    echo "fuzz: $t for ${secs}s"
    start=$(date +%s)
    cargo "+$toolchain" fuzz run --fuzz-dir "$here" "$t" "$work" "$here/corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb="$rss" -timeout="$timeout" \
        -print_final_stats=1 "$@" >"$log" 2>&1
    rc=$?
    elapsed=$(($(date +%s) - start))
    # Fuzzing time as libFuzzer counts it (the wall time above includes any rebuild).
    fuzzed=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
    runs=$(stat number_of_executed_units)
    eps=$(stat average_exec_per_sec)
    last=$(grep -a -E '^#[0-9]+.*cov: ' "$log" | tail -1)
    cov=$(printf '%s' "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(printf '%s' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(printf '%s' "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p')
    found=$(find "$here/artifacts/$t" -type f -newer "$stamp" | sort)
    n=$(printf '%s' "$found" | grep -c . || true)
    if [ "$rc" -ne 0 ] && [ "$n" -eq 0 ]; then n="?"; fi
    line=$(printf 'fuzz %-9s runs=%-9s exec/s=%-6s cov=%-5s ft=%-6s corpus=%-10s time=%ss findings=%s' \
        "$t" "${runs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${fuzzed:-$elapsed}" "$n")
    summary="$summary$line
"
    if [ "$rc" -ne 0 ] || [ "$n" != 0 ]; then
        failed=1
        grep -a -m1 -A1 -E 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer' "$log" | sed 's/^/    /'
        for f in $found; do
            echo "    reproduce: cargo +$toolchain fuzz run --fuzz-dir fuzz $t ${f#"$root/"}"
        done
        echo "    log: $log"
    fi
done
printf '\n%s' "$summary"
exit $failed
