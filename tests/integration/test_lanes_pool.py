"""The raw lane's upstream connections (README "Any request" and "Retry semantics"): kept for the
next request once a response was read to its exact end, as on evhttp's
lane.

- a raw-lane request (here WebDAV PROPFIND, RFC 4918 section 9.1) that may
  be re-sent (`methods = *`, or Idempotency-Key) rides a pooled
  keep-alive connection; the access log says `conn=reused` and
  retryproxy_raw_lane_reused_total counts it; the request upstream no
  longer says `Connection: close`;
- one that breaks before any response byte (the origin had closed it) is
  sent once more on a new connection, not counted as an attempt;
- a request that may not be re-sent (PROPFIND by default) rides one only
  while it is warm (`warm_reuse`): idle under half of the origin's
  Keep-Alive: timeout=; otherwise a new connection; on a warm one that
  breaks it is never sent twice (502);
- a connection is not kept after a response that ends with the
  connection, says `Connection: close`, comes from HTTP/1.0, or is
  followed by bytes it did not frame (a next request never reads them).

After every case the next requests on the same worker get their own
answers.  The daemon runs one worker, so the pool the requests meet is
the same one.
"""

import time

import pytest

from clients import RawConn, request
from harness import daemon_factory, section
from test_lanes import (BASE, PROPFIND_BODY, RstAfter, answer, chunked, explain,
                        multistatus, origin, own_body, response)  # noqa: F401 (origin: a fixture)
from test_ops import OpsProxy, samples


@pytest.fixture
def ops_proxy(upstream, make_upstream, tmp_path):
    yield from daemon_factory(OpsProxy, tmp_path, "rawpool")


def start(ops_proxy, **keys):
    return ops_proxy(BASE + (section("route 127.0.0.1", **keys) if keys else ""),
                     "workers = 1")


def propfind(px, origin, path, headers=()):
    return request(px.addr, "PROPFIND", origin.url + path,
                   headers=[("Depth", "1")] + list(headers), body=PROPFIND_BODY, timeout=5)


def dav_log(px, n, path=None):
    """The first n PROPFIND entries of the access log (on path), once
    written: a line is written when a request ends, which may be just
    after the client saw its response."""
    got = px.wait_log(lambda e: e.get("method") == "PROPFIND" and
                      (path is None or str(e.get("url", "")).endswith(path)), n=n)
    return got if n > 1 else [got]


def metric(px, name):
    return sum(v for _, v in samples(px.metrics(), name))


def warm(px):
    return {lbl["outcome"]: v for lbl, v in
            samples(px.metrics(), "retryproxy_warm_reuse_total")}


def own(r, method, path):
    return r.status in (200, 207) and r.complete and \
        (r.status != 200 or r.body == own_body(method, path))


def next_ones_own(px, origin, tag):
    """The next requests on the worker, both lanes, get their own answers."""
    for i in range(3):
        p = f"/{tag}-next{i}"
        r = request(px.addr, "GET", origin.url + p, timeout=5)
        assert r.status == 200 and r.body == own_body("GET", p), explain(origin, px, r)
        origin.script(f"/{tag}-dav{i}", answer)
        r = propfind(px, origin, f"/{tag}-dav{i}", [("Idempotency-Key", f"k{tag}{i}")])
        assert r.status == 200 and r.body == own_body("PROPFIND", f"/{tag}-dav{i}"), \
            explain(origin, px, r)


def test_resendable_requests_ride_one_connection(origin, ops_proxy):
    px = start(ops_proxy, methods="*")
    origin.script("/dav", multistatus)
    for i in range(4):
        # a new client connection each time: the pool is the worker's
        r = propfind(px, origin, "/dav")
        assert r.status == 207, explain(origin, px, r)
    why = explain(origin, px)
    hits = origin.hits("/dav")
    assert len(hits) == 4 and origin.connections == 1, why
    assert [q.conn_req for q in hits] == [1, 2, 3, 4], why
    assert all(q.body == PROPFIND_BODY for q in hits), why
    assert all("close" not in (q.header("Connection") or "").lower() for q in hits), why
    log = dav_log(px, 4)
    assert [e.get("conn") for e in log] == [None, "reused", "reused", "reused"], why
    assert all(e["attempts"] == 1 for e in log), why
    assert metric(px, "retryproxy_raw_lane_reused_total") == 3, why
    next_ones_own(px, origin, "r")


