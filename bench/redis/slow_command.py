#!/usr/bin/env python3
"""Two clients trickling one 1,000,000-argument command each (issue 16 item 2).

  slow_command.py SERVER_BINARY [SERVER_BINARY...]

For each server (mini-redis-server gets --threads 1; anything else is taken
as redis-server and started without persistence), on an ephemeral port:
two clients each send `EXISTS k1 ... k999999` (about 12 MB) in 64 KiB
pieces (PIECE_KIB, default 64), 5 ms apart, while a third client GETs one
key in a loop. Prints the
server's CPU time for the whole exchange (from /proc/PID/schedstat) and the
third client's GET rate during it, against its rate with no trickle.
"""
import os
import socket
import sys
import threading
import time

from pubsub_cases import free_port, run_server  # same directory

ARGS = 1_000_000
PIECE = int(os.environ.get("PIECE_KIB", "64")) * 1024


def cpu_ns(pid):
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def big_command():
    parts = [b"*%d\r\n$6\r\nEXISTS\r\n" % ARGS]
    for i in range(1, ARGS):
        key = b"k%d" % i
        parts.append(b"$%d\r\n%s\r\n" % (len(key), key))
    return b"".join(parts)


def trickle(port, data, done):
    s = socket.create_connection(("127.0.0.1", port))
    for i in range(0, len(data), PIECE):
        s.sendall(data[i:i + PIECE])
        time.sleep(0.005)
    reply = s.recv(64)
    done.append(reply)
    s.close()


def get_rate(port, stop):
    s = socket.create_connection(("127.0.0.1", port))
    req = b"*2\r\n$3\r\nGET\r\n$1\r\nx\r\n"
    n = 0
    start = time.monotonic()
    while not stop.is_set():
        s.sendall(req)
        s.recv(64)
        n += 1
    elapsed = time.monotonic() - start
    s.close()
    return n / elapsed


def measure(argv, port, data):
    proc = run_server(argv, port)
    try:
        stop = threading.Event()
        rates = []
        getter = threading.Thread(target=lambda: rates.append(get_rate(port, stop)))
        getter.start()
        time.sleep(1.0)
        stop.set()
        getter.join()
        baseline = rates[0]

        stop.clear()
        rates.clear()
        cpu0 = cpu_ns(proc.pid)
        done = []
        senders = [threading.Thread(target=trickle, args=(port, data, done)) for _ in range(2)]
        getter = threading.Thread(target=lambda: rates.append(get_rate(port, stop)))
        getter.start()
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        stop.set()
        getter.join()
        cpu = (cpu_ns(proc.pid) - cpu0) / 1e9
        replies = b",".join(r.strip() for r in done).decode()
        return cpu, rates[0] / baseline, replies
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main():
    data = big_command()
    print(f"command: {ARGS:,} arguments, {len(data) / 1e6:.1f} MB, {PIECE // 1024} KiB every 5 ms, two clients")
    print("| server | server CPU | other client's GET rate (vs. no trickle) | replies |")
    print("|---|---|---|---|")
    for binary in sys.argv[1:]:
        port = free_port()
        if "mini-redis" in binary:
            argv = [binary, "--port", str(port), "--threads", "1"]
        else:
            argv = [binary, "--port", str(port), "--save", "", "--appendonly", "no"]
        cpu, ratio, replies = measure(argv, port, data)
        print(f"| {binary} | {cpu:.2f} s | {ratio:.2f}x | {replies} |", flush=True)


if __name__ == "__main__":
    main()
