#!/usr/bin/env bash
# Cache-hit throughput: Brink vs nginx `proxy_cache` vs Varnish (`-s malloc`), all three
# in front of the same built-in origin (`brink origin`), caches warmed first, driven by
# wrk on the same machine in one run. Requests/s and p99 for a ~1 KiB fragment and a
# ~100 KiB image (picked by asking the origin for sizes; the actual sizes are reported).
#
# Brink: `brink serve --config` with a [cache] and one route to a pool of the origin.
# nginx: proxy_cache (keys in shared memory, bodies in files under the temp dir, read
# through the page cache), sendfile on, keepalive_requests raised, access log off.
# (tcp_nopush is left off: on loopback it made every 100 KiB hit wait ~40 ms.)
# Varnish: varnishd -s malloc,256m, default thread pools, builtin VCL plus a TTL.
# All three store the responses for 1 h whatever the origin says (its fragments have
# max-age=30), so every measured request is a hit; hits are checked before and after.
#
# Servers (origin, brink, nginx, varnishd) are pinned to CPU 0, wrk to CPU 1.
# Compare ratios, not absolute numbers (see bench/README.md).
#
# Environment:
#   ROUNDS=3 DURATION=10 CONNS=32 WARMUP=2   as in proxy_vs_nginx.sh
#   FRAGMENT_PATH=...   the ~1 KiB object (default: the origin's fragment or product
#                       page closest to 1 KiB)
#   IMAGE_PATH=...      the ~100 KiB object (default: the image closest to 100 KiB)
#   TARGETS="brink nginx varnish"   which servers to measure
#   BUILD=1        0 skips `cargo build --release -p brink`
#   KEEP_TMP=0     1 keeps logs, configs and raw wrk output
#   BRINK_BIN=...  another brink binary
set -euo pipefail

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-32}"
WARMUP="${WARMUP:-2}"
TARGETS="${TARGETS:-brink nginx varnish}"
CATALOG=1000

LOG_TAG=cache-hit
# shellcheck source=bench/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
STAMP="$(date -u +%Y-%m-%dT%H-%M-%SZ)"

bench_tmp brink-cache-hit
bench_require nginx:nginx varnishd:varnish wrk:wrk taskset:util-linux curl:curl
NGINX="$(sbin_cmd nginx)"
VARNISHD="$(sbin_cmd varnishd)"
[[ -x "$NGINX" ]] || die "nginx not found after installation"
[[ -x "$VARNISHD" ]] || die "varnishd not found after installation"
bench_pin
bench_build

# nginx workers and the varnish child drop to unprivileged users when started as root;
# they must be able to reach their files under TMP.
chmod 755 "$TMP"
export RUST_LOG=warn

# --------------------------------------------------------------- origin -----
"${PIN_SERVER[@]}" "$BRINK" --log-level warn origin --listen 127.0.0.1:0 --catalog "$CATALOG" \
    >"$TMP/origin.out" 2>"$TMP/origin.err" &
PIDS+=($!)
ORIGIN="$(wait_listening "$TMP/origin.out" "${PIDS[-1]}" origin)"
log "origin http://$ORIGIN (catalog $CATALOG)"

# Pick the objects: sizes as the origin serves them.
read -r AUTO_FRAGMENT AUTO_IMAGE < <(python3 - "$ORIGIN" "$CATALOG" <<'EOF'
import http.client, sys
host, port = sys.argv[1].rsplit(":", 1)
catalog = int(sys.argv[2])
conn = http.client.HTTPConnection(host, int(port), timeout=10)
def size(path):
    conn.request("HEAD", path)
    r = conn.getresponse(); r.read()
    return int(r.getheader("content-length") or 0) if r.status == 200 else None
def closest(paths, target):
    sized = [(p, size(p)) for p in paths]
    return min((abs(s - target), p) for p, s in sized if s)[1]
frag = closest(["/fragments/product/42", "/fragments/recommendations"]
               + [f"/products/{i}" for i in range(1, 101)], 1024)
img = closest([f"/images/{i}.jpg" for i in range(1, catalog + 1)], 100 * 1024)
print(frag, img)
EOF
)
FRAGMENT_PATH="${FRAGMENT_PATH:-$AUTO_FRAGMENT}"
IMAGE_PATH="${IMAGE_PATH:-$AUTO_IMAGE}"
URLS=("$FRAGMENT_PATH" "$IMAGE_PATH")
declare -A SIZE
for path in "${URLS[@]}"; do
    SIZE[$path]="$(curl -s -o /dev/null -w '%{size_download}' "http://$ORIGIN$path")"
    log "object $path: ${SIZE[$path]} bytes"
