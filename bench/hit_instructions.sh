#!/usr/bin/env bash
# User-space instructions per cache hit (with MISS=1: per cache miss), counted by
# valgrind (cachegrind, no cache simulation): deterministic, so an A/B comparison holds
# on a busy, shared machine where requests/s do not. Brink serves one object from its
# cache (forced TTL); the figure is the
# difference between a run of N1 and a run of N2 requests (h2load, HTTP/1.1, 32
# connections), divided by N2 - N1, so start-up and shutdown cancel out. All of the
# process is counted: hyper, tokio, the allocator and Brink's own phases.
#
# Instructions are not time: use this to compare two builds, and cache_hit.sh for
# requests/s against nginx and Varnish.
#
# With MISS=1 it counts a cache miss instead: no forced TTL, and a `no-store` URL
# (/api/inventory/42), so every request goes to the origin (whose own work is in
# another process and not counted).
#
# Environment:
#   URL_PATH=/fragments/product/42   the object (from the built-in origin)
#   MISS=0                           1: instructions per miss (URL_PATH default /api/inventory/42)
#   N1=2000 N2=12000                 the two run lengths
#   BUILD=1                          0 skips `cargo build --release -p brink`
#   BRINK_BIN=...                    another brink binary (compare two builds)
#   KEEP_TMP=0                       1 keeps logs and cachegrind output
set -euo pipefail

MISS="${MISS:-0}"
if [[ "$MISS" == 1 ]]; then
    URL_PATH="${URL_PATH:-/api/inventory/42}"
    FORCE_TTL=""
    EXPECT="fwd="
    WHAT=miss
else
    URL_PATH="${URL_PATH:-/fragments/product/42}"
    FORCE_TTL='force_ttl = "1h"'
    EXPECT="; hit"
    WHAT=hit
fi
N1="${N1:-2000}"
N2="${N2:-12000}"

LOG_TAG=hit-instructions
# shellcheck source=bench/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

bench_tmp brink-hit-instructions
bench_require valgrind:valgrind h2load:nghttp2-client curl:curl
bench_build
export RUST_LOG=warn

"$BRINK" --log-level warn origin --listen 127.0.0.1:0 --catalog 1000 \
    >"$TMP/origin.out" 2>"$TMP/origin.err" &
PIDS+=($!)
ORIGIN="$(wait_listening "$TMP/origin.out" "${PIDS[-1]}" origin)"

cat >"$TMP/brink.toml" <<TOML
[node]
name = "bench-edge"
region = "local"

[[listeners]]
address = "127.0.0.1:0"

[cache]
capacity_bytes = 268435456

[log]
access_log = false

[[pools]]
name = "origin"
backends = ["http://$ORIGIN"]

[[routes]]
path_prefix = "/"
pool = "origin"

[routes.cache]
$FORCE_TTL
TOML

# count N: instructions of a whole brink run that serves N hits (after 200 warm-up requests).
count() {
    local n="$1" pid addr
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$TMP/cg.$n" \
        "$BRINK" --log-level warn serve --config "$TMP/brink.toml" --no-watch \
        >"$TMP/brink-$n.out" 2>"$TMP/brink-$n.err" &
    pid=$!
    PIDS+=("$pid")
    addr="$(wait_listening "$TMP/brink-$n.out" "$pid" brink)"
    h2load --h1 -n 200 -c 8 "http://$addr$URL_PATH" >/dev/null
    h2load --h1 -n "$n" -c 32 "http://$addr$URL_PATH" >"$TMP/h2load-$n.out"
    grep -q "succeeded, 0 failed" "$TMP/h2load-$n.out" || die "failed requests: $(grep '^requests:' "$TMP/h2load-$n.out")"
    curl -s -o /dev/null -D "$TMP/hit-$n.head" "http://$addr$URL_PATH"
    grep -qi "^cache-status: .*$EXPECT" "$TMP/hit-$n.head" || die "not a $WHAT: $(cat "$TMP/hit-$n.head")"
    kill -INT "$pid"
    wait "$pid" 2>/dev/null || true
    grep '^summary:' "$TMP/cg.$n" | awk '{print $2}'
}

log "counting $N1 and $N2 ${WHAT}s of $URL_PATH under valgrind (a few minutes)"
A="$(count "$N1")"
B="$(count "$N2")"
PER_HIT=$(( (B - A) / (N2 - N1) ))
log "instructions per $WHAT: $PER_HIT ($BRINK, $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "$PER_HIT"
