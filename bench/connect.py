#!/usr/bin/env python3
"""bench/run's load generator for the connect1m scenario (wrk cannot CONNECT).

Each connection opens a CONNECT tunnel through the proxy once, then sends
keep-alive GETs through it, one at a time, reading each whole response,
until the run ends; so the figure is the proxy's tunnel data path, not its
CONNECT setup.  A connection that fails is counted and opened again, with a
new CONNECT.  Without --proxy it connects straight to the origin (the
"direct" ceiling of this client).

  connect.py [--proxy PORT] --origin HOST:PORT --path /1m
             --connections N --threads T --duration S --timeout S

T processes (wrk's threads), each with its share of the connections in one
non-blocking event loop.  Prints one line in wrk.lua's format:
BENCH_RESULT requests= bytes= duration_us= p50_us= p99_us= err_connect=
err_read= err_write= err_timeout= err_status= (bytes: everything read after
the CONNECT answers, headers and bodies; latency: from writing a request to
the end of its response; err_connect: TCP connect failed or CONNECT not
answered 2xx; err_status: responses with status >= 400).
"""
import argparse
import json
import os
import selectors
import socket
import sys
import time

HDR_MAX = 65536
BODY_CHUNK = 1 << 20


class Conn:
    __slots__ = ("sock", "hbuf", "hlen", "remaining", "t0", "in_body", "dead")

    def __init__(self, sock):
        self.sock = sock
        self.hbuf = bytearray(HDR_MAX)
        self.hlen = 0
        self.remaining = 0
        self.t0 = 0.0
        self.in_body = False
        self.dead = False


