#!/usr/bin/env bash
# bench-compare.sh: lokiqt baseline (OLD) against a refactor (NEW) on this machine, in the same session.
#
#   benchmarks/compare.sh OLD-BUILD NEW-BUILD [options]      (or OLD=... NEW=... benchmarks/compare.sh)
#   e.g. a baseline:  git worktree add --detach ../lokiqt-base <commit> &&
#                     benchmarks/compare.sh --build-old ../lokiqt-base --build-new . build-cmp-old build-cmp-new
#
# OLD and NEW are CMake build dirs (Release, benchmarks on: <dir>/bin/lokiqt-bench, lokiqt-handler-bench,
# lokiqt-memory-bench; OLD also needs bin/lokiqt-receiver). Nothing is built: a stale build is reported.
#   1. peer-bench: ONE bench.py invocation, clients promtail, fluentbit, lokiqt-old, lokiqt-new, interleaved
#      run by run; android_2k.log, --count, --peer-runs. Same as shared/peer-bench/run-all.sh --no-peers ...,
#      but without run-all.sh's npm install of the Node peers (not used with --no-peers).
#   2. lokiqt-bench as benchmarks/run.sh runs it (synthetic 100 B and android_2k.log x protobuf+snappy, json,
#      json+gzip) against OLD's lokiqt-receiver --count-only, OLD and NEW interleaved run by run.
#   3. lokiqt-handler-bench and lokiqt-memory-bench, OLD and NEW alternated, --rounds times.
#   4. (--runsh) the baseline's benchmarks/run.sh, OLD then NEW back to back (no build step; results outside
#      the build dirs). Off by default: it repeats 2-3 sequentially instead of interleaved.
# Only command-line options that exist in the baseline (9722edd) programs are used.
# Options: --count N (200000: peer-bench and --runsh)  --peer-runs N (5)  --e2e-count N (1000000, part 2: runs
#   of 200k last 0.1-0.3 s and scatter +-30% on this machine)  --runs N (7, part 2)  --rounds N (5, part 3)
#   --handler-messages N (400000)  --memory-count N (10000000)  --runsh  --no-peer  --quick  --out DIR
#   --wait-quiet S: first wait up to S seconds for load1 < 1.5 (other processes' load makes entries/s useless)
#   --nice N (-10: the benches run at nice N, ahead of other processes; 0: leave it)
#   --build-new SRC: first configure and build the source tree SRC into NEW (Release, tests and examples off,
#   the way --build-old builds OLD); a RelWithDebInfo build/ is -O2: do not compare it with a Release one.
#   --build-old SRC: the same for OLD.
# Output: the tables on stdout, progress on stderr, everything under --out (default
# <repo>/build-compare/<UTC stamp>/). Needs ../shared (peer-bench, the corpus, promtail and Fluent Bit).
set -euo pipefail

T0=$(date +%s)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${LOKIQT_SHARED_DIR:-$ROOT/../shared}
PEER_SRC=$SHARED/peer-bench
CORPUS=$SHARED/data/android_2k.log
BASE_COMMIT=9722edd # the commit whose benchmarks/run.sh --runsh runs (its options exist in both builds)
BASE_REPO=$ROOT
BUILD_OLD_SRC=
COUNT=200000
E2E_COUNT=1000000
PEER_RUNS=5
RUNS=7
ROUNDS=5
HANDLER_MESSAGES=400000
MEMORY_COUNT=10000000
RUNSH=0
PEER=1
BUILD_NEW_SRC=
NICE=-10
WAIT_QUIET=0
OUT=
POS=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --count) COUNT=$2; shift 2 ;;
    --e2e-count) E2E_COUNT=$2; shift 2 ;;
    --peer-runs) PEER_RUNS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --handler-messages) HANDLER_MESSAGES=$2; shift 2 ;;
    --memory-count) MEMORY_COUNT=$2; shift 2 ;;
    --runsh) RUNSH=1; shift ;;
    --no-runsh) RUNSH=0; shift ;;
    --no-peer) PEER=0; shift ;;
    --quick) COUNT=50000; E2E_COUNT=50000; PEER_RUNS=1; RUNS=1; ROUNDS=1; HANDLER_MESSAGES=40000; MEMORY_COUNT=1000000; shift ;;
    --out) OUT=$2; shift 2 ;;
    --nice) NICE=$2; shift 2 ;;
    --wait-quiet) WAIT_QUIET=$2; shift 2 ;;
    --build-new) BUILD_NEW_SRC=$2; shift 2 ;;
    --build-old) BUILD_OLD_SRC=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench-compare: unknown option $1" >&2; exit 2 ;;
    *) POS+=("$1"); shift ;;
    esac
