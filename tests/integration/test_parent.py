"""parent, parent_auth (retryproxy.ini(5)): requests go through parent
proxies -- a real Squid and tinyproxy started here from the Debian
packages, and a small parent of our own that refuses, resets or answers
503 itself for fault injection.  A parent that fails itself moves the
retry to the next one (and is tried last for a while); a 503 of the
origin behind a parent is the origin's; parent = direct bypasses the
parents; parent_auth reaches the parent.  After each case the next
requests get their own answers.
"""
import base64
import os
import shutil
import signal
import socket
import subprocess
import threading
import tempfile
import time
from pathlib import Path

import pytest

from clients import request
from harness import daemon_factory, describe, free_port, section
from test_ops import OpsProxy, samples

HOST = "127.0.0.1"


def wait_port(port, proc, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def private_dir(name):
    """A directory of its own under /tmp that the server's user can write
    (run as root, squid and tinyproxy drop to an unprivileged user, who
    cannot enter pytest's 0700 directories)."""
    d = Path(tempfile.mkdtemp(prefix=f"retryproxy-{name}-"))
    os.chmod(d, 0o777)
    return d


def run_server(argv, port, workdir):
    out = open(workdir / "server.out", "wb")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, cwd=str(workdir))
    out.close()
    if not wait_port(port, proc):
        proc.kill()
        proc.wait()
        pytest.fail(f"{argv[0]} did not listen:\n" +
                    (workdir / "server.out").read_text(errors="replace"))
    return proc


