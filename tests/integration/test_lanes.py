"""The raw lane: requests libevent's evhttp cannot carry (README "Any
request"), decided from the request head before libevent parses it.

- any method token (RFC 9110 section 9: method = token, case-sensitive,
  section 9.1) is forwarded under its own name with its header fields and
  body intact, in origin-form (RFC 9112 section 3.2.1) with a Host field
  (RFC 9112 section 3.2): WebDAV PROPFIND (RFC 4918 section 9.1, answered
  207 Multi-Status, section 13), MKCOL (RFC 4918 section 9.3), REPORT
  (RFC 3253 section 3.6), PURGE (a cache's own method), LINK (RFC 2068
  section 19.6.1.2), SSDP's M-SEARCH and a lower-case token;
- whether such a request is re-sent follows `[default] methods` (README
  "Retry semantics": an unlisted method is re-sent only with
  Idempotency-Key or when nothing was sent; `methods = *` makes every
  method re-sendable);
- chunked bodies (RFC 9112 section 7.1) and bodies over
  `max_request_body`: a body that fits is held and re-sendable (a held
  chunked body goes upstream with a Content-Length, RFC 9112 section
  6.2), a larger one streams with backpressure, flat in memory, and is
  sent again only when nothing of it left;
- `max_upload`: 413 Content Too Large (RFC 9110 section 15.5.14) from
  retryproxy with Proxy-Status (RFC 9209 section 2.3.1
  http_request_error), as soon as the head declares too much or at the
  chunk that crosses the limit (README "Limits");
- Upgrade (RFC 9110 section 7.8; WebSocket, RFC 6455 section 4): after a
  101 (RFC 9110 section 15.2.2) the bytes flow both ways; any other
  answer is an ordinary response;
- an HTTP/1.0 client never receives chunked framing (RFC 9112 section
  6.1 and 6.3; README "Clients") and its connection closes afterwards;
- pipelined requests (RFC 9112 section 9.3.2) are answered in order;
- every raw-lane request writes one access-log line (README "Logs").

After every case the client connection goes on with its next request (or
is closed, where the response said so), and a new connection works.

The origin (LaneOrigin below) is a threaded socket server that records
exactly what it read: each request head byte for byte, the body's bytes
as they arrived (framing included) and their sha256 after de-framing.
Every wait is on an event (a request reaching the origin, a log line, a
peer closing) with a deadline.  The daemon runs one worker
([proxy] workers = 1).
"""

import hashlib
import json
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

import pytest

from clients import RawConn, build_request, request
from harness import section, unused_port_socket
from upstream import pattern_chunks, pattern_sha256

MiB = 1024 * 1024
KEEP = 4 * MiB          # bodies up to this are kept whole; all are hashed
WIRE_KEEP = 1 * MiB     # the body's bytes as they arrived (framing included)
BASE = section("default", start_timeout="10ms", per_try_timeout="5s")


# ---- the origin -----------------------------------------------------------------
@dataclass
class Req:
    """One request as the origin read it."""
    index: int              # 1-based hit number for its path
    method: str
    target: str             # the request-target as sent
    path: str               # without query
    version: str
    headers: list           # [(name, value)] in order
    raw_head: bytes         # request line .. empty line, exactly as read
    conn_id: int
    conn_req: int           # 1-based index of the request on its connection
    framing: str            # "length", "chunked" or "none"
    chunk_sizes: list = field(default_factory=list)
    trailers: list = field(default_factory=list)
    body: bytes | None = b""  # None when over KEEP
    body_len: int = 0
    body_sha256: str = hashlib.sha256().hexdigest()
    wire: bytearray = field(default_factory=bytearray)  # body bytes as they came
    complete: bool = False  # the body was read to its framed end
    done: bool = False      # every action of the step ran
    tunnel_in: bytearray = field(default_factory=bytearray)  # after a 101
    peer_eof: bool = False  # after a 101: the peer half-closed

    def header_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def header(self, name, default=None):
        v = self.header_all(name)
        return v[0] if v else default

    def has_header(self, name):
        return bool(self.header_all(name))


class _Gone(Exception):
    pass


@dataclass
class RstAfter:
    """Step: read `n` bytes of the body (at least), then reset (RST)."""
    n: int


@dataclass
class Upgrade:
    """Step: write `head` (a 101) and `greeting`; then echo every byte read
    until the peer half-closes; then write `bye` and close."""
    head: bytes
    greeting: bytes = b""
    bye: bytes = b""


def own_body(method, path):
    return f"answer for {method} {path}\n".encode()


def response(status=200, reason="OK", headers=(), body=b""):
    head = f"HTTP/1.1 {status} {reason}\r\n"
    for k, v in headers:
        head += f"{k}: {v}\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode("latin-1") + body


def answer(req):
    """The default step: 200 whose body names the request's method and path."""
    return response(body=own_body(req.method, req.path))


