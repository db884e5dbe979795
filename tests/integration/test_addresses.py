"""Another address on retry (retryproxy.ini(5) ADDRESSES): two.test
resolves to 127.0.0.1 and 127.0.0.2 (dnsserver.py, in that order); the
origin listens on 127.0.0.2 only, and the same port on 127.0.0.1 is bound
but never listened on, so a connect there is refused.  A request that
meets the refusal succeeds on its first retry, at the other address; the
refusing address is then marked, and new requests from the worker go
straight to the other one until the mark ends (avoid_failed_address).
Every lane does it (evhttp's with its pool, the raw lane, CONNECT); a reset
moves the retry on without marking; pooled connections follow the rules
of the README's "Another address on retry"; a name whose every address
refuses still gets its attempts.

One worker, so that the marks the requests meet are the same ones.
Timing: the marks are checked against the test's own clock, which the
daemon shares (CLOCK_MONOTONIC): a request is only held to "marked" when
it was answered before the earliest moment the mark could end, and to
"over" when it was sent after the latest.
"""

import socket
import threading
import time

import pytest

from clients import RawConn, request
from harness import daemon_factory, describe, section
from test_ops import OpsProxy, samples

ONE_WORKER = "workers = 1"
MARK = 2.0  # avoid_failed_address in the tests that time it
SLACK = 0.05  # the daemon's clock is read in whole milliseconds


@pytest.fixture
def split(make_upstream):
    """The origin on 127.0.0.2 and a refusing 127.0.0.1 at its port."""
    for _ in range(20):
        up = make_upstream(host="127.0.0.2", name="good")
        hole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            hole.bind(("127.0.0.1", up.port))  # never listened on
        except OSError:
            hole.close()
            continue  # (someone has that port on 127.0.0.1: another one)
        yield up
        hole.close()
        return
    pytest.skip("no port free on both 127.0.0.1 and 127.0.0.2")


@pytest.fixture
def ops_proxy(upstream, make_upstream, tmp_path):
    yield from daemon_factory(OpsProxy, tmp_path, "addr")


def addrs(entry):
    return entry.get("addrs", [])


def own_answer(r, path):
    """The scripted origin's body names the status and the hit."""
    return r.status == 200 and r.complete and r.body.startswith(b"status=200 hit=")


def counter(px, name):
    return sum(v for _, v in samples(px.metrics(), name))


def test_refusing_address_is_avoided_while_marked(dns, split, ops_proxy):
    # POSTs without Idempotency-Key and warm_reuse = no: each request opens
    # a connection of its own, so each one picks an address.  A connect
    # failure sent nothing: the POST is retried all the same.
    px = ops_proxy(section("default", start_timeout="10ms", warm_reuse="no"),
                   f"{ONE_WORKER}\navoid_failed_address = {MARK:g}s")
    good = f"127.0.0.2:{split.port}"
    bad = f"127.0.0.1:{split.port}"
    url = f"http://two.test:{split.port}"

    t_sent = time.monotonic()
    r = request(px.addr, "POST", url + "/a0", body=b"zero")
    t_answered = time.monotonic()
    e = px.log_for("/a0")
    why = describe(split, px, r)
    assert own_answer(r, "/a0"), why
    assert e["attempts"] == 2 and e["retries"] == ["refused"], why
    assert addrs(e) == [bad, good], why
    # the mark ends somewhere in [t_sent + MARK, t_answered + MARK]
    earliest_end, latest_end = t_sent + MARK, t_answered + MARK

    marked = 0
    for i in range(1, 6):
        r = request(px.addr, "POST", url + f"/a{i}", body=b"p%d" % i)
        done = time.monotonic()
        e = px.log_for(f"/a{i}")
        why = describe(split, px, r)
        assert own_answer(r, f"/a{i}"), why
        if done < earliest_end - SLACK:
            marked += 1
            assert e["attempts"] == 1 and addrs(e) == [good], why
        else:  # (a slow machine: either is right)
            assert addrs(e) in ([good], [bad, good]), why
    assert marked > 0, "every request came after the mark could have ended"
    m = px.metrics()
    assert counter(px, "retryproxy_upstream_address_marks_total") >= 1, m
    assert counter(px, "retryproxy_upstream_addresses_avoided_total") >= marked

    # once the mark is over, the refusing address is tried again (first,
    # the resolver's order), and refuses again: marked again
    time.sleep(max(0.0, latest_end + SLACK - time.monotonic()))
    r = request(px.addr, "POST", url + "/late", body=b"late")
    e = px.log_for("/late")
    why = describe(split, px, r)
    assert own_answer(r, "/late"), why
    assert e["attempts"] == 2 and addrs(e) == [bad, good], why
    # every POST reached the origin exactly once
    for p in ["/a%d" % i for i in range(6)] + ["/late"]:
        assert split.count(p) == 1, why


