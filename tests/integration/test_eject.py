"""eject_after and eject_percent (retryproxy.ini(5)): an origin (host:port)
whose attempts failed eject_after times in a row (refused, reset, timed
out, or a 5xx), or whose failures are at least eject_percent of its
attempts of the last 10 s (once there are eject_min_attempts), is left
alone for eject_time: requests to it get a 503 at once, with Proxy-Status
"ejected" and Retry-After, or go straight to a fallback, instead of each
waiting out its backoff schedule; then one request probes it, and a
response that is not a 5xx readmits it.  Every test also checks that the
requests after it get their own answers.
"""
import time

import pytest

from clients import request
from harness import daemon_factory, describe, free_port, section
from test_ops import OpsProxy, samples


@pytest.fixture
def ops_proxy(upstream, make_upstream, tmp_path):
    yield from daemon_factory(OpsProxy, tmp_path, "eject")


def gauge(px, name):
    vals = [v for _, v in samples(px.metrics(), name)]
    return vals[0] if vals else None


def test_refusing_origin_is_ejected_probed_and_readmitted(upstream, make_upstream,
                                                          ops_proxy):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    px = ops_proxy(section("default", attempts=1, eject_after=3, eject_time="700ms"))
    for i in range(3):
        r = request(px.addr, "GET", f"{url}/down{i}")
        assert r.status == 502, describe(upstream, px, r)
    assert gauge(px, "retryproxy_origins_ejected") == 1
    # ejected: a 503 of ours at once, without a connect
    t0 = time.monotonic()
    r = request(px.addr, "GET", f"{url}/fast")
    took = time.monotonic() - t0
    assert r.status == 503 and took < 0.1, (took, r)
    assert 'details="ejected"' in r.header("proxy-status", "") and \
        "error=destination_unavailable" in r.header("proxy-status", ""), r
    assert r.header("retry-after") == "1", r
    e = px.log_for("/fast")
    assert e["error"] == "destination_unavailable" and e["attempts"] == 0, e
    # another origin is not affected
    upstream.script("/other", ["200"])
    assert request(px.addr, "GET", upstream.url + "/other").status == 200
    # the origin comes back; after eject_time one request probes it
    back = make_upstream(port=port)
    back.script("/probe", ["200"])
    back.script("/after", ["200"])
    time.sleep(0.75)
    r = request(px.addr, "GET", f"{url}/probe")
    assert r.status == 200 and r.body == b"status=200 hit=1\n", describe(back, px, r)
    for _ in range(3):
        r = request(px.addr, "GET", f"{url}/after")
        assert r.status == 200, describe(back, px, r)
    assert gauge(px, "retryproxy_origins_ejected") == 0
    assert gauge(px, "retryproxy_origin_ejections_total") == 1
    assert gauge(px, "retryproxy_ejected_attempts_total") == 1
    assert "ejected for 700ms" in px.stderr() and "readmitted" in px.stderr()


def test_failed_probe_ejects_for_longer(upstream, ops_proxy):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    px = ops_proxy(section("default", attempts=1, eject_after=2, eject_time="300ms",
                           eject_max_time="10s"))
    for i in range(2):
        assert request(px.addr, "GET", f"{url}/d{i}").status == 502
    assert request(px.addr, "GET", f"{url}/out").status == 503
    time.sleep(0.35)
    # the probe is refused too: out again, for 2 x 300 ms
    assert request(px.addr, "GET", f"{url}/probe").status == 502
    assert "ejected for 600ms" in px.stderr(), px.stderr_tail()
    time.sleep(0.35)
    assert request(px.addr, "GET", f"{url}/still").status == 503
    upstream.script("/next", ["200"])
    assert request(px.addr, "GET", upstream.url + "/next").status == 200


