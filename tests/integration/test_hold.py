"""hold (retryproxy.ini(5)): after a 429 or 503 with Retry-After, the
origin (host:port) is left alone until then -- new requests wait
(hold = wait, within their deadline) or get the origin's status and the
time left at once (hold = fail) -- instead of each meeting a 429 of its
own.  One hold for the whole process: requests on every worker see it.
Every test also checks that the requests after it get their own answers
(the body names the path and hit).
"""
import concurrent.futures
import time

import pytest

from clients import RawConn, request
from harness import daemon_factory, describe, section
from test_ops import OpsProxy, samples


@pytest.fixture
def ops_proxy(upstream, make_upstream, tmp_path):
    yield from daemon_factory(OpsProxy, tmp_path, "hold")


def rate_limited(seconds):
    return {"status": 429, "headers": {"Retry-After": str(seconds)}}


def own_answer(r, hit=1):
    return r.status == 200 and r.complete and r.body == f"status=200 hit={hit}\n".encode()


def counts(px):
    m = px.metrics()
    held = {lbl["outcome"]: v for lbl, v in samples(m, "retryproxy_held_requests_total")}
    holds = [v for _, v in samples(m, "retryproxy_origin_holds_total")]
    return (holds[0] if holds else None), held


def test_wait_holds_every_worker_until_retry_after(upstream, ops_proxy):
    # attempts = 1: the 429 itself goes back to its client, so what the
    # origin sees afterwards is only the other requests
    px = ops_proxy(section("default", attempts=1, hold="wait"))
    upstream.script("/first", [rate_limited(2)])
    r = request(px.addr, "GET", upstream.url + "/first")
    t429 = upstream.hits("/first")[0].time
    assert r.status == 429 and r.header("retry-after") == "2", describe(upstream, px, r)
    # 20 clients at once, other paths of the same origin, both workers
    paths = [f"/held{i}" for i in range(20)]
    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        rs = list(ex.map(lambda p: request(px.addr, "GET", upstream.url + p, timeout=10),
                         paths))
    why = describe(upstream, px, rs[0])
    for p, r in zip(paths, rs):
        assert own_answer(r), f"{p}: {r.status} {r.body!r}\n{why}"
        hits = upstream.hits(p)
        assert len(hits) == 1, why
        # nothing reached the origin before the 2 s it asked for
        assert hits[0].head_time >= t429 + 1.9, \
            f"{p} reached the origin {hits[0].head_time - t429:.2f}s after the 429\n{why}"
        e = px.log_for(p)
        assert e["attempts"] == 1 and 1000 <= e.get("held_ms", 0) <= 2100, e
    holds, held = counts(px)
    assert holds == 1 and held == {"waited": 20, "answered": 0}, (holds, held)
    # after the hold, no wait: the next request on a connection is its own
    c = RawConn(px.addr)
    for p in ("/after1", "/after2"):
        c.send_request("GET", upstream.url + p, close=False)
        r = c.read_response()
        assert own_answer(r), describe(upstream, px, r)
        assert "held_ms" not in px.log_for(p)
    c.close()


def test_fail_answers_at_once_with_the_time_left(upstream, ops_proxy):
    px = ops_proxy(section("default", attempts=1, hold="fail"))
    upstream.script("/first", [rate_limited(3), "200"])
    r = request(px.addr, "GET", upstream.url + "/first")
    assert r.status == 429, describe(upstream, px, r)
    before = len(upstream.hits())
    c = RawConn(px.addr)
    c.send_request("GET", upstream.url + "/during", close=False)
    t0 = time.monotonic()
    r = c.read_response()
    why = describe(upstream, px, r)
    assert r.status == 429 and time.monotonic() - t0 < 0.5, why
    assert r.header("retry-after") in ("2", "3"), why
    assert 'details="origin held"' in r.header("proxy-status", ""), why
    assert b"answered 429 with Retry-After" in r.body, why
    assert len(upstream.hits()) == before, "a held origin was contacted\n" + why
    e = px.log_for("/during")
    assert e["status"] == 429 and e["attempts"] == 0 and e.get("error") == "origin_held", e
    # an extension method (the raw lane) is held the same way
    c2 = RawConn(px.addr)
    c2.send_request("PROPFIND", upstream.url + "/dav", headers={"Depth": "0"})
    r = c2.read_response()
    assert r.status == 429 and r.header("retry-after") in ("2", "3"), \
        describe(upstream, px, r)
    assert upstream.count("/dav") == 0
    c2.close()
    holds, held = counts(px)
    assert holds == 1 and held == {"waited": 0, "answered": 2}, (holds, held)
    # the connection of the held answer still serves; after the hold the
    # origin answers again
    time.sleep(3.1)
    c.send_request("GET", upstream.url + "/later", close=False)
    r = c.read_response()
    assert own_answer(r), describe(upstream, px, r)
    r = request(px.addr, "GET", upstream.url + "/first")
    assert own_answer(r, 2), describe(upstream, px, r)
    c.close()


