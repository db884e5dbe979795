"""Gateway listeners (retryproxy.ini(5) [gateway ADDR]; README "Programs
that ignore HTTP_PROXY"): a listener that takes origin-form requests
(GET /v1/x) and sends them to its one origin under the matching route's
policy -- for programs configured with a base URL instead of a proxy.
Host is the origin's, X-Forwarded-For / Forwarded name the client, and
retries, logs and metrics are the proxy's.  Every test also checks that
the requests after it get their own answers.
"""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from clients import RawConn, send_raw
from harness import daemon_factory, daemon_path, describe, free_port, section
from test_https import certs, servers, tls_origin  # noqa: F401 (fixtures)
from test_lanes import origin  # noqa: F401 (fixture)
from test_ops import HOST, OpsProxy, connect_refused, samples, wait_until
from test_retry import CASES as RETRY_CASES, FAST


class GatewayProxy(OpsProxy):
    """An OpsProxy with gateways: gateways = {name: (origin, extra lines)};
    each gets a fresh free port at every start try (self.gw[name])."""

    def __init__(self, *a, gateways=None, **kw):
        super().__init__(*a, **kw)
        self.gateways = gateways or {}
        self.gw = {}

    def config_text(self, port):
        text = super().config_text(port)
        for name, (origin, extra) in self.gateways.items():
            self.gw[name] = (HOST, free_port(HOST))
            text += (f"\n[gateway {HOST}:{self.gw[name][1]}]\n"
                     f"origin = {origin}\n{extra}")
        return text


@pytest.fixture
def gw_proxy(upstream, make_upstream, tmp_path):
    yield from daemon_factory(GatewayProxy, tmp_path, "gateway")


def get(addr, method, target, headers=None, body=None):
    """One origin-form request on a fresh connection to addr."""
    h = {"Host": f"{addr[0]}:{addr[1]}"}
    h.update(headers or {})
    with RawConn(addr) as c:
        c.send_request(method, target, h, body)
        return c.read_response(method)


def test_retry_table_through_a_gateway(upstream, gw_proxy):
    px = gw_proxy(section("default", attempts=3, start_timeout="10ms"),
                  gateways={"a": (upstream.url, "")})
    gw = px.gw["a"]
    upstream.script("/flaky", ["503", "503", "200"])
    r = get(gw, "GET", "/flaky")
    assert r.status == 200 and r.body == b"status=200 hit=3\n", describe(upstream, px, r)
    upstream.script("/reset", ["reset", "200"])
    r = get(gw, "GET", "/reset?x=1")
    assert r.status == 200 and r.body == b"status=200 hit=2\n", describe(upstream, px, r)
    assert upstream.hits("/reset")[-1].target == "/reset?x=1"
    # a POST is not re-sent after a reset
    upstream.script("/post", ["reset", "200"])
    r = get(gw, "POST", "/post", body=b"abc")
    assert r.status == 502 and "connection_terminated" in r.header("proxy-status", "")
    assert len(upstream.hits("/post")) == 1
    # 503 all the way: the last 503 comes back after 3 attempts
    upstream.script("/down", ["503"])
    r = get(gw, "GET", "/down")
    assert r.status == 503 and len(upstream.hits("/down")) == 3
    # Host is the origin's; the client is named in X-Forwarded-For
    upstream.script("/h", ["200"])
    r = get(gw, "GET", "/h", headers={"X-Forwarded-For": "10.1.2.3"})
    assert r.status == 200
    h = upstream.hits("/h")[0]
    assert h.header("host") == upstream.authority, h.headers
    assert h.header("x-forwarded-for") == "10.1.2.3, 127.0.0.1", h.headers
    assert h.header("forwarded") is None
    # the access log has the absolute URL and the gateway
    e = px.log_for("/flaky")
    assert e["url"] == upstream.url + "/flaky" and e["attempts"] == 3, e
    assert e["gateway"] == f"{gw[0]}:{gw[1]}" and e["route"] == "default", e
    m = samples(px.metrics(), "retryproxy_gateway_requests_total")
    assert m == [({"gateway": f"{gw[0]}:{gw[1]}"}, 5)], m
    # the next requests get their own answers; the proxy listener still proxies
    for i in range(3):
        upstream.script(f"/n{i}", ["200"])
        r = get(gw, "GET", f"/n{i}")
        assert r.body == f"status=200 hit=1\n".encode(), r
    upstream.script("/viaproxy", ["200"])
    r = send_raw(px.addr, f"GET {upstream.url}/viaproxy HTTP/1.1\r\nHost: "
                 f"{upstream.authority}\r\nConnection: close\r\n\r\n".encode())
    assert r.status == 200 and "gateway" not in px.log_for("/viaproxy")
    assert upstream.hits("/viaproxy")[0].header("x-forwarded-for") is None


