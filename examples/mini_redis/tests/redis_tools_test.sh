#!/usr/bin/env bash
# Drives the real mini-redis-server binary with the real Redis tools.
#
#   redis_tools_test.sh SERVER_BINARY PART THREADS
#
# PART is one of:
#   commands   redis-cli runs every supported command; each reply must be the
#              one Redis 7 gives (checked against real redis-server once)
#   benchmark  redis-benchmark -t ping,set,get, without and with -P 16
#   pubsub     two `redis-cli subscribe` processes both get a PUBLISH
#   shutdown   SIGTERM with a client connected: exit status 0, promptly
#   readers    SIGTERM while 20 clients pipeline GETs of a 100 KB value and
#              never read the replies: exit within 2 s (not the 5 s grace)
#   fdlimit    the server under `ulimit -n 1024`, 1,500 clients: it says it
#              lowered --max-connections, serves 992 and tells the other 508
#              "max number of clients reached" (none hangs)
# Starts the server on an ephemeral port (--port 0) with --threads THREADS.
# Exits 77 (CTest's SKIP_RETURN_CODE) when redis-cli or redis-benchmark is
# not installed. Every wait is bounded.
set -u

server=${1:?server binary}
part=${2:?part}
threads=${3:-1}

for tool in redis-cli redis-benchmark; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "$tool is not installed (apt-get install redis-tools): skipping"
        exit 77
    fi
done

if [[ "$part" == fdlimit && -n "${CORIO_SANITIZED:-}" ]]; then
    echo "a sanitizer build: its runtime needs descriptors that this test exhausts on purpose: skipping"
    exit 77
fi

work=$(mktemp -d)
server_pid=""
helpers=()
cleanup() {
    for pid in "${helpers[@]}"; do kill "$pid" 2>/dev/null; done
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    echo "--- server stdout:"; cat "$work/server.out" 2>/dev/null
    echo "--- server stderr:"; cat "$work/server.err" 2>/dev/null
    exit 1
}

# Starts the server and sets $port from its "listening on IP:PORT" line.
start_server() {
    : >"$work/server.out"  # exists before the first poll: the job opens it after the fork
    if [[ "$part" == fdlimit ]]; then
        (ulimit -n 1024 && exec "$server" --port 0 --threads "$threads") >"$work/server.out" 2>"$work/server.err" &
    else
        "$server" --port 0 --threads "$threads" >"$work/server.out" 2>"$work/server.err" &
    fi
    server_pid=$!
    for _ in $(seq 100); do
        port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$work/server.out")
        [[ -n "$port" ]] && return 0
        kill -0 "$server_pid" 2>/dev/null || fail "the server exited at start"
        sleep 0.1
    done
    fail "the server did not print its address within 10 s"
}

cli() { timeout 10 redis-cli -p "$port" "$@" 2>&1; }

# expect WANT ARGS...: redis-cli ARGS must print exactly WANT.
expect() {
    local want=$1
    shift
    local got
    got=$(cli "$@")
    [[ "$got" == "$want" ]] || fail "redis-cli $*: got '$got', want '$want'"
}

# replies WANT ARGS...: true when redis-cli ARGS prints exactly WANT (no failure).
replies() {
    local want=$1
    shift
    [[ "$(cli "$@")" == "$want" ]]
}

# exited PID: true once the child PID has ended (a zombie counts: it is not reaped yet).
exited() {
    [[ ! -e /proc/$1/stat ]] || [[ "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" == Z ]]
}

# wait_for SECONDS COMMAND...: retries COMMAND every 0.05 s until it succeeds.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}

part_commands() {
    expect PONG PING
    expect hello PING hello
    expect "hi there" ECHO "hi there"
    expect OK SET k v
    expect v GET k
    expect "" GET missing
    expect "" SET k v NX
    expect OK SET k v2 XX
    expect v2 GET k
    expect OK SET e v EX 100
    expect 100 TTL e
    expect OK SET p v PX 100000
    expect 100 TTL p
    expect -1 TTL k
    expect -2 TTL missing
    expect 1 DEL k missing
    expect 2 EXISTS e e missing
    expect 1 INCR n
    expect 2 INCR n
    expect OK SET s abc
    expect "ERR value is not an integer or out of range" INCR s
    expect OK SET big 9223372036854775807
    expect "ERR increment or decrement would overflow" INCR big
    expect 1 EXPIRE e 5
    expect 5 TTL e
    expect 0 EXPIRE missing 5
    expect 1 EXPIRE e -1
    expect -2 TTL e
    expect OK SET short v PX 50
    wait_for 5 replies 0 EXISTS short || fail "a key with PX 50 did not expire"
    expect 0 PUBLISH ch msg
    expect "ERR wrong number of arguments for 'get' command" GET
    expect "ERR wrong number of arguments for 'set' command" SET onlykey
    expect "ERR unknown command 'FOO', with args beginning with: 'a' 'b' " FOO a b
    expect "ERR invalid expire time in 'set' command" SET e v EX 0
    expect "ERR value is not an integer or out of range" SET e v EX x
    expect "ERR syntax error" SET e v NX XX
    expect save CONFIG GET save
    expect $'appendonly\nno' CONFIG GET appendonly
    expect OK SELECT 0
    expect OK CLIENT SETNAME tester
    expect OK QUIT
    cli INFO | grep -q '^redis_version:' || fail "INFO has no redis_version"
    # Several commands over one connection, and pipelined raw protocol.
    got=$(printf 'SET a 1\nINCR a\nGET a\n' | cli)
    [[ "$got" == $'OK\n2\n2' ]] || fail "commands from stdin: got '$got'"
    got=$(printf '*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n5\r\n*2\r\n$4\r\nINCR\r\n$1\r\nb\r\nPING\r\n' | cli --pipe)
    [[ "$got" == *"errors: 0, replies: 3"* ]] || fail "redis-cli --pipe: got '$got'"
}

