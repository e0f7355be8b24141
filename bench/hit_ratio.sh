#!/usr/bin/env bash
# Hit ratio against the ideal bound: Brink's cache vs nginx's LRU `proxy_cache` on the same
# Zipf traces, with the cache capacity at 1% and 10% of the catalog (C objects).
#
# For each Zipf exponent s a trace of REQUESTS paths over CATALOG objects is drawn once
# (python3, fixed seed) and replayed with `brink loadtest --trace` against a fresh Brink
# edge and a fresh nginx per capacity. The loadtest classifies hits by `Cache-Status`
# (nginx gets one through a `map` of $upstream_cache_status) and computes the ideal
# top-C bound on the trace (`--cache-objects C`): every one of the C most requested keys
# misses once and hits afterwards. A strict LRU of C objects, simulated on the same trace,
# is printed beside nginx for reference.
#
# The objects: Brink's cache takes capacity_bytes >= 1 MiB, and product fragments
# (~1 KB stored) at 100 or 1 000 objects need far less. So the objects are the origin's
# images whose size is in [SIZE_MIN, SIZE_MAX) bytes (10-11 KiB, near-uniform): ~12 KB
# stored, 100 of them above 1 MiB. The origin's image sizes are deterministic per id;
# the script picks CATALOG such ids (the origin runs with a catalog large enough to hold
# them) and checks a sample of sizes against the origin.
#
# Capacities: Brink's capacity_bytes = C x the stored bytes per object measured from its
# /status (bytes / entries) after fetching 200 of them.
# nginx (NGINX_BOUND=keys_zone, the default): its cache manager enforces max_size
# asynchronously, waking up only every 10 s with a long `inactive` (manager_sleep,
# manager_threshold and manager_files only speed up each sweep), so at thousands of
# requests/s a max_size of C objects let nginx hold thousands of objects (measured: over
# 4 000 at C = 100). Instead the keys_zone (shared memory for the keys) is made just large
# enough for about C keys: when a new key finds it full, nginx evicts its least recently
# used entry there and then, in the request (a synchronous LRU). The zone holds 32 keys per
# 4 KiB page, so the script measures the key capacity of a few zone sizes and takes the
# one closest to C (e.g. 95 for 100, 991 for 1 000; shown in the table). The manager
# still trims the cache to 7/8 of that once per 10 s sweep after the zone filled up.
# NGINX_BOUND=max_size uses max_size = C x the blocks per cache file (measured) instead,
# with a 32 MiB keys_zone and manager_sleep=1ms manager_threshold=1000ms.
# The peak number of objects each server held during a replay is sampled and printed.
#
# Servers (origin, brink, nginx) are pinned to CPU 0, the loadtest to CPU 1.
#
# Environment:
#   CATALOG=10000        objects in the Zipf universe
#   REQUESTS=100000      requests per trace
#   S_VALUES="0.8 1.0 1.2"   Zipf exponents
#   CAPACITY_PCTS="1 10"     cache capacity, % of CATALOG
#   ROUNDS=1             traces per (s, capacity), seeds SEED, SEED+1, ...; medians are reported
#   SEED=1               first trace seed
#   CONCURRENCY=1        loadtest virtual users (1 replays the trace in order)
#   SIZE_MIN=10240 SIZE_MAX=11264   image size window in bytes
#   TARGETS="brink nginx"
#   NGINX_BOUND=keys_zone   or max_size (see above)
#   DURATION             not used: a trace plays once (REQUESTS sets its length)
#   BUILD=1 KEEP_TMP=0 BRINK_BIN=...   as in the other scripts
set -euo pipefail

CATALOG="${CATALOG:-10000}"
REQUESTS="${REQUESTS:-100000}"
S_VALUES="${S_VALUES:-0.8 1.0 1.2}"
CAPACITY_PCTS="${CAPACITY_PCTS:-1 10}"
ROUNDS="${ROUNDS:-1}"
SEED="${SEED:-1}"
CONCURRENCY="${CONCURRENCY:-1}"
SIZE_MIN="${SIZE_MIN:-10240}"
SIZE_MAX="${SIZE_MAX:-11264}"
TARGETS="${TARGETS:-brink nginx}"
NGINX_BOUND="${NGINX_BOUND:-keys_zone}"
[[ "$NGINX_BOUND" == keys_zone || "$NGINX_BOUND" == max_size ]] || { echo "NGINX_BOUND is keys_zone or max_size" >&2; exit 2; }
PROBE_OBJECTS=200