done

declare -A ADDR

# ---------------------------------------------------------------- brink -----
cat >"$TMP/brink.toml" <<EOF
[node]
name = "bench-edge"
region = "local"

[[listeners]]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"
token = "bench-admin-token"

[cache]
capacity_bytes = 268435456
max_object_bytes = 8388608

[log]
access_log = false

[[pools]]
name = "origin"
backends = ["http://$ORIGIN"]

[[routes]]
path_prefix = "/"
pool = "origin"

[routes.cache]
force_ttl = "1h"
EOF
if [[ " $TARGETS " == *" brink "* ]]; then
    "$BRINK" check --config "$TMP/brink.toml" >/dev/null || die "brink check rejects $TMP/brink.toml"
    "${PIN_SERVER[@]}" "$BRINK" --log-level warn serve --config "$TMP/brink.toml" --no-watch \
        >"$TMP/brink.out" 2>"$TMP/brink.err" &
    PIDS+=($!)
    ADDR[brink]="$(wait_listening "$TMP/brink.out" "${PIDS[-1]}" brink)"
    log "brink http://${ADDR[brink]}"
fi

# ---------------------------------------------------------------- nginx -----
if [[ " $TARGETS " == *" nginx "* ]]; then
    NGINX_PORT="$(free_port)"
    cat >"$TMP/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    # sendfile on (nginx's fastest setting for cached files here); tcp_nopush stays off:
    # with it, 100 KiB hits stalled ~40 ms each on loopback (about 1 000 req/s).
    sendfile on;
    keepalive_requests 1000000;
    proxy_cache_path $TMP/nginx-cache levels=1:2 keys_zone=bench:16m max_size=256m
                     inactive=1h use_temp_path=off;
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
            proxy_cache bench;
            proxy_cache_lock on;
            proxy_ignore_headers Cache-Control Expires;
            proxy_cache_valid 200 1h;
            add_header X-Cache-Status \$upstream_cache_status;
        }
    }
}
EOF
    "${PIN_SERVER[@]}" "$NGINX" -e "$TMP/nginx-error.log" -p "$TMP" -c "$TMP/nginx.conf" \
        >"$TMP/nginx.out" 2>&1 &
    PIDS+=($!)
    ADDR[nginx]="127.0.0.1:$NGINX_PORT"
    wait_http "http://${ADDR[nginx]}/healthz" nginx
    log "nginx http://${ADDR[nginx]}"
fi

# -------------------------------------------------------------- varnish -----
if [[ " $TARGETS " == *" varnish "* ]]; then
    VARNISH_PORT="$(free_port)"
    VARNISH_ADMIN="$(free_port)"
    cat >"$TMP/varnish.vcl" <<EOF
vcl 4.1;
backend origin {
    .host = "${ORIGIN%:*}";
    .port = "${ORIGIN##*:}";
}
sub vcl_backend_response {
    set beresp.ttl = 1h;
}
sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
EOF
    chmod 644 "$TMP/varnish.vcl"
    "${PIN_SERVER[@]}" "$VARNISHD" -F -n "$TMP/varnish" -a "127.0.0.1:$VARNISH_PORT" \
        -T "127.0.0.1:$VARNISH_ADMIN" -f "$TMP/varnish.vcl" -s malloc,256m \
        >"$TMP/varnish.out" 2>"$TMP/varnish.err" &
    PIDS+=($!)
    ADDR[varnish]="127.0.0.1:$VARNISH_PORT"
    wait_http "http://${ADDR[varnish]}/healthz" varnish
    log "varnish http://${ADDR[varnish]} ($("$VARNISHD" -V 2>&1 | head -n1))"
