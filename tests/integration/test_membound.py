"""max_buffered: a process-wide bound on request bodies held for re-sending
(retryproxy.ini(5) [proxy] max_buffered; README "Any request").

40 clients upload 15 MB each at once (each body under max_request_body,
so each would be held whole) to an origin that reads slowly.  Held whole,
that is 600 MB in the daemon; with max_buffered = 64M the bodies past the
bound stream instead, so the daemon's peak memory stays under the bound
plus 64 MiB, and every upload still reaches the origin byte for byte.
Then the bound is all given back: the next uploads are held again
(re-sendable: a 503 is retried).
"""

import hashlib
import socket
import threading
import time

from clients import RawConn
from harness import describe, section

MB = 1000 * 1000
N = 40
SIZE = 15 * MB


class SlowOrigin:
    """Reads each request body in 64 KiB pieces with a pause between them,
    answers 200 with the sha256 of the body it read (or, for paths
    starting /503-once, 503 the first time)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.hits = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        f = c.makefile("rb")
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                path = line.split()[1].decode()
                length = 0
                while True:
                    h = f.readline()
                    if h in (b"\r\n", b""):
                        break
                    k, _, v = h.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v)
                digest = hashlib.sha256()
                left = length
                while left > 0:
                    piece = f.read(min(65536, left))
                    if not piece:
                        return
                    digest.update(piece)
                    left -= len(piece)
                    time.sleep(0.002)
                with self.lock:
                    n = self.hits[path] = self.hits.get(path, 0) + 1
                if path.startswith("/503-once") and n == 1:
                    c.sendall(b"HTTP/1.1 503 Service Unavailable\r\n"
                              b"Content-Length: 0\r\n\r\n")
                    continue
                body = digest.hexdigest().encode()
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
                          % len(body) + body)
        except OSError:
            return
        finally:
            c.close()

    def close(self):
        self.sock.close()


def _upload(px, url, body, out, i):
    try:
        c = RawConn(px.addr, timeout=60)
        c.send(f"PUT {url} HTTP/1.1\r\nHost: x\r\n"
               f"Content-Length: {len(body)}\r\n\r\n".encode())
        view = memoryview(body)
        for off in range(0, len(body), 1 << 20):
            c.send(view[off:off + (1 << 20)])
        out[i] = c.read_response("PUT")
        c.close()
    except Exception as e:  # reported by the caller
        out[i] = e


def test_concurrent_uploads_stay_within_max_buffered(proxy):
    origin = SlowOrigin()
    try:
        px = proxy(section("proxy", workers=2, max_buffered="64M"),
                   section("default", attempts=2, start_timeout="10ms"))
        base = bytes(range(256)) * (SIZE // 256)
        bodies = [i.to_bytes(4, "big") + base[4:] for i in range(N)]
        out = [None] * N
        threads = [threading.Thread(
            target=_upload,
            args=(px, f"http://127.0.0.1:{origin.port}/u{i}", bodies[i], out, i))
            for i in range(N)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for i, r in enumerate(out):
            assert not isinstance(r, Exception) and r is not None, (i, r)
            assert r.status == 200, (i, describe(proxy=px, response=r))
            assert r.body.decode() == hashlib.sha256(bodies[i]).hexdigest(), i
        hwm = px.vmhwm()
        # (ASan's shadow memory and quarantine make RSS moot)
        assert px.sanitized() or hwm < (64 + 64) * 1024 * 1024, \
            f"VmHWM {hwm / 2**20:.0f} MiB over max_buffered + 64 MiB"
        assert "max_buffered" in px.stderr(), px.stderr_tail()
        # the bound was given back: a body is held (re-sent after a 503)
        small = b"s" * 100000
        c = RawConn(px.addr, timeout=10)
        c.send_request("PUT", f"http://127.0.0.1:{origin.port}/503-once",
                       body=small)
        r = c.read_response("PUT")
        assert r.status == 200, describe(proxy=px, response=r)
        assert r.body.decode() == hashlib.sha256(small).hexdigest()
        assert origin.hits["/503-once"] == 2
        c.close()
    finally:
        origin.close()
