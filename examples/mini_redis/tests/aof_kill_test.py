#!/usr/bin/env python3
"""Kills mini-redis-server with SIGKILL under a write load, restarts it on its
append-only file, and checks that no acknowledged write was lost.

  aof_kill_test.py MINI_REDIS_SERVER always|everysec

Four clients each send SET k<client>:<n> <n> one at a time (waiting for each
reply) and remember the last n acknowledged; after 1 s of that the server is
killed (SIGKILL: no shutdown, no flush). Restarted on the same file, every
key up to each client's last acknowledged n must be there. Under `always`
that is the guarantee (the fdatasync precedes the reply); under `everysec`
the write() precedes the reply, so a killed process loses nothing either
(only a power loss could lose the last second). Exit 0 on success.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def start(server, directory, policy):
    proc = subprocess.Popen(
        [server, "--port", "0", "--threads", "2", "--appendonly", "yes", "--appendfsync", policy, "--dir", directory],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit("FAIL: the server did not start: %r %s" % (line, proc.stderr.read()))
    return proc, int(line.rsplit(":", 1)[1])


def command(*words):
    out = b"*%d\r\n" % len(words)
    for w in words:
        w = w.encode()
        out += b"$%d\r\n%s\r\n" % (len(w), w)
    return out


def writer(port, client, acked, stop):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    n = 0
    try:
        while not stop.is_set():
            n += 1
            s.sendall(command("SET", "k%d:%d" % (client, n), str(n)))
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = s.recv(64)
                if not chunk:
                    return
                reply += chunk
            if reply != b"+OK\r\n":
                return
            acked[client] = n
    except OSError:
        return  # the server was killed mid-request


def main():
    server, policy = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as directory:
        proc, port = start(server, directory, policy)
        acked = [0] * 4
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(port, c, acked, stop)) for c in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stop.set()
        for t in threads:
            t.join(10)
        total = sum(acked)
        if total == 0:
            raise SystemExit("FAIL: no write was acknowledged before the kill")

        proc, port = start(server, directory, policy)
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            missing = []
            for client, last in enumerate(acked):
                # MGET in batches: every acknowledged key must be there.
                for first in range(1, last + 1, 500):
                    keys = ["k%d:%d" % (client, n) for n in range(first, min(first + 500, last + 1))]
                    s.sendall(command("MGET", *keys))
                    data = b""
                    while data.count(b"\r\n") < 1 + 2 * len(keys) - data.count(b"$-1\r\n"):
                        chunk = s.recv(1 << 16)
                        if not chunk:
                            raise SystemExit("FAIL: the restarted server closed the connection")
                        data += chunk
                    lines = data.split(b"\r\n")[1:]
                    values = []
                    i = 0
                    while len(values) < len(keys):
                        if lines[i] == b"$-1":
                            values.append(None)
                            i += 1
                        else:
                            values.append(lines[i + 1].decode())
                            i += 2
                    for key, value in zip(keys, values):
                        if value != key.split(":")[1]:
                            missing.append(key)
        finally:
            proc.terminate()
            proc.wait(10)
        if missing:
            raise SystemExit("FAIL: %d of %d acknowledged writes lost under %s, e.g. %s"
                             % (len(missing), total, policy, missing[:5]))
        print("appendfsync %s: all %d acknowledged writes survived SIGKILL" % (policy, total))


if __name__ == "__main__":
    main()
