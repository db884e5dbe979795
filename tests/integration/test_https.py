"""HTTPS: CONNECT tunnels and TLS origination (retryproxy.ini(5) and retryproxy(8) CONNECT).

- CONNECT host:port: connect_ports, the connect retried under the route's
  policy, "200 Connection established", bytes both ways with backpressure,
  half-close and the client_timeout idle limit; the access log line.
- TLS origination: `tls = yes` routes and https:// absolute-form targets,
  verified against `[tls] trust` (SNI, host name / IP SAN); `verify = no`;
  session resumption, across workers and reloads (never across trust).

The TLS origin is the scripted upstream.Upstream with each accepted
connection wrapped in a server-side ssl socket (TLSUpstream below); the
plain TCP origins behind tunnels are the small TcpServer below.  Test
certificates (a CA, leaves, an untrusted self-signed one) are made with the
openssl command line once per module.
"""

import hashlib
import os
import resource
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
import types
import urllib.request

import pytest

from clients import RawConn, clean_env, curl, request
from harness import daemon_factory, describe, section, unused_port_socket
from test_ops import OpsProxy, samples
from upstream import Upstream, pattern_chunks, pattern_sha256

MiB = 1024 * 1024
BIG = 200 * MiB
RSS_LIMIT = 64 * MiB
ORIGIN_CN = "retryproxy-test-origin"
CA_CN = "retryproxy test CA"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None,
                                reason="openssl command line tool not found")


# ---- certificates -----------------------------------------------------------
def _openssl(*args, cwd):
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=30)
    if p.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {p.stderr.decode(errors='replace')}")


def _leaf(d, name, cn, san):
    """A leaf certificate for `san`, signed by the test CA."""
    ext = d / f"{name}.ext"
    ext.write_text("basicConstraints = critical, CA:FALSE\n"
                   "keyUsage = critical, digitalSignature, keyEncipherment\n"
                   "extendedKeyUsage = serverAuth\n"
                   "subjectKeyIdentifier = hash\n"
                   "authorityKeyIdentifier = keyid, issuer\n"
                   f"subjectAltName = {san}\n")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN={cn}", cwd=d)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "3", "-sha256", "-extfile", f"{name}.ext",
             "-out", f"{name}.pem", cwd=d)
    return str(d / f"{name}.pem"), str(d / f"{name}.key")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "3", "-sha256",
             "-subj", f"/CN={CA_CN}",
             "-addext", "basicConstraints = critical, CA:TRUE",
             "-addext", "keyUsage = critical, keyCertSign, cRLSign", cwd=d)
    good = _leaf(d, "leaf", ORIGIN_CN, "DNS:localhost, IP:127.0.0.1")
    dnsonly = _leaf(d, "dnsonly", ORIGIN_CN + "-dnsonly", "DNS:localhost")
    # Untrusted: self-signed, otherwise a perfectly good certificate for localhost.
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", "bad.key", "-out", "bad.pem", "-days", "3", "-sha256",
             "-subj", "/CN=localhost",
             "-addext", "subjectAltName = DNS:localhost, IP:127.0.0.1", cwd=d)
    return types.SimpleNamespace(ca=str(d / "ca.pem"), good=good, dnsonly=dnsonly,
                                 bad=(str(d / "bad.pem"), str(d / "bad.key")))


def server_ctx(pair):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*pair)
    return ctx


# ---- origins ----------------------------------------------------------------
class TLSUpstream(Upstream):
    """The scripted upstream, speaking HTTP over TLS on every connection."""

    def __init__(self, ctx, host="127.0.0.1", name="tls-upstream"):
        super().__init__(host, name=name)
        self.ctx = ctx
        self.handshakes = 0        # handshakes begun (= TCP connections)
        self.handshakes_ok = 0
        self.resumed = 0           # handshakes that resumed a session
        self.tls_errors = []       # server-side handshake failures

    @property
    def url(self):
        return f"https://{self.authority}"

    def _peer_gone(self, conn):
        """An SSLSocket cannot peek: look at the TCP socket under it.  While
        a step waits, the proxy sends nothing more on the connection, so
        any record (a close_notify: in TLS 1.3 it looks like data) or the
        FIN means the peer is going."""
        if conn.pending():
            return False
        try:
            raw = socket.socket(fileno=os.dup(conn.fileno()))
        except OSError:
            return True
        try:
            raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            return True
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            raw.close()

    def _serve(self, conn, cid):
        with self._cond:
            self.handshakes += 1
            self._cond.notify_all()
        s = None
        try:
            conn.settimeout(10)
            s = self.ctx.wrap_socket(conn, server_side=True,
                                     do_handshake_on_connect=False)
            s.do_handshake()
            s.settimeout(30)
        except (ssl.SSLError, OSError) as e:
            with self._cond:
                self.tls_errors.append(repr(e))
                self._conns.pop(cid, None)
                self._cond.notify_all()
            for x in (s, conn):
                try:
                    if x is not None:
                        x.close()
                except OSError:
                    pass
            return
        with self._cond:
            self.handshakes_ok += 1
            self.resumed += s.session_reused
            self._conns[cid] = s   # so stop() shuts the right socket down
            self._cond.notify_all()
        super()._serve(s, cid)

    def describe(self):
        return (f"{self.name} {self.authority}: {self.handshakes} handshakes, "
                f"{self.handshakes_ok} ok, tls errors {self.tls_errors}")