def test_get_moves_on_and_the_connection_goes_on(dns, split, proxy):
    # The evhttp lane with its pool: the first GET meets the refusal and
    # succeeds on its first retry; the next request on the same client
    # connection gets its own answer (from the pooled connection, or a
    # new one to the good address), never the first one's.
    px = proxy(section("default", start_timeout="10ms"), ONE_WORKER)
    good = f"127.0.0.2:{split.port}"
    url = f"http://two.test:{split.port}"
    split.script("/g2", [{"status": 200, "body": b"second"}])
    with RawConn(px.addr) as c:
        c.send_request("GET", url + "/g1", close=False)
        r1 = c.read_response()
        c.send_request("GET", url + "/g2", close=False)
        r2 = c.read_response()
    why = describe(split, px, r2)
    assert own_answer(r1, "/g1") and r1.body == b"status=200 hit=1\n", why
    assert r2.status == 200 and r2.body == b"second", why
    e1, e2 = px.log_for("/g1"), px.log_for("/g2")
    assert e1["attempts"] == 2 and e1["retries"] == ["refused"], why
    assert addrs(e1) == [f"127.0.0.1:{split.port}", good], why
    assert e2["attempts"] == 1 and addrs(e2) == [good], why
    assert split.count("/g1") == 1 and split.count("/g2") == 1, why


def pair(make_upstream):
    """Two origins on one port: 127.0.0.1 (first) and 127.0.0.2."""
    for _ in range(20):
        first = make_upstream(host="127.0.0.1", name="first")
        try:
            second = make_upstream(host="127.0.0.2", name="second",
                                   port=first.port)
        except OSError:
            continue  # (someone has that port on 127.0.0.2: another one)
        return first, second
    pytest.skip("no port free on both 127.0.0.1 and 127.0.0.2")


def test_reset_moves_on_without_marking(dns, make_upstream, ops_proxy):
    # Both addresses listen; the first resets the request after reading
    # it.  The GET (re-sendable) is retried at the other address, and the
    # reset marks nothing (the request, not the machine, is the likely
    # cause): a new connection goes to the first address again.
    first, second = pair(make_upstream)
    px = ops_proxy(section("default", start_timeout="10ms", attempts=2,
                           warm_reuse="no"), ONE_WORKER)
    url = f"http://two.test:{first.port}"
    a1, a2 = f"127.0.0.1:{first.port}", f"127.0.0.2:{first.port}"
    first.script("/r", ["reset"])
    second.script("/r", [{"status": 200, "body": b"from the second"}])
    r = request(px.addr, "GET", url + "/r")
    e = px.log_for("/r")
    why = describe([first, second], px, r)
    assert r.status == 200 and r.body == b"from the second", why
    assert e["attempts"] == 2 and e["retries"] == ["reset"], why
    assert addrs(e) == [a1, a2], why
    assert counter(px, "retryproxy_upstream_address_marks_total") == 0
    # a POST (warm_reuse = no: a connection of its own) picks afresh
    first.script("/n", [{"status": 200, "body": b"from the first"}])
    r = request(px.addr, "POST", url + "/n", body=b"n")
    e = px.log_for("/n")
    why = describe([first, second], px, r)
    assert r.status == 200 and r.body == b"from the first", why
    assert e["attempts"] == 1 and addrs(e) == [a1], why


