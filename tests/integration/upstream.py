"""A scripted HTTP/1.1 origin server for the retryproxy integration tests.

It runs in-process: one accept thread plus one thread per connection, on a
socket bound to 127.0.0.1 (or ::1, or another loopback address) and port 0
(or the port asked for).  The test scripts what each path
answers, hit by hit, before sending the request:

    up.script("/a", ["503", "503", "200"])   # hits 1, 2 -> 503; 3 and later -> 200

Step kinds (a string or a dict):

    "503"                      status with a small body "status=503 hit=N\\n"
    {"status": 429, "headers": {"Retry-After": "1"}, "body": b"...",
     "body_len": N,            # body of N filler bytes b"E" instead of "body"
     "close_after": True,      # close the connection after answering, without
                               # saying "Connection: close" (a stale keep-alive)
     "drop_next": True}        # the next request read on this connection is
                               # dropped: connection closed, nothing answered
    (up.idle_close = 0.4: a kept connection idle 0.4 s is closed, counted in
    up.idle_closed)
    "reset"                    read the request, close with SO_LINGER 0 (RST)
                               ({"kind": "reset", "delay": S}: after S s)
    "close"                    read the request, close cleanly, no answer
    "stall:3"                  wait 3 s, then answer 200 unless the peer left
    "big:209715200"            200 with Content-Length, pattern body, streamed
    "nolen:N"                  200 without Content-Length, N bytes, then close
    "chunked:N"                200 chunked, N bytes
    "slowbody:N:rate"          200 with Content-Length N sent at rate bytes/s
    "garbage"                  "HELLO\\r\\n\\r\\n" then close
    "breakmid:N[:ms]"          Content-Length 2N, N bytes, pause ms (100), RST
    {"kind": "object", "size": N, ...}
                               a stored object of N pattern bytes (or "data")
                               that honours "Range: bytes=S-" and If-Range
                               (200 for all of it, 206 for the rest); options:
                               "etag" ('"v1"'; None for none), "last_modified",
                               "date", "accept_ranges" ("bytes"), "encoding"
                               (Content-Encoding), "chunked" (chunked framing),
                               "break_at" (absolute offset: the body stops
                               there, "break" "rst" | "close" | "stall:S"),
                               "ignore_range" (always 200), "status_206",
                               "content_range" (a format with {start}, {end},
                               {size}), "etag_206" (the ETag a 206 carries)

Generated bodies (big, nolen, chunked, slowbody, breakmid) are the
deterministic pattern of pattern_bytes(); pattern_sha256(n) is the hash of
its first n bytes.  Every request is recorded as a Hit; the wait_* methods
block on a condition variable instead of sleeping.
"""

import hashlib
import http
import random
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

__all__ = ["Upstream", "Hit", "pattern_bytes", "pattern_sha256",
           "PatternChecker", "parse_step"]

# A pseudo-random block of prime length: a dropped, duplicated or spliced run
# of bytes shows up in the hash (a period of 256 would hide many).
PATTERN_LEN = 65521
PATTERN = random.Random(20240601).randbytes(PATTERN_LEN)

KEEP_BODY_MAX = 32 * 1024 * 1024  # request bodies larger than this: hash only
MAX_HEAD = 256 * 1024


def pattern_chunks(n, offset=0):
    """Yield the pattern bytes [offset, offset+n) in pieces of <= 64 KiB."""
    pos = offset
    end = offset + n
    while pos < end:
        start = pos % PATTERN_LEN
        take = min(end - pos, PATTERN_LEN - start)
        yield PATTERN[start:start + take]
        pos += take


def pattern_bytes(n, offset=0):
    return b"".join(pattern_chunks(n, offset))


_sha_cache = {}


def pattern_sha256(n):
    """sha256 hex digest of the first n pattern bytes (cached)."""
    if n not in _sha_cache:
        h = hashlib.sha256()
        for c in pattern_chunks(n):
            h.update(c)
        _sha_cache[n] = h.hexdigest()
    return _sha_cache[n]


class PatternChecker:
    """Compare a body received piece by piece with the pattern, in O(1) memory."""

    def __init__(self):
        self.count = 0
        self.mismatch_at = None

    def feed(self, data):
        if self.mismatch_at is None:
            expected = pattern_bytes(len(data), self.count)
            if expected != bytes(data):
                for i, (a, b) in enumerate(zip(expected, data)):
                    if a != b:
                        self.mismatch_at = self.count + i
                        break
        self.count += len(data)

    @property
    def ok(self):
        return self.mismatch_at is None