def chunked(body, size=1000):
    out = bytearray()
    for i in range(0, len(body), size):
        piece = body[i:i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return bytes(out) + b"0\r\n\r\n"


class LaneOrigin:
    """A threaded HTTP/1.1 origin on 127.0.0.1; keep-alive; one thread per
    connection.  script(path, step, step, ...) sets what the hits on path
    get (the last step repeats); a step is bytes (one write), a
    callable(req) returning a step, a list of actions (bytes, a pause in
    seconds, "close", "rst"), RstAfter or Upgrade."""

    def __init__(self, name="lane-origin"):
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

    @property
    def authority(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"http://{self.authority}"

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
        return self.wait_for(
            lambda: sum(1 for r in self.reqs if r.path == path and r.done) >= n, timeout)

    def wait_closed_all(self, timeout=5.0):
        """True once no connection is open (every peer went away)."""
        return self.wait_for(lambda: not self.conns, timeout)

    # -- threads --
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

    def _notify(self):
        with self.cond:
            self.cond.notify_all()

    def _serve(self, conn, cid):
        buf = bytearray()
        nreq = 0
        try:
            while not self.stopping.is_set():
                req = self._read_head(conn, buf, cid, nreq + 1)
                if req is None:
                    break
                nreq += 1
                with self.cond:
                    n = self.counts.get(req.path, 0) + 1
                    self.counts[req.path] = n
                    req.index = n
                    steps = self.scripts.get(req.path)
                    step = steps[min(n, len(steps)) - 1] if steps else answer
                    self.reqs.append(req)
                    self.cond.notify_all()
                if isinstance(step, RstAfter):
                    self._read_body(conn, buf, req, stop_after=step.n)
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
                    with self.cond:
                        req.done = True
                        self.cond.notify_all()
                    break
                self._read_body(conn, buf, req)
                with self.cond:
                    req.complete = True
                    self.cond.notify_all()
                keep = self._act(conn, buf, req, step)
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
            try:
                conn.close()
            except OSError:
                pass
            with self.cond:
                self.conns.pop(cid, None)
                self.cond.notify_all()

    def _recv(self, conn, buf):
        try:
            data = conn.recv(262144)
        except OSError:
            raise _Gone()
        if not data:
            raise _Gone()
        buf += data

    def _read_head(self, conn, buf, cid, nreq):
        while b"\r\n\r\n" not in buf:
            if len(buf) > 1 << 20:
                raise _Gone()
            try:
                self._recv(conn, buf)
            except _Gone:
                if buf:
                    raise
                return None
        end = buf.index(b"\r\n\r\n") + 4
        raw = bytes(buf[:end])
        del buf[:end]
        lines = raw[:-4].decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = [(k.strip(), v.strip()) for k, _, v in
                   (line.partition(":") for line in lines[1:])]
        te = ",".join(v for k, v in headers if k.lower() == "transfer-encoding").lower()
        framing = ("chunked" if "chunked" in te else
                   "length" if any(k.lower() == "content-length" for k, _ in headers)
                   else "none")
        path = target.split("?", 1)[0]
        return Req(index=0, method=method, target=target, path=path, version=version,
                   headers=headers, raw_head=raw, conn_id=cid, conn_req=nreq,
                   framing=framing)

    def _read_body(self, conn, buf, req, stop_after=None):
        """Read req's body, hashing it; with stop_after, return once that
        many body bytes (framing included) arrived."""
        sha = hashlib.sha256()
        body = bytearray()
        got = 0  # wire bytes taken

        def wire(data):
            nonlocal got
            got += len(data)
            if len(req.wire) < WIRE_KEEP:
                req.wire += data[:WIRE_KEEP - len(req.wire)]

        def take(data):
            sha.update(data)
            req.body_len += len(data)
            if req.body_len <= KEEP:
                body.extend(data)

        class _Stop(Exception):
            pass

        def more():
            if stop_after is not None and got >= stop_after:
                raise _Stop()
            self._recv(conn, buf)

        try:
            if req.framing == "length":
                left = int(req.header("Content-Length"))
                while left > 0:
                    if not buf:
                        more()
                    piece = bytes(buf[:left])
                    del buf[:len(piece)]
                    wire(piece)
                    take(piece)
                    left -= len(piece)
            elif req.framing == "chunked":
                def line():
                    while b"\r\n" not in buf:
                        more()
                    i = buf.index(b"\r\n")
                    ln = bytes(buf[:i])
                    del buf[:i + 2]
                    wire(ln + b"\r\n")
                    return ln
                while True:
                    size = int(line().split(b";")[0].strip(), 16)
                    if size == 0:
                        while True:
                            ln = line()
                            if not ln:
                                break
                            k, _, v = ln.decode("latin-1").partition(":")
                            req.trailers.append((k.strip(), v.strip()))
                        break
                    req.chunk_sizes.append(size)
                    left = size
                    while left > 0:
                        if not buf:
                            more()
                        piece = bytes(buf[:left])
                        del buf[:len(piece)]
                        wire(piece)
                        take(piece)
                        left -= len(piece)
                    while len(buf) < 2:
                        more()
                    assert buf[:2] == b"\r\n", f"chunk not ended by CRLF: {bytes(buf[:20])!r}"
                    del buf[:2]
                    wire(b"\r\n")
        except _Stop:
            pass
        req.body_sha256 = sha.hexdigest()
        req.body = bytes(body) if req.body_len <= KEEP else None

    def _act(self, conn, buf, req, step):
        while callable(step):
            step = step(req)
        if isinstance(step, Upgrade):
            return self._upgrade(conn, buf, req, step)
        if isinstance(step, (bytes, bytearray)):
            step = [step]
        for a in step:
            if isinstance(a, (bytes, bytearray)):
                try:
                    conn.sendall(a)
                except OSError:
                    return False
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
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return False
            else:
                raise ValueError(f"bad action {a!r}")
        return True

    def _upgrade(self, conn, buf, req, step):
        conn.sendall(step.head + step.greeting)
        pending = bytes(buf)
        buf.clear()
        while not self.stopping.is_set():
            if pending:
                data, pending = pending, b""
            else:
                r, _, _ = select.select([conn], [], [], 0.05)
                if not r:
                    continue
                try:
                    data = conn.recv(65536)
                except OSError:
                    return False
            if not data:
                with self.cond:
                    req.peer_eof = True
                    self.cond.notify_all()
                try:
                    conn.sendall(step.bye)
                    conn.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return False
            with self.cond:
                req.tunnel_in += data
                self.cond.notify_all()
            try:
                conn.sendall(data)
            except OSError:
                return False
        return False


@pytest.fixture
def origin():
    o = LaneOrigin().start()
    yield o
    o.stop()
    if o.errors:
        raise AssertionError(f"lane origin thread errors: {o.errors}")


# ---- helpers ----------------------------------------------------------------------
def start(proxy, proxy_lines="", config=""):
    lines = "workers = 1" + ("\n" + proxy_lines.strip("\n") if proxy_lines else "")
    return proxy(BASE + config, lines)


def explain(origin, px, r=None):
    out = []
    if r is not None:
        out.append(f"response: {r!r} raw head {r.raw_head!r}")
    out.append(f"origin {origin.authority}: {origin.connections} connections")
    for q in origin.hits():
        out.append(f"  {q.method} {q.target} {q.version} hit {q.index} conn "
                   f"{q.conn_id}/{q.conn_req} framing {q.framing} body {q.body_len}B "
                   f"complete {q.complete} done {q.done}\n    head {q.raw_head[:400]!r}")
    if px is not None:
        out.append("access log:")
        try:
            out.extend("  " + json.dumps(e) for e in px.access_log())
        except AssertionError as e:
            out.append(str(e))
        out.append("daemon stderr (tail):")
        out.append(px.stderr_tail(25))
    return "\n".join(out)


def closes(r):
    """Does the response say the connection ends after it?"""
    tokens = [t.strip().lower() for t in (r.header("Connection") or "").split(",")]
    return "close" in tokens or r.version == "HTTP/1.0"


def goes_on(px, origin, c, r, tag, keep=True):
    """README "Any request": the client connection goes on with its next
    request (or, where `keep` is None and the response says close, is
    closed); then a new connection gets its own answer too."""
    if keep is None and closes(r):
        assert c.wait_closed(3), "response said close, connection stayed open\n" + \
            explain(origin, px, r)
    else:
        if keep:
            assert not closes(r), "the connection should stay open\n" + explain(origin, px, r)
        path = f"/{tag}-next"
        c.send_request("GET", origin.url + path, close=False)
        r2 = c.read_response()
        why = explain(origin, px, r2)
        assert r2.status == 200 and r2.complete, why
        assert r2.body == own_body("GET", path), why
        assert origin.count(path) == 1, why
    path = f"/{tag}-fresh"
    r3 = request(px.addr, "GET", origin.url + path, timeout=5)
    why = explain(origin, px, r3)
    assert r3.status == 200 and r3.body == own_body("GET", path), why


def log_lines(px, path, method):
    """The first access-log entry for method on path (query ignored), once
    written, and all such entries (exactly one is expected)."""
    def pred(x):
        return x.get("method") == method and \
            str(x.get("url", "")).split("?")[0].endswith(path)
    e = px.wait_log(pred)
    return e, [x for x in px.access_log() if pred(x)]


class Sender(threading.Thread):
    """Send pieces on a RawConn in the background (a large upload), while
    the test reads the response; an error (reset, broken pipe, timeout)
    ends it and is kept in .error for the test to judge."""

    def __init__(self, conn, pieces):
        super().__init__(daemon=True)
        self.conn = conn
        self.pieces = pieces
        self.sent = 0
        self.error = None

    def run(self):
        try:
            for p in self.pieces:
                self.conn.sock.sendall(p)
                self.sent += len(p)
        except OSError as e:
            self.error = e


def chunk_stream(n, size=65521):
    """The pattern's first n bytes as chunked framing, chunk by chunk."""
    for c in pattern_chunks(n):
        for i in range(0, len(c), size):
            piece = c[i:i + size]
            yield b"%x\r\n" % len(piece) + piece + b"\r\n"
    yield b"0\r\n\r\n"


# ---- 0. the origin, without the proxy ----------------------------------------------
def test_lane_origin_direct():
    """What LaneOrigin records and answers, over direct connections: a
    failing proxy case below is the proxy's, not the origin's."""
    o = LaneOrigin("direct").start()
    try:
        o.script("/dav", multistatus)
        o.script("/ws", Upgrade(SWITCH, b"hi", b"bye"))
        o.script("/rst", RstAfter(1000))
        c = RawConn(("127.0.0.1", o.port), timeout=5)
        c.send(b"PROPFIND /dav?x HTTP/1.1\r\nHost: h\r\nDepth: 1\r\n"
               b"Content-Length: %d\r\n\r\n" % len(PROPFIND_BODY) + PROPFIND_BODY
               + b"foo /dav HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
               + chunked(TRICKY_BODY, 100))
        r1 = c.read_response("PROPFIND")
        r2 = c.read_response("foo")
        q1, q2 = o.hits("/dav")
        check_multistatus(r1, q1, o, None)
        check_multistatus(r2, q2, o, None)
        assert (q1.method, q1.target, q1.body, q1.header("Depth")) == \
            ("PROPFIND", "/dav?x", PROPFIND_BODY, "1")
        assert q1.raw_head.startswith(b"PROPFIND /dav?x HTTP/1.1\r\n")
        assert (q2.method, q2.framing, q2.body) == ("foo", "chunked", TRICKY_BODY)
        assert q2.body_sha256 == hashlib.sha256(TRICKY_BODY).hexdigest()
        assert bytes(q2.wire) == chunked(TRICKY_BODY, 100) and q2.chunk_sizes[0] == 100
        assert q1.conn_id == q2.conn_id and q2.conn_req == 2
        c.close()
        c = RawConn(("127.0.0.1", o.port), timeout=5)
        c.send(b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\n\r\n")
        assert c.read_head().status == 101
        assert read_exactly(c, 2) == b"hi"
        c.send(b"ping")
        assert read_exactly(c, 4) == b"ping"
        c.half_close()
        assert read_exactly(c, 3) == b"bye" and c.wait_closed(3)
        assert bytes(o.hits("/ws")[0].tunnel_in) == b"ping" and o.hits("/ws")[0].peer_eof
        c.close()
        c = RawConn(("127.0.0.1", o.port), timeout=5)
        c.send(b"PUT /rst HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n"
               + b"u" * 5000)
        assert c.wait_closed(3) and c.error == "reset"
        assert o.wait_done("/rst") and not o.hits("/rst")[0].complete
        c.close()
    finally:
        o.stop()
    assert not o.errors, o.errors


# ---- 1. any method token ---------------------------------------------------------
PROPFIND_BODY = (b'<?xml version="1.0" encoding="utf-8" ?>\r\n'
                 b'<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
                 b'<D:getcontentlength/></D:prop></D:propfind>\r\n')
REPORT_BODY = (b'<?xml version="1.0" encoding="utf-8"?>\n'
               b'<S:update-report xmlns:S="svn:"><S:src-path>/repo</S:src-path>'
               b'<S:target-revision>42</S:target-revision></S:update-report>\n')
MKCOL_BODY = (b'<?xml version="1.0" encoding="utf-8"?>\n<D:mkcol xmlns:D="DAV:"><D:set>'
              b'<D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop>'
              b'</D:set></D:mkcol>\n')
# a body that looks like requests, with NUL and 8-bit bytes: only framing ends it
TRICKY_BODY = (b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff\xfe binary \r\n\r\n"
               b"0\r\n\r\n" + bytes(range(256)))

# method -> (extra request headers, body for the "with body" case)
METHODS = {
    "PROPFIND": ([("Depth", "1"), ("Content-Type", 'application/xml; charset="utf-8"')],
                 PROPFIND_BODY),
    "REPORT": ([("Depth", "0"), ("Content-Type", "text/xml")], REPORT_BODY),
    "MKCOL": ([("Content-Type", "application/xml")], MKCOL_BODY),
    "PURGE": ([("X-Purge-Reason", "test")], TRICKY_BODY),
    "LINK": ([("Link", '<http://example.com/other>; rel="related"')], TRICKY_BODY),
    "M-SEARCH": ([("MAN", '"ssdp:discover"'), ("ST", "ssdp:all"), ("MX", "1")], TRICKY_BODY),
    "foo": ([("X-Lower", "yes")], TRICKY_BODY),
}

MULTI_TEMPLATE = ('<?xml version="1.0" encoding="utf-8" ?>\r\n'
                  '<D:multistatus xmlns:D="DAV:"><D:response><D:href>{path}</D:href>'
                  '<D:propstat><D:prop><D:getetag>"{sha}"</D:getetag></D:prop>'
                  '<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>'
                  '<D:responsedescription>{method}</D:responsedescription>'
                  '</D:multistatus>\r\n')
MULTI_HEADERS = [("Content-Type", 'application/xml; charset="utf-8"'),
                 ("DAV", "1, 2, access-control"), ("ETag", '"v1"'),
                 ("X-Origin-Token", "a b\tc")]


def multistatus(req):
    """207 Multi-Status whose body names the request (method, path and the
    hash of the body the origin got): a relayed answer is this request's own."""
    body = MULTI_TEMPLATE.format(path=req.path, sha=req.body_sha256[:16],
                                 method=req.method).encode()
    return response(207, "Multi-Status", MULTI_HEADERS, body)


def check_multistatus(r, q, origin, px):
    why = explain(origin, px, r)
    assert r.status == 207 and r.reason == "Multi-Status" and r.complete, why
    assert r.body == multistatus(q).split(b"\r\n\r\n", 1)[1], why
    for k, v in MULTI_HEADERS:
        assert r.header_all(k) == [v], f"{k}\n{why}"


@pytest.mark.parametrize("with_body", [True, False], ids=["body", "nobody"])
@pytest.mark.parametrize("method", list(METHODS))
def test_any_method_is_forwarded_intact(method, with_body, origin, proxy):
    # RFC 9110 section 9.1: the method token is case-sensitive and any
    # token is a method; RFC 9112 section 3.2.1: to an origin the target
    # is in origin-form, with a Host field (section 3.2).  The origin sees
    # the same method, path and query, fields and body bytes; the 207
    # Multi-Status (RFC 4918 section 13) comes back byte for byte.
    px = start(proxy)
    path = f"/dav/{method.lower()}/item"
    origin.script(path, multistatus)
    extra, body = METHODS[method]
    headers = list(extra) + [("X-Req", f"{method}-{with_body}")]
    c = RawConn(px.addr, timeout=5)
    c.send_request(method, origin.url + path + "?a=1&b=%20", headers=headers,
                   body=body if with_body else None, close=False)
    r = c.read_response(method)
    assert origin.count(path) == 1, explain(origin, px, r)
    q = origin.hits(path)[0]
    why = explain(origin, px, r)
    assert q.method == method, why
    assert q.raw_head.startswith(f"{method} {path}?a=1&b=%20 HTTP/1.1\r\n".encode()), why
    assert q.header_all("Host") == [origin.authority], why
    for k, v in headers:
        assert q.header_all(k) == [v], f"{k}\n{why}"
    assert q.complete, why
    if with_body:
        assert q.body == body, why
        assert q.body_sha256 == hashlib.sha256(body).hexdigest(), why
        assert q.framing == "length" and q.header("Content-Length") == str(len(body)), why
    else:
        assert q.body == b"", why
        assert q.framing == "none" or q.header("Content-Length") == "0", why
    check_multistatus(r, q, origin, px)
    e, same = log_lines(px, path, method)
    assert e["status"] == 207 and e["attempts"] == 1, why
    assert len(same) == 1, why
    goes_on(px, origin, c, r, "m")
    c.close()


def test_pipelined_get_and_propfind(origin, proxy):
    # RFC 9112 section 9.3.2: a client may send several requests without
    # waiting; the responses come in the order of the requests.  A GET
    # (evhttp's lane) and a PROPFIND (the raw lane) in one write, then the
    # other way round, then a third request on the same connection.
    px = start(proxy)
    origin.script("/p/dav", multistatus)
    origin.script("/p/dav2", multistatus)
    c = RawConn(px.addr, timeout=5)
    hdr = [("Depth", "1")]
    c.send(build_request("GET", origin.url + "/p/get", close=False)
           + build_request("PROPFIND", origin.url + "/p/dav", hdr, PROPFIND_BODY, close=False))
    r1 = c.read_response("GET")
    r2 = c.read_response("PROPFIND")
    why = explain(origin, px, r2)
    assert r1.status == 200 and r1.body == own_body("GET", "/p/get"), explain(origin, px, r1)
    assert origin.count("/p/dav") == 1, why
    check_multistatus(r2, origin.hits("/p/dav")[0], origin, px)
    assert origin.hits("/p/dav")[0].body == PROPFIND_BODY, why
    # the raw lane first, then evhttp's
    c.send(build_request("PROPFIND", origin.url + "/p/dav2", hdr, PROPFIND_BODY, close=False)
           + build_request("GET", origin.url + "/p/get2", close=False))
    r3 = c.read_response("PROPFIND")
    r4 = c.read_response("GET")
    assert origin.count("/p/dav2") == 1, explain(origin, px, r3)
    check_multistatus(r3, origin.hits("/p/dav2")[0], origin, px)
    assert r4.status == 200 and r4.body == own_body("GET", "/p/get2"), explain(origin, px, r4)
    assert px.log_for("/p/dav", method="PROPFIND")["status"] == 207
    assert px.log_for("/p/dav2", method="PROPFIND")["status"] == 207
    goes_on(px, origin, c, r4, "pipe")
    c.close()


# ---- 2. re-sending: methods, methods = *, Idempotency-Key --------------------------
RESEND = {
    # name: ([default] keys, extra headers, origin hits, final status)
    "default_methods": ({}, [], 1, 503),
    "methods_star": ({"methods": "*"}, [], 2, 207),
    "idempotency_key": ({}, [("Idempotency-Key", "8e03978e-40d5-43e8-bc93-6894a57f9324")],
                        2, 207),
}


@pytest.mark.parametrize("case", list(RESEND))
def test_extension_method_resent_per_methods(case, origin, proxy):
    # README "Retry semantics": a 503 is retried when the request may be
    # re-sent: its method is in `methods` (PROPFIND is not, by default;
    # `methods = *` lists every one) or it carries Idempotency-Key.  The
    # held body goes again, byte for byte.
    keys, headers, hits, status = RESEND[case]
    px = start(proxy, config=section("route 127.0.0.1", **keys) if keys else "")
    origin.script("/x", response(503, "Service Unavailable", body=b"busy\n"), multistatus)
    c = RawConn(px.addr, timeout=5)
    c.send_request("PROPFIND", origin.url + "/x", [("Depth", "1")] + headers,
                   PROPFIND_BODY, close=False)
    r = c.read_response("PROPFIND")
    why = explain(origin, px, r)
    assert r.status == status, why
    e = px.log_for("/x", method="PROPFIND")
    assert origin.count("/x") == hits, why
    assert all(q.body == PROPFIND_BODY and q.method == "PROPFIND" for q in origin.hits("/x")), why
    assert e["attempts"] == hits and e["status"] == status, why
    if status == 207:
        check_multistatus(r, origin.hits("/x")[-1], origin, px)
    else:
        assert r.body == b"busy\n", why
    goes_on(px, origin, c, r, "resend")
    c.close()


CHUNKED_RESEND = {
    # name: (method, extra headers, origin hits, final status)
    "put": ("PUT", [], 2, 200),
    "post_idempotency_key": ("POST", [("Idempotency-Key", "k-1")], 2, 200),
    "post": ("POST", [], 1, 503),
}


@pytest.mark.parametrize("case", list(CHUNKED_RESEND))
def test_chunked_body_held_dechunked_and_resent(case, origin, proxy):
    # A chunked body up to max_request_body is held whole and goes upstream
    # with a Content-Length (RFC 9112 section 6.2; section 7.1.3 describes
    # the decoding), so it can be re-sent: after a 503 for a PUT (listed in
    # methods by default) or a POST with Idempotency-Key, never for a
    # plain POST (README "Retry semantics").
    method, headers, hits, status = CHUNKED_RESEND[case]
    px = start(proxy)
    body = bytes((i * 7 + 3) % 251 for i in range(10240))
    origin.script("/ch", response(503, "Service Unavailable", body=b"busy\n"), answer)
    c = RawConn(px.addr, timeout=5)
    c.send(build_request(method, origin.url + "/ch",
                         headers + [("Transfer-Encoding", "chunked")], close=False)
           + chunked(body, 3000))
    r = c.read_response(method)
    why = explain(origin, px, r)
    assert r.status == status, why
    e = px.log_for("/ch", method=method)
    assert origin.count("/ch") == hits, why
    for q in origin.hits("/ch"):
        assert q.body == body, why
        assert q.framing == "length" and q.header_all("Content-Length") == ["10240"], why
        assert not q.has_header("Transfer-Encoding"), why
    assert e["attempts"] == hits, why
    if status == 200:
        assert r.body == own_body(method, "/ch"), why
    goes_on(px, origin, c, r, "chunked")
    c.close()


# ---- 3. bodies over max_request_body stream ---------------------------------------
@pytest.mark.parametrize("framing,n", [("length", 24 * MiB), ("chunked", 3 * MiB)])
def test_large_upload_streams_flat(framing, n, origin, proxy):
    # README "Any request": a body over max_request_body streams to the
    # origin with backpressure; memory stays flat.  A chunked one that
    # grows past the limit goes upstream chunked (RFC 9112 section 7.1).
    px = start(proxy, "max_request_body = 64K")
    c = RawConn(px.addr, timeout=10)
    if framing == "length":
        head = build_request("PUT", origin.url + "/big", [("Content-Length", str(n))],
                             close=False)
        pieces = [head, *pattern_chunks(n)]
    else:
        head = build_request("PUT", origin.url + "/big", [("Transfer-Encoding", "chunked")],
                             close=False)
        pieces = [head, *chunk_stream(n)]
    s = Sender(c, pieces)
    s.start()
    r = c.read_response("PUT")
    s.join(10)
    why = explain(origin, px, r) + f"\nsender: {s.sent}B error {s.error!r}"
    assert not s.is_alive() and s.error is None, why
    assert r.status == 200 and r.body == own_body("PUT", "/big"), why
    assert origin.count("/big") == 1, why
    q = origin.hits("/big")[0]
    assert q.body_len == n and q.body_sha256 == pattern_sha256(n), why
    if framing == "length":
        assert q.header_all("Content-Length") == [str(n)], why
        assert not q.has_header("Transfer-Encoding"), why
    else:
        assert q.framing == "chunked" and not q.has_header("Content-Length"), why
    e = px.log_for("/big", method="PUT")
    assert e["status"] == 200 and e["attempts"] == 1, why
    if not px.sanitized():
        hwm = px.vmhwm()
        print(f"VmHWM after {n}B {framing} upload: {hwm / MiB:.1f} MiB")
        assert hwm < 48 * MiB, f"VmHWM {hwm / MiB:.1f} MiB\n{why}"
    goes_on(px, origin, c, r, "big")
    c.close()


# ---- 4. max_upload -----------------------------------------------------------------
def check_413(r, px, method, origin):
    why = explain(origin, px, r)
    assert r.status == 413, why
    assert (r.header("Proxy-Status") or "").startswith("retryproxy; error=http_request_error"), why
    assert closes(r), why
    assert (r.header("Content-Type") or "").startswith("text/plain"), why
    assert r.body.startswith(b"retryproxy:"), why
    # the log line (the head may be refused before its method is taken)
    e = px.wait_log(lambda e: e.get("status") == 413)
    assert e.get("error") == "http_request_error", why


@pytest.mark.parametrize("method", ["PUT", "PROPFIND"])
def test_max_upload_declared_too_big_is_413_at_once(method, origin, proxy):
    # RFC 9110 section 15.5.14: 413 Content Too Large; README "Limits": as
    # soon as the head declares it.  Only the head is sent, so an answer
    # that waited for the body would never come.
    px = start(proxy, "max_upload = 1M\nmax_request_body = 64K")
    c = RawConn(px.addr, timeout=3)
    c.send(build_request(method, origin.url + "/up", [("Content-Length", str(2 * MiB))],
                         close=False))
    r = c.read_head(method)
    elapsed = time.monotonic() - c.t0
    assert r.status == 413 and elapsed < 1.0, explain(origin, px, r) + f"\nafter {elapsed:.2f}s"
    r.body = b"".join(c.body_iter(r))
    check_413(r, px, method, origin)
    assert origin.count("/up") == 0, explain(origin, px, r)
    goes_on(px, origin, c, r, "413", keep=None)
    c.close()


def test_max_upload_chunked_crossing_is_413(origin, proxy):
    # README "Limits": a chunked body gets the 413 at the chunk that takes
    # it past max_upload; the last chunk is never sent here, so the answer
    # cannot be waiting for the end of the body.
    px = start(proxy, "max_upload = 64K")
    c = RawConn(px.addr, timeout=3)
    c.send(build_request("PUT", origin.url + "/grow", [("Transfer-Encoding", "chunked")],
                         close=False))
    for _ in range(5):  # 80 KiB: the fifth chunk crosses 64 KiB
        if not c.send(b"4000\r\n" + b"z" * 0x4000 + b"\r\n"):
            break
    r = c.read_response("PUT")
    check_413(r, px, "PUT", origin)
    assert not any(q.complete for q in origin.hits("/grow")), explain(origin, px, r)
    goes_on(px, origin, c, r, "grow", keep=None)
    c.close()


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_max_upload_body_at_the_limit_passes(framing, origin, proxy):
    # A body of exactly max_upload bytes is not larger than it: forwarded
    # (streamed, as it is over max_request_body).
    n = 64 * 1024
    px = start(proxy, "max_upload = 64K\nmax_request_body = 16K")
    c = RawConn(px.addr, timeout=5)
    if framing == "length":
        data = build_request("PUT", origin.url + "/limit", [("Content-Length", str(n))],
                             close=False) + b"".join(pattern_chunks(n))
    else:
        data = build_request("PUT", origin.url + "/limit", [("Transfer-Encoding", "chunked")],
                             close=False) + b"".join(chunk_stream(n, 10000))
    c.send(data)
    r = c.read_response("PUT")
    why = explain(origin, px, r)
    assert r.status == 200 and r.body == own_body("PUT", "/limit"), why
    q = origin.hits("/limit")[0]
    assert q.body_len == n and q.body_sha256 == pattern_sha256(n), why
    assert px.log_for("/limit", method="PUT")["status"] == 200
    goes_on(px, origin, c, r, "limit")
    c.close()


# ---- 5. failures -------------------------------------------------------------------
@pytest.mark.parametrize("method,n", [("PUT", MiB), ("PROPFIND", len(PROPFIND_BODY))])
def test_refused_upload_retried_then_502(method, n, origin, proxy):
    # README "Retry semantics": a refused connect sent nothing, so it is
    # retried for any method and any body (a streamed one too), up to the
    # route's attempts; then 502 with Proxy-Status error=connection_refused
    # (RFC 9209 section 2.3.6).
    dead = unused_port_socket()
    try:
        port = dead.getsockname()[1]
        px = start(proxy, "max_request_body = 64K",
                   config=section(f"route 127.0.0.1:{port}", attempts=3))
        c = RawConn(px.addr, timeout=10)
        url = f"http://127.0.0.1:{port}/up"
        if method == "PUT":
            head = build_request(method, url, [("Content-Length", str(n))], close=False)
            s = Sender(c, [head, *pattern_chunks(n)])
        else:
            s = Sender(c, [build_request(method, url, [("Depth", "1")], PROPFIND_BODY,
                                         close=False)])
        s.start()
        r = c.read_response(method)
        s.join(10)
        why = explain(origin, px, r) + f"\nsender: {s.sent}B error {s.error!r}"
        assert r.status == 502, why
        e = px.log_for("/up", method=method)
        assert (r.header("Proxy-Status") or "").startswith(
            "retryproxy; error=connection_refused"), why
        assert e["status"] == 502 and e["attempts"] == 3, why
        assert not s.is_alive(), why
        goes_on(px, origin, c, r, "refused", keep=None)
        c.close()
    finally:
        dead.close()


def test_reset_mid_upload_is_502_once(origin, proxy):
    # README "Any request": a streamed body is sent again only when nothing
    # of it left.  The origin resets after 256 KiB of a 1 MiB PUT: 502,
    # and the origin saw exactly one connection.
    n = MiB
    px = start(proxy, "max_request_body = 64K")
    origin.script("/mid", RstAfter(256 * 1024))
    c = RawConn(px.addr, timeout=10)
    head = build_request("PUT", origin.url + "/mid", [("Content-Length", str(n))], close=False)
    s = Sender(c, [head, *pattern_chunks(n)])
    s.start()
    r = c.read_response("PUT")
    s.join(10)
    why = explain(origin, px, r) + f"\nsender: {s.sent}B error {s.error!r}"
    assert r.status == 502, why
    e = px.log_for("/mid", method="PUT")  # the request has ended
    why = explain(origin, px, r) + f"\nsender: {s.sent}B error {s.error!r}"
    assert (r.header("Proxy-Status") or "").startswith("retryproxy; error="), why
    assert e["status"] == 502 and e["attempts"] == 1, why
    assert origin.connections == 1 and origin.count("/mid") == 1, why
    assert not s.is_alive(), why
    goes_on(px, origin, c, r, "mid", keep=None)
    assert origin.count("/mid") == 1, why
    c.close()


@pytest.mark.parametrize("method", ["PUT", "PROPFIND"])
def test_streamed_upload_not_resent_after_503(method, origin, proxy):
    # README "Any request": a body over max_request_body is not held, so
    # once it left it cannot go again, even for a PUT (listed in methods)
    # or under `methods = *`: the 503 is the answer, one origin hit.
    n = MiB
    px = start(proxy, "max_request_body = 64K", config=section("route 127.0.0.1", methods="*"))
    origin.script("/s503", response(503, "Service Unavailable", body=b"busy\n"), answer)
    c = RawConn(px.addr, timeout=10)
    head = build_request(method, origin.url + "/s503", [("Content-Length", str(n))], close=False)
    s = Sender(c, [head, *pattern_chunks(n)])
    s.start()
    r = c.read_response(method)
    s.join(10)
    why = explain(origin, px, r) + f"\nsender: {s.sent}B error {s.error!r}"
    assert r.status == 503 and r.body == b"busy\n", why
    e = px.log_for("/s503", method=method)
    assert origin.count("/s503") == 1, why
    q = origin.hits("/s503")[0]
    assert q.body_len == n and q.body_sha256 == pattern_sha256(n), why
    assert e["status"] == 503 and e["attempts"] == 1, why
    assert not s.is_alive() and s.error is None, why
    goes_on(px, origin, c, r, "s503")
    c.close()


# ---- 6. Upgrade --------------------------------------------------------------------
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
WS_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 section 1.3's example
SWITCH = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          f"Connection: Upgrade\r\nSec-WebSocket-Accept: {WS_ACCEPT}\r\n\r\n").encode()
WS_HEADERS = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
              ("Sec-WebSocket-Key", WS_KEY), ("Sec-WebSocket-Version", "13")]


def read_exactly(c, n):
    while len(c.buf) < n and c._fill():
        pass
    data = bytes(c.buf[:n])
    del c.buf[:n]
    return data


def test_upgrade_101_then_bytes_both_ways(origin, proxy):
    # RFC 9110 section 7.8 and 15.2.2, RFC 6455 section 4: the origin gets
    # Upgrade and Connection: Upgrade; its 101 reaches the client, and from
    # then on the connection carries bytes both ways until each side
    # closes (a half-close passes through).
    px = start(proxy)
    greeting, bye = b"srv-hello\n", b"srv-bye\n"
    origin.script("/ws", Upgrade(SWITCH, greeting, bye))
    c = RawConn(px.addr, timeout=5)
    c.send_request("GET", origin.url + "/ws", headers=WS_HEADERS, close=False)
    r = c.read_head()
    why = explain(origin, px, r)
    assert r.status == 101, why
    assert r.header("Upgrade") == "websocket", why
    assert "upgrade" in (r.header("Connection") or "").lower(), why
    assert r.header("Sec-WebSocket-Accept") == WS_ACCEPT, why
    q = origin.hits("/ws")[0]
    assert q.header_all("Upgrade") == ["websocket"], why
    tokens = ",".join(q.header_all("Connection")).split(",")
    assert "upgrade" in [t.strip().lower() for t in tokens], why
    assert q.header_all("Sec-WebSocket-Key") == [WS_KEY], why
    assert read_exactly(c, len(greeting)) == greeting, why  # origin -> client first
    sent = bytearray()
    msgs = [b"\x81\x05hello", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            bytes(range(256)) * 40, b"\x88\x00", b"x" * 200000]
    for m in msgs:
        c.send(m)
        sent += m
        echoed = read_exactly(c, len(m))
        assert echoed == m, f"echo of {len(m)}B: got {len(echoed)}B\n" + explain(origin, px)
    assert origin.wait_for(lambda: bytes(q.tunnel_in) == bytes(sent)), explain(origin, px)
    c.half_close()  # the origin sees the EOF, says bye, closes
    assert origin.wait_for(lambda: q.peer_eof), "half-close did not reach the origin\n" + \
        explain(origin, px)
    assert read_exactly(c, len(bye)) == bye, explain(origin, px)
    assert c.wait_closed(3), explain(origin, px)
    e, same = log_lines(px, "/ws", "GET")
    assert e["status"] == 101 and len(same) == 1, explain(origin, px)
    c.close()
    r2 = request(px.addr, "GET", origin.url + "/after-ws", timeout=5)
    assert r2.status == 200 and r2.body == own_body("GET", "/after-ws"), explain(origin, px, r2)


@pytest.mark.parametrize("then", ["upgrade", "connect"])
def test_a_tunnel_after_raw_lane_requests_on_one_connection(then, origin, proxy):
    # A client connection that carried raw-lane requests becomes a tunnel
    # (a 101 on the raw lane, or a CONNECT on evhttp's): the callbacks the
    # raw lane left on the connection's buffers must not follow it there
    # (the tunnel owns, and frees, the bufferevent); the worker goes on.
    px = start(proxy, f"connect_ports = {origin.port}")
    c = RawConn(px.addr, timeout=5)
    for path in ("/before-1", "/before-2"):
        c.send_request("GET", origin.url + path, close=False)
        r = c.read_response()
        assert r.status == 200 and r.body == own_body("GET", path), explain(origin, px, r)
    if then == "upgrade":
        greeting, bye = b"srv-hello\n", b"srv-bye\n"
        origin.script("/ws", Upgrade(SWITCH, greeting, bye))
        c.send_request("GET", origin.url + "/ws", headers=WS_HEADERS, close=False)
        r = c.read_head()
        assert r.status == 101, explain(origin, px, r)
        assert read_exactly(c, len(greeting)) == greeting, explain(origin, px)
        c.send(b"x" * 70000)
        assert read_exactly(c, 70000) == b"x" * 70000, explain(origin, px)
    else:
        c.send(f"CONNECT {origin.authority} HTTP/1.1\r\nHost: {origin.authority}"
               f"\r\n\r\n".encode())
        r = c.read_head()
        assert r.status == 200, explain(origin, px, r)
        c.send(f"GET /inside HTTP/1.1\r\nHost: {origin.authority}\r\n\r\n".encode())
        r = c.read_response()
        assert r.status == 200 and r.body == own_body("GET", "/inside"), \
            explain(origin, px, r)
    c.close()
    for path in ("/after-1", "/after-2"):
        r2 = request(px.addr, "GET", origin.url + path, timeout=5)
        assert r2.status == 200 and r2.body == own_body("GET", path), \
            explain(origin, px, r2)


def test_upgrade_answered_200_is_an_ordinary_response(origin, proxy):
    # RFC 9110 section 7.8: a server may ignore Upgrade; its answer is then
    # an ordinary response and the connection goes on.
    px = start(proxy)
    origin.script("/ws", response(200, "OK", [("Content-Type", "text/plain")],
                                  b"no upgrade here\n"))
    c = RawConn(px.addr, timeout=5)
    c.send_request("GET", origin.url + "/ws", headers=WS_HEADERS, close=False)
    r = c.read_response()
    why = explain(origin, px, r)
    assert r.status == 200 and r.body == b"no upgrade here\n" and r.complete, why
    assert origin.hits("/ws")[0].header_all("Upgrade") == ["websocket"], why
    assert px.log_for("/ws", method="GET")["status"] == 200
    goes_on(px, origin, c, r, "ws200")
    c.close()


# ---- 7. HTTP/1.0 clients -----------------------------------------------------------
@pytest.mark.parametrize("keepalive", [False, True], ids=["plain", "keepalive"])
@pytest.mark.parametrize("answer_framing", ["chunked", "length"])
def test_http10_propfind_gets_no_chunks_then_close(answer_framing, keepalive, origin, proxy):
    # RFC 9112 section 6.1: chunked is HTTP/1.1 framing, never sent to an
    # HTTP/1.0 recipient; README "Clients": without a known length the
    # body ends where the connection does.  With a length and the
    # client's "Connection: keep-alive" the connection goes on (RFC 9112
    # section 9.3), saying so, and the next request on it gets its own
    # answer.  The request still goes to the origin as HTTP/1.1 (RFC 9110
    # section 6.2: a proxy sends its own version).
    px = start(proxy)
    xml = MULTI_TEMPLATE.format(path="/ten", sha="0" * 16, method="PROPFIND").encode() * 30
    if answer_framing == "chunked":
        step = (b"HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" + chunked(xml, 700))
    else:
        step = response(207, "Multi-Status", [("Content-Type", "application/xml")], xml)
    origin.script("/ten", step)
    c = RawConn(px.addr, timeout=5)
    hdrs = [("Depth", "1")] + ([("Connection", "keep-alive")] if keepalive else [])
    c.send_request("PROPFIND", origin.url + "/ten", hdrs, PROPFIND_BODY,
                   version="HTTP/1.0", close=False)
    kept = keepalive and answer_framing == "length"
    if kept:
        r = c.read_response()
        why = explain(origin, px, r)
        assert r.status == 207 and r.body == xml, why
        assert r.header("Connection") == "keep-alive", why
        assert r.header("Transfer-Encoding") is None, why
        c.send_request("GET", origin.url + "/next10", [("Connection", "keep-alive")],
                       version="HTTP/1.0", close=False)
        r = c.read_response()
        assert r.status == 200 and r.body == own_body("GET", "/next10"), explain(origin, px, r)
        c.close()
        return
    while c._fill():
        pass
    raw = bytes(c.buf)
    why = explain(origin, px) + f"\nclient got {raw[:600]!r} error {c.error}"
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, why
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].split(" ", 2)[1:] == ["207", "Multi-Status"], why
    fields = [(k.strip().lower(), v.strip())
              for k, _, v in (ln.partition(":") for ln in lines[1:])]
    assert "transfer-encoding" not in dict(fields), why
    cl = [v for k, v in fields if k == "content-length"]
    assert cl in ([], [str(len(xml))]), why
    assert body == xml, why
    assert c.eof and c.error is None, why  # closed, not reset nor timed out
    q = origin.hits("/ten")[0]
    assert q.version == "HTTP/1.1" and q.method == "PROPFIND" and q.body == PROPFIND_BODY, why
    assert q.header_all("Depth") == ["1"], why
    assert px.log_for("/ten", method="PROPFIND")["status"] == 207
    c.close()
    r2 = request(px.addr, "GET", origin.url + "/after10", timeout=5)
    assert r2.status == 200 and r2.body == own_body("GET", "/after10"), explain(origin, px, r2)


@pytest.mark.parametrize("method", ["DELETE", "PROPFIND"])
def test_fragment_in_target_is_refused(method, origin, proxy):
    # RFC 9112 section 3.2: a request-target carries no fragment.  Dropping
    # "#ment" from "DELETE /frag/#ment" would delete /frag/ itself (litmus
    # checks this), so both lanes answer 400 and send nothing.
    px = start(proxy)
    c = RawConn(px.addr, timeout=5)
    c.send(f"{method} {origin.url}/frag/#ment HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    r = c.read_response(method)
    why = explain(origin, px, r)
    assert r.status == 400, why
    assert b"fragment" in r.body, why
    assert origin.count("/frag/") == 0, why
    goes_on(px, origin, c, r, "frag", keep=None)
    c.close()
