#!/usr/bin/env bash
# Builds (if needed) and runs all lokiqt benchmarks against a loopback receiver, and prints a Markdown table
# for README.md. One command:
#
#   benchmarks/run.sh                       # lokiqt-receiver --count-only, 200k entries x 3 runs per format
#   benchmarks/run.sh --sink peer           # shared/peer-bench's epoll sink instead (reports body B/entry itself)
#   benchmarks/run.sh --count 1000000 --runs 5 --memory-count 10000000
#   benchmarks/run.sh --quick               # 50k entries, 1 run, short handler and memory runs (a smoke test)
#
# End-to-end: lokiqt-bench, 3 runs per format (protobuf+snappy, json, json+gzip), interleaved run by run, with
# synthetic 100-byte lines and, when ../shared/data/android_2k.log exists, with that corpus. Medians per
# metric. The receiver's CPU time (from /proc/<pid>/stat, before and after each run) shows whether it was the
# bottleneck. Body B/entry comes from the peer sink's /stats (lokiqt-receiver does not count body bytes and
# the client does not expose them): with --sink qt, one extra run per row goes to a peer sink for it.
# Then lokiqt-handler-bench and lokiqt-memory-bench. Results: <build>/bench-results/<timestamp>.{md,tsv}.
#
# Environment: BUILD_DIR (default <repo>/build-bench), CMAKE_BUILD_TYPE (default Release).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-bench}
SHARED=$ROOT/../shared
COUNT=200000
RUNS=3
SINK=qt
LINE_BYTES=100
HANDLER_MESSAGES=200000
MEMORY_COUNT=10000000
INPUT=$SHARED/data/android_2k.log
EXTRA=()

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [[ $# -gt 0 ]]; do
    case $1 in
    --count) COUNT=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --sink) SINK=$2; shift 2 ;;
    --line-bytes) LINE_BYTES=$2; shift 2 ;;
    --input) INPUT=$2; shift 2 ;;
    --no-input) INPUT=; shift ;;
    --handler-messages) HANDLER_MESSAGES=$2; shift 2 ;;
    --memory-count) MEMORY_COUNT=$2; shift 2 ;;
    --bench-args) read -r -a EXTRA <<<"$2"; shift 2 ;; # e.g. "--batch-entries 300"
    --quick) COUNT=50000; RUNS=1; HANDLER_MESSAGES=40000; MEMORY_COUNT=1000000; shift ;;
    -h | --help) usage 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage 2 ;;
    esac
done
[[ $SINK == qt || $SINK == peer ]] || { echo "run.sh: --sink qt|peer" >&2; exit 2; }

log() { echo "== $*" >&2; }

# --- build ----------------------------------------------------------------------------------------------------
if [[ ! -f $BUILD/CMakeCache.txt ]]; then
    cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}" \
        -DLOKIQT_BUILD_BENCHMARKS=ON -DLOKIQT_BUILD_TESTS=OFF -DLOKIQT_BUILD_EXAMPLES=OFF \
        -DLOKIQT_WARNINGS_AS_ERRORS=ON >&2
fi
cmake --build "$BUILD" --target lokiqt-bench lokiqt-handler-bench lokiqt-memory-bench lokiqt-encode-floor >&2
BIN=$BUILD/bin
# The receiver lives in tests/support; if that folder does not build right now, an earlier binary will do.
cmake --build "$BUILD" --target lokiqt-receiver >&2 || log "lokiqt-receiver did not build; using $BIN/lokiqt-receiver as it is"

PEER_SINK=
if [[ -d $SHARED/peer-bench/sink ]]; then
    mkdir -p "$BUILD/peer-sink"
    cp -r "$SHARED/peer-bench/Makefile" "$SHARED/peer-bench/sink" "$BUILD/peer-sink/"
    chmod -R u+w "$BUILD/peer-sink"
    if make -s -C "$BUILD/peer-sink" build/loki_sink >&2; then PEER_SINK=$BUILD/peer-sink/build/loki_sink; fi
fi
if [[ $SINK == peer && -z $PEER_SINK ]]; then echo "run.sh: --sink peer needs ../shared/peer-bench (and g++, libsnappy-dev, zlib1g-dev)" >&2; exit 2; fi
if [[ $SINK == qt && ! -x $BIN/lokiqt-receiver ]]; then echo "run.sh: no $BIN/lokiqt-receiver" >&2; exit 2; fi

# --- receivers --------------------------------------------------------------------------------------------------
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# start_receiver KIND NAME: starts it on a free port, sets ${NAME}_PID and ${NAME}_URL
start_receiver() {
    local kind=$1 name=$2 portfile=$TMP/$2.port pid
    if [[ $kind == qt ]]; then
        "$BIN/lokiqt-receiver" --count-only --quiet --port 0 --port-file "$portfile" 2>"$TMP/$name.err" &
    else
        "$PEER_SINK" --port 0 --port-file "$portfile" >"$TMP/$name.out" 2>&1 &
    fi
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 200); do [[ -s $portfile ]] && break; sleep 0.05; done
    [[ -s $portfile ]] || { echo "run.sh: $kind receiver did not start" >&2; exit 1; }
    printf -v "${name}_PID" %s "$pid"
    printf -v "${name}_URL" %s "http://127.0.0.1:$(tr -d '\n' <"$portfile")"
}
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
TCK=$(getconf CLK_TCK)