def closed_in_pool(px, first, second, n):
    """n GETs at once to two.test go to 127.0.0.1 (the resolver's first),
    which answers each with "Connection: close": n pooled connections that
    evhttp would connect to 127.0.0.1 again.  Then 127.0.0.1 stops
    listening (a socket bound to the port keeps it refusing)."""
    url = f"http://two.test:{first.port}"
    first.script("/s", [{"status": 200, "delay": 0.5,
                         "headers": {"Connection": "close"}}])
    out = {}
    threads = [threading.Thread(
        target=lambda i=i: out.__setitem__(i, request(
            px.addr, "GET", url + f"/s?{i}")))
        for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    why = describe([first, second], px)
    assert [out[i].status for i in range(n)] == [200] * n, why
    assert first.connections == n, why
    first.stop()
    hole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        hole.bind(("127.0.0.1", first.port))
    except OSError:
        pass  # (nobody listens there either way)
    return hole


@pytest.mark.parametrize("mark", ["10s", "0"])
def test_pooled_connection_to_refusing_address(dns, make_upstream, proxy,
                                               mark):
    # The pool is keyed by origin, not by address.  A GET rides a pooled
    # connection the origin had closed; evhttp connects it to 127.0.0.1
    # again: refused, which marks the address, and the retry skips the
    # other such connection (its address failed for this request; marked
    # too, unless avoid_failed_address = 0) and connects to 127.0.0.2.
    first, second = pair(make_upstream)
    px = proxy(section("default", start_timeout="10ms"),
               f"{ONE_WORKER}\navoid_failed_address = {mark}")
    url = f"http://two.test:{first.port}"
    a1, a2 = f"127.0.0.1:{first.port}", f"127.0.0.2:{first.port}"
    hole = closed_in_pool(px, first, second, 2)
    try:
        second.script("/c", [{"status": 200, "body": b"second"}])
        r = request(px.addr, "GET", url + "/c?1")
        e = px.log_for("/c?1")
        why = describe([first, second], px, r)
        assert r.status == 200 and r.body == b"second", why
        assert e["attempts"] == 2 and e["retries"] == ["refused"], why
        assert addrs(e) == [a1, a2], why
        assert second.connections == 1, why
    finally:
        hole.close()


def test_closed_pooled_connection_to_marked_address(dns, make_upstream,
                                                     proxy):
    # A pooled connection the origin closed is not used while its address
    # is marked (it would connect there again): a PROPFIND (the raw lane)
    # meets the refusal and marks 127.0.0.1; the GET after it leaves the
    # closed connection in the pool and opens one to 127.0.0.2 at its
    # first attempt.  evhttp's pool keeps connections the origin closed
    # (bound to their address), so the GET takes evhttp's lane (lane =
    # evhttp); the raw lane's pool never keeps a closed one.
    first, second = pair(make_upstream)
    px = proxy(section("default", start_timeout="10ms"),
               ONE_WORKER + "\nlane = evhttp")
    url = f"http://two.test:{first.port}"
    a1, a2 = f"127.0.0.1:{first.port}", f"127.0.0.2:{first.port}"
    hole = closed_in_pool(px, first, second, 1)
    try:
        r = request(px.addr, "PROPFIND", url + "/m")
        e = px.log_for("/m")
        why = describe([first, second], px, r)
        assert r.status == 200 and addrs(e) == [a1, a2], why
        second.script("/c", [{"status": 200, "body": b"second"}])
        r = request(px.addr, "GET", url + "/c")
        e = px.log_for("/c")
        why = describe([first, second], px, r)
        assert r.status == 200 and r.body == b"second", why
        assert e["attempts"] == 1 and addrs(e) == [a2], why
        assert "conn" not in e and second.connections == 2, why
    finally:
        hole.close()


def test_one_address_retry_rides_the_pool(upstream, proxy):
    # With one address there is nowhere else to go: a retry after a
    # failure there may ride a pooled connection, as before (a new one to
    # the same address would only cost a handshake).  Two GETs at once
    # leave two pooled connections; the next GET takes one and is reset
    # (a stale keep-alive connection: re-sent on a new one, uncounted),
    # reset again (counted), and its retry rides the other pooled one.
    px = proxy(section("default", start_timeout="10ms"), ONE_WORKER)
    upstream.script("/w", [{"status": 200, "delay": 0.5}])
    out = {}
    threads = [threading.Thread(
        target=lambda i=i: out.__setitem__(i, request(
            px.addr, "GET", upstream.url + f"/w?{i}")))
        for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    why = describe(upstream, px)
    assert [out[i].status for i in range(2)] == [200, 200], why
    assert upstream.connections == 2, why
    upstream.script("/r", ["reset", "reset", "200"])
    r = request(px.addr, "GET", upstream.url + "/r")
    e = px.log_for("/r")
    why = describe(upstream, px, r)
    assert own_answer(r, "/r") and e["attempts"] == 2, why
    assert e["retries"] == ["reset"] and e.get("conn") == "reused", why
    assert upstream.connections == 3, why


def test_connect_moves_on(dns, split, proxy):
    # CONNECT's own attempt loop (tunnel.c on dial.c): the refusal, then
    # the tunnel to the other address, which carries a request.
    px = proxy(section("default", start_timeout="10ms"),
               f"{ONE_WORKER}\nconnect_ports = {split.port}")
    auth = f"two.test:{split.port}"
    with RawConn(px.addr) as c:
        c.send(f"CONNECT {auth} HTTP/1.1\r\nHost: {auth}\r\n\r\n".encode())
        head = c.read_head("CONNECT")
        assert head.status == 200, describe(split, px, head)
        c.send(f"GET /t HTTP/1.1\r\nHost: {auth}\r\n"
               "Connection: close\r\n\r\n".encode())
        r = c.read_response()
        assert own_answer(r, "/t"), describe(split, px, r)
    e = px.wait_log(lambda e: e.get("method") == "CONNECT")
    why = describe(split, px)
    assert e["attempts"] == 2 and e["retries"] == ["refused"], why
    assert addrs(e) == [f"127.0.0.1:{split.port}",
                        f"127.0.0.2:{split.port}"], why
    # the next CONNECT goes straight to the good address (marked: 10 s)
    with RawConn(px.addr) as c:
        c.send(f"CONNECT {auth} HTTP/1.1\r\nHost: {auth}\r\n\r\n".encode())
        assert c.read_head("CONNECT").status == 200
    es = px.wait_log(lambda e: e.get("method") == "CONNECT", n=2)
    assert es[1]["attempts"] == 1, describe(split, px)
    assert addrs(es[1]) == [f"127.0.0.2:{split.port}"], describe(split, px)


def test_raw_lane_moves_on(dns, split, proxy):
    # The raw lane (relay.c on dial.c): an extension method, on a client
    # connection that goes on with a GET afterwards.
    px = proxy(section("default", start_timeout="10ms"), ONE_WORKER)
    url = f"http://two.test:{split.port}"
    split.script("/p2", [{"status": 207, "body": b"second"}])
    with RawConn(px.addr) as c:
        c.send_request("PROPFIND", url + "/p1", close=False)
        r1 = c.read_response()
        c.send_request("PROPFIND", url + "/p2", close=False)
        r2 = c.read_response()
        c.send_request("GET", url + "/p3", close=False)
        r3 = c.read_response()
    why = describe(split, px, r3)
    assert own_answer(r1, "/p1"), why
    assert r2.status == 207 and r2.body == b"second", why
    assert own_answer(r3, "/p3"), why
    e1, e2 = px.log_for("/p1"), px.log_for("/p2")
    assert e1["attempts"] == 2 and e1["retries"] == ["refused"], why
    assert addrs(e1) == [f"127.0.0.1:{split.port}",
                         f"127.0.0.2:{split.port}"], why
    # the raw lane's connection is its own: the second one picked again,
    # and the mark sent it straight to the good address
    assert e2["attempts"] == 1, why
    assert addrs(e2) == [f"127.0.0.2:{split.port}"], why


def test_every_address_marked_still_answers(dns, make_upstream, proxy):
    # Nothing listens at either address: both refuse and are marked.  A
    # request then still goes somewhere (the mark that ends first) and
    # gets the 502 of its attempts, never a refusal of our own.
    holes = []
    for _ in range(20):
        a = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        a.bind(("127.0.0.1", 0))
        port = a.getsockname()[1]
        b = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            b.bind(("127.0.0.2", port))
        except OSError:
            a.close()
            b.close()
            continue
        holes = [a, b]
        break
    if not holes:
        pytest.skip("no port free on both 127.0.0.1 and 127.0.0.2")
    try:
        px = proxy(section("default", start_timeout="10ms", attempts=3),
                   ONE_WORKER)
        url = f"http://two.test:{port}"
        r = request(px.addr, "GET", url + "/x1")
        e = px.log_for("/x1")
        why = describe(proxy=px, response=r)
        assert r.status == 502 and "connection_refused" in r.header(
            "Proxy-Status"), why
        a1, a2 = f"127.0.0.1:{port}", f"127.0.0.2:{port}"
        # both tried, then round again: the one marked first
        assert addrs(e) == [a1, a2, a1], why
        r = request(px.addr, "GET", url + "/x2")
        e = px.log_for("/x2")
        why = describe(proxy=px, response=r)
        assert r.status == 502 and e["attempts"] == 3, why
        # all marked: the mark that ends first (a2's, re-marked before
        # a1's last refusal), then the other, then round again
        assert addrs(e) == [a2, a1, a2], why
    finally:
        for s in holes:
            s.close()