def stop_server(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_squid():
    """A Squid on a free loopback port: no cache, logs in a private dir."""
    binary = shutil.which("squid") or "/usr/sbin/squid"
    if not os.path.exists(binary):
        pytest.skip("squid not installed (apt-get install -y squid)")
    d = private_dir("squid")
    port = free_port()
    conf = d / "squid.conf"
    conf.write_text(f"""http_port {HOST}:{port}
http_access allow all
cache deny all
cache_mem 8 MB
pid_filename {d}/squid.pid
cache_log {d}/cache.log
access_log stdio:{d}/access.log
cache_store_log none
coredump_dir {d}
shutdown_lifetime 0 seconds
visible_hostname parent-test
pinger_enable off
""")
    proc = run_server([binary, "-N", "-f", str(conf)], port, d)
    proc.port = port
    proc.dir = d
    return proc


def squid_log(squid, *needles, timeout=5.0):
    """Squid's access log once it holds every needle (or at the deadline).

    Squid writes a line when a transaction ends -- a tunnel's when both
    sides have closed -- and after the client already has its answer: read
    at once, the last line may not be there yet (seen under load)."""
    deadline = time.monotonic() + timeout
    while True:
        text = (squid.dir / "access.log").read_text()
        if all(n in text for n in needles) or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


@pytest.fixture
def make_squid():
    made = []

    def make():
        made.append(start_squid())
        return made[-1]

    yield make
    for proc in made:
        stop_server(proc)
        shutil.rmtree(proc.dir, ignore_errors=True)


@pytest.fixture
def squid(make_squid):
    return make_squid()


@pytest.fixture
def tinyproxy(tmp_path):
    """A tinyproxy on a free loopback port that wants Basic alice:s3cret."""
    binary = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
    if not os.path.exists(binary):
        pytest.skip("tinyproxy not installed (apt-get install -y tinyproxy)")
    d = private_dir("tinyproxy")
    port = free_port()
    conf = d / "tinyproxy.conf"
    conf.write_text(f"""Port {port}
Listen {HOST}
Timeout 30
MaxClients 20
LogFile "{d}/tinyproxy.log"
PidFile "{d}/tinyproxy.pid"
BasicAuth alice s3cret
""")
    proc = run_server([binary, "-d", "-c", str(conf)], port, d)
    proc.port = port
    yield proc
    stop_server(proc)
    shutil.rmtree(d, ignore_errors=True)


class FakeParent:
    """A parent proxy of our own.  mode: "forward" (relays the absolute-
    form request to its origin, adding Via), "503" (answers 503 itself,
    with Proxy-Status), "reset" (closes without a word).  It records the
    request-target and Proxy-Authorization of each request."""

    def __init__(self, mode="forward"):
        self.mode = mode
        self.seen = []  # (target, proxy-authorization or None)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.text = f"{HOST}:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.sock.close()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _read_head(f):
        line = f.readline()
        if not line:
            return None, None
        headers = []
        while True:
            h = f.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers.append((k.strip(), v.strip()))
        return line.decode("latin-1").split(), headers

    def _serve(self, c):
        f = c.makefile("rb")
        try:
            while True:
                rl, headers = self._read_head(f)
                if rl is None:
                    return
                hd = {k.lower(): v for k, v in headers}
                body = f.read(int(hd.get("content-length", "0")))
                self.seen.append((rl[1], hd.get("proxy-authorization")))
                if self.mode == "reset":
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    return
                if self.mode == "503":
                    c.sendall(b"HTTP/1.1 503 Service Unavailable\r\n"
                              b"Proxy-Status: fakeparent; error=connection_refused\r\n"
                              b"Content-Length: 6\r\n\r\nparent")
                    continue
                c.sendall(self._forward(rl, headers, body))
        finally:
            f.close()
            c.close()

    @staticmethod
    def _forward(rl, headers, body):
        method, target = rl[0], rl[1]
        assert target.startswith("http://"), target
        authority, _, path = target[7:].partition("/")
        host, _, port = authority.rpartition(":")
        up = socket.create_connection((host, int(port)), timeout=10)
        head = f"{method} /{path} HTTP/1.1\r\n"
        for k, v in headers:
            if k.lower() not in ("proxy-authorization", "connection"):
                head += f"{k}: {v}\r\n"
        up.sendall(head.encode("latin-1") + b"Connection: close\r\n\r\n" + body)
        data = b""
        while True:
            b = up.recv(65536)
            if not b:
                break
            data += b
        up.close()
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = [x for x in head.split(b"\r\n")
                 if not x.lower().startswith(b"connection:") and
                 not x.lower().startswith(b"content-length:")]
        lines.append(b"Via: 1.1 fakeparent")
        lines.append(b"Content-Length: %d" % len(rest))
        return b"\r\n".join(lines) + b"\r\n\r\n" + rest


@pytest.fixture
def fake_parent():
    made = []

    def make(mode="forward"):
        p = FakeParent(mode)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


@pytest.fixture
def ops_proxy(upstream, make_upstream, tmp_path):
    yield from daemon_factory(OpsProxy, tmp_path, "parent")


def parent_failures(px):
    return {labels["parent"]: v for labels, v in
            samples(px.metrics(), "retryproxy_parent_failures_total")}


def own_answers(px, upstream, n=3, tag="next"):
    """The next requests on the same proxy get their own answers."""
    for i in range(n):
        upstream.script(f"/{tag}{i}", ["200"])
        r = request(px.addr, "GET", f"{upstream.url}/{tag}{i}")
        assert r.status == 200 and r.body == b"status=200 hit=1\n", \
            describe(upstream, px, r)


def test_http_through_squid(upstream, squid, ops_proxy):
    px = ops_proxy(section("default", parent=f"http://{HOST}:{squid.port}"))
    upstream.script("/a", ["200"])
    r = request(px.addr, "GET", upstream.url + "/a?q=1")
    assert r.status == 200 and r.body == b"status=200 hit=1\n", describe(upstream, px, r)
    hit = upstream.hits()[-1]
    assert "squid" in hit.header("via", ""), hit.headers  # it came through Squid
    assert hit.target == "/a?q=1"
    e = px.log_for("/a?q=1")
    assert e["parent"] == f"{HOST}:{squid.port}" and e["attempts"] == 1, e
    # the POST body arrives whole through the parent
    upstream.script("/p", ["200"])
    r = request(px.addr, "POST", upstream.url + "/p", body=b"x" * 5000)
    assert r.status == 200 and upstream.hits()[-1].body_len == 5000
    own_answers(px, upstream)
    assert f"GET {upstream.url}/a" in squid_log(squid, f"GET {upstream.url}/a")


def test_first_parent_stopped_every_request_through_second(upstream, squid, ops_proxy):
    dead = free_port()
    px = ops_proxy(section("default", attempts=3, start_timeout="10ms",
                           parent=[f"http://{HOST}:{dead}",
                                   f"http://{HOST}:{squid.port}"]))
    for i in range(6):
        upstream.script(f"/f{i}", ["200"])
        r = request(px.addr, "GET", f"{upstream.url}/f{i}")
        assert r.status == 200 and r.body == b"status=200 hit=1\n", describe(upstream, px, r)
        e = px.log_for(f"/f{i}")
        assert e["parent"] == f"{HOST}:{squid.port}", e
        if i == 0:  # refused by the first parent, then the second
            assert e["attempts"] == 2 and e["retries"] == ["refused"], e
        else:  # the first is avoided now: straight to the second
            assert e["attempts"] == 1, e
    assert parent_failures(px) == {f"{HOST}:{dead}": 1}
    assert f"parent {HOST}:{dead} failed" in px.stderr()
    own_answers(px, upstream)


def test_first_squid_stopped_every_request_through_second(upstream, make_squid,
                                                          ops_proxy):
    """Two real parents; the first one serves (and its connections are
    pooled) until it stops; then every request succeeds through the
    second."""
    first, second = make_squid(), make_squid()
    px = ops_proxy(section("default", attempts=3, start_timeout="10ms",
                           parent=[f"http://{HOST}:{first.port}",
                                   f"http://{HOST}:{second.port}"]))
    for i in range(3):
        upstream.script(f"/before{i}", ["200"])
        r = request(px.addr, "GET", f"{upstream.url}/before{i}")
        assert r.status == 200, describe(upstream, px, r)
        assert px.log_for(f"/before{i}")["parent"] == f"{HOST}:{first.port}"
    stop_server(first)
    for i in range(6):
        upstream.script(f"/after{i}", ["200"])
        r = request(px.addr, "GET", f"{upstream.url}/after{i}")
        assert r.status == 200 and r.body == b"status=200 hit=1\n", \
            describe(upstream, px, r)
        assert px.log_for(f"/after{i}")["parent"] == f"{HOST}:{second.port}"
    assert parent_failures(px) == {f"{HOST}:{first.port}": 1}
    own_answers(px, upstream)


def test_origin_503_behind_parent_is_the_origins(upstream, squid, ops_proxy):
    px = ops_proxy(section("default", attempts=3, start_timeout="10ms",
                           parent=f"http://{HOST}:{squid.port}"))
    upstream.script("/o", ["503", "503", "200"])
    r = request(px.addr, "GET", upstream.url + "/o")
    assert r.status == 200 and r.body == b"status=200 hit=3\n", describe(upstream, px, r)
    e = px.log_for("/o")
    assert e["attempts"] == 3 and e["retries"] == ["503", "503"], e
    assert e["parent"] == f"{HOST}:{squid.port}"
    # not a parent failure: no mark, no metric
    assert parent_failures(px) == {}
    assert "failed (attempt" not in px.stderr()
    # a final origin 503 comes back as the origin's
    upstream.script("/o2", ["503", "503", "503"])
    r = request(px.addr, "GET", upstream.url + "/o2")
    assert r.status == 503 and r.body == b"status=503 hit=3\n", describe(upstream, px, r)
    own_answers(px, upstream)


def test_squid_own_503_is_a_parent_failure(upstream, squid, ops_proxy):
    """Squid cannot reach the origin: its own 503 (X-Squid-Error) counts
    against Squid, not the origin; a lone parent, though marked, still
    serves (a mark only orders the parents)."""
    px = ops_proxy(section("default", attempts=2, start_timeout="10ms",
                           parent=f"http://{HOST}:{squid.port}"))
    dead = free_port()
    r = request(px.addr, "GET", f"http://{HOST}:{dead}/x")
    assert r.status == 503 and r.header("x-squid-error", "").startswith(
        "ERR_CONNECT_FAIL"), r
    e = px.log_for("/x")
    assert e["attempts"] == 2 and e["retries"] == ["503"], e
    assert parent_failures(px) == {f"{HOST}:{squid.port}": 2}
    own_answers(px, upstream)


@pytest.mark.parametrize("mode,reason", [("503", "503"), ("reset", "reset")])
def test_faulty_parent_moves_to_next(upstream, fake_parent, ops_proxy, mode, reason):
    bad, good = fake_parent(mode), fake_parent("forward")
    px = ops_proxy(section("default", attempts=3, start_timeout="10ms",
                           parent=[f"http://{bad.text}", f"http://{good.text}"]))
    upstream.script("/m", ["200"])
    r = request(px.addr, "GET", upstream.url + "/m")
    assert r.status == 200 and r.body == b"status=200 hit=1\n", describe(upstream, px, r)
    e = px.log_for("/m")
    assert e["attempts"] == 2 and e["retries"] == [reason] and \
        e["parent"] == good.text, e
    assert len(bad.seen) == 1 and bad.seen[0][0] == upstream.url + "/m", bad.seen
    # the bad parent is avoided by the next requests
    own_answers(px, upstream, n=4)
    assert len(bad.seen) == 1, bad.seen
    assert len(good.seen) == 5
    assert parent_failures(px) == {bad.text: 1}


def test_parent_503_is_final_when_no_retry(upstream, fake_parent, ops_proxy):
    bad = fake_parent("503")
    px = ops_proxy(section("default", attempts=1, parent=f"http://{bad.text}"))
    r = request(px.addr, "GET", upstream.url + "/one")
    assert r.status == 503 and r.body == b"parent", r
    assert upstream.hits() == []


def test_direct_route_bypasses_parent(upstream, fake_parent, ops_proxy):
    fp = fake_parent("forward")
    other = fake_parent("forward")
    px = ops_proxy(section("default", parent=f"http://{fp.text}")
                   + section(f"route {HOST}:{upstream.port}", parent="direct")
                   + section("route via.example", parent=f"http://{other.text}"))
    upstream.script("/d", ["200"])
    r = request(px.addr, "GET", upstream.url + "/d")
    assert r.status == 200, describe(upstream, px, r)
    assert fp.seen == [] and other.seen == []
    assert "parent" not in px.log_for("/d")
    own_answers(px, upstream)
    assert fp.seen == []


def test_parent_auth_seen_by_parent(upstream, fake_parent, ops_proxy, tmp_path):
    fp = fake_parent("forward")
    px = ops_proxy(section("default", parent=f"http://{fp.text}",
                           parent_auth="alice:s3cret:x"))
    upstream.script("/auth", ["200"])
    r = request(px.addr, "GET", upstream.url + "/auth",
                headers={"Proxy-Authorization": "Basic Y2xpZW50OnNlY3JldA=="})
    assert r.status == 200, describe(upstream, px, r)
    want = "Basic " + base64.b64encode(b"alice:s3cret:x").decode()
    # ours, never the client's
    assert fp.seen == [(upstream.url + "/auth", want)], fp.seen
    assert upstream.hits()[-1].header("proxy-authorization") is None
    assert "s3cret" not in px.stderr() and "s3cret" not in px.log_path.read_text()
    own_answers(px, upstream)


def test_parent_auth_file_through_tinyproxy(upstream, tinyproxy, ops_proxy, tmp_path):
    secret = tmp_path / "parent.secret"
    secret.write_text("alice:s3cret\n")
    os.chmod(secret, 0o600)
    tp = f"http://{HOST}:{tinyproxy.port}"
    px = ops_proxy(section("default", attempts=1, parent=tp, parent_auth=str(secret))
                   + section("route 127.0.0.2", parent=tp, parent_auth=""))
    upstream.script("/tp", ["200"])
    r = request(px.addr, "GET", upstream.url + "/tp")
    assert r.status == 200 and r.body == b"status=200 hit=1\n", describe(upstream, px, r)
    assert "tinyproxy" in upstream.hits()[-1].header("via", "")
    # without the credentials tinyproxy answers 407
    r = request(px.addr, "GET", f"http://127.0.0.2:{upstream.port}/noauth")
    assert r.status == 407, r
    own_answers(px, upstream)


def test_check_config_and_explain_name_the_parent(tmp_path):
    from harness import daemon_path
    cfg = tmp_path / "p.ini"
    cfg.write_text("[default]\nparent = http://proxy.corp:8080, http://proxy2.corp:8080\n"
                   "parent_auth = bob:hunter2\n[route intranet.example]\nparent = direct\n")
    out = subprocess.run([str(daemon_path()), "-t", "-c", str(cfg)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # the first line says which parent requests use
    assert out.stdout.splitlines()[0] == (
        f"; effective configuration of {cfg}; requests go via "
        "http://proxy.corp:8080, then http://proxy2.corp:8080; "
        "[route intranet.example] direct")
    assert "parent = http://proxy.corp:8080, http://proxy2.corp:8080\n" \
        "parent_auth = (set)\n" in out.stdout
    assert "parent = direct\n" in out.stdout and "hunter2" not in out.stdout
    out = subprocess.run([str(daemon_path()), "--explain", "GET",
                          "http://api.example/x", "-c", str(cfg)],
                         capture_output=True, text=True)
    assert "parent: http://proxy.corp:8080, then http://proxy2.corp:8080" in out.stdout
    out = subprocess.run([str(daemon_path()), "--explain", "GET",
                          "http://intranet.example/x", "-c", str(cfg)],
                         capture_output=True, text=True)
    assert "parent: direct" in out.stdout
    cfg.write_text("[default]\nparent = https://proxy.corp:8080\n")
    out = subprocess.run([str(daemon_path()), "-t", "-c", str(cfg)],
                         capture_output=True, text=True)
    assert out.returncode == 78 and f"{cfg}:2: [default] parent:" in out.stderr


# ---- the raw lane, CONNECT tunnels and TLS origins through the parent ----
from test_https import certs, open_tunnel, servers, tls_origin  # noqa: E402,F401


def test_raw_lane_through_squid(upstream, squid, ops_proxy):
    """A method evhttp does not know takes the raw lane: absolute form to
    the parent, with parent_auth."""
    px = ops_proxy(section("default", parent=f"http://{HOST}:{squid.port}",
                           parent_auth="u:p"))
    upstream.script("/raw", ["200"])
    r = request(px.addr, "PROPFIND", upstream.url + "/raw", body=b"hello")
    assert r.status == 200 and r.body == b"status=200 hit=1\n", describe(upstream, px, r)
    hit = upstream.hits()[-1]
    assert hit.method == "PROPFIND" and "squid" in hit.header("via", "") and \
        hit.body == b"hello", hit
    assert px.log_for("/raw")["parent"] == f"{HOST}:{squid.port}"
    own_answers(px, upstream)


def test_connect_tunnel_through_squid(upstream, squid, ops_proxy):
    dead = free_port()
    px = ops_proxy(section("default", attempts=3, start_timeout="10ms",
                           parent=[f"http://{HOST}:{dead}",
                                   f"http://{HOST}:{squid.port}"]),
                   "connect_ports = *")
    upstream.script("/in", ["200"])
    c, r = open_tunnel(px, upstream.authority)
    assert r.status == 200, r
    c.send(f"GET /in HTTP/1.1\r\nHost: {upstream.authority}\r\n\r\n".encode())
    r = c.read_response("GET")
    assert r.status == 200 and r.body == b"status=200 hit=1\n", describe(upstream, px, r)
    # the origin saw Squid's address, not a Via: a tunnel is bytes
    c.close()
    e = px.wait_log(lambda e: e.get("method") == "CONNECT")
    assert e["parent"] == f"{HOST}:{squid.port}" and e["attempts"] == 2, e
    assert f"CONNECT {upstream.authority}" in squid_log(
        squid, f"CONNECT {upstream.authority}")
    own_answers(px, upstream)


def test_connect_refused_by_parent_407(upstream, tinyproxy, ops_proxy):
    px = ops_proxy(section("default", parent=f"http://{HOST}:{tinyproxy.port}"),
                   "connect_ports = *")
    c, r = open_tunnel(px, upstream.authority)
    assert r.status == 502 and "proxy_configuration_error" in \
        r.header("proxy-status", ""), r
    c.close()
    assert "answered 407 to CONNECT" in px.stderr()


def test_tls_origin_through_squid(certs, servers, squid, ops_proxy):
    origin = tls_origin(servers, certs.good)
    origin.script("/t", ["503", "200"])
    origin.script("/abs", ["200"])
    authority = f"localhost:{origin.port}"
    px = ops_proxy(section("tls", trust=certs.ca)
                   + section("default", start_timeout="10ms",
                             parent=f"http://{HOST}:{squid.port}")
                   + section(f"route {authority}", tls=True))
    r = request(px.addr, "GET", f"http://{authority}/t")
    assert r.status == 200 and r.body == b"status=200 hit=2\n", describe(origin, px, r)
    e = px.log_for("/t")
    assert e["attempts"] == 2 and e["retries"] == ["503"] and \
        e["parent"] == f"{HOST}:{squid.port}", e
    r = request(px.addr, "GET", f"https://127.0.0.1:{origin.port}/abs")
    assert r.status == 200, describe(origin, px, r)
    log = squid_log(squid, f"CONNECT {authority}",
                    f"CONNECT 127.0.0.1:{origin.port}")
    assert f"CONNECT {authority}" in log and f"CONNECT 127.0.0.1:{origin.port}" in log, log
    assert origin.tls_errors == []
