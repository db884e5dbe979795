"""No exchange through the proxy waits on Nagle's algorithm.

README "Performance": replies are written in the loop turn that produced
them, and TCP_NODELAY is set on the listening socket (accepted sockets
inherit it), on every origin connection of both lanes and on both ends of
the interception's loopback hop.  With Nagle's algorithm on, a write
shorter than a segment is held back while an earlier one is
unacknowledged, and a Linux peer delays its ACK by 40 ms or more: an
exchange of well under a millisecond takes 40-90 ms, with nothing else
wrong (every answer right, only late).  Where it was missing (README
"Performance" names them: a body sent to a TLS origin, any request after
the first in an intercepted tunnel, a streamed upload's second piece) only
a test that times the exchange notices.

So this is one sweep rather than a test per write: both lanes (`[proxy]
lane = raw | evhttp`, README "Two lanes") x three ways to an origin (plain;
TLS, `tls = yes`; TLS inside an intercepted CONNECT tunnel, `intercept =
yes`, README "HTTPS") x the shapes of request that take different paths
through the daemon (README "Any request": a GET, a 100 B POST, a 20 kB
POST with Idempotency-Key, a 300 kB PUT, a PROPFIND with a 5 kB body, a
chunked body sent in two pieces, a body over `max_request_body` streamed
in two pieces).  Each case sends 9 requests on one kept client connection,
with one worker (`workers = 1`) so that the origin connection is pooled
and reused (asserted: a new connection starts in quick-ACK mode and would
hide a delay).  Every answer must be its own, the origin must have read
each body exactly, and the median time from the last byte sent to the
whole answer must be under 25 ms.  Then the next request on the same
client connection gets its own answer.

Then an Upgrade (README "Any request": WebSocket over http, after a 101
the bytes flow both ways), on each lane to a plain and a TLS origin: a
message sent as two small frames ~1 ms apart, a fragment and its
continuation, which the origin echoes once it is whole; the echo must come
within 25 ms (median of 9) of the second frame.  The origin has nothing to
say to the first frame, so only its delayed ACK acknowledges it: a second
frame held back by Nagle waits for that.  The next request, on a new
client connection, gets its own answer.
"""

import base64
import hashlib
import os
import shutil
import socket
import struct
import time
import types

import pytest

from clients import RawConn
from harness import Proxy, daemon_factory, describe, section
from test_https import (TcpServer, TLSUpstream, certs, server_ctx,  # noqa: F401
                        servers)
from test_intercept import STAR, ica, intercepted, tls_section  # noqa: F401 (ica: fixture)
from upstream import Upstream

# Linux's minimum delayed-ACK timeout is 40 ms (TCP_DELACK_MIN): a write
# held back by Nagle's algorithm waits at least that long for the ACK that
# frees it.  Without such a wait an exchange here takes 0.1-15 ms on
# loopback (the longest: a first request, with its TLS handshake, or a
# 300 kB body), so 25 ms between the two leaves room for a loaded machine
# (the median of 9, not the slowest) and still catches the 40 ms.
LIMIT = 0.025
ROUNDS = 9

# name: (method, body length, answer status, extra head lines, how it is
# sent).  A 300 kB body goes out mostly in full segments, which the origin
# acknowledges at once: a short tail held back waits only now and then, so
# that shape is the large-body guard, the 100 B and 20 kB ones the sharp
# ones.
SHAPES = {
    "get": ("GET", 0, 200, [], "whole"),
    "post-100B": ("POST", 100, 200, [], "whole"),
    "post-20kB-idempotent": ("POST", 20000, 200, [("Idempotency-Key", "k{i}")], "whole"),
    "put-300kB": ("PUT", 300 * 1024, 200, [], "whole"),
    "propfind-5kB": ("PROPFIND", 5000, 207, [("Depth", "1"),
                                             ("Content-Type", "application/xml")], "whole"),
    "chunked-2-pieces": ("POST", 6000, 200, [("Transfer-Encoding", "chunked")], "chunked"),
    "streamed-2-pieces": ("PUT", 32 * 1024, 200, [], "streamed"),
}

