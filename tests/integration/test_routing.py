"""Connection refused, a listener that appears late, fallbacks, IPv6 origin."""

import threading

import pytest

from clients import request
from harness import describe, section, unused_port_socket


def test_connection_refused_502(upstream, proxy):
    dead = unused_port_socket()  # bound, never listening: connects are refused
    port = dead.getsockname()[1]
    try:
        px = proxy(section(f"route 127.0.0.1:{port}", attempts=3, start_timeout="50ms"))
        r = request(px.addr, "GET", f"http://127.0.0.1:{port}/x")
        why = describe(upstream, px, r)
        assert r.status == 502, why
        assert "error=connection_refused" in (r.header("Proxy-Status") or ""), why
        e = px.log_for("/x")
        assert e["attempts"] == 3 and e["retries"] == ["refused", "refused"], why
        # Nothing was sent, so even a POST is retried on a connect failure.
        r = request(px.addr, "POST", f"http://127.0.0.1:{port}/p", body=b"x=1")
        assert r.status == 502, describe(upstream, px, r)
        assert px.log_for("/p")["attempts"] == 3, describe(upstream, px, r)
    finally:
        dead.close()


def test_listener_started_300ms_later(upstream, proxy, make_upstream):
    late = make_upstream(start=False)  # port bound now, listening only later
    late.script("/x", ["200"])
    px = proxy(section(f"route {late.authority}", attempts=5, start_timeout="200ms"))
    timer = threading.Timer(0.3, late.start)
    timer.start()
    try:
        r = request(px.addr, "GET", late.url + "/x")
    finally:
        timer.join()
    why = describe(late, px, r)
    # attempts at ~0, 200 (refused), 600 ms (listening since 300 ms)
    assert r.status == 200 and late.count("/x") == 1, why
    assert 0.55 <= r.elapsed <= 0.9, f"elapsed {r.elapsed:.3f}\n{why}"
    e = px.log_for("/x")
    assert e["attempts"] == 3 and e["retries"] == ["refused", "refused"], why


def test_fallback_gets_attempt_2(upstream, proxy, make_upstream):
    other = make_upstream()
    upstream.script("/fb/p", ["503"])
    other.script("/fb/p", ["200"])
    px = proxy(section(f"route {upstream.authority}", attempts=3, start_timeout="50ms",
                       fallbacks=other.url))
    r = request(px.addr, "GET", upstream.url + "/fb/p?x=1&y=two")
    why = describe([upstream, other], px, r)
    assert r.status == 200 and r.body == b"status=200 hit=1\n", why
    assert upstream.count("/fb/p") == 1 and other.count("/fb/p") == 1, why
    h = other.hits("/fb/p")[0]
    assert h.path == "/fb/p" and h.query == "x=1&y=two", why
    assert h.header("Host") == other.authority, why
    assert upstream.hits("/fb/p")[0].header("Host") == upstream.authority, why


def test_fallback_last_repeats(upstream, proxy, make_upstream):
    other = make_upstream()
    upstream.script("/fb", ["503"])
    other.script("/fb", ["503"])
    px = proxy(section(f"route {upstream.authority}", attempts=3, start_timeout="50ms",
                       fallbacks=other.url))
    r = request(px.addr, "GET", upstream.url + "/fb")
    why = describe([upstream, other], px, r)
    assert r.status == 503, why
    assert upstream.count("/fb") == 1 and other.count("/fb") == 2, why


def test_route_beats_default(upstream, proxy, make_upstream):
    other = make_upstream()
    upstream.script("/r", ["500"])
    other.script("/r", ["500"])
    px = proxy(section("default", attempts=1) +
               section(f"route {upstream.authority}", attempts=3, start_timeout="20ms"))
    r1 = request(px.addr, "GET", upstream.url + "/r")
    r2 = request(px.addr, "GET", other.url + "/r")
    why = describe([upstream, other], px, r2)
    assert r1.status == 500 and r2.status == 500, why
    assert upstream.count("/r") == 3 and other.count("/r") == 1, why
    e = px.log_for(upstream.url + "/r")
    assert upstream.authority in str(e.get("route")), f"route field {e.get('route')!r}\n{why}"


def test_ipv6_origin(upstream, proxy, make_upstream):
    try:
        up6 = make_upstream("::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    up6.script("/six", ["503", "200"])
    px = proxy(section("default", start_timeout="20ms"))
    r = request(px.addr, "GET", up6.url + "/six")
    assert r.status == 200 and up6.count("/six") == 2, describe(up6, px, r)