part_benchmark() {
    local out
    for pipeline in 1 16; do
        out=$(timeout 60 redis-benchmark -p "$port" -n 2000 -c 10 -t ping,set,get -q -P "$pipeline" 2>&1) ||
            fail "redis-benchmark -P $pipeline failed: $out"
        for test in PING_INLINE PING_MBULK SET GET; do
            grep -q "$test: [0-9.]* requests per second" <<<"$out" || fail "redis-benchmark -P $pipeline: no $test result in: $out"
        done
        if grep -qiE "error|warning" <<<"$out"; then fail "redis-benchmark -P $pipeline reported: $out"; fi
        echo "redis-benchmark -P $pipeline:"
        tr '\r' '\n' <<<"$out" | grep "requests per second, p50"
    done
}

part_pubsub() {
    for i in 1 2; do
        timeout 30 redis-cli -p "$port" SUBSCRIBE news >"$work/sub$i.out" 2>&1 &
        helpers+=($!)
    done
    # Both are subscribed once a PUBLISH reaches two subscriptions.
    wait_for 10 replies 2 PUBLISH news hello || fail "PUBLISH never reached two subscribers"
    for i in 1 2; do
        wait_for 10 grep -q '^hello$' "$work/sub$i.out" || fail "subscriber $i did not print the message: $(cat "$work/sub$i.out")"
        grep -q '^message$' "$work/sub$i.out" || fail "subscriber $i: no 'message' line"
    done
    for pid in "${helpers[@]}"; do kill "$pid" 2>/dev/null; done
    # The channel goes with its last subscriber.
    wait_for 10 replies 0 PUBLISH news bye || fail "PUBLISH still reaches departed subscribers"
}

part_shutdown() {
    timeout 30 redis-cli -p "$port" SUBSCRIBE idle >"$work/idle.out" 2>&1 &
    helpers+=($!)
    wait_for 10 replies 1 PUBLISH idle x || fail "the idle subscriber never subscribed"
    expect OK SET before shutdown
    local start=$SECONDS
    kill -TERM "$server_pid"
    local status
    wait_for 10 exited "$server_pid" || fail "the server did not exit within 10 s of SIGTERM"
    wait "$server_pid"
    status=$?
    server_pid=""
    [[ $status -eq 0 ]] || fail "the server exited with status $status after SIGTERM"
    grep -q "shutting down (SIGTERM)" "$work/server.out" || fail "no shutdown message"
    ((SECONDS - start <= 6)) || fail "shutdown took $((SECONDS - start)) s"
}

part_readers() {
    expect OK SET k "$(head -c 100000 /dev/zero | tr '\0' x)"
    local fds=() fd
    for _ in $(seq 20); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect"
        fds+=("$fd")
        # 200 pipelined GETs (20 MB of replies) that are never read.
        printf 'GET k\r\n%.0s' $(seq 200) >&"$fd"
    done
    sleep 1
    local start=$EPOCHREALTIME
    kill -TERM "$server_pid"
    wait_for 10 exited "$server_pid" || fail "the server did not exit within 10 s of SIGTERM"
    wait "$server_pid" || fail "the server exited with a failure status"
    server_pid=""
    local took
    took=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
    echo "exited $took s after SIGTERM with 20 clients not reading"
    awk -v t="$took" 'BEGIN { exit !(t <= 2) }' || fail "shutdown took $took s"
    for fd in "${fds[@]}"; do exec {fd}>&-; done
}

part_fdlimit() {
    command -v python3 >/dev/null || { echo "python3 is not installed: skipping"; exit 77; }
    grep -q "lowered from 10000 to 992" "$work/server.err" || fail "no warning about the descriptor limit"
    # (bash's `read -t` cannot wait on a descriptor past 1023.)
    local counts
    counts=$(timeout 60 python3 - "$port" <<'PY'
import resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
port = int(sys.argv[1])
held, pong, refused, other = [], 0, 0, 0
for _ in range(1500):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    held.append(s)
    s.sendall(b"PING\r\n")
    try:
        reply = s.recv(100)
    except OSError:
        reply = b""
    if reply.startswith(b"+PONG"):
        pong += 1
    elif b"max number of clients reached" in reply:
        refused += 1
    else:
        other += 1
print(pong, refused, other)
PY
    ) || fail "the clients failed"
    read -r pong refused other <<<"$counts"
    echo "1500 clients under ulimit -n 1024: $pong served, $refused refused, $other other"
    ((pong == 992 && refused == 508 && other == 0)) || fail "expected 992 served and 508 refused"
}

start_server
case "$part" in
    commands) part_commands ;;
    benchmark) part_benchmark ;;
    pubsub) part_pubsub ;;
    shutdown) part_shutdown ;;
    readers) part_readers ;;
    fdlimit) part_fdlimit ;;
    *) fail "unknown part $part" ;;
esac
if [[ -n "$server_pid" ]]; then
    kill -TERM "$server_pid"
    wait_for 10 exited "$server_pid" || fail "the server did not stop on SIGTERM"
    wait "$server_pid" || fail "the server exited with a failure status"
    server_pid=""
fi
if grep -qE "ERROR: [A-Za-z]+Sanitizer|WARNING: ThreadSanitizer" "$work/server.err"; then fail "sanitizer report"; fi
echo "mini-redis $part with redis tools on $threads thread(s): ok"
