#!/usr/bin/env bash
# mini-redis against the real Redis, measured by redis-benchmark.
#
#   bench/redis/run.sh [SERVER_BINARY]      (default build/release/examples/mini_redis/mini-redis-server)
#
# Builds nothing: build the server first, e.g.
#   cmake --preset release && cmake --build build/release --target mini-redis-server
# Needs redis-server and redis-benchmark (apt-get install redis-server redis-tools).
#
# Starts mini-redis-server --threads 1, mini-redis-server --threads 2 and
# `redis-server --save '' --appendonly no`, all on loopback, then for each
# load below runs `redis-benchmark -t ping,set,get -n $REQUESTS -q` against
# each server in turn (interleaved, so a drift of the machine hits all of
# them alike) and prints a markdown table of requests per second with the
# ratio to Redis:
#   -c 50            50 connections, one request in flight each
#   -c 50 -P 16      the same with 16 pipelined requests per connection
#   -c 1000          1000 connections (the script raises `ulimit -n`)
# Environment: REQUESTS (default 200000), ROUNDS (default 1; with more, each
# cell is the median of the rounds).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
server="${1:-$root/build/release/examples/mini_redis/mini-redis-server}"
requests="${REQUESTS:-200000}"
rounds="${ROUNDS:-1}"

for tool in redis-server redis-benchmark redis-cli; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found (apt-get install redis-server redis-tools)" >&2; exit 1; }
done
[[ -x "$server" ]] || { echo "error: $server is not an executable (build it first)" >&2; exit 1; }

# -c 1000 needs more than the usual 1024 descriptors, in the servers too.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < 2100)); then echo "error: cannot raise ulimit -n above $(ulimit -n)" >&2; exit 1; fi

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# start_mini NAME THREADS: starts mini-redis-server, sets port_NAME.
start_mini() {
    local name=$1 threads=$2 port=""
    "$server" --port 0 --threads "$threads" >"$work/$name.out" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$work/$name.out")
        [[ -n "$port" ]] && break
        sleep 0.1
    done
    [[ -n "$port" ]] || { echo "error: $name did not start: $(cat "$work/$name.out")" >&2; exit 1; }
    printf -v "port_$name" '%s' "$port"
}

# start_redis: starts redis-server on a free port, sets port_redis.
start_redis() {
    local port
    for _ in $(seq 20); do
        port=$((20000 + RANDOM % 20000))
        redis-cli -p "$port" PING >/dev/null 2>&1 && continue  # taken
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --maxclients 10000 \
            >"$work/redis.out" 2>&1 &
        pids+=($!)
        for _ in $(seq 50); do
            if [[ "$(redis-cli -p "$port" PING 2>/dev/null)" == PONG ]]; then
                port_redis=$port
                return
            fi
            sleep 0.1
        done
    done
    echo "error: redis-server did not start: $(cat "$work/redis.out")" >&2
    exit 1
}

start_mini mini1 1
start_mini mini2 2
start_redis
servers=(redis mini1 mini2)

loads=("-c 50" "-c 50 -P 16" "-c 1000")
tests=(PING_INLINE PING_MBULK SET GET)

# bench SERVER LOAD ROUND: runs redis-benchmark, stores "TEST rps" lines.
bench() {
    local name=$1 load=$2 round=$3 port_var="port_$1"
    # shellcheck disable=SC2086  # $load holds several options
    redis-benchmark -p "${!port_var}" -t ping,set,get -n "$requests" $load -q 2>&1 | tr '\r' '\n' |
        sed -n 's/^ *\([A-Z_]*\): \([0-9.]*\) requests per second.*/\1 \2/p' >"$work/result.$name.${load// /_}.$round"
}

for round in $(seq "$rounds"); do
    for load in "${loads[@]}"; do
        for name in "${servers[@]}"; do
            echo "round $round: $load against $name" >&2
            bench "$name" "$load" "$round"
        done
    done
done

# rps SERVER LOAD TEST: the median over the rounds (0 when missing).
rps() {
    local name=$1 load=$2 test=$3
    cat "$work"/result."$name"."${load// /_}".* 2>/dev/null | awk -v t="$test" '$1 == t { print $2 }' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else print v[int((NR + 1) / 2)] }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo
echo "redis-benchmark -n $requests -q, requests/s ($(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p') vs mini-redis; ratio = mini-redis / redis; $rounds round(s)):"
echo
echo "| load | test | redis | mini-redis --threads 1 | ratio | mini-redis --threads 2 | ratio |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
for load in "${loads[@]}"; do
    for test in "${tests[@]}"; do
        r=$(rps redis "$load" "$test")
        m1=$(rps mini1 "$load" "$test")
        m2=$(rps mini2 "$load" "$test")
        printf '| `%s` | %s | %.0f | %.0f | %s | %.0f | %s |\n' "$load" "$test" "$r" "$m1" "$(ratio "$m1" "$r")" "$m2" \
            "$(ratio "$m2" "$r")"
    done
done
