#!/usr/bin/env bash
# The README demo: starts mini-redis-server, shows a short redis-cli session
# against it (when redis-cli is installed), then keeps serving until Ctrl-C
# when MINI_REDIS_DEMO_SERVE=1 (the `demo` workflow sets it); otherwise it
# stops the server with SIGTERM and checks that it exits with status 0, so
# the same script is also a test.
#
#   demo.sh SERVER_BINARY [THREADS] [CLI_BINARY]
# Without redis-cli, the session goes through CLI_BINARY (mini-redis-cli).
# PORT (default 6379) picks the port; when it is taken, an ephemeral one is used.
set -u
server=${1:?server binary}
threads=${2:-2}
cli=${3:-}
port=${PORT:-6379}

out=$(mktemp)
pid=""
cleanup() {
    [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null
    rm -f "$out"
}
trap cleanup EXIT

start() {
    "$server" --port "$1" --threads "$threads" >"$out" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        grep -q "listening on" "$out" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
if ! start "$port"; then
    echo "port $port is not free; using an ephemeral port"
    start 0 || { cat "$out"; echo "FAIL: the server did not start"; exit 1; }
fi
cat "$out"
port=$(sed -n 's/.*listening on .*:\([0-9]*\).*/\1/p' "$out" | head -n 1)

if command -v redis-cli >/dev/null 2>&1; then
    run() {
        local shown=() arg
        for arg in "$@"; do [[ "$arg" == *" "* ]] && shown+=("\"$arg\"") || shown+=("$arg"); done
        echo "\$ redis-cli -p $port ${shown[*]}"
        timeout 10 redis-cli -p "$port" "$@"
    }
    run PING
    run SET greeting "hello from corio"
    run GET greeting
    run INCR visits
    run INCR visits
    run SET session abc EX 60
    run TTL session
    run EXISTS greeting visits nope
    run DEL greeting
    run GET greeting
elif [[ -n "$cli" ]]; then
    echo "(redis-cli is not installed: this session uses mini-redis-cli; apt-get install redis-tools for the real one)"
    run() {
        local shown=() arg
        for arg in "$@"; do [[ "$arg" == *" "* ]] && shown+=("\"$arg\"") || shown+=("$arg"); done
        echo "\$ mini-redis-cli --port $port ${shown[*]}"
        timeout 10 "$cli" --port "$port" "$@"
    }
    run ping
    run set greeting "hello from corio"
    run get greeting
    run set session abc --ex 60
    run get session
    run del greeting session nope
    run get greeting
else
    echo "(install redis-tools to see a redis-cli session here)"
fi

if [[ "${MINI_REDIS_DEMO_SERVE:-0}" == 1 ]]; then
    echo "mini-redis is serving on 127.0.0.1:$port: try 'redis-cli -p $port' or 'redis-benchmark -p $port -q'; Ctrl-C stops it"
    trap 'kill -TERM "$pid" 2>/dev/null' INT TERM
    wait "$pid"
    wait "$pid"  # the first wait returns early when a trapped signal arrives
    status=$?
else
    kill -TERM "$pid"
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    wait "$pid"
    status=$?
fi
pid=""
cat "$out" | tail -n +2
echo "mini-redis-server exited with status $status"
exit "$status"
