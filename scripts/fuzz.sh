#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a time budget (issue 4).
#
#   scripts/fuzz.sh [SECONDS]        # default: 60 seconds per target
#
# Seeds are read from fuzz/corpus/<target>/ (committed; never written to). Inputs the fuzzer
# finds go to fuzz/target/corpus/<target>/ and seed the next run; the whole log of a run is
# fuzz/target/fuzz-<target>.log. Exits non-zero if any target crashed, timed out or ran out of
# memory, and names the artifact; reproduce one with
#
#   (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <artifact>)
#
# Environment: FUZZ_ARGS adds libFuzzer flags (e.g. FUZZ_ARGS="-jobs=2 -workers=2");
# FUZZ_SANITIZER picks cargo-fuzz's --sanitizer (default address; "none" runs faster).
set -euo pipefail

budget="${1:-60}"
case "$budget" in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS]" >&2
    exit 2
    ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# cargo-fuzz passes nightly-only flags (-Zsanitizer and friends); this machine has a stable
# toolchain, and RUSTC_BOOTSTRAP=1 makes it accept them.
export RUSTC_BOOTSTRAP=1
sanitizer="${FUZZ_SANITIZER:-address}"
read -r -a extra <<<"${FUZZ_ARGS:-}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed; installing it (a few minutes, once)" >&2
    cargo install cargo-fuzz --locked
fi

cd "$root/fuzz"
cargo fuzz build --sanitizer "$sanitizer"

failed=0
for target in $(cargo fuzz list); do
    work="target/corpus/$target"
    log="target/fuzz-$target.log"
    mkdir -p "$work" "artifacts/$target"
    flags=(-max_total_time="$budget" -timeout=10 -print_final_stats=1)
    if [[ -f "dicts/$target.dict" ]]; then
        flags+=(-dict="dicts/$target.dict")
    fi
    echo "== $target: ${budget}s (log: fuzz/$log)"
    if cargo fuzz run --sanitizer "$sanitizer" "$target" "$work" "corpus/$target" -- \
        "${flags[@]}" "${extra[@]}" >"$log" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || tail -n 3 "$log"
    else
        failed=1
        echo "!! $target FAILED (whole log: fuzz/$log):" >&2
        # The panic (or else the libFuzzer/sanitizer report), then the input cargo-fuzz prints.
        if grep -q 'panicked at' "$log"; then
            grep -E -A4 'panicked at' "$log" | grep -v 'stack backtrace' | head -n 12 >&2 || true
        else
            grep -E -A8 'ERROR: libFuzzer|==[0-9]+==ERROR' "$log" | head -n 20 >&2 || true
        fi
        grep -E -A3 '^Output of `std::fmt::Debug`' "$log" >&2 || true
        grep -oE 'Test unit written to [^ ]+' "$log" | sed 's|Test unit written to |!! artifact: |' >&2 || true
    fi
done

if [[ "$failed" -ne 0 ]]; then
    echo "fuzzing found problems; artifacts are in fuzz/artifacts/<target>/" >&2
    exit 1
fi
echo "all fuzz targets ran clean for ${budget}s each"