class TcpServer:
    """A plain TCP server on 127.0.0.1; handler(conn, server) per connection."""

    def __init__(self, handler, name="tcp"):
        self.handler = handler
        self.name = name
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.cond = threading.Condition()
        self.connections = 0
        self.conns = []
        self.errors = []
        self.notes = {}            # what handlers saw, for the test to read
        self.stopping = threading.Event()
        self.threads = []

    @property
    def authority(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.lsock.listen(64)
        t = threading.Thread(target=self._accept, name=f"{self.name}-accept", daemon=True)
        self.threads.append(t)
        t.start()
        return self

    def _accept(self):
        while not self.stopping.is_set():
            try:
                self.lsock.settimeout(0.05)
                conn, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            with self.cond:
                self.connections += 1
                self.conns.append(conn)
                self.cond.notify_all()
            t = threading.Thread(target=self._run, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def _run(self, conn):
        try:
            self.handler(conn, self)
        except OSError:
            pass
        except Exception as e:  # noqa: BLE001
            self.errors.append(repr(e))
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def note(self, key, value):
        with self.cond:
            self.notes[key] = value
            self.cond.notify_all()

    def wait(self, predicate, timeout):
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def stop(self):
        self.stopping.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.cond:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self.threads:
            t.join(3)


def recv_head(conn):
    """Bytes up to a request head's end (and any after it in the last
    read); None when the connection ends first."""
    head = b""
    while b"\r\n\r\n" not in head:
        b = conn.recv(4096)
        if not b:
            return None
        head += b
    return head


def recv_until_eof(conn, srv=None, key=None):
    data = bytearray()
    while True:
        b = conn.recv(65536)
        if not b:
            break
        data += b
    if srv is not None and key:
        srv.note(key, bytes(data))
    return bytes(data)


def bulk_handler(n):
    """Wait for b"GO\\n", then write n pattern bytes and close."""
    def handler(conn, srv):
        got = b""
        while not got.endswith(b"GO\n"):
            b = conn.recv(16)
            if not b:
                return
            got += b
        buf = bytearray()
        sent = 0
        for c in pattern_chunks(n):
            buf += c
            if len(buf) >= MiB:
                conn.sendall(buf)
                sent += len(buf)
                buf.clear()
        if buf:
            conn.sendall(buf)
            sent += len(buf)
        srv.note("sent", sent)
        conn.shutdown(socket.SHUT_WR)
        recv_until_eof(conn)
    return handler


def echo_after_eof_handler(conn, srv):
    """Read until the peer's FIN, then answer b"echo:" + data and close."""
    data = recv_until_eof(conn, srv, "received")
    conn.sendall(b"echo:" + data)
    srv.note("replied", True)
    conn.shutdown(socket.SHUT_WR)


def silent_handler(conn, srv):
    """Say nothing; note when the peer closes."""
    recv_until_eof(conn)
    srv.note("peer_closed", time.monotonic())


def not_tls_handler(conn, srv):
    """A plain HTTP server answering whatever arrives (a ClientHello) with 400."""
    conn.settimeout(5)
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                 b"Connection: close\r\n\r\n")
    conn.shutdown(socket.SHUT_WR)


@pytest.fixture
def servers():
    """Register origins to stop (and check) at teardown.  List this fixture
    before `proxy` in a test's arguments so the daemon stops first."""
    made = []

    def add(srv):
        made.append(srv)
        return srv

    yield add
    errors = []
    for s in reversed(made):
        s.stop()
        if s.errors:
            errors.append(f"{s.name}: {s.errors}")
    if errors:
        raise AssertionError("origin thread errors: " + "; ".join(errors))


def tls_origin(servers, pair, name="tls-origin"):
    return servers(TLSUpstream(server_ctx(pair), name=name)).start()


# ---- clients ------------------------------------------------------------------
def open_tunnel(px, authority, timeout=10.0, extra=b"", rcvbuf=None):
    """Send CONNECT authority on a fresh connection; (RawConn, head Response)."""
    c = RawConn(px.addr, timeout=timeout, rcvbuf=rcvbuf)
    c.send(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
           f"User-Agent: retryproxy-itest\r\n\r\n".encode() + extra)
    r = c.read_head("CONNECT")
    return c, r


def read_error_body(c, r, timeout=2.0):
    """Read the body of a refused CONNECT; r.complete says whether it ended
    where its framing says (no Content-Length: at the close the
    "Connection: close" header announces) within `timeout`."""
    if r.status and r.status != 200:
        c.sock.settimeout(timeout)
        r.body = b"".join(c.body_iter(r))
    return r


def assert_delimited(r, why):
    assert r.complete, (why + "\nthe error response did not end: no Content-Length, "
                        "and the connection was not closed despite 'Connection: close'")


def tunnel_recv(c, n=1 << 20):
    """Bytes from the tunnel: what read_head buffered first; b"" at EOF."""
    if c.buf:
        data = bytes(c.buf)
        c.buf.clear()
        return data
    return c.sock.recv(n)


def run_curl(args, env=None, timeout=15):
    exe = shutil.which("curl")
    if exe is None:
        pytest.skip("curl not installed")
    p = subprocess.run([exe, "-sS", "-v", "--max-time", str(timeout), *args],
                       env=env or clean_env(), capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=timeout + 5)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def connect_log(px, authority, timeout=3.0):
    return px.wait_log(lambda e: e.get("method") == "CONNECT" and e.get("url") == authority,
                       timeout)


def any_star():
    return "connect_ports = *"


BODY = os.urandom(150000)


# ---- 1. curl through a tunnel ----------------------------------------------
def test_curl_https_through_tunnel(certs, servers, proxy):
    origin = tls_origin(servers, certs.good)
    origin.script("/path", [{"status": 200, "body": BODY}])
    px = proxy("", proxy_lines=any_star())
    authority = f"localhost:{origin.port}"
    rc, out, err = run_curl(["--cacert", certs.ca, "-x", px.url,
                             f"https://{authority}/path"])
    why = describe(origin, px) + "\n" + origin.describe() + "\ncurl stderr:\n" + err
    assert rc == 0, why
    assert out == BODY, why + f"\nbody {len(out)} bytes, want {len(BODY)}"
    # curl verified the origin's own certificate (issued by the test CA)
    assert f"CN={ORIGIN_CN}" in err and f"CN={CA_CN}" in err, why
    assert "200 Connection established" in err, why
    assert origin.count("/path") == 1 and origin.handshakes_ok == 1, why
    h = origin.hits("/path")[0]
    assert h.target == "/path" and h.header("Host") == authority, why
    e = connect_log(px, authority)
    assert e["status"] == 200 and e["attempts"] == 1, why
    assert e["bytes"] > len(BODY), why      # the TLS records carrying the body
    assert e["bytes_in"] > 0, why


# ---- 2. HTTPS_PROXY with curl, urllib through the tunnel ---------------------
def test_https_proxy_env_curl_and_urllib(certs, servers, proxy):
    origin = tls_origin(servers, certs.good)
    origin.script("/env", [{"status": 200, "body": b"via-env\n"}])
    origin.script("/urllib", [{"status": 200, "body": b"via-urllib\n"}])
    px = proxy("", proxy_lines=any_star())
    authority = f"localhost:{origin.port}"

    rc, out, err = run_curl(["--cacert", certs.ca, f"https://{authority}/env"],
                            env=clean_env(HTTPS_PROXY=px.url))
    why = describe(origin, px) + "\n" + origin.describe() + "\ncurl stderr:\n" + err
    assert rc == 0 and out == b"via-env\n", why
    assert "200 Connection established" in err, why    # it went through the proxy

    ctx = ssl.create_default_context(cafile=certs.ca)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"https": px.url}),
        urllib.request.HTTPSHandler(context=ctx))
    with opener.open(f"https://{authority}/urllib", timeout=10) as resp:
        status, body = resp.status, resp.read()
    why = describe(origin, px) + "\n" + origin.describe()
    assert status == 200 and body == b"via-urllib\n", why
    entries = px.wait_log(lambda e: e.get("method") == "CONNECT", n=2)
    assert all(e["url"] == authority and e["status"] == 200 and e["bytes"] > 0
               and e["bytes_in"] > 0 for e in entries), why
    assert origin.handshakes_ok == 2, why


# ---- 3. CONNECT retries ---------------------------------------------------------
def test_connect_retried_until_port_listens(servers, make_upstream, proxy):
    up = make_upstream(start=False)        # bound, not listening: refused
    up.script("/t", [{"status": 200, "body": b"late listener\n"}])
    px = proxy(section(f"route 127.0.0.1:{up.port}", attempts=5, start_timeout="200ms"),
               proxy_lines=any_star())
    timer = threading.Timer(0.3, up.start)
    t0 = time.monotonic()
    timer.start()
    try:
        c, r = open_tunnel(px, up.authority)
    finally:
        timer.cancel()
    elapsed = time.monotonic() - t0
    with c:
        why = describe(up, px, read_error_body(c, r)) + f"\nelapsed {elapsed:.3f}s"
        assert r.status == 200 and r.reason == "Connection established", why
        assert r.version == "HTTP/1.1", why
        assert elapsed >= 0.3, why                       # it did wait for the listener
        # bytes flow: an HTTP exchange inside the tunnel
        c.send(b"GET /t HTTP/1.1\r\nHost: tunnel\r\nConnection: close\r\n\r\n")
        inner = c.read_response()
        assert inner.status == 200 and inner.body == b"late listener\n", why + repr(inner)
    e = connect_log(px, up.authority)
    why = describe(up, px)
    assert e["status"] == 200 and 2 <= e["attempts"] <= 5, why
    assert e["retries"] == ["refused"] * (e["attempts"] - 1), why
    assert e["bytes_in"] > 0 and e["bytes"] >= len(inner.body), why


def test_connect_always_refused_502(proxy):
    s = unused_port_socket()
    port = s.getsockname()[1]
    try:
        px = proxy(section("default", start_timeout="50ms"), proxy_lines=any_star())
        c, r = open_tunnel(px, f"127.0.0.1:{port}")
        with c:
            read_error_body(c, r)
        why = describe(proxy=px, response=r)
        assert r.status == 502, why
        ps = r.header("Proxy-Status") or ""
        assert "error=connection_refused" in ps and 'details="3 attempts"' in ps, why
        e = connect_log(px, f"127.0.0.1:{port}")
        assert e["status"] == 502 and e["attempts"] == 3, why
        assert r.body.startswith(b"retryproxy: 3 attempts"), why
        assert_delimited(r, why)
    finally:
        s.close()


# ---- 4. connect_ports -----------------------------------------------------------
@pytest.mark.parametrize("lines", ["", "connect_ports = 443, 8443"],
                         ids=["default_443", "listed"])
def test_connect_port_not_allowed_403(servers, proxy, lines):
    srv = servers(TcpServer(silent_handler, name="never")).start()
    px = proxy("", proxy_lines=lines)
    c, r = open_tunnel(px, srv.authority)
    with c:
        read_error_body(c, r)
    why = describe(proxy=px, response=r)
    assert r.status == 403, why
    assert "error=http_request_denied" in (r.header("Proxy-Status") or ""), why
    e = connect_log(px, srv.authority)
    assert e["status"] == 403, why
    # nothing reached the origin (a connect would have been made by now)
    assert not srv.wait(lambda: srv.connections > 0, 0.3), why + f"\n{srv.connections} conns"
    assert_delimited(r, why)


# ---- 5. TLS origination -----------------------------------------------------
def test_tls_origination(certs, servers, proxy):
    origin = tls_origin(servers, certs.good)
    origin.script("/x", [{"status": 200, "body": BODY}])
    origin.script("/r", ["503", "200"])
    origin.script("/abs", [{"status": 200, "body": b"absolute https\n"}])
    origin.script("/ip", [{"status": 200, "body": b"ip san\n"}])
    authority = f"localhost:{origin.port}"
    px = proxy(section("tls", trust=certs.ca)
               + section(f"route {authority}", tls=True, start_timeout="50ms"))

    r = curl(f"http://{authority}/x", proxy_url=px.url)
    if r is None:
        pytest.skip("curl not installed")
    why = describe(origin, px) + "\n" + origin.describe() + "\n" + r.stderr
    assert r.returncode == 0 and r.status == 200, why
    assert r.body == BODY, why + f"\nbody {len(r.body)} bytes"
    assert origin.count("/x") == 1 and origin.hits("/x")[0].target == "/x", why

    r = request(px.addr, "GET", f"http://{authority}/r")
    why = describe(origin, px, r) + "\n" + origin.describe()
    assert r.status == 200 and r.body == b"status=200 hit=2\n", why
    assert origin.count("/r") == 2, why
    e = px.log_for("/r")
    assert e["attempts"] == 2 and e["retries"] == ["503"], why

    # https:// absolute form, raw over a socket: TLS whatever the route says
    r = request(px.addr, "GET", f"https://{authority}/abs")
    why = describe(origin, px, r) + "\n" + origin.describe()
    assert r.status == 200 and r.body == b"absolute https\n", why
    # ... also with no route at all, verified against the IP SAN
    r = request(px.addr, "GET", f"https://127.0.0.1:{origin.port}/ip")
    why = describe(origin, px, r) + "\n" + origin.describe()
    assert r.status == 200 and r.body == b"ip san\n", why
    assert origin.tls_errors == [], why


