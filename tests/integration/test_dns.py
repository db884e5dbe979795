"""Name resolution through the daemon's own resolver (evdns), against a DNS
server the test runs on loopback (dnsserver.py; the `dns` fixture points
the daemon at it): NXDOMAIN is final, a resolver that does not answer is a
`dns` failure that is retried, and a name that resolves is proxied.
"""

from clients import request
from harness import describe, section


def test_name_resolves_and_is_proxied(dns, upstream, proxy):
    px = proxy(section("default", start_timeout="20ms"))
    upstream.script("/d", ["503", "200"])
    r = request(px.addr, "GET", f"http://ok.test:{upstream.port}/d")
    assert r.status == 200, describe(upstream, px, r)
    assert upstream.count("/d") == 2
    # the Host header carries the name, not the address
    assert all(h.header("Host") == f"ok.test:{upstream.port}"
               for h in upstream.hits("/d"))


def test_resolved_name_is_reused_for_new_connections(dns, upstream, proxy):
    # With warm_reuse = no a POST without an idempotency key never rides a
    # pooled connection: each one opens a new upstream connection.  The
    # name is resolved for the first and remembered (10 s) for the ones
    # after it.
    px = proxy(section("default", start_timeout="20ms", warm_reuse="no"),
               "workers = 1")
    for i in range(4):
        r = request(px.addr, "POST", f"http://ok.test:{upstream.port}/p{i}",
                    body=b"x" * 10)
        assert r.status == 200, describe(upstream, px, r)
    why = describe(upstream, px) + f"\nDNS queries: {dns.queries}"
    assert upstream.connections == 4, why
    assert dns.count("ok.test") == 1, why


def test_nxdomain_is_final(dns, proxy):
    px = proxy(section("default", start_timeout="20ms", attempts=4))
    r = request(px.addr, "GET", "http://nx.test/x")
    assert r.status == 502, describe(proxy=px, response=r)
    assert "error=dns_error" in r.header("Proxy-Status")
    assert dns.count("nx.test") == 1
    e = px.log_for("/x")
    assert e["attempts"] == 1 and e["retries"] == []


def test_servfail_is_retried(dns, proxy):
    px = proxy(section("default", start_timeout="20ms", attempts=3))
    r = request(px.addr, "GET", "http://fail.test/x")
    assert r.status == 502, describe(proxy=px, response=r)
    assert "error=dns_error" in r.header("Proxy-Status")
    assert dns.count("fail.test") == 3
    assert px.log_for("/x")["attempts"] == 3


def test_resolver_timeout_is_retried_then_504(dns, proxy):
    px = proxy(section("default", start_timeout="20ms", attempts=2,
                       connect_timeout="500ms"))
    r = request(px.addr, "GET", "http://a.slow.test/x", timeout=10)
    assert r.status == 504, describe(proxy=px, response=r)
    assert "error=dns_timeout" in r.header("Proxy-Status")
    assert dns.count("a.slow.test") >= 2


def test_dns_errors_not_listed_are_not_retried(dns, proxy):
    px = proxy(section("default", start_timeout="20ms", attempts=3,
                       errors="connect, reset, timeout"))
    r = request(px.addr, "GET", "http://fail.test/x")
    assert r.status == 502
    assert dns.count("fail.test") == 1


def test_retry_budget_zero_suppresses_retries(upstream, proxy):
    px = proxy(section("default", start_timeout="20ms", attempts=3,
                       retry_budget="0%", retry_budget_min=0))
    upstream.script("/b", ["503", "200"])
    r = request(px.addr, "GET", upstream.url + "/b")
    assert r.status == 503, describe(upstream, px, r)
    assert upstream.count("/b") == 1


def test_retry_budget_min_allows_some(upstream, proxy):
    px = proxy(section("default", start_timeout="1ms", attempts=2,
                       retry_budget="0%", retry_budget_min=2), "workers = 1")
    upstream.script("/m", ["503"])
    statuses = [request(px.addr, "GET", upstream.url + "/m").status
                for _ in range(3)]
    assert statuses == [503, 503, 503]
    # two retries fit in the per-second floor, the third is suppressed
    # (unless the three requests straddle a second boundary)
    assert upstream.count("/m") in (5, 6), describe(upstream, px)