def parse_step(step):
    """Normalise a step (string or dict) to a dict with a "kind" key."""
    if isinstance(step, int):
        return {"kind": "status", "status": step}
    if isinstance(step, dict):
        d = dict(step)
        if "kind" not in d:
            if "status" not in d:
                raise ValueError(f"step without kind or status: {step!r}")
            d["kind"] = "status"
        if d["kind"] == "status":
            d["status"] = int(d["status"])
        return d
    if not isinstance(step, str):
        raise ValueError(f"bad step {step!r}")
    parts = step.split(":")
    kind = parts[0]
    if kind.isdigit():
        return {"kind": "status", "status": int(kind)}
    if kind in ("reset", "close", "garbage"):
        return {"kind": kind}
    if kind == "stall":
        return {"kind": "stall", "seconds": float(parts[1])}
    if kind in ("big", "nolen", "chunked"):
        return {"kind": kind, "n": int(parts[1])}
    if kind == "slowbody":
        return {"kind": "slowbody", "n": int(parts[1]), "rate": float(parts[2])}
    if kind == "object":
        return {"kind": "object", "size": int(parts[1])}
    if kind == "breakmid":
        ms = float(parts[2]) if len(parts) > 2 else 100.0
        return {"kind": "breakmid", "n": int(parts[1]), "pause": ms / 1000.0}
    raise ValueError(f"unknown step kind {step!r}")


@dataclass
class Hit:
    """One request as the upstream received it."""
    index: int            # 1-based hit number for this path (0 for dropped)
    method: str
    target: str           # the request-target as sent
    path: str             # target without query (and scheme/authority)
    version: str
    headers: list         # [(name, value)] in order
    body: bytes | None    # None when larger than KEEP_BODY_MAX
    body_len: int
    body_sha256: str
    time: float           # time.monotonic() when the whole request was read
    head_time: float      # time.monotonic() when the header block was read
    conn_id: int
    conn_request: int     # 1-based index of the request on its connection
    step: dict = field(default_factory=dict)
    responded: bool = False    # the whole answer was written
    client_gone: bool = False  # the peer went away while we answered/stalled
    sent_bytes: int = 0        # body bytes written

    def header(self, name, default=None):
        n = name.lower()
        for k, v in self.headers:
            if k.lower() == n:
                return v
        return default

    def header_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def has_header(self, name):
        return bool(self.header_all(name))

    @property
    def query(self):
        return self.target.split("?", 1)[1] if "?" in self.target else None


class _Gone(Exception):
    """The peer went away (or the server is stopping)."""


