"""Integrity of the upstream exchange and of the keep-alive pool.

An origin that sends exact bytes (RawOrigin below) answers through one
worker's upstream pool ([proxy] workers = 1), so consecutive requests share
pooled upstream connections.  Every case is followed by more requests, each
of which must get its own answer: a desynchronised pool (a response read
for the wrong request, bytes left over from the previous exchange) hides
behind a single passing request.

- interim (1xx) responses are consumed, never forwarded and never merged
  into the final response (RFC 9110 section 15.2); a 101 nobody asked for
  is a failed attempt (http_protocol_error, README "Retry semantics");
- a pooled connection carries another request only when its last response
  ended exactly where its framing said (RFC 9112 section 6.3);
- a malformed status line is a failed attempt (RFC 9112 section 4;
  README "Retry semantics": a malformed response head counts as reset);
- a response head over max_header_size is final: one attempt, 502
  http_response_header_section_size (README "Retry semantics" table);
- retry_if_body leaves bodies that do not match byte-identical;
- trailer fields never become header fields (RFC 9110 section 6.5.1,
  RFC 9112 section 7.1.2), in either direction;
- [proxy] deny applies to pooled connections after a reload;
- the interception listener serves only the daemon's own tunnels;
- every Connection field names hop-by-hop fields (RFC 9110 section 7.6.1),
  every Via field is checked for a loop (RFC 9110 section 7.6.3);
- a HEAD response has no body whatever its Content-Length (RFC 9110
  section 9.3.2), so a retried one leaves its connection reusable;
- deadline bounds peeking and draining.

Every wait is on an event (a request reaching the origin, a log line, a
peer closing) with a deadline; the origin pauses between writes only to
split what it sends into separate TCP segments.
"""

import hashlib
import json
import os
import random
import select
import shutil
import signal
import socket
import struct
import threading
import time
from dataclasses import dataclass

import pytest

from clients import RawConn
from harness import DaemonError, section
from test_https import certs, servers, tls_origin  # noqa: F401 (fixtures)
from test_intercept import STAR, ica, inner_request, intercepted, tls_section  # noqa: F401

# every test on both lanes ([proxy] lane = raw and evhttp: conftest.py)
pytestmark = pytest.mark.usefixtures("both_lanes")

ONE_WORKER = "workers = 1"
BASE = section("default", start_timeout="10ms", per_try_timeout="3s")


# ---- the raw origin ---------------------------------------------------------
@dataclass
class RawReq:
    """One request as the raw origin read it."""
    index: int          # 1-based hit number for its path
    method: str
    target: str
    path: str           # without scheme, authority and query
    version: str
    headers: list       # [(name, value)] of the header section, in order
    trailers: list      # [(name, value)] of a chunked body's trailer section
    body: bytes
    conn_id: int        # 1-based connection number
    conn_req: int       # 1-based index of the request on its connection
    raw_head: bytes
    time: float
    sent: int = 0                 # bytes written in answer
    done: bool = False            # every action of the step ran
    send_failed: bool = False     # the peer went away while we answered
    peer_closed: float | None = None  # when a "hold" saw the peer leave

    def header_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def has_header(self, name):
        return bool(self.header_all(name))


class _Gone(Exception):
    pass


def hold(seconds):
    """Action: keep the connection open, reading nothing more, until the
    peer closes it or `seconds` pass; then close it."""
    return ("hold", float(seconds))


def bytewise(data, pause=0.001):
    """Actions: data one byte per write, `pause` seconds apart."""
    out = []
    for i in range(len(data)):
        out += [data[i:i + 1], pause]
    return out


def pieces(data, size, pause):
    """Actions: data in writes of `size` bytes, `pause` seconds apart."""
    out = []
    for i in range(0, len(data), size):
        out += [data[i:i + size], pause]
    return out


