#!/usr/bin/env bash
# echo_roundtrip: starts echo_server, runs echo_client against it, then sends
# the server SIGTERM and checks that it shuts down cleanly (status 0).
#
#   echo_roundtrip.sh <echo_server> <echo_client> [server args...]
#
# Prints "echo roundtrip ok" on success, "error: ..." otherwise. Every wait is
# bounded; CTest runs it under `timeout` as well.
set -u

server=$1
client=$2
shift 2

dir=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill -KILL "$server_pid" 2>/dev/null; fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'echo "error: interrupted"; exit 1' INT TERM

fail() {
    echo "error: $*"
    echo "--- server output:"
    cat "$dir/server.out"
    exit 1
}

"$server" --port 0 "$@" >"$dir/server.out" 2>&1 &
server_pid=$!

# Learn the port from the server's first line; give it up to 10 s.
port=
for _ in $(seq 1 200); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$dir/server.out")
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || fail "echo_server exited before listening"
    sleep 0.05
done
[ -n "$port" ] || fail "echo_server did not print its port within 10 s"

"$client" "127.0.0.1:$port" 50 || fail "echo_client failed"
"$client" "127.0.0.1:$port" 1 || fail "a second echo_client failed"

kill -TERM "$server_pid"
wait "$server_pid"
status=$?
server_pid=
[ "$status" -eq 0 ] || fail "echo_server exited with status $status after SIGTERM"
grep -q '^shutting down' "$dir/server.out" || fail "echo_server did not say it was shutting down"
cat "$dir/server.out"
echo "echo roundtrip ok"
