"""Upstream responses with framing or header defects are failed attempts
(http_protocol_error, reset class): never forwarded, retried when the
request may be re-sent, 502 when not (retryproxy(8) RETRY SEMANTICS)."""

import socket
import threading

import pytest

from clients import request
from harness import section

GOOD = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
DEFECTS = {
    "ctl_in_value": b"HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 2\r\n\r\nno",
    "two_lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nno!",
    "length_and_te": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n2\r\nno\r\n0\r\n\r\n"),
    "bad_name": b"HTTP/1.1 200 OK\r\nX Bad: 1\r\nContent-Length: 2\r\n\r\nno",
    "obs_fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nno",
    "nul_in_value": b"HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\nno",
    "bare_cr": b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nno",
}


class RawOrigin:
    """Answers each connection with the next canned response, then closes."""

    def __init__(self, responses):
        self.responses = responses
        self.hits = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                with self.lock:
                    r = self.responses[min(self.hits, len(self.responses) - 1)]
                    self.hits += 1
                c.sendall(r)

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_defect_is_retried_never_forwarded(defect, proxy):
    origin = RawOrigin([DEFECTS[defect], GOOD])
    try:
        px = proxy(section("default", start_timeout="10ms"))
        r = request(px.addr, "GET", f"http://127.0.0.1:{origin.port}/x")
        assert r.status == 200 and r.body == b"ok", r
        assert origin.hits == 2
        e = px.log_for("/x")
        assert e["attempts"] == 2 and e["retries"] == ["protocol_error"], e
    finally:
        origin.close()


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_defect_on_post_is_502(defect, proxy):
    origin = RawOrigin([DEFECTS[defect], GOOD])
    try:
        px = proxy(section("default", start_timeout="10ms"))
        r = request(px.addr, "POST", f"http://127.0.0.1:{origin.port}/p",
                    body=b"data")
        assert r.status == 502, r
        assert "error=http_protocol_error" in (r.header("Proxy-Status") or ""), r
        assert b"no" not in r.body
        assert origin.hits == 1
    finally:
        origin.close()
