#!/usr/bin/env bash
# tcp_proxy_roundtrip: starts echo_server, puts tcp_proxy in front of it,
# sends lines through the proxy and checks the echoes, checks that the idle
# timeout closes a quiet connection, then sends the proxy SIGINT and checks
# its summary line and its exit status (0).
#
#   tcp_proxy_roundtrip.sh <tcp_proxy> <echo_server>
#
# Prints "tcp proxy roundtrip ok" on success, "error: ..." otherwise. The
# client is bash's /dev/tcp; every wait is bounded, and CTest runs it under
# `timeout` as well.
set -u

proxy=$1
server=$2
idle_ms=400

dir=$(mktemp -d)
server_pid=
proxy_pid=
cleanup() {
    if [ -n "$proxy_pid" ]; then kill -KILL "$proxy_pid" 2>/dev/null; fi
    if [ -n "$server_pid" ]; then kill -KILL "$server_pid" 2>/dev/null; fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'echo "error: interrupted"; exit 1' INT TERM

fail() {
    echo "error: $*"
    echo "--- proxy stdout:"
    cat "$dir/proxy.out" 2>/dev/null
    echo "--- proxy stderr:"
    cat "$dir/proxy.err" 2>/dev/null
    echo "--- echo_server output:"
    cat "$dir/server.out" 2>/dev/null
    exit 1
}

# wait_port <file> <pid> <name>: the port of the "listening on 127.0.0.1:P"
# line of <file>, within 10 s.
wait_port() {
    local port=
    for _ in $(seq 1 200); do
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$1")
        if [ -n "$port" ]; then
            echo "$port"
            return 0
        fi
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# wait_exit <pid> <seconds>: true once <pid> has exited (reaped with `wait`
# afterwards), false if it is still running after <seconds>.
wait_exit() {
    local polls=$(($2 * 20))
    for _ in $(seq 1 "$polls"); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.05
    done
    return 1
}

now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

"$server" --port 0 >"$dir/server.out" 2>&1 &
server_pid=$!
upstream_port=$(wait_port "$dir/server.out" "$server_pid") || fail "echo_server did not print its port"

"$proxy" --listen 127.0.0.1:0 --upstream "127.0.0.1:$upstream_port" --idle-timeout-ms "$idle_ms" --grace-ms 2000 \
    >"$dir/proxy.out" 2>"$dir/proxy.err" &
proxy_pid=$!
port=$(wait_port "$dir/proxy.out" "$proxy_pid") || fail "tcp_proxy did not print its port"

# 1. Echo through the proxy: two lines, each read back within 5 s, then close.
exec {conn}<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect to the proxy"
for line in "hello through the proxy" "second line"; do
    printf '%s\n' "$line" >&"$conn" || fail "cannot write to the proxy"
    reply=
    IFS= read -r -t 5 reply <&"$conn" || fail "no echo of '$line' within 5 s"
    [ "$reply" = "$line" ] || fail "sent '$line', got '$reply' back"
done
exec {conn}>&-

# 2. Idle timeout: one echo, then silence; the proxy must close the
# connection (read sees end of stream, not a timeout) after about idle_ms.
exec {idle}<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect to the proxy"
printf 'ping\n' >&"$idle"
reply=
IFS= read -r -t 5 reply <&"$idle" || fail "no echo of 'ping' within 5 s"
[ "$reply" = ping ] || fail "sent 'ping', got '$reply' back"
quiet_since=$(now_ms)
IFS= read -r -t 5 reply <&"$idle"
status=$?
waited=$(($(now_ms) - quiet_since))
exec {idle}>&-
[ "$status" -le 128 ] || fail "an idle connection was still open after 5 s (idle timeout ${idle_ms} ms)"
[ "$waited" -ge $((idle_ms - 100)) ] || fail "an idle connection was closed after ${waited} ms, before ${idle_ms} ms"

# 3. SIGINT: the proxy stops, waits for the first connection to finish (it
# may still be closing upstream), prints its summary and exits with 0.
kill -INT "$proxy_pid"
wait_exit "$proxy_pid" 5 || fail "tcp_proxy still running 5 s after SIGINT"
wait "$proxy_pid"
status=$?
proxy_pid=
[ "$status" -eq 0 ] || fail "tcp_proxy exited with status $status after SIGINT"
grep -q '^shutting down (SIGINT)$' "$dir/proxy.out" || fail "tcp_proxy did not say it was shutting down"
# Bytes each way: "hello through the proxy\n" (24) + "second line\n" (12) + "ping\n" (5).
summary='summary: 2 connection(s) served, 41 bytes client->upstream, 41 bytes upstream->client, 1 idle timeout(s), 0 upstream failure(s)'
grep -qxF "$summary" "$dir/proxy.out" || fail "unexpected summary"

kill -TERM "$server_pid"
wait_exit "$server_pid" 5 || fail "echo_server still running 5 s after SIGTERM"
wait "$server_pid"
server_pid=

cat "$dir/proxy.out"
echo "tcp proxy roundtrip ok"
