#!/usr/bin/env bash
# Sends the same commands to mini-redis and to redis-server through redis-cli
# and fails on the first reply that differs.
#
#   compat_test.sh MINI_REDIS_SERVER CASES_FILE
#
# CASES_FILE: one command per line, as typed at the redis-cli prompt (quotes
# group words); blank lines and lines starting with '#' are skipped. Both
# servers start empty, and every line goes to both over one connection each,
# in order, so later lines see what earlier ones did. Replies are compared as
# `redis-cli --no-raw` prints them: type and value ((integer) 1, "v", (nil),
# (error) ERR ...). Exits 77 (skipped) without redis-server or redis-cli.
set -euo pipefail
server="$1"
cases="$2"

for tool in redis-server redis-cli; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: $tool is not installed (apt-get install redis-server redis-tools)"
        exit 77
    fi
done

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# redis-server on a Unix socket (no TCP port to pick), without persistence.
# The output files exist before either server starts: a background job opens
# its redirection after the fork, so the first poll below could run before it.
: >"$work/redis.out"
: >"$work/mini.out"
redis-server --port 0 --unixsocket "$work/redis.sock" --save '' --appendonly no \
    --dir "$work" >"$work/redis.out" 2>&1 &
pids+=($!)
"$server" --port 0 --threads 1 >"$work/mini.out" 2>&1 &
pids+=($!)
port=""
for _ in $(seq 100); do
    port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$work/mini.out")
    [[ -n "$port" && -S "$work/redis.sock" ]] && break
    sleep 0.1
done
[[ -n "$port" ]] || { echo "FAIL: mini-redis did not start"; cat "$work/mini.out"; exit 1; }
[[ -S "$work/redis.sock" ]] || { echo "FAIL: redis-server did not start"; cat "$work/redis.out"; exit 1; }

grep -vE '^[[:space:]]*(#|$)' "$cases" >"$work/commands"
# One reply per command: redis-cli prints each reply as one or more lines, so
# each command is sent alone and its output kept as one block.
n=0
while IFS= read -r line; do
    n=$((n + 1))
    expected=$(printf '%s\n' "$line" | timeout 10 redis-cli -s "$work/redis.sock" --no-raw 2>&1) || true
    got=$(printf '%s\n' "$line" | timeout 10 redis-cli -p "$port" --no-raw 2>&1) || true
    if [[ "$expected" != "$got" ]]; then
        echo "FAIL: line $n of $(basename "$cases"): $line"
        echo "  redis-server: ${expected//$'\n'/$'\n'                }"
        echo "  mini-redis:   ${got//$'\n'/$'\n'                }"
        exit 1
    fi
done <"$work/commands"
echo "mini-redis and redis-server gave the same $n replies for $(basename "$cases")"
