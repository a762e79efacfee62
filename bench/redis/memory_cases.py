#!/usr/bin/env python3
"""Memory and throughput cases, against mini-redis and redis-server side by side.

  memory_cases.py MINI_REDIS_SERVER [REDIS_SERVER] [--case NAME ...]

Starts a fresh server on an ephemeral port for each measurement (mini-redis
with --threads 1 unless said otherwise, redis-server with --save ''
--appendonly no) and prints one markdown table: one row per measurement, a
column per server, and the ratio mini-redis / redis-server. Cases (all by
default; --case NAME, repeatable, picks some):

  keys       memory per key: 850,000 distinct keys `key:%012d` (the keys
             `redis-benchmark -t set -r 1000000` makes) loaded with SET,
             pipelined 1,000 commands per send; (RSS after - RSS before) /
             keys in bytes. Once with 3-byte values (redis-benchmark's
             default), once with 100-byte values, each on a fresh server.
  bigget     one 100 MB value: SET it, then the server's peak RSS (VmRSS
             sampled every 10 ms) while 1 client GETs it and reads the whole
             reply, and then while 4 clients GET it at once; in MB, with
             the RSS after the SET for reference. The RSS before each phase
             and the time it took go to stderr.
  keysstall  KEYS * over 1,000,000 keys while another client PINGs one
             request at a time: the longest PING round trip meanwhile (a
             server that does not yield stalls it for the whole KEYS), and
             how long the KEYS took, in ms.
  benchmark  `redis-benchmark -t set,get,lpush,lpop,incr,mset -n 100000 -q
             -c 50`, and the same with -P 16, against mini-redis --threads 1,
             mini-redis --threads 2 and redis-server, all running at once,
             each load sent to each server in turn: requests per second.
             A command the server answers with an error (probed first with
             redis-cli: mini-redis may not have LPUSH, LPOP or MSET) is
             reported as n/a and left out of the run, rather than timing
             error replies.

The expiry case (1,000,000 keys expiring at one instant, the worst wait of a
client GETting another key meanwhile) is bench/redis/expiry_latency.py; it
takes the port of a running server: `expiry_latency.py PORT`.

Progress and raw numbers go to stderr, the table to stdout. RSS is read from
/proc/PID/status (VmRSS). Ratios are mini-redis / redis-server: lower is
better for memory, higher for requests per second.
Needs redis-cli and redis-benchmark on PATH for the benchmark case.
"""
import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ left in bench/redis by the import below
from pubsub_cases import Conn, command, free_port, rss_kb, run_server  # same directory

SOCKET_TIMEOUT = 120.0  # seconds any one read or write may block
KEYS = 850_000
BATCH = 1000
BIG = 100 * 1024 * 1024
BENCH_TESTS = ["set", "get", "lpush", "lpop", "incr", "mset"]
BENCH_LOADS = [["-c", "50"], ["-c", "50", "-P", "16"]]
BENCH_REQUESTS = 100_000

# How redis-benchmark -q names each test, and a harmless command that
# tells whether the server has it.
BENCH_NAMES = {"set": "SET", "get": "GET", "lpush": "LPUSH", "lpop": "LPOP", "incr": "INCR",
               "mset": "MSET (10 keys)"}