def test_idempotency_key_rides_a_pooled_connection(origin, ops_proxy):
    # PROPFIND is not in the default methods: with Idempotency-Key it may
    # be re-sent, so it takes any pooled connection, however idle
    px = start(ops_proxy)
    origin.script("/k", multistatus)
    assert propfind(px, origin, "/k", [("Idempotency-Key", "a")]).status == 207
    time.sleep(1.2)  # past half of the assumed 2 s: not warm, but re-sendable
    r = propfind(px, origin, "/k", [("Idempotency-Key", "b")])
    why = explain(origin, px, r)
    assert r.status == 207 and origin.connections == 1, why
    assert [e.get("conn") for e in dav_log(px, 2)] == [None, "reused"], why
    next_ones_own(px, origin, "k")


def test_stale_pooled_connection_resent_once_uncounted(origin, ops_proxy):
    px = start(ops_proxy, methods="*")
    # the second request's connection breaks as it arrives (the origin
    # "had closed it"): sent again on a new connection, one attempt
    origin.script("/s", multistatus, RstAfter(0), multistatus)
    assert propfind(px, origin, "/s").status == 207
    r = propfind(px, origin, "/s")
    why = explain(origin, px, r)
    assert r.status == 207, why
    hits = origin.hits("/s")
    assert len(hits) == 3 and origin.connections == 2, why
    assert hits[1].conn_id == hits[0].conn_id and hits[2].conn_id != hits[0].conn_id, why
    assert hits[2].body == PROPFIND_BODY, why
    e = dav_log(px, 2)[-1]
    assert e["status"] == 207 and e["attempts"] == 1 and not e.get("retries"), why
    next_ones_own(px, origin, "s")


def test_not_resendable_rides_only_warm(origin, ops_proxy):
    # PROPFIND without a key may not be re-sent: a pooled connection only
    # while idle under half of Keep-Alive: timeout=1 (500 ms)
    px = start(ops_proxy)
    ka = response(200, headers=[("Keep-Alive", "timeout=1")], body=b"ka\n")
    origin.script("/w", ka)
    assert propfind(px, origin, "/w").status == 200
    r = propfind(px, origin, "/w")  # at once: warm
    why = explain(origin, px, r)
    assert r.status == 200 and origin.connections == 1, why
    time.sleep(0.7)  # over half of 1 s: too idle
    r = propfind(px, origin, "/w")
    why = explain(origin, px, r)
    assert r.status == 200 and origin.connections == 2, why
    log = [e.get("conn") for e in dav_log(px, 3)]
    assert log == [None, "warm", None], why
    w = warm(px)
    assert w["reused"] == 1 and w["too_idle"] == 1, (w, why)
    next_ones_own(px, origin, "w")


def test_warm_reuse_no_gives_what_may_not_be_resent_its_own_connection(origin, ops_proxy):
    # warm_reuse = no: a PROPFIND without a key (not re-sendable) always
    # opens a new connection, however warm the pooled one; one with a key
    # still rides it
    px = start(ops_proxy, warm_reuse="no")
    origin.script("/n", answer)
    for i in range(3):
        r = propfind(px, origin, "/n")
        assert r.status == 200 and r.body == own_body("PROPFIND", "/n"), \
            explain(origin, px, r)
    why = explain(origin, px)
    assert origin.connections == 3, why
    assert [e.get("conn") for e in dav_log(px, 3)] == [None, None, None], why
    r = propfind(px, origin, "/n", [("Idempotency-Key", "k1")])
    why = explain(origin, px, r)
    assert r.status == 200 and origin.connections == 3, why
    assert dav_log(px, 4)[-1].get("conn") == "reused", why
    assert warm(px).get("reused", 0) == 0, why
    next_ones_own(px, origin, "wn")


def test_not_resendable_on_a_warm_connection_that_breaks_is_not_resent(origin, ops_proxy):
    px = start(ops_proxy)
    origin.script("/b", answer, RstAfter(0), answer)
    assert propfind(px, origin, "/b").status == 200
    r = propfind(px, origin, "/b")
    why = explain(origin, px, r)
    assert r.status == 502, why
    assert origin.count("/b") == 2, "a request that may not be re-sent went twice\n" + why
    e = dav_log(px, 2)[-1]
    assert e["status"] == 502 and e.get("conn") == "warm", why
    next_ones_own(px, origin, "b")