class RawOrigin:
    """A threaded HTTP/1.1 origin on 127.0.0.1 that writes exact bytes.

    Connections are kept alive: after answering a request it reads the
    next one on the same connection until the peer closes.  What a request
    gets is its path's script, hit by hit (the last step repeats), else
    default(req) (by default answer(req): 200, body naming the path).

    A step is bytes (one write), a callable(req) returning a step, or a
    list of actions: bytes (one write each), a number (pause, seconds),
    "close" (FIN after the answer), "rst" (reset) or hold(seconds).
    """

    def __init__(self, name="raw-origin"):
        self.name = name
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.cond = threading.Condition()
        self.scripts = {}
        self.counts = {}
        self.reqs = []
        self.connections = 0
        self.conns = {}
        self.threads = []
        self.stopping = threading.Event()
        self.errors = []
        self.default = answer

    @property
    def authority(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"http://{self.authority}"

    # -- life cycle --
    def start(self):
        self.lsock.listen(128)
        t = threading.Thread(target=self._accept, name=f"{self.name}-accept", daemon=True)
        self.threads.append(t)
        t.start()
        return self

    def stop(self):
        self.stopping.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.cond:
            conns = list(self.conns.values())
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        end = time.monotonic() + 3
        for t in list(self.threads):
            t.join(max(0.0, end - time.monotonic()))

    # -- scripting and inspection --
    def script(self, path, *steps):
        with self.cond:
            self.scripts[path] = list(steps)
        return self

    def hits(self, path=None):
        with self.cond:
            return [r for r in self.reqs if path is None or r.path == path]

    def count(self, path=None):
        return len(self.hits(path))

    def wait_for(self, predicate, timeout=5.0):
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def wait_done(self, path, n=1, timeout=5.0):
        """True once n requests on path had every action of their step run."""
        return self.wait_for(
            lambda: sum(1 for r in self.reqs if r.path == path and r.done) >= n, timeout)

    # -- server threads --
    def _accept(self):
        while not self.stopping.is_set():
            try:
                r, _, _ = select.select([self.lsock], [], [], 0.05)
                if not r:
                    continue
                conn, _ = self.lsock.accept()
            except (OSError, ValueError):
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.cond:
                self.connections += 1
                cid = self.connections
                self.conns[cid] = conn
                self.cond.notify_all()
            t = threading.Thread(target=self._serve, args=(conn, cid),
                                 name=f"{self.name}-conn{cid}", daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn, cid):
        buf = bytearray()
        nreq = 0
        try:
            while not self.stopping.is_set():
                req = self._read_request(conn, buf, cid, nreq + 1)
                if req is None:
                    break
                nreq += 1
                with self.cond:
                    n = self.counts.get(req.path, 0) + 1
                    self.counts[req.path] = n
                    req.index = n
                    steps = self.scripts.get(req.path)
                    step = steps[min(n, len(steps)) - 1] if steps else self.default
                    self.reqs.append(req)
                    self.cond.notify_all()
                keep = self._act(conn, req, step)
                with self.cond:
                    req.done = True
                    self.cond.notify_all()
                if not keep:
                    break
        except _Gone:
            pass
        except Exception as e:  # noqa: BLE001 - reported at teardown
            if not self.stopping.is_set():
                self.errors.append(repr(e))
        finally:
            with self.cond:
                self.conns.pop(cid, None)
                self.cond.notify_all()
            try:
                conn.close()
            except OSError:
                pass

    def _recv(self, conn, buf):
        try:
            data = conn.recv(262144)
        except OSError:
            raise _Gone()
        if not data:
            raise _Gone()
        buf += data

    def _line(self, conn, buf):
        while b"\r\n" not in buf:
            self._recv(conn, buf)
        i = buf.index(b"\r\n")
        line = bytes(buf[:i])
        del buf[:i + 2]
        return line

    def _read_request(self, conn, buf, cid, nreq):
        while b"\r\n\r\n" not in buf:
            if len(buf) > 1 << 20:
                raise _Gone()
            try:
                self._recv(conn, buf)
            except _Gone:
                if buf:
                    raise
                return None
        end = buf.index(b"\r\n\r\n")
        raw = bytes(buf[:end + 4])
        del buf[:end + 4]
        lines = raw[:-4].decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = [(k.strip(), v.strip()) for k, _, v in
                   (line.partition(":") for line in lines[1:])]

        def hget(name):
            for k, v in headers:
                if k.lower() == name:
                    return v
            return None

        body = bytearray()
        trailers = []
        if "chunked" in (hget("transfer-encoding") or "").lower():
            while True:
                size = int(self._line(conn, buf).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:
                        line = self._line(conn, buf)
                        if not line:
                            break
                        k, _, v = line.decode("latin-1").partition(":")
                        trailers.append((k.strip(), v.strip()))
                    break
                while len(buf) < size + 2:
                    self._recv(conn, buf)
                body += buf[:size]
                del buf[:size + 2]
        else:
            left = int(hget("content-length") or 0)
            while left > 0:
                if not buf:
                    self._recv(conn, buf)
                piece = buf[:left]
                body += piece
                del buf[:len(piece)]
                left -= len(piece)
        path = target
        if "://" in path:
            rest = path.split("://", 1)[1]
            path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        path = path.split("?", 1)[0]
        return RawReq(index=0, method=method, target=target, path=path,
                      version=version, headers=headers, trailers=trailers,
                      body=bytes(body), conn_id=cid, conn_req=nreq, raw_head=raw,
                      time=time.monotonic())

    def _act(self, conn, req, step):
        while callable(step):
            step = step(req)
        if isinstance(step, (bytes, bytearray)):
            step = [step]
        for a in step:
            if isinstance(a, (bytes, bytearray)):
                try:
                    conn.sendall(a)
                except OSError:
                    req.send_failed = True
                    return False
                req.sent += len(a)
            elif isinstance(a, (int, float)):
                if self.stopping.wait(a):
                    raise _Gone()
            elif a == "close":
                try:
                    conn.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return False
            elif a == "rst":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
                return False
            elif isinstance(a, tuple) and a[0] == "hold":
                end = time.monotonic() + a[1]
                while time.monotonic() < end and not self.stopping.is_set():
                    try:
                        r, _, _ = select.select([conn], [], [], 0.02)
                        if r and not conn.recv(65536):
                            req.peer_closed = time.monotonic()
                            break
                    except OSError:
                        req.peer_closed = time.monotonic()
                        break
                return False
            else:
                raise ValueError(f"bad action {a!r}")
        return True


def own_body(path):
    return f"answer for {path}\n".encode()


def response(status=200, reason="OK", headers=(), body=b"", length=None):
    """A response with Content-Length (the body's unless `length`)."""
    head = f"HTTP/1.1 {status} {reason}\r\n" if reason is not None else f"HTTP/1.1 {status}\r\n"
    for k, v in headers:
        head += f"{k}: {v}\r\n"
    head += f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    return head.encode("latin-1") + body


def answer(req):
    """The default answer: 200 whose body names the request's path."""
    body = own_body(req.path)
    r = response(body=body)
    return r[:-len(body)] if req.method == "HEAD" else r


def chunked(body, sizes=(8192,), trailers=b""):
    """body in chunks of the given sizes (cycled), then the last chunk."""
    out = bytearray()
    pos, i = 0, 0
    while pos < len(body):
        n = sizes[i % len(sizes)]
        i += 1
        piece = body[pos:pos + n]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
        pos += len(piece)
    return bytes(out) + b"0\r\n" + trailers + b"\r\n"


@pytest.fixture
def origin():
    o = RawOrigin().start()
    yield o
    o.stop()
    if o.errors:
        raise AssertionError(f"raw origin thread errors: {o.errors}")


# ---- client side ---------------------------------------------------------------
def read_final(c, method="GET"):
    """Read one response; r.first_line is the first line the proxy sent
    for it (a forwarded 1xx would be there, RawConn skips 1xx heads)."""
    while b"\r\n\r\n" not in c.buf and c._fill():
        pass
    first = bytes(c.buf).split(b"\r\n", 1)[0]
    r = c.read_response(method)
    r.first_line = first
    return r


def exchange(c, method, url, headers=None, body=None, close=False):
    c.send_request(method, url, headers, body, close=close)
    return read_final(c, method)


def one(px, method, url, headers=None, body=None, timeout=10.0):
    with RawConn(px.addr, timeout=timeout) as c:
        return exchange(c, method, url, headers, body, close=True)


def explain(origin, px, r=None):
    out = []
    if r is not None:
        out.append(f"response: {r!r} first line {getattr(r, 'first_line', None)!r}")
    out.append(f"origin {origin.authority}: {origin.connections} connections")
    t0 = None
    for q in origin.hits():
        t0 = q.time if t0 is None else t0
        out.append(f"  +{(q.time - t0) * 1000:7.1f}ms {q.method} {q.target} hit {q.index} "
                   f"conn {q.conn_id}/{q.conn_req} sent {q.sent}B done {q.done} "
                   f"send_failed {q.send_failed}")
    if px is not None:
        out.append("access log:")
        try:
            out.extend("  " + json.dumps(e) for e in px.access_log())
        except AssertionError as e:
            out.append(str(e))
        out.append("daemon stderr (tail):")
        out.append(px.stderr_tail(25))
    return "\n".join(out)


def assert_own(r, path, origin, px, method="GET"):
    why = explain(origin, px, r)
    assert r.status == 200 and r.complete, why
    assert r.first_line.startswith(b"HTTP/1.1 200"), why
    assert r.body == (b"" if method == "HEAD" else own_body(path)), why


def followups(px, origin, tag, n=5, conn=None):
    """n more GETs (/tag-n1 ...) on one keep-alive client connection
    (`conn`, else a fresh one): each gets its own answer, in one attempt,
    and reaches the origin once.  The RawReq of each, in order."""
    c = conn or RawConn(px.addr, timeout=10)
    try:
        for i in range(1, n + 1):
            path = f"/{tag}-n{i}"
            r = exchange(c, "GET", origin.url + path)
            assert_own(r, path, origin, px)
    finally:
        if conn is None:
            c.close()
    out = []
    for i in range(1, n + 1):
        path = f"/{tag}-n{i}"
        e = px.log_for(path)
        why = explain(origin, px)
        assert origin.count(path) == 1, f"{path} reached the origin {origin.count(path)} times\n{why}"
        assert e["attempts"] == 1 and e["retries"] == [], f"{path}: {e}\n{why}"
        out.append(origin.hits(path)[0])
    return out


def start(proxy, extra="", proxy_lines=""):
    lines = ONE_WORKER + ("\n" + proxy_lines if proxy_lines else "")
    return proxy(BASE + extra, lines)


def warm(px, origin, tag="warm"):
    """One request, so that the next one rides a pooled connection."""
    r = one(px, "GET", origin.url + f"/{tag}")
    assert_own(r, f"/{tag}", origin, px)
    return origin.hits(f"/{tag}")[0]


# ---- 1. interim responses ----------------------------------------------------
HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
HINTS2 = b"HTTP/1.1 103 Early Hints\r\nLink: </b.js>; rel=preload\r\n\r\n"
PROCESSING = b"HTTP/1.1 102 Processing\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

INTERIM = {
    "103_same_write": lambda q: [HINTS + answer(q)],
    "103_own_write": lambda q: [HINTS, 0.02, answer(q)],
    "102": lambda q: [PROCESSING, 0.02, answer(q)],
    "100_unsolicited": lambda q: [CONTINUE, 0.02, answer(q)],
    "several_in_a_row": lambda q: [CONTINUE + PROCESSING, 0.01, HINTS, 0.01,
                                   HINTS2 + answer(q)],
    "103_split_writes": lambda q: pieces(HINTS, 7, 0.01) + [answer(q)],
    "bytewise": lambda q: bytewise(HINTS + PROCESSING + answer(q)),
}


@pytest.mark.parametrize("kind", sorted(INTERIM))
def test_interim_responses_consumed(kind, origin, proxy):
    # RFC 9110 section 15.2: a client must accept 1xx before the final
    # response; the proxy consumes them (the client did not ask for them,
    # and libevent's client would read a 102/103 as final).  The 200 after
    # them is the response, with none of the 1xx fields (Link) in it.
    px = start(proxy)
    warm(px, origin)
    origin.script("/i", INTERIM[kind])
    r = one(px, "GET", origin.url + "/i")
    why = explain(origin, px, r)
    assert_own(r, "/i", origin, px)
    assert not r.has_header("Link"), why
    assert origin.count("/i") == 1, why
    e = px.log_for("/i")
    assert e["status"] == 200 and e["attempts"] == 1, why
    followups(px, origin, "after")


def test_interim_before_post_response(origin, proxy):
    px = start(proxy)
    origin.script("/p", lambda q: [HINTS, 0.02, CONTINUE + answer(q)])
    r = one(px, "POST", origin.url + "/p", body=b"payload")
    why = explain(origin, px, r)
    assert_own(r, "/p", origin, px)
    assert not r.has_header("Link"), why
    assert origin.count("/p") == 1 and origin.hits("/p")[0].body == b"payload", why
    followups(px, origin, "after")


@pytest.mark.parametrize("kind", ["103", "100"])
def test_interim_100_times_over_keepalive(kind, origin, proxy):
    # 100 requests over 4 concurrent keep-alive client connections (so
    # several pooled upstream connections), every answer preceded by a 1xx,
    # alternately in the same write and in a write of its own.
    px = start(proxy)
    interim = HINTS if kind == "103" else CONTINUE
    origin.default = lambda q: ([interim + answer(q)] if q.conn_req % 2
                                else [interim, 0.002, answer(q)])
    failures = []

    def client(t):
        try:
            with RawConn(px.addr, timeout=10) as c:
                for i in range(25):
                    path = f"/rep{kind}-{t}-{i}"
                    r = exchange(c, "GET", origin.url + path)
                    if not (r.status == 200 and r.complete and r.body == own_body(path)
                            and r.first_line.startswith(b"HTTP/1.1 200")
                            and not r.has_header("Link")):
                        failures.append(f"{path}: {r!r} first line {r.first_line!r}")
                        return
        except Exception as e:  # noqa: BLE001
            failures.append(f"client {t}: {e!r}")

    threads = [threading.Thread(target=client, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures, "\n".join(failures) + "\n" + explain(origin, px)
    paths = [q.path for q in origin.hits()]
    assert len(paths) == 100 and len(set(paths)) == 100, explain(origin, px)
    followups(px, origin, "after")


SWITCH = (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
          b"Upgrade: websocket\r\n\r\n")


def test_unrequested_101_get_is_retried(origin, proxy):
    # RFC 9110 section 15.2.2: 101 answers an Upgrade; the client sent none,
    # so it is a failed attempt (http_protocol_error), retried for a GET.
    px = start(proxy)
    warm(px, origin)
    origin.script("/u", [SWITCH, hold(5)], answer)
    r = one(px, "GET", origin.url + "/u")
    why = explain(origin, px, r)
    assert_own(r, "/u", origin, px)
    assert origin.count("/u") == 2, why
    e = px.log_for("/u")
    assert e["attempts"] == 2 and e["retries"] == ["protocol_error"], why
    followups(px, origin, "after")


def test_unrequested_101_post_is_502(origin, proxy):
    px = start(proxy)
    origin.script("/u", [SWITCH, hold(5)], answer)
    r = one(px, "POST", origin.url + "/u", body=b"once")
    why = explain(origin, px, r)
    assert r.status == 502, why
    assert "error=http_protocol_error" in (r.header("Proxy-Status") or ""), why
    assert origin.count("/u") == 1, why
    followups(px, origin, "after")


# ---- 2. a connection is reused only after an exact end ------------------------------
SMUGGLED = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"
LONG = bytes(range(256)) * 4096  # 1 MiB

# (method, step, status and body the client must get)
DIRTY = {
    "length_then_response": ("GET", response(body=b"ok") + SMUGGLED, 200, b"ok"),
    "length_then_garbage": ("GET", response(body=b"ok") + b"garbage\r\n\r\n", 200, b"ok"),
    "length_then_late_response": ("GET", [response(body=b"ok"), 0.05, SMUGGLED], 200, b"ok"),
    "chunked_then_response": ("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              + chunked(b"ok") + SMUGGLED, 200, b"ok"),
    "204_then_response": ("GET", b"HTTP/1.1 204 No Content\r\n\r\n" + SMUGGLED, 204, b""),
    "304_then_response": ("GET", b"HTTP/1.1 304 Not Modified\r\n\r\n" + SMUGGLED, 304, b""),
    "head_with_body": ("HEAD", response(body=b"smuggle"), 200, b""),
    # a body long enough to be spliced on the raw lane (zbody.h): the
    # splice stops at its last byte, the bytes after it stay unread
    "long_length_then_response": ("GET", response(body=LONG) + SMUGGLED, 200, LONG),
    "long_length_then_late_response": ("GET", [response(body=LONG), 0.05, SMUGGLED],
                                       200, LONG),
}


@pytest.mark.parametrize("case", sorted(DIRTY))
def test_bytes_past_the_response_end_retire_the_connection(case, origin, proxy):
    # RFC 9112 section 6.3: the response ends where its framing says (a
    # 204, a 304 and any answer to HEAD at the empty line).  Bytes after
    # that are no response to any request of ours: that connection must
    # not carry the next request.
    method, step, status, body = DIRTY[case]
    px = start(proxy)
    w = warm(px, origin)
    origin.script("/dirty", step)
    r = one(px, method, origin.url + "/dirty")
    why = explain(origin, px, r)
    assert r.status == status and r.complete and r.body == body, why
    assert r.first_line.startswith(b"HTTP/1.1 %d" % status), why
    dirty = origin.hits("/dirty")
    assert len(dirty) == 1 and dirty[0].conn_id == w.conn_id, \
        "the case did not ride the pooled connection\n" + why
    # every write of the step is out before the next request
    assert origin.wait_done("/dirty"), why
    nxt = followups(px, origin, "after")
    why = explain(origin, px)
    assert nxt[0].conn_id != dirty[0].conn_id, \
        "the connection with bytes past the response was reused\n" + why
    assert origin.connections >= 2, why


# ---- 3. status lines ------------------------------------------------------------------
BAD_STATUS = {
    "letter_in_code": b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nno",
    "code_999": b"HTTP/1.1 999 Nope\r\nContent-Length: 2\r\n\r\nno",
    "http_2_0": b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nno",
    "two_digits": b"HTTP/1.1 20 OK\r\nContent-Length: 2\r\n\r\nno",
    "blank_line_first": b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno",
}


@pytest.mark.parametrize("case", sorted(BAD_STATUS))
def test_malformed_status_line_get_retried(case, origin, proxy):
    # RFC 9112 section 4: status-line = HTTP-version SP 3DIGIT SP
    # [reason-phrase]; anything else is a failed attempt, retried for a GET.
    px = start(proxy)
    warm(px, origin)
    origin.script("/s", BAD_STATUS[case], answer)
    r = one(px, "GET", origin.url + "/s")
    why = explain(origin, px, r)
    assert_own(r, "/s", origin, px)
    assert origin.count("/s") == 2, why
    e = px.log_for("/s")
    assert e["attempts"] == 2 and e["retries"] == ["protocol_error"], why
    followups(px, origin, "after")


@pytest.mark.parametrize("case", sorted(BAD_STATUS))
def test_malformed_status_line_post_502(case, origin, proxy):
    px = start(proxy)
    origin.script("/s", BAD_STATUS[case], answer)
    r = one(px, "POST", origin.url + "/s", body=b"once")
    why = explain(origin, px, r)
    assert r.status == 502, why
    assert "error=http_protocol_error" in (r.header("Proxy-Status") or ""), why
    assert origin.count("/s") == 1, why
    e = px.log_for("/s")
    assert e["attempts"] == 1, why
    followups(px, origin, "after")


@pytest.mark.parametrize("status_line,status", [(b"HTTP/1.1 200", 200),
                                                (b"HTTP/1.1 204 ", 204)])
def test_status_line_without_reason_accepted(status_line, status, origin, proxy):
    # RFC 9112 section 4: the reason-phrase may be empty, and a client
    # should accept a status line without the SP before it.
    px = start(proxy)
    warm(px, origin)
    if status == 204:
        origin.script("/r", status_line + b"\r\n\r\n")
    else:
        origin.script("/r", lambda q: status_line + b"\r\nContent-Length: %d\r\n\r\n"
                      % len(own_body(q.path)) + own_body(q.path))
    r = one(px, "GET", origin.url + "/r")
    why = explain(origin, px, r)
    assert r.status == status and r.complete, why
    assert r.body == (own_body("/r") if status == 200 else b""), why
    assert origin.count("/r") == 1, why
    e = px.log_for("/r")
    assert e["attempts"] == 1 and e["status"] == status, why
    followups(px, origin, "after")


# ---- 4. response head size ----------------------------------------------------------
def big_head(total):
    """A 200 head of about `total` bytes (100-byte filler fields), body ok."""
    lines = []
    size = 0
    i = 0
    while size < total:
        line = f"X-Fill-{i:05d}: " + "a" * 85 + "\r\n"
        lines.append(line)
        size += len(line)
        i += 1
    return (b"HTTP/1.1 200 OK\r\n" + "".join(lines).encode() +
            b"Content-Length: 2\r\n\r\nok"), i


def test_oversized_response_head_final_502(origin, proxy):
    # README "Retry semantics": a head over max_header_size (64K by
    # default) is final: one attempt, 502 http_response_header_section_size.
    px = start(proxy)
    warm(px, origin)
    data, _ = big_head(200 * 1024)
    origin.script("/big", [data, hold(5)], answer)
    r = one(px, "GET", origin.url + "/big")
    why = explain(origin, px, r)
    assert r.status == 502, why
    assert "error=http_response_header_section_size" in (r.header("Proxy-Status") or ""), why
    e = px.log_for("/big")
    assert e["attempts"] == 1, why
    assert origin.count("/big") == 1, why
    followups(px, origin, "after")
    assert origin.count("/big") == 1, explain(origin, px)


def test_response_head_under_limit_forwarded(origin, proxy):
    px = start(proxy)
    warm(px, origin)
    data, n = big_head(60 * 1000)
    origin.script("/under", data)
    r = one(px, "GET", origin.url + "/under")
    why = explain(origin, px, r)
    assert r.status == 200 and r.complete and r.body == b"ok", why
    assert r.has_header("X-Fill-00000") and r.has_header(f"X-Fill-{n - 1:05d}"), why
    assert origin.count("/under") == 1, why
    followups(px, origin, "after")


# ---- 5. retry_if_body -------------------------------------------------------------------
MARK = "ERRORMARK"
PEEK = section("route 127.0.0.1", retry_if_body=MARK)


def random_body(n, seed):
    b = random.Random(seed).randbytes(n)
    assert MARK.encode() not in b
    return b


@pytest.mark.parametrize("n", [204800, 5 * 1024 * 1024])
@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_retry_if_body_leaves_other_bodies_intact(framing, n, origin, proxy):
    px = start(proxy, PEEK)
    body = random_body(n, n)
    if framing == "length":
        step = [response(body=body)]
    else:
        step = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                chunked(body, sizes=(1, 4096, 65535, 100000, 13, 300000))]
    origin.script("/b", step)
    with RawConn(px.addr, timeout=20) as c:
        r = exchange(c, "GET", origin.url + "/b")
        why = explain(origin, px, r)
        assert r.status == 200 and r.complete, why
        assert len(r.body) == n, why
        assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(body).hexdigest(), why
        assert origin.count("/b") == 1, why
        followups(px, origin, "after", conn=c)
    e = px.log_for("/b")
    assert e["attempts"] == 1, explain(origin, px)


@pytest.mark.parametrize("case", ["length", "chunked_split_mark"])
def test_retry_if_body_match_retried(case, origin, proxy):
    px = start(proxy, PEEK)
    w = warm(px, origin)
    if case == "length":
        bad = response(body=b"status: " + MARK.encode() + b" try later\n")
    else:
        # the mark spans two chunks sent in two writes
        bad = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nERROR\r\n",
               0.05, b"4\r\nMARK\r\n0\r\n\r\n"]
    origin.script("/m", bad, answer)
    r = one(px, "GET", origin.url + "/m")
    why = explain(origin, px, r)
    assert_own(r, "/m", origin, px)
    assert origin.count("/m") == 2, why
    e = px.log_for("/m")
    assert e["attempts"] == 2 and len(e["retries"]) == 1, why
    if case == "length":
        # README "Retry semantics": a retried body of known length up to
        # 64 KiB is read and dropped, and its connection kept
        assert [q.conn_id for q in origin.hits("/m")] == [w.conn_id, w.conn_id], why
    followups(px, origin, "after")


# ---- 6. trailers ---------------------------------------------------------------------------
TRAILERS = b"X-Trailer: t\r\nContent-Length: 99\r\n"


@pytest.mark.parametrize("peek", [False, True], ids=["plain", "retry_if_body"])
@pytest.mark.parametrize("split", [False, True], ids=["one_write", "trailer_later"])
def test_response_trailers_not_headers(peek, split, origin, proxy):
    # RFC 9110 section 6.5.1 / RFC 9112 section 7.1.2: trailer fields are
    # not header fields; a Content-Length among them frames nothing.
    px = start(proxy, PEEK if peek else "")
    warm(px, origin)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Trailer\r\n\r\n"
    if split:
        step = [head + b"4\r\nbody\r\n3\r\n!!!\r\n0\r\n", 0.05, TRAILERS + b"\r\n"]
    else:
        step = [head + b"4\r\nbody\r\n3\r\n!!!\r\n0\r\n" + TRAILERS + b"\r\n"]
    origin.script("/t", step)
    r = one(px, "GET", origin.url + "/t")
    why = explain(origin, px, r)
    assert r.status == 200 and r.complete and r.body == b"body!!!", why
    assert not r.has_header("X-Trailer"), why
    assert "99" not in r.header_all("Content-Length"), why
    assert origin.count("/t") == 1, why
    followups(px, origin, "after")


def test_request_trailers_not_headers(origin, proxy):
    px = start(proxy)
    wire = (f"PUT {origin.url}/put HTTP/1.1\r\nHost: {origin.authority}\r\n"
            f"Transfer-Encoding: chunked\r\n\r\n").encode() + \
        b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Req-Trailer: t\r\n\r\n"
    with RawConn(px.addr, timeout=10) as c:
        c.send(wire)
        r = read_final(c, "PUT")
        why = explain(origin, px, r)
        assert_own(r, "/put", origin, px)
        q = origin.hits("/put")
        assert len(q) == 1, why
        assert not q[0].has_header("X-Req-Trailer"), why + f"\nheaders {q[0].headers}"
        assert q[0].body == b"hello world", why
        # the trailer section was consumed: the client connection is in sync
        followups(px, origin, "after", conn=c)


# ---- 7. reload adds a deny ------------------------------------------------------------
def test_reload_deny_applies_to_pooled_connection(origin, proxy):
    px = start(proxy)
    warm(px, origin, "before")
    assert origin.connections == 1
    text = px.config_path.read_text()
    assert "\ndeny" not in text
    tmp = px.config_path.with_suffix(".tmp")
    tmp.write_text(text.replace("[proxy]\n", "[proxy]\ndeny = 127.0.0.0/8\n", 1))
    os.replace(tmp, px.config_path)
    needle = "configuration reloaded from"
    before = px.stderr().count(needle)
    px.signal(signal.SIGHUP)
    end = time.monotonic() + 5
    while px.stderr().count(needle) <= before:
        if time.monotonic() > end or not px.alive():
            raise DaemonError("no reload logged\n" + px.stderr_tail())
        time.sleep(0.01)
    assert "reload failed" not in px.stderr(), px.stderr_tail()
    # the pooled connection is still open at the origin: only the deny
    # list stands between the next request and it
    with origin.cond:
        assert list(origin.conns) == [1], explain(origin, px)
    r = one(px, "GET", origin.url + "/after")
    why = explain(origin, px, r)
    assert r.status == 403, why
    assert "error=http_request_denied" in (r.header("Proxy-Status") or ""), why
    px.log_for("/after")
    assert origin.count("/after") == 0 and origin.count() == 1, why


# ---- 8. the interception listener -------------------------------------------------------
def _tcp_table(pid):
    """[(local port, remote port, state, inode)] of /proc/PID/net/tcp."""
    rows = []
    with open(f"/proc/{pid}/net/tcp") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            rows.append((int(p[1].split(":")[1], 16), int(p[2].split(":")[1], 16),
                         p[3], int(p[9])))
    return rows


def _socket_inodes(pid):
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(int(link[8:-1]))
    return out


def daemon_listen_ports(px, exclude=()):
    mine = _socket_inodes(px.pid)
    return sorted({lp for lp, _, st, ino in _tcp_table(px.pid)
                   if st == "0A" and ino in mine and lp not in exclude})


def poke(port, data, timeout=3.0):
    """Send data to 127.0.0.1:port; (first line received, all received, closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = bytearray()
    closed = False
    try:
        s.sendall(data)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not b:
                closed = True
                break
            got += b
    finally:
        s.close()
    return bytes(got).split(b"\r\n", 1)[0], bytes(got), closed


def _refused(first, data, closed):
    """A 403 with Connection: close, or the connection closed unanswered."""
    if not data:
        return closed
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    return (first.startswith(b"HTTP/1.1 403") and b"\r\nconnection: close" in head
            and closed)


NEED_OPENSSL = pytest.mark.skipif(shutil.which("openssl") is None,
                                  reason="openssl command line tool not found")


def _intercept_setup(certs, ica, servers, proxy):
    tls = tls_origin(servers, certs.good)
    authority = f"localhost:{tls.port}"
    px = proxy(tls_section(certs, ica) + section(f"route {authority}", intercept=True),
               proxy_lines=ONE_WORKER + "\n" + STAR)
    return tls, authority, px


@NEED_OPENSSL
def test_interception_listener_refuses_direct_connections(certs, ica, servers, proxy):
    tls, authority, px = _intercept_setup(certs, ica, servers, proxy)
    # before any tunnel, and again with one open
    assert px.port in daemon_listen_ports(px), "cannot see the daemon's listening sockets"
    ports = daemon_listen_ports(px, exclude={px.port})
    probes = [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
              f"GET /direct HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode()]
    for port in ports:
        for data in probes:
            first, got, closed = poke(port, data)
            assert _refused(first, got, closed), \
                f"internal port {port} answered {got[:300]!r} (closed {closed})\n" + \
                explain_tls(tls, px)
    with intercepted(px, authority, ica.cert) as c:
        r = inner_request(c, "GET", "/inside", authority)
        assert r.status == 200, explain_tls(tls, px)
        for port in ports:
            first, got, closed = poke(port, probes[1])
            assert _refused(first, got, closed), \
                f"internal port {port} answered {got[:300]!r} (closed {closed})\n" + \
                explain_tls(tls, px)
        r = inner_request(c, "GET", "/inside2", authority, close=True)
        assert r.status == 200, explain_tls(tls, px)
    assert tls.count("/") == 0 and tls.count("/direct") == 0, explain_tls(tls, px)
    # a real intercepted request works right after
    with intercepted(px, authority, ica.cert) as c:
        r = inner_request(c, "GET", "/after", authority, close=True)
    assert r.status == 200 and tls.count("/after") == 1, explain_tls(tls, px, r)


def explain_tls(tls, px, r=None):
    out = [f"response {r!r}"] if r is not None else []
    out.append(f"tls origin: {[(h.method, h.target, h.conn_id) for h in tls.hits()]}")
    out.append("access log:")
    out.extend("  " + json.dumps(e) for e in px.access_log())
    out.append(px.stderr_tail(25))
    return "\n".join(out)


# ---- 9. Connection and Via fields -----------------------------------------------------------
def test_every_connection_field_is_honoured(origin, proxy):
    # RFC 9110 section 7.6.1: the options of every Connection field line
    # are hop-by-hop; RFC 9110 section 5.3: several field lines are one
    # list.
    px = start(proxy)
    with RawConn(px.addr, timeout=10) as c:
        r = exchange(c, "GET", origin.url + "/c",
                     headers=[("Connection", "keep-alive"), ("Connection", "X-Secret"),
                              ("X-Secret", "1")])
        why = explain(origin, px, r)
        assert_own(r, "/c", origin, px)
        q = origin.hits("/c")
        assert len(q) == 1, why
        assert not q[0].has_header("X-Secret"), why + f"\nheaders {q[0].headers}"
        followups(px, origin, "after", conn=c)


def test_loop_seen_in_second_via_field(origin, proxy):
    # RFC 9110 section 7.6.3: Via is a list over every field line.
    px = start(proxy)
    r = one(px, "GET", origin.url + "/v",
            headers=[("Via", "1.0 elsewhere"), ("Via", "1.1 retryproxy")])
    why = explain(origin, px, r)
    assert r.status == 508, why
    assert origin.count("/v") == 0, why
    followups(px, origin, "after")
    assert origin.count("/v") == 0, explain(origin, px)


# ---- 10. HEAD with a large Content-Length -------------------------------------------
def test_retried_head_keeps_its_connection(origin, proxy):
    # RFC 9110 section 9.3.2: a response to HEAD has no content, so a 503
    # to HEAD ends at its empty line whatever its Content-Length says.
    px = start(proxy)
    w = warm(px, origin)
    origin.script("/h", b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 1000000\r\n\r\n",
                  answer)
    r = one(px, "HEAD", origin.url + "/h")
    why = explain(origin, px, r)
    assert r.status == 200 and r.complete and r.body == b"", why
    hs = origin.hits("/h")
    assert len(hs) == 2, why
    assert origin.connections == 1 and {q.conn_id for q in hs} == {w.conn_id}, \
        "the retried HEAD's connection was not kept\n" + why
    e = px.log_for("/h")
    assert e["attempts"] == 2 and e["retries"] == ["503"], why
    followups(px, origin, "after")


# ---- 11. deadline ----------------------------------------------------------------------
DEADLINE = section("route 127.0.0.1", deadline="500ms", retry_if_body=MARK)


def test_deadline_ends_peeking_stalled_body(origin, proxy):
    # The deadline ends the peek: no retry could follow, so what was
    # peeked goes to the client at once.  From then on the body is the
    # client's and the body-gap limit applies (body_timeout, 2 s here), as
    # for any streamed response.
    px = start(proxy, section("route 127.0.0.1", deadline="500ms",
                              retry_if_body=MARK, connect_timeout="500ms",
                              per_try_timeout="1s", body_timeout="2s"))
    warm(px, origin)
    part = b"x" * 1000
    origin.script("/stall", [response(length=100000) + part, hold(6)], answer)
    with RawConn(px.addr, timeout=8) as c:
        t0 = time.monotonic()
        c.send_request("GET", origin.url + "/stall")
        r = c.read_head()
        t_head = time.monotonic() - t0
        if r.status:
            r.body = b"".join(c.body_iter(r))
        r.first_line = r.raw_head.split(b"\r\n", 1)[0]
        elapsed = time.monotonic() - t0
    why = (explain(origin, px, r) +
           f"\nhead after {t_head:.3f}s, response ended after {elapsed:.3f}s")
    assert r.status == 200, why
    assert 0.4 < t_head < 1.0, why
    assert not r.complete and r.body == part, why
    assert 2.0 < elapsed < 3.5, why
    assert origin.count("/stall") == 1, why
    followups(px, origin, "after")


def test_deadline_cuts_draining_retried_body(origin, proxy):
    px = start(proxy, DEADLINE)
    warm(px, origin)
    trickle = [b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 10000\r\n\r\n"]
    for _ in range(100):
        trickle += [b"d" * 100, 0.05]
    origin.script("/drain", trickle, answer)
    with RawConn(px.addr, timeout=5) as c:
        t0 = time.monotonic()
        c.send_request("GET", origin.url + "/drain")
        r = read_final(c)
        elapsed = time.monotonic() - t0
    why = explain(origin, px, r) + f"\nelapsed {elapsed:.3f}s"
    assert r.status == 504, why
    assert 0.3 < elapsed < 1.5, why
    assert origin.count("/drain") == 1, why
    followups(px, origin, "after")