PROBES = {
    "set": ["SET", "memory_cases:probe", "v"],
    "get": ["GET", "memory_cases:probe"],
    "lpush": ["LPUSH", "memory_cases:list", "v"],
    "lpop": ["LPOP", "memory_cases:list"],
    "incr": ["INCR", "memory_cases:counter"],
    "mset": ["MSET", "memory_cases:a", "v", "memory_cases:b", "v"],
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Server:
    """A server process on a fresh port, killed on leaving the `with`."""

    def __init__(self, argv_for_port):
        self.port = free_port()
        self.proc = run_server(argv_for_port(self.port), self.port)
        self.pid = self.proc.pid

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return False


def connect(port):
    conn = Conn(port)
    conn.s.settimeout(SOCKET_TIMEOUT)
    return conn


# ---------------------------------------------------------------- keys

def load_keys(conn, count, value):
    """SETs key:%012d for 0..count-1, BATCH commands per send."""
    for start in range(0, count, BATCH):
        n = min(BATCH, count - start)
        conn.send(b"".join(command("SET", b"key:%012d" % i, value) for i in range(start, start + n)))
        for _ in range(n):
            r = conn.reply()
            if r != b"OK":
                raise RuntimeError(f"SET answered {r!r}")


def case_keys(servers):
    rows = []
    for size in (3, 100):
        cells = {}
        for name, argv in servers["memory"]:
            log(f"keys: {KEYS:,} keys with {size}-byte values into {name}")
            with Server(argv) as srv:
                conn = connect(srv.port)
                conn.send(command("PING"))
                conn.reply()
                time.sleep(0.2)
                before = rss_kb(srv.pid)
                start = time.monotonic()
                load_keys(conn, KEYS, b"x" * size)
                took = time.monotonic() - start
                time.sleep(0.5)
                after = rss_kb(srv.pid)
                conn.s.close()
            per_key = (after - before) * 1024 / KEYS
            log(f"  RSS {before / 1024:,.1f} -> {after / 1024:,.1f} MB, {per_key:,.1f} B/key, loaded in {took:.1f} s")
            cells[name] = per_key
        rows.append((f"keys: memory per key, {KEYS:,} keys, {size}-byte values", "B/key", cells, "{:,.0f}"))
    return rows


# ---------------------------------------------------------------- keysstall

STALL_KEYS = 1_000_000
# PINGs one at a time until told to stop on stdin; prints the longest round trip in ms.
PINGER = r"""
import socket, sys, threading, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
worst = 0.0
print("ready", flush=True)
while not stop.is_set():
    start = time.monotonic()
    s.sendall(b"*1\r\n$4\r\nPING\r\n")
    got = b""
    while not got.endswith(b"\r\n"):
        got += s.recv(64)
    worst = max(worst, time.monotonic() - start)
print(worst * 1000, flush=True)
"""


def case_keysstall(servers):
    """KEYS * over 1,000,000 keys while a second client PINGs one at a time:
    the longest a PING waited, and how long the KEYS took."""
    cells_wait, cells_keys = {}, {}
    for name, argv in servers["memory"]:
        log(f"keysstall: {STALL_KEYS:,} keys into {name}")
        with Server(argv) as srv:
            loader = connect(srv.port)
            load_keys(loader, STALL_KEYS, b"v")
            # The pinger is a process of its own: a thread would share the
            # interpreter lock with the parsing of the KEYS reply here.
            pinger = subprocess.Popen([sys.executable, "-c", PINGER, str(srv.port)], stdout=subprocess.PIPE,
                                      stdin=subprocess.PIPE, text=True)
            pinger.stdout.readline()  # "ready"
            start = time.monotonic()
            loader.send(command("KEYS", "*"))
            keys = loader.reply()
            took = time.monotonic() - start
            time.sleep(0.1)
            worst_ms = float(pinger.communicate("stop\n", timeout=60)[0])
            worst = [worst_ms / 1000]
            if len(keys) != STALL_KEYS:
                raise RuntimeError(f"KEYS returned {len(keys)} keys")
        log(f"  KEYS took {took * 1000:,.0f} ms; the longest PING meanwhile {worst[0] * 1000:,.1f} ms")
        cells_wait[name] = worst[0] * 1000
        cells_keys[name] = took * 1000
    return [(f"keysstall: longest PING during KEYS * of {STALL_KEYS:,} keys", "ms", cells_wait, "{:,.1f}"),
            (f"keysstall: the KEYS * itself", "ms", cells_keys, "{:,.0f}")]


# ---------------------------------------------------------------- bigget

class PeakSampler:
    """Samples a process's VmRSS every 10 ms in a thread; .peak in kB."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = rss_kb(pid)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, rss_kb(self.pid))
            except OSError:
                return
            time.sleep(0.01)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, rss_kb(self.pid))
        return False


def get_big(port, key, expect, results):
    """GETs key and reads the whole bulk reply straight into one buffer
    (Conn's buffer grows by concatenation, which is quadratic for 100 MB)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT)
    try:
        s.sendall(command("GET", key))
        head = b""
        while b"\r\n" not in head:
            chunk = s.recv(64)
            if not chunk:
                raise EOFError
            head += chunk
        line, rest = head.split(b"\r\n", 1)
        if not line.startswith(b"$"):
            raise RuntimeError(f"GET answered {line[:200]!r}")
        n = int(line[1:])
        buf = bytearray(n + 2)
        view = memoryview(buf)
        view[:len(rest)] = rest
        got = len(rest)
        while got < n + 2:
            k = s.recv_into(view[got:])
            if k == 0:
                raise EOFError
            got += k
        results.append(n == expect)
    finally:
        s.close()


def big_gets(port, clients):
    results = []
    threads = [threading.Thread(target=get_big, args=(port, "big", BIG, results)) for _ in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SOCKET_TIMEOUT * 2)
    took = time.monotonic() - start
    if len(results) != clients or not all(results):
        raise RuntimeError(f"{clients} GETs of the big value: {len(results)} complete replies, {results}")
    return took


def case_bigget(servers):
    cells = {1: {}, 4: {}, "base": {}}
    for name, argv in servers["memory"]:
        log(f"bigget: {BIG // (1024 * 1024)} MB value in {name}")
        with Server(argv) as srv:
            conn = connect(srv.port)
            conn.send(command("SET", "big", b"v" * BIG))
            r = conn.reply()
            if r != b"OK":
                raise RuntimeError(f"SET of the big value answered {r[:200]!r}")
            conn.s.close()
            time.sleep(0.5)
            cells["base"][name] = rss_kb(srv.pid) / 1024
            for clients in (1, 4):
                start_rss = rss_kb(srv.pid)
                with PeakSampler(srv.pid) as sampler:
                    took = big_gets(srv.port, clients)
                cells[clients][name] = sampler.peak / 1024
                log(f"  {clients} client(s): RSS {start_rss / 1024:,.0f} MB before, peak {sampler.peak / 1024:,.0f} MB, "
                    f"{took:.2f} s")
                time.sleep(0.5)
    return [
        ("bigget: RSS after SET of a 100 MB value", "MB", cells["base"], "{:,.0f}"),
        ("bigget: peak RSS, 1 client GETs it", "MB", cells[1], "{:,.0f}"),
        ("bigget: peak RSS, 4 clients GET it at once", "MB", cells[4], "{:,.0f}"),
    ]


# ---------------------------------------------------------------- benchmark

def tool(name):
    path = shutil.which(name)
    if not path:
        sys.exit(f"error: {name} not found on PATH (apt-get install redis-tools)")
    return path


def supported(port, test):
    """Whether the server answers the probe for `test` with something other
    than an error (redis-cli prints error replies as `ERR ...` when its
    output is not a terminal)."""
    out = subprocess.run([tool("redis-cli"), "-p", str(port)] + PROBES[test], capture_output=True, text=True,
                         timeout=30).stdout.strip()
    if out.startswith("ERR unknown command"):
        return False
    if out.startswith(("ERR", "WRONGTYPE", "(error)")):
        log(f"  probe {PROBES[test]} answered {out!r}: reporting {test} as n/a")
        return False
    return True


def parse_benchmark(text):
    """{test name: requests per second} from redis-benchmark -q output."""
    rates = {}
    for line in re.split(r"[\r\n]", text):
        m = re.match(r"^\s*(.+?): ([0-9.]+) requests per second", line)
        if m:
            rates[m.group(1)] = float(m.group(2))
    return rates


def case_benchmark(servers):
    """All servers run at once; each load goes to each server in turn, so a
    drift of the machine hits them all alike."""
    cells = {}  # (load, test) -> {server: rps or None}
    with contextlib.ExitStack() as stack:
        started = []
        for name, argv in servers["benchmark"]:
            srv = stack.enter_context(Server(argv))
            tests = [t for t in BENCH_TESTS if supported(srv.port, t)]
            subprocess.run([tool("redis-cli"), "-p", str(srv.port), "DEL", "memory_cases:probe", "memory_cases:list",
                            "memory_cases:counter", "memory_cases:a", "memory_cases:b"],
                           capture_output=True, timeout=30)
            started.append((name, srv, tests))
        for load in BENCH_LOADS:
            load_name = " ".join(load)
            for name, srv, tests in started:
                log(f"benchmark: {load_name} against {name}: {','.join(tests)} "
                    f"(n/a: {','.join(t for t in BENCH_TESTS if t not in tests) or 'none'})")
                out = subprocess.run([tool("redis-benchmark"), "-p", str(srv.port), "-t", ",".join(tests), "-n",
                                      str(BENCH_REQUESTS), "-q"] + load,
                                     capture_output=True, text=True, timeout=600)
                rates = parse_benchmark(out.stdout)
                for test in BENCH_TESTS:
                    rate = rates.get(BENCH_NAMES[test]) if test in tests else None
                    if test in tests and rate is None:
                        log(f"  no rate for {test} in: {out.stdout[-500:]!r} {out.stderr[-500:]!r}")
                    cells.setdefault((load_name, test), {})[name] = rate
    return [(f"benchmark `{load}`: {BENCH_NAMES[test]}", "req/s", row, "{:,.0f}")
            for (load, test), row in cells.items()]


# ---------------------------------------------------------------- table

CASES = {"keys": case_keys, "bigget": case_bigget, "keysstall": case_keysstall, "benchmark": case_benchmark}
COLUMNS = ["redis-server", "mini-redis T1", "mini-redis T2"]


def fmt(value, spec):
    return "n/a" if value is None else spec.format(value)


def ratio(value, redis):
    if value is None or redis is None or redis == 0:
        return "n/a"
    return f"{value / redis:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mini_redis_server")
    parser.add_argument("redis_server", nargs="?")
    parser.add_argument("--case", action="append", choices=list(CASES),
                        help="run only this case (repeatable; default: all)")
    args = parser.parse_args()
    # A SIGTERM (from `timeout`, say) unwinds like Ctrl-C, so the servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    mini = os.path.abspath(args.mini_redis_server)
    if not os.access(mini, os.X_OK):
        sys.exit(f"error: {mini} is not an executable (build it first)")

    def mini_argv(threads):
        return lambda p: [mini, "--port", str(p), "--threads", str(threads)]

    redis = [("redis-server", lambda p: [args.redis_server, "--port", str(p), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no"])] if args.redis_server else []
    servers = {
        "memory": redis + [("mini-redis T1", mini_argv(1))],
        "benchmark": redis + [("mini-redis T1", mini_argv(1)), ("mini-redis T2", mini_argv(2))],
    }

    print(f"mini-redis: {mini}" + (f"; redis-server: {args.redis_server}" if args.redis_server else ""))
    print("T1, T2: mini-redis --threads 1, --threads 2. ratio: mini-redis / redis-server "
          "(memory: lower is better; req/s: higher is better).")
    print()
    print("| measurement | unit | redis-server | mini-redis T1 | ratio | mini-redis T2 | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|", flush=True)
    for case in args.case or list(CASES):
        for label, unit, cells, spec in CASES[case](servers):
            r = cells.get("redis-server")
            row = [label, unit, fmt(r, spec) if "redis-server" in cells else "-"]
            for col in COLUMNS[1:]:
                if col in cells:
                    row += [fmt(cells[col], spec), ratio(cells[col], r)]
                else:
                    row += ["-", "-"]
            print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
