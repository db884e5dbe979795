#!/usr/bin/env python3
"""bench/run's idle-connection measurement.

Opens N keep-alive connections to a forward proxy, sends one GET through
each (absolute-form, to the benchmark origin) and reads its answer, then
holds them all open, idle, prints "ready N" and waits for a line on stdin
before closing them.  Prints "error ..." and exits 1 if an answer is not a
200.  Usage: idle.py PROXY_PORT ORIGIN_HOST:PORT N
"""
import resource
import socket
import sys
import time


def main():
    port, origin, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 64
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < want:
            n = new - 64
    req = (f"GET http://{origin}/100b HTTP/1.1\r\n"
           f"Host: {origin}\r\n\r\n").encode()
    socks = []
    t0 = time.monotonic()

    def answer(s):
        s.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        if not data.startswith(b"HTTP/1.1 200"):
            print(f"error: answer {data[:40]!r}", flush=True)
            sys.exit(1)

    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(req)
        socks.append(s)
        if len(socks) % 256 == 0:  # read the answers in batches
            for t in socks[-256:]:
                answer(t)
    for t in socks[len(socks) // 256 * 256:]:
        answer(t)
    print(f"ready {n} {time.monotonic() - t0:.1f}", flush=True)
    sys.stdin.readline()
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