def test_path_prefix_raw_lane_and_refusals(upstream, gw_proxy):
    px = gw_proxy(section("default", attempts=2, start_timeout="10ms") +
                  section(f"route 127.0.0.1:{upstream.port}/v2/slow", attempts=1),
                  gateways={"a": (upstream.url + "/v2/", "forwarded = both\n")})
    gw = px.gw["a"]
    upstream.script("/v2/x", ["503", "200"])
    r = get(gw, "GET", "/x?q=1")
    assert r.status == 200 and r.body == b"status=200 hit=2\n", describe(upstream, px, r)
    h = upstream.hits("/v2/x")[0]
    assert h.target == "/v2/x?q=1"
    assert h.header("forwarded") == f'for=127.0.0.1;host="{gw[0]}:{gw[1]}";proto=http'
    assert h.header("x-forwarded-for") == "127.0.0.1"
    # the route matches the origin's host and the whole path
    upstream.script("/v2/slow", ["503", "200"])
    assert get(gw, "GET", "/slow").status == 503
    # the raw lane: an extension method, and a chunked body, retried alike
    upstream.script("/v2/dav", ["503", "207"])
    r = get(gw, "PROPFIND", "/dav", headers={"Depth": "0", "Idempotency-Key": "k1"})
    assert r.status == 207 and len(upstream.hits("/v2/dav")) == 2, describe(upstream, px, r)
    h = upstream.hits("/v2/dav")[1]
    assert h.header("host") == upstream.authority and h.target == "/v2/dav"
    assert h.header("x-forwarded-for") == "127.0.0.1" and "for=127.0.0.1" in h.header("forwarded")
    e = px.log_for("/v2/dav", method="PROPFIND")
    assert e["url"] == upstream.url + "/v2/dav" and e["gateway"] == f"{gw[0]}:{gw[1]}", e
    upstream.script("/v2/up", ["200"])
    with RawConn(gw) as c:
        c.send(f"PUT /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               f"Connection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n".encode())
        r = c.read_response("PUT")
    assert r.status == 200 and upstream.hits("/v2/up")[0].body == b"abc", r
    # absolute-form and CONNECT are refused with a clear status
    r = send_raw(gw, f"GET {upstream.url}/v2/x HTTP/1.1\r\nHost: {upstream.authority}"
                 "\r\nConnection: close\r\n\r\n".encode())
    assert r.status == 400 and b"origin-form" in r.body, r
    r = send_raw(gw, b"PROPFIND http://example.com/ HTTP/1.1\r\nHost: example.com\r\n"
                 b"Connection: close\r\n\r\n", method="PROPFIND")
    assert r.status == 400 and b"origin-form" in r.body, r
    r = send_raw(gw, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
                 method="CONNECT")
    assert r.status == 501, r
    # and the gateway goes on
    upstream.script("/v2/after", ["200"])
    r = get(gw, "GET", "/after")
    assert r.status == 200 and r.body == b"status=200 hit=1\n"


def test_https_origin_verified(servers, certs, gw_proxy):
    good = tls_origin(servers, certs.good, name="good")
    bad = tls_origin(servers, certs.bad, name="bad")
    good.script("/s", ["503", "200"])
    px = gw_proxy(section("default", attempts=3, start_timeout="10ms"),
                  proxy_lines="",
                  gateways={"good": (good.url, ""), "bad": (bad.url, "")})
    # trust the test CA
    text = px.config_path.read_text()
    assert "[tls]" not in text
    px.stop()
    px.config = "[tls]\ntrust = " + certs.ca + "\n" + px.config
    px.start()
    r = get(px.gw["good"], "GET", "/s")
    assert r.status == 200 and r.body == b"status=200 hit=2\n", describe(good, px, r)
    assert good.hits("/s")[1].header("host") == good.authority
    r = get(px.gw["bad"], "GET", "/s")
    assert r.status == 502 and "tls_certificate_error" in r.header("proxy-status", ""), r
    assert bad.hits() == []
    good.script("/next", ["200"])
    assert get(px.gw["good"], "GET", "/next").body == b"status=200 hit=1\n"


def test_python_base_url_client_gets_retries(upstream, gw_proxy):
    px = gw_proxy(section("default", attempts=3, start_timeout="10ms"),
                  gateways={"a": (upstream.url + "/api", "")})
    gw = px.gw["a"]
    upstream.script("/api/v1/users", ["503", "503", "200"])
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    code = ("import urllib.request, sys\n"
            "base = sys.argv[1]\n"
            "r = urllib.request.urlopen(base + '/v1/users', timeout=10)\n"
            "print(r.status, r.read().decode().strip())\n")
    p = subprocess.run([sys.executable, "-c", code, f"http://{gw[0]}:{gw[1]}"],
                       env=env, capture_output=True, timeout=30)
    assert p.stdout.decode().strip() == "200 status=200 hit=3", p.stderr.decode()
    # requests, when installed: a session keeps its connection to the gateway
    code = ("import sys\n"
            "try:\n"
            "    import requests\n"
            "except ImportError:\n"
            "    print('skip'); sys.exit(0)\n"
            "base = sys.argv[1]\n"
            "s = requests.Session()\n"
            "s.trust_env = True\n"
            "for p in ('/v1/a', '/v1/b', '/v1/a'):\n"
            "    r = s.get(base + p, timeout=10)\n"
            "    print(r.status_code, r.text.strip())\n")
    upstream.script("/api/v1/a", ["503", "200"])
    upstream.script("/api/v1/b", ["reset", "200"])
    p = subprocess.run([sys.executable, "-c", code, f"http://{gw[0]}:{gw[1]}"],
                       env=env, capture_output=True, timeout=30)
    out = p.stdout.decode().split("\n")
    if out[0] != "skip":
        assert out[:3] == ["200 status=200 hit=2", "200 status=200 hit=2",
                           "200 status=200 hit=3"], (out, p.stderr.decode())
        # one client connection carried the three requests
        entries = px.wait_log(lambda e: "/v1/" in e["url"], n=4)[1:]
        assert len({e["client"] for e in entries}) == 1, entries


def test_config_errors_and_reload(upstream, gw_proxy, tmp_path):
    bad = tmp_path / "bad.ini"
    bad.write_text("[proxy]\nlisten = 127.0.0.1:3999\n"
                   "[gateway 127.0.0.1:3999]\norigin = https://a.example\n"
                   "[gateway 127.0.0.1:4000]\norigin = ftp://x\n"
                   "[gateway 127.0.0.1:4001]\n"
                   "[gateway 127.0.0.1:4002]\norigin = http://a.example/v1?x=1\n"
                   "[gateway 0.0.0.0:4002]\norigin = http://a.example\n")
    p = subprocess.run([str(daemon_path()), "-t", "-c", str(bad)],
                       capture_output=True, timeout=10)
    err = p.stderr.decode()
    assert p.returncode == 78, err
    assert f"{bad}:3: [gateway 127.0.0.1:3999]: the address of [proxy] listen" in err
    assert f"{bad}:6: [gateway 127.0.0.1:4000] origin: 'ftp://x'" in err
    assert f"{bad}:7: [gateway 127.0.0.1:4001]: needs origin = URL" in err
    assert "an origin has no query" in err
    assert f"{bad}:10: [gateway 0.0.0.0:4002]: the address of another gateway (line 8)" in err
    # reload adds and removes a gateway
    px = gw_proxy(section("default", attempts=2, start_timeout="10ms"))
    port = free_port()
    px.config_path.write_text(px.config_path.read_text() +
                              f"\n[gateway 127.0.0.1:{port}]\norigin = {upstream.url}\n")
    px.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "configuration reloaded" not in px.stderr():
        assert time.monotonic() < deadline, px.stderr_tail()
        time.sleep(0.02)
    # (the workers bind the new listener as they wake, just after that
    # line: as test_ops's reload of a listen address, wait for it)
    wait_until(lambda: not connect_refused(port), 5, "the gateway listens")
    upstream.script("/r", ["503", "200"])
    r = get((HOST, port), "GET", "/r")
    assert r.status == 200 and r.body == b"status=200 hit=2\n", describe(upstream, px, r)
    text = px.config_path.read_text()
    px.config_path.write_text(text[:text.index("\n[gateway")] + "\n")
    px.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while px.stderr().count("configuration reloaded") < 2:
        assert time.monotonic() < deadline, px.stderr_tail()
        time.sleep(0.02)
    wait_until(lambda: connect_refused(port), 5, "the gateway stops listening")


def listeners(port):
    """Listening TCP sockets on 127.0.0.1:port (/proc/net/tcp)."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        return sum(1 for line in f if line.split()[1] == want and line.split()[3] == "0A")


@pytest.mark.skipif(shutil.which("systemd-socket-activate") is None,
                    reason="systemd-socket-activate not installed")
def test_socket_activation_matches_gateways_by_address(upstream, tmp_path, monkeypatch):
    """systemd passes the proxy's socket and a gateway's: each serves its
    own; a gateway whose socket was not passed is bound by the daemon."""
    for v in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID",
              "LISTEN_FDS", "LISTEN_FDNAMES"):
        monkeypatch.delenv(v, raising=False)
    pport, gport, own = free_port(), free_port(), free_port()
    cfg = tmp_path / "retryproxy.ini"
    cfg.write_text(f"[proxy]\nlisten = {HOST}:{free_port()}\nworkers = 2\n"
                   "shutdown_timeout = 1s\naccess_log = stderr\n\n"
                   + section("default", attempts=2, start_timeout="10ms")
                   + f"[gateway {HOST}:{gport}]\norigin = {upstream.url}/p\n"
                   + f"[gateway {HOST}:{own}]\norigin = {upstream.url}/q\n")
    err_path = tmp_path / "stderr.log"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [shutil.which("systemd-socket-activate"), "-l", f"{HOST}:{pport}",
             "-l", f"{HOST}:{gport}", str(daemon_path()), "-c", str(cfg), "-v"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 5
        while connect_refused(pport) and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        upstream.script("/p/a", ["503", "200"])
        r = get((HOST, gport), "GET", "/a")
        assert r.status == 200 and r.body == b"status=200 hit=2\n", err_path.read_text()
        upstream.script("/direct", ["200"])
        r = send_raw((HOST, pport), f"GET {upstream.url}/direct HTTP/1.1\r\nHost: "
                     f"{upstream.authority}\r\nConnection: close\r\n\r\n".encode())
        assert r.status == 200, err_path.read_text()
        deadline = time.monotonic() + 5
        while connect_refused(own):
            assert time.monotonic() < deadline, err_path.read_text()
            time.sleep(0.02)
        upstream.script("/q/b", ["200"])
        assert get((HOST, own), "GET", "/b").status == 200
        # a reload keeps both: the passed socket is not bound again
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "configuration reloaded" not in err_path.read_text():
            assert time.monotonic() < deadline, err_path.read_text()
            time.sleep(0.02)
        assert listeners(gport) == 1, "the passed gateway address was bound again"
        assert listeners(own) == 2  # (one per worker)
        upstream.script("/p/c", ["503", "200"])
        r = get((HOST, gport), "GET", "/c")
        assert r.status == 200 and r.body == b"status=200 hit=2\n", err_path.read_text()
        assert get((HOST, own), "GET", "/b").status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0, err_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_check_and_explain(upstream, tmp_path):
    cfg = tmp_path / "g.ini"
    cfg.write_text("[gateway 127.0.0.1:8081]\norigin = https://api.example.com/v2/\n"
                   "[route api.example.com/v2/slow]\nattempts = 7\n")
    p = subprocess.run([str(daemon_path()), "-t", "-c", str(cfg)],
                       capture_output=True, timeout=10)
    out = p.stdout.decode()
    assert p.returncode == 0, p.stderr
    assert "[gateway 127.0.0.1:8081]\norigin = https://api.example.com/v2/\n" \
           "forwarded = xff\n" in out, out
    p = subprocess.run([str(daemon_path()), "-c", str(cfg), "--explain", "GET",
                        "http://127.0.0.1:8081/slow/x"], capture_output=True, timeout=10)
    out = p.stdout.decode()
    assert p.returncode == 0, p.stderr
    assert "gateway: [gateway 127.0.0.1:8081] sends GET /slow/x to " \
           "https://api.example.com/v2/slow/x" in out, out
    assert "[route api.example.com/v2/slow]" in out, out


def test_upgrade_through_a_gateway(origin, gw_proxy):
    """The raw lane's upgrade: a WebSocket handshake on a gateway reaches
    the origin with its Host, and the bytes flow both ways after the 101."""
    from test_lanes import SWITCH, WS_HEADERS, Upgrade, read_exactly
    px = gw_proxy(section("default", attempts=1), gateways={"a": (origin.url, "")})
    gw = px.gw["a"]
    origin.script("/ws", Upgrade(SWITCH, b"hi\n", b"bye\n"))
    c = RawConn(gw, timeout=5)
    c.send_request("GET", "/ws", headers=[("Host", "x")] + WS_HEADERS, close=False)
    r = c.read_head()
    assert r.status == 101, r
    q = origin.hits("/ws")[0]
    assert q.header_all("Host") == [origin.authority], q
    assert q.header_all("X-Forwarded-For") == ["127.0.0.1"], q
    assert read_exactly(c, 3) == b"hi\n"
    c.send(b"\x81\x05hello")
    assert read_exactly(c, 7) == b"\x81\x05hello"
    c.half_close()
    assert read_exactly(c, 4) == b"bye\n"
    c.close()
    e = px.log_for("/ws")
    assert e["status"] == 101 and e["gateway"] == f"{gw[0]}:{gw[1]}", e


@pytest.mark.parametrize("case", RETRY_CASES, ids=lambda c: c.id)
def test_retry_table_case_through_a_gateway(case, upstream, gw_proxy):
    """test_retry.py's table, each case sent to a gateway in front of the
    scripted origin as an origin-form request: the same outcomes."""
    cfg = section("default", **{**FAST, **case.policy})
    if case.route is not None:
        cfg += section(f"route {upstream.authority}", **case.route)
    px = gw_proxy(cfg, case.proxy_lines, gateways={"a": (upstream.url, "")})
    upstream.script(case.path, case.script)
    with RawConn(px.gw["a"], timeout=10) as c:
        c.send_request(case.method, case.path, {"Host": "gw", **case.headers},
                       case.body)
        r = c.read_response(case.method)
    why = describe(upstream, px, r)
    assert r.status == case.status, why
    assert r.complete, why
    if case.resp_body is not None:
        assert r.body == case.resp_body, why
    if case.hits is not None:
        assert upstream.count(case.path) == case.hits, why
    if case.proxy_status is not None:
        assert case.proxy_status in (r.header("Proxy-Status") or ""), why
    for k, v in case.resp_headers.items():
        assert r.header(k) == v, f"{k}: {r.header(k)!r} != {v!r}\n{why}"
    if case.check is not None:
        case.check(upstream, r, px)
    # (a request the front refuses -- max_upload -- is logged without a URL)
    e = px.wait_log(lambda e: e["url"] in (upstream.url + case.path, "-"))
    assert e["gateway"] == "%s:%d" % px.gw["a"], e
    if case.attempts is not None:
        assert e["attempts"] == case.attempts, why
    if case.retries is not None:
        assert e["retries"] == case.retries, why
    assert all(h.header("host") == upstream.authority for h in upstream.hits(case.path))