LOG_TAG=hit-ratio
# shellcheck source=bench/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
STAMP="$(date -u +%Y-%m-%dT%H-%M-%SZ)"

bench_tmp brink-hit-ratio
bench_require nginx:nginx taskset:util-linux curl:curl
NGINX="$(sbin_cmd nginx)"
[[ -x "$NGINX" ]] || die "nginx not found after installation"
bench_pin
bench_build
chmod 755 "$TMP"
export RUST_LOG=warn

# ------------------------------------------------------- objects and traces --
# The origin's image size of id (host/src/demo_origin/catalog.rs: image_len), to find
# ids in the window without asking the origin for millions of sizes.
python3 - "$CATALOG" "$SIZE_MIN" "$SIZE_MAX" >"$TMP/ids.txt" <<'EOF'
import sys
n, lo, hi = (int(a) for a in sys.argv[1:4])
M = (1 << 64) - 1
def mix(x):
    z = (x + 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)
IMAGE_MIN, IMAGE_MAX = 10 * 1024, 300 * 1024
span = IMAGE_MAX - IMAGE_MIN + 1
found, i = [], 0
while len(found) < n:
    i += 1
    if i > 4_000_000_000:
        sys.exit("no such ids")
    size = IMAGE_MIN + mix(i ^ 0x1A6E) % span
    if lo <= size < hi:
        found.append((i, size))
for i, size in found:
    print(i, size)
EOF
ORIGIN_CATALOG="$(tail -n1 "$TMP/ids.txt" | cut -d' ' -f1)"

"${PIN_SERVER[@]}" "$BRINK" --log-level warn origin --listen 127.0.0.1:0 --catalog "$ORIGIN_CATALOG" \
    >"$TMP/origin.out" 2>"$TMP/origin.err" &
PIDS+=($!)
ORIGIN="$(wait_listening "$TMP/origin.out" "${PIDS[-1]}" origin)"
log "origin http://$ORIGIN (catalog $ORIGIN_CATALOG); objects: $CATALOG images of $SIZE_MIN-$((SIZE_MAX - 1)) bytes"

# Check the predicted sizes on a sample.
python3 - "$ORIGIN" "$TMP/ids.txt" <<'EOF' || die "the origin's image sizes differ from the prediction"
import http.client, random, sys
host, port = sys.argv[1].rsplit(":", 1)
ids = [tuple(map(int, l.split())) for l in open(sys.argv[2])]
conn = http.client.HTTPConnection(host, int(port), timeout=10)
for i, size in random.Random(7).sample(ids, min(50, len(ids))) + ids[:5] + ids[-5:]:
    conn.request("HEAD", f"/images/{i}.jpg")
    r = conn.getresponse(); r.read()
    got = int(r.getheader("content-length") or -1)
    if r.status != 200 or got != size:
        sys.exit(f"/images/{i}.jpg: status {r.status}, {got} bytes, predicted {size}")
EOF

# trace FILE S SEED: REQUESTS paths, rank k (probability ~ 1/k^s) -> the k-th id.
make_trace() {
    python3 - "$TMP/ids.txt" "$2" "$3" "$REQUESTS" >"$1" <<'EOF'
import bisect, itertools, random, sys
ids = [l.split()[0] for l in open(sys.argv[1])]
s, seed, n = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cum = list(itertools.accumulate(1.0 / k ** s for k in range(1, len(ids) + 1)))
rng = random.Random(seed)
out = sys.stdout
for _ in range(n):
    k = bisect.bisect_left(cum, rng.random() * cum[-1])
    out.write(f"/images/{ids[min(k, len(ids) - 1)]}.jpg\n")
EOF
}

# lru_and_ideal FILE C: "LRU_HITS IDEAL_HITS" of a strict C-object LRU and of the top-C bound.
lru_and_ideal() {
    python3 - "$1" "$2" <<'EOF'
import collections, sys
trace = [l.strip() for l in open(sys.argv[1]) if l.strip()]
c = int(sys.argv[2])
lru, hits = collections.OrderedDict(), 0
for k in trace:
    if k in lru:
        hits += 1
        lru.move_to_end(k)
    else:
        lru[k] = True
        if len(lru) > c:
            lru.popitem(last=False)
counts = collections.Counter(trace)
ideal = sum(n - 1 for _, n in counts.most_common(c))
print(hits, ideal)
EOF
}

