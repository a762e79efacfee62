#!/usr/bin/env python3
"""Worst GET latency while many keys expire at one instant.

  expiry_latency.py PORT [KEYS] [LEAD_SECONDS]

Loads KEYS (default 1,000,000) keys k0..kN with SET k v PX ms, all with the
same deadline LEAD_SECONDS (default 20) from the start, in pipelined chunks
of 10,000 whose replies are read before the next chunk is sent, so each
chunk's PX is computed against the moment the server receives it. Then a
second connection GETs one key with no deadline in a loop, one request at a
time, from before the deadline until 6 s after it, and prints the worst
round trip and where it fell. Both sides read CLOCK_MONOTONIC, so the
deadline is the same instant for the client and the server.
"""
import socket
import sys
import time

CHUNK = 10_000


def read_replies(sock, buf, count):
    """Reads `count` simple replies (+OK / $-1 / bulk); returns the rest of buf."""
    while count > 0:
        end = buf.find(b"\r\n")
        if end < 0:
            buf += sock.recv(1 << 20)
            continue
        line = buf[:end]
        if line[:1] == b"$" and line != b"$-1":
            need = end + 2 + int(line[1:]) + 2
            while len(buf) < need:
                buf += sock.recv(1 << 20)
            buf = buf[need:]
        else:
            if line[:1] == b"-":
                raise RuntimeError(line.decode())
            buf = buf[end + 2:]
        count -= 1
    return buf


def set_px(key, ms):
    k = key.encode()
    p = str(ms).encode()
    return b"*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n$2\r\nPX\r\n$%d\r\n%s\r\n" % (len(k), k, len(p), p)


def main():
    port = int(sys.argv[1])
    keys = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    lead = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
    deadline = time.monotonic() + lead

    loader = socket.create_connection(("127.0.0.1", port))
    buf = b""
    for start in range(0, keys, CHUNK):
        ms = int((deadline - time.monotonic()) * 1000)
        n = min(CHUNK, keys - start)
        loader.sendall(b"".join(set_px("k%d" % i, ms) for i in range(start, start + n)))
        buf = read_replies(loader, buf, n)
    loaded = time.monotonic()
    if loaded > deadline - 1:
        sys.exit("loading took %.1f s, past the deadline: raise LEAD_SECONDS" % (loaded - (deadline - lead)))

    client = socket.create_connection(("127.0.0.1", port))
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.sendall(b"*3\r\n$3\r\nSET\r\n$5\r\nother\r\n$1\r\nv\r\n")
    cbuf = read_replies(client, b"", 1)
    get = b"*2\r\n$3\r\nGET\r\n$5\r\nother\r\n"
    start = max(loaded, deadline - 1.0)
    while time.monotonic() < start:
        time.sleep(0.01)
    worst, worst_at, count, over_50ms, over_10ms = 0.0, 0.0, 0, 0, 0
    while True:
        t0 = time.monotonic()
        if t0 > deadline + 6:
            break
        client.sendall(get)
        cbuf = read_replies(client, cbuf, 1)
        took = time.monotonic() - t0
        count += 1
        over_50ms += took > 0.050
        over_10ms += took > 0.010
        if took > worst:
            worst, worst_at = took, t0 - deadline
    print("keys %d  load %.1f s  GETs %d  worst %.1f ms (sent %+.3f s from the deadline)  >10ms %d  >50ms %d" %
          (keys, loaded - (deadline - lead), count, worst * 1000, worst_at, over_10ms, over_50ms))


if __name__ == "__main__":
    main()