done
OLD=${POS[0]:-${OLD:-}}
NEW=${POS[1]:-${NEW:-}}
[[ -n $OLD && -n $NEW ]] || { echo "bench-compare: give OLD and NEW build dirs" >&2; exit 2; }
[[ -d $SHARED/peer-bench ]] || { echo "bench-compare: no $SHARED/peer-bench (set LOKIQT_SHARED_DIR)" >&2; exit 2; }
build_release() { # Release, tests and examples off; not counted in the timings
    echo "bench-compare: building $1 into $2 (Release)" >&2
    cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOKIQT_BUILD_TESTS=OFF \
        -DLOKIQT_BUILD_EXAMPLES=OFF -DLOKIQT_BUILD_BENCHMARKS=ON -DLOKIQT_BUILD_TOOLS=ON >&2
    cmake --build "$2" --parallel 2 --target lokiqt-bench lokiqt-handler-bench lokiqt-memory-bench \
        lokiqt-receiver >&2
    T0=$(date +%s)
}
[[ -z $BUILD_OLD_SRC ]] || build_release "$BUILD_OLD_SRC" "$OLD"
[[ -z $BUILD_NEW_SRC ]] || build_release "$BUILD_NEW_SRC" "$NEW"
OLD=$(cd "$OLD" && pwd) || exit 2
NEW=$(cd "$NEW" && pwd) || exit 2
OUT=${OUT:-$ROOT/build-compare/$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

log() { echo "[$(date -u +%H:%M:%S) +$(($(date +%s) - T0))s load $(cut -d' ' -f1-3 /proc/loadavg)] $*" >&2; }
die() { echo "bench-compare: $*" >&2; exit 2; }

# Other processes share the cores: run everything (script, sink, receiver, all clients) at a higher
# priority than theirs, so that their load takes less of the benchmarks' CPU. Children inherit it.
if [[ $NICE != 0 ]]; then
    renice -n "$NICE" -p $$ >/dev/null 2>&1 || { echo "bench-compare: renice $NICE failed (not root?); running at nice $(ps -o ni= -p $$)" >&2; }
fi
if ((WAIT_QUIET > 0)); then # wait (at most WAIT_QUIET s) for the 1-minute load to drop below 1.5
    end=$(($(date +%s) + WAIT_QUIET))
    while awk '{exit !($1 >= 1.5)}' /proc/loadavg && (($(date +%s) < end)); do
        echo "bench-compare: load $(cut -d' ' -f1 /proc/loadavg), waiting for < 1.5 (until $(date -u -d @$end +%H:%M:%S))" >&2
        sleep 15
    done
    T0=$(date +%s)
fi
# one run at a time on this machine
exec 9>/tmp/bench-compare.lock
flock -n 9 || { log "another bench-compare is running; waiting"; flock 9; }

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# --- checks -----------------------------------------------------------------------------------------------------
declare -A SKIP=()
describe() { # describe NAME DIR -> a line about the build (source, commit, type, staleness)
    local name=$1 dir=$2 src type commit dirty stale sanit
    [[ -f $dir/CMakeCache.txt ]] || die "$name=$dir: no CMakeCache.txt"
    src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$dir/CMakeCache.txt")
    type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$dir/CMakeCache.txt")
    sanit=$(sed -n 's/^LOKIQT_SANITIZE:[A-Z]*=//p' "$dir/CMakeCache.txt")
    commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo '?')
    dirty=$( (git -C "$src" status --porcelain --untracked-files=no 2>/dev/null || true) | wc -l)
    stale=$(ninja -C "$dir" -n lokiqt-bench lokiqt-handler-bench lokiqt-memory-bench 2>/dev/null | grep -c '^\[' || true)
    echo "$name $dir: source $src @ $commit ($dirty modified tracked files), CMAKE_BUILD_TYPE=${type:-?}${sanit:+ SANITIZE=$sanit}, bench targets out of date: ${stale:-?} steps"
    [[ $type == Release ]] || echo "  WARNING: $name is not a Release build: the comparison means little"
    [[ -z $sanit ]] || echo "  WARNING: $name is built with sanitizers"
    [[ ${stale:-0} == 0 ]] || echo "  WARNING: $name's binaries are older than its sources (rebuild it: cmake --build $dir)"
    return 0
}
has_opts() { # has_opts BINARY OPT... : all options appear in its --help
    local help
    help=$("$1" --help 2>&1) || true
    for o in "${@:2}"; do grep -qE -- "(^|[ ,])$o( |=|,|$)" <<<"$help" || { echo "$o"; return 1; }; done
}
{
    echo "# bench-compare $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), $(nproc) cores, nice $(ps -o ni= -p $$ | tr -d ' '); uptime:$(uptime | sed 's/^[^,]*up/ up/')"
    describe OLD "$OLD"
    describe NEW "$NEW"
} | tee "$OUT/header.txt" >&2
for b in OLD NEW; do
    d=${!b}/bin
    for p in lokiqt-bench lokiqt-handler-bench lokiqt-memory-bench; do [[ -x $d/$p ]] || die "no $d/$p"; done
    miss=$(has_opts "$d/lokiqt-bench" --url --count --input --line-bytes --format --compression) ||
        { echo "  WARNING: $b's lokiqt-bench lacks $miss: parts 1-2 skipped" | tee -a "$OUT/header.txt" >&2; SKIP[bench]=1; }
    miss=$(has_opts "$d/lokiqt-handler-bench" --url --messages) ||
        { echo "  WARNING: $b's lokiqt-handler-bench lacks $miss: skipped" | tee -a "$OUT/header.txt" >&2; SKIP[handler]=1; }
    miss=$(has_opts "$d/lokiqt-memory-bench" --url --count --queue-capacity) ||
        { echo "  WARNING: $b's lokiqt-memory-bench lacks $miss: skipped" | tee -a "$OUT/header.txt" >&2; SKIP[memory]=1; }