# A body over this streams (README "Any request"); the streamed shape only.
# Its second piece (28 KiB) is one write under a loopback segment (64 KiB),
# the write Nagle's algorithm holds back; a longer rest goes out in full
# segments, which the origin acknowledges at once, and hides the wait
# (64 KiB in all did, to a TLS origin).
STREAM_LIMIT = "max_request_body = 16K"

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None,
                                   reason="openssl command line tool not found")


@pytest.fixture
def start_proxy(servers, tmp_path):  # noqa: F811
    """Factory; depends on `servers` so the daemon stops before the origins."""
    yield from daemon_factory(Proxy, tmp_path, "nodelay")


def make_origin(kind, servers, request):  # noqa: F811
    """The origin of a case, what the daemon needs for it (config, [proxy]
    lines), connect(px): the client connection to send requests on, and
    target(path): a request's target on it."""
    if kind == "plain":
        up = servers(Upstream(name="plain-origin")).start()
        return types.SimpleNamespace(
            up=up, authority=up.authority, config="", lines="",
            connect=lambda px: RawConn(px.addr, timeout=10),
            target=lambda path: up.url + path)
    certs_ = request.getfixturevalue("certs")
    up = servers(TLSUpstream(server_ctx(certs_.good), name="tls-origin")).start()
    authority = f"localhost:{up.port}"
    if kind == "tls":
        # `tls = yes`: http:// requests, sent to the origin over TLS
        return types.SimpleNamespace(
            up=up, authority=authority,
            config=section("tls", trust=certs_.ca) + section(f"route {authority}", tls=True),
            lines="", connect=lambda px: RawConn(px.addr, timeout=10),
            target=lambda path: f"http://{authority}{path}")
    # `intercept = yes`: a CONNECT tunnel the daemon terminates, requests
    # in origin form inside it
    ica_ = request.getfixturevalue("ica")
    return types.SimpleNamespace(
        up=up, authority=authority,
        config=tls_section(certs_, ica_) + section(f"route {authority}", intercept=True),
        lines=STAR, connect=lambda px: intercepted(px, authority, ica_.cert),
        target=lambda path: path)


