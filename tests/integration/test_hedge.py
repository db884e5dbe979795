"""hedge_after, hedge_max (retryproxy.ini(5)): a request that may be re-sent
and has no response head after hedge_after is sent again over another
connection (to the next fallback when the route has one); the first head
wins and the other copy is cancelled, its connection closed, never pooled
half-read.  A hedge counts as an attempt and takes a retry-budget token.
Every test also checks that the requests after it, on the same client
connection (so the same worker and its upstream pool), get their own
answers.
"""
import statistics
import threading
import time

import pytest

from clients import RawConn, request
from harness import daemon_factory, describe, free_port, section
from test_ops import OpsProxy, samples

HOST = "127.0.0.1"


@pytest.fixture
def ops_proxy(upstream, make_upstream, tmp_path):
    yield from daemon_factory(OpsProxy, tmp_path, "hedge")


def hedges(px):
    return {labels["outcome"]: v for labels, v in
            samples(px.metrics(), "retryproxy_hedges_total")}


def ask(conn, url, method="GET", headers=None, body=None):
    """One request on a kept client connection: (response, seconds)."""
    t0 = time.monotonic()
    conn.send_request(method, url, headers=headers, body=body, close=False)
    r = conn.read_response(method)
    return r, time.monotonic() - t0


def own_answers(px, upstream, conn, n=4, tag="next"):
    """The next requests on this client connection get their own answers."""
    for i in range(n):
        upstream.script(f"/{tag}{i}", ["200"])
        r, _ = ask(conn, f"{upstream.url}/{tag}{i}")
        assert r.status == 200 and r.body == b"status=200 hit=1\n", \
            describe(upstream, px, r)


