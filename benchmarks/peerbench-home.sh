# Sourced by compare.sh and peers.sh: copies shared/peer-bench ($PEER_SRC) to a writable work folder (read-only
# in CI), builds its sink there and sets PB to that folder ($PEER_BENCH_HOME, default
# ~/.cache/lokiqt-peer-bench). The Node peers are not installed: both scripts run with --no-peers.
peerbench_home() {
    PB=${PEER_BENCH_HOME:-$HOME/.cache/lokiqt-peer-bench}
    mkdir -p "$PB"
    cp -r "$PEER_SRC"/bench.py "$PEER_SRC"/Makefile "$PEER_SRC"/setup-peers.sh "$PEER_SRC"/drivers "$PEER_SRC"/sink \
        "$PEER_SRC"/examples "$PB"/
    chmod -R u+w "$PB"
    make -s -C "$PB" all >&2
}