class Upstream:
    """Scripted origin server.  Use bind() then start(), or just start()."""

    def __init__(self, host="127.0.0.1", name="upstream", port=0):
        self.host = host
        self.name = name
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._lsock = None
        self.want_port = port      # 0: the kernel picks one
        self.port = None
        self._cond = threading.Condition()
        self._scripts = {}
        self._counts = {}
        self._hits = []
        self.dropped = []          # requests dropped by a drop_next step
        self.connections = 0       # connections accepted
        # seconds to wait after a request's head before reading its body
        # (the sender's socket fills meanwhile)
        self.body_pause = 0.0
        self.idle_close = None     # s: close a kept connection idle this long
        self.idle_closed = 0       # connections closed so
        self._conns = {}
        self._threads = []
        self._stopping = threading.Event()
        self._accept_thread = None
        self.errors = []           # unexpected exceptions in server threads

    # ---- life cycle ----------------------------------------------------
    def bind(self):
        """Bind the port without listening: a connect is refused until start()."""
        if self._lsock is None:
            s = socket.socket(self.family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((self.host, self.want_port))
            except OSError:
                s.close()
                raise
            self._lsock = s
            self.port = s.getsockname()[1]
        return self

    def start(self):
        self.bind()
        self._lsock.listen(256)
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"{self.name}-accept", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self):
        self._stopping.set()
        if self._lsock is not None:
            try:
                self._lsock.close()
            except OSError:
                pass
        with self._cond:
            conns = list(self._conns.values())
            self._cond.notify_all()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + 3
        for t in [self._accept_thread] + list(self._threads):
            if t is not None:
                t.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def authority(self):
        if self.family == socket.AF_INET6:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"

    @property
    def addr(self):
        return (self.host, self.port)

    @property
    def url(self):
        return f"http://{self.authority}"

    # ---- scripting and inspection -------------------------------------
    def script(self, path, steps):
        """Set what `path` answers, hit by hit; the last step repeats."""
        if isinstance(steps, (str, dict, int)):
            steps = [steps]
        parsed = [parse_step(s) for s in steps]
        if not parsed:
            raise ValueError("empty script")
        with self._cond:
            self._scripts[path] = parsed
        return self

    def hits(self, path=None):
        with self._cond:
            return [h for h in self._hits if path is None or h.path == path]

    def count(self, path=None):
        return len(self.hits(path))

    def wait_for(self, predicate, timeout):
        """Block until predicate() is true (re-checked on every event)."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def wait_hits(self, path, n, timeout=5.0):
        """True once `path` has had at least n hits; False after timeout."""
        return self.wait_for(
            lambda: sum(1 for h in self._hits if h.path == path) >= n, timeout)

    def wait_responded(self, path, n, timeout=5.0):
        """True once n hits on `path` were fully answered (or their peer left)."""
        return self.wait_for(
            lambda: sum(1 for h in self._hits if h.path == path
                        and (h.responded or h.client_gone)) >= n, timeout)

    def wait_connections(self, n, timeout=5.0):
        return self.wait_for(lambda: self.connections >= n, timeout)

    def gaps(self, path):
        """Seconds between consecutive arrivals on `path`."""
        ts = [h.time for h in self.hits(path)]
        return [b - a for a, b in zip(ts, ts[1:])]

    # ---- server threads -------------------------------------------------
    def _notify(self):
        with self._cond:
            self._cond.notify_all()

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                r, _, _ = select.select([self._lsock], [], [], 0.05)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                conn, _ = self._lsock.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._cond:
                self.connections += 1
                cid = self.connections
                self._conns[cid] = conn
                self._cond.notify_all()
            t = threading.Thread(target=self._serve, args=(conn, cid),
                                 name=f"{self.name}-conn{cid}", daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn, cid):
        buf = bytearray()
        nreq = 0
        drop_next = False
        try:
            while not self._stopping.is_set():
                if nreq and self.idle_close is not None and not buf:
                    r, _, _ = select.select([conn], [], [], self.idle_close)
                    if not r:  # idle too long: close, as servers do
                        with self._cond:
                            self.idle_closed += 1
                            self._cond.notify_all()
                        break
                req = self._read_request(conn, buf)
                if req is None:
                    break
                nreq += 1
                if drop_next:
                    with self._cond:
                        self.dropped.append(self._make_hit(req, 0, cid, nreq, {}))
                        self._cond.notify_all()
                    break
                with self._cond:
                    path = req["path"]
                    n = self._counts.get(path, 0) + 1
                    self._counts[path] = n
                    steps = self._scripts.get(path, [{"kind": "status", "status": 200}])
                    step = steps[min(n, len(steps)) - 1]
                    hit = self._make_hit(req, n, cid, nreq, step)
                    self._hits.append(hit)
                    self._cond.notify_all()
                keep = self._do_step(conn, req, hit, step)
                self._notify()
                if step.get("drop_next"):
                    drop_next = True
                if not keep:
                    break
        except _Gone:
            pass
        except Exception as e:  # noqa: BLE001 - report, never kill the test silently
            if not self._stopping.is_set():
                self.errors.append(repr(e))
        finally:
            with self._cond:
                self._conns.pop(cid, None)
                self._cond.notify_all()
            try:
                conn.close()
            except OSError:
                pass

    @staticmethod
    def _make_hit(req, n, cid, nreq, step):
        return Hit(index=n, method=req["method"], target=req["target"],
                   path=req["path"], version=req["version"],
                   headers=req["headers"], body=req["body"],
                   body_len=req["body_len"], body_sha256=req["body_sha256"],
                   time=req["time"], head_time=req["head_time"],
                   conn_id=cid, conn_request=nreq, step=step)

    # ---- request parsing -------------------------------------------------
    def _recv(self, conn, buf):
        try:
            data = conn.recv(262144)
        except OSError:
            raise _Gone()
        if not data:
            raise _Gone()
        buf += data

    def _read_request(self, conn, buf):
        """Read one request; None on a clean EOF between requests."""
        while b"\r\n\r\n" not in buf:
            if len(buf) > MAX_HEAD:
                raise _Gone()
            try:
                self._recv(conn, buf)
            except _Gone:
                if buf:
                    raise
                return None
        head_time = time.monotonic()
        end = buf.index(b"\r\n\r\n")
        head = bytes(buf[:end]).decode("latin-1")
        del buf[:end + 4]
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            raise _Gone()
        method, target, version = parts
        headers = []
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers.append((k.strip(), v.strip()))

        def hget(name):
            for k, v in headers:
                if k.lower() == name:
                    return v
            return None

        sha = hashlib.sha256()
        body = bytearray()
        length = 0
        keep = True
        if self.body_pause > 0 and (hget("content-length") or "0") != "0":
            time.sleep(self.body_pause)

        def take(data):
            nonlocal length, keep
            sha.update(data)
            length += len(data)
            if keep:
                if length > KEEP_BODY_MAX:
                    keep = False
                    body.clear()
                else:
                    body.extend(data)

        te = (hget("transfer-encoding") or "").lower()
        if (hget("expect") or "").lower() == "100-continue" and not buf and \
                ("chunked" in te or int(hget("content-length") or 0) > 0):
            try:
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            except OSError:
                raise _Gone()
        if "chunked" in te:
            while True:
                while b"\r\n" not in buf:
                    self._recv(conn, buf)
                i = buf.index(b"\r\n")
                size = int(bytes(buf[:i]).split(b";")[0].strip() or b"0", 16)
                del buf[:i + 2]
                if size == 0:
                    # trailers up to the empty line
                    while True:
                        while b"\r\n" not in buf:
                            self._recv(conn, buf)
                        i = buf.index(b"\r\n")
                        line = bytes(buf[:i])
                        del buf[:i + 2]
                        if not line:
                            break
                    break
                while len(buf) < size + 2:
                    self._recv(conn, buf)
                take(bytes(buf[:size]))
                del buf[:size + 2]
        else:
            cl = int(hget("content-length") or 0)
            while cl > 0:
                if not buf:
                    self._recv(conn, buf)
                piece = bytes(buf[:cl])
                del buf[:len(piece)]
                take(piece)
                cl -= len(piece)

        if target.startswith(("http://", "https://")):
            rest = target.split("://", 1)[1]
            path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        else:
            path = target
        path = path.split("?", 1)[0]
        conn_tokens = [t.strip().lower() for t in (hget("connection") or "").split(",")]
        if version == "HTTP/1.1":
            keepalive = "close" not in conn_tokens
        else:
            keepalive = "keep-alive" in conn_tokens
        return {"method": method, "target": target, "path": path,
                "version": version, "headers": headers,
                "body": bytes(body) if keep else None, "body_len": length,
                "body_sha256": sha.hexdigest(), "time": time.monotonic(),
                "head_time": head_time, "keepalive": keepalive}

    # ---- answering ---------------------------------------------------------
    def _send(self, conn, hit, data, body_bytes=0):
        try:
            conn.sendall(data)
        except OSError:
            hit.client_gone = True
            raise _Gone()
        hit.sent_bytes += body_bytes

    @staticmethod
    def _head(status, headers, reason=None):
        if reason is None:
            try:
                reason = http.HTTPStatus(status).phrase
            except ValueError:
                reason = "Status"
        lines = [f"HTTP/1.1 {status} {reason}"]
        for k, v in headers:
            lines.append(f"{k}: {v}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _base_headers(self, hit, keepalive, extra=None):
        hs = [("Server", "retryproxy-test-upstream"),
              ("X-Upstream", self.authority),
              ("X-Upstream-Hit", str(hit.index))]
        if not keepalive:
            hs.append(("Connection", "close"))
        if extra:
            items = extra.items() if isinstance(extra, dict) else extra
            names = {k.lower() for k, _ in items}
            hs = [(k, v) for k, v in hs if k.lower() not in names]
            hs.extend(items)
        return hs

    def _rst(self, conn):
        try:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        except OSError:
            pass
        conn.close()

    def _peer_gone(self, conn):
        """Non-blocking: has the peer closed or reset the connection?"""
        try:
            r, _, _ = select.select([conn], [], [], 0)
            if not r:
                return False
            data = conn.recv(1, socket.MSG_PEEK)
            return data == b""
        except OSError:
            return True

    def _wait(self, conn, hit, seconds):
        """Wait `seconds`; False (and client_gone) if the peer leaves first."""
        end = time.monotonic() + seconds
        watch = True
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return True
            if self._stopping.is_set():
                raise _Gone()
            if watch:
                try:
                    r, _, _ = select.select([conn], [], [], min(left, 0.05))
                except (OSError, ValueError):
                    hit.client_gone = True
                    return False
                if r:
                    if self._peer_gone(conn):
                        hit.client_gone = True
                        self._notify()
                        return False
                    watch = False  # pipelined data: stop watching, keep it
            else:
                self._stopping.wait(min(left, 0.05))

    def _object(self, conn, req, hit, step):
        """A stored object that honours Range and If-Range (step "object")."""
        data = step.get("data")
        size = len(data) if data is not None else int(step["size"])
        etag = step.get("etag", '"v1"')
        lm = step.get("last_modified")
        hget = {k.lower(): v for k, v in req["headers"]}
        start = 0
        rng = hget.get("range")
        if rng and rng.startswith("bytes=") and rng.endswith("-") and \
                not step.get("ignore_range"):
            if_range = hget.get("if-range")
            if if_range is None or if_range in (etag, lm):
                start = int(rng[len("bytes="):-1])
        status = 200
        extra = [("Accept-Ranges", step.get("accept_ranges", "bytes"))]
        if step.get("date"):
            extra.append(("Date", step["date"]))
        if lm:
            extra.append(("Last-Modified", lm))
        if step.get("encoding"):
            extra.append(("Content-Encoding", step["encoding"]))
        tag = etag
        if start > 0:
            status = int(step.get("status_206", 206))
            tag = step.get("etag_206", etag)
            fmt = step.get("content_range", "bytes {start}-{end}/{size}")
            extra.append(("Content-Range", fmt.format(
                start=start, end=size - 1, size=size)))
        if tag is not None:
            extra.append(("ETag", tag))
        n = size - start
        keepalive = req["keepalive"]
        hs = self._base_headers(hit, keepalive, extra)
        chunked = step.get("chunked")
        hs.append(("Transfer-Encoding", "chunked") if chunked
                  else ("Content-Length", str(n)))
        self._send(conn, hit, self._head(status, hs))
        if req["method"] == "HEAD":
            hit.responded = True
            return keepalive
        stop = step.get("break_at")
        pos = start
        pieces = ([data[start:]] if data is not None
                  else pattern_chunks(n, start))
        for c in pieces:
            for i in range(0, len(c), 65536):
                piece = c[i:i + 65536]
                if stop is not None and pos + len(piece) > stop:
                    piece = piece[:max(0, stop - pos)]
                if piece:
                    self._send(conn, hit, b"%x\r\n" % len(piece) + piece +
                               b"\r\n" if chunked else piece, len(piece))
                    pos += len(piece)
                if stop is not None and pos >= stop:
                    how = step.get("break", "rst")
                    if how.startswith("stall"):
                        self._wait(conn, hit, float(how.split(":")[1]))
                    elif how == "close":
                        try:
                            conn.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                        return False
                    self._rst(conn)
                    raise _Gone()
        if chunked:
            self._send(conn, hit, b"0\r\n\r\n")
        hit.responded = True
        return keepalive

    def _do_step(self, conn, req, hit, step):
        """Answer per step; True to keep the connection for another request."""
        kind = step["kind"]
        keepalive = req["keepalive"]
        is_head = req["method"] == "HEAD"
        if kind == "status":
            status = step["status"]
            if step.get("delay"):
                if not self._wait(conn, hit, float(step["delay"])):
                    return False
            if "body_len" in step:
                n = int(step["body_len"])
                body = None
            else:
                body = step.get("body", f"status={status} hit={hit.index}\n")
                if isinstance(body, str):
                    body = body.encode()
                n = len(body)
            nobody = is_head or status in (204, 304) or 100 <= status < 200
            hs = self._base_headers(hit, keepalive and not step.get("close_after"),
                                    None)
            if step.get("close_after"):
                # Look reusable: no "Connection: close" even though we close.
                hs = [(k, v) for k, v in hs if k.lower() != "connection"]
            if not (status in (204, 304) or 100 <= status < 200):
                hs.append(("Content-Length", str(n)))
            extra = step.get("headers")
            if extra:
                items = list(extra.items()) if isinstance(extra, dict) else list(extra)
                names = {k.lower() for k, _ in items}
                hs = [(k, v) for k, v in hs if k.lower() not in names] + items
            self._send(conn, hit, self._head(status, hs, step.get("reason")))
            if not nobody and n:
                if body is not None:
                    self._send(conn, hit, body, n)
                else:
                    fill = b"E" * 65536
                    left = n
                    while left:
                        c = fill[:min(left, 65536)]
                        self._send(conn, hit, c, len(c))
                        left -= len(c)
            hit.responded = True
            if step.get("close_after"):
                try:
                    conn.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return False
            return keepalive
        if kind == "reset":
            if step.get("delay"):
                if not self._wait(conn, hit, float(step["delay"])):
                    return False
            self._rst(conn)
            raise _Gone()
        if kind == "close":
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return False
        if kind == "garbage":
            self._send(conn, hit, b"HELLO\r\n\r\n")
            hit.responded = True
            try:
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return False
        if kind == "stall":
            if not self._wait(conn, hit, step["seconds"]):
                return False
            body = f"status=200 hit={hit.index} stalled\n".encode()
            hs = self._base_headers(hit, keepalive) + [("Content-Length", str(len(body)))]
            self._send(conn, hit, self._head(200, hs) + body, len(body))
            hit.responded = True
            return keepalive
        if kind in ("big", "slowbody"):
            n = step["n"]
            hs = self._base_headers(hit, keepalive, step.get("headers")) + [
                ("Content-Length", str(n))]
            self._send(conn, hit, self._head(200, hs))
            if is_head:
                hit.responded = True
                return keepalive
            if kind == "big":
                for c in pattern_chunks(n):
                    self._send(conn, hit, c, len(c))
            else:
                rate = step["rate"]
                t0 = time.monotonic()
                sent = 0
                for c in pattern_chunks(n):
                    pos = 0
                    while pos < len(c):
                        # send whatever the schedule allows, at least 1 byte
                        due = int((time.monotonic() - t0) * rate) - sent
                        if due <= 0:
                            if self._stopping.wait(0.01):
                                raise _Gone()
                            continue
                        piece = c[pos:pos + due]
                        self._send(conn, hit, piece, len(piece))
                        pos += len(piece)
                        sent += len(piece)
            hit.responded = True
            return keepalive
        if kind == "nolen":
            n = step["n"]
            hs = self._base_headers(hit, False, step.get("headers"))
            self._send(conn, hit, self._head(200, hs))
            if not is_head:
                for c in pattern_chunks(n):
                    self._send(conn, hit, c, len(c))
            hit.responded = True
            try:
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return False
        if kind == "chunked":
            n = step["n"]
            hs = self._base_headers(hit, keepalive, step.get("headers")) + [
                ("Transfer-Encoding", "chunked")]
            self._send(conn, hit, self._head(200, hs))
            if not is_head:
                for c in pattern_chunks(n):
                    for i in range(0, len(c), 8192):
                        piece = c[i:i + 8192]
                        self._send(conn, hit, b"%x\r\n" % len(piece) + piece + b"\r\n",
                                   len(piece))
                self._send(conn, hit, b"0\r\n\r\n")
            hit.responded = True
            return keepalive
        if kind == "object":
            return self._object(conn, req, hit, step)
        if kind == "breakmid":
            n = step["n"]
            hs = self._base_headers(hit, keepalive, step.get("headers")) + [
                ("Content-Length", str(2 * n))]
            self._send(conn, hit, self._head(200, hs))
            for c in pattern_chunks(n):
                self._send(conn, hit, c, len(c))
            self._wait(conn, hit, step.get("pause", 0.1))
            self._rst(conn)
            raise _Gone()
        raise ValueError(f"unknown step kind {kind!r}")