def test_unloadable_trust_logged_once_at_start(certs, servers, proxy,
                                               tmp_path):
    """The upstream TLS context (its trust store) is made once, by the
    main thread, before the daemon listens, when a route reaches origins
    over TLS: a trust that cannot be loaded is logged then, once, not at
    each request (a worker made its own at each TLS request while it had
    none, and again at its first after a reload).  Its requests fail;
    verify = no's do not need it."""
    origin = tls_origin(servers, certs.good)
    origin.script("/x", [{"status": 200, "body": BODY}])
    authority = f"localhost:{origin.port}"
    trust = tmp_path / "empty.pem"
    trust.write_text("no certificate here\n")
    px = proxy(section("tls", trust=str(trust))
               + section(f"route {authority}", tls=True, attempts=1))
    warned = "upstream TLS unavailable: cannot load [tls] trust"
    assert px.stderr().count(warned) == 1, px.stderr_tail()
    for i in range(4):
        r = request(px.addr, "GET", f"http://{authority}/x")
        why = describe(origin, px, r) + "\n" + origin.describe()
        assert r.status == 502, why
        assert "tls_protocol_error" in (r.header("Proxy-Status") or ""), why
    assert origin.count() == 0 and origin.handshakes == 0, origin.describe()
    assert px.stderr().count(warned) == 1, px.stderr_tail()

    # verify = no loads no trust: the same file is no matter there
    px2 = proxy(section("tls", trust=str(trust))
                + section(f"route {authority}", tls=True, verify=False))
    for i in range(2):
        r = request(px2.addr, "GET", f"http://{authority}/x")
        why = describe(origin, px2, r) + "\n" + origin.describe()
        assert r.status == 200 and r.body == BODY, why
    assert "upstream TLS unavailable" not in px2.stderr(), px2.stderr_tail()


@pytest.fixture
def ops_proxy(servers, tmp_path):
    yield from daemon_factory(OpsProxy, tmp_path, "tls-ops")


def tls_handshakes(px):
    return {lbl["session"]: v for lbl, v in
            samples(px.metrics(), "retryproxy_upstream_tls_handshakes_total")}


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_tls_sessions_resume(certs, servers, ops_proxy, version):
    """A new upstream connection resumes the session (TLS 1.2) or a ticket
    (TLS 1.3, each used once) of an earlier one to the same origin."""
    ctx = server_ctx(certs.good)
    if version == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    origin = servers(TLSUpstream(ctx, name=f"tls{version}-origin")).start()
    authority = f"localhost:{origin.port}"
    n = 6
    for i in range(n):  # each answer closes its connection: 6 handshakes
        origin.script(f"/s{i}", [{"status": 200, "body": f"s{i}\n".encode(),
                                  "close_after": True}])
    px = ops_proxy(section("tls", trust=certs.ca)
                   + section(f"route {authority}", tls=True), "workers = 1")
    for i in range(n):
        r = request(px.addr, "GET", f"http://{authority}/s{i}")
        why = describe(origin, px, r) + "\n" + origin.describe()
        assert r.status == 200 and r.body == f"s{i}\n".encode(), why
    why = f"{origin.describe()}\n{tls_handshakes(px)}"
    assert origin.handshakes_ok == n and origin.tls_errors == [], why
    # the first is a full handshake; each later one offers what it was given
    assert origin.resumed == n - 1, why
    assert tls_handshakes(px) == {"new": 1, "resumed": n - 1}, why
    # a POST (never re-sent) and the next GET still get their own answers
    origin.script("/p", [{"status": 200, "body": b"posted\n"}])
    r = request(px.addr, "POST", f"http://{authority}/p", body=b"x")
    assert r.status == 200 and r.body == b"posted\n", describe(origin, px, r)
    r = request(px.addr, "GET", f"http://{authority}/s0")
    assert r.status == 200 and r.body == b"s0\n", describe(origin, px, r)


def test_raw_lane_tls_connection_pooled(certs, servers, ops_proxy):
    """The raw lane keeps its TLS connections too (README "Any request"):
    WebDAV PROPFINDs to a `tls = yes` origin pay one handshake in all, not
    one each; then a GET (evhttp's lane) and another PROPFIND get their own
    answers."""
    origin = servers(TLSUpstream(server_ctx(certs.good), name="tls-dav")).start()
    authority = f"localhost:{origin.port}"
    origin.script("/dav", [{"status": 207, "body": b"<multistatus/>\n"}])
    px = ops_proxy(section("tls", trust=certs.ca)
                   + section(f"route {authority}", tls=True, methods="*"), "workers = 1")
    for i in range(5):
        r = request(px.addr, "PROPFIND", f"http://{authority}/dav",
                    headers=[("Depth", "0")], body=b"<propfind/>")
        assert r.status == 207 and r.body == b"<multistatus/>\n", \
            describe(origin, px, r) + "\n" + origin.describe()
    why = f"{origin.describe()}\n{tls_handshakes(px)}\n{describe(origin, px)}"
    assert origin.handshakes_ok == 1 and origin.count("/dav") == 5, why
    assert tls_handshakes(px) == {"new": 1, "resumed": 0}, why
    log = [e.get("conn") for e in px.wait_log(lambda e: e.get("method") == "PROPFIND", n=5)]
    assert log == [None, "reused", "reused", "reused", "reused"], why
    origin.script("/g", [{"status": 200, "body": b"g\n"}])
    r = request(px.addr, "GET", f"http://{authority}/g")
    assert r.status == 200 and r.body == b"g\n", describe(origin, px, r)
    r = request(px.addr, "PROPFIND", f"http://{authority}/dav", body=b"<propfind/>")
    assert r.status == 207 and r.body == b"<multistatus/>\n", describe(origin, px, r)


