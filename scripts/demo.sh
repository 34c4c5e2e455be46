#!/usr/bin/env bash
# The main job: builds lokiqt's tools, then pushes a short demo log through lokiqt-push.
# With $LOKI_URL set, the demo goes to that Loki. Without it, a local Loki-compatible receiver
# (lokiqt-receiver) is started on a free loopback port and prints every stream it receives.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/deps.sh

build="${LOKIQT_BUILD_DIR:-build}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --parallel --target lokiqt-push lokiqt-receiver
bin="$build/bin"

workdir=$(mktemp -d)
receiver_pid=""
cleanup() {
    [ -n "$receiver_pid" ] && kill "$receiver_pid" 2>/dev/null || true
    rm -rf "$workdir"
}
trap cleanup EXIT

url="${LOKI_URL:-}"
if [ -z "$url" ]; then
    "$bin/lokiqt-receiver" --port 0 --port-file "$workdir/port" >"$workdir/received.txt" 2>"$workdir/receiver.err" &
    receiver_pid=$!
    for _ in $(seq 1 100); do
        [ -s "$workdir/port" ] && break
        sleep 0.1
    done
    [ -s "$workdir/port" ] || { cat "$workdir/receiver.err" >&2; echo "demo: the receiver did not start" >&2; exit 1; }
    url="http://127.0.0.1:$(cat "$workdir/port")"
    echo "demo: no LOKI_URL set; pushing to a local receiver at $url"
else
    echo "demo: pushing to $url"
fi

# Two streams: the level label is bounded (info, warning); ids stay in the line.
status=0
printf '%s\n' \
    "kiosk started version=1.4.2" \
    "user signed in user_id=4711 session=ab12" \
    "order placed order_id=981 total=12.50" \
    "receipt printed order_id=981 pages=1" |
    "$bin/lokiqt-push" --url "$url" --label app=lokiqt-demo --label level=info --timeout-ms 10000 || status=$?
printf '%s\n' \
    "printer paper low remaining=12%" \
    "payment retried order_id=982 attempt=2" |
    "$bin/lokiqt-push" --url "$url" --label app=lokiqt-demo --label level=warning --timeout-ms 10000 || status=$?

if [ -n "$receiver_pid" ]; then
    kill -TERM "$receiver_pid"
    wait "$receiver_pid" || true
    receiver_pid=""
    echo "demo: what the receiver got, stream by stream:"
    cat "$workdir/received.txt"
    tail -n 1 "$workdir/receiver.err"
fi
exit "$status"