def test_fallback_taken_at_once_while_ejected(upstream, ops_proxy):
    port = free_port()
    px = ops_proxy(section("default", attempts=3, eject_after=2, eject_time="30s",
                           start_timeout="400ms", fallbacks=upstream.url))
    upstream.script("/f", ["200"])
    for i in range(2):
        r = request(px.addr, "GET", f"http://127.0.0.1:{port}/f")
        assert r.status == 200, describe(upstream, px, r)
    # ejected: attempt 1 is not made, attempt 2 goes to the fallback at once
    t0 = time.monotonic()
    r = request(px.addr, "GET", f"http://127.0.0.1:{port}/f?quick")
    took = time.monotonic() - t0
    assert r.status == 200 and took < 0.2, (took, describe(upstream, px, r))
    e = px.log_for("/f?quick")
    assert e["attempts"] == 2 and e["retries"] == ["ejected"], e
    assert upstream.count("/f") == 3


def test_5xx_counts_and_a_success_resets_the_count(upstream, ops_proxy):
    px = ops_proxy(section("default", attempts=1, eject_after=3))
    upstream.script("/s", ["503", "503", "200", "503", "503", "503", "200"])
    got = [request(px.addr, "GET", upstream.url + "/s").status for _ in range(6)]
    # the 200 in between started the count again: ejected after the 6th
    assert got == [503, 503, 200, 503, 503, 503], got
    r = request(px.addr, "GET", upstream.url + "/s")
    assert r.status == 503 and 'details="ejected"' in r.header("proxy-status", ""), r
    assert upstream.count("/s") == 6


def test_off_by_default(upstream, ops_proxy):
    port = free_port()
    px = ops_proxy(section("default", attempts=1))
    for i in range(8):
        r = request(px.addr, "GET", f"http://127.0.0.1:{port}/x{i}")
        assert r.status == 502 and "ejected" not in r.header("proxy-status", ""), r
    assert gauge(px, "retryproxy_origin_ejections_total") == 0