# ------------------------------------------------------------ the servers ---
# start_brink CAPACITY_BYTES NAME: a fresh edge (empty cache); sets BRINK_ADDR, BRINK_ADMIN, BRINK_PID.
start_brink() {
    local cap=$1 name=$2
    cat >"$TMP/$name.toml" <<EOF
[node]
name = "bench-edge"
region = "local"

[[listeners]]
address = "127.0.0.1:0"

[admin]
address = "127.0.0.1:0"
token = "bench-admin-token"

[cache]
capacity_bytes = $cap
max_object_bytes = $cap

[log]
access_log = false

[[pools]]
name = "origin"
backends = ["http://$ORIGIN"]

[[routes]]
path_prefix = "/"
pool = "origin"
EOF
    "$BRINK" check --config "$TMP/$name.toml" >/dev/null || die "brink check rejects $TMP/$name.toml"
    "${PIN_SERVER[@]}" "$BRINK" --log-level warn serve --config "$TMP/$name.toml" --no-watch \
        >"$TMP/$name.out" 2>"$TMP/$name.err" &
    BRINK_PID=$!
    PIDS+=("$BRINK_PID")
    BRINK_ADDR="$(wait_listening "$TMP/$name.out" "$BRINK_PID" brink)"
    BRINK_ADMIN="$(wait_line "$TMP/$name.out" "$BRINK_PID" brink '^admin http://\([^ /]*\).*')"
}

# start_nginx ZONE_BYTES MAX_SIZE_BYTES NAME: a fresh nginx with an empty cache directory;
# sets NGINX_ADDR, NGINX_PID, NGINX_CACHE.
start_nginx() {
    local zone=$1 max=$2 name=$3 port level=warn
    # A full keys zone logs a [crit] line per eviction; keep the log small then.
    (( zone < 32 * 1024 * 1024 )) && level=alert
    port="$(free_port)"
    NGINX_CACHE="$TMP/$name-cache"
    rm -rf "$NGINX_CACHE"
    cat >"$TMP/$name.conf" <<EOF
daemon off;
worker_processes 1;
pid $TMP/$name.pid;
error_log $TMP/$name-error.log $level;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    proxy_cache_path $NGINX_CACHE levels=1:2 keys_zone=hr:$zone max_size=$max inactive=1d
                     use_temp_path=off manager_files=10000 manager_sleep=1ms manager_threshold=1000ms;
    map \$upstream_cache_status \$brink_cache_status {
        HIT      "nginx; hit";
        default  "nginx; fwd=miss";
    }
    upstream origin {
        server $ORIGIN;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache hr;
            add_header Cache-Status \$brink_cache_status;
        }
    }
}
EOF
    "${PIN_SERVER[@]}" "$NGINX" -e "$TMP/$name-error.log" -p "$TMP" -c "$TMP/$name.conf" \
        >"$TMP/$name.out" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    NGINX_ADDR="127.0.0.1:$port"
    wait_http "http://$NGINX_ADDR/healthz" nginx
}