start_receiver "$SINK" MAIN
log "receiver: $SINK at $MAIN_URL (pid $MAIN_PID)"
BYTES_URL=
if [[ $SINK == peer ]]; then
    BYTES_URL=$MAIN_URL
elif [[ -n $PEER_SINK ]]; then
    start_receiver peer BYTES
    : # start_receiver set BYTES_URL
fi

peer_stat() { # peer_stat URL FIELD
    python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1] + "/stats"))[sys.argv[2]])' "$1" "$2"
}
peer_reset() { python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1] + "/reset").read()' "$1"; }

# --- end-to-end -------------------------------------------------------------------------------------------------
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$BUILD/bench-results
mkdir -p "$OUT"
TSV=$OUT/$STAMP.tsv
MD=$OUT/$STAMP.md
printf 'input\tencoding\trun\texit\tentries_per_s\tseconds\tcpu_s\tcpu_s_per_100k\tpeak_rss_mib\tline_b_per_entry\tbody_b_per_entry\treceiver_cpu_s\treceiver_busy\tload1\tnote\n' >"$TSV"

INPUTS=(synthetic)
[[ -n $INPUT && -f $INPUT ]] && INPUTS+=("$INPUT")
FORMATS=("protobuf snappy" "json none" "json gzip")

input_args() { if [[ $1 == synthetic ]]; then echo "--line-bytes $LINE_BYTES"; else echo "--input $1"; fi; }
field() { grep -o "$1=[^ ]*" <<<"$2" | head -1 | cut -d= -f2 || true; }

for input in "${INPUTS[@]}"; do
    for run in $(seq "$RUNS"); do
        for fc in "${FORMATS[@]}"; do
            read -r format compression <<<"$fc"
            [[ $SINK == peer ]] && peer_reset "$MAIN_URL"
            load=$(cut -d' ' -f1 /proc/loadavg)
            before=$(cpu_ticks "$MAIN_PID")
            set +e
            # shellcheck disable=SC2046
            "$BIN/lokiqt-bench" --url "$MAIN_URL" --count "$COUNT" $(input_args "$input") --format "$format" \
                --compression "$compression" "${EXTRA[@]}" >/dev/null 2>"$TMP/bench.err"
            rc=$?
            set -e
            after=$(cpu_ticks "$MAIN_PID")
            summary=$(grep '^lokiqt-bench: encoding=' "$TMP/bench.err" || true)
            note=$(grep -v '^lokiqt-bench: encoding=' "$TMP/bench.err" | tr '\n\t' '  ' | cut -c1-200 || true)
            enc=$(field encoding "$summary")
            secs=$(field seconds "$summary")
            rcpu=$(awk -v a="$before" -v b="$after" -v t="$TCK" 'BEGIN{printf "%.2f", (b-a)/t}')
            busy=$(awk -v c="$rcpu" -v s="${secs:-0}" 'BEGIN{ if (s > 0) printf "%.0f%%", 100*c/s; else print "?" }')
            body=
            [[ $SINK == peer ]] && note="$note peer sink formats: $(peer_stat "$MAIN_URL" formats | tr -d "{}' ")"
            [[ $SINK == peer ]] && body=$(awk -v b="$(peer_stat "$MAIN_URL" body_bytes)" -v e="$(peer_stat "$MAIN_URL" entries)" 'BEGIN{ if (e > 0) printf "%.1f", b/e }')
            name=$([[ $input == synthetic ]] && echo "synthetic ${LINE_BYTES} B" || basename "$input")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "${enc:-$format+$compression}" "$run" "$rc" \
                "$(field entries_per_s "$summary")" "$secs" "$(field cpu_s "$summary")" "$(field cpu_s_per_100k "$summary")" \
                "$(field peak_rss_mib "$summary")" "$(field line_bytes_per_entry "$summary")" "$body" "$rcpu" "$busy" "$load" "$note" >>"$TSV"
            log "$name $enc run $run: exit $rc, $(field entries_per_s "$summary") entries/s, receiver CPU $rcpu s ($busy) ${note:+| $note}"
        done
    done
    if [[ $SINK == qt && -n $BYTES_URL ]]; then # body bytes per entry from the peer sink, one run per format
        for fc in "${FORMATS[@]}"; do
            read -r format compression <<<"$fc"
            peer_reset "$BYTES_URL"
            # shellcheck disable=SC2046
            "$BIN/lokiqt-bench" --url "$BYTES_URL" --count "$COUNT" $(input_args "$input") --format "$format" \
                --compression "$compression" "${EXTRA[@]}" >/dev/null 2>"$TMP/bytes.err" || true
            body=$(awk -v b="$(peer_stat "$BYTES_URL" body_bytes)" -v e="$(peer_stat "$BYTES_URL" entries)" 'BEGIN{ if (e > 0) printf "%.1f", b/e }')
            enc=$(field encoding "$(grep '^lokiqt-bench: encoding=' "$TMP/bytes.err")")
            name=$([[ $input == synthetic ]] && echo "synthetic ${LINE_BYTES} B" || basename "$input")
            formats=$(peer_stat "$BYTES_URL" formats | tr -d "{}' ")
            printf '%s\t%s\tbytes\t0\t\t\t\t\t\t\t%s\t\t\t\t%s\n' "$name" "$enc" "$body" "peer sink formats: $formats" >>"$TSV"
            log "$name $enc: body $body B/entry (peer sink; formats $formats)"
        done
    fi
