#!/usr/bin/env bash
# What the disk spool costs: lokiqt-bench in memory and through a spool with each sync policy, interleaved run
# by run in one session against one lokiqt-receiver --count-only on loopback. Prints a Markdown table of the
# medians: entries/s end to end and the client's CPU seconds per 100k entries, and each as a ratio to memory.
#
#   benchmarks/spool.sh                     # 200k 100-byte entries, 3 runs per row
#   benchmarks/spool.sh --count 500000 --runs 5 --input ../shared/data/android_2k.log
#   benchmarks/spool.sh --count 400000 --rate 200000   # an application that logs steadily, 2 s a run
#
# The spool lives in <build>/spool-bench (on the disk the build is on: a tmpfs would hide what a sync costs).
# After the table, the floor of that disk (lokiqt-spool-floor, same entries): what putting the spool's bytes
# through the page cache costs with no client around it, and memory mode's CPU plus that floor as a ratio, the
# least any spool that keeps its entries in files can cost.
# Without --rate every run sends as fast as send() returns (a burst: all written before much is delivered);
# with it, at that many entries per second (lokiqt-bench --rate), where deliveries keep up with the writing.
# Environment: BUILD_DIR (default <repo>/build-bench).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-bench}
COUNT=200000
RUNS=3
INPUT=()
RATE=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --count) COUNT=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --input) INPUT=(--input "$2"); shift 2 ;;
    --rate) RATE=(--rate "$2"); shift 2 ;;
    *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done

if [[ ! -f $BUILD/CMakeCache.txt ]]; then
    cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOKIQT_BUILD_BENCHMARKS=ON \
        -DLOKIQT_BUILD_TESTS=OFF -DLOKIQT_BUILD_EXAMPLES=OFF >&2
fi
cmake --build "$BUILD" --target lokiqt-bench lokiqt-receiver lokiqt-spool-floor >&2
BIN=$BUILD/bin
TMP=$(mktemp -d)
trap 'kill "$RECEIVER" 2>/dev/null || true; rm -rf "$TMP" "$BUILD/spool-bench"' EXIT

"$BIN/lokiqt-receiver" --count-only --quiet --port 0 --port-file "$TMP/port" 2>"$TMP/receiver.err" &
RECEIVER=$!
for _ in $(seq 100); do [[ -s $TMP/port ]] && break; sleep 0.1; done
URL="http://127.0.0.1:$(cat "$TMP/port")"

ROWS=(memory never interval batch)
for run in $(seq "$RUNS"); do
    for row in "${ROWS[@]}"; do
        args=(--url "$URL" --count "$COUNT" "${INPUT[@]}" "${RATE[@]}")
        [[ $row == memory ]] || args+=(--spool-dir "$BUILD/spool-bench" --spool-sync "$row")
        "$BIN/lokiqt-bench" "${args[@]}" >/dev/null 2>"$TMP/out"
        line=$(grep '^lokiqt-bench: encoding' "$TMP/out")
        rate=$(sed -n 's/.* entries_per_s=\([0-9.]*\).*/\1/p' <<<"$line")
        cpu=$(sed -n 's/.* cpu_s_per_100k=\([0-9.]*\).*/\1/p' <<<"$line")
        echo "$row $rate $cpu" >>"$TMP/results"
        echo "run $run $row: $rate entries/s, $cpu CPU s/100k" >&2
    done
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
base_rate=$(awk '$1=="memory"{print $2}' "$TMP/results" | median)
base_cpu=$(awk '$1=="memory"{print $3}' "$TMP/results" | median)
echo "| mode | entries/s | vs memory | client CPU s / 100k | vs memory |"
echo "|---|---:|---:|---:|---:|"
for row in "${ROWS[@]}"; do
    rate=$(awk -v r="$row" '$1==r{print $2}' "$TMP/results" | median)
    cpu=$(awk -v r="$row" '$1==r{print $3}' "$TMP/results" | median)
    name=$row
    [[ $row == memory ]] || name="spool, sync $row"
    awk -v n="$name" -v r="$rate" -v c="$cpu" -v br="$base_rate" -v bc="$base_cpu" \
        'BEGIN { printf "| %s | %.0f | %.2f | %.4f | %.2f |\n", n, r, r / br, c, c / bc }'
done
echo "($COUNT entries x $RUNS runs${RATE:+ at ${RATE[1]} entries/s}, medians; $(nproc) cores, $(uname -r))"
echo
echo "Floor of this disk (lokiqt-spool-floor --count $COUNT, medians of 5): CPU s/100k, and memory + floor vs memory"
# The same lines as lokiqt-bench: the corpus when --input is given, else its synthetic 100-byte lines.
"$BIN/lokiqt-spool-floor" --dir "$BUILD/spool-bench/floor" --count "$COUNT" "${INPUT[@]}" |
    while read -r _ way _ record cpu; do
        awk -v w="${way#way=}" -v r="${record#record_bytes=}" -v c="${cpu#cpu_s_per_100k=}" -v bc="$base_cpu" \
            'BEGIN { printf "- %s: %.4f (%.2fx memory; %s B/record)\n", w, c, (bc + c) / bc, r }'
    done