stop_server() { # stop_server PID: stops it and drops it from PIDS
    local pid=$1 p keep=()
    stop_pid "$pid"
    for p in "${PIDS[@]}"; do [[ "$p" == "$pid" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

brink_objects() { curl -s "http://$BRINK_ADMIN/status" | python3 -c 'import json,sys; c=json.load(sys.stdin)["cache"]; print(c["entries"], c["bytes"])'; }
nginx_objects() { find "$NGINX_CACHE" -type f -regextype posix-extended -regex '.*/[0-9a-f]{32}' 2>/dev/null | wc -l; }

# ------------------------------------------------- per-object stored sizes ---
head -n "$PROBE_OBJECTS" "$TMP/ids.txt" | awk '{print "/images/" $1 ".jpg"}' >"$TMP/probe.txt"
fetch_all() { # fetch_all ADDR FILE
    python3 - "$1" "$2" <<'EOF'
import http.client, sys
host, port = sys.argv[1].rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port), timeout=10)
for p in open(sys.argv[2]):
    conn.request("GET", p.strip()); r = conn.getresponse(); r.read()
    assert r.status == 200, (p, r.status)
EOF
}

start_brink $((256 * 1024 * 1024)) brink-probe
fetch_all "$BRINK_ADDR" "$TMP/probe.txt"
sleep 1
fetch_all "$BRINK_ADDR" "$TMP/probe.txt"
read -r entries bytes < <(brink_objects)
[[ "$entries" == "$PROBE_OBJECTS" ]] || log "warning: brink probe holds $entries entries, expected $PROBE_OBJECTS"
BRINK_OBJ_BYTES=$(( (bytes + entries / 2) / entries ))
stop_server "$BRINK_PID"

start_nginx $((32 * 1024 * 1024)) $((256 * 1024 * 1024)) nginx-probe
fetch_all "$NGINX_ADDR" "$TMP/probe.txt"
sleep 1
read -r NGINX_BSIZE NGINX_OBJ_BLOCKS NGINX_MIN_BLOCKS NGINX_MAX_BLOCKS < <(python3 - "$NGINX_CACHE" <<'EOF'
import os, re, sys
root = sys.argv[1]
bsize = os.statvfs(root).f_bsize
blocks = []
for d, _, files in os.walk(root):
    for f in files:
        if re.fullmatch(r"[0-9a-f]{32}", f):
            st = os.stat(os.path.join(d, f))
            fs = max(st.st_size, st.st_blocks * 512)  # as nginx counts a cache file
            blocks.append(-(-fs // bsize))
print(bsize, sum(blocks) / len(blocks), min(blocks), max(blocks))
EOF
)
stop_server "$NGINX_PID"
log "stored per object: brink $BRINK_OBJ_BYTES bytes (/status); nginx $NGINX_OBJ_BLOCKS blocks of $NGINX_BSIZE bytes (min $NGINX_MIN_BLOCKS, max $NGINX_MAX_BLOCKS)"

PAGE=$(getconf PAGESIZE)
# nginx_zone_keys PAGES: how many keys a keys_zone of PAGES pages holds (fetch more
# distinct objects than that, count the cache files left); sets ZONE_KEYS.
nginx_zone_keys() {
    local pages=$1 n
    n=$(( pages * PAGE / 64 + 200 ))
    head -n "$n" "$TMP/ids.txt" | awk '{print "/images/" $1 ".jpg"}' >"$TMP/zone-probe.txt"
    start_nginx $((pages * PAGE)) $((1024 * 1024 * 1024)) nginx-zone-probe
    fetch_all "$NGINX_ADDR" "$TMP/zone-probe.txt"
    ZONE_KEYS=$(nginx_objects)
    stop_server "$NGINX_PID"
}
# nginx_zone_for C: sets ZONE_FOR[C] to "ZONE_BYTES KEYS", the zone size whose key
# capacity is closest to C.
declare -A ZONE_FOR
nginx_zone_for() {
    local c=$1 p lo_p="" lo_k=0 hi_p="" hi_k=0 k
    p=$(( (c + 65 + 31) / 32 ))   # 32 keys per page, ~2 pages of overhead (nginx 1.22)
    (( p < 3 )) && p=3
    for _ in $(seq 40); do
        nginx_zone_keys "$p"
        k=$ZONE_KEYS
        if (( k >= c )); then
            hi_p=$p; hi_k=$k
            [[ -n "$lo_p" ]] && break
            p=$((p - 1))
            (( p < 3 )) && break
        else
            lo_p=$p; lo_k=$k
            [[ -n "$hi_p" ]] && break
            p=$((p + 1))
        fi
    done
    if [[ -n "$lo_p" && ( -z "$hi_p" || $((c - lo_k)) -le $((hi_k - c)) ) ]]; then
        ZONE_FOR[$c]="$((lo_p * PAGE)) $lo_k"
    else
        ZONE_FOR[$c]="$((hi_p * PAGE)) $hi_k"
    fi
}

# --------------------------------------------------------------- the runs ---
RAW="$TMP/raw.tsv"
: >"$RAW"
# sample_peak KIND OUT: every 0.2 s, the number of objects held; the maximum ends in OUT.
sample_peak() {
    local kind=$1 out=$2 n peak=0
    while :; do
        if [[ $kind == brink ]]; then n="$(brink_objects 2>/dev/null | cut -d' ' -f1)"; else n="$(nginx_objects)"; fi
        [[ -n "$n" ]] && (( n > peak )) && peak=$n && echo "$peak" >"$out"
        sleep 0.2
    done
}

# replay TARGET ADDR TRACE C JSON: the loadtest over the trace; writes "HIT_RATIO IDEAL ERRORS"
# to JSON.result.
replay() {
    local target=$1 addr=$2 trace=$3 c=$4 json=$5 sampler
    echo 0 >"$json.peak"
    sample_peak "$target" "$json.peak" &
    sampler=$!
    PIDS+=("$sampler")
    "${PIN_CLIENT[@]}" "$BRINK" --log-level warn loadtest --target "local=http://$addr" \
        --trace "$trace" --requests "$REQUESTS" --concurrency "$CONCURRENCY" --cache-objects "$c" \
        --json "$json" --no-progress >"$json.txt" 2>&1 \
        || die "loadtest failed against $target: $(tail -n 5 "$json.txt")"
    stop_server "$sampler"
    python3 - "$json" >"$json.result" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
e = r["errors"]
errors = sum(e[k] for k in ("connect", "timeout", "status_4xx", "status_5xx", "other", "malformed_cache_status"))
print(r["hit_ratio"], r["ideal_hit_ratio"], errors)
EOF
}

log "settings: catalog=$CATALOG requests=$REQUESTS s=[$S_VALUES] capacity%=[$CAPACITY_PCTS] rounds=$ROUNDS concurrency=$CONCURRENCY"
for s in $S_VALUES; do
    for round in $(seq "$ROUNDS"); do
        seed=$((SEED + round - 1))
        trace="$TMP/trace-s$s-seed$seed.txt"
        make_trace "$trace" "$s" "$seed"
        for pct in $CAPACITY_PCTS; do
            c=$(( (CATALOG * pct + 50) / 100 ))
            read -r lru_hits ideal_hits < <(lru_and_ideal "$trace" "$c")
            cell="s$s-c$pct-seed$seed"
            brink_cap=$(( c * BRINK_OBJ_BYTES ))
            if [[ "$NGINX_BOUND" == keys_zone ]]; then
                if [[ -z "${ZONE_FOR[$c]:-}" ]]; then
                    nginx_zone_for "$c"
                    log "nginx keys_zone for C=$c: ${ZONE_FOR[$c]% *} bytes, holds ${ZONE_FOR[$c]#* } keys"
                fi
                nginx_zone=${ZONE_FOR[$c]% *}
                nginx_max=$((1024 * 1024 * 1024))
            else
                nginx_zone=$((32 * 1024 * 1024))
                nginx_max=$(python3 -c "print((round($c * $NGINX_OBJ_BLOCKS) + 1) * $NGINX_BSIZE)")
            fi
            for t in $TARGETS; do
                start=$(date +%s.%N)
                case $t in
                    brink)
                        (( brink_cap >= 1048576 )) || die "brink capacity $brink_cap < 1 MiB for C=$c; raise CATALOG or SIZE_MIN"
                        start_brink "$brink_cap" "brink-$cell"
                        replay brink "$BRINK_ADDR" "$trace" "$c" "$TMP/$t-$cell.json"
                        stop_server "$BRINK_PID" ;;
                    nginx)
                        start_nginx "$nginx_zone" "$nginx_max" "nginx-$cell"
                        replay nginx "$NGINX_ADDR" "$trace" "$c" "$TMP/$t-$cell.json"
                        stop_server "$NGINX_PID" ;;
                    *) die "unknown target $t" ;;
                esac
                read -r hr ideal errors <"$TMP/$t-$cell.json.result"
                secs=$(python3 -c "import time; print(round(time.time() - $start, 1))")
                peak="$(cat "$TMP/$t-$cell.json.peak")"
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$pct" "$c" "$seed" "$REQUESTS" \
                    "$t" "$hr" "$ideal" "$((ideal_hits))" "$lru_hits" "$peak" "$errors" "$secs" >>"$RAW"
                log "$(printf 's=%s cap=%s%% (C=%s) seed %s %-5s hit ratio %.4f (ideal %.4f), peak %s objects, %s errors, %ss' \
                    "$s" "$pct" "$c" "$seed" "$t" "$hr" "$ideal" "$peak" "$errors" "$secs")"
            done
        done
    done
