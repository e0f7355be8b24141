#!/usr/bin/env bash
# Resident memory of a caching edge under churn of large objects, against its
# cache capacity.
#
# One built-in origin (`brink origin --catalog 5000`: /images/{id}.jpg of 10-300 KB,
# ~760 MB in all, so the cache churns) and, per capacity, a fresh Brink edge in
# front of it with the zero-config mode's settings (one pool, health checks on `/`,
# the route `/` cached) written as a config file, because zero-config mode has no
# flag for the capacity; `capacity_bytes` is the only difference. `wrk -cCONNS`
# requests a random image id per request for DURATION seconds; meanwhile and
# after, the edge's /proc/PID/status is read:
#   idle     VmRSS before the load (runtime, wasmtime, pools)
#   peak     VmHWM (the kernel's high-water mark of VmRSS) at the end of the load
#   end      VmRSS as the load stops
#   settled  VmRSS SETTLE seconds later (the allocator returns freed memory late)
#   purged   VmRSS SETTLE seconds after `POST /purge?prefix=/` emptied the cache
#   file     RssFile at the end: the part of VmRSS that is the binary's own pages
#            (large for a debug build)
# beside what the cache says it holds (/status cache.bytes, cache.entries) and the
# hit ratio (from /metrics). The target is peak <= 1.25 x capacity + 64 MB.
#
# Servers on CPU 0, wrk on CPU 1. Only 127.0.0.1; everything started is stopped on exit.
#
# Environment:
#   CAPACITIES="64 256"   capacity_bytes of each run, in MiB (256 MiB is the default)
#   DURATION=20           seconds of load per capacity
#   CONNS=32              wrk connections (wrk -t1)
#   CATALOG=5000          image ids requested, uniformly at random
#   SETTLE=5              idle seconds before the settled and purged readings
#   BUILD=1               0 skips `cargo build --release -p brink`
#   KEEP_TMP=0            1 keeps logs, configs and raw wrk output
#   BRINK_BIN=...         another brink binary (e.g. target/debug/brink)
set -euo pipefail

CAPACITIES="${CAPACITIES:-64 256}"
DURATION="${DURATION:-20}"
CONNS="${CONNS:-32}"
CATALOG="${CATALOG:-5000}"
SETTLE="${SETTLE:-5}"

LOG_TAG=rss
# shellcheck source=bench/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

bench_tmp brink-rss
bench_require wrk:wrk taskset:util-linux curl:curl
bench_pin
bench_build

export RUST_LOG=warn
TOKEN=rss-bench-token

"${PIN_SERVER[@]}" "$BRINK" --log-level warn origin --listen 127.0.0.1:0 --catalog "$CATALOG" \
    >"$TMP/origin.out" 2>"$TMP/origin.err" &
PIDS+=($!)
ORIGIN="$(wait_line "$TMP/origin.out" "${PIDS[-1]}" origin '^listening http://\([^ /]*\).*')"
log "origin http://$ORIGIN, catalog $CATALOG images"

cat >"$TMP/random.lua" <<EOF
-- One random image id per request.
local n = $CATALOG
math.randomseed(os.time())
function request() return wrk.format("GET", "/images/" .. math.random(1, n) .. ".jpg") end
EOF

# proc_kb PID FIELD: a /proc/PID/status field (VmRSS, VmHWM) in KiB.
proc_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.0f", k / 1024}'; }

# lookups ADMIN: "HITS TOTAL" from brink_cache_lookups_total.
lookups() {
    curl -s "http://$1/metrics" | awk '
        /^brink_cache_lookups_total/ { t += $NF; if ($0 ~ /result="hit"/) h += $NF }
        END { printf "%d %d\n", h, t }'
}

RAW="$TMP/raw.tsv"; : >"$RAW"
for cap in $CAPACITIES; do
    port="$(free_port)"; admin_port="$(free_port)"
    cfg="$TMP/edge-$cap.toml"
    # Zero-config mode's node (config::Config::zero_config, PoolConfig::zero_config),
    # plus an admin listener and the capacity.
    cat >"$cfg" <<EOF
[[listeners]]
address = "127.0.0.1:$port"

[admin]
address = "127.0.0.1:$admin_port"
token = "$TOKEN"

[[pools]]
name = "default"
backends = ["http://$ORIGIN"]

[pools.health_check]
path = "/"
expect_status = "200-499"
interval = "2s"
timeout = "1s"
jitter = "200ms"

[[routes]]
path_prefix = "/"
pool = "default"