fi

read -r -a ORDER <<<"$TARGETS"
[[ ${#ORDER[@]} -gt 0 ]] || die "TARGETS is empty"

# --------------------------------------------------- warm-up and hit check --
# is_hit TARGET PATH: fetches once and says whether that server answered from its cache.
is_hit() {
    local h
    h="$(curl -s -D - -o /dev/null "http://${ADDR[$1]}$2" | tr -d '\r')"
    grep -q '^HTTP/1.1 200' <<<"$h" || { log "$1 $2: $(head -n1 <<<"$h")"; return 1; }
    case $1 in
        brink) grep -qiE '^cache-status:.*; hit(;|,|$)' <<<"$h" ;;
        nginx) grep -qi '^x-cache-status: HIT' <<<"$h" ;;
        # Two transaction ids in X-Varnish: this one and the one that stored the object.
        varnish) grep -qiE '^x-varnish: [0-9]+ [0-9]+$' <<<"$h" ;;
    esac
}
check_hits() { # check_hits WHEN
    local t path
    for t in "${ORDER[@]}"; do
        for path in "${URLS[@]}"; do
            is_hit "$t" "$path" || die "$t does not answer $path from its cache ($1)"
        done
    done
    log "all targets answer both objects from their caches ($1)"
}
for t in "${ORDER[@]}"; do
    for path in "${URLS[@]}"; do
        curl -s -o /dev/null "http://${ADDR[$t]}$path"
        curl -s -o /dev/null "http://${ADDR[$t]}$path"
    done
done
check_hits "after warm-up"

# ---------------------------------------------------------------- runs ------
RAW="$TMP/raw.tsv"
: >"$RAW"
run_wrk() { # run_wrk TARGET PATH SECONDS OUT
    "${PIN_CLIENT[@]}" wrk -t1 -c"$CONNS" -d"${3}s" --latency "http://${ADDR[$1]}$2" >"$4" 2>&1 \
        || die "wrk failed against $1 $2: $(tail -n 5 "$4")"
}