def test_wait_past_the_deadline_is_answered(upstream, ops_proxy):
    px = ops_proxy(section("default", attempts=1, hold="wait", deadline="1s"))
    upstream.script("/first", [rate_limited(5)])
    assert request(px.addr, "GET", upstream.url + "/first").status == 429
    t0 = time.monotonic()
    r = request(px.addr, "POST", upstream.url + "/post", body=b"not sent")
    why = describe(upstream, px, r)
    assert r.status == 429 and time.monotonic() - t0 < 0.5, why
    assert r.header("retry-after") in ("4", "5"), why
    assert upstream.count("/post") == 0, why


def test_raw_lane_waits_too(upstream, ops_proxy):
    px = ops_proxy(section("default", attempts=1, hold="wait"))
    upstream.script("/first", [{"status": 503, "headers": {"Retry-After": "1"}}])
    assert request(px.addr, "GET", upstream.url + "/first").status == 503
    t503 = upstream.hits("/first")[0].time
    c = RawConn(px.addr)
    c.send_request("PROPFIND", upstream.url + "/dav", headers={"Depth": "1"},
                   body=b"<propfind/>")
    r = c.read_response()
    why = describe(upstream, px, r)
    assert own_answer(r), why
    hits = upstream.hits("/dav")
    assert len(hits) == 1 and hits[0].method == "PROPFIND" and hits[0].body == b"<propfind/>", why
    assert hits[0].head_time >= t503 + 0.9, why
    assert px.log_for("/dav").get("held_ms", 0) >= 500
    c.close()
    assert own_answer(request(px.addr, "GET", upstream.url + "/next")), describe(upstream, px)


def test_off_by_default_and_per_route(upstream, ops_proxy):
    # hold = off (the default): the 429 concerns its own request only
    px = ops_proxy(section("default", attempts=1))
    upstream.script("/first", [rate_limited(5)])
    assert request(px.addr, "GET", upstream.url + "/first").status == 429
    t0 = time.monotonic()
    r = request(px.addr, "GET", upstream.url + "/other")
    assert own_answer(r) and time.monotonic() - t0 < 0.5, describe(upstream, px, r)
    holds, held = counts(px)
    assert holds == 0 and held == {"waited": 0, "answered": 0}, (holds, held)


def test_a_retry_goes_after_its_own_hold(upstream, ops_proxy):
    # a request that may be retried waits its own Retry-After and goes:
    # the hold its answer started does not hold it again (a burst of such
    # answers being one hold is check_hold's)
    px = ops_proxy(section("default", attempts=2, hold="wait", statuses=429))
    upstream.script("/r", [rate_limited(1), "200"])
    r = request(px.addr, "GET", upstream.url + "/r", timeout=10)
    why = describe(upstream, px, r)
    assert own_answer(r, 2), why
    h = upstream.hits("/r")
    assert len(h) == 2 and 0.9 <= h[1].head_time - h[0].time <= 1.6, why
    e = px.log_for("/r")
    assert e["attempts"] == 2 and e["retries"] == ["429"], e
    holds, _ = counts(px)
    assert holds == 1, why
    assert own_answer(request(px.addr, "GET", upstream.url + "/next")), describe(upstream, px)


def test_rate_limit_reset_headers_hold_and_delay(upstream, ops_proxy):
    # no Retry-After: GitHub's X-RateLimit-Reset (a Unix time) holds the
    # origin when named, and the IETF draft's RateLimit-Reset (seconds)
    # delays the request's own retry
    px = ops_proxy(section("default", attempts=2, hold="wait", statuses=429,
                           retry_after_headers="X-RateLimit-Reset, RateLimit-Reset"))
    upstream.script("/gh", [{"status": 429, "headers": {
        "X-RateLimit-Reset": str(int(time.time()) + 2)}}, "200"])
    upstream.script("/ietf", [{"status": 429, "headers": {"RateLimit-Reset": "1"}}, "200"])
    r = request(px.addr, "GET", upstream.url + "/ietf", timeout=10)
    h = upstream.hits("/ietf")
    why = describe(upstream, px, r)
    assert own_answer(r, 2) and 0.9 <= h[1].head_time - h[0].time <= 1.6, why
    r = request(px.addr, "GET", upstream.url + "/gh", timeout=10)
    why = describe(upstream, px, r)
    h = upstream.hits("/gh")
    # a Unix time in whole seconds: 1..2 s from the 429
    assert own_answer(r, 2) and 0.9 <= h[1].head_time - h[0].time <= 2.6, why
    holds, _ = counts(px)
    assert holds == 2, why
    assert own_answer(request(px.addr, "GET", upstream.url + "/next")), describe(upstream, px)


def test_rate_limit_reset_headers_are_not_read_unless_named(upstream, ops_proxy):
    px = ops_proxy(section("default", attempts=2, hold="wait", statuses=429))
    upstream.script("/gh", [{"status": 429, "headers": {
        "X-RateLimit-Reset": str(int(time.time()) + 5)}}, "200"])
    t0 = time.monotonic()
    r = request(px.addr, "GET", upstream.url + "/gh", timeout=10)
    # retried on the ordinary schedule (100 ms), not after 5 s
    assert own_answer(r, 2) and time.monotonic() - t0 < 1.0, describe(upstream, px, r)
    holds, _ = counts(px)
    assert holds == 0