def tunnel(proxy, origin, timeout):
    """A blocking connect (and CONNECT); the socket, or an error string."""
    host, port = origin.rsplit(":", 1)
    try:
        s = socket.create_connection(
            ("127.0.0.1", proxy) if proxy else (host, int(port)), timeout)
    except OSError as e:
        return None, str(e)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if proxy:
        try:
            s.sendall(f"CONNECT {origin} HTTP/1.1\r\nHost: {origin}\r\n\r\n"
                      .encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    raise OSError("closed before the CONNECT answer")
                data += chunk
                if len(data) > HDR_MAX:
                    raise OSError("CONNECT answer too long")
            head, _, rest = data.partition(b"\r\n\r\n")
            parts = head.split(b" ", 2)
            if len(parts) < 2 or not parts[1].startswith(b"2") or rest:
                raise OSError(f"CONNECT answered {head[:60]!r}")
        except OSError as e:
            s.close()
            return None, str(e)
    s.setblocking(False)
    return s, None


def worker(a, nconn, start, wfd):
    sel = selectors.DefaultSelector()
    req = (f"GET {a.path} HTTP/1.1\r\nHost: {a.origin}\r\n\r\n").encode()
    scratch = bytearray(BODY_CHUNK)
    sview = memoryview(scratch)
    st = dict(requests=0, bytes=0, err_connect=0, err_read=0, err_write=0,
              err_timeout=0, err_status=0, lat=[])
    lat = st["lat"]
    deadline = start + a.duration
    conns = {}

    def open_one():
        while time.monotonic() < deadline:
            s, err = tunnel(a.proxy, a.origin, a.timeout)
            if s is None:
                st["err_connect"] += 1
                time.sleep(0.01)
                continue
            c = Conn(s)
            conns[s.fileno()] = c
            sel.register(s, selectors.EVENT_READ, c)
            send(c)
            return

    def drop(c, kind):
        if c.dead:
            return
        c.dead = True
        if kind:
            st[kind] += 1
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        conns.pop(c.sock.fileno(), None)
        c.sock.close()
        open_one()

    def send(c):
        c.hlen = 0
        c.in_body = False
        c.t0 = time.monotonic()
        try:
            n = c.sock.send(req)
        except OSError:
            n = -1
        if n != len(req):  # a 40-byte request fits in any socket buffer
            drop(c, "err_write")

    def done(c):
        lat.append(int((time.monotonic() - c.t0) * 1e6))
        st["requests"] += 1
        send(c)

    def receive(c, view):
        """Bytes read into view (counted); 0 when there is nothing yet or
        the connection was dropped (an end or an error)."""
        try:
            n = c.sock.recv_into(view)
        except BlockingIOError:
            return 0
        except OSError:
            n = 0
        if n == 0:
            drop(c, "err_read")
            return 0
        st["bytes"] += n
        return n

    def readable(c):
        if c.dead:  # dropped earlier in this round of events
            return
        if c.in_body:
            n = receive(c, sview[:min(c.remaining, BODY_CHUNK)])
            c.remaining -= n
            if n and c.remaining == 0:
                done(c)
            return
        n = receive(c, memoryview(c.hbuf)[c.hlen:])
        if n == 0:
            return
        c.hlen += n
        end = c.hbuf.find(b"\r\n\r\n", 0, c.hlen)
        if end < 0:
            if c.hlen == HDR_MAX:
                drop(c, "err_read")
            return
        head = bytes(c.hbuf[:end]).lower()
        status = head[9:12]
        clen = None
        for line in head.split(b"\r\n")[1:]:
            if line.startswith(b"content-length:"):
                clen = int(line[15:])
        if clen is None or not status.isdigit():
            drop(c, "err_read")  # this client needs Content-Length
            return
        if int(status) >= 400:
            st["err_status"] += 1
        got = c.hlen - end - 4
        if got > clen:
            drop(c, "err_read")  # more than the response: not HTTP/1.1 as sent
            return
        c.remaining = clen - got
        if c.remaining == 0:
            done(c)
        else:
            c.in_body = True

    for _ in range(nconn):
        open_one()
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        for key, _ in sel.select(min(0.1, deadline - now)):
            readable(key.data)
        # wrk's --timeout: a response slower than it is a timeout error
        now = time.monotonic()
        for c in list(conns.values()):
            if now - c.t0 > a.timeout:
                drop(c, "err_timeout")
    st["end"] = time.monotonic()
    os.write(wfd, json.dumps(st).encode())
    os.close(wfd)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--proxy", type=int, default=0)
    p.add_argument("--origin", required=True)
    p.add_argument("--path", default="/1m")
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--timeout", type=float, default=5)
    a = p.parse_args()
    nt = max(1, min(a.threads, a.connections))
    start = time.monotonic() + 0.05
    kids = []
    for i in range(nt):
        share = a.connections // nt + (1 if i < a.connections % nt else 0)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            code = 0
            try:
                time.sleep(max(0.0, start - time.monotonic()))
                worker(a, share, start, w)
            except BaseException as e:  # report it, never return to main
                print(f"connect.py: worker: {e!r}", file=sys.stderr)
                code = 1
            os._exit(code)
        os.close(w)
        kids.append((pid, r))
    tot = dict(requests=0, bytes=0, err_connect=0, err_read=0, err_write=0,
               err_timeout=0, err_status=0)
    lat = []
    end = start
    for pid, r in kids:
        data = b""
        while True:
            chunk = os.read(r, 1 << 20)
            if not chunk:
                break
            data += chunk
        os.close(r)
        os.waitpid(pid, 0)
        if not data:
            print("connect.py: a worker failed", file=sys.stderr)
            return 1
        st = json.loads(data)
        for k in tot:
            tot[k] += st[k]
        lat += st["lat"]
        end = max(end, st["end"])
    lat.sort()

    def pct(q):
        if not lat:
            return 0
        return lat[min(len(lat) - 1, int(len(lat) * q / 100))]

    print("BENCH_RESULT requests=%d bytes=%d duration_us=%d p50_us=%d "
          "p99_us=%d err_connect=%d err_read=%d err_write=%d err_timeout=%d "
          "err_status=%d" % (tot["requests"], tot["bytes"],
                             int((end - start) * 1e6), pct(50), pct(99),
                             tot["err_connect"], tot["err_read"],
                             tot["err_write"], tot["err_timeout"],
                             tot["err_status"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
