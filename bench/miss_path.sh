#!/usr/bin/env bash
# Cache-miss proxy path: Brink vs nginx in front of the same pool of two
# built-in origins (`brink origin`), measured side by side in one run, plus the
# share of requests Brink sent on reused (keep-alive) upstream connections,
# read from its /metrics.
#
# Brink runs in zero-config mode (`serve --listen --origin A --origin B --admin`:
# round-robin, health checks, outlier ejection, retries, keep-alive pools);
# nginx has `upstream { server A; server B; keepalive 64; }` with proxy_pass,
# HTTP/1.1 upstream, no cache. The URL is `no-store` (`/api/inventory/N`), so
# every request is a cache miss that goes to an origin.
#
# Servers (origins, brink, nginx) are pinned to CPU 0, wrk to CPU 1.
# Compare ratios, not absolute numbers (see bench/README.md).
#
# Environment:
#   ROUNDS=3 DURATION=10 CONNS=32 WARMUP=2   as in proxy_vs_nginx.sh
#   URL_PATH=/api/inventory/42               the uncacheable path requested
#   BUILD=1        0 skips `cargo build --release -p brink`
#   KEEP_TMP=0     1 keeps logs, nginx.conf, raw wrk output and metrics snapshots
#   BRINK_BIN=...  another brink binary
set -euo pipefail

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-32}"
WARMUP="${WARMUP:-2}"
URL_PATH="${URL_PATH:-/api/inventory/42}"
BUILD="${BUILD:-1}"
KEEP_TMP="${KEEP_TMP:-0}"

LOG_TAG=miss-path
# shellcheck source=bench/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

bench_tmp brink-miss
bench_require nginx:nginx wrk:wrk taskset:util-linux curl:curl
NGINX="$(sbin_cmd nginx)"
bench_pin
bench_build

export RUST_LOG=warn
ORIGINS=()
for name in o1 o2; do
    "${PIN_SERVER[@]}" "$BRINK" --log-level warn origin --listen 127.0.0.1:0 --name "$name" \
        >"$TMP/$name.out" 2>"$TMP/$name.err" &
    PIDS+=($!)
    ORIGINS+=("$(wait_line "$TMP/$name.out" "${PIDS[-1]}" "$name" '^listening http://\([^ /]*\).*')")
done
log "origins: ${ORIGINS[*]}"

BRINK_PORT="$(free_port)"
ADMIN_PORT="$(free_port)"
"${PIN_SERVER[@]}" "$BRINK" --log-level warn serve --listen "127.0.0.1:$BRINK_PORT" \
    --admin "127.0.0.1:$ADMIN_PORT" \
    --origin "http://${ORIGINS[0]}" --origin "http://${ORIGINS[1]}" \
    >"$TMP/brink.out" 2>"$TMP/brink.err" &
PIDS+=($!)
BRINK_ADDR="$(wait_line "$TMP/brink.out" "${PIDS[-1]}" brink '^listening http://\([^ /]*\).*')"
ADMIN="127.0.0.1:$ADMIN_PORT"

NGINX_PORT="$(free_port)"
chmod 755 "$TMP"
cat >"$TMP/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    upstream origin {
        server ${ORIGINS[0]};
        server ${ORIGINS[1]};
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
"${PIN_SERVER[@]}" "$NGINX" -e "$TMP/nginx-error.log" -p "$TMP" -c "$TMP/nginx.conf" >"$TMP/nginx.out" 2>&1 &
PIDS+=($!)
NGINX_ADDR="127.0.0.1:$NGINX_PORT"

for t in "brink $BRINK_ADDR" "nginx $NGINX_ADDR"; do
    read -r name addr <<<"$t"
    for _ in $(seq 100); do curl -s -o /dev/null "http://$addr$URL_PATH" && break; sleep 0.1; done
    got="$(curl -s -o /dev/null -w '%{http_code}' "http://$addr$URL_PATH")"
    log "check $name $URL_PATH -> $got"
    [[ "$got" == 200 ]] || die "$name answers $got"
done

# Sum of Brink's upstream responses on new / reused connections.
conn_counts() {
    curl -s "http://$ADMIN/metrics" | awk '
        /^brink_origin_connection_requests_total/ {
            if ($0 ~ /connection="new"/) n += $NF; else if ($0 ~ /connection="reused"/) r += $NF }
        END { printf "%d %d\n", n, r }'
}

