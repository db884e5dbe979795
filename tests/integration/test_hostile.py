"""Hostile requests: smuggling framings, malformed heads and targets, size
limits, loops, access control, secrets in logs, slow clients.

Every hostile request is sent as exact bytes over a raw socket, with an
absolute-form target (and a Host header) naming the scripted upstream, so a
proxy that let it through would show a hit there.  Each test asserts:

- the status (or, where stated, a close without any response);
- that the daemon closes the connection after refusing (retryproxy(8) RETRY SEMANTICS: "400 and
  close"; 413/431 "answered before the connection is closed gracefully");
- that nothing reached the upstream: no hit and no connection;
- that the daemon still answers a normal GET with 200 afterwards.

Documented in retryproxy.ini(5) and retryproxy(8): [proxy] limits (max_header_size -> 431, max_upload ->
413, allow/deny -> 403), section 3 "Requests are validated before anything
is sent", the Proxy-Status tokens http_request_denied / proxy_loop_detected,
and section 5 (the access log).
"""

import base64
import select
import socket
import time
from dataclasses import dataclass

import pytest

from clients import RawConn, request
from harness import describe, section

PATH = "/hostile"
CLOSED = 0          # "status" of a connection closed without any response
POLICY = section("default", start_timeout="20ms", attempts=2)


# ---- helpers ---------------------------------------------------------------
def raw(method, target, lines, body=b""):
    """Exact request bytes: request line, header lines as given, CRLF, body."""
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{h}\r\n" for h in lines) + "\r\n"
    return head.encode("latin-1") + body


def send_hostile(px, data, timeout=5.0, close_wait=2.0):
    """Send `data` on a fresh connection; (response, closed_by_daemon)."""
    with RawConn(px.addr, timeout=timeout) as c:
        c.send(data)
        r = c.read_response(method="POST")
        closed = c.wait_closed(close_wait) if r.status else r.error != "timeout"
        return r, closed


class SourceConn(RawConn):
    """A RawConn whose client end is bound to `src` (e.g. 127.0.0.2)."""

    def __init__(self, proxy_addr, src, timeout=10.0):  # noqa: D107
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.bind((src, 0))
        self.sock.connect(proxy_addr)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.error = None
        self.t0 = time.monotonic()


def assert_nothing_reached(up, px, r, path=PATH):
    """No hit for `path` and no connection at all on `up` (after a grace
    period, so a forward that is merely slow is still caught)."""
    late = up.wait_connections(1, timeout=0.3)
    why = describe(up, px, r)
    assert up.count(path) == 0, f"hostile request forwarded ({up.count(path)} hits)\n{why}"
    assert not late and up.connections == 0, \
        f"upstream saw {up.connections} connection(s) for a refused request\n{why}"


def assert_still_serves(up, px, path="/after"):
    """A normal GET through the proxy afterwards gets 200 from `up`."""
    assert px.alive(), "daemon died\n" + px.stderr_tail()
    before = up.count(path)
    r = request(px.addr, "GET", up.url + path, timeout=5.0)
    assert r.status == 200 and up.count(path) == before + 1, \
        "normal GET after the hostile request failed\n" + describe(up, px, r)


def proxy_status_has(r, token):
    return any(f"error={token}" in v for v in r.header_all("Proxy-Status"))


# ---- malformed requests: one table -----------------------------------------
@dataclass
class Case:
    id: str
    build: object               # Upstream -> bytes
    statuses: tuple             # acceptable statuses; CLOSED = no response, closed
    proxy_status: str = None    # required Proxy-Status error token
    body_has: bytes = None      # required in the response body


def _chunked(body=b"5\r\nhello\r\n0\r\n\r\n"):
    return body


def _url(u, path=PATH):
    return f"http://{u.authority}{path}"


