"""Name resolution through the daemon's own resolver (evdns), against a DNS
server the test runs on loopback (RETRYPROXY_RESOLV_CONF points the daemon
at it): NXDOMAIN is final, a resolver that does not answer is a `dns`
failure that is retried, and a name that resolves is proxied.
"""

import socket
import struct
import threading

import pytest

from clients import request
from harness import describe, section


class DNSServer:
    """Answers A queries: ok.test -> 127.0.0.1, nx.test -> NXDOMAIN,
    fail.test -> SERVFAIL, anything under slow.test -> silence."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = []
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(512)
            except OSError:
                return
            if len(data) < 12:
                continue
            qid, flags, qd = struct.unpack("!HHH", data[:6])
            labels, i = [], 12
            while i < len(data) and data[i] != 0:
                n = data[i]
                labels.append(data[i + 1:i + 1 + n].decode().lower())
                i += 1 + n
            qtype, = struct.unpack("!H", data[i + 1:i + 3])
            question = data[12:i + 5]
            name = ".".join(labels)
            with self.lock:
                self.queries.append((name, qtype))
            if name.endswith("slow.test"):
                continue
            rcode, answers = 0, b""
            if name == "nx.test":
                rcode = 3
            elif name == "fail.test":
                rcode = 2
            elif name == "ok.test" and qtype == 1:
                answers = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4)
                           + socket.inet_aton("127.0.0.1"))
            hdr = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1,
                              1 if answers else 0, 0, 0)
            self.sock.sendto(hdr + question + answers, peer)

    def count(self, name):
        with self.lock:
            return sum(1 for n, t in self.queries if n == name and t == 1)

    def stop(self):
        self.stopping = True
        self.sock.close()


@pytest.fixture
def dns(tmp_path, monkeypatch):
    server = DNSServer()
    conf = tmp_path / "resolv.conf"
    conf.write_text(f"nameserver 127.0.0.1:{server.port}\n"
                    "options timeout:1 attempts:1\n")
    monkeypatch.setenv("RETRYPROXY_RESOLV_CONF", str(conf))
    yield server
    server.stop()


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