RAW="$TMP/raw.tsv"; : >"$RAW"
run() { # run TARGET ADDR SECONDS OUT
    "${PIN_CLIENT[@]}" wrk -t1 -c"$CONNS" -d"${3}s" --latency "http://$2$URL_PATH" >"$4" 2>&1 \
        || die "wrk failed against $1: $(tail -n 5 "$4")"
}

declare -A ADDR=([brink]="$BRINK_ADDR" [nginx]="$NGINX_ADDR")
if [[ "$WARMUP" != 0 ]]; then
    for t in brink nginx; do run "$t" "${ADDR[$t]}" "$WARMUP" "$TMP/warmup-$t.txt"; done
fi
log "settings: rounds=$ROUNDS duration=${DURATION}s conns=$CONNS path=$URL_PATH"
for round in $(seq "$ROUNDS"); do
    if (( round % 2 == 1 )); then order=(brink nginx); else order=(nginx brink); fi
    for t in "${order[@]}"; do
        out="$TMP/wrk-$t-$round.txt"
        read -r n0 r0 < <(conn_counts)
        run "$t" "${ADDR[$t]}" "$DURATION" "$out"
        read -r n1 r1 < <(conn_counts)
        rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
        p99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")"
        non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"
        sockerr="$(sed -n 's/^ *Socket errors: *//p' "$out")"
        if [[ "$t" == brink ]]; then dn=$((n1 - n0)); dr=$((r1 - r0)); else dn=""; dr=""; fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$round" "$rps" "$p99" "${non2xx:-0}" \
            "${sockerr:-none}" "$dn" "$dr" >>"$RAW"
        log "$(printf '%-6s round %s: %10s req/s  p99 %8s ms  %s' "$t" "$round" "$rps" "$p99" \
            "${dn:+upstream new=$dn reused=$dr}")"
    done
done

mkdir -p "$RESULTS_DIR"
STAMP="$(date -u +%Y-%m-%dT%H-%M-%SZ)"
JSON="$RESULTS_DIR/miss_path-$STAMP.json"
COMMIT="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
python3 - "$RAW" "$JSON" <<EOF
import json, statistics, sys, os, platform
raw, out = sys.argv[1], sys.argv[2]
rows = []
for line in open(raw):
    t, rnd, rps, p99, non2xx, sock, dn, dr = line.rstrip("\n").split("\t")
    rows.append(dict(target=t, round=int(rnd), req_per_s=float(rps), p99_ms=float(p99),
                     non_2xx_3xx=int(non2xx), socket_errors=sock,
                     upstream_new=int(dn) if dn else None, upstream_reused=int(dr) if dr else None))
med = {}
for t in ("brink", "nginx"):
    rs = [r for r in rows if r["target"] == t]
    med[t] = dict(req_per_s=statistics.median(r["req_per_s"] for r in rs),
                  p99_ms=statistics.median(r["p99_ms"] for r in rs),
                  errors=sum(r["non_2xx_3xx"] for r in rs) + sum(r["socket_errors"] != "none" for r in rs))
b = [r for r in rows if r["target"] == "brink"]
new, reused = sum(r["upstream_new"] for r in b), sum(r["upstream_reused"] for r in b)
share = reused / (new + reused) if new + reused else 0.0
print()
print(f"{'target':<7}{'req/s':>11}{'p99 ms':>10}{'errors':>8}")
for t in ("brink", "nginx"):
    m = med[t]
    print(f"{t:<7}{m['req_per_s']:>11.0f}{m['p99_ms']:>10.2f}{m['errors']:>8}")
print(f"{'ratio':<7}{med['brink']['req_per_s']/med['nginx']['req_per_s']:>10.2f}x"
      f"{med['brink']['p99_ms']/med['nginx']['p99_ms']:>9.2f}x   (brink/nginx)")
print(f"brink upstream connections during measured runs: {new} new, {reused} reused "
      f"-> {100*share:.2f}% of requests on reused connections (target >= 99%)")
print("median of $ROUNDS rounds x ${DURATION}s, wrk -t1 -c$CONNS, GET $URL_PATH (no-store: every request a miss);"
      " 2 origins; servers on CPU 0, wrk on CPU 1")
json.dump(dict(benchmark="miss_path", started_utc="$STAMP", commit="$COMMIT",
               settings=dict(rounds=$ROUNDS, duration_s=$DURATION, connections=$CONNS, path="$URL_PATH", origins=2),
               machine=dict(cpus=os.cpu_count(), kernel=platform.release()),
               summary=dict(brink=med["brink"], nginx=med["nginx"],
                            upstream_reuse=dict(new=new, reused=reused, share=share)),
               runs=rows), open(out, "w"), indent=2)
print(f"results: {out}")
EOF