done
RECEIVER=$OLD/bin/lokiqt-receiver
[[ -x $RECEIVER ]] || RECEIVER=$NEW/bin/lokiqt-receiver
[[ -x $RECEIVER ]] || die "no lokiqt-receiver in $OLD/bin or $NEW/bin"
[[ -f $CORPUS ]] || die "no $CORPUS"
echo "settings: count=$COUNT e2e_count=$E2E_COUNT peer_runs=$PEER_RUNS runs=$RUNS rounds=$ROUNDS handler_messages=$HANDLER_MESSAGES memory_count=$MEMORY_COUNT runsh=$RUNSH; results in $OUT" | tee -a "$OUT/header.txt" >&2

PHASES=$OUT/phases.tsv
: >"$PHASES"
phase() { printf '%s\t%s\t%s\n' "$1" "$(($(date +%s) - T0))" "$(cut -d' ' -f1 /proc/loadavg)" >>"$PHASES"; log "$1"; }

# --- 1. peer-bench ----------------------------------------------------------------------------------------------
if [[ $PEER == 1 && -z ${SKIP[bench]:-} ]]; then
    phase "peer-bench start"
    # shellcheck source=peerbench-home.sh
    source "$(dirname "${BASH_SOURCE[0]}")/peerbench-home.sh"
    peerbench_home
    set +e
    (cd "$PB" && python3 bench.py --no-peers \
        --client "promtail=$PEER_SRC/clients/promtail.sh" \
        --client "fluentbit=$PEER_SRC/clients/fluentbit.sh" \
        --client "lokiqt-old=$OLD/bin/lokiqt-bench --url {url} --count {count} --input {input}" \
        --client "lokiqt-new=$NEW/bin/lokiqt-bench --url {url} --count {count} --input {input}" \
        --input "$CORPUS" --count "$COUNT" --runs "$PEER_RUNS" --json-out "$OUT/peer.json") \
        >"$OUT/peer.txt" 2>"$OUT/peer.err"
    echo "peer-bench exit $?" >>"$OUT/peer.txt"
    set -e
    phase "peer-bench end"
fi

