#!/usr/bin/env bash
# Builds the test suite with ThreadSanitizer and runs it. Any report fails it.
#   LOKIQT_TSAN_BUILD_DIR   build folder (default: build-tsan)
#   LOKIQT_WERROR=ON        compile lokiqt's own targets with -Werror (CI does)
#
# Debian's Qt is not built with ThreadSanitizer, so the synchronization inside libQt6Core (QWaitCondition
# relocking our QMutex, the queue behind QMetaObject::invokeMethod, QSemaphore, QThread::wait) is invisible
# to it. A ThreadSanitizer build links tests/tsan into every program: it tells ThreadSanitizer those
# happens-before edges at the calls lokiqt makes, instead of suppressing the reports they would cause (see
# tests/tsan/qtsync.cpp). What is left to hide is Qt's own business, through the options below and
# tests/tsan.supp; lokiqt's code, its tests and tools stay fully checked.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# libtsan2: GCC's ThreadSanitizer runtime (g++ brings it on amd64; named in case it does not).
bash scripts/deps.sh libtsan2

build="${LOKIQT_TSAN_BUILD_DIR:-build-tsan}"
# The example on: tst_qtapp drives its window, whose burst logs from 4 threads through qDebug() and lokiqt.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOKIQT_SANITIZE=thread \
    -DLOKIQT_WARNINGS_AS_ERRORS="${LOKIQT_WERROR:-OFF}" -DLOKIQT_BUILD_TESTS=ON \
    -DLOKIQT_BUILD_BENCHMARKS=OFF -DLOKIQT_BUILD_EXAMPLES=ON
cmake --build "$build" --parallel 2

# halt_on_error: the first report ends the test program, which fails its test.
# ignore_noninstrumented_modules: what libc interceptors (malloc/free, memcpy, write, pthread_cond_destroy)
#   do on behalf of code that is not instrumented (Qt, GLib, OpenSSL, protobuf) is not checked, exactly as
#   that code's own loads and stores are not: without it, Qt's internal hand-offs (its posted events, its
#   event dispatcher's eventfd, its worker threads' allocations) show as races between threads of Qt's.
#   Synchronization done through those interceptors (pthread mutexes and condition variables) still
#   counts, and every access made by lokiqt's own code is still checked.
# history_size: enough history that the second stack of a report can be restored.
# Children (lokiqt-push started by tst_lokiqtpush) inherit these options.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 history_size=4 ignore_noninstrumented_modules=1 suppressions=$PWD/tests/tsan.supp"
# GCC 12's ThreadSanitizer maps its shadow memory at fixed places: with more address-space randomization
# than it expects it dies with "unexpected memory mapping". Run without randomization then.
run=()
if [ "$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)" -gt 28 ]; then
    run=(setarch "$(uname -m)" -R)
fi
# tst_qmlapp runs too (Qt Quick and the QML engine on lokiqt's client): ctest gives it QT_QUICK_BACKEND=software,
# whose render loop draws in the GUI thread, so Qt Quick starts no render thread of its own here.
# No test is left out: package_consumer is not registered in a sanitizer build (tests/CMakeLists.txt).
# tst_realloki runs too, against the real Loki it starts (../shared/realloki, when present): about 35 s, as
# without TSan (it waits on Loki, not on the CPU).
"${run[@]}" ctest --test-dir "$build" --output-on-failure --timeout 600
