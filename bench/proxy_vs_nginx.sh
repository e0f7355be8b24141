#!/usr/bin/env bash
# Side-by-side benchmark: Brink (zero-config reverse proxy) vs nginx (proxy_pass,
# upstream keepalive, no cache), both in front of the same built-in origin
# (`brink origin`), driven by wrk on the same machine in one run.
#
# Servers (origin, brink, nginx) are pinned to CPU 0, wrk to CPU 1.
# The figures that matter are the ratios brink/nginx, not the absolute numbers.
#
# Environment:
#   ROUNDS=3      rounds per (target, url); the median is reported
#   DURATION=10   seconds per wrk run
#   CONNS=32      wrk connections (-t1)
#   WARMUP=2      seconds of unreported warm-up per (target, url); 0 disables it
#   URLS="/fragments/product/42 /images/7.jpg"   paths to request
#   BUILD=1       0 skips `cargo build --release -p brink` (uses target/release/brink as is)
#   KEEP_TMP=0    1 keeps the temporary directory (logs, nginx.conf, raw wrk output)
#   BRINK_BIN=... use another brink binary (e.g. a debug build, to try the script quickly)
#
# Usage: bench/proxy_vs_nginx.sh            (from anywhere; run as root or with sudo
#                                             available if nginx/wrk must be installed)
set -euo pipefail

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-32}"
WARMUP="${WARMUP:-2}"
URLS="${URLS:-/fragments/product/42 /images/7.jpg}"
BUILD="${BUILD:-1}"
KEEP_TMP="${KEEP_TMP:-0}"

LOG_TAG=bench
# shellcheck source=bench/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
STAMP="$(date -u +%Y-%m-%dT%H-%M-%SZ)"

bench_tmp brink-bench
bench_require nginx:nginx wrk:wrk taskset:util-linux curl:curl
NGINX="$(sbin_cmd nginx)"
[[ -x "$NGINX" ]] || die "nginx not found after installation"
bench_pin
bench_build

# ------------------------------------------------------------ the servers ---
export RUST_LOG=warn

log "starting origin"
"${PIN_SERVER[@]}" "$BRINK" --log-level warn origin --listen 127.0.0.1:0 --catalog 1000 \
    >"$TMP/origin.out" 2>"$TMP/origin.err" &
PIDS+=($!)
ORIGIN="$(wait_listening "$TMP/origin.out" "${PIDS[-1]}" origin)"

log "starting brink (zero-config) -> http://$ORIGIN"
BRINK_PORT="$(free_port)"
# --no-cache: nginx here has no cache either, so both are plain reverse proxies.
"${PIN_SERVER[@]}" "$BRINK" --log-level warn serve --listen "127.0.0.1:$BRINK_PORT" \
    --origin "http://$ORIGIN" --no-cache >"$TMP/brink.out" 2>"$TMP/brink.err" &
PIDS+=($!)
BRINK_ADDR="$(wait_listening "$TMP/brink.out" "${PIDS[-1]}" brink)"

log "starting nginx -> http://$ORIGIN"
NGINX_PORT="$(free_port)"
# nginx workers drop to an unprivileged user when started as root; they must be able
# to reach the temp paths under the prefix.
chmod 755 "$TMP"
cat >"$TMP/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    upstream origin {
        server $ORIGIN;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
"${PIN_SERVER[@]}" "$NGINX" -e "$TMP/nginx-error.log" -p "$TMP" -c "$TMP/nginx.conf" \
    >"$TMP/nginx.out" 2>&1 &
PIDS+=($!)
NGINX_ADDR="127.0.0.1:$NGINX_PORT"

# ---------------------------------------------------------- sanity checks ---
wait_http "http://$BRINK_ADDR/healthz" brink
wait_http "http://$NGINX_ADDR/healthz" nginx
for path in $URLS; do
    for t in "origin $ORIGIN" "brink $BRINK_ADDR" "nginx $NGINX_ADDR"; do
        read -r name addr <<<"$t"
        got="$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://$addr$path")"
        log "check $name $path -> $got"
        [[ "$got" == 200\ * ]] || die "$name answers $got for $path, expected 200"
    done
done

# ---------------------------------------------------------------- runs ------
# RAW: one line per measured run: target url round req_s p99_ms non2xx socket_errors
RAW="$TMP/raw.tsv"
: >"$RAW"

run_wrk() { # run_wrk TARGET ADDR PATH SECONDS OUTFILE
    "${PIN_CLIENT[@]}" wrk -t1 -c"$CONNS" -d"${4}s" --latency "http://$2$3" >"$5" 2>&1 \
        || die "wrk failed against $1 $3: $(tail -n 5 "$5")"
}

record() { # record TARGET PATH ROUND OUTFILE
    local out=$4 rps p99 non2xx sockerr
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    p99="$(awk '$1 == "99%" {print $2}' "$out")"
    [[ -n "$rps" && -n "$p99" ]] || die "could not parse wrk output for $1 $2: $(cat "$out")"
    p99="$(to_ms "$p99")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"
    sockerr="$(sed -n 's/^ *Socket errors: *//p' "$out")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$rps" "$p99" "${non2xx:-0}" "${sockerr:-none}" >>"$RAW"
    if [[ -n "$non2xx" || -n "$sockerr" ]]; then
        log "WARNING $1 $2 round $3: non-2xx/3xx=${non2xx:-0} socket errors: ${sockerr:-none} (raw: $out)"
    fi
    log "$(printf '%-6s %-24s round %s: %10s req/s  p99 %8s ms' "$1" "$2" "$3" "$rps" "$p99")"
}

