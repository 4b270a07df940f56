#!/usr/bin/env bash
# Run one fuzz target (or all of them, one after the other) for a number of seconds each.
#
#   fuzz/run.sh TARGET SECONDS     e.g. fuzz/run.sh decrypt 600
#   fuzz/run.sh all SECONDS        every target in turn
#   fuzz/run.sh build              build every target, run nothing
#
# Works on the stable toolchain: RUSTC_BOOTSTRAP=1 lets it accept the -Z flags cargo-fuzz
# passes. No sanitizer (sealbox forbids unsafe code; the search is for panics, hangs and
# unbounded allocation, which libFuzzer reports as crashes, timeouts and out-of-memory).
# Seeds in fuzz/seeds/TARGET are copied into the working corpus fuzz/corpus/TARGET (gitignored)
# first; crashes land in fuzz/artifacts/TARGET. libFuzzer's log goes to fuzz/logs/TARGET-*.log.
#
# Environment: FUZZ_JOBS_ARGS extra libFuzzer flags; CARGO_FUZZ (default: cargo fuzz).
set -euo pipefail

cd "$(dirname "$0")"
TARGETS=(header context decrypt stream_decrypt roundtrip ml_kem_edk ecdh_edk)
export RUSTC_BOOTSTRAP=1

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

max_len() {
    case $1 in
    context) echo 8192 ;;
    roundtrip) echo 4096 ;;
    ecdh_edk) echo 1024 ;;
    *) echo 16384 ;;
    esac
}

build() {
    cargo fuzz build --sanitizer none --release --debug-assertions "$@"
}

run_one() {
    local target=$1 seconds=$2
    mkdir -p "corpus/$target" "artifacts/$target" logs
    if [[ -d seeds/$target ]]; then
        cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
    fi
    # The full shared vector sets, when present, add up to 500 more messages (≤ 16 KiB) for the
    # targets that take a bare message.
    local shared=${SEALBOX_SHARED_VECTORS:-../../shared/vectors}
    if [[ -d $shared && ($target == header || $target == decrypt) ]]; then
        local files f
        mapfile -t files < <(find "$shared" -type f -path '*ciphertext*' -size -16k | sort)
        for f in "${files[@]:0:500}"; do
            cp -n "$f" "corpus/$target/shared-$(basename "$f")"
        done
    fi
    local log
    log=logs/$target-$(date +%Y%m%d-%H%M%S).log
    echo "fuzzing $target for ${seconds}s (log: fuzz/$log)"
    local rc=0
    build "$target"
    # shellcheck disable=SC2086
    cargo fuzz run --sanitizer none --release --debug-assertions "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=512 -malloc_limit_mb=512 -timeout=10 \
        -max_len="$(max_len "$target")" -print_final_stats=1 -artifact_prefix="artifacts/$target/" \
        ${FUZZ_JOBS_ARGS:-} >"$log" 2>&1 || rc=$?
    grep -E '^#[0-9]+[[:space:]]+DONE|^Done [0-9]+ runs|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
    if ((rc != 0)); then
        tail -n 40 "$log"
        echo "fuzz target $target FAILED (exit $rc); artifacts in fuzz/artifacts/$target" >&2
        return "$rc"
    fi
}

case ${1:-} in
build) build ;;
all)
    [[ -n ${2:-} ]] || { echo "usage: $0 all SECONDS" >&2; exit 2; }
    status=0
    for t in "${TARGETS[@]}"; do run_one "$t" "$2" || status=1; done
    exit $status
    ;;
"" | -h | --help)
    echo "usage: $0 TARGET|all SECONDS, or $0 build; targets: ${TARGETS[*]}" >&2
    exit 2
    ;;
*)
    [[ -n ${2:-} ]] || { echo "usage: $0 TARGET SECONDS" >&2; exit 2; }
    run_one "$1" "$2"
    ;;
esac