def test_explain_says_it(tmp_path):
    import subprocess
    from harness import daemon_path
    conf = tmp_path / "r.ini"
    conf.write_text(section("default", eject_after=4, eject_time="10s") +
                    section("route b.test", fallbacks="http://c.test"))
    out = subprocess.run([str(daemon_path()), "-c", str(conf), "--explain", "GET",
                          "http://a.test/x"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "eject: after 4 failures in a row" in out.stdout and \
        "left alone for 10s" in out.stdout and "503 at once" in out.stdout, out.stdout
    out = subprocess.run([str(daemon_path()), "-c", str(conf), "--explain", "GET",
                          "http://b.test/x"], capture_output=True, text=True)
    assert "go to the fallbacks at once" in out.stdout, out.stdout


def alternating(n):
    """n steps 503, 200, 503, ... (hit 1 fails)."""
    return ["503" if i % 2 == 0 else "200" for i in range(n)]


def test_failure_share_ejects_probes_and_readmits(upstream, make_upstream, ops_proxy):
    # every other attempt fails: never 2 in a row, but 50% and more
    px = ops_proxy(section("default", attempts=1, eject_after=2, eject_percent="40%",
                           eject_time="1500ms"))
    upstream.script("/mix", alternating(11) + ["200", "503", "200"])
    for i in range(10):
        r = request(px.addr, "GET", upstream.url + "/mix")
        want = 503 if i % 2 == 0 else 200
        assert r.status == want and r.body == f"status={want} hit={i + 1}\n".encode(), \
            describe(upstream, px, r)
        assert "ejected" not in r.header("proxy-status", ""), r
    # 10 attempts, 5 failed (50%): a success is not judged; the 11th fails
    assert gauge(px, "retryproxy_origins_ejected") == 0
    r = request(px.addr, "GET", upstream.url + "/mix")
    assert r.status == 503 and r.body == b"status=503 hit=11\n", describe(upstream, px, r)
    assert gauge(px, "retryproxy_origins_ejected") == 1
    assert "54% of 11 attempts in the last 10s failed: ejected for 1500ms " \
        "(eject_percent)" in px.stderr(), px.stderr_tail()
    assert "(eject_after)" not in px.stderr(), px.stderr_tail()
    # ejected: a 503 of ours at once, saying why, without an attempt
    t0 = time.monotonic()
    r = request(px.addr, "GET", upstream.url + "/mix?fast")
    took = time.monotonic() - t0
    assert r.status == 503 and took < 0.5, (took, r)
    ps = r.header("proxy-status", "")
    assert 'details="ejected"' in ps and "error=destination_unavailable" in ps, r
    assert r.header("retry-after") in ("1", "2"), r
    assert b"failed 54% of 11 attempts in 10 s" in r.body and \
        b"(eject_percent)" in r.body, r.body
    e = px.log_for("/mix?fast")
    assert e["error"] == "destination_unavailable" and e["attempts"] == 0, e
    assert upstream.count("/mix") == 11
    # another origin is not affected
    other = make_upstream()
    other.script("/other", ["200"])
    r = request(px.addr, "GET", other.url + "/other")
    assert r.status == 200 and r.body == b"status=200 hit=1\n", describe(other, px, r)
    # after eject_time one request probes it; its 200 readmits the origin
    time.sleep(1.6)
    r = request(px.addr, "GET", upstream.url + "/mix")
    assert r.status == 200 and r.body == b"status=200 hit=12\n", describe(upstream, px, r)
    assert gauge(px, "retryproxy_origins_ejected") == 0
    assert "readmitted" in px.stderr(), px.stderr_tail()
    # the window started again: one failure (of 1 attempt) ejects nothing
    r = request(px.addr, "GET", upstream.url + "/mix")
    assert r.status == 503 and r.body == b"status=503 hit=13\n", describe(upstream, px, r)
    for hit in (14, 15, 16):
        r = request(px.addr, "GET", upstream.url + "/mix")
        assert r.status == 200 and r.body == f"status=200 hit={hit}\n".encode(), \
            describe(upstream, px, r)
    assert gauge(px, "retryproxy_origins_ejected") == 0
    assert gauge(px, "retryproxy_origin_ejections_total") == 1
    assert gauge(px, "retryproxy_ejected_attempts_total") == 1


def test_alternating_origin_is_not_ejected_by_eject_after(upstream, ops_proxy):
    px = ops_proxy(section("default", attempts=1, eject_after=2))
    upstream.script("/alt", alternating(16))
    got = [request(px.addr, "GET", upstream.url + "/alt").status for _ in range(16)]
    assert got == [503, 200] * 8, got
    assert upstream.count("/alt") == 16
    assert gauge(px, "retryproxy_origin_ejections_total") == 0
    upstream.script("/next", ["200"])
    r = request(px.addr, "GET", upstream.url + "/next")
    assert r.status == 200 and r.body == b"status=200 hit=1\n", r


def test_share_waits_for_eject_min_attempts(upstream, ops_proxy):
    px = ops_proxy(section("default", attempts=1, eject_percent=50,
                           eject_min_attempts=20, eject_time="30s"))
    upstream.script("/m", alternating(21) + ["200"])
    # 19 attempts, 10 failed: below the minimum; the 20th succeeds
    got = [request(px.addr, "GET", upstream.url + "/m").status for _ in range(20)]
    assert got == [503, 200] * 10, got
    assert gauge(px, "retryproxy_origins_ejected") == 0
    # the 21st fails: 11 of 21
    assert request(px.addr, "GET", upstream.url + "/m").status == 503
    assert "52% of 21 attempts in the last 10s failed" in px.stderr(), px.stderr_tail()
    r = request(px.addr, "GET", upstream.url + "/m")
    assert r.status == 503 and 'details="ejected"' in r.header("proxy-status", ""), r
    assert upstream.count("/m") == 21


def test_share_ejection_sends_to_the_fallback(upstream, make_upstream, ops_proxy):
    back = make_upstream()
    back.script("/f", ["200"])
    px = ops_proxy(section("default", attempts=2, eject_percent=50, eject_time="30s",
                           start_timeout="10ms", fallbacks=back.url))
    upstream.script("/f", alternating(11) + ["200"])
    # each 503 of the origin is retried on the fallback
    for i in range(11):
        r = request(px.addr, "GET", upstream.url + "/f")
        assert r.status == 200, describe([upstream, back], px, r)
    assert upstream.count("/f") == 11 and back.count("/f") == 6
    # ejected: attempt 1 is not made, attempt 2 goes to the fallback at once
    t0 = time.monotonic()
    r = request(px.addr, "GET", upstream.url + "/f?quick")
    took = time.monotonic() - t0
    assert r.status == 200 and r.body == b"status=200 hit=7\n" and took < 0.5, \
        (took, describe([upstream, back], px, r))
    e = px.log_for("/f?quick")
    assert e["attempts"] == 2 and e["retries"] == ["ejected"], e
    assert upstream.count("/f") == 11 and back.count("/f") == 7


def test_explain_says_the_share(tmp_path):
    import subprocess
    from harness import daemon_path
    conf = tmp_path / "r.ini"
    conf.write_text(section("default", eject_percent="30%", eject_min_attempts=25) +
                    section("route b.test", eject_after=4))
    out = subprocess.run([str(daemon_path()), "-c", str(conf), "--explain", "GET",
                          "http://a.test/x"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    line = [x for x in out.stdout.splitlines() if x.startswith("eject:")]
    assert len(line) == 1 and line[0].startswith(
        "eject: when at least 30% of its attempts in the last 10s failed") and \
        "once there are 25 attempts" in line[0] and "failures in a row" not in line[0], out.stdout
    assert "eject_percent = 30%" in out.stdout and \
        "eject_min_attempts = 25" in out.stdout, out.stdout
    out = subprocess.run([str(daemon_path()), "-c", str(conf), "--explain", "GET",
                          "http://b.test/x"], capture_output=True, text=True)
    assert "eject: after 4 failures in a row or when at least 30% of its attempts" \
        in out.stdout, out.stdout


# ---- an address of a name with several, ejected on its own ----------------
@pytest.fixture
def pair(make_upstream):
    """Origins on 127.0.0.1 and 127.0.0.2 at one port (two.test has both,
    127.0.0.1 first: dnsserver.py)."""
    for _ in range(20):
        second = make_upstream(host="127.0.0.2", name="second")
        try:
            first = make_upstream(host="127.0.0.1", name="first", port=second.port)
        except OSError:
            continue
        yield first, second
        return
    pytest.skip("no port free on both 127.0.0.1 and 127.0.0.2")


CLOSE = {"Connection": "close"}  # no pooled connection: each attempt picks


def s503():
    return {"status": 503, "headers": CLOSE}


def s200():
    return {"status": 200, "headers": CLOSE}


def test_address_ejected_on_its_own(dns, pair, ops_proxy):
    """two.test's first address answers 503, its second 200 (each closing
    its connection).  A retry of a 503 goes back to the same address (its
    pooled connection), so the first request meets the 503 twice; that
    ejects the first address on its own (eject_after = 2), and the third
    attempt goes to the second.  New requests then go straight to the
    second (one attempt each), pooled connections to the first are left;
    the name itself is never out.  When the ejection is over and the
    second address refuses, the first is probed, and its 200 readmits it."""
    first, second = pair
    # (evhttp's lane: its pool keeps a connection the 503 closed, bound to
    # its address, and the retry rides it back there; the raw lane's
    # retry dials the address not yet tried:
    # test_raw_lane_retry_dials_the_other_address)
    px = ops_proxy(section("default", eject_after=2, eject_time="800ms",
                           start_timeout="10ms"), "workers = 1\nlane = evhttp")
    url = f"http://two.test:{first.port}"
    a1, a2 = f"127.0.0.1:{first.port}", f"127.0.0.2:{first.port}"
    first.script("/a", [s503()])
    second.script("/a", [s200()])
    r = request(px.addr, "GET", f"{url}/a")
    assert r.status == 200 and r.body == b"status=200 hit=1\n", \
        describe([first, second], px, r)
    e = px.log_for("/a")
    assert e["attempts"] == 3 and e["retries"] == ["503", "503"], e
    assert e["addrs"] == [a1, a1, a2], e
    assert f"{a1} (an address of two.test): 2 failures in a row" in px.stderr(), \
        px.stderr_tail()
    t_ejected = time.monotonic()
    for i in range(5):
        first.script(f"/b{i}", [s503()])
        second.script(f"/b{i}", [s200()])
        r = request(px.addr, "GET", f"{url}/b{i}")
        assert r.status == 200 and r.body == b"status=200 hit=1\n", \
            describe([first, second], px, r)
        assert first.count(f"/b{i}") == 0
        e = px.log_for(f"/b{i}")
        assert e["attempts"] == 1 and e["addrs"] == [a2], e
    assert time.monotonic() - t_ejected < 0.8  # (all of it inside the ejection)
    assert gauge(px, "retryproxy_origin_ejections_total") == 1
    assert f"two.test:{first.port}: " not in px.stderr()  # the name: never
    # the ejection is over; the second address goes away: the first is probed
    time.sleep(0.85)
    second.stop()
    first.script("/probe", [s200()])
    r = request(px.addr, "GET", f"{url}/probe")
    assert r.status == 200 and first.count("/probe") == 1, describe([first, second], px, r)
    assert f"{a1} (an address of two.test): answered again: readmitted" in px.stderr()
    first.script("/after", [s200()])
    assert request(px.addr, "GET", f"{url}/after").status == 200
    assert first.count("/after") == 1


def test_without_ejection_every_request_meets_the_503(dns, pair, ops_proxy):
    """The baseline of the test above: eject_after = 0 (the default): the
    first address keeps getting the requests, and their 503s."""
    first, second = pair
    px = ops_proxy(section("default", start_timeout="10ms", attempts=2),
                   "workers = 1\nlane = evhttp")  # (as the test above)
    url = f"http://two.test:{first.port}"
    for i in range(4):
        first.script(f"/c{i}", [s503()])
        second.script(f"/c{i}", [s200()])
        r = request(px.addr, "GET", f"{url}/c{i}")
        assert r.status == 503 and first.count(f"/c{i}") == 2, r
        assert second.count(f"/c{i}") == 0


def test_raw_lane_retry_dials_the_other_address(dns, pair, ops_proxy):
    """On the raw lane (lane = raw, the default) a retry after a 503 that
    closed its connection dials the address of two.test not yet tried, so
    the first request meets the first address's 503 once; the requests
    after it get their own answers."""
    first, second = pair
    px = ops_proxy(section("default", start_timeout="10ms", attempts=2),
                   "workers = 1")
    url = f"http://two.test:{first.port}"
    a1, a2 = f"127.0.0.1:{first.port}", f"127.0.0.2:{first.port}"
    first.script("/r", [s503()])
    second.script("/r", [s200()])
    r = request(px.addr, "GET", f"{url}/r")
    why = describe([first, second], px, r)
    assert r.status == 200 and r.body == b"status=200 hit=1\n", why
    e = px.log_for("/r")
    assert e["attempts"] == 2 and e["retries"] == ["503"], why
    assert e["addrs"] == [a1, a2], why
    for i in range(3):
        first.script(f"/n{i}", [s200()])
        second.script(f"/n{i}", [s200()])
        r = request(px.addr, "GET", f"{url}/n{i}")
        assert r.status == 200 and r.body == b"status=200 hit=1\n", \
            describe([first, second], px, r)
        assert first.count(f"/n{i}") + second.count(f"/n{i}") == 1


def test_every_address_ejected_the_name_is_too(dns, pair, ops_proxy):
    """Both addresses of two.test fail: each is ejected on its own, and
    then the name's requests get our 503 at once; a URL naming one of the
    addresses is out too (the same place)."""
    first, second = pair
    px = ops_proxy(section("default", eject_after=2, eject_time="5s", attempts=4,
                           start_timeout="10ms"), "workers = 1")
    url = f"http://two.test:{first.port}"
    first.script("/x", [s503()])
    second.script("/x", [s503()])
    r = request(px.addr, "GET", f"{url}/x")
    assert r.status == 503 and first.count("/x") == 2 and second.count("/x") == 2, \
        describe([first, second], px, r)
    r = request(px.addr, "GET", f"{url}/y")
    assert r.status == 503 and 'details="ejected"' in r.header("proxy-status", ""), r
    assert b"has every address ejected" in r.body, r
    assert first.count("/y") == 0 and second.count("/y") == 0
    second.script("/own", [s200()])
    r = request(px.addr, "GET", f"http://127.0.0.2:{first.port}/own")
    assert r.status == 503 and second.count("/own") == 0, r
