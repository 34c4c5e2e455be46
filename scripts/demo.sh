#!/usr/bin/env bash
# The main job: builds the Qt Widgets example (lokiqt-qtapp) and lokiqt-receiver, then runs the example's
# scripted demo: it clicks its own buttons (three messages at each level, through the app.ui, app.network and
# app.storage categories, then a burst of 10,000 lines from 4 threads), waits until all of it is delivered
# (at most LOKIQT_DEMO_MS, 20 s by default), and prints sent/dropped/failed.
#
# With $LOKI_URL (or logcli's $LOKI_ADDR) set, the demo goes to that Loki and is queried back with curl; the
# example reads the rest of logcli's variables itself (LokiConfig::fromEnvironment(): LOKI_ORG_ID,
# LOKI_USERNAME/LOKI_PASSWORD, LOKI_BEARER_TOKEN(_FILE), LOKI_CA_CERT_PATH...), and the query back sends the
# same tenant and basic auth or token ($LOKI_TENANT, when set, is the tenant instead of $LOKI_ORG_ID). Without it, a local Loki-compatible receiver is started on a free loopback port,
# and what it stored is printed stream by stream. No display is needed: without one, the example draws its
# window offscreen. The exit status is the demo's: 0 when every line was delivered.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

url="${LOKI_URL:-${LOKI_ADDR:-}}"
tenant="${LOKI_TENANT:-${LOKI_ORG_ID:-}}"
if [ -n "$url" ]; then
    bash scripts/deps.sh curl jq # to query Loki back
else
    bash scripts/deps.sh
fi

build="${LOKIQT_BUILD_DIR:-build}"
echo "demo: building lokiqt-qtapp and lokiqt-receiver in $build/"
mkdir -p "$build"
if ! cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/demo-configure.log" 2>&1; then
    cat "$build/demo-configure.log" >&2
    exit 1
fi
if grep -q "Qt6 Widgets not found" "$build/demo-configure.log"; then
    echo "demo: Qt 6 Widgets was not found (Debian: qt6-base-dev); the example cannot be built" >&2
    exit 1
fi
cmake --build "$build" --parallel "${LOKIQT_BUILD_JOBS:-$(nproc)}" --target lokiqt-qtapp lokiqt-receiver
bin="$build/bin"

workdir=$(mktemp -d)
receiver_pid=""
cleanup() {
    [ -n "$receiver_pid" ] && kill "$receiver_pid" 2>/dev/null || true
    rm -rf "$workdir"
}
trap cleanup EXIT
# Qt wants a private runtime directory; a root shell without a login session has none.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
    export XDG_RUNTIME_DIR="$workdir/runtime"
    mkdir -m 700 "$XDG_RUNTIME_DIR"
fi

if [ -z "$url" ]; then
    "$bin/lokiqt-receiver" --port 0 --port-file "$workdir/port" >"$workdir/received.txt" 2>"$workdir/receiver.err" &
    receiver_pid=$!
    for _ in $(seq 1 100); do
        [ -s "$workdir/port" ] && break
        sleep 0.1
    done
    [ -s "$workdir/port" ] || { cat "$workdir/receiver.err" >&2; echo "demo: the receiver did not start" >&2; exit 1; }
    url="http://127.0.0.1:$(cat "$workdir/port")"
    echo "demo: neither LOKI_URL nor LOKI_ADDR set; a local receiver listens at $url"
fi

# The demo bounds itself (LOKIQT_DEMO_MS, plus at most 2 s to close); timeout is the backstop.
demo_ms="${LOKIQT_DEMO_MS:-20000}"
args=(--url "$url" --label app=lokiqt-demo --demo-ms "$demo_ms")
[ -n "$tenant" ] && args+=(--tenant "$tenant")
started=$(date +%s)
status=0
timeout -k 5 $((demo_ms / 1000 + 30)) "$bin/lokiqt-qtapp" "${args[@]}" || status=$?

