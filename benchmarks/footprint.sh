#!/usr/bin/env bash
# Footprint of lokiqt: the stripped size of the shared library (Release), and what an idle client costs:
# the heap it holds (printed by lokiqt-idle from mallinfo2), the RSS that constructing it and its first push
# add and the threads each starts, by name (printed by lokiqt-idle from /proc/self), and the syscalls and
# context switches of all its threads while idle: context switches over 10 s (/proc/<pid>/task/*/status), then syscalls over the next
# 10 s (strace -f -c -p; perf's syscall tracepoints need tracefs, which containers often lack).
#
#   benchmarks/footprint.sh                 # scratch build in <repo>/build-footprint, 10 s idle window
#   IDLE_SECONDS=30 benchmarks/footprint.sh
#
# Environment: FOOTPRINT_BUILD_DIR (default <repo>/build-footprint), IDLE_SECONDS (default 10).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${FOOTPRINT_BUILD_DIR:-$ROOT/build-footprint}
IDLE=${IDLE_SECONDS:-10}

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=Release \
    -DLOKIQT_BUILD_TESTS=OFF -DLOKIQT_BUILD_EXAMPLES=OFF -DLOKIQT_BUILD_BENCHMARKS=ON >&2
cmake --build "$BUILD" --target lokiqt lokiqt-idle >&2
cmake --build "$BUILD" --target lokiqt-receiver >&2 || echo "footprint.sh: lokiqt-receiver did not build; using the one there is" >&2

LIB=$(find "$BUILD/lib" -name 'liblokiqt.so.*.*' -type f | head -1)
STRIPPED=$(mktemp)
RECEIVER_PID=
IDLE_PID=
cleanup() {
    [[ -n $IDLE_PID ]] && kill "$IDLE_PID" 2>/dev/null
    [[ -n $RECEIVER_PID ]] && kill "$RECEIVER_PID" 2>/dev/null
    rm -f "$STRIPPED" "$STRIPPED".*
    wait 2>/dev/null || true
}
trap cleanup EXIT
strip --strip-unneeded -o "$STRIPPED" "$LIB"
echo "## lokiqt footprint ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
echo
echo "shared library $(basename "$LIB"): $(stat -c %s "$LIB") bytes as built, $(stat -c %s "$STRIPPED") bytes stripped (strip --strip-unneeded)"
size "$STRIPPED" | sed 's/^/    /'
echo "    needs: $(readelf -d "$LIB" | grep NEEDED | sed 's/.*\[\(.*\)\]/\1/' | tr '\n' ' ')"
echo

# The idle client sends one entry to a loopback receiver, then idles in its event loop.
PORTFILE=$STRIPPED.port
"$BUILD/bin/lokiqt-receiver" --count-only --quiet --port 0 --port-file "$PORTFILE" 2>/dev/null &
RECEIVER_PID=$!
for _ in $(seq 100); do [[ -s $PORTFILE ]] && break; sleep 0.05; done
URL="http://127.0.0.1:$(tr -d '\n' <"$PORTFILE")"

OUTFILE=$STRIPPED.out
"$BUILD/bin/lokiqt-idle" --url "$URL" --idle-seconds "$((2 * IDLE + 4))" >"$OUTFILE" 2>&1 &
IDLE_PID=$!
for _ in $(seq 200); do grep -q IDLE_START "$OUTFILE" && break; sleep 0.05; done
grep -q IDLE_START "$OUTFILE" || { cat "$OUTFILE"; echo "footprint.sh: lokiqt-idle did not start" >&2; exit 1; }
sleep 1 # let the send settle: measure only the idle state

ctxt() { cat /proc/"$IDLE_PID"/task/*/status 2>/dev/null | awk '/^(voluntary|nonvoluntary)_ctxt_switches/ {n += $2} END {print n}'; }
threads=$(ls /proc/"$IDLE_PID"/task | wc -l)
names=$(cat /proc/"$IDLE_PID"/task/*/comm | tr '\n' ' ')
# Two windows: context switches without a tracer (ptrace itself stops and wakes threads), then strace.
c0=$(ctxt)
sleep "$IDLE"
c1=$(ctxt)
STRACE_OUT=$STRIPPED.strace
strace_ok=no
if command -v strace >/dev/null; then
    rc=0
    timeout -s INT "$IDLE" strace -f -c -p "$IDLE_PID" -o "$STRACE_OUT" 2>/dev/null || rc=$?
    [[ $rc == 0 || $rc == 124 ]] && strace_ok=yes
fi

echo "idle client: $(grep '^heap in use' "$OUTFILE")"
grep -E '^(RSS |threads )' "$OUTFILE" | sed 's/^/    /'
echo
echo "idle: $threads threads ($names)"
echo "context switches of all threads in $IDLE s (no tracer attached): $((c1 - c0))"
if [[ -s $STRACE_OUT ]]; then
    echo "syscalls of all threads in the next $IDLE s (strace -f -c -p):"
    sed 's/^/    /' "$STRACE_OUT"
elif [[ $strace_ok == yes ]]; then
    echo "syscalls of all threads in the next $IDLE s (strace -f -c -p): none at all"
else
    echo "strace: not available or not permitted (ptrace); only context switches counted"
fi
wait "$IDLE_PID" || true
IDLE_PID=
echo
grep -E '^(IDLE_END|heap after deleting)' "$OUTFILE"

# A host name in the URL: the transport resolves it when the client starts (QHostInfo's thread pool).
"$BUILD/bin/lokiqt-idle" --url "${URL/127.0.0.1/localhost}" --idle-seconds 1 >"$OUTFILE" 2>&1 || true
echo
echo "with a host name in the URL (localhost):"
grep -E '^threads added' "$OUTFILE" | sed 's/^/    /'

# What following the network's state costs once it is needed: a second client whose push fails for a
# network error loads QNetworkInformation (LokiConfig::followNetworkReachability).
"$BUILD/bin/lokiqt-idle" --url "$URL" --idle-seconds 1 --network-failure >"$OUTFILE" 2>&1 || true
echo
echo "after a network failure (lokiqt-idle --network-failure):"
grep -E '^(a second client|threads after)' "$OUTFILE" | sed 's/^/    /'
cat <<'LEGEND'

what the threads are (Linux names, /proc/<pid>/task/*/comm):
    lokiqt-client    the client's own QThread: batching, timers, the push transport (LokiClient's worker)
    QNetworkAccessM  QNetworkAccessManager's HTTP thread (Qt-internal): only for pushes through a proxy (direct ones go on the client's own connections)
    Thread (pooled)  QHostInfo's lookup pool, for a host name in the URL; exits after 30 s without lookups
    QDBusConnection  QtDBus's connection thread: QNetworkInformation's networkmanager plugin probes the system bus
    gmain            GLib's worker context (GIO): QNetworkInformation's glib backend (GNetworkMonitor)
LEGEND
