#!/usr/bin/env bash
# Builds lokiqt's libFuzzer targets (fuzz/) with clang, ASan and UBSan, and runs each one for a bounded time
# on a copy of its seed corpus. Fails on any crash, failed check, sanitizer report, leak, input that takes
# longer than 10 s, or RSS above 2 GiB. Installs the Debian packages it needs first.
#   LOKIQT_FUZZ_SECONDS     seconds per target (default 60)
#   LOKIQT_FUZZ_BUILD_DIR   build folder (default: build-fuzz)
#   LOKIQT_FUZZ_JOBS        parallel build jobs (default: the number of CPUs)
#   LOKIQT_WERROR=ON        compile lokiqt's own targets with -Werror
#   arguments               the targets to run (default: every fuzz_* executable the build made)
# A target's seeds are fuzz/corpus/<target>/ and its dictionary fuzz/<target>.dict, both optional. New inputs
# go to <build>/fuzz-run/<target>/corpus, never into the repository. To replay a failure:
#   <build>/bin/<target> <build>/fuzz-run/<target>/artifacts/crash-...
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# libFuzzer and the sanitizer runtimes ship with clang's compiler-rt, in a package of their own that must
# match clang's version (Debian 12: clang 14, libclang-rt-14-dev).
bash scripts/deps.sh clang
bash scripts/deps.sh "libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev"

build="${LOKIQT_FUZZ_BUILD_DIR:-build-fuzz}"
seconds="${LOKIQT_FUZZ_SECONDS:-60}"
case "$seconds" in
'' | *[!0-9]*)
    echo "fuzz: LOKIQT_FUZZ_SECONDS must be a whole number of seconds, not '$seconds'" >&2
    exit 2
    ;;
esac

# The compiler is fixed when a build folder is first configured: a folder made with GCC is refused by CMake.
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLOKIQT_BUILD_FUZZERS=ON -DLOKIQT_SANITIZE=address,undefined \
    -DLOKIQT_WARNINGS_AS_ERRORS="${LOKIQT_WERROR:-OFF}" -DLOKIQT_BUILD_TESTS=OFF -DLOKIQT_BUILD_TOOLS=OFF \
    -DLOKIQT_BUILD_EXAMPLES=OFF -DLOKIQT_BUILD_BENCHMARKS=OFF -DLOKIQT_BUILD_QML=OFF
cmake --build "$build" --parallel "${LOKIQT_FUZZ_JOBS:-$(nproc)}"

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    for exe in "$build"/bin/fuzz_*; do
        [ -f "$exe" ] && [ -x "$exe" ] && targets+=("$(basename "$exe")")
    done
fi
if [ "${#targets[@]}" -eq 0 ]; then
    echo "fuzz: no fuzz_* executable in $build/bin" >&2
    exit 1
fi

# OpenSSL keeps per-thread error state that Qt never frees: not ours, suppressed (as scripts/sanitize.sh).
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
# A smaller quarantine than ASan's 256 MiB: with it, RSS climbs towards the 2 GiB limit over a long run
# although nothing leaks (the same inputs replayed without ASan hold a flat RSS).
export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:quarantine_size_mb=64"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

failed=()
for target in "${targets[@]}"; do
    exe="$build/bin/$target"
    if [ ! -x "$exe" ]; then
        echo "fuzz: $target: no such target in $build/bin" >&2
        failed+=("$target")
        continue
    fi
    run="$build/fuzz-run/$target"
    rm -rf "$run"
    mkdir -p "$run/corpus" "$run/artifacts"
    if [ -d "fuzz/corpus/$target" ]; then
        cp -R "fuzz/corpus/$target/." "$run/corpus/"
    fi
    args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$run/artifacts/")
    if [ -f "fuzz/$target.dict" ]; then
        args+=(-dict="fuzz/$target.dict")
    fi
    echo "fuzz: $target for ${seconds}s (log: $run/log)"
    status=0
    # The outer timeout only catches a fuzzer that hangs outside an input, where -timeout cannot see it.
    timeout --kill-after=30 $((seconds + 300)) "$exe" "${args[@]}" "$run/corpus" >"$run/log" 2>&1 || status=$?
    grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
        "$run/log" | sed "s/^/fuzz: $target: /" || true
    if [ "$status" -ne 0 ]; then
        echo "fuzz: $target FAILED (exit status $status); the end of its log:" >&2
        tail -n 60 "$run/log" >&2
        for artifact in "$run"/artifacts/*; do
            [ -e "$artifact" ] && echo "fuzz: $target: replay with: $exe $artifact" >&2
        done
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each: no crash, leak or timeout"