def test_stalled_requests_are_hedged_p99_and_extra_load(upstream, ops_proxy):
    """1 in 10 requests stalls 2 s: with hedge_after = 100ms the client's
    p99 stays under 300 ms, and the origin sees ~10% more requests (one
    hedge for each stalled request, none for the others)."""
    px = ops_proxy(section("default", hedge_after="100ms"))
    n = 100
    for i in range(n):
        # the first hit of every tenth path stalls; its hedge (hit 2) does not
        upstream.script(f"/r{i}", ["stall:2", "200"] if i % 10 == 3 else ["200"])
    lat = []
    with RawConn(px.addr) as conn:
        for i in range(n):
            r, took = ask(conn, f"{upstream.url}/r{i}")
            want = b"status=200 hit=2\n" if i % 10 == 3 else b"status=200 hit=1\n"
            assert r.status == 200 and r.body == want, describe(upstream, px, r)
            lat.append(took)
        own_answers(px, upstream, conn)
    lat.sort()
    p50, p99 = lat[n // 2], lat[int(n * 0.99) - 1]
    hits = sum(upstream.count(f"/r{i}") for i in range(n))
    print(f"hedged: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
          f"max {lat[-1] * 1000:.1f} ms; origin requests {hits} for {n} "
          f"(+{(hits - n) * 100 / n:.0f}%)")
    assert p99 < 0.3, lat[-12:]
    assert hits <= n * 1.15, hits
    m = hedges(px)
    assert m["won"] == 10 and m["lost"] == 0 and m["failed"] == 0, m
    # the stalled first copies were cancelled: their connections closed
    for i in range(3, n, 10):
        first = upstream.hits(f"/r{i}")[0]
        assert upstream.wait_for(lambda: first.client_gone, 3.0), first
        e = px.log_for(f"/r{i}")
        assert e["hedges"] == 1 and e["hedge_won"] is True and \
            e["attempts"] == 2, e
    e = px.log_for("/r4")
    assert "hedges" not in e and e["attempts"] == 1, e


def test_without_hedging_the_tail_is_the_stall(upstream, ops_proxy):
    """The baseline of the test above: hedge_after = off (the default)."""
    px = ops_proxy(section("default"))
    n = 20
    for i in range(n):
        upstream.script(f"/s{i}", ["stall:1", "200"] if i % 10 == 3 else ["200"])
    lat = []
    with RawConn(px.addr) as conn:
        for i in range(n):
            r, took = ask(conn, f"{upstream.url}/s{i}")
            assert r.status == 200, describe(upstream, px, r)
            lat.append(took)
        own_answers(px, upstream, conn)
    assert max(lat) >= 1.0, lat
    assert sum(upstream.count(f"/s{i}") for i in range(n)) == n
    assert sum(hedges(px).values()) == 0


def test_post_without_key_is_never_hedged(upstream, ops_proxy):
    px = ops_proxy(section("default", hedge_after="50ms"))
    upstream.script("/post", ["stall:0.5", "200"])
    upstream.script("/keyed", ["stall:2", "200"])
    with RawConn(px.addr) as conn:
        r, took = ask(conn, f"{upstream.url}/post", "POST", body=b"x" * 3000)
        assert r.status == 200 and r.body == b"status=200 hit=1 stalled\n", r
        assert took >= 0.5 and upstream.count("/post") == 1
        # an Idempotency-Key makes it re-sendable: hedged, body whole twice
        r, took = ask(conn, f"{upstream.url}/keyed", "POST",
                      headers={"Idempotency-Key": "k1"}, body=b"y" * 3000)
        assert r.status == 200 and r.body == b"status=200 hit=2\n", \
            describe(upstream, px, r)
        assert took < 1.0, took  # (the hedge's answer, not the 2 s stall)
        assert [h.body for h in upstream.hits("/keyed")] == [b"y" * 3000] * 2
        own_answers(px, upstream, conn)
    assert "hedges" not in px.log_for("/post")
    assert px.log_for("/keyed")["hedges"] == 1


def test_first_head_wins_the_hedge_is_cancelled(upstream, ops_proxy):
    """The first copy answers while the hedge waits: the hedge is cancelled
    (its connection closed, not pooled), and the answer is the first's."""
    px = ops_proxy(section("default", hedge_after="100ms"))
    upstream.script("/w", [{"status": 200, "delay": 0.3}, "stall:3"])
    with RawConn(px.addr) as conn:
        r, took = ask(conn, f"{upstream.url}/w")
        assert r.status == 200 and r.body == b"status=200 hit=1\n", \
            describe(upstream, px, r)
        assert took < 1.0, took
        hedge = upstream.hits("/w")[1]
        assert upstream.wait_for(lambda: hedge.client_gone, 3.0), hedge
        own_answers(px, upstream, conn, n=6)
    e = px.log_for("/w")
    assert e["hedges"] == 1 and e["hedge_won"] is False, e
    assert hedges(px)["lost"] == 1


def test_first_copy_fails_the_hedge_goes_on(upstream, ops_proxy):
    """The first copy is reset while its hedge is on its way: the hedge
    goes on in place of a retry (no third copy)."""
    px = ops_proxy(section("default", hedge_after="100ms", backoff="list",
                           timeouts="2s, 2s"))
    upstream.script("/t", [{"kind": "reset", "delay": 0.3},
                           {"status": 200, "delay": 0.4}])
    with RawConn(px.addr) as conn:
        r, took = ask(conn, f"{upstream.url}/t")
        assert r.status == 200 and r.body == b"status=200 hit=2\n", \
            describe(upstream, px, r)
        # the hedge's 0.1 + 0.4 s, not a 2 s backoff
        assert took < 1.5 and upstream.count("/t") == 2, took
        own_answers(px, upstream, conn)
    e = px.log_for("/t")
    # the response is the hedge's: hedge=won
    assert e["attempts"] == 2 and e["hedges"] == 1 and e["hedge_won"] is True, e
    assert hedges(px)["took_over"] == 1


def test_hedge_503_first_is_retried(upstream, ops_proxy):
    """The hedge's head comes first but is a 503: the hedge is the attempt,
    its 503 is retried as any attempt's; the response forwarded is the
    retry's, so the log says hedge_won false (the metric counts the win)."""
    px = ops_proxy(section("default", hedge_after="100ms"))
    upstream.script("/r", ["stall:3", "503", "200"])
    with RawConn(px.addr) as conn:
        r, took = ask(conn, f"{upstream.url}/r")
        assert r.status == 200 and r.body == b"status=200 hit=3\n", \
            describe(upstream, px, r)
        assert took < 1.0, took
        first = upstream.hits("/r")[0]
        assert upstream.wait_for(lambda: first.client_gone, 3.0), first
        own_answers(px, upstream, conn)
    e = px.log_for("/r")
    assert e["attempts"] == 3 and e["hedges"] == 1 and e["hedge_won"] is False, e
    assert e["retries"] == ["503"], e
    assert hedges(px)["won"] == 1


def test_hedge_goes_to_the_fallback(upstream, make_upstream, ops_proxy):
    other = make_upstream()
    px = ops_proxy(section("default", hedge_after="100ms",
                           fallbacks=other.url))
    upstream.script("/f", ["stall:2"])
    other.script("/f", ["200"])
    with RawConn(px.addr) as conn:
        r, took = ask(conn, f"{upstream.url}/f")
        assert r.status == 200 and r.body == b"status=200 hit=1\n", r
        assert took < 1.0 and other.count("/f") == 1, took
        assert other.hits("/f")[0].header("host") == other.authority
        own_answers(px, upstream, conn)
    e = px.log_for("/f")
    assert e["hedge_won"] is True, e


def test_failed_hedge_leaves_the_first_copy(upstream, ops_proxy):
    """The hedge's target refuses: the first copy still answers."""
    dead = f"http://{HOST}:{free_port()}"
    px = ops_proxy(section("default", hedge_after="50ms", fallbacks=dead))
    upstream.script("/h", [{"status": 200, "delay": 0.3}])
    with RawConn(px.addr) as conn:
        r, _ = ask(conn, f"{upstream.url}/h")
        assert r.status == 200 and r.body == b"status=200 hit=1\n", r
        own_answers(px, upstream, conn)
    e = px.log_for("/h")
    assert e["hedges"] == 1 and e["hedge_won"] is False and \
        e["attempts"] == 2, e
    assert hedges(px)["failed"] == 1


def test_no_hedge_without_an_attempt_left(upstream, ops_proxy):
    px = ops_proxy(section("default", hedge_after="50ms", attempts=1))
    upstream.script("/one", [{"status": 200, "delay": 0.3}, "200"])
    with RawConn(px.addr) as conn:
        r, _ = ask(conn, f"{upstream.url}/one")
        assert r.status == 200 and r.body == b"status=200 hit=1\n", r
        own_answers(px, upstream, conn)
    assert upstream.count("/one") == 1
    assert hedges(px)["not_sent"] == 1


def test_hedge_max_two(upstream, ops_proxy):
    px = ops_proxy(section("default", hedge_after="100ms", hedge_max=2,
                           attempts=3))
    upstream.script("/m", ["stall:2", "stall:2", "200"])
    with RawConn(px.addr) as conn:
        r, took = ask(conn, f"{upstream.url}/m")
        assert r.status == 200 and r.body == b"status=200 hit=3\n", \
            describe(upstream, px, r)
        # two hedges, at 100 and 200 ms: the second answers (not a stall)
        assert 0.19 <= took < 1.5, took
        own_answers(px, upstream, conn)
    e = px.log_for("/m")
    assert e["hedges"] == 2 and e["attempts"] == 3, e
    m = hedges(px)
    assert m["won"] == 1 and m["lost"] == 1, m


def test_percentile_learns_the_route(upstream, ops_proxy):
    """hedge_after = p90: until the route has 20 samples, the fallback
    (1 s); then its own 90th percentile of time-to-first-byte."""
    px = ops_proxy(section("default", hedge_after="p90"))
    upstream.script("/cold", ["stall:3", "200"])
    with RawConn(px.addr) as conn:
        r, took = ask(conn, f"{upstream.url}/cold")
        assert r.status == 200 and 0.95 <= took < 1.5, took
        for i in range(30):
            upstream.script(f"/warm{i}", [{"status": 200, "delay": 0.05}])
            ask(conn, f"{upstream.url}/warm{i}")
        upstream.script("/slow", ["stall:3", "200"])
        r, took = ask(conn, f"{upstream.url}/slow")
        assert r.status == 200 and r.body == b"status=200 hit=2\n", r
        # hedged after ~50 ms, answered ~50 ms later (not the 3 s stall,
        # nor the 1 s fallback)
        assert took < 0.9, took
        own_answers(px, upstream, conn)
    assert px.log_for("/slow")["hedge_won"] is True


def test_concurrent_clients_get_their_own_answers(upstream, ops_proxy):
    """Many clients at once, a third of the requests stalled: hedged until
    the retry budget is spent, and every response is its own path's."""
    px = ops_proxy(section("default", hedge_after="30ms"))
    errors = []

    def client(c):
        try:
            with RawConn(px.addr) as conn:
                for i in range(15):
                    path = f"/c{c}_{i}"
                    r, _ = ask(conn, f"{upstream.url}{path}")
                    # hedged, or not when the retry budget is spent
                    want = ((b"status=200 hit=2\n",
                             b"status=200 hit=1 stalled\n") if i % 3 == 0
                            else (b"status=200 hit=1\n",))
                    if r.status != 200 or r.body not in want:
                        errors.append((path, r.status, r.body))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((c, repr(e)))

    for c in range(8):
        for i in range(15):
            upstream.script(f"/c{c}_{i}",
                            ["stall:1", "200"] if i % 3 == 0 else ["200"])
    threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    # 40 of 120 requests stalled: more than the retry budget's 20%
    m = hedges(px)
    assert m["won"] + m["not_sent"] == 40 and m["won"] >= 20 and \
        m["not_sent"] > 0, m
    won = sum(upstream.count(f"/c{c}_{i}") == 2
              for c in range(8) for i in range(0, 15, 3))
    assert won == m["won"], (won, m)


def test_explain_and_dump(tmp_path):
    import subprocess
    from harness import daemon_path
    conf = tmp_path / "r.ini"
    conf.write_text(section("default", hedge_after="p95", hedge_max=2) +
                    section("route b.test", hedge_after="250ms",
                            fallbacks="http://c.test") +
                    section("route c.test", hedge_after="off"))

    def explain(method, url):
        out = subprocess.run([str(daemon_path()), "-c", str(conf), "--explain",
                              method, url], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return [l for l in out.stdout.splitlines() if l.startswith("hedge:")]

    assert explain("GET", "http://a.test/x") == [
        "hedge: with no response head after the route's p95 time to the "
        "response head (the last minute's; 1s until it has 20 samples), the "
        "request goes again to the same origin over another connection (up to "
        "2 copies, each an attempt and a retry-budget token); the first head "
        "wins, the other is cancelled"]
    assert "after 250ms" in explain("GET", "http://b.test/")[0] and \
        "to the next fallback (up to 2 copies," in explain("GET", "http://b.test/")[0]
    assert explain("POST", "http://a.test/x") == [
        "hedge: no (POST may not be re-sent without the idempotency header)"]
    assert explain("GET", "http://c.test/") == ["hedge: no (hedge_after = off)"]
    out = subprocess.run([str(daemon_path()), "-c", str(conf), "-t"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "hedge_after = p95" in out.stdout and "hedge_max = 2" in out.stdout
    assert "hedge_after = 250ms" in out.stdout, out.stdout
    # bad values name the file and line
    for bad, why in (("p100", "p1 to p99"), ("0", "more than 0"), ("soon", "duration")):
        conf.write_text(f"[default]\nhedge_after = {bad}\n")
        out = subprocess.run([str(daemon_path()), "-c", str(conf), "-t"],
                             capture_output=True, text=True)
        assert out.returncode != 0 and f"{conf}:2" in out.stderr and \
            why in out.stderr, out.stderr
