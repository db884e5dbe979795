"""Bodies streamed through the proxy: size, memory, truncation, disconnects."""

import hashlib
import time

import pytest

from clients import RawConn, request
from harness import describe, section
from upstream import pattern_bytes, pattern_sha256

# every test on both lanes ([proxy] lane = raw and evhttp: conftest.py)
pytestmark = pytest.mark.usefixtures("both_lanes")

MiB = 1024 * 1024
BIG = 209715200            # 200 MiB
RSS_LIMIT = 64 * MiB


def _check_rss(px, why=""):
    if px.sanitized():
        return  # ASan's shadow memory says nothing about our buffering
    hwm = px.vmhwm()
    assert hwm < RSS_LIMIT, f"daemon VmHWM {hwm / MiB:.1f} MiB >= 64 MiB\n{why}"


@pytest.mark.parametrize("step,n", [
    ("nolen:300000", 300000),
    ("chunked:300000", 300000),
    ("slowbody:50000:250000", 50000),
])
def test_body_framings_pass_through(upstream, proxy, step, n):
    px = proxy(section("default", start_timeout="20ms"))
    upstream.script("/b", [step])
    r = request(px.addr, "GET", upstream.url + "/b")
    why = describe(upstream, px, r)
    assert r.status == 200 and r.complete, why
    assert r.body == pattern_bytes(n), why


def test_big_download_all_bytes_bounded_memory(upstream, proxy):
    px = proxy(section("default", start_timeout="20ms"))
    upstream.script("/big", [f"big:{BIG}"])
    h = hashlib.sha256()
    total = 0
    with RawConn(px.addr, timeout=20) as c:
        c.send_request("GET", upstream.url + "/big")
        r = c.read_head()
        assert r.status == 200, describe(upstream, px, r)
        for piece in c.body_iter(r, chunk=1 << 20):
            h.update(piece)
            total += len(piece)
    why = describe(upstream, px, r) + f"\nreceived {total} bytes"
    assert r.complete and total == BIG, why
    assert h.hexdigest() == pattern_sha256(BIG), why
    assert upstream.count("/big") == 1, why
    _check_rss(px, why)
    e = px.log_for("/big")
    assert e["status"] == 200 and e["bytes"] >= BIG, why


def test_big_download_slow_reader_bounded_memory(upstream, proxy):
    px = proxy(section("default", start_timeout="20ms"))
    upstream.script("/big", [f"big:{BIG}"])
    rate = 1 * MiB
    c = RawConn(px.addr, timeout=10, rcvbuf=64 * 1024)
    try:
        c.send_request("GET", upstream.url + "/big")
        r = c.read_head()
        assert r.status == 200, describe(upstream, px, r)
        t0 = time.monotonic()
        got = 0
        it = c.body_iter(r, chunk=64 * 1024)
        while time.monotonic() - t0 < 3.0:
            got += len(next(it))
            ahead = got / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)  # pacing the reader, not waiting for an event
        why = describe(upstream, px, r) + f"\nread {got} bytes in 3 s"
        assert got >= 2 * MiB, why
        _check_rss(px, why)
    finally:
        c.close()
    # The daemon survives the client leaving mid-body and still serves.
    r2 = request(px.addr, "GET", upstream.url + "/after")
    why = describe(upstream, px, r2)
    assert r2.status == 200, why
    _check_rss(px, why)


def test_breakmid_truncates_never_retries(upstream, proxy):
    px = proxy(section("default", start_timeout="20ms"))
    n = 100000
    upstream.script("/bm", [f"breakmid:{n}", "200"])
    r = request(px.addr, "GET", upstream.url + "/bm")
    why = describe(upstream, px, r)
    assert r.status == 200 and r.content_length == 2 * n, why
    assert not r.complete, why           # closed before Content-Length was reached
    assert len(r.body) <= n, why
    assert r.body == pattern_bytes(len(r.body)), "spliced body\n" + why
    assert upstream.count("/bm") == 1, why
    assert not upstream.wait_hits("/bm", 2, 0.3), why


def test_client_reset_during_backoff_stops_retries(upstream, proxy):
    # A reset is a client plainly gone (a FIN may be a half-close: see
    # test_client_framing.py).
    px = proxy(section("default", start_timeout="2s", attempts=3))
    upstream.script("/d", ["503"])
    c = RawConn(px.addr)
    c.send_request("GET", upstream.url + "/d")
    assert upstream.wait_hits("/d", 1, 5), describe(upstream, px)
    assert upstream.wait_responded("/d", 1, 5), describe(upstream, px)
    c.abort()
    assert not upstream.wait_hits("/d", 2, 2.5), describe(upstream, px)
    assert px.log_for("/d")["status"] == 499, describe(upstream, px)


@pytest.mark.parametrize("n", [8000, 300000])
def test_body_gap_longer_than_timeout_truncates(upstream, proxy, n):
    # The origin sends half the body, then nothing for 6 s.  A gap in a body
    # is limited by body_timeout (1.5 s here), whether libevent reads the
    # body (small) or we do (large); without a validator it is not resumed.
    px = proxy(section("default", connect_timeout="300ms",
                       per_try_timeout="500ms", start_timeout="20ms",
                       body_timeout="1500ms"))
    upstream.script("/gap", [f"breakmid:{n}:6000", "200"])
    t0 = time.monotonic()
    r = request(px.addr, "GET", upstream.url + "/gap", timeout=10.0)
    took = time.monotonic() - t0
    why = describe(upstream, px, r) + f"\ntook {took:.2f} s"
    assert r.status == 200 and r.content_length == 2 * n, why
    assert not r.complete, why
    assert r.body == pattern_bytes(len(r.body)), "spliced body\n" + why
    assert 1.3 <= took < 4.0, why
    assert upstream.count("/gap") == 1, why
    # the daemon goes on serving
    r2 = request(px.addr, "GET", upstream.url + "/gap")
    assert r2.status == 200 and r2.complete, describe(upstream, px, r2)
