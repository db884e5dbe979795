"""HTTP clients for the integration tests.

- RawConn / request(): hand-written HTTP/1.1 over a socket, for exact control
  of the bytes sent and a faithful view of what came back (truncation, reset).
- urllib_request(): the standard library's urllib with a ProxyHandler.
- curl() / wget(): the real command-line clients, as subprocesses.

Every helper takes the proxy as an "http://host:port" URL (or a (host, port)
tuple for the raw client) and the target as an absolute URL.
"""

import os
import shutil
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

__all__ = ["Response", "RawConn", "request", "send_raw", "urllib_request",
           "curl", "wget", "clean_env"]

PROXY_ENV_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                  "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
                  "ftp_proxy", "FTP_PROXY")


def clean_env(**extra):
    """The environment without any *_proxy variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_ENV_VARS}
    env.update(extra)
    return env


def _hostport(proxy):
    if isinstance(proxy, tuple):
        return proxy
    u = urllib.parse.urlsplit(proxy if "//" in proxy else "http://" + proxy)
    return (u.hostname, u.port)


@dataclass
class Response:
    status: int = 0
    reason: str = ""
    version: str = ""
    headers: list = field(default_factory=list)
    body: bytes = b""
    complete: bool = False      # the body ended where its framing said
    error: str | None = None    # "reset", "timeout", "eof" (before a head)
    elapsed: float = 0.0        # seconds from send to the end of the read
    raw_head: bytes = b""
    method: str = "GET"         # the request method (HEAD has no body)

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
    def content_length(self):
        v = self.header("Content-Length")
        return int(v) if v is not None else None

    def __repr__(self):
        b = self.body if len(self.body) <= 200 else self.body[:200] + b"..."
        return (f"Response({self.status} {self.reason!r}, headers={self.headers!r}, "
                f"body={b!r} ({len(self.body)} bytes), complete={self.complete}, "
                f"error={self.error})")


class RawConn:
    """One client connection to the proxy, driven by hand."""

    def __init__(self, proxy, timeout=10.0, rcvbuf=None):
        host, port = _hostport(proxy)
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.error = None
        self.t0 = time.monotonic()

    # -- sending --
    def send(self, data):
        """Send bytes; a reset or broken pipe is noted, not raised (the
        proxy may answer 413 before reading the whole body)."""
        self.t0 = time.monotonic()
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            self.error = "send-reset"
            return False

    def send_request(self, method, url, headers=None, body=None, version="HTTP/1.1",
                     close=True, host=True):
        self.send(build_request(method, url, headers, body, version, close, host))

    # -- receiving --
    def _fill(self, n=262144):
        """Read more into self.buf; False at EOF or error."""
        if self.eof:
            return False
        try:
            data = self.sock.recv(n)
        except ConnectionResetError:
            self.error, self.eof = "reset", True
            return False
        except socket.timeout:
            self.error, self.eof = "timeout", True
            return False
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_head(self, method="GET"):
        """Read a final (non-1xx) response head into a Response."""
        while True:
            while b"\r\n\r\n" not in self.buf:
                if not self._fill():
                    return Response(error=self.error or "eof",
                                    raw_head=bytes(self.buf),
                                    elapsed=time.monotonic() - self.t0)
            i = self.buf.index(b"\r\n\r\n")
            head = bytes(self.buf[:i])
            del self.buf[:i + 4]
            lines = head.decode("latin-1").split("\r\n")
            version, _, rest = lines[0].partition(" ")
            code, _, reason = rest.partition(" ")
            r = Response(status=int(code), reason=reason, version=version,
                         raw_head=head)
            for line in lines[1:]:
                k, _, v = line.partition(":")
                r.headers.append((k.strip(), v.strip()))
            if 100 <= r.status < 200 and r.status != 101:
                continue
            r.method = method
            return r

    def body_iter(self, r, chunk=262144):
        """Yield the body of r as it arrives; sets r.complete at the end."""
        if r.method == "HEAD" or r.status in (204, 304) or 100 <= r.status < 200:
            r.complete = True
            return
        te = (r.header("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            yield from self._chunked(r)
            return
        cl = r.content_length
        if cl is not None:
            left = cl
            while left > 0:
                if not self.buf and not self._fill(min(chunk, max(left, 1))):
                    break
                piece = bytes(self.buf[:left])
                del self.buf[:len(piece)]
                left -= len(piece)
                yield piece
            r.complete = left == 0
        else:
            while True:
                if self.buf:
                    piece = bytes(self.buf)
                    self.buf.clear()
                    yield piece
                if not self._fill(chunk):
                    break
            r.complete = self.error is None
        if self.error:
            r.error = self.error

    def _chunked(self, r):
        while True:
            while b"\r\n" not in self.buf:
                if not self._fill():
                    r.error = self.error or "eof"
                    return
            i = self.buf.index(b"\r\n")
            size = int(bytes(self.buf[:i]).split(b";")[0].strip() or b"0", 16)
            del self.buf[:i + 2]
            if size == 0:
                while True:
                    while b"\r\n" not in self.buf:
                        if not self._fill():
                            r.error = self.error or "eof"
                            return
                    i = self.buf.index(b"\r\n")
                    line = bytes(self.buf[:i])
                    del self.buf[:i + 2]
                    if not line:
                        r.complete = True
                        return
            while len(self.buf) < size + 2:
                if not self._fill():
                    piece = bytes(self.buf[:size])
                    self.buf.clear()
                    if piece:
                        yield piece
                    r.error = self.error or "eof"
                    return
            yield bytes(self.buf[:size])
            del self.buf[:size + 2]

    def read_response(self, method="GET"):
        r = self.read_head(method)
        if r.status:
            r.body = b"".join(self.body_iter(r))
        r.elapsed = time.monotonic() - self.t0
        return r

    def wait_closed(self, timeout=5.0):
        """True once the peer closes (EOF or reset) within timeout."""
        self.sock.settimeout(timeout)
        while self._fill():
            pass
        return self.error != "timeout"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Close with a reset (SO_LINGER 0): the client is plainly gone."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass

    def half_close(self):
        """shutdown(SHUT_WR), as nc and some scripts do after a request."""
        self.sock.shutdown(socket.SHUT_WR)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def build_request(method, url, headers=None, body=None, version="HTTP/1.1",
                  close=True, host=True):
    """Bytes of an absolute-form request for `url`.

    headers: dict or list of (name, value); a Host header is added unless
    given (or host=False), Content-Length when a body is given and none was,
    and "Connection: close" when close and no Connection header was given.
    """
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in items}
    u = urllib.parse.urlsplit(url)
    pre = []
    if host and "host" not in names and u.netloc:
        pre.append(("Host", u.netloc))
    if body is not None and "content-length" not in names and \
            "transfer-encoding" not in names:
        items.append(("Content-Length", str(len(body))))
    if close and "connection" not in names:
        items.append(("Connection", "close"))
    if "user-agent" not in names:
        pre.append(("User-Agent", "retryproxy-itest"))
    items = pre + items
    head = f"{method} {url} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in items) + "\r\n"
    data = head.encode("latin-1")
    if body:
        data += body
    return data


def request(proxy, method, url, headers=None, body=None, timeout=10.0, **kw):
    """Send one request through the proxy on a fresh connection; the Response."""
    with RawConn(proxy, timeout=timeout) as c:
        c.send_request(method, url, headers, body, **kw)
        return c.read_response(method)


def send_raw(proxy, data, method="GET", timeout=10.0):
    """Send exact bytes on a fresh connection and read one response."""
    with RawConn(proxy, timeout=timeout) as c:
        c.send(data)
        return c.read_response(method)


# ---- urllib --------------------------------------------------------------
def urllib_request(proxy_url, url, method="GET", data=None, headers=None, timeout=10.0):
    """(status, headers as list, body) via urllib with a ProxyHandler."""
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": proxy_url, "https": proxy_url}))
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, list(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, list(e.headers.items()), body


# ---- command-line clients --------------------------------------------------
@dataclass
class ToolResult:
    returncode: int
    status: int | None
    body: bytes
    stderr: str


def curl(url, proxy_url=None, via_env=False, timeout=15.0, extra=()):
    """Run curl; with via_env the proxy comes from http_proxy, else -x."""
    exe = shutil.which("curl")
    if exe is None:
        return None
    args = [exe, "-sS", "-o", "-", "-w", "\n%{http_code}", "--max-time", str(int(timeout))]
    env = clean_env()
    if proxy_url and via_env:
        env["http_proxy"] = proxy_url
    elif proxy_url:
        args += ["-x", proxy_url]
    args += list(extra) + [url]
    p = subprocess.run(args, env=env, capture_output=True, stdin=subprocess.DEVNULL,
                       timeout=timeout + 5)
    body, _, code = p.stdout.rpartition(b"\n")
    return ToolResult(p.returncode, int(code) if code.strip().isdigit() else None,
                      body, p.stderr.decode(errors="replace"))


def wget(url, proxy_url, timeout=15.0):
    """Run wget with http_proxy in the environment (one try, no wget retries)."""
    exe = shutil.which("wget")
    if exe is None:
        return None
    env = clean_env(http_proxy=proxy_url)
    args = [exe, "-S", "-O", "-", "--tries=1", f"--timeout={int(timeout)}",
            "--no-config", "--content-on-error", url]
    p = subprocess.run(args, env=env, capture_output=True, stdin=subprocess.DEVNULL,
                       timeout=timeout + 5)
    err = p.stderr.decode(errors="replace")
    status = None
    for line in err.splitlines():
        s = line.strip()
        if s.startswith("HTTP/"):
            try:
                status = int(s.split()[1])
            except (IndexError, ValueError):
                pass
    return ToolResult(p.returncode, status, p.stdout, err)