# --- receiver for parts 2-3 -------------------------------------------------------------------------------------
"$RECEIVER" --count-only --quiet --port 0 --port-file "$OUT/receiver.port" 2>"$OUT/receiver.err" &
RPID=$!
PIDS+=("$RPID")
for _ in $(seq 200); do [[ -s $OUT/receiver.port ]] && break; sleep 0.05; done
[[ -s $OUT/receiver.port ]] || die "lokiqt-receiver did not start"
URL=http://127.0.0.1:$(tr -d '\n' <"$OUT/receiver.port")
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
TCK=$(getconf CLK_TCK)
ROWS=$OUT/rows.tsv
printf 'part\tbuild\tkey\trun\texit\tv1\tv2\tv3\tv4\tload1\n' >"$ROWS"
field() { grep -o "$1=[^ ]*" <<<"$2" | head -1 | cut -d= -f2 || true; }
order() { if (($1 % 2)); then echo "OLD NEW"; else echo "NEW OLD"; fi; } # alternate who goes first

# --- 2. lokiqt-bench, interleaved -------------------------------------------------------------------------------
if [[ -z ${SKIP[bench]:-} ]]; then
    phase "lokiqt-bench start"
    for run in $(seq "$RUNS"); do
        for input in synthetic "$CORPUS"; do
            for fc in "protobuf snappy" "json none" "json gzip"; do
                read -r format compression <<<"$fc"
                if [[ $input == synthetic ]]; then iargs=(--line-bytes 100); name="synthetic100"; else iargs=(--input "$input"); name=$(basename "$input"); fi
                for b in $(order "$run"); do
                    d=${!b}/bin
                    load=$(cut -d' ' -f1 /proc/loadavg)
                    before=$(cpu_ticks "$RPID")
                    set +e
                    "$d/lokiqt-bench" --url "$URL" --count "$E2E_COUNT" "${iargs[@]}" --format "$format" \
                        --compression "$compression" >/dev/null 2>"$OUT/bench.err"
                    rc=$?
                    set -e
                    after=$(cpu_ticks "$RPID")
                    s=$(grep '^lokiqt-bench: encoding=' "$OUT/bench.err" || true)
                    [[ $rc == 0 ]] || { echo "== $b $name $format+$compression run $run exit $rc"; cat "$OUT/bench.err"; } >>"$OUT/bench-failures.txt"
                    rbusy=$(awk -v a="$before" -v c="$after" -v t="$TCK" -v s="$(field seconds "$s")" 'BEGIN{ if (s > 0) printf "%.0f", 100*(c-a)/t/s; else print "" }')
                    printf 'e2e\t%s\t%s %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$b" "$name" "$(field encoding "$s")" "$run" "$rc" \
                        "$(field entries_per_s "$s")" "$(field cpu_s_per_100k "$s")" "$(field peak_rss_mib "$s")" "$rbusy" "$load" >>"$ROWS"
                done
            done
        done
        log "lokiqt-bench run $run/$RUNS done"
    done
    phase "lokiqt-bench end"
fi

# --- 3. handler and memory benches, alternated ------------------------------------------------------------------
if [[ -z ${SKIP[handler]:-} || -z ${SKIP[memory]:-} ]]; then
    phase "handler+memory start"
    for round in $(seq "$ROUNDS"); do
        for b in $(order "$round"); do
            d=${!b}/bin
            if [[ -z ${SKIP[handler]:-} ]]; then
                load=$(cut -d' ' -f1 /proc/loadavg)
                set +e
                "$d/lokiqt-handler-bench" --url "$URL" --messages "$HANDLER_MESSAGES" >"$OUT/handler-$b-$round.md" 2>"$OUT/handler-$b-$round.err"
                rc=$?
                set -e
                # | lokiqt | threads | messages/s | ns/message wall | CPU ns/message | caller CPU ns/message | sent / dropped | ...
                awk -F'|' -v b="$b" -v r="$round" -v rc="$rc" -v l="$load" '$2 ~ /^ *lokiqt *$/ {
                    gsub(/ /, "", $3); gsub(/ /, "", $4); gsub(/ /, "", $6); gsub(/ /, "", $7); gsub(/ /, "", $5)
                    printf "handler\t%s\tthreads=%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b, $3, r, rc, $4, $6, $7, $5, l }' \
                    "$OUT/handler-$b-$round.md" >>"$ROWS"
            fi
            if [[ -z ${SKIP[memory]:-} ]]; then
                load=$(cut -d' ' -f1 /proc/loadavg)
                set +e
                "$d/lokiqt-memory-bench" --url http://127.0.0.1:9 --count "$MEMORY_COUNT" --queue-capacity 10000 \
                    >"$OUT/memory-$b-$round.txt" 2>"$OUT/memory-$b-$round.err"
                rc=$?
                set -e
                m=$OUT/memory-$b-$round.txt
                peak=$(sed -n 's/.*peak RSS (ru_maxrss): *\([0-9.]*\) MiB = baseline + \([0-9.]*\) MiB.*/\1 \2/p' "$m")
                rate=$(sed -n 's/.*offered in [0-9.]* s (\([0-9]*\)\/s, CPU \([0-9.]*\) s).*/\1 \2/p' "$m")
                printf 'memory\t%s\tqueue=10000\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$b" "$round" "$rc" "${peak% *}" "${peak#* }" \
                    "${rate% *}" "${rate#* }" "$load" >>"$ROWS"
            fi
        done
        log "handler/memory round $round/$ROUNDS done"
    done
    phase "handler+memory end"