done

# --------------------------------------------------------------- report -----
mkdir -p "$RESULTS_DIR"
JSON="$RESULTS_DIR/hit_ratio-$STAMP.json"
python3 - "$RAW" "$JSON" <<EOF
import json, os, platform, statistics, sys
raw, out = sys.argv[1], sys.argv[2]
requests = $REQUESTS
rows = []
for line in open(raw):
    s, pct, c, seed, n, t, hr, ideal, ideal_hits, lru_hits, peak, errors, secs = line.rstrip("\n").split("\t")
    rows.append(dict(s=float(s), capacity_pct=float(pct), cache_objects=int(c), seed=int(seed), requests=int(n),
                     target=t, hit_ratio=float(hr), ideal_hit_ratio=float(ideal),
                     ideal_hit_ratio_check=int(ideal_hits) / int(n), lru_sim_hit_ratio=int(lru_hits) / int(n),
                     peak_objects=int(peak), errors=int(errors), seconds=float(secs)))
cells = list(dict.fromkeys((r["s"], r["capacity_pct"], r["cache_objects"]) for r in rows))
targets = list(dict.fromkeys(r["target"] for r in rows))
summary = []
for s, pct, c in cells:
    rs = [r for r in rows if (r["s"], r["capacity_pct"]) == (s, pct)]
    med = lambda key, t=None: statistics.median(r[key] for r in rs if t is None or r["target"] == t)
    cell = dict(s=s, capacity_pct=pct, cache_objects=c, requests=requests,
                ideal=med("ideal_hit_ratio"), lru_sim=med("lru_sim_hit_ratio"))
    for t in targets:
        cell[t] = dict(hit_ratio=med("hit_ratio", t), of_ideal=med("hit_ratio", t) / cell["ideal"],
                       peak_objects=max(r["peak_objects"] for r in rs if r["target"] == t),
                       errors=sum(r["errors"] for r in rs if r["target"] == t))
    summary.append(cell)