def body_for(shape, i, n):
    """A body of n bytes of its own for request i."""
    seed = hashlib.sha256(f"{shape} {i}".encode()).digest()
    return (seed * (n // len(seed) + 1))[:n]


def answer_for(shape, i):
    return f"answer to {shape} #{i}\n".encode() * 8


def chunk(data):
    return b"%x\r\n" % len(data) + data + b"\r\n"


def pieces_for(shape, i, url, authority):
    """The request's bytes as [(pause before, bytes)] and the body the
    origin must read."""
    method, n, _, extra, how = SHAPES[shape]
    body = body_for(shape, i, n)
    lines = [f"{method} {url} HTTP/1.1", f"Host: {authority}",
             "User-Agent: retryproxy-itest"]
    lines += [f"{k}: {v.format(i=i)}" for k, v in extra]
    if how != "chunked" and (n or method != "GET"):
        lines.append(f"Content-Length: {n}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if how == "chunked":
        # the head and a first chunk, then ~3 ms later the last chunk and
        # the end: the proxy has forwarded or held the first meanwhile
        return [(0, head + chunk(body[:4096])),
                (0.003, chunk(body[4096:]) + b"0\r\n\r\n")], body
    if how == "streamed":
        # the head and 4 KiB, then ~5 ms later the rest: the proxy has
        # written the head and the first piece upstream meanwhile
        return [(0, head + body[:4096]), (0.005, body[4096:])], body
    return [(0, head + body)], body


def sweep():
    """lane x origin x shape.  Inside an intercepted tunnel the daemon's own
    TLS server is evhttp's: no extension methods (PROPFIND) and no body over
    `max_request_body` there, so those two shapes are left out of it."""
    for lane in ("raw", "evhttp"):
        for kind in ("plain", "tls", "intercepted"):
            for shape in SHAPES:
                if kind == "intercepted" and shape in ("propfind-5kB", "streamed-2-pieces"):
                    continue
                yield pytest.param(lane, kind, shape, id=f"{lane}-{kind}-{shape}",
                                   marks=() if kind == "plain" else needs_openssl)


@pytest.mark.parametrize("lane,origin_kind,shape", sweep())
def test_kept_connection_exchanges_go_at_once(lane, origin_kind, shape, servers,  # noqa: F811
                                              start_proxy, request):
    o = make_origin(origin_kind, servers, request)
    origin, authority = o.up, o.authority
    method, _, status, _, how = SHAPES[shape]
    lines = o.lines + f"\nworkers = 1\nlane = {lane}"
    if how == "streamed":
        lines += "\n" + STREAM_LIMIT
    px = start_proxy(o.config, lines)
    for i in range(ROUNDS):
        origin.script(f"/{shape}/{i}", [{"status": status, "body": answer_for(shape, i)}])
    took = []
    with o.connect(px) as c:
        for i in range(ROUNDS):
            path = f"/{shape}/{i}"
            pieces, body = pieces_for(shape, i, o.target(path), authority)
            for pause, data in pieces:
                time.sleep(pause)
                c.send(data)
            t0 = time.monotonic()  # the last byte is sent
            r = c.read_response(method)
            took.append(time.monotonic() - t0)
            why = describe(origin, px, r) + f"\nrequest {i} of {shape}"
            assert r.status == status and r.complete, why
            assert r.body == answer_for(shape, i), why
            h = origin.hits(path)
            assert len(h) == 1 and h[0].method == method, why
            assert h[0].body_len == len(body), why
            assert h[0].body_sha256 == hashlib.sha256(body).hexdigest(), why
        why = describe(origin, px)
        # one origin connection, reused by all 9: the case that shows a delay
        assert origin.connections == 1, why
        ms = [round(t * 1000, 1) for t in took]
        assert sorted(took)[len(took) // 2] < LIMIT, \
            f"{lane} lane, {origin_kind} origin, {shape}: ms from the last byte " \
            f"sent to the whole answer: {ms}\n{why}"
        # the same client connection goes on: the next request, its own answer
        origin.script("/next", [{"status": 200, "body": b"next\n"}])
        c.send(f"GET {o.target('/next')} HTTP/1.1\r\nHost: {authority}\r\n"
               "User-Agent: retryproxy-itest\r\n\r\n".encode())
        r = c.read_response()
        assert r.status == 200 and r.complete and r.body == b"next\n", \
            describe(origin, px, r)


# ---- an Upgrade: WebSocket frames after the 101 --------------------------------
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def ws_frame(fin, opcode, payload, mask=None):
    """One frame (RFC 6455 section 5.2), masked when `mask` (4 bytes) is
    given, as a client's must be; payloads under 126 bytes only."""
    assert len(payload) < 126
    b1 = len(payload) | (0x80 if mask else 0)
    out = bytes([(0x80 if fin else 0) | opcode, b1])
    if mask:
        out += mask + bytes(x ^ mask[i % 4] for i, x in enumerate(payload))
    else:
        out += payload
    return out


def recv_exactly(sock, buf, n):
    while len(buf) < n:
        data = sock.recv(65536)
        if not data:
            raise EOFError
        buf += data
    out = bytes(buf[:n])
    del buf[:n]
    return out


def ws_origin_handler(ctx):
    """An HTTP/1.1 origin (TLS when ctx): a request with Upgrade: websocket
    gets a 101, then each message is echoed once whole, however many
    fragments it came in (section 5.4); a close frame is answered and ends
    the connection.  Any other request gets 200 with its own path."""
    def handler(conn, srv):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ctx is not None:
            conn = ctx.wrap_socket(conn, server_side=True)
        buf = bytearray()
        while True:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            i = buf.index(b"\r\n\r\n")
            lines = bytes(buf[:i]).decode("latin-1").split("\r\n")
            del buf[:i + 4]
            path = lines[0].split(" ")[1]
            fields = {k.strip().lower(): v.strip() for k, _, v in
                      (ln.partition(":") for ln in lines[1:])}
            if fields.get("upgrade", "").lower() != "websocket":
                body = f"{path}\n".encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
                             + body)
                continue
            accept = base64.b64encode(hashlib.sha1(
                (fields["sec-websocket-key"] + WS_GUID).encode()).digest()).decode()
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}"
                          "\r\n\r\n").encode())
            try:
                ws_echo(conn, buf)
            except EOFError:
                pass
            return
    return handler