fi
kill "$RPID" 2>/dev/null || true

# --- 4. the baseline's run.sh, back to back ---------------------------------------------------------------------
if [[ $RUNSH == 1 ]]; then
    phase "run.sh start"
    TOOLS=$OUT/runsh-root
    mkdir -p "$TOOLS/benchmarks"
    # the baseline's run.sh, without its build steps, writing its results and peer sink under $OUT
    git -C "$BASE_REPO" show "$BASE_COMMIT:benchmarks/run.sh" |
        sed -e 's|^cmake --build .*|: # bench-compare: no build|' \
            -e 's#\$BUILD/peer-sink#$PEER_SINK_DIR#g' \
            -e 's#^OUT=\$BUILD/bench-results#OUT=$BENCH_OUT#' >"$TOOLS/benchmarks/run.sh"
    chmod +x "$TOOLS/benchmarks/run.sh"
    ! grep -q 'cmake --build\|\$BUILD/peer-sink\|^OUT=\$BUILD' "$TOOLS/benchmarks/run.sh" || die "run.sh patch did not apply"
    ln -sfn "$SHARED" "$OUT/shared" # run.sh looks for ../shared next to its root
    for b in OLD NEW; do
        set +e
        BUILD_DIR=${!b} BENCH_OUT=$OUT/runsh-$b PEER_SINK_DIR=$OUT/runsh-$b/peer-sink \
            "$TOOLS/benchmarks/run.sh" --count "$COUNT" >"$OUT/runsh-$b.md" 2>"$OUT/runsh-$b.err"
        echo "run.sh exit $?" >>"$OUT/runsh-$b.err"
        set -e
        log "run.sh $b done"
    done
    phase "run.sh end"
fi

phase "total"

# --- tables -----------------------------------------------------------------------------------------------------
python3 - "$OUT" "$COUNT" "$E2E_COUNT" "$PEER_RUNS" "$RUNS" "$ROUNDS" "$HANDLER_MESSAGES" "$MEMORY_COUNT" <<'EOF' | tee "$OUT/summary.txt"
import csv, glob, json, os, statistics as st, sys
out, count, e2e_count, peer_runs, runs, rounds, hmsg, mcount = sys.argv[1:9]
med = lambda xs: st.median(xs) if xs else float("nan")
worse = []  # (what, ratio, limit text)

def ratio(n, o):
    return n / o if o and o == o and n == n else float("nan")

def flag(what, r, higher_is_better, pr=None):
    """r: ratio of the medians; pr: median of the run-by-run (paired) ratios. Flagged when both are >10% worse."""
    isbad = lambda x: (x < 0.90) if higher_is_better else (x > 1.10)
    bad = isbad(r) and (pr is None or pr != pr or isbad(pr))
    if bad:
        worse.append(f"{what}: new/old {r:.2f}" + (f" (paired {pr:.2f})" if pr is not None else ""))
    return "  <-- >10% worse" if bad else ""

print(open(os.path.join(out, "header.txt")).read().rstrip())
print()
phases = [l.rstrip("\n").split("\t") for l in open(os.path.join(out, "phases.tsv"))]
print("phases (s since start, load1): " + ", ".join(f"{p} {t}s/{l}" for p, t, l in phases))
print()