CASES = [
    Case("cl_with_te_chunked", lambda u: raw("POST", _url(u), [
        f"Host: {u.authority}", "Content-Length: 5", "Transfer-Encoding: chunked"],
        _chunked()), (400,)),
    Case("two_cl_differ", lambda u: raw("POST", _url(u), [
        f"Host: {u.authority}", "Content-Length: 5", "Content-Length: 6"],
        b"hello!"), (400,)),
    Case("two_cl_same", lambda u: raw("POST", _url(u), [
        f"Host: {u.authority}", "Content-Length: 5", "Content-Length: 5"],
        b"hello"), (400,)),
    Case("te_gzip", lambda u: raw("POST", _url(u), [
        f"Host: {u.authority}", "Transfer-Encoding: gzip"], b"hello"), (501,)),
    Case("te_gzip_chunked", lambda u: raw("POST", _url(u), [
        f"Host: {u.authority}", "Transfer-Encoding: gzip, chunked"],
        _chunked()), (501,)),
    Case("chunk_size_zz", lambda u: raw("POST", _url(u), [
        f"Host: {u.authority}", "Transfer-Encoding: chunked"],
        b"zz\r\nhello\r\n0\r\n\r\n"), (400, CLOSED)),
    Case("chunk_size_0x5", lambda u: raw("POST", _url(u), [
        f"Host: {u.authority}", "Transfer-Encoding: chunked"],
        b"0x5\r\nhello\r\n0\r\n\r\n"), (400, CLOSED)),
    # libevent reads no body after HEAD: the "body" would be a request to it
    Case("head_with_body_smuggles", lambda u: raw("HEAD", _url(u), [
        f"Host: {u.authority}", "Content-Length: 40"],
        f"GET {_url(u)} HTTP/1.1\r\nX: y\r\n\r\n".encode().ljust(40, b"z")),
        (400,)),
    Case("trace_with_chunked_body", lambda u: raw("TRACE", _url(u), [
        f"Host: {u.authority}", "Transfer-Encoding: chunked"], _chunked()),
        (400,)),
    Case("cl_plus_sign", lambda u: raw("POST", _url(u), [
        f"Host: {u.authority}", "Content-Length: +5"], b"hello"), (400,)),
    Case("obs_fold", lambda u: raw("GET", _url(u), [
        f"Host: {u.authority}", "X-Folded: first", " continued"]), (400,)),
    Case("bare_cr_in_value", lambda u: raw("GET", _url(u), [
        f"Host: {u.authority}", "X-Bad: a\rb"]), (400,)),
    Case("nul_in_value", lambda u: raw("GET", _url(u), [
        f"Host: {u.authority}", "X-Bad: a\x00b"]), (400,)),
    Case("ctl_01_in_value", lambda u: raw("GET", _url(u), [
        f"Host: {u.authority}", "X-Bad: a\x01b"]), (400,)),
    Case("space_before_colon", lambda u: raw("POST", _url(u), [
        f"Host: {u.authority}", "Transfer-Encoding : chunked"], _chunked()), (400,)),
    Case("two_host_same", lambda u: raw("GET", _url(u), [
        f"Host: {u.authority}", f"Host: {u.authority}"]), (400,)),
    Case("two_host_differ", lambda u: raw("GET", _url(u), [
        f"Host: {u.authority}", "Host: other.invalid"]), (400,)),
    Case("uri_with_space", lambda u: raw("GET", _url(u, PATH[:4] + " " + PATH[4:]), [
        f"Host: {u.authority}"]), (400,)),
    # port + 65536: a parser that truncates to 16 bits would reach the upstream
    Case("uri_port_over_65535", lambda u: raw("GET", f"http://{u.host}:{u.port + 65536}{PATH}", [
        f"Host: {u.authority}"]), (400,)),
    Case("uri_port_99999", lambda u: raw("GET", f"http://{u.host}:99999{PATH}", [
        f"Host: {u.authority}"]), (400,)),
    Case("uri_userinfo", lambda u: raw("GET", f"http://user:pw@{u.authority}{PATH}", [
        f"Host: {u.authority}"]), (400,)),
    Case("uri_unclosed_ipv6_bracket", lambda u: raw("GET", f"http://[::1{PATH}", [
        f"Host: {u.authority}"]), (400,)),
    Case("uri_unclosed_bracket_upstream", lambda u: raw("GET", f"http://[{u.authority}{PATH}", [
        f"Host: {u.authority}"]), (400,)),
    Case("origin_form", lambda u: raw("GET", PATH, [f"Host: {u.authority}"]),
         (400,), body_has=b"HTTP_PROXY"),
    # retryproxy(8) names the token, not the status: any 4xx/5xx with the token.
    Case("via_loop", lambda u: raw("GET", _url(u), [
        f"Host: {u.authority}", "Via: 1.1 retryproxy"]),
        tuple(range(400, 600)), proxy_status="proxy_loop_detected"),
    Case("via_loop_in_list", lambda u: raw("GET", _url(u), [
        f"Host: {u.authority}", "Via: 1.0 fred, 1.1 retryproxy"]),
        tuple(range(400, 600)), proxy_status="proxy_loop_detected"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_request_refused(case, upstream, proxy):
    px = proxy(POLICY)
    r, closed = send_hostile(px, case.build(upstream))
    why = describe(upstream, px, r)
    want = "closed without a response" if case.statuses == (CLOSED,) else \
        ("4xx/5xx" if len(case.statuses) > 10 else
         " or ".join("close" if s == CLOSED else str(s) for s in case.statuses))
    if r.status == CLOSED:
        assert CLOSED in case.statuses and r.error in ("eof", "reset"), \
            f"want {want}, got no response (error={r.error})\n{why}"
    else:
        assert r.status in case.statuses, f"want {want}, got {r.status}\n{why}"
    if case.proxy_status:
        assert proxy_status_has(r, case.proxy_status), \
            f"no Proxy-Status error={case.proxy_status}\n{why}"
    if case.body_has:
        assert case.body_has in r.body, f"body lacks {case.body_has!r}\n{why}"
    assert_nothing_reached(upstream, px, r)
    assert closed, f"daemon kept the connection open after refusing it\n{why}"
    assert_still_serves(upstream, px)


# ---- size limits -------------------------------------------------------------
def test_request_line_100k(upstream, proxy):
    """A 100 KiB URI is over the default max_header_size (64K): 431 (414 is
    accepted too), readable by the client before the close."""
    px = proxy(POLICY)
    target = _url(upstream, PATH + "?" + "a" * (100 * 1024))
    r, closed = send_hostile(px, raw("GET", target, [f"Host: {upstream.authority}"]))
    why = describe(upstream, px, r)
    assert r.status in (431, 414), f"want 431 (or 414), got {r.status} error={r.error}\n{why}"
    assert closed, f"connection not closed after {r.status}\n{why}"
    assert_nothing_reached(upstream, px, r)
    assert_still_serves(upstream, px)


def test_header_block_over_max_header_size(upstream, proxy):
    px = proxy(POLICY, proxy_lines="max_header_size = 4K")
    pad = [f"X-Pad-{i}: {'p' * 1000}" for i in range(16)]     # ~16 KiB
    r, closed = send_hostile(px, raw("GET", _url(upstream), [f"Host: {upstream.authority}"] + pad))
    why = describe(upstream, px, r)
    assert r.status == 431, f"want 431, got {r.status} error={r.error}\n{why}"
    assert closed, f"connection not closed after 431\n{why}"
    assert_nothing_reached(upstream, px, r)
    assert_still_serves(upstream, px)


@pytest.mark.parametrize("framing", ["content_length", "chunked"])
def test_body_over_max_upload(framing, upstream, proxy):
    px = proxy(POLICY, proxy_lines="max_upload = 1K")
    body = b"B" * 4096
    if framing == "content_length":
        data = raw("POST", _url(upstream), [f"Host: {upstream.authority}",
                                            f"Content-Length: {len(body)}"], body)
    else:
        chunks = b"".join(b"200\r\n" + body[i:i + 512] + b"\r\n"
                          for i in range(0, len(body), 512))
        data = raw("POST", _url(upstream), [f"Host: {upstream.authority}",
                                            "Transfer-Encoding: chunked"],
                   chunks + b"0\r\n\r\n")
    r, closed = send_hostile(px, data)
    why = describe(upstream, px, r)
    assert r.status == 413, f"want 413, got {r.status} error={r.error}\n{why}"
    assert closed, f"connection not closed after 413\n{why}"
    assert_nothing_reached(upstream, px, r)
    assert_still_serves(upstream, px)


# ---- access control ------------------------------------------------------------
def test_client_outside_allow_403(upstream, proxy):
    """allow = 10.0.0.0/8 (plus 127.0.0.2/32 so a second client can prove the
    daemon still serves): a request from 127.0.0.1 gets 403."""
    px = proxy(POLICY, proxy_lines="allow = 10.0.0.0/8, 127.0.0.2/32")
    r, closed = send_hostile(px, raw("GET", _url(upstream), [
        f"Host: {upstream.authority}", "Connection: close"]))
    why = describe(upstream, px, r)
    assert r.status == 403, f"want 403, got {r.status} error={r.error}\n{why}"
    assert proxy_status_has(r, "http_request_denied"), why
    assert_nothing_reached(upstream, px, r)
    with SourceConn(px.addr, "127.0.0.2", timeout=5.0) as c:
        c.send_request("GET", upstream.url + "/after")
        ok = c.read_response()
    assert ok.status == 200 and upstream.count("/after") == 1, \
        "allowed client (127.0.0.2) not served\n" + describe(upstream, px, ok)


@pytest.mark.parametrize("form", ["ipv4", "ipv4_mapped_ipv6"])
def test_destination_in_deny_403(form, upstream, proxy, make_upstream):
    """deny = 127.0.0.0/8: the upstream (127.0.0.1) is never contacted, also
    when named as ::ffff:127.0.0.1; an IPv6 origin still is served."""
    px = proxy(POLICY, proxy_lines="deny = 127.0.0.0/8")
    host = upstream.authority if form == "ipv4" else f"[::ffff:127.0.0.1]:{upstream.port}"
    r, closed = send_hostile(px, raw("GET", f"http://{host}{PATH}", [
        f"Host: {host}", "Connection: close"]))
    why = describe(upstream, px, r)
    assert r.status == 403, f"want 403, got {r.status} error={r.error}\n{why}"
    assert proxy_status_has(r, "http_request_denied"), why
    assert_nothing_reached(upstream, px, r)
    up6 = make_upstream("::1")
    assert_still_serves(up6, px)


# ---- secrets never logged ------------------------------------------------------
PROXY_SECRET = base64.b64encode(b"proxyuser:PxSecret-7f2a91").decode()
AUTH_SECRET = "AuthSecret-9c41e0d3"
SECRETS = (PROXY_SECRET, "PxSecret-7f2a91", AUTH_SECRET)


@pytest.mark.parametrize("verbosity", [1, 2], ids=["-v", "-vv"])
def test_credentials_not_logged(verbosity, upstream, proxy):
    px = proxy(POLICY, args=("-v",) * (verbosity - 1))
    creds = [("Proxy-Authorization", f"Basic {PROXY_SECRET}"),
             ("Authorization", f"Bearer {AUTH_SECRET}")]
    upstream.script("/reset", ["reset"])
    ok = request(px.addr, "GET", upstream.url + "/ok", headers=creds)
    failed = request(px.addr, "GET", upstream.url + "/reset", headers=creds)
    refused, _ = send_hostile(px, raw("POST", _url(upstream, "/refused"), [
        f"Host: {upstream.authority}"] + [f"{k}: {v}" for k, v in creds] + [
        "Content-Length: 1", "Content-Length: 2", "Connection: close"], b"xy"))
    why = describe(upstream, px, ok)
    assert ok.status == 200 and failed.status == 502, f"{why}\nreset: {failed!r}"
    assert refused.status == 400, f"duplicate CL: {refused!r}\n{why}"
    px.log_for("/ok")
    px.log_for("/reset")
    assert px.stop() == 0, px.stderr_tail()
    log = px.log_path.read_bytes() if px.log_path.exists() else b""
    err = px.stderr_path.read_bytes()
    for s in SECRETS:
        assert s.encode() not in log, f"{s!r} in the access log:\n{log.decode(errors='replace')}"
        assert s.encode() not in err, f"{s!r} in stderr:\n{err.decode(errors='replace')}"


# ---- slow loris -----------------------------------------------------------------
def test_slow_loris_disconnected(upstream, proxy):
    """client_timeout = 1s: a client trickling one header byte every 300 ms
    is cut off within 3 s of connecting; a normal client is served meanwhile."""
    px = proxy(POLICY, proxy_lines="client_timeout = 1s")
    head = raw("GET", _url(upstream, "/slow"), [f"Host: {upstream.authority}"])
    trickle = head[:-2] + b"X-Slow: " + b"s" * 200        # never ends the head
    s = socket.create_connection(px.addr)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.monotonic()
    closed_at = None
    got = b""
    normal = None
    try:
        for i in range(len(trickle)):
            now = time.monotonic() - t0
            if now > 5.0:
                break
            if normal is None and now > 0.6:
                normal = request(px.addr, "GET", upstream.url + "/after", timeout=5.0)
            try:
                s.send(trickle[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic() - t0
                break
            r, _, _ = select.select([s], [], [], 0.3)
            if r:
                try:
                    data = s.recv(65536)
                except ConnectionResetError:
                    data = b""
                if not data:
                    closed_at = time.monotonic() - t0
                    break
                got += data
    finally:
        s.close()
    why = describe(upstream, px) + f"\nslow client received {got[:200]!r}"
    assert normal is not None and normal.status == 200, f"normal client: {normal!r}\n{why}"
    assert closed_at is not None, f"slow client still connected after 5 s\n{why}"
    assert closed_at <= 3.0, f"slow client closed only after {closed_at:.2f}s\n{why}"
    assert upstream.count("/slow") == 0, why
    assert_still_serves(upstream, px)