def worker_io(pid):
    """{worker index: bytes it has read and written}, from each worker
    thread's /proc io counters (threads are named rp-worker-I)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            if not name.startswith("rp-worker-"):
                continue
            with open(f"/proc/{pid}/task/{tid}/io") as f:
                io = dict(line.split(": ") for line in f.read().splitlines())
        except OSError:
            continue
        out[int(name[len("rp-worker-"):])] = int(io["rchar"]) + int(io["wchar"])
    return out


def test_tls_held_body_past_a_full_socket(certs, servers, ops_proxy):
    """A request read whole goes to a TLS origin at once (SSL_write, not
    libevent's write event a turn later); what the socket does not take
    -- the origin reads the body only after a pause, and 12 MiB is more
    than the loopback buffers hold -- libevent finishes with the same
    bytes, as OpenSSL requires of a repeated write.  The body arrives
    whole and exact, and the next requests on the pooled connection get
    their own answers."""
    origin = tls_origin(servers, certs.good)
    origin.body_pause = 0.5
    authority = f"localhost:{origin.port}"
    body = os.urandom(12 * MiB)
    origin.script("/up", [{"status": 200, "body": b"stored\n"}])
    for i in range(3):
        origin.script(f"/g{i}", [{"status": 200, "body": f"g{i}\n".encode()}])
    px = ops_proxy(section("tls", trust=certs.ca)
                   + section(f"route {authority}", tls=True), "workers = 1")
    with RawConn(px.addr, timeout=20) as c:
        c.send_request("GET", f"http://{authority}/g0", close=False)
        r = c.read_response("GET")
        why = describe(origin, px, r) + "\n" + origin.describe()
        assert r.status == 200 and r.body == b"g0\n", why
        c.send_request("PUT", f"http://{authority}/up", body=body,
                       close=False)
        r = c.read_response("PUT")
        why = describe(origin, px, r) + "\n" + origin.describe()
        assert r.status == 200 and r.body == b"stored\n", why
        h = origin.hits("/up")
        assert len(h) == 1 and h[0].body_len == len(body), why
        assert h[0].body_sha256 == hashlib.sha256(body).hexdigest(), why
        for i in (1, 2):
            c.send_request("GET", f"http://{authority}/g{i}", close=False)
            r = c.read_response("GET")
            why = describe(origin, px, r) + "\n" + origin.describe()
            assert r.status == 200 and r.body == f"g{i}\n".encode(), why
    # one upstream connection carried them all (pooled, never broken)
    assert origin.handshakes_ok == 1 and origin.tls_errors == [], \
        origin.describe()


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_tls_sessions_shared_by_workers(certs, servers, ops_proxy, version):
    """With 2 workers, a session one worker got is resumed by the other:
    the cache is the process's, not a worker's.  Each request comes on a
    new client connection (SO_REUSEPORT picks its worker) and needs a new
    upstream one; the worker that served it is the one whose thread did
    (KiBs of) I/O.  Requests go on until both workers served some."""
    ctx = server_ctx(certs.good)
    if version == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    origin = servers(TLSUpstream(ctx, name=f"tls{version}-origin")).start()
    authority = f"localhost:{origin.port}"
    px = ops_proxy(section("tls", trust=certs.ca)
                   + section(f"route {authority}", tls=True), "workers = 2")
    served = []                 # the worker of each request, in order
    while len(served) < 40 and (len(served) < 8 or len(set(served)) < 2):
        i = len(served)
        origin.script(f"/w{i}", [{"status": 200, "body": f"w{i}\n".encode(),
                                  "close_after": True}])
        before = worker_io(px.pid)
        r = request(px.addr, "GET", f"http://{authority}/w{i}")
        why = describe(origin, px, r) + "\n" + origin.describe()
        assert r.status == 200 and r.body == f"w{i}\n".encode(), why
        px.log_for(f"/w{i}")    # (written once the worker is done with it)
        after = worker_io(px.pid)
        # (a handshake, the request and the answer are KiBs; the worker
        # of the request before may still read its close: tens of bytes)
        io = {w: after[w] - before.get(w, 0) for w in after}
        busy = [w for w in io if io[w] >= 1000]
        assert len(busy) == 1 and sum(io.values()) - io[busy[0]] < 1000, \
            f"request {i}: which worker served it? bytes {io}"
        served.append(busy[0])
    n = len(served)
    why = f"workers {served}\n{origin.describe()}\n{tls_handshakes(px)}"
    assert set(served) == {0, 1}, why
    assert origin.handshakes_ok == n and origin.tls_errors == [], why
    # only the very first is a full handshake, whichever worker made it
    assert origin.resumed == n - 1, why
    assert tls_handshakes(px) == {"new": 1, "resumed": n - 1}, why
    # a POST (never re-sent) and the next GETs still get their own answers
    origin.script("/p", [{"status": 200, "body": b"posted\n"}])
    r = request(px.addr, "POST", f"http://{authority}/p", body=b"x")
    assert r.status == 200 and r.body == b"posted\n", describe(origin, px, r)
    for i in range(4):
        origin.script(f"/g{i}", [{"status": 200, "body": f"g{i}\n".encode()}])
        r = request(px.addr, "GET", f"http://{authority}/g{i}")
        assert r.status == 200 and r.body == f"g{i}\n".encode(), \
            describe(origin, px, r)
    # both workers at once (the store's lock): each its own answer, and
    # every handshake counted (a TLS 1.3 ticket may run out: then new)
    for i in range(16):
        origin.script(f"/c{i}", [{"status": 200, "body": f"c{i}\n".encode(),
                                  "close_after": True}])
    got = [None] * 16

    def one(i):
        got[i] = request(px.addr, "GET", f"http://{authority}/c{i}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for i, r in enumerate(got):
        assert r is not None and r.status == 200 and \
            r.body == f"c{i}\n".encode(), describe(origin, px, r)
    hs = tls_handshakes(px)
    why = f"{origin.describe()}\n{hs}"
    assert hs["new"] + hs["resumed"] == origin.handshakes_ok, why
    assert hs["resumed"] == origin.resumed and origin.tls_errors == [], why


def test_tls_sessions_across_reload(certs, servers, ops_proxy, tmp_path):
    """The kept sessions outlive a reload that leaves the trust alone, but
    none is offered across a change of trust, which would skip the check
    the new trust fails (OpenSSL resumes a session under any context):
    the trust file's contents (same path) no longer naming the origin's
    CA, or verify turned on for an origin only reached without it."""
    origin = tls_origin(servers, certs.good)
    selfsigned = tls_origin(servers, certs.bad, name="self-signed")
    authority = f"localhost:{origin.port}"
    other = f"localhost:{selfsigned.port}"
    trust = tmp_path / "trust.pem"
    shutil.copy(certs.ca, trust)
    px = ops_proxy(section("tls", trust=str(trust))
                   + section(f"route {authority}", tls=True)
                   + section(f"route {other}", tls=True, verify=False))
    orig = px.config_path.read_text()
    reloads = 0

    def reload(text):
        nonlocal reloads
        px.rewrite_config(text)
        px.signal(signal.SIGHUP)
        reloads += 1
        assert px.wait_reloads(reloads) == (reloads, 0), px.stderr_tail()

    def get(srv, path, want):
        at = f"localhost:{srv.port}"
        srv.script(path, [{"status": 200, "body": path.encode(),
                           "close_after": True}])
        before = (tls_handshakes(px), srv.resumed)
        r = request(px.addr, "GET", f"http://{at}{path}")
        why = describe(srv, px, r) + "\n" + srv.describe()
        after = (tls_handshakes(px), srv.resumed)
        why += f"\nhandshakes {before} -> {after}"
        if want == "refused":   # a full handshake, and the check failed
            ps = r.header("Proxy-Status") or ""
            assert r.status == 502 and "tls_certificate_error" in ps, why
            assert after == before, why
            return
        assert r.status == 200 and r.body == path.encode(), why
        got = [k for k in after[0] if after[0][k] != before[0].get(k, 0)]
        assert got == [want], why
        assert after[1] - before[1] == (want == "resumed"), why

    get(origin, "/t0", "new")
    get(origin, "/t1", "resumed")
    reload(orig)                # the same trust: the sessions stay good
    get(origin, "/t2", "resumed")
    shutil.copy(certs.bad[0], trust)    # same path, another CA only
    reload(orig)
    get(origin, "/t3", "refused")
    shutil.copy(certs.ca, trust)        # back: the sessions of then
    reload(orig)
    get(origin, "/t4", "resumed")

    get(selfsigned, "/u0", "new")       # verify = no
    get(selfsigned, "/u1", "resumed")
    reload(orig.replace("verify = no", "verify = yes"))
    get(selfsigned, "/u2", "refused")
    reload(orig)
    get(selfsigned, "/u3", "resumed")
    # (the refusals, and nothing else: the client's "unknown CA" alert)
    for srv in (origin, selfsigned):
        assert len(srv.tls_errors) == 1 and "UNKNOWN_CA" in srv.tls_errors[0], \
            srv.describe()


SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@pytest.mark.skipif(not os.path.exists(SYSTEM_BUNDLE),
                    reason="no system CA bundle to make a slow trust of")
def test_reload_counted_once_its_trust_is_live(certs, servers, ops_proxy,
                                               tmp_path):
    """A reload is counted (retryproxy_config_reloads_total) only once the
    new configuration is live, its [tls] trust loaded: a request sent
    right after the count meets the new trust.  The trust here is the
    system bundle and a test CA (some 60 ms to load), so a count made
    before the load (as it was) let the next request through under the
    old trust, resuming its session."""
    origin = tls_origin(servers, certs.good)
    authority = f"localhost:{origin.port}"
    bundle = open(SYSTEM_BUNDLE).read()
    trust = tmp_path / "trust.pem"
    trust.write_text(bundle + open(certs.ca).read())
    px = ops_proxy(section("tls", trust=str(trust))
                   + section(f"route {authority}", tls=True))
    orig = px.config_path.read_text()
    for i in range(2):
        origin.script(f"/a{i}", [{"status": 200, "body": b"a",
                                  "close_after": True}])
        r = request(px.addr, "GET", f"http://{authority}/a{i}")
        assert r.status == 200, describe(origin, px, r)
    assert origin.resumed >= 1, origin.describe()
    for n in (1, 2, 3):
        # the same bundle without the origin's CA: the next request fails
        trust.write_text(bundle + open(certs.bad[0]).read())
        px.rewrite_config(orig + f"# reload {n}\n")
        px.signal(signal.SIGHUP)
        assert px.wait_reloads(2 * n - 1) == (2 * n - 1, 0), \
            px.stderr_tail()
        origin.script(f"/b{n}", [{"status": 200, "body": b"b"}])
        r = request(px.addr, "GET", f"http://{authority}/b{n}")
        why = describe(origin, px, r) + "\n" + origin.describe()
        assert r.status == 502 and "tls_certificate_error" in \
            (r.header("Proxy-Status") or ""), why
        # and back: served again, right after the count
        trust.write_text(bundle + open(certs.ca).read())
        px.rewrite_config(orig + f"# reload {n} back\n")
        px.signal(signal.SIGHUP)
        assert px.wait_reloads(2 * n) == (2 * n, 0), px.stderr_tail()
        origin.script(f"/c{n}", [{"status": 200, "body": b"c",
                                  "close_after": True}])
        r = request(px.addr, "GET", f"http://{authority}/c{n}")
        assert r.status == 200, describe(origin, px, r)


# ---- 6. certificates that do not verify ---------------------------------------
def test_untrusted_certificate_final_502_then_verify_no(certs, servers, proxy):
    origin = tls_origin(servers, certs.bad, name="self-signed")
    authority = f"localhost:{origin.port}"
    px = proxy(section("tls", trust=certs.ca)
               + section(f"route {authority}", tls=True, start_timeout="50ms"))
    r = request(px.addr, "GET", f"http://{authority}/x")
    why = describe(origin, px, r) + "\n" + origin.describe()
    assert r.status == 502, why
    ps = r.header("Proxy-Status") or ""
    assert "error=tls_certificate_error" in ps and 'details="1 attempt"' in ps, why
    assert origin.handshakes == 1, why
    assert not origin.wait_connections(2, timeout=0.3), why   # no retry follows
    assert origin.count() == 0, why
    e = px.log_for("/x")
    assert e["status"] == 502 and e["attempts"] == 1, why

    px2 = proxy(section("tls", trust=certs.ca)
                + section(f"route {authority}", tls=True, verify=False))
    r = request(px2.addr, "GET", f"http://{authority}/x")
    why = describe(origin, px2, r) + "\n" + origin.describe()
    assert r.status == 200 and r.body == b"status=200 hit=1\n", why


def test_name_mismatch_final_502(certs, servers, proxy):
    origin = tls_origin(servers, certs.dnsonly, name="dns-only")   # DNS:localhost only
    px = proxy(section("tls", trust=certs.ca)
               + section(f"route 127.0.0.1:{origin.port}", tls=True, start_timeout="50ms")
               + section(f"route localhost:{origin.port}", tls=True))
    r = request(px.addr, "GET", f"http://127.0.0.1:{origin.port}/ip")
    why = describe(origin, px, r) + "\n" + origin.describe()
    assert r.status == 502, why
    ps = r.header("Proxy-Status") or ""
    assert "error=tls_certificate_error" in ps and 'details="1 attempt"' in ps, why
    assert origin.handshakes == 1 and origin.count() == 0, why
    # the same certificate is fine for the name it carries
    r = request(px.addr, "GET", f"http://localhost:{origin.port}/name")
    why = describe(origin, px, r) + "\n" + origin.describe()
    assert r.status == 200 and r.body == b"status=200 hit=1\n", why
    assert origin.handshakes == 2, why


# ---- 7. a server that does not speak TLS ---------------------------------------
def test_non_tls_server_tls_protocol_error(certs, servers, proxy):
    srv = servers(TcpServer(not_tls_handler, name="plain-http")).start()
    px = proxy(section("tls", trust=certs.ca)
               + section(f"route 127.0.0.1:{srv.port}", tls=True, start_timeout="50ms"))
    r = request(px.addr, "GET", f"http://127.0.0.1:{srv.port}/x")
    why = describe(proxy=px, response=r) + f"\n{srv.connections} connections"
    assert r.status == 502, why
    ps = r.header("Proxy-Status") or ""
    assert "error=tls_protocol_error" in ps, why
    # retried like a connect failure: all 3 attempts, each a new connection
    assert 'details="3 attempts"' in ps and srv.connections == 3, why


# ---- 8. a big download through a tunnel -----------------------------------------
def test_tunnel_200mib_bounded_memory(servers, proxy):
    srv = servers(TcpServer(bulk_handler(BIG), name="bulk")).start()
    px = proxy("", proxy_lines=any_star())
    c, r = open_tunnel(px, srv.authority, timeout=30)
    h = hashlib.sha256()
    total = 0
    with c:
        assert r.status == 200, describe(proxy=px, response=read_error_body(c, r))
        c.send(b"GO\n")
        while True:
            data = tunnel_recv(c)
            if not data:
                break
            h.update(data)
            total += len(data)
    why = describe(proxy=px) + f"\nreceived {total} bytes, server notes {srv.notes}"
    assert total == BIG and h.hexdigest() == pattern_sha256(BIG), why
    if not px.sanitized():
        hwm = px.vmhwm()
        assert hwm < RSS_LIMIT, f"daemon VmHWM {hwm / MiB:.1f} MiB >= 64 MiB\n" + why
    e = connect_log(px, srv.authority)
    assert e["status"] == 200 and e["bytes_in"] == 3, why
    assert BIG <= e["bytes"] <= BIG + 64, why


# ---- 9. half-close -----------------------------------------------------------
def test_tunnel_half_close(servers, proxy):
    srv = servers(TcpServer(echo_after_eof_handler, name="echo")).start()
    px = proxy("", proxy_lines=any_star())
    msg = b"half-close please\n" * 100
    c, r = open_tunnel(px, srv.authority)
    with c:
        assert r.status == 200, describe(proxy=px, response=read_error_body(c, r))
        c.send(msg)
        c.sock.shutdown(socket.SHUT_WR)
        reply = bytearray()
        closed = False
        while True:
            try:
                data = tunnel_recv(c)
            except socket.timeout:
                break
            if not data:
                closed = True
                break
            reply += data
    why = describe(proxy=px) + f"\nreply {len(reply)} bytes, closed {closed}, notes {srv.notes}"
    assert srv.notes.get("received") == msg, why     # the FIN reached the origin
    assert bytes(reply) == b"echo:" + msg, why        # its answer came back after it
    assert closed, why                                # then the tunnel closed
    e = connect_log(px, srv.authority)
    assert e["status"] == 200, why
    assert e["bytes_in"] == len(msg) and e["bytes"] == len(msg) + 5, why


# ---- 10. idle limit -----------------------------------------------------------
def test_tunnel_idle_timeout(servers, proxy):
    srv = servers(TcpServer(silent_handler, name="silent")).start()
    px = proxy("", proxy_lines=any_star() + "\nclient_timeout = 1s")
    c, r = open_tunnel(px, srv.authority, timeout=5)
    with c:
        assert r.status == 200, describe(proxy=px, response=read_error_body(c, r))
        t0 = time.monotonic()
        c.sock.settimeout(5)
        try:
            data = tunnel_recv(c)
            outcome = "eof" if not data else f"data {data!r}"
        except socket.timeout:
            outcome = "timeout"
        except ConnectionResetError:
            outcome = "reset"
        elapsed = time.monotonic() - t0
    why = describe(proxy=px) + f"\noutcome {outcome} after {elapsed:.2f}s"
    assert outcome in ("eof", "reset"), why
    assert 0.8 <= elapsed <= 3.0, why
    # the origin side was closed too
    assert srv.wait(lambda: "peer_closed" in srv.notes, 2.0), why
    e = connect_log(px, srv.authority)
    assert e["status"] == 200, why


def test_hedge_over_tls(certs, servers, proxy):
    """hedge_after on a tls = yes route: the hedge opens its own TLS
    connection (verified), wins, and the stalled first copy's connection
    is closed; the next requests get their own answers."""
    origin = tls_origin(servers, certs.good)
    authority = f"localhost:{origin.port}"
    px = proxy(section("tls", trust=certs.ca)
               + section(f"route {authority}", tls=True, hedge_after="100ms"))
    origin.script("/slow", ["stall:3", {"status": 200, "body": b"hedged\n"}])
    t0 = time.monotonic()
    r = request(px.addr, "GET", f"http://{authority}/slow")
    took = time.monotonic() - t0
    why = describe(origin, px, r) + "\n" + origin.describe()
    assert r.status == 200 and r.body == b"hedged\n", why
    assert took < 1.0 and origin.count("/slow") == 2, (took, why)
    first = origin.hits("/slow")[0]
    assert origin.wait_for(lambda: first.client_gone, 3.0), why
    e = px.log_for("/slow")
    assert e["hedges"] == 1 and e["hedge_won"] is True, e
    for i in range(3):
        origin.script(f"/n{i}", ["200"])
        r = request(px.addr, "GET", f"http://{authority}/n{i}")
        assert r.status == 200 and r.body == b"status=200 hit=1\n", \
            describe(origin, px, r)
        # never on the first copy's connection (closed, not pooled)
        assert origin.hits(f"/n{i}")[0].conn_id != first.conn_id
    assert origin.tls_errors == [], origin.tls_errors


# ---- 11. plain-socket tunnels spliced in the kernel ---------------------------
# Between two plain sockets the daemon moves a tunnel's bytes with splice(2)
# through a pipe (src/zsplice.c), with its own events on the two sockets
# instead of the bufferevents.  These tests hold it to what the bufferevent
# path did: every byte both ways at once, backpressure from a slow reader,
# each FIN passed on after its direction's last byte, the byte counts of the
# access log, SIGTERM's shutdown_timeout; and each ends with a new tunnel
# that gets its own answer.
def spliced_star():
    """any_star() with max_connections low enough that the daemon's
    descriptor budget leaves room for pipes under the common 1024-descriptor
    limit (`ulimit -n`): at the default 4096 connections it would want
    about 8,448 descriptors and copy every tunnel (no pipes, the warning
    names the limit; test_tunnel_pipes_within_the_descriptor_limit holds
    that part)."""
    return any_star() + "\nmax_connections = 64"


def daemon_pipes(px):
    """Descriptors of pipes the daemon has open, two a pipe (its pool's,
    lent or idle, and others)."""
    n = 0
    for fd in os.listdir(f"/proc/{px.pid}/fd"):
        try:
            n += os.readlink(f"/proc/{px.pid}/fd/{fd}").startswith("pipe:")
        except OSError:
            pass
    return n


def recv_to_end(sock, h):
    """Read sock until its end into the hash h; how many bytes came."""
    total = 0
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return total
        h.update(data)
        total += len(data)


def half_close_read_all(c):
    """Half-close the tunnel (our FIN), then read what comes until its end."""
    c.sock.shutdown(socket.SHUT_WR)
    reply = bytearray()
    while True:
        data = tunnel_recv(c)
        if not data:
            return reply
        reply += data


def next_tunnel_answers(servers, px, tag):
    """A new tunnel to a new echo origin gets its own answer, whole."""
    echo = servers(TcpServer(echo_after_eof_handler, name=f"echo-{tag}")).start()
    msg = f"next after {tag}\n".encode()
    c, r = open_tunnel(px, echo.authority)
    with c:
        assert r.status == 200, describe(proxy=px, response=read_error_body(c, r))
        c.send(msg)
        reply = half_close_read_all(c)
    assert bytes(reply) == b"echo:" + msg, describe(proxy=px) + f"\nreply {bytes(reply)!r}"
    e = connect_log(px, echo.authority)
    assert e["bytes_in"] == len(msg) and e["bytes"] == len(msg) + 5, e


def both_ways_handler(n_up, n_down):
    """Send n_down pattern bytes while reading what comes (checked against
    the pattern, n_up bytes expected); FIN after sending; note both."""
    def handler(conn, srv):
        got = {}

        def read_all():
            h = hashlib.sha256()
            total = 0
            while True:
                b = conn.recv(1 << 20)
                if not b:
                    break
                h.update(b)
                total += len(b)
            got["n"], got["sha"] = total, h.hexdigest()
        t = threading.Thread(target=read_all, daemon=True)
        t.start()
        for chunk in pattern_chunks(n_down):
            conn.sendall(chunk)
        conn.shutdown(socket.SHUT_WR)
        t.join(60)
        srv.note("received", got.get("n"))
        srv.note("received_ok", got.get("sha") == pattern_sha256(n_up))
    return handler


def both_ways(servers, px, n_up, n_down):
    """n_up bytes up and n_down down through one tunnel at once, each side
    sending while it reads, then FIN: both arrive exact, and are logged."""
    srv = servers(TcpServer(both_ways_handler(n_up, n_down), name="both")).start()
    c, r = open_tunnel(px, srv.authority, timeout=60)
    sent = {}

    def send_all():
        try:
            for chunk in pattern_chunks(n_up):
                c.sock.sendall(chunk)
            c.sock.shutdown(socket.SHUT_WR)
            sent["ok"] = True
        except OSError as e:
            sent["error"] = repr(e)
    with c:
        assert r.status == 200, describe(proxy=px, response=read_error_body(c, r))
        t = threading.Thread(target=send_all, daemon=True)
        t.start()
        h = hashlib.sha256()
        total = 0
        while True:
            data = tunnel_recv(c)
            if not data:
                break
            h.update(data)
            total += len(data)
        t.join(60)
    why = describe(proxy=px) + f"\nreceived {total}, sent {sent}, origin {srv.notes}"
    assert sent.get("ok"), why
    assert total == n_down and h.hexdigest() == pattern_sha256(n_down), why
    assert srv.wait(lambda: "received_ok" in srv.notes, 10), why
    assert srv.notes["received"] == n_up and srv.notes["received_ok"], why
    e = connect_log(px, srv.authority)
    assert e["status"] == 200 and e["bytes_in"] == n_up and e["bytes"] == n_down, e


def tunnel_bytes(px):
    """retryproxy_tunnel_bytes_total, by path (splice, copy)."""
    return {lbl["path"]: v for lbl, v in
            samples(px.metrics(), "retryproxy_tunnel_bytes_total")}


def test_tunnel_both_ways_at_once_byte_exact(servers, ops_proxy):
    px = ops_proxy("", proxy_lines=spliced_star())
    assert tunnel_bytes(px) == {"splice": 0, "copy": 0}
    n_up, n_down = 48 * MiB + 1234, 64 * MiB + 4321
    both_ways(servers, px, n_up, n_down)
    # every byte of the log line's bytes and bytes_in stayed in the kernel
    assert tunnel_bytes(px) == {"splice": n_up + n_down, "copy": 0}
    next_tunnel_answers(servers, px, "both ways")


# x86_64 and aarch64: the audit arch, and the numbers of splice(2) and
# fcntl(2), for the filters below
SECCOMP_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
SPLICE_NR = {"x86_64": 275, "aarch64": 76}
FCNTL_NR = {"x86_64": 72, "aarch64": 25}
F_SETPIPE_SZ, F_GETPIPE_SZ = 1031, 1032
EPERM = 1


def seccomp_refuse(rules):
    """preexec: a seccomp filter on the daemon answering each (system call
    number, its second argument or None for any) with EPERM."""
    import ctypes
    import platform
    arch = SECCOMP_ARCH[platform.machine()]

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte),
                    ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]
    LD_W_ABS, JEQ, RET = 0x20, 0x15, 0x06
    ALLOW, REFUSE = 0x7FFF0000, 0x00050000 | EPERM  # SECCOMP_RET_ERRNO
    # seccomp_data: nr at 0, arch at 4, args[] from 16 (the second's
    # low half at 24: little-endian)
    insns = [Filter(LD_W_ABS, 0, 0, 4),
             Filter(JEQ, 1, 0, arch),
             Filter(RET, 0, 0, ALLOW)]                # another arch
    for nr, arg in rules:
        if arg is None:
            insns += [Filter(LD_W_ABS, 0, 0, 0),
                      Filter(JEQ, 0, 1, nr),
                      Filter(RET, 0, 0, REFUSE)]
        else:
            insns += [Filter(LD_W_ABS, 0, 0, 0),
                      Filter(JEQ, 0, 3, nr),
                      Filter(LD_W_ABS, 0, 0, 24),
                      Filter(JEQ, 0, 1, arg),
                      Filter(RET, 0, 0, REFUSE)]
    insns.append(Filter(RET, 0, 0, ALLOW))
    arr = (Filter * len(insns))(*insns)
    prog = Prog(len(insns), arr)
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
            libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp filter")


def refuse_splice():
    """preexec: splice(2) answered with EPERM, as a systemd unit's
    SystemCallFilter= without it would."""
    import platform
    seccomp_refuse([(SPLICE_NR[platform.machine()], None)])


def refuse_pipe_size():
    """preexec: F_SETPIPE_SZ and F_GETPIPE_SZ answered with EPERM.  Past
    the pipe memory limit (fs.pipe-user-pages-soft, for a daemon without
    CAP_SYS_RESOURCE) F_SETPIPE_SZ fails so and a new pipe holds two pages,
    too few to use: here no size is known, so none is used either."""
    import platform
    nr = FCNTL_NR[platform.machine()]
    seccomp_refuse([(nr, F_SETPIPE_SZ), (nr, F_GETPIPE_SZ)])


@pytest.mark.skipif(os.uname().machine not in SPLICE_NR,
                    reason="splice(2)'s number not known here")
def test_tunnel_splice_refused_copies(servers, ops_proxy):
    """With splice(2) refused (EPERM from a seccomp filter) a plain tunnel
    copies instead: the same bytes, ends and log line; the metric counts
    them as copied."""
    px = ops_proxy("", proxy_lines=spliced_star(), preexec=refuse_splice)
    assert px.proc_status().get("Seccomp") == "2", px.proc_status()
    n_up, n_down = 8 * MiB + 1, 16 * MiB + 3
    both_ways(servers, px, n_up, n_down)
    assert tunnel_bytes(px) == {"splice": 0, "copy": n_up + n_down}
    next_tunnel_answers(servers, px, "splice refused")
    lines = [ln for ln in px.stderr().splitlines() if "splice(2) refused" in ln]
    assert len(lines) == 1 and "Operation not permitted" in lines[0], px.stderr_tail()


@pytest.mark.skipif(os.uname().machine not in SPLICE_NR,
                    reason="fcntl(2)'s number not known here")
def test_tunnel_no_pipe_copies_and_says_so_once(servers, ops_proxy):
    """With no pipe to be had (the pipe memory limit, F_SETPIPE_SZ refused)
    plain tunnels copy: the same bytes, ends and log lines; the pool tries
    again after each backoff and fails again, tunnel after tunnel, but
    the daemon's log says so once, naming the call and its error."""
    px = ops_proxy("", proxy_lines=spliced_star() + "\nworkers = 1", preexec=refuse_pipe_size)
    assert px.proc_status().get("Seccomp") == "2", px.proc_status()
    pipes_before = daemon_pipes(px)
    # (about 500 reads of at most 64 KiB: a failed pipe every 64 or fewer)
    for i in range(3):
        both_ways(servers, px, 4 * MiB + i, 6 * MiB + i)
    assert tunnel_bytes(px) == {"splice": 0, "copy": 30 * MiB + 6}
    next_tunnel_answers(servers, px, "no pipe")
    assert daemon_pipes(px) == pipes_before, px.stderr_tail()  # (none kept)
    lines = [ln for ln in px.stderr().splitlines() if "no pipe for splice(2)" in ln]
    assert len(lines) == 1, px.stderr_tail()
    assert "F_SETPIPE_SZ: Operation not permitted, 1 time on worker 0" in lines[0], lines


def counting_bulk_handler(n):
    """After b"GO\\n", write n pattern bytes in 64 KiB pieces, noting how
    many went (so a test sees when the proxy stops taking them); FIN."""
    def handler(conn, srv):
        got = b""
        while not got.endswith(b"GO\n"):
            b = conn.recv(16)
            if not b:
                return
            got += b
        sent = 0
        for chunk in pattern_chunks(n):
            conn.sendall(chunk)
            sent += len(chunk)
            srv.note("sent", sent)
        conn.shutdown(socket.SHUT_WR)
        recv_until_eof(conn)
    return handler


def wait_origin_stalled(srv, timeout=10):
    """Until a counting_bulk_handler origin has sent nothing more for 0.5 s
    (the proxy took no more: its client reads nothing); what it sent."""
    last, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = srv.notes.get("sent", 0)
        if now != last:
            last, stable_since = now, time.monotonic()
        elif now > 0 and time.monotonic() - stable_since > 0.5:
            break
        time.sleep(0.05)
    return srv.notes.get("sent", 0)


def test_tunnel_slow_reader_backpressure(servers, proxy):
    n = 96 * MiB
    srv = servers(TcpServer(counting_bulk_handler(n), name="bulk")).start()
    px = proxy("", proxy_lines=spliced_star() + "\nclient_timeout = 3s")
    pipes_before = daemon_pipes(px)
    c, r = open_tunnel(px, srv.authority, timeout=30)
    with c:
        assert r.status == 200, describe(proxy=px, response=read_error_body(c, r))
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        c.send(b"GO\n")
        # the client reads nothing: the origin is stopped once the socket
        # buffers on the way and the one pipe the direction may hold are full
        stalled = wait_origin_stalled(srv)
        pipes_stalled = daemon_pipes(px)
        why = describe(proxy=px) + f"\norigin sent {stalled} of {n} while nobody read"
        assert 0 < stalled < 48 * MiB, why
        # (spliced: the bytes wait in a pipe of the daemon's, not in its heap)
        assert pipes_stalled >= pipes_before + 1, \
            why + f"\npipes {pipes_before} -> {pipes_stalled}: not spliced?"
        if not px.sanitized():
            assert px.vmrss() < RSS_LIMIT, why
        # a slow reader: a trickle for longer than client_timeout is not idle
        checker = hashlib.sha256()
        total = 0
        t_end = time.monotonic() + 4
        c.sock.settimeout(10)
        while time.monotonic() < t_end:
            data = c.sock.recv(64 * 1024)
            assert data, why + f"\nclosed after {total} bytes of a slow read"
            checker.update(data)
            total += len(data)
            time.sleep(0.02)
        # then everything
        total += recv_to_end(c.sock, checker)
    why = describe(proxy=px) + f"\nreceived {total} of {n}, origin {srv.notes}"
    assert total == n and checker.hexdigest() == pattern_sha256(n), why
    e = connect_log(px, srv.authority)
    assert e["status"] == 200 and e["bytes_in"] == 3 and e["bytes"] == n, e
    assert e.get("error") in (None, ""), e
    next_tunnel_answers(servers, px, "slow reader")


def held_up_handler(conn, srv):
    """Send until the proxy takes no more, never read; hold the connection
    until the server stops."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    chunk = b"d" * 65536
    try:
        while not srv.stopping.is_set():
            conn.sendall(chunk)
    except OSError:
        pass
    srv.stopping.wait(60)


def test_tunnel_pipes_within_the_descriptor_limit(servers, proxy):
    """A spliced tunnel's pipes (two descriptors each) come out of the
    descriptor limit too: with a hard limit 16 past what max_connections
    needs (2 x 100 + 256) a worker holds at most 8 pipes, and 100 tunnels
    held up both ways (every direction would hold a pipe: 4 descriptors a
    tunnel more) are all answered, the ones past the pipes copying."""
    max_conns, spare = 100, 16
    limit = max_conns * 2 + 256 + spare

    def preexec():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    srv = TcpServer(held_up_handler, name="held-up")
    srv.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    servers(srv).start()
    px = proxy("", proxy_lines=any_star() + f"\nworkers = 1\nmax_connections = {max_conns}",
               preexec=preexec)
    assert "at most 8 pipes a worker" in px.stderr(), px.stderr_tail()
    pipes_before = daemon_pipes(px)
    chunk = b"u" * 65536
    conns = []
    try:
        for i in range(max_conns):
            c, r = open_tunnel(px, srv.authority, rcvbuf=16 * 1024)
            conns.append(c)
            why = describe(proxy=px) + \
                f"\ntunnel {i + 1} of {max_conns}: {(daemon_pipes(px) - pipes_before) // 2} pipes"
            assert r.status == 200, why
            c.sock.setblocking(False)
            try:
                while True:
                    c.sock.send(chunk)
            except BlockingIOError:
                pass
        pipes = (daemon_pipes(px) - pipes_before) // 2
        assert 0 < pipes <= 8, describe(proxy=px) + f"\n{pipes} pipes"
    finally:
        for c in conns:
            c.close()
    next_tunnel_answers(servers, px, "held-up tunnels")


def test_tunnel_idle_timeout_with_bytes_in_a_pipe(servers, proxy):
    """A tunnel whose bytes wait in a pipe for a client that reads nothing
    ends at client_timeout like any idle one; the pipe, still holding
    them, is closed rather than lent again (the next tunnel gets its own
    bytes only)."""
    srv = servers(TcpServer(counting_bulk_handler(64 * MiB), name="bulk")).start()
    px = proxy("", proxy_lines=spliced_star() + "\nclient_timeout = 1s")
    pipes_before = daemon_pipes(px)
    c, r = open_tunnel(px, srv.authority, rcvbuf=64 * 1024)
    with c:
        assert r.status == 200, describe(proxy=px, response=read_error_body(c, r))
        c.send(b"GO\n")
        stalled = wait_origin_stalled(srv)
        why = describe(proxy=px) + f"\norigin sent {stalled}"
        assert daemon_pipes(px) > pipes_before, why + "\nnot spliced?"
        e = connect_log(px, srv.authority, timeout=5)
        assert e["status"] == 200 and e.get("error") == "idle_timeout", e
        assert 0 < e["bytes"] <= stalled and e["bytes_in"] == 3, e
    assert daemon_pipes(px) == pipes_before, describe(proxy=px)
    next_tunnel_answers(servers, px, "idle with bytes in a pipe")


def test_tunnel_reload_with_bytes_in_a_pipe(servers, proxy):
    """SIGHUP while a tunnel's bytes wait in a pipe: the tunnel goes on
    under the new configuration's daemon, every byte arrives."""
    n = 32 * MiB
    srv = servers(TcpServer(counting_bulk_handler(n), name="bulk")).start()
    px = proxy("", proxy_lines=spliced_star())
    pipes_before = daemon_pipes(px)
    c, r = open_tunnel(px, srv.authority, timeout=10, rcvbuf=64 * 1024)
    with c:
        assert r.status == 200, describe(proxy=px, response=read_error_body(c, r))
        c.send(b"GO\n")
        wait_origin_stalled(srv)
        assert daemon_pipes(px) > pipes_before, describe(proxy=px) + "\nnot spliced?"
        px.signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "configuration reloaded" not in px.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "configuration reloaded" in px.stderr(), describe(proxy=px)
        h = hashlib.sha256()
        total = recv_to_end(c.sock, h)
    why = describe(proxy=px) + f"\nreceived {total} of {n}"
    assert total == n and h.hexdigest() == pattern_sha256(n), why
    e = connect_log(px, srv.authority)
    assert e["status"] == 200 and e["bytes"] == n and e["bytes_in"] == 3, e
    next_tunnel_answers(servers, px, "reload with bytes in a pipe")


def fin_first_handler(conn, srv):
    """Say b"hello", FIN at once; then read the client's bytes to their end."""
    conn.sendall(b"hello")
    conn.shutdown(socket.SHUT_WR)
    recv_until_eof(conn, srv, "received")


def test_tunnel_origin_half_closes_first(servers, proxy):
    srv = servers(TcpServer(fin_first_handler, name="fin-first")).start()
    px = proxy("", proxy_lines=spliced_star())
    msg = b"still talking after your FIN\n" * 20000
    c, r = open_tunnel(px, srv.authority)
    with c:
        assert r.status == 200, describe(proxy=px, response=read_error_body(c, r))
        got = bytearray()
        while True:
            data = tunnel_recv(c)
            if not data:
                break
            got += data
        why = describe(proxy=px) + f"\ngot {bytes(got)!r} before the FIN"
        assert bytes(got) == b"hello", why      # its bytes, then its FIN
        c.sock.sendall(msg)                      # the other way still open
        c.sock.shutdown(socket.SHUT_WR)
        c.sock.settimeout(5)
        assert c.sock.recv(1) == b"", why        # both ended: closed
    why = describe(proxy=px) + f"\norigin {len(srv.notes.get('received', b''))} bytes"
    assert srv.wait(lambda: "received" in srv.notes, 5), why
    assert srv.notes["received"] == msg, why
    e = connect_log(px, srv.authority)
    assert e["status"] == 200 and e["bytes"] == 5 and e["bytes_in"] == len(msg), e
    next_tunnel_answers(servers, px, "origin FIN first")


def test_tunnel_early_data_goes_first(servers, proxy):
    """Bytes sent with the CONNECT, before its answer, reach the origin
    first, then the ones sent after it; the origin's answer comes back."""
    srv = servers(TcpServer(echo_after_eof_handler, name="echo")).start()
    px = proxy("", proxy_lines=spliced_star())
    early, later = b"early bytes|", b"later bytes" * 1000
    c, r = open_tunnel(px, srv.authority, extra=early)
    with c:
        assert r.status == 200, describe(proxy=px, response=read_error_body(c, r))
        c.send(later)
        reply = half_close_read_all(c)
    why = describe(proxy=px) + f"\norigin {srv.notes.get('received', b'')[:40]!r}..."
    assert srv.notes.get("received") == early + later, why
    assert bytes(reply) == b"echo:" + early + later, why
    e = connect_log(px, srv.authority)
    assert e["bytes_in"] == len(early + later), e
    next_tunnel_answers(servers, px, "early data")


def test_tunnel_sigterm_runs_to_shutdown_timeout(servers, proxy):
    """A spliced tunnel keeps moving bytes after SIGTERM until
    shutdown_timeout, is then cut, and is logged with its bytes."""
    srv = servers(TcpServer(echo_after_eof_handler, name="echo")).start()
    px = proxy("", proxy_lines=spliced_star(), shutdown_timeout="1500ms")
    c, r = open_tunnel(px, srv.authority, timeout=10)
    with c:
        assert r.status == 200, describe(proxy=px, response=read_error_body(c, r))
        c.send(b"a" * 1000)
        t_term = time.monotonic()
        px.signal(signal.SIGTERM)
        time.sleep(0.3)
        c.send(b"b" * 1000)    # still taken after SIGTERM
        c.sock.settimeout(5)
        try:
            data = c.sock.recv(1)
            outcome = "eof" if not data else f"data {data!r}"
        except ConnectionResetError:
            outcome = "reset"
        cut = time.monotonic() - t_term
        try:
            rc = px.proc.wait(5)
        except subprocess.TimeoutExpired:
            raise AssertionError("daemon still running 5 s after SIGTERM\n"
                                 + px.stderr_tail())
    why = describe(proxy=px) + f"\n{outcome} {cut:.2f}s after SIGTERM, rc {rc}"
    assert outcome in ("eof", "reset") and 1.2 <= cut <= 3.5 and rc == 0, why
    e = connect_log(px, srv.authority)
    assert e["status"] == 200 and e["bytes_in"] == 2000, e


def switch_and_close_handler(conn, srv):
    """Read a request head, answer 101 with a few bytes, FIN at once."""
    if recv_head(conn) is None:
        return
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-test\r\n"
                 b"Connection: Upgrade\r\n\r\nlast words")
    conn.shutdown(socket.SHUT_WR)
    recv_until_eof(conn, srv, "after")


