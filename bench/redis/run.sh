#!/usr/bin/env bash
# mini-redis against the real Redis, measured by redis-benchmark.
#
#   bench/redis/run.sh [SERVER_BINARY]      (default build/release/examples/mini_redis/mini-redis-server)
#
# Builds nothing: build the server first, e.g.
#   cmake --preset release && cmake --build build/release --target mini-redis-server
# Needs redis-server and redis-benchmark (apt-get install redis-server redis-tools).
#
# Starts mini-redis-server --threads 1 on each I/O backend (epoll, io_uring),
# mini-redis-server --threads 2 (io_uring) and `redis-server --save ''
# --appendonly no`, all on loopback, then for each load below runs
# `redis-benchmark -t set,get -n $REQUESTS -q` against each server in turn
# (interleaved, so a drift of the machine hits all of them alike) and prints
# a markdown table of requests per second with the ratio to Redis, and the
# server's CPU seconds per million requests (user + system, from
# /proc/PID/stat before and after). A second, shorter table counts the
# server's system calls per request (`strace -c -f`, -n $STRACE_REQUESTS,
# default 20000, -c 50 and -c 50 -P 16; needs strace). Loads:
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

for tool in redis-server redis-benchmark redis-cli strace; do
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

# start_mini NAME THREADS BACKEND: starts mini-redis-server, sets port_NAME and pid_NAME.
start_mini() {
    local name=$1 threads=$2 backend=$3 port=""
    : >"$work/$name.out"  # exists before the first poll: the job opens it after the fork
    CORIO_IO_BACKEND=$backend "$server" --port 0 --threads "$threads" >"$work/$name.out" 2>&1 &
    pids+=($!)
    printf -v "pid_$name" '%s' "$!"
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
        pid_redis=$!
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

start_mini epoll1 1 epoll
start_mini uring1 1 io_uring
start_mini uring2 2 io_uring
start_redis
servers=(redis epoll1 uring1 uring2)

loads=("-c 50" "-c 50 -P 16" "-c 1000")
tests=(SET GET)

# cpu_ticks PID: user + system clock ticks the process has used.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# bench SERVER LOAD ROUND: runs redis-benchmark, stores "TEST rps" lines and
# the server's CPU ticks for the run.
bench() {
    local name=$1 load=$2 round=$3 port_var="port_$1" pid_var="pid_$1" before after
    before=$(cpu_ticks "${!pid_var}")
    # shellcheck disable=SC2086  # $load holds several options
    redis-benchmark -p "${!port_var}" -t set,get -n "$requests" $load -q 2>&1 | tr '\r' '\n' |
        sed -n 's/^ *\([A-Z_]*\): \([0-9.]*\) requests per second.*/\1 \2/p' >"$work/result.$name.${load// /_}.$round"
    after=$(cpu_ticks "${!pid_var}")
    echo $((after - before)) >"$work/cpu.$name.${load// /_}.$round"
}

for round in $(seq "$rounds"); do
    for load in "${loads[@]}"; do
        for name in "${servers[@]}"; do
            echo "round $round: $load against $name" >&2
            bench "$name" "$load" "$round"
        done
    done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else print v[int((NR + 1) / 2)] }'; }

# rps SERVER LOAD TEST: the median over the rounds (0 when missing).
rps() {
    local name=$1 load=$2 test=$3
    cat "$work"/result."$name"."${load// /_}".* 2>/dev/null | awk -v t="$test" '$1 == t { print $2 }' | median
}

# cpu SERVER LOAD: CPU seconds per million requests (median over the rounds).
cpu() {
    local name=$1 load=$2 ticks
    ticks=$(cat "$work"/cpu."$name"."${load// /_}".* | median)
    awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$requests" 'BEGIN { printf "%.2f", t / hz / (2 * n) * 1e6 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo
echo "redis-benchmark -t set,get -n $requests -q, requests/s ($(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p') vs mini-redis; ratio = mini-redis / redis; $rounds round(s)):"
echo
echo "| load | test | redis | mini-redis T1 epoll | ratio | mini-redis T1 io_uring | ratio | mini-redis T2 io_uring | ratio |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for load in "${loads[@]}"; do
    for test in "${tests[@]}"; do
        r=$(rps redis "$load" "$test")
        row="| \`$load\` | $test | $(printf %.0f "$r")"
        for name in epoll1 uring1 uring2; do
            m=$(rps "$name" "$load" "$test")
            row+=" | $(printf %.0f "$m") | $(ratio "$m" "$r")"
        done
        echo "$row |"
    done
done

echo
echo "Server CPU seconds per million requests (SET and GET together; ratio = mini-redis / redis, lower is better):"
echo
echo "| load | redis | mini-redis T1 epoll | ratio | mini-redis T1 io_uring | ratio | mini-redis T2 io_uring | ratio |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for load in "${loads[@]}"; do
    r=$(cpu redis "$load")
    row="| \`$load\` | $r"
    for name in epoll1 uring1 uring2; do
        m=$(cpu "$name" "$load")
        row+=" | $m | $(ratio "$m" "$r")"
    done
    echo "$row |"
done

# System calls per request: strace counts every call of the server (all its
# threads) during a shorter run; strace slows the server, not what it calls.
strace_requests="${STRACE_REQUESTS:-20000}"
syscalls() {
    local name=$1 load=$2 port_var="port_$1" pid_var="pid_$1" out="$work/strace.$1"
    strace -c -f -p "${!pid_var}" -o "$out" 2>/dev/null &
    local tracer=$!
    sleep 1
    # shellcheck disable=SC2086
    redis-benchmark -p "${!port_var}" -t set,get -n "$strace_requests" $load -q >/dev/null 2>&1
    kill -INT "$tracer"
    wait "$tracer" 2>/dev/null || true
    awk -v n="$strace_requests" '$NF == "total" { printf "%.3f", $4 / (2 * n) }' "$out"
}

echo
echo "Server system calls per request (strace -c -f, -n $strace_requests, SET and GET together):"
echo
echo "| load | redis | mini-redis T1 epoll | mini-redis T1 io_uring | mini-redis T2 io_uring |"
echo "| --- | ---: | ---: | ---: | ---: |"
for load in "-c 50" "-c 50 -P 16"; do
    row="| \`$load\`"
    for name in redis epoll1 uring1 uring2; do
        row+=" | $(syscalls "$name" "$load")"
    done
    echo "$row |"
done
