#!/usr/bin/env python3
"""The pub/sub cases of issue 16, against mini-redis and redis-server side by side.

  pubsub_cases.py MINI_REDIS_SERVER [REDIS_SERVER]

Starts each server on an ephemeral port (mini-redis with --threads 1,
redis-server without persistence) and runs, against each:

  late      a subscriber that reads nothing while 100,000 PUBLISHes of
            100 bytes go to its channel, then reads: how many PUBLISHes
            reported a subscriber, how many messages arrived
  channels  one subscriber on 10,000 channels: server RSS per channel, then
            20,000 PUBLISHes spread over them: messages per second until the
            subscriber has them all
  big       a subscriber with a 4 KiB receive buffer that never reads, while
            200 PUBLISHes of 1 MB go to it: the server's peak RSS while that
            runs, and its RSS 2 s after the subscriber has gone

Prints one table. RSS is read from /proc/PID/status (VmRSS), sampled every
20 ms for the peak.
"""
import socket
import subprocess
import sys
import threading
import time


def command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """A RESP connection. Replies are parsed in place (an offset into the
    buffer, compacted as it is consumed), so reading a large batch of
    messages costs linear time in the client."""

    def __init__(self, port, rcvbuf=None):
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.connect(("127.0.0.1", port))
        self.buf = b""
        self.pos = 0

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise EOFError
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0

    def _line(self):
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                line = self.buf[self.pos:end]
                self.pos = end + 2
                return line
            self._fill()

    def reply(self):
        """One RESP reply: int, bytes, None, or a list."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return rest
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) - self.pos < n + 2:
                self._fill()
            data = self.buf[self.pos:self.pos + n]
            self.pos += n + 2
            return data
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError(line)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def publish_many(conn, items, chunk=1000):
    """Pipelines PUBLISHes in chunks; the sum of the subscriber counts."""
    total = 0
    for i in range(0, len(items), chunk):
        part = items[i:i + chunk]
        conn.send(b"".join(command("PUBLISH", ch, msg) for ch, msg in part))
        for _ in part:
            total += conn.reply()
    return total


def case_late(port):
    sub = Conn(port)
    sub.send(command("SUBSCRIBE", "ch"))
    sub.reply()
    pub = Conn(port)
    msg = b"m" * 100
    reached = publish_many(pub, [("ch", msg)] * 100_000)
    sub.s.settimeout(2.0)
    got = 0
    try:
        while got < 100_000:
            sub.reply()
            got += 1
    except (socket.timeout, EOFError, ConnectionError):
        pass
    return f"{reached:,} reported, {got:,} received"


def case_channels(port, pid):
    before = rss_kb(pid)
    sub = Conn(port)
    names = [f"channel:{i}" for i in range(10_000)]
    sub.send(command("SUBSCRIBE", *names))
    for _ in names:
        sub.reply()
    time.sleep(0.2)
    per_channel = (rss_kb(pid) - before) * 1024 / len(names)
    pub = Conn(port)
    items = [(names[(i * 7919) % len(names)], b"x" * 32) for i in range(20_000)]
    start = time.monotonic()
    done = threading.Event()

    def read_all():
        for _ in items:
            sub.reply()
        done.set()

    reader = threading.Thread(target=read_all)
    reader.start()
    publish_many(pub, items)
    reader.join(timeout=120)
    elapsed = time.monotonic() - start
    rate = len(items) / elapsed if done.is_set() else 0
    return f"{per_channel:,.0f} B/channel", f"{rate:,.0f} msg/s"


def case_big(port, pid):
    baseline = rss_kb(pid)
    sub = Conn(port, rcvbuf=4096)
    sub.send(command("SUBSCRIBE", "big"))
    sub.reply()
    peak = [baseline]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kb(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    pub = Conn(port)
    msg = b"b" * (1 << 20)
    reached = 0
    for _ in range(200):
        pub.send(command("PUBLISH", "big", msg))
        reached += pub.reply()
    time.sleep(0.5)
    sub.s.close()
    time.sleep(2.0)
    stop.set()
    sampler.join()
    after = rss_kb(pid)
    return f"{peak[0] / 1024:,.0f} MB peak", f"{after / 1024:,.0f} MB after (base {baseline / 1024:,.0f})", reached


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_server(argv, port):
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{argv[0]} did not start")


def main():
    servers = [("mini-redis", lambda p: [sys.argv[1], "--port", str(p), "--threads", "1"])]
    if len(sys.argv) > 2:
        servers.append(("redis-server", lambda p: [sys.argv[2], "--port", str(p), "--save", "", "--appendonly", "no"]))
    print("| server | late reader (100,000 PUBLISH) | 10,000 channels: memory | 10,000 channels: delivery "
          "| 1 MB messages, never read: peak | after the subscriber left | PUBLISHes that reached it |")
    print("|---|---|---|---|---|---|---|")
    for name, argv in servers:
        row = [name]
        for case in ("late", "channels", "big"):
            port = free_port()
            proc = run_server(argv(port), port)
            try:
                if case == "late":
                    row.append(case_late(port))
                elif case == "channels":
                    row.extend(case_channels(port, proc.pid))
                else:
                    peak, after, reached = case_big(port, proc.pid)
                    row.extend([peak, after, str(reached)])
            finally:
                proc.terminate()
                proc.wait(timeout=10)
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