[cache]
capacity_bytes = $((cap * 1024 * 1024))
EOF
    "${PIN_SERVER[@]}" "$BRINK" --log-level warn serve --config "$cfg" --no-watch \
        >"$TMP/edge-$cap.out" 2>"$TMP/edge-$cap.err" &
    pid=$!
    PIDS+=("$pid")
    addr="$(wait_listening "$TMP/edge-$cap.out" "$pid" "edge ($cap MiB)")"
    admin="127.0.0.1:$admin_port"
    wait_http "http://$addr/images/1.jpg" "edge ($cap MiB)"
    idle="$(proc_kb "$pid" VmRSS)"

    out="$TMP/wrk-$cap.txt"
    read -r h0 t0 < <(lookups "$admin")
    "${PIN_CLIENT[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$TMP/random.lua" "http://$addr" \
        >"$out" 2>&1 || die "wrk failed: $(tail -n 5 "$out")"
    end="$(proc_kb "$pid" VmRSS)"
    peak="$(proc_kb "$pid" VmHWM)"
    file="$(proc_kb "$pid" RssFile)"
    read -r h1 t1 < <(lookups "$admin")
    status="$(curl -s "http://$admin/status")"
    read -r bytes entries < <(python3 -c 'import json,sys; c=json.load(sys.stdin)["cache"]; print(c["bytes"], c["entries"])' <<<"$status")
    sleep "$SETTLE"
    settled="$(proc_kb "$pid" VmRSS)"
    curl -s -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" "http://$admin/purge?prefix=/"
    sleep "$SETTLE"
    purged="$(proc_kb "$pid" VmRSS)"
    stop_pid "$pid"

    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"
    sockerr="$(sed -n 's/^ *Socket errors: *//p' "$out" | tr -d ' ')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$cap" "$idle" "$peak" "$end" "$file" \
        "$settled" "$purged" "$bytes" "$entries" "$((h1 - h0))" "$((t1 - t0))" "$rps" \
        "${non2xx:-0}" "${sockerr:-none}" >>"$RAW"
    log "$(printf '%4s MiB: rss idle %s peak %s end %s settled %s purged %s MiB; cache %s MiB in %s entries; %s req/s' \
        "$cap" "$(mib "$idle")" "$(mib "$peak")" "$(mib "$end")" "$(mib "$settled")" "$(mib "$purged")" \
        "$((bytes / 1048576))" "$entries" "$rps")"
done

mkdir -p "$RESULTS_DIR"
STAMP="$(date -u +%Y-%m-%dT%H-%M-%SZ)"
JSON="$RESULTS_DIR/rss-$STAMP.json"
python3 - "$RAW" "$JSON" <<EOF
import json, os, platform, sys
raw, out = sys.argv[1], sys.argv[2]
rows = []
for line in open(raw):
    (cap, idle, peak, end, file, settled, purged, cbytes, entries, hits, lookups, rps, non2xx,
     sock) = line.rstrip("\n").split("\t")
    cap = int(cap)
    rows.append(dict(capacity_mib=cap, rss_idle_kib=int(idle), rss_peak_kib=int(peak),
                     rss_end_kib=int(end), rss_file_kib=int(file), rss_settled_kib=int(settled),
                     rss_purged_kib=int(purged), cache_bytes=int(cbytes),
                     cache_entries=int(entries), hits=int(hits), lookups=int(lookups),
                     hit_ratio=int(hits) / int(lookups) if int(lookups) else 0.0,
                     req_per_s=float(rps), non_2xx_3xx=int(non2xx), socket_errors=sock,
                     target_mib=1.25 * cap + 64 * 1e6 / 2**20))
M = lambda kib: kib / 1024
print()
print(f"{'capacity':>9}{'cached':>8}{'entries':>8}{'idle':>7}{'peak':>7}{'end':>7}{'settled':>8}"
      f"{'purged':>7}{'file':>6}{'peak/cap':>9}{'target':>7}{'hit %':>7}{'req/s':>8}")
for r in rows:
    c = r["capacity_mib"]
    print(f"{c:>5} MiB{r['cache_bytes']/2**20:>8.0f}{r['cache_entries']:>8}{M(r['rss_idle_kib']):>7.0f}"
          f"{M(r['rss_peak_kib']):>7.0f}{M(r['rss_end_kib']):>7.0f}{M(r['rss_settled_kib']):>8.0f}"
          f"{M(r['rss_purged_kib']):>7.0f}{M(r['rss_file_kib']):>6.0f}{M(r['rss_peak_kib'])/c:>8.2f}x{r['target_mib']:>7.0f}"
          f"{100*r['hit_ratio']:>7.1f}{r['req_per_s']:>8.0f}"
          + ("" if r["non_2xx_3xx"] == 0 and r["socket_errors"] == "none"
             else f"  errors: {r['non_2xx_3xx']} non-2xx, sockets {r['socket_errors']}"))
print("MiB throughout; cached = /status cache.bytes (as the cache weighs it); peak = VmHWM;"
      " target = 1.25 x capacity + 64 MB")
print("wrk -t1 -c$CONNS -d${DURATION}s, a random /images/{1..$CATALOG}.jpg per request;"
      " settled/purged: ${SETTLE}s idle after the load / after POST /purge?prefix=/")
json.dump(dict(benchmark="rss", started_utc="$STAMP", commit="$(git_commit)", binary="$BRINK",
               settings=dict(duration_s=$DURATION, connections=$CONNS, catalog=$CATALOG,
                             settle_s=$SETTLE),
               machine=dict(cpus=os.cpu_count(), kernel=platform.release()),
               runs=rows), open(out, "w"), indent=2)
print(f"results: {out}")
EOF