# 1. peer-bench
pj = os.path.join(out, "peer.json")
if os.path.exists(pj):
    d = json.load(open(pj))
    m, runs_ = d["medians"], d["runs"]
    loads = [r["loadavg_1m"] for rs in runs_.values() for r in rs]
    print(f"## 1. peer-bench, one invocation: android_2k.log, {count} entries, medians of {peer_runs} runs "
          f"(load1 {min(loads):.1f}-{max(loads):.1f}), clients interleaved run by run")
    print(f"{'client':<12}{'entries/s':>12}{'CPU s/100k':>12}{'peak RSS MiB':>14}{'body B/entry':>14}{'complete':>10}"
          f"   per-run entries/s")
    for name, r in m.items():
        per = " ".join(f"{x['entries_per_s']:.0f}" for x in runs_[name])
        print(f"{name:<12}{r['entries_per_s']:>12,.0f}{r['cpu_s_per_100k']:>12.3f}{r['max_rss_mib']:>14.1f}"
              f"{r['bytes_per_entry']:>14.1f}{str(r['complete_runs']) + '/' + peer_runs:>10}   {per}")
    if "lokiqt-old" in m and "lokiqt-new" in m:
        o, n = m["lokiqt-old"], m["lokiqt-new"]
        re, rc, rr = (ratio(n[k], o[k]) for k in ("entries_per_s", "cpu_s_per_100k", "max_rss_mib"))
        pp = {k: [ratio(a[k], b[k]) for a, b in zip(runs_["lokiqt-new"], runs_["lokiqt-old"])]
              for k in ("entries_per_s", "cpu_s_per_100k", "max_rss_mib")}
        pe, pc, prr = (med(pp[k]) for k in ("entries_per_s", "cpu_s_per_100k", "max_rss_mib"))
        print(f"{'new/old':<12}{re:>12.2f}{rc:>12.2f}{rr:>14.2f}"
              f"{flag('peer-bench entries/s', re, True, pe)}{flag('peer-bench CPU/100k', rc, False, pc)}"
              f"{flag('peer-bench peak RSS', rr, False, prr)}")
        print(f"{'  paired':<12}{pe:>12.2f}{pc:>12.2f}{prr:>14.2f}   (median of run-by-run new/old)")
        print(f"  per-run new/old entries/s: {' '.join(f'{x:.2f}' for x in pp['entries_per_s'])}; "
              f"CPU: {' '.join(f'{x:.2f}' for x in pp['cpu_s_per_100k'])}")
        for peer in ("promtail", "fluentbit"):
            if peer in m:
                p = m[peer]
                print(f"  vs {peer}: lokiqt-old x{ratio(o['entries_per_s'], p['entries_per_s']):.1f} entries/s, "
                      f"x{ratio(o['cpu_s_per_100k'], p['cpu_s_per_100k']):.2f} CPU/entry, x{ratio(o['max_rss_mib'], p['max_rss_mib']):.2f} RSS; "
                      f"lokiqt-new x{ratio(n['entries_per_s'], p['entries_per_s']):.1f} / x{ratio(n['cpu_s_per_100k'], p['cpu_s_per_100k']):.2f}"
                      f" / x{ratio(n['max_rss_mib'], p['max_rss_mib']):.2f}")
    tail = open(os.path.join(out, "peer.txt")).read().strip().splitlines()[-1]
    if tail != "peer-bench exit 0":
        print(f"  NOTE: {tail} (an incomplete run; see {out}/peer.txt, peer.err)")
    print()

rows = list(csv.DictReader(open(os.path.join(out, "rows.tsv")), delimiter="\t"))
def vals(part, b, key, col):
    return [float(r[col]) for r in rows if r["part"] == part and r["build"] == b and r["key"] == key and r[col] not in ("", None)]
def keys(part):
    ks = []
    for r in rows:
        if r["part"] == part and r["key"] not in ks:
            ks.append(r["key"])
    return ks
def pairs(part, key, col):
    o = {r["run"]: float(r[col]) for r in rows if r["part"] == part and r["build"] == "OLD" and r["key"] == key and r[col]}
    n = {r["run"]: float(r[col]) for r in rows if r["part"] == part and r["build"] == "NEW" and r["key"] == key and r[col]}
    return [n[k] / o[k] for k in o if k in n and o[k]]