declare -A ADDR=([brink]="$BRINK_ADDR" [nginx]="$NGINX_ADDR")
log "settings: rounds=$ROUNDS duration=${DURATION}s conns=$CONNS warmup=${WARMUP}s urls=$URLS"
for path in $URLS; do
    slug="$(printf '%s' "$path" | tr -c 'A-Za-z0-9' '_')"
    if [[ "$WARMUP" != 0 ]]; then
        for target in brink nginx; do
            run_wrk "$target" "${ADDR[$target]}" "$path" "$WARMUP" "$TMP/warmup-$target-$slug.txt"
        done
    fi
    for round in $(seq "$ROUNDS"); do
        # Alternate which target goes first so neither always runs on a "fresher" machine.
        if (( round % 2 == 1 )); then order=(brink nginx); else order=(nginx brink); fi
        for target in "${order[@]}"; do
            out="$TMP/wrk-$target-$slug-$round.txt"
            run_wrk "$target" "${ADDR[$target]}" "$path" "$DURATION" "$out"
            record "$target" "$path" "$round" "$out"
        done
    done
done

# ------------------------------------------------------------- report -------
mkdir -p "$RESULTS_DIR"
JSON="$RESULTS_DIR/proxy_vs_nginx-$STAMP.json"
COMMIT="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
DIRTY=false
[[ -n "$(git -C "$REPO" status --porcelain 2>/dev/null || true)" ]] && DIRTY=true
NGINX_VERSION="$("$NGINX" -v 2>&1 | sed 's#^nginx version: ##')"
WRK_VERSION="$( (wrk -v 2>&1 || true) | awk 'NR == 1 {print $2}')"
BRINK_VERSION="$("$BRINK" --version 2>/dev/null || echo unknown)"

python3 - "$RAW" "$JSON" <<EOF
import json, statistics, sys, platform, os
raw, out = sys.argv[1], sys.argv[2]
rows = []
with open(raw) as f:
    for line in f:
        t, url, rnd, rps, p99, non2xx, sock = line.rstrip("\n").split("\t")
        rows.append(dict(target=t, url=url, round=int(rnd), req_per_s=float(rps),
                         p99_ms=float(p99), non_2xx_3xx=int(non2xx), socket_errors=sock))
urls = list(dict.fromkeys(r["url"] for r in rows))
summary = []
for url in urls:
    med = {}
    for t in ("brink", "nginx"):
        rs = [r for r in rows if r["url"] == url and r["target"] == t]
        med[t] = dict(req_per_s=statistics.median(r["req_per_s"] for r in rs),
                      p99_ms=statistics.median(r["p99_ms"] for r in rs),
                      non_2xx_3xx=sum(r["non_2xx_3xx"] for r in rs),
                      runs_with_socket_errors=sum(r["socket_errors"] != "none" for r in rs))
    ratio = dict(req_per_s=med["brink"]["req_per_s"] / med["nginx"]["req_per_s"],
                 p99_ms=med["brink"]["p99_ms"] / med["nginx"]["p99_ms"])
    summary.append(dict(url=url, brink=med["brink"], nginx=med["nginx"], ratio_brink_over_nginx=ratio))

print()
print(f"{'target':<7}{'url':<24}{'req/s':>11}{'p99 ms':>10}{'errors':>9}")
for s in summary:
    for t in ("brink", "nginx"):
        m = s[t]
        err = m["non_2xx_3xx"] + m["runs_with_socket_errors"]
        print(f"{t:<7}{s['url']:<24}{m['req_per_s']:>11.0f}{m['p99_ms']:>10.2f}{err:>9}")
    r = s["ratio_brink_over_nginx"]
    print(f"{'ratio':<7}{s['url']:<24}{r['req_per_s']:>10.2f}x{r['p99_ms']:>9.2f}x   (brink/nginx)")
print()
print("median of $ROUNDS rounds x ${DURATION}s, wrk -t1 -c$CONNS; servers on CPU 0, wrk on CPU 1")
print("errors = non-2xx/3xx responses + runs with socket errors (details in the JSON)")

doc = dict(
    benchmark="proxy_vs_nginx",
    started_utc="$STAMP",
    commit="$COMMIT", dirty=$( [[ $DIRTY == true ]] && echo True || echo False ),
    settings=dict(rounds=$ROUNDS, duration_s=$DURATION, connections=$CONNS, threads=1,
                  warmup_s=$WARMUP, urls=urls, pinning="servers cpu0, wrk cpu1" if "${#PIN_SERVER[@]}" != "0" else "none"),
    machine=dict(cpus=os.cpu_count(), kernel=platform.release(), machine=platform.machine()),
    versions=dict(brink="$BRINK_VERSION", nginx="$NGINX_VERSION", wrk="$WRK_VERSION"),
    summary=summary,
    runs=rows,
)
with open(out, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
print(f"results: {out}")
EOF
