#!/usr/bin/env bash
# Builds the test suite with AddressSanitizer + UndefinedBehaviorSanitizer and runs it. Any report fails it.
#   LOKIQT_SANITIZE_BUILD_DIR   build folder (default: build-asan)
# ThreadSanitizer cannot be combined with these: scripts/tsan.sh runs the suite under it, in a build of its own.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/deps.sh

build="${LOKIQT_SANITIZE_BUILD_DIR:-build-asan}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOKIQT_SANITIZE=address,undefined \
    -DLOKIQT_WARNINGS_AS_ERRORS="${LOKIQT_WERROR:-OFF}" -DLOKIQT_BUILD_TESTS=ON \
    -DLOKIQT_BUILD_BENCHMARKS=OFF -DLOKIQT_BUILD_EXAMPLES=OFF
cmake --build "$build" --parallel
# OpenSSL keeps per-thread error state that Qt's TLS backend never frees: not ours, suppressed.
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# tst_qmlapp runs here too although the examples are off: it loads examples/qmlapp/Main.qml from the source tree
# with the QML module LokiQt, so Qt Quick's scene graph (software renderer) and the QML engine run under ASan.
# tst_realloki runs here too, against the real Loki it starts (../shared/realloki, when present): the real
# network paths (413/500 splits, 429 retries, TLS through the gateway) under ASan; about 35 s.
ctest --test-dir "$build" --output-on-failure --timeout 600