# 2. lokiqt-bench
if keys("e2e"):
    loads = [float(r["load1"]) for r in rows if r["part"] == "e2e"]
    fails = sum(1 for r in rows if r["part"] == "e2e" and r["exit"] != "0")
    print(f"## 2. lokiqt-bench (run.sh's end-to-end part), lokiqt-receiver --count-only, {e2e_count} entries, medians of "
          f"{runs} runs, OLD/NEW interleaved (load1 {min(loads):.1f}-{max(loads):.1f}; failed runs {fails})")
    print(f"{'input encoding':<32}{'entries/s old':>14}{'new':>11}{'new/old':>8} {'paired [range]':<16}"
          f"{'CPU s/100k old':>15}{'new':>7}{'n/o':>6}{'RSS MiB old':>12}{'new':>6}{'n/o':>6}{'rcv%':>6}")
    for k in keys("e2e"):
        eo, en = med(vals("e2e", "OLD", k, "v1")), med(vals("e2e", "NEW", k, "v1"))
        co, cn = med(vals("e2e", "OLD", k, "v2")), med(vals("e2e", "NEW", k, "v2"))
        ro, rn = med(vals("e2e", "OLD", k, "v3")), med(vals("e2e", "NEW", k, "v3"))
        busy = med(vals("e2e", "OLD", k, "v4") + vals("e2e", "NEW", k, "v4"))
        pr = pairs("e2e", k, "v1")
        rng = f"{med(pr):.2f} [{min(pr):.2f}-{max(pr):.2f}]" if pr else ""
        re, rc, rr = ratio(en, eo), ratio(cn, co), ratio(rn, ro)
        fl = flag(f"lokiqt-bench {k} entries/s", re, True, med(pr)) + \
            flag(f"lokiqt-bench {k} CPU/100k", rc, False, med(pairs("e2e", k, "v2"))) + \
            flag(f"lokiqt-bench {k} peak RSS", rr, False, med(pairs("e2e", k, "v3")))
        print(f"{k:<32}{eo:>14,.0f}{en:>11,.0f}{re:>8.2f} {rng:<16}{co:>15.3f}{cn:>7.3f}{rc:>6.2f}"
              f"{ro:>12.1f}{rn:>6.1f}{rr:>6.2f}{busy:>5.0f}%{fl}")
    print("  (lokiqt-bench's own figures, BENCH_START to close(); paired: median and range of the run-by-run new/old;")
    print("   rcv% = receiver CPU / run time; a row is flagged only when the ratio of medians and the paired median agree)")
    print()

# 3. handler + memory
if keys("handler"):
    print(f"## 3a. lokiqt-handler-bench, LokiMessageHandler rows (Block), {hmsg} messages per case, medians of {rounds} rounds")
    print(f"{'threads':<12}{'msg/s old':>12}{'new':>12}{'n/o':>6}{'CPU ns/msg old':>16}{'new':>7}{'n/o':>6}"
          f"{'caller CPU ns old':>19}{'new':>7}{'n/o':>6}")
    for k in keys("handler"):
        mo, mn = med(vals("handler", "OLD", k, "v1")), med(vals("handler", "NEW", k, "v1"))
        co, cn = med(vals("handler", "OLD", k, "v2")), med(vals("handler", "NEW", k, "v2"))
        ko, kn = med(vals("handler", "OLD", k, "v3")), med(vals("handler", "NEW", k, "v3"))
        rm, rc, rk = ratio(mn, mo), ratio(cn, co), ratio(kn, ko)
        fl = flag(f"handler {k} msg/s", rm, True, med(pairs("handler", k, "v1"))) + \
            flag(f"handler {k} CPU/msg", rc, False, med(pairs("handler", k, "v2")))
        print(f"{k:<12}{mo:>12,.0f}{mn:>12,.0f}{rm:>6.2f}{co:>16.0f}{cn:>7.0f}{rc:>6.2f}{ko:>19.0f}{kn:>7.0f}{rk:>6.2f}{fl}")
    bad = [r for r in rows if r["part"] == "handler" and r["exit"] != "0"]
    if bad:
        print(f"  NOTE: {len(bad)} handler rows from runs that exited non-zero (undelivered messages)")
    print()
