# shellcheck shell=bash
# Helpers shared by the side-by-side benchmark scripts in bench/ (sourced, not run).
#
#   LOG_TAG=my-bench; source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_tmp brink-my-bench          # TMP, PIDS, cleanup trap
#   bench_require nginx:nginx wrk:wrk # command:debian-package, installed with apt-get if missing
#   bench_pin; bench_build
#
# Everything started in the background and appended to PIDS is stopped on exit (also on
# failure or Ctrl-C); TMP is removed unless KEEP_TMP=1 or the script failed.

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
BRINK="${BRINK_BIN:-$REPO/target/release/brink}"
RESULTS_DIR="$BENCH_DIR/results"
BUILD="${BUILD:-1}"
KEEP_TMP="${KEEP_TMP:-0}"

log() { printf '[%s] %s\n' "${LOG_TAG:-bench}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ------------------------------------------------------------------ cleanup ---
# bench_tmp PREFIX: creates TMP=/tmp/PREFIX.XXXXXX and installs the cleanup trap.
# On failure the last lines of $TMP/*.err and $TMP/*error.log are shown.
bench_tmp() {
    TMP="$(mktemp -d "/tmp/$1.XXXXXX")"
    PIDS=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# stop_pid PID: SIGTERM, up to 5 s to exit, then SIGKILL; reaps it.
stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

bench_cleanup() {
    local rc=$? pid f
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    if [[ $rc -ne 0 ]]; then
        log "failed (exit $rc); last lines of the server logs:"
        for f in "$TMP"/*.err "$TMP"/*error.log; do
            [[ -s "$f" ]] && { log "--- $f"; tail -n 20 "$f" >&2; }
        done
    fi
    if [[ "$KEEP_TMP" == 1 || $rc -ne 0 ]]; then
        log "temporary files kept in $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}

# ------------------------------------------------------------ prerequisites ---
# bench_require CMD:PACKAGE...: installs the packages whose command is missing (also
# looked up in /usr/sbin, which may be missing from a non-root PATH).
bench_require() {
    local spec cmd pkg need=() sudo=()
    for spec in "$@"; do
        cmd=${spec%%:*}
        pkg=${spec#*:}
        command -v "$cmd" >/dev/null 2>&1 || [[ -x "/usr/sbin/$cmd" ]] || need+=("$pkg")
    done
    if [[ ${#need[@]} -gt 0 ]]; then
        log "installing ${need[*]} with apt-get"
        [[ $(id -u) -ne 0 ]] && sudo=(sudo)
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
    fi
    command -v python3 >/dev/null 2>&1 || die "python3 is required (port picking, statistics, JSON)"
}

# sbin_cmd NAME: path of a command that may live in /usr/sbin.
sbin_cmd() { command -v "$1" 2>/dev/null || echo "/usr/sbin/$1"; }

# bench_pin: PIN_SERVER (CPU 0) and PIN_CLIENT (CPU 1) command prefixes.
bench_pin() {
    if [[ "$(nproc)" -ge 2 ]]; then
        PIN_SERVER=(taskset -c 0)
        PIN_CLIENT=(taskset -c 1)
    else
        log "warning: fewer than 2 CPUs; running without CPU pinning"
        PIN_SERVER=()
        PIN_CLIENT=()
    fi
}

# bench_build: `cargo build --release -p brink` unless BUILD=0; checks $BRINK.
bench_build() {
    if [[ "$BUILD" == 1 ]]; then
        log "building brink (release)"
        (cd "$REPO" && cargo build --release -p brink)
    fi
    [[ -x "$BRINK" ]] || die "$BRINK not found (build it, or run with BUILD=1)"
}

# ------------------------------------------------------------------ helpers ---
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_line FILE PID NAME REGEX: polls FILE until a line matches the sed REGEX, prints
# its first capture group.
wait_line() {
    local file=$1 pid=$2 name=$3 re=$4 v
    for _ in $(seq 200); do
        v="$(sed -n "s#$re#\\1#p" "$file" 2>/dev/null | head -n1)"
        if [[ -n "$v" ]]; then
            printf '%s\n' "$v"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || die "$name exited before it was ready"
        sleep 0.1
    done
    die "$name was not ready within 20 s"
}

# wait_listening FILE PID NAME: the ADDR of brink's `listening http://ADDR` line.
wait_listening() { wait_line "$1" "$2" "$3" '^listening http://\([^ /]*\).*'; }

# wait_http URL NAME: waits until URL answers at all.
wait_http() {
    local url=$1 name=$2
    for _ in $(seq 100); do
        curl -s -o /dev/null "$url" && return 0
        sleep 0.1
    done
    die "$name does not answer at $url"
}

# to_ms LAT: a wrk latency like 812.00us / 1.23ms / 1.02s / 2.00m in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v; sub(/[a-z]+$/, "", n); u = v; sub(/^[0-9.]+/, "", u);
        f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1;
        if (f < 0) exit 1;
        printf "%.3f", n * f }'
}

# wrk_fields OUT: "REQ_PER_S P99_MS NON2XX SOCKET_ERRORS" of a `wrk --latency` output
# (SOCKET_ERRORS is `none` or wrk's line with spaces removed).
wrk_fields() {
    local out=$1 rps p99 non2xx sockerr
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    p99="$(awk '$1 == "99%" {print $2}' "$out")"
    [[ -n "$rps" && -n "$p99" ]] || die "could not parse wrk output $out: $(cat "$out")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"
    sockerr="$(sed -n 's/^ *Socket errors: *//p' "$out" | tr -d ' ')"
    printf '%s %s %s %s\n' "$rps" "$(to_ms "$p99")" "${non2xx:-0}" "${sockerr:-none}"
}

# git_commit: short commit, with -dirty when the tree has changes.
git_commit() {
    local c
    c="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    [[ -n "$(git -C "$REPO" status --porcelain 2>/dev/null || true)" ]] && c="$c-dirty"
    printf '%s\n' "$c"
}