log "settings: rounds=$ROUNDS duration=${DURATION}s conns=$CONNS warmup=${WARMUP}s targets=${ORDER[*]}"
for path in "${URLS[@]}"; do
    slug="$(printf '%s' "$path" | tr -c 'A-Za-z0-9' '_')"
    if [[ "$WARMUP" != 0 ]]; then
        for t in "${ORDER[@]}"; do run_wrk "$t" "$path" "$WARMUP" "$TMP/warmup-$t-$slug.txt"; done
    fi
    for round in $(seq "$ROUNDS"); do
        # Rotate the order every round so no server always runs first or last.
        n=${#ORDER[@]}
        for i in $(seq 0 $((n - 1))); do
            t="${ORDER[$(( (i + round - 1) % n ))]}"
            out="$TMP/wrk-$t-$slug-$round.txt"
            run_wrk "$t" "$path" "$DURATION" "$out"
            read -r rps p99 non2xx sockerr < <(wrk_fields "$out")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$path" "$round" "$rps" "$p99" "$non2xx" "$sockerr" >>"$RAW"
            [[ "$non2xx" != 0 || "$sockerr" != none ]] \
                && log "WARNING $t $path round $round: non-2xx/3xx=$non2xx socket errors: $sockerr"
            log "$(printf '%-8s %-28s round %s: %10s req/s  p99 %8s ms' "$t" "$path" "$round" "$rps" "$p99")"
        done
    done
done
check_hits "after the measured runs"

# --------------------------------------------------------------- report -----
mkdir -p "$RESULTS_DIR"
JSON="$RESULTS_DIR/cache_hit-$STAMP.json"
VERSIONS="$(printf 'brink=%s\nnginx=%s\nvarnish=%s\nwrk=%s\n' \
    "$("$BRINK" --version 2>/dev/null || echo unknown)" \
    "$("$NGINX" -v 2>&1 | sed 's#^nginx version: ##')" \
    "$("$VARNISHD" -V 2>&1 | head -n1)" \
    "$( (wrk -v 2>&1 || true) | awk 'NR == 1 {print $2}')")"
SIZES="$(for p in "${URLS[@]}"; do printf '%s=%s\n' "$p" "${SIZE[$p]}"; done)"

python3 - "$RAW" "$JSON" <<EOF
import json, os, platform, statistics, sys
raw, out = sys.argv[1], sys.argv[2]
targets = "${ORDER[*]}".split()
sizes = dict(l.split("=", 1) for l in """$SIZES""".strip().splitlines())
versions = dict(l.split("=", 1) for l in """$VERSIONS""".strip().splitlines())
rows = []
for line in open(raw):
    t, url, rnd, rps, p99, non2xx, sock = line.rstrip("\n").split("\t")
    rows.append(dict(target=t, url=url, round=int(rnd), req_per_s=float(rps), p99_ms=float(p99),
                     non_2xx_3xx=int(non2xx), socket_errors=sock))
summary = []
for url in dict.fromkeys(r["url"] for r in rows):
    med = {}
    for t in targets:
        rs = [r for r in rows if r["url"] == url and r["target"] == t]
        med[t] = dict(req_per_s=statistics.median(r["req_per_s"] for r in rs),
                      p99_ms=statistics.median(r["p99_ms"] for r in rs),
                      errors=sum(r["non_2xx_3xx"] for r in rs) + sum(r["socket_errors"] != "none" for r in rs))
    ratios = {}
    if "brink" in med:
        for t in targets:
            if t != "brink":
                ratios[f"brink/{t}"] = dict(req_per_s=med["brink"]["req_per_s"] / med[t]["req_per_s"],
                                            p99_ms=med["brink"]["p99_ms"] / med[t]["p99_ms"])
    summary.append(dict(url=url, bytes=int(sizes[url]), median=med, ratios=ratios))

print()
print(f"{'target':<14}{'object':<30}{'bytes':>8}{'req/s':>11}{'p99 ms':>9}{'errors':>8}")
for s in summary:
    for t in targets:
        m = s["median"][t]
        print(f"{t:<14}{s['url']:<30}{s['bytes']:>8}{m['req_per_s']:>11.0f}{m['p99_ms']:>9.2f}{m['errors']:>8}")
    for name, r in s["ratios"].items():
        print(f"{name:<14}{s['url']:<30}{'':>8}{r['req_per_s']:>10.2f}x{r['p99_ms']:>8.2f}x")
print()
print("median of $ROUNDS rounds x ${DURATION}s, wrk -t1 -c$CONNS, every request a cache hit; servers on CPU 0, wrk on CPU 1")
print("ratios: req/s above 1 and p99 below 1 favour brink; errors = non-2xx/3xx + runs with socket errors")
doc = dict(benchmark="cache_hit", started_utc="$STAMP", commit="$(git_commit)",
           settings=dict(rounds=$ROUNDS, duration_s=$DURATION, connections=$CONNS, threads=1,
                         warmup_s=$WARMUP, targets=targets, objects=sizes,
                         pinning="servers cpu0, wrk cpu1" if "${#PIN_SERVER[@]}" != "0" else "none"),
           machine=dict(cpus=os.cpu_count(), kernel=platform.release(), machine=platform.machine()),
           versions=versions, summary=summary, runs=rows)
with open(out, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
print(f"results: {out}")
EOF
