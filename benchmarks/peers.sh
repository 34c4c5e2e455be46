#!/usr/bin/env bash
# benchmarks/peers.sh BUILD-DIR [--runs N] [--out DIR]: lokiqt beside Grafana's promtail and Fluent Bit in
# shared/peer-bench, each scenario one bench.py invocation with the clients interleaved run by run:
#   1. loopback, android corpus (shared/data/android_2k.log), 200,000 entries
#   2. loopback, this project's own corpus (benchmarks/data/loki_server.log, longer lines), 200,000 entries
#   3. answers delayed 50 ms (a Loki across a WAN), android corpus, 100,000 entries
#   4. answers delayed 200 ms, android corpus, 100,000 entries
# and the CPU floor of the encoder alone on both corpora (lokiqt-encode-floor). BUILD-DIR is a Release build
# with benchmarks (bin/lokiqt-bench, bin/lokiqt-encode-floor). Needs ../shared (peer-bench, promtail, Fluent
# Bit, the corpus). peer-bench's "rss MiB" is wait4()'s ru_maxrss of the client, which includes the pages the
# child had when bench.py forked it: about 23 MiB here for any client (/bin/true shows 23.2), so it is a
# floor, not lokiqt's figure; this script prints lokiqt's own peak RSS (/usr/bin/time) beside it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:?usage: benchmarks/peers.sh BUILD-DIR [--runs N] [--out DIR]}
BUILD=$(cd "$BUILD" && pwd)
shift
RUNS=3
OUT=$ROOT/build-peers/$(date -u +%Y%m%dT%H%M%SZ)
while [[ $# -gt 0 ]]; do
    case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "peers.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
SHARED=$ROOT/../shared
PEER_SRC=$SHARED/peer-bench
ANDROID=$SHARED/data/android_2k.log
OWN=$ROOT/benchmarks/data/loki_server.log
for f in "$PEER_SRC/bench.py" "$ANDROID" "$BUILD/bin/lokiqt-bench" "$BUILD/bin/lokiqt-encode-floor"; do
    [[ -e $f ]] || { echo "peers.sh: $f is missing" >&2; exit 2; }
done
mkdir -p "$OUT"
# shellcheck source=peerbench-home.sh
source "$ROOT/benchmarks/peerbench-home.sh"
peerbench_home
LOKIQT="$BUILD/bin/lokiqt-bench --url {url} --count {count} --input {input}"

scenario() { # name input count delay
    local name=$1 input=$2 count=$3 delay=$4
    echo "## $name: $(basename "$input"), $count entries, answers delayed ${delay} ms, medians of $RUNS runs (load $(cut -d' ' -f1 /proc/loadavg))"
    (cd "$PB" && python3 bench.py --no-peers \
        --client "promtail=$PEER_SRC/clients/promtail.sh" \
        --client "fluentbit=$PEER_SRC/clients/fluentbit.sh" \
        --client "lokiqt=$LOKIQT" \
        --input "$input" --count "$count" --runs "$RUNS" --delay-ms "$delay" \
        --json-out "$OUT/$name.json") >"$OUT/$name.txt" 2>"$OUT/$name.err" || true
    sed -n '/^# medians/,/^$/p' "$OUT/$name.txt" | sed 1d
    python3 - "$OUT/$name.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
m = {k: v for k, v in d.get("medians", {}).items()}
q, f = m.get("lokiqt", {}), m.get("fluentbit", {})
if q and f and f.get("entries_per_s"):
    print(f"lokiqt / Fluent Bit entries/s: {q['entries_per_s'] / f['entries_per_s']:.2f}; "
          f"lokiqt CPU s/100k: {q.get('cpu_s_per_100k', float('nan')):.3f}")
PY
    echo
}
{
    echo "# lokiqt beside its peers ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r))"
    echo
    scenario loopback-android "$ANDROID" 200000 0
    scenario loopback-own "$OWN" 200000 0
    scenario delay50-android "$ANDROID" 100000 50
    scenario delay200-android "$ANDROID" 100000 200
    echo "## lokiqt's own peak RSS, 200,000 android entries (/usr/bin/time, the same sink; medians of $RUNS)"
    "$PB/build/loki_sink" --port 0 --port-file "$OUT/sink.port" >/dev/null 2>&1 &
    SINK=$!
    trap 'kill $SINK 2>/dev/null || true' EXIT
    for _ in $(seq 100); do [[ -s $OUT/sink.port ]] && break; sleep 0.05; done
    URL=http://127.0.0.1:$(cat "$OUT/sink.port")
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f '%M' "$BUILD/bin/lokiqt-bench" --url "$URL" --count 200000 --input "$ANDROID" 2>&1 >/dev/null | tail -1
    done | sort -n | awk '{a[NR]=$1} END {printf "peak RSS %.1f MiB (median of %d)\n\n", a[int((NR+1)/2)]/1024, NR}'
    echo "## CPU floor: the encoder alone (lokiqt-encode-floor, batches of 2,000), CPU s/100k"
    for input in "$ANDROID" "$OWN"; do
        for f in protobuf json json-gzip; do
            echo "$(basename "$input") $f: $("$BUILD/bin/lokiqt-encode-floor" --input "$input" --format "$f" | grep -o 'cpu_s_per_100k=[0-9.]*' | cut -d= -f2)"
        done
    done
} | tee "$OUT/summary.md"
echo "results: $OUT" >&2
