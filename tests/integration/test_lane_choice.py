"""[proxy] lane: which lane each request takes (retryproxy.ini(5), lane;
README "Two lanes").

The raw lane counts every request it carries in
retryproxy_raw_lane_requests_total; evhttp's lane does not.  With lane =
raw (the default) every request but CONNECT takes the raw lane, unless its
route sets hedge_after, retry_if_body or parent (evhttp's lane alone does
those); with lane = evhttp only what libevent cannot carry does.  Each
case ends with the next requests on the same worker getting their own
answers."""

import pytest

from clients import RawConn, build_request, request
from harness import daemon_factory, describe, section, unused_port_socket
from test_ops import OpsProxy, samples

ONE_WORKER = "workers = 1"


@pytest.fixture
def ops_proxy(upstream, make_upstream, tmp_path):
    yield from daemon_factory(OpsProxy, tmp_path, "lane")


def raw_count(px):
    return sum(v for _, v in samples(px.metrics(), "retryproxy_raw_lane_requests_total"))


def own(upstream, px, method, path, want_raw, tag):
    """method path gets its own answer; the raw lane counted it or not."""
    before = raw_count(px)
    upstream.script(path, ["200"])
    r = request(px.addr, method, upstream.url + path,
                body=b"x" * 100 if method == "POST" else None)
    why = describe(upstream, px, r) + f"\n{tag}"
    assert r.status == 200 and r.complete and r.body == b"status=200 hit=1\n", why
    assert raw_count(px) - before == (1 if want_raw else 0), why + \
        f"\nraw lane requests {before} -> {raw_count(px)}, want raw: {want_raw}"


def test_default_every_request_takes_the_raw_lane(upstream, ops_proxy):
    px = ops_proxy("", ONE_WORKER)
    for i, m in enumerate(["GET", "POST", "PUT", "DELETE", "PROPFIND", "GET"]):
        own(upstream, px, m, f"/d{i}", True, f"{m} with lane = raw")


def test_lane_evhttp_keeps_the_old_split(upstream, ops_proxy):
    px = ops_proxy("", ONE_WORKER + "\nlane = evhttp")
    own(upstream, px, "GET", "/e1", False, "GET with lane = evhttp")
    own(upstream, px, "POST", "/e2", False, "POST with lane = evhttp")
    own(upstream, px, "PROPFIND", "/e3", True, "PROPFIND: libevent does not know it")
    own(upstream, px, "GET", "/e4", False, "GET after a PROPFIND")


@pytest.mark.parametrize("key", ["hedge_after = 5s", "retry_if_body = NEVER-MATCHES"])
def test_a_route_that_needs_evhttp_takes_it_the_others_do_not(upstream, ops_proxy, key):
    # the route under /h/ hedges (or peeks at bodies): its GETs take
    # evhttp's lane; the rest of the same origin stays on the raw lane
    name, value = (s.strip() for s in key.split("="))
    px = ops_proxy(section(f"route {upstream.authority}/h/", **{name: value}), ONE_WORKER)
    own(upstream, px, "GET", "/h/1", False, f"GET under the {name} route")
    own(upstream, px, "GET", "/p/1", True, "GET elsewhere")
    own(upstream, px, "POST", "/h/2", False, f"POST under the {name} route")
    own(upstream, px, "PROPFIND", "/h/3", True, "PROPFIND under it: libevent cannot")
    own(upstream, px, "GET", "/p/2", True, "GET elsewhere, after")
    own(upstream, px, "GET", "/h/4", False, "GET under it, after")


@pytest.mark.parametrize("pipelined", [False, True], ids=["in-turn", "pipelined"])
def test_one_connection_moves_between_the_lanes(upstream, ops_proxy, pipelined):
    # Between its requests the raw lane keeps the client connection (evhttp
    # idle, front.c's own callbacks on it); a request for evhttp's lane
    # (under a hedging route) gives it back, and the next raw-lane request
    # takes it again.  On one keep-alive connection, one request at a time
    # and then all in one write, each gets its own answer, in order, on the
    # lane it belongs to, and nothing follows the last.
    px = ops_proxy(section(f"route {upstream.authority}/h/", hedge_after="5s"),
                   ONE_WORKER)
    order = [("/p/1", True), ("/h/1", False), ("/h/2", False), ("/p/2", True),
             ("/h/3", False), ("/p/3", True), ("/p/4", True)]
    for path, _ in order:
        upstream.script(path, [{"status": 200, "body": f"own {path}\n".encode()}])
    before = raw_count(px)
    with RawConn(px.addr, timeout=5) as c:
        if pipelined:
            c.send(b"".join(build_request("GET", upstream.url + p, close=False)
                            for p, _ in order))
        for path, _ in order:
            if not pipelined:
                c.send_request("GET", upstream.url + path, close=False)
            r = c.read_response()
            why = describe(upstream, px, r) + f"\nthe answer to {path}"
            assert r.status == 200 and r.complete, why
            assert r.body == f"own {path}\n".encode(), why
        assert not c.buf, f"bytes after the last response: {bytes(c.buf)!r}"
    for path, _ in order:
        assert upstream.count(path) == 1, describe(upstream, px)
    want = sum(1 for _, raw in order if raw)
    assert raw_count(px) - before == want, describe(upstream, px) + \
        f"\nraw lane requests {before} -> {raw_count(px)}, want +{want}"


@pytest.mark.parametrize("lane", ["raw", "evhttp"])
def test_our_reply_to_head_never_leaks_into_the_next_response(upstream, ops_proxy, lane):
    # Our own replies carry a body; an answer to HEAD may not (RFC 9110
    # section 9.3.2).  After a 502 to a HEAD the raw lane closes the
    # connection; evhttp's lane keeps it and sends the head alone
    # (libevent 2.1.12 would write the body after a head without
    # Content-Length: the next response began with "attempt to ...
    # failed").  Either way the next request on the connection, if it
    # stays, gets its own answer.
    sock = unused_port_socket()
    port = sock.getsockname()[1]
    px = ops_proxy(section("default", attempts=1), ONE_WORKER + f"\nlane = {lane}")
    with RawConn(px.addr, timeout=3) as c:
        c.send_request("HEAD", f"http://127.0.0.1:{port}/h", close=False)
        r = c.read_response("HEAD")
        why = describe(upstream, px, r) + f"\nlane {lane}"
        assert r.status == 502, why
        upstream.script("/after-head", ["200"])
        try:
            c.send_request("GET", upstream.url + "/after-head", close=False)
            r2 = c.read_response()
        except OSError:
            r2 = None
        if r2 is not None and r2.status:
            assert r2.status == 200 and r2.body == b"status=200 hit=1\n", \
                why + f"\nnext on the same connection: {r2!r}"
        else:
            assert lane == "raw", why + "\nevhttp's lane keeps it"
    sock.close()