def test_upgrade_ended_both_ways_at_once(servers, proxy):
    """An upgrade whose two sides have both ended by the time the 101 is
    handled (the origin's FIN right behind its 101, the client's right
    behind its request): the tunnel passes the bytes and both ends on,
    and ends, without tripping over the connection handed to it."""
    srv = servers(TcpServer(switch_and_close_handler, name="switch")).start()
    px = proxy("", proxy_lines=spliced_star())
    for i in range(20):
        c = RawConn(px.addr, timeout=5)
        with c:
            c.send(f"GET http://{srv.authority}/up{i} HTTP/1.1\r\n"
                   f"Host: {srv.authority}\r\nUpgrade: x-test\r\n"
                   "Connection: Upgrade\r\n\r\n".encode())
            c.sock.shutdown(socket.SHUT_WR)
            got = bytearray()
            while True:
                data = c.sock.recv(65536)
                if not data:
                    break
                got += data
        why = describe(proxy=px) + f"\nround {i}: got {bytes(got)!r}"
        assert bytes(got).startswith(b"HTTP/1.1 101 "), why
        assert bytes(got).endswith(b"\r\n\r\nlast words"), why
        e = px.log_for(f"/up{i}")
        assert e["status"] == 101, e
    assert px.alive(), px.stderr_tail()
    next_tunnel_answers(servers, px, "upgrades ended at once")