if [ -n "$receiver_pid" ]; then
    kill -TERM "$receiver_pid"
    wait "$receiver_pid" || true
    receiver_pid=""
    echo "demo: what the receiver stored, stream by stream (the burst's lines counted, not printed):"
    # The receiver prints each stream of each push; gather them by stream, in order of first arrival.
    awk '
        /^\{/ {
            key = $0
            sub(/ \([0-9]+ entr(y|ies)\)$/, "", key)
            if (!(key in count)) order[++streams] = key
            next
        }
        /^  / {
            line = substr($0, 3)
            count[key]++
            category = "default"
            if (match(line, /category=[^ ]+/)) category = substr(line, RSTART + 9, RLENGTH - 9)
            else if (match(line, /"category":"[^"]*"/)) category = substr(line, RSTART + 12, RLENGTH - 13)
            if (!((key, category) in percategory)) categories[key] = categories[key] " " category
            percategory[key, category]++
            if (line ~ /burst thread=/) burst[key]++
            else shown[key] = shown[key] "    " line "\n"
        }
        END {
            for (i = 1; i <= streams; i++) {
                key = order[i]
                n = split(substr(categories[key], 2), names, " ")
                by = ""
                for (j = 1; j <= n; j++) by = by (j > 1 ? ", " : "") names[j] " " percategory[key, names[j]]
                printf "  %s: %d entries (%s)\n%s", key, count[key], by, shown[key]
                if (burst[key]) printf "    ... and %d burst lines (burst thread=0..3 line=0..2499)\n", burst[key]
            }
        }' "$workdir/received.txt"
    grep -E "^(push answered|received pushes)" "$workdir/receiver.err" | sed 's/^/demo: receiver: /' || true
else
    base="${url%/}"
    base="${base%/loki/api/v1/push}"
    seconds=$(($(date +%s) - started + 5))
    selector='{app="lokiqt-demo"}'
    # Tenant and credentials go to curl through a config file, not its command line (visible in ps).
    curlrc="$workdir/curlrc"
    (umask 077 && : >"$curlrc")
    quote() { local v=${1//\\/\\\\}; printf '"%s"' "${v//\"/\\\"}"; }
    [ -n "$tenant" ] && echo "header = $(quote "X-Scope-OrgID: $tenant")" >>"$curlrc"
    if [ -n "${LOKI_USERNAME:-}" ]; then
        echo "user = $(quote "$LOKI_USERNAME:${LOKI_PASSWORD:-}")" >>"$curlrc"
    elif [ -n "${LOKI_BEARER_TOKEN:-}" ]; then
        echo "header = $(quote "Authorization: Bearer $LOKI_BEARER_TOKEN")" >>"$curlrc"
    elif [ -n "${LOKI_BEARER_TOKEN_FILE:-}" ]; then
        echo "header = $(quote "Authorization: Bearer $(tr -d '[:space:]' <"$LOKI_BEARER_TOKEN_FILE")")" >>"$curlrc"
    fi
    [ -n "${LOKI_CA_CERT_PATH:-}" ] && echo "cacert = $(quote "$LOKI_CA_CERT_PATH")" >>"$curlrc"
    headers=(-K "$curlrc")
    sleep 2 # let the ingesters make the newest entries queryable
    echo "demo: entries Loki holds for $selector over the last ${seconds}s, by stream:"
    if counts=$(curl -fsS -G "${headers[@]}" "$base/loki/api/v1/query" \
        --data-urlencode "query=sum by (level) (count_over_time(${selector}[${seconds}s]))" 2>&1); then
        jq -r '.data.result[] | "  {app=\"lokiqt-demo\", level=\"\(.metric.level)\"}: \(.value[1]) entries"' \
            <<<"$counts"
        echo "demo: the lines other than the burst's:"
        curl -fsS -G "${headers[@]}" "$base/loki/api/v1/query_range" \
            --data-urlencode "query=$selector !~ \"burst thread=\"" --data-urlencode "since=${seconds}s" \
            --data-urlencode "limit=100" --data-urlencode "direction=forward" |
            jq -r '.data.result[] | "  {" + (.stream | to_entries | map("\(.key)=\"\(.value)\"") | join(", ")) + "}:",
                   (.values[] | "    " + .[1])'
    else
        echo "demo: could not query $base back: $counts" >&2
    fi
    echo "demo: in Grafana, open Explore, pick this Loki and run: $selector (or sum by (level) (count_over_time(${selector}[5m])))"
fi
exit "$status"