hdr = f"{'s':>4} {'cap':>4} {'C':>5} {'requests':>9} {'ideal':>7}"
for t in targets:
    hdr += f" {t:>7} {t + '/ideal':>11} {'peak':>5}"
hdr += f" {'LRU-sim':>8}"
print()
print(hdr)
for cell in summary:
    line = f"{cell['s']:>4} {cell['capacity_pct']:>3g}% {cell['cache_objects']:>5} {cell['requests']:>9} {cell['ideal']:>7.4f}"
    for t in targets:
        m = cell[t]
        line += f" {m['hit_ratio']:>7.4f} {100 * m['of_ideal']:>10.1f}% {m['peak_objects']:>5}"
    line += f" {cell['lru_sim']:>8.4f}"
    print(line)
print()
print("objects: $CATALOG images of $SIZE_MIN-$((SIZE_MAX - 1)) bytes, Zipf rank k -> k-th image; C = cap% of them;"
      " median of $ROUNDS trace(s) per cell")
print("ideal: top-C bound on the trace (brink loadtest --cache-objects C); peak: most objects the server held"
      " during the replay (C is the target); LRU-sim: strict C-object LRU simulated on the same trace")
if "$NGINX_BOUND" == "keys_zone":
    print("capacity: brink capacity_bytes = C x $BRINK_OBJ_BYTES B; nginx keys_zone sized to hold ~C keys"
          " (synchronous LRU eviction), max_size 1 GiB")
else:
    print("capacity: brink capacity_bytes = C x $BRINK_OBJ_BYTES B; nginx max_size = (C x $NGINX_OBJ_BLOCKS + 1) blocks"
          " of $NGINX_BSIZE B, enforced by its cache manager (asynchronous)")
zones = """$(for c in "${!ZONE_FOR[@]}"; do echo "$c ${ZONE_FOR[$c]}"; done)""".split("\n")
zones = sorted((tuple(map(int, z.split())) for z in zones if z.strip()), key=lambda z: z[0])
if zones:
    print("nginx keys_zone key capacity: " + ", ".join(f"C={c}: {k} keys ({b} B zone)" for c, b, k in zones))
errs = sum(r["errors"] for r in rows)
if errs:
    print(f"WARNING: {errs} loadtest errors (see the JSON)")
doc = dict(benchmark="hit_ratio", started_utc="$STAMP", commit="$(git_commit)",
           settings=dict(catalog=$CATALOG, requests=requests, s=[float(x) for x in "$S_VALUES".split()],
                         capacity_pct=[float(x) for x in "$CAPACITY_PCTS".split()], rounds=$ROUNDS, seed=$SEED,
                         concurrency=$CONCURRENCY, image_bytes=[$SIZE_MIN, $SIZE_MAX], origin_catalog=$ORIGIN_CATALOG,
                         brink_bytes_per_object=$BRINK_OBJ_BYTES, nginx_blocks_per_object=$NGINX_OBJ_BLOCKS,
                         nginx_block_size=$NGINX_BSIZE, nginx_bound="$NGINX_BOUND",
                         nginx_keys_zone={str(c): dict(bytes=b, keys=k) for c, b, k in zones}),
           machine=dict(cpus=os.cpu_count(), kernel=platform.release(), machine=platform.machine()),
           summary=summary, runs=rows)
with open(out, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
print(f"results: {out}")
EOF