NOT_KEPT = {
    # name: the origin's answer to the first request
    "ends_with_connection": [b"HTTP/1.1 200 OK\r\n\r\nuntil the end\n", "close"],
    "connection_close": response(200, headers=[("Connection", "close")], body=b"bye\n"),
    "http10": b"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nold\n",
    "bytes_after_the_response": response(200, body=b"ok\n") +
    b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nsmuggled\n",
}


@pytest.mark.parametrize("case", list(NOT_KEPT))
def test_connection_not_kept(case, origin, ops_proxy):
    px = start(ops_proxy, methods="*")
    origin.script("/n", NOT_KEPT[case], answer)
    r = propfind(px, origin, "/n")
    why = explain(origin, px, r)
    assert r.status == 200, why
    assert b"smuggled" not in r.body, why
    # the next request: a new connection, its own answer (never the
    # bytes that followed the first response)
    r = propfind(px, origin, "/n")
    why = explain(origin, px, r)
    assert r.status == 200 and r.body == own_body("PROPFIND", "/n"), why
    hits = origin.hits("/n")
    assert len(hits) == 2 and hits[1].conn_id != hits[0].conn_id, why
    assert metric(px, "retryproxy_raw_lane_reused_total") == 0, why
    next_ones_own(px, origin, "n" + case[:3])


@pytest.mark.parametrize("delay", [0.05, 0.3])
def test_stray_bytes_while_idle_never_reach_the_next_request(delay, origin, ops_proxy):
    # an origin that writes a whole second response into the idle
    # connection some time after the first: the pool drops the connection
    # (its idle watch, or the peek before reuse), and the next request is
    # answered on a new connection with its own answer, never the stray
    # one
    px = start(ops_proxy, methods="*")
    stray = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nsmuggled\n"
    origin.script("/x", [response(200, body=b"first\n"), delay, stray], answer)
    r = propfind(px, origin, "/x")
    assert r.status == 200 and r.body == b"first\n", explain(origin, px, r)
    # (the origin has written the stray response: its step is done)
    assert origin.wait_done("/x", 1, timeout=5), explain(origin, px)
    for i in range(3):
        r = propfind(px, origin, "/x")
        why = explain(origin, px, r)
        assert r.status == 200 and r.body == own_body("PROPFIND", "/x"), why
    hits = origin.hits("/x")
    assert hits[1].conn_id != hits[0].conn_id, explain(origin, px)
    next_ones_own(px, origin, f"y{int(delay * 100)}")


def test_chunked_response_kept_and_next_own(origin, ops_proxy):
    px = start(ops_proxy, methods="*")
    body = b"".join(b"%05d," % i for i in range(3000))
    origin.script("/c", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                  chunked(body, 777), answer)
    c = RawConn(px.addr, timeout=5)
    c.send_request("PROPFIND", origin.url + "/c", [("Depth", "1")], PROPFIND_BODY, close=False)
    r = c.read_response("PROPFIND")
    why = explain(origin, px, r)
    assert r.status == 200 and r.body == body, why
    c.send_request("PROPFIND", origin.url + "/c", [("Depth", "1")], PROPFIND_BODY, close=False)
    r = c.read_response("PROPFIND")
    why = explain(origin, px, r)
    assert r.status == 200 and r.body == own_body("PROPFIND", "/c"), why
    hits = origin.hits("/c")
    assert hits[1].conn_id == hits[0].conn_id, why
    c.close()
    next_ones_own(px, origin, "c")


def test_idle_pooled_connection_closed_by_origin_is_dropped(origin, ops_proxy):
    # the origin closes the idle connection: the pool drops it at once (no
    # stale send, no re-send), the next request opens a new one
    px = start(ops_proxy, methods="*")
    origin.script("/i", [response(200, body=b"a\n"), 0.2, "close"], answer)
    assert propfind(px, origin, "/i").status == 200
    assert origin.wait_closed_all(3), explain(origin, px)
    r = propfind(px, origin, "/i")
    why = explain(origin, px, r)
    assert r.status == 200 and r.body == own_body("PROPFIND", "/i"), why
    assert origin.count("/i") == 2 and origin.connections == 2, why
    e = dav_log(px, 2)[-1]
    assert e.get("conn") is None and e["attempts"] == 1, why
    next_ones_own(px, origin, "i")
