#!/usr/bin/env python3
"""bench/run's proxy authentication measurement.

Sends N keep-alive GETs through a forward proxy over C connections, each
with the same "Proxy-Authorization: Basic" header, and reads the proxy's
CPU time around them: before the first request, after each connection's
first request, and after the last one.  The CPU time is that of the whole
daemon, all its threads: the sum of the first field of
/proc/PID/task/*/schedstat (nanoseconds on a CPU, which is what
/proc/PID/stat's utime + stime adds up to, in ticks), and utime + stime of
/proc/PID/stat (clock ticks) alongside.

The connections are opened first (and the proxy given 100 ms to accept
them); then the first request of each connection in turn, one at a time
(the first one pays for whatever the proxy does once: a bcrypt when its
worker has no cached credentials, the upstream connection); then the other
N - C requests, one on each connection at a time: a request on each, then
their answers, and again.  Every answer must be a 200 with a
Content-Length body.

Prints one line:
  AUTH_RESULT requests=N connections=C first_ns=A,B,... rest_ns=R
      total_ns=T total_ticks=K elapsed_ms=E
(first_ns: each connection's first request, in order; rest_ns: the other
requests; total_ns: everything from before the first request).  Prints
"error ..." and exits 1 on a failure.

Usage: auth.py PROXY_PORT PROXY_PID ORIGIN_HOST:PORT N C USER:PASSWORD
"""
import base64
import glob
import socket
import sys
import time


def cpu_ns(pid):
    total = 0
    for f in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(f) as fh:
                total += int(fh.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that just ended
    return total


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    # fields after "(comm)": utime is the 12th, stime the 13th (14, 15)
    return int(fields[11]) + int(fields[12])


def fail(msg):
    print(f"error {msg}", flush=True)
    sys.exit(1)


def answer(s, buf):
    """Read one response from s (buf: bytes already read); returns the
    rest of the bytes read."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            fail("connection closed before a response head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1.1 200"):
        fail(f"answer {lines[0][:60]!r}")
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        fail("an answer without Content-Length")
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            fail("connection closed in a response body")
        rest += chunk
    return rest[length:]


def main():
    port, pid, origin = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    n, c, cred = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    token = base64.b64encode(cred.encode()).decode()
    req = (f"GET http://{origin}/100b HTTP/1.1\r\n"
           f"Host: {origin}\r\n"
           f"Proxy-Authorization: Basic {token}\r\n\r\n").encode()
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10)
             for _ in range(c)]
    for s in socks:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    bufs = [b""] * c
    time.sleep(0.1)
    t0 = time.monotonic()
    start_ns, start_ticks = cpu_ns(pid), cpu_ticks(pid)
    firsts = []
    prev = start_ns
    for i, s in enumerate(socks):
        s.sendall(req)
        bufs[i] = answer(s, bufs[i])
        now = cpu_ns(pid)
        firsts.append(now - prev)
        prev = now
    left = n - c
    while left > 0:
        m = min(c, left)
        for i in range(m):
            socks[i].sendall(req)
        for i in range(m):
            bufs[i] = answer(socks[i], bufs[i])
        left -= m
    time.sleep(0.05)  # (the proxy's last bits of work after its answer)
    end_ns, end_ticks = cpu_ns(pid), cpu_ticks(pid)
    elapsed = time.monotonic() - t0
    for s in socks:
        s.close()
    print(f"AUTH_RESULT requests={n} connections={c} "
          f"first_ns={','.join(str(x) for x in firsts)} "
          f"rest_ns={end_ns - prev} total_ns={end_ns - start_ns} "
          f"total_ticks={end_ticks - start_ticks} "
          f"elapsed_ms={elapsed * 1000:.0f}", flush=True)


if __name__ == "__main__":
    main()