def test_raw_lane_tls_bodies_go_at_once(certs, servers, ops_proxy):
    """A held body goes to a TLS origin in several records (one a chain,
    eagerwrite_tls_now): on an origin connection without TCP_NODELAY the
    last short one waited for the origin's delayed ACK of the others --
    every 20 kB PUT after the first took 43 ms before the raw lane's
    origin sockets had it.  Now, on one pooled connection, each gets its
    own answer, the body exact, in under 30 ms (all but one at most)."""
    origin = tls_origin(servers, certs.good)
    authority = f"localhost:{origin.port}"
    n = 16
    for i in range(n):
        origin.script(f"/p{i}", [{"status": 200, "body": f"p{i}\n".encode()}])
    px = ops_proxy(section("tls", trust=certs.ca)
                   + section(f"route {authority}", tls=True), "workers = 1")
    took = []
    with RawConn(px.addr, timeout=10) as c:
        for i in range(n):
            body = os.urandom(20000)
            t = time.monotonic()
            c.send_request("PUT", f"http://{authority}/p{i}", body=body, close=False)
            r = c.read_response("PUT")
            took.append(time.monotonic() - t)
            why = describe(origin, px, r) + "\n" + origin.describe()
            assert r.status == 200 and r.body == f"p{i}\n".encode(), why
            h = origin.hits(f"/p{i}")
            assert len(h) == 1 and h[0].body_sha256 == hashlib.sha256(body).hexdigest(), why
    ms = sorted(round(x * 1000, 1) for x in took)
    assert sum(x > 0.030 for x in took) <= 1, f"ms a PUT: {ms}\n{why}"