def ws_echo(conn, buf):
    """Echo each message once whole until a close frame (answered)."""
    message = bytearray()
    while True:
        b0, b1 = recv_exactly(conn, buf, 2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", recv_exactly(conn, buf, 2))[0]
        elif n == 127:
            n = struct.unpack("!Q", recv_exactly(conn, buf, 8))[0]
        mask = recv_exactly(conn, buf, 4) if b1 & 0x80 else b"\0\0\0\0"
        payload = bytes(x ^ mask[j % 4] for j, x in
                        enumerate(recv_exactly(conn, buf, n)))
        if b0 & 0x0F == 8:  # close: answer it and end
            conn.sendall(ws_frame(True, 8, payload))
            return
        message += payload
        if b0 & 0x80:  # the last fragment: echo the message
            conn.sendall(ws_frame(True, 1, bytes(message)))
            message.clear()


@pytest.mark.parametrize("origin_kind", ["plain", pytest.param("tls", marks=needs_openssl)])
@pytest.mark.parametrize("lane", ["raw", "evhttp"])
def test_upgraded_frames_go_at_once(lane, origin_kind, servers, start_proxy,  # noqa: F811
                                    request):
    # A message in two frames, the second ~1 ms after the first: the origin
    # has nothing to answer to the first (it waits for the message's end),
    # so the first is acknowledged only by a delayed ACK, and a second write
    # to the origin held back by Nagle's algorithm waits for it.
    config, ctx = "", None
    if origin_kind == "tls":
        certs_ = request.getfixturevalue("certs")
        ctx = server_ctx(certs_.good)
    srv = servers(TcpServer(ws_origin_handler(ctx), name="ws-origin")).start()
    authority = srv.authority
    if ctx is not None:
        authority = f"localhost:{srv.port}"
        config = section("tls", trust=certs_.ca) + section(f"route {authority}", tls=True)
    px = start_proxy(config, f"workers = 1\nlane = {lane}")
    took = []
    with RawConn(px.addr, timeout=10) as c:
        c.send(f"GET http://{authority}/ws HTTP/1.1\r\nHost: {authority}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
               .encode())
        r = c.read_head()
        assert r.status == 101, describe(proxy=px, response=r)
        for i in range(ROUNDS):
            first, second = f"message {i}, part one; ".encode(), b"part two"
            c.send(ws_frame(False, 1, first, os.urandom(4)))
            time.sleep(0.001)
            c.send(ws_frame(True, 0, second, os.urandom(4)))
            t0 = time.monotonic()  # the last byte is sent
            want = ws_frame(True, 1, first + second)
            while len(c.buf) < len(want) and c._fill():
                pass
            took.append(time.monotonic() - t0)
            got = bytes(c.buf[:len(want)])
            del c.buf[:len(want)]
            assert got == want, describe(proxy=px) + f"\nmessage {i}: {got!r}"
        ms = [round(t * 1000, 1) for t in took]
        assert sorted(took)[len(took) // 2] < LIMIT, \
            f"{lane} lane, {origin_kind} origin, upgrade: ms from the second " \
            f"frame sent to the message's echo: {ms}\n" + describe(proxy=px)
        # a close frame is answered, then the origin and the proxy close
        c.send(ws_frame(True, 8, b"\x03\xe8", os.urandom(4)))
        while len(c.buf) < 4 and c._fill():
            pass
        assert bytes(c.buf[:4]) == ws_frame(True, 8, b"\x03\xe8"), describe(proxy=px)
        assert c.wait_closed(5), describe(proxy=px)
    e = px.log_for("/ws")
    assert e["status"] == 101, e
    # the next request, on a new client connection, gets its own answer
    with RawConn(px.addr, timeout=10) as c:
        c.send(f"GET http://{authority}/next HTTP/1.1\r\nHost: {authority}\r\n\r\n"
               .encode())
        r = c.read_response()
        assert r.status == 200 and r.body == b"/next\n", describe(proxy=px, response=r)
