"""Keep-alive: client connections, upstream reuse, stale upstream connections.

The daemon keeps an upstream pool per worker, and consecutive client
connections may land on different workers, so these tests run one worker
to make reuse (and so the stale-connection path) deterministic.
"""

import socket
import time

from clients import RawConn, request
from harness import describe, section

ONE_WORKER = "workers = 1"


def test_client_keepalive_several_requests(upstream, proxy):
    px = proxy(section("default", start_timeout="20ms"))
    upstream.script("/k", ["503", "200"])
    with RawConn(px.addr) as c:
        for i in range(3):
            c.send_request("GET", upstream.url + f"/k?i={i}", close=False)
            r = c.read_response()
            assert r.status == 200 and r.complete, describe(upstream, px, r)
    assert upstream.count("/k") == 4, describe(upstream, px)


def test_upstream_connection_reused(upstream, proxy):
    # retryproxy(8) RETRY SEMANTICS speaks of "a reused keep-alive upstream connection": sequential
    # requests to one origin should share one upstream connection.
    px = proxy(section("default", start_timeout="20ms"), ONE_WORKER)
    for i in range(3):
        r = request(px.addr, "GET", upstream.url + f"/reuse{i}")
        assert r.status == 200, describe(upstream, px, r)
    assert upstream.connections == 1, describe(upstream, px)


def test_stale_keepalive_close_after(upstream, proxy):
    px = proxy(section("default", start_timeout="20ms"), ONE_WORKER)
    # Answer, then close without "Connection: close": the proxy may keep it.
    upstream.script("/ka1", [{"status": 200, "close_after": True}])
    r = request(px.addr, "GET", upstream.url + "/ka1")
    assert r.status == 200, describe(upstream, px, r)
    r = request(px.addr, "GET", upstream.url + "/ka2")
    why = describe(upstream, px, r)
    assert r.status == 200 and r.body == b"status=200 hit=1\n", why
    assert upstream.count("/ka2") == 1, why
    e = px.log_for("/ka2")
    assert e["attempts"] == 1 and e["retries"] == [], why


def test_stale_keepalive_request_dropped_on_reuse(upstream, proxy):
    # Deterministic stale connection: the upstream reads the next request on
    # the kept connection and closes without a byte of answer.  A GET is
    # re-sent once on a fresh connection, and that is not an attempt.
    px = proxy(section("default", start_timeout="20ms", attempts=1), ONE_WORKER)
    upstream.script("/ka1", [{"status": 200, "drop_next": True}])
    assert request(px.addr, "GET", upstream.url + "/ka1").status == 200
    r = request(px.addr, "GET", upstream.url + "/ka2")
    why = describe(upstream, px, r)
    assert r.status == 200, why
    assert upstream.count("/ka2") == 1, why
    assert len(upstream.dropped) == 1, \
        "the proxy did not reuse the upstream connection: stale path not exercised\n" + why
    assert upstream.dropped[0].conn_id == upstream.hits("/ka1")[0].conn_id, why
    assert upstream.hits("/ka2")[0].conn_id != upstream.dropped[0].conn_id, why
    e = px.log_for("/ka2")
    assert e["attempts"] == 1, why


def test_stale_keepalive_post_never_sent_twice(upstream, proxy):
    px = proxy(section("default", start_timeout="20ms"), ONE_WORKER)
    upstream.script("/ka1", [{"status": 200, "drop_next": True}])
    assert request(px.addr, "GET", upstream.url + "/ka1").status == 200
    r = request(px.addr, "POST", upstream.url + "/ka2", body=b"once")
    why = describe(upstream, px, r)
    sent = len(upstream.dropped) + upstream.count("/ka2")
    assert sent == 1, f"POST reached the upstream {sent} times\n{why}"
    if upstream.dropped:   # sent on the stale connection: must not be re-sent
        assert r.status == 502, why
    else:                  # the proxy used a fresh connection
        assert r.status == 200, why


def test_pipelined_big_bodies_each_forwarded_whole(upstream, proxy):
    # Bodies over 16 KiB are read in large pieces, up to their last byte and
    # never into the next request: three POSTs sent back to back in one
    # write, the middle one small, each reaches the origin byte for byte.
    px = proxy(section("default", start_timeout="20ms"))
    bodies = [bytes([65 + i]) * n for i, n in enumerate((300000, 100, 70000))]
    wire = b""
    for i, b in enumerate(bodies):
        wire += (f"POST {upstream.url}/pipe{i} HTTP/1.1\r\n"
                 f"Host: {upstream.authority}\r\n"
                 f"Content-Length: {len(b)}\r\n\r\n").encode() + b
    with RawConn(px.addr) as c:
        c.send(wire)
        for i in range(3):
            r = c.read_response("POST")
            assert r.status == 200 and r.complete, describe(upstream, px, r)
    for i, b in enumerate(bodies):
        hits = upstream.hits(f"/pipe{i}")
        assert len(hits) == 1, describe(upstream, px)
        assert hits[0].body == b, describe(upstream, px)