@pytest.mark.parametrize("framing,end", [("close", "fin"), ("length", "fin"), ("length", "rst")])
def test_tls_last_record_with_the_close(certs, servers, ops_proxy, framing, end):
    """An origin's last TLS record and its close come in the same read.
    libevent 2.1.12's OpenSSL bufferevent ran the end's callback before it
    committed what that read had got (tls.h, TLS_BEV_OPTIONS): the raw
    lane saw the connection end with the head incomplete and answered 502
    -- every time, here, where the head came in two records (its first
    part filling most of a buffer chain) and the second with the body and
    the close.  Each answer must be the origin's, whole and exact, from
    one attempt; the next request on the client connection gets its own."""
    ctx = server_ctx(certs.good)
    body = b"b" * 300
    state = {"i": 0}

    def handler(conn, srv):
        i = state["i"]
        s = ctx.wrap_socket(conn, server_side=True)
        got = recv_head(s)
        if got is None:
            return
        srv.notes.setdefault("hits", []).append(got)
        length = f"Content-Length: {len(body)}\r\n" if framing == "length" else ""
        s.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n" + length.encode()
                  + b"X-Pad: " + b"a" * (5000 + 97 * i))
        time.sleep(0.05)  # the proxy reads the head's first part alone
        s.sendall(b"\r\n\r\n" + body)
        if end == "rst":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        else:
            conn.shutdown(socket.SHUT_WR)
            time.sleep(0.1)
        s.close()

    srv = servers(TcpServer(handler, name="tls-closer")).start()
    after = tls_origin(servers, certs.good)
    authority = f"localhost:{srv.port}"
    px = ops_proxy(section("tls", trust=certs.ca)
                   + section(f"route {authority}", tls=True)
                   + section(f"route localhost:{after.port}", tls=True), "workers = 1")
    for i in range(8):
        state["i"] = i
        after.script(f"/a{i}", [{"status": 200, "body": f"after {i}\n".encode()}])
        with RawConn(px.addr, timeout=10) as c:
            c.send_request("GET", f"http://{authority}/x{i}", close=False)
            r = c.read_response("GET")
            why = describe(after, px, r) + f"\nrequest {i}, origin hits {len(srv.notes['hits'])}"
            assert r.status == 200 and r.complete and r.body == body, why
            if framing == "length":
                c.send_request("GET", f"http://localhost:{after.port}/a{i}", close=False)
                r2 = c.read_response("GET")
        if framing == "close":
            # (a body ended by the close ends the client's connection too)
            r2 = request(px.addr, "GET", f"http://localhost:{after.port}/a{i}")
        assert r2.status == 200 and r2.body == f"after {i}\n".encode(), \
            describe(after, px, r2)
        assert len(srv.notes["hits"]) == i + 1, why