if keys("memory"):
    print(f"## 3b. lokiqt-memory-bench, receiver down, DropOldest, queue 10000, {mcount} entries, medians of {rounds} rounds")
    print(f"{'':<12}{'peak RSS MiB old':>18}{'new':>7}{'n/o':>6}{'over bare old':>15}{'new':>7}{'n/o':>6}"
          f"{'offer/s old':>13}{'new':>11}{'n/o':>6}")
    k = "queue=10000"
    po, pn = med(vals("memory", "OLD", k, "v1")), med(vals("memory", "NEW", k, "v1"))
    bo, bn = med(vals("memory", "OLD", k, "v2")), med(vals("memory", "NEW", k, "v2"))
    so, sn = med(vals("memory", "OLD", k, "v3")), med(vals("memory", "NEW", k, "v3"))
    rp, rb, rs = ratio(pn, po), ratio(bn, bo), ratio(sn, so)
    fl = flag("memory-bench peak RSS", rp, False, med(pairs("memory", k, "v1")))
    print(f"{'':<12}{po:>18.1f}{pn:>7.1f}{rp:>6.2f}{bo:>15.1f}{bn:>7.1f}{rb:>6.2f}{so:>13,.0f}{sn:>11,.0f}{rs:>6.2f}{fl}")
    bad = [r for r in rows if r["part"] == "memory" and r["exit"] != "0"]
    if bad:
        print(f"  NOTE: {len(bad)} memory runs exited non-zero (counters inconsistent)")
    print()

# 4. run.sh
tsvs = {}
for b in ("OLD", "NEW"):
    t = sorted(glob.glob(os.path.join(out, f"runsh-{b}", "*.tsv")))
    if t:
        tsvs[b] = [r for r in csv.DictReader(open(t[-1]), delimiter="\t") if r["run"] != "bytes"]
if len(tsvs) == 2:
    print(f"## 4. baseline benchmarks/run.sh --count {count}, OLD then NEW back to back (full tables: {out}/runsh-*.md)")
    print(f"{'input encoding':<32}{'entries/s old':>14}{'new':>11}{'n/o':>6}{'CPU s/100k old':>16}{'new':>7}{'n/o':>6}"
          f"{'RSS old':>9}{'new':>6}{'n/o':>6}")
    ks = []
    for r in tsvs["OLD"]:
        if (r["input"], r["encoding"]) not in ks:
            ks.append((r["input"], r["encoding"]))
    for inp, enc in ks:
        def m(b, col):
            return med([float(r[col]) for r in tsvs[b] if r["input"] == inp and r["encoding"] == enc and r[col]])
        eo, en, co, cn, ro, rn = m("OLD", "entries_per_s"), m("NEW", "entries_per_s"), m("OLD", "cpu_s_per_100k"), \
            m("NEW", "cpu_s_per_100k"), m("OLD", "peak_rss_mib"), m("NEW", "peak_rss_mib")
        print(f"{inp + ' ' + enc:<32}{eo:>14,.0f}{en:>11,.0f}{ratio(en, eo):>6.2f}{co:>16.3f}{cn:>7.3f}{ratio(cn, co):>6.2f}"
              f"{ro:>9.1f}{rn:>6.1f}{ratio(rn, ro):>6.2f}")
    print("  (sequential, not interleaved: drift in machine load lands in these ratios; trust part 2 more)")
    print()

print("## verdict (limit: 10% worse; on 2 shared cores differences under 10-15% are noise, see per-run ranges)")
print("  " + ("; ".join(worse) if worse else "no metric more than 10% worse"))
busy = max([float(l) for _, _, l in phases] + [float(r["load1"]) for r in rows if r["load1"]])
if busy > 2.5:
    print(f"  NOTE: the machine was busy (load1 up to {busy:.1f} on 2 cores): entries/s and msg/s scatter by 20-40% then;")
    print("        CPU per entry and peak RSS stay within ~10%. Rerun when `uptime` shows load < 1 for a throughput verdict.")
if "WARNING" in open(os.path.join(out, "header.txt")).read():
    print("  NOTE: see the WARNING lines at the top (skipped parts, build type, stale binaries)")
fails = os.path.join(out, "bench-failures.txt")
if os.path.exists(fails):
    print(f"  NOTE: failed lokiqt-bench runs, see {fails}")
print(f"  results: {out}")
EOF