done

# --- medians and the table --------------------------------------------------------------------------------------
{
    echo "## lokiqt end-to-end ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), receiver: $SINK)"
    echo
    echo "\`benchmarks/run.sh --count $COUNT --runs $RUNS --sink $SINK${EXTRA[*]:+ --bench-args \"${EXTRA[*]}\"}\`: $COUNT entries per run,"
    echo "medians of $RUNS runs, LokiClient::sendUtf8() with Block backpressure and the library's default batching."
    echo
    python3 - "$TSV" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
def med(rs, k, fmt):
    vals = [float(r[k]) for r in rs if r[k] not in ("", None)]
    return fmt.format(statistics.median(vals)) if vals else "n/a"
keys = []
for r in rows:
    if (r["input"], r["encoding"]) not in keys and r["run"] != "bytes":
        keys.append((r["input"], r["encoding"]))
print("| input | encoding | entries/s | CPU s/100k | peak RSS MiB | line B/entry | body B/entry | wire format at sink | receiver CPU busy | failed runs |")
print("|---|---|---:|---:|---:|---:|---:|---|---:|---:|")
notes = set()
for inp, enc in keys:
    rs = [r for r in rows if r["input"] == inp and r["encoding"] == enc and r["run"] != "bytes"]
    bs = [r for r in rows if r["input"] == inp and r["encoding"] == enc and r["body_b_per_entry"]]
    busy = [float(r["receiver_busy"].rstrip("%")) for r in rs if r["receiver_busy"].rstrip("%").replace(".", "").isdigit()]
    failed = sum(1 for r in rs if r["exit"] != "0")
    seen = sorted({r["note"].split("formats:", 1)[1].strip() for r in bs if "formats:" in r["note"]})
    for r in rs:
        note = r["note"].split("peer sink formats:", 1)[0].strip()
        if note:
            notes.add(f"{inp} {enc}: {note}")
    print(f"| {inp} | {enc} | {med(rs, 'entries_per_s', '{:,.0f}')} | {med(rs, 'cpu_s_per_100k', '{:.3f}')} | "
          f"{med(rs, 'peak_rss_mib', '{:.1f}')} | {med(rs, 'line_b_per_entry', '{:.1f}')} | "
          f"{med(bs, 'body_b_per_entry', '{:.1f}')} | {' '.join(seen) or 'n/a'} | {statistics.median(busy) if busy else 0:.0f}% | {failed}/{len(rs)} |")
if notes:
    print()
    for n in sorted(notes):
        print(f"* {n}")
EOF
    echo
    # The CPU floor: encoding the same lines into push bodies and nothing else (lokiqt-encode-floor).
    echo "CPU floor (the encoder alone, batches of 2,000, no queue, thread or network; CPU s/100k):"
    echo
    for input in "${INPUTS[@]}"; do
        [[ $input == synthetic ]] && continue
        for f in protobuf json json-gzip; do
            line=$("$BIN/lokiqt-encode-floor" --input "$input" --count "$COUNT" --format "$f" 2>/dev/null) || continue
            echo "* $(basename "$input") $f: $(grep -o 'cpu_s_per_100k=[0-9.]*' <<<"$line" | cut -d= -f2)"
        done
    done
    echo
    echo "entries/s: acknowledged entries / (close() returned - BENCH_START); CPU: the bench process over the same"
    echo "window (getrusage, includes line generation); receiver CPU busy: receiver CPU time / run time (near 100%"
    echo "means the receiver was the bottleneck). Per-run rows: $TSV"
    echo
} >"$MD"

log "lokiqt-handler-bench --messages $HANDLER_MESSAGES"
"$BIN/lokiqt-handler-bench" --url "$MAIN_URL" --messages "$HANDLER_MESSAGES" >>"$MD" || log "handler bench reported undelivered messages"
echo >>"$MD"
log "lokiqt-memory-bench --count $MEMORY_COUNT"
{
    echo "### Memory with the receiver down (DropOldest)"
    echo
    echo '```'
    "$BIN/lokiqt-memory-bench" --url http://127.0.0.1:9 --count "$MEMORY_COUNT" --queue-capacity 10000 || echo "(memory bench: counters inconsistent)"
    echo '```'
} >>"$MD"

cat "$MD"
log "results: $MD"