def both_answered(upstream, px, c, path, body):
    """The stalled GET, then the POST of body to path pipelined behind it,
    each answered whole and in order on c; the body reached the origin."""
    r1 = c.read_response("GET")
    r2 = c.read_response("POST")
    why = describe(upstream, px, r2)
    assert r1.status == 200 and r1.complete and b"stalled" in r1.body, why
    assert r2.status == 200 and r2.complete, why
    hits = upstream.hits(path)
    assert len(hits) == 1 and hits[0].body == body, why


def test_big_body_pipelined_behind_a_slow_request(upstream, proxy):
    # The second request's long body arrives while the first waits on the
    # origin (the client is watched for leaving then): it is read only once
    # evhttp turns to it, and both are answered, in order, whole.
    px = proxy(section("default", start_timeout="20ms"), ONE_WORKER)
    upstream.script("/slow", ["stall:0.5"])
    body = b"B" * 300000
    wire = (f"GET {upstream.url}/slow HTTP/1.1\r\nHost: {upstream.authority}\r\n\r\n"
            f"POST {upstream.url}/after HTTP/1.1\r\nHost: {upstream.authority}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    with RawConn(px.addr) as c:
        c.send(wire)
        both_answered(upstream, px, c, "/after", body)


def test_a_client_waiting_quietly_past_client_timeout_is_answered(upstream, proxy):
    # client_timeout limits an idle connection and a slow request, not a
    # client that sent its whole request and waits quietly: a response that
    # begins 2.5 s later, and one whose body trickles for 2.5 s, reach it
    # whole (client_timeout = 1s), and the connection then carries the next
    # request with its own answer.
    px = proxy(section("default", attempts=1, per_try_timeout="10s"),
               ONE_WORKER + "\nclient_timeout = 1s")
    upstream.script("/late", ["stall:2.5"])
    upstream.script("/trickle", ["slowbody:2000:800"])
    with RawConn(px.addr, timeout=10) as c:
        for path in ("/late", "/trickle", "/next"):
            c.send_request("GET", upstream.url + path, close=False)
            r = c.read_response()
            why = describe(upstream, px, r)
            assert r.status == 200 and r.complete, why
        assert r.body == b"status=200 hit=1\n", why
        assert not c.buf, f"bytes after the response: {bytes(c.buf)!r}"
    assert px.log_for("/trickle")["status"] == 200, describe(upstream, px)


def test_a_pooled_connection_outlives_the_body_timeout_of_its_last_response(upstream, proxy):
    # A response body that arrives over several reads is timed by
    # body_timeout (1 s here) on the upstream connection; once it is
    # whole, the connection idles in the pool with no read timeout: 1.6 s
    # later the next request rides it (one upstream connection), and so
    # does the one after a short response.
    px = proxy(section("default", body_timeout="1s", start_timeout="20ms"),
               ONE_WORKER)
    upstream.script("/trickle", ["slowbody:3000:6000"])
    r = request(px.addr, "GET", upstream.url + "/trickle")
    assert r.status == 200 and len(r.body) == 3000, describe(upstream, px, r)
    time.sleep(1.6)
    for path in ("/after-idle", "/after-that"):
        r = request(px.addr, "GET", upstream.url + path)
        assert r.status == 200 and r.body == b"status=200 hit=1\n", \
            describe(upstream, px, r)
    assert upstream.connections == 1, describe(upstream, px)


def test_a_pipelining_client_is_read_only_so_far_ahead(upstream, proxy):
    # While a request waits on a slow origin, what its client sends after
    # it (here the next request's 8 MiB body) is read only so far ahead
    # (256 KiB, then the kernel's buffers fill): the client cannot make the
    # proxy hold without bound.  Once the first is answered the second goes
    # on, its body reaching the origin byte for byte.
    px = proxy(section("default", start_timeout="20ms"), ONE_WORKER)
    upstream.script("/slow", ["stall:2"])
    body = bytes(range(256)) * (8 * 4096)
    wire = (f"GET {upstream.url}/slow HTTP/1.1\r\nHost: {upstream.authority}\r\n\r\n"
            f"POST {upstream.url}/sink HTTP/1.1\r\nHost: {upstream.authority}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    with RawConn(px.addr, timeout=10) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        c.sock.setblocking(False)
        sent, deadline = 0, time.monotonic() + 1.0
        while time.monotonic() < deadline and sent < len(wire):
            try:
                sent += c.sock.send(wire[sent:sent + 65536])
            except BlockingIOError:
                time.sleep(0.01)
        why = describe(upstream, px) + f"\naccepted {sent} of {len(wire)} bytes"
        # 256 KiB read ahead, plus the proxy's receive and our send buffers
        assert sent < 3 * 1024 * 1024, why
        c.sock.setblocking(True)
        c.send(wire[sent:])
        both_answered(upstream, px, c, "/sink", body)
