"""[proxy] auth = basic (retryproxy.ini(5)): clients send
Proxy-Authorization: Basic for a user of auth_file, whose lines htpasswd
writes (-B bcrypt, -2 / -5 SHA-crypt; started from Debian's apache2-utils);
anything else gets a 407 with Proxy-Authenticate, on every lane (evhttp's,
CONNECT, the raw lane).  The header never reaches the origin, the access
log names the user, a reload re-reads the file, and a file others may
write is refused.  Every test checks that the next request on the proxy
still gets its own answer.
"""
import base64
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from clients import RawConn, curl, request
from harness import daemon_path, describe

HTPASSWD = shutil.which("htpasswd")
pytestmark = pytest.mark.skipif(HTPASSWD is None and not os.environ.get("RETRYPROXY_REQUIRE"),
                                reason="htpasswd (apache2-utils) not installed")


def users_file(tmp_path, *entries):
    path = tmp_path / "users"
    path.write_text("# retryproxy users\n")
    for flag, user, pw in entries:
        subprocess.run([HTPASSWD, "-b", flag, str(path), user, pw], check=True,
                       capture_output=True)
    path.chmod(0o640)
    return path


def basic(user, pw):
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def start(proxy, path, more=""):
    return proxy("", proxy_lines=f"auth = basic\nauth_file = {path}\nworkers = 1\n{more}")


def test_users_of_each_hash_pass_others_get_407(upstream, proxy, tmp_path):
    path = users_file(tmp_path, ("-B", "alice", "s3cret"), ("-2", "bob", "pw two"),
                      ("-5", "carol", "pw:five"))
    px = start(proxy, path)
    upstream.script("/a", ["200"])
    for user, pw in (("alice", "s3cret"), ("bob", "pw two"), ("carol", "pw:five")):
        r = request(px.addr, "GET", upstream.url + "/a",
                    {"Proxy-Authorization": basic(user, pw)})
        assert r.status == 200, describe(upstream, px, r)
        assert px.wait_log(lambda e: e.get("user") == user)["status"] == 200
    # the credentials never reach the origin
    assert all(not h.has_header("proxy-authorization") for h in upstream.hits("/a"))
    for hdrs in ({}, {"Proxy-Authorization": basic("alice", "wrong")},
                 {"Proxy-Authorization": basic("mallory", "s3cret")},
                 {"Proxy-Authorization": "Bearer abc"},
                 {"Proxy-Authorization": "Basic !!!"}):
        r = request(px.addr, "GET", upstream.url + "/a", hdrs)
        assert r.status == 407, r
        assert r.header("proxy-authenticate", "").startswith('Basic realm="retryproxy"'), r
    assert upstream.count("/a") == 3
    # the next request on the same connection after a 407 is its own
    with RawConn(px.addr) as c:
        c.send_request("GET", upstream.url + "/a", close=False)
        assert c.read_response().status == 407
        c.send_request("GET", upstream.url + "/a",
                       {"Proxy-Authorization": basic("alice", "s3cret")}, close=False)
        r = c.read_response()
        assert r.status == 200 and r.body == b"status=200 hit=4\n", r
    # curl with --proxy-user
    res = curl(upstream.url + "/a", px.url, extra=["--proxy-user", "bob:pw two"])
    assert res.status == 200, res.stderr


def test_connect_and_raw_lane_ask_too(upstream, proxy, tmp_path):
    path = users_file(tmp_path, ("-B", "alice", "s3cret"))
    px = start(proxy, path, f"connect_ports = {upstream.addr[1]}")
    # CONNECT
    for hdr, want in (("", b"407"), (f"Proxy-Authorization: {basic('alice', 's3cret')}\r\n",
                                     b"200")):
        s = socket.create_connection(px.addr, timeout=5)
        s.sendall(f"CONNECT {upstream.authority} HTTP/1.1\r\nHost: {upstream.authority}\r\n"
                  f"{hdr}\r\n".encode())
        head = s.recv(4096)
        assert head.split(b" ")[1] == want, head
        if want == b"407":
            assert b"Proxy-Authenticate: Basic" in head, head
        else:
            upstream.script("/t", ["200"])
            s.sendall(f"GET /t HTTP/1.1\r\nHost: {upstream.authority}\r\n"
                      "Connection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            assert b"status=200 hit=1" in data, data
        s.close()
    assert px.wait_log(lambda e: e.get("method") == "CONNECT" and e.get("user") == "alice")
    # the raw lane (an extension method)
    upstream.script("/dav", ["207"])
    r = request(px.addr, "PROPFIND", upstream.url + "/dav")
    assert r.status == 407 and r.header("proxy-authenticate"), r
    r = request(px.addr, "PROPFIND", upstream.url + "/dav",
                {"Proxy-Authorization": basic("alice", "s3cret"), "Depth": "0"})
    assert r.status == 207, describe(upstream, px, r)
    assert not upstream.hits("/dav")[0].has_header("proxy-authorization")
    e = px.wait_log(lambda e: e.get("method") == "PROPFIND" and e.get("status") == 207)
    assert e["user"] == "alice", e


def test_reload_rereads_the_file(upstream, proxy, tmp_path):
    path = users_file(tmp_path, ("-B", "alice", "s3cret"))
    px = start(proxy, path)
    upstream.script("/r", ["200"])
    ok = {"Proxy-Authorization": basic("alice", "s3cret")}
    assert request(px.addr, "GET", upstream.url + "/r", ok).status == 200
    # alice's password changes, dave is added
    subprocess.run([HTPASSWD, "-b", "-B", str(path), "alice", "new"], check=True,
                   capture_output=True)
    subprocess.run([HTPASSWD, "-b", "-5", str(path), "dave", "d"], check=True,
                   capture_output=True)
    px.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if request(px.addr, "GET", upstream.url + "/r", ok).status == 407:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the old password still works after SIGHUP\n" + px.stderr_tail())
    for user, pw in (("alice", "new"), ("dave", "d")):
        assert request(px.addr, "GET", upstream.url + "/r",
                       {"Proxy-Authorization": basic(user, pw)}).status == 200


@pytest.mark.parametrize("case", ["writable", "apr1", "missing", "nofile"])
def test_bad_files_are_refused_at_start(tmp_path, case):
    path = tmp_path / "users"
    if case == "writable":
        users_file(tmp_path, ("-B", "alice", "s3cret")).chmod(0o666)
        want = "writable by group or others"
    elif case == "apr1":
        subprocess.run([HTPASSWD, "-c", "-b", "-m", str(path), "alice", "x"], check=True,
                       capture_output=True)
        path.chmod(0o600)
        want = "users:1: user 'alice': a hash the system's crypt does not take"
    elif case == "missing":
        want = "cannot read"
    else:
        want = "auth: basic needs auth_file"
    conf = tmp_path / "r.ini"
    conf.write_text("[proxy]\nauth = basic\n" +
                    ("" if case == "nofile" else f"auth_file = {path}\n"))
    out = subprocess.run([str(daemon_path()), "-t", "-c", str(conf)], capture_output=True,
                         text=True)
    assert out.returncode == 78 and want in out.stderr, (out.returncode, out.stderr)


@pytest.fixture
def ops_proxy(upstream, make_upstream, tmp_path):
    from harness import daemon_factory
    from test_ops import OpsProxy
    yield from daemon_factory(OpsProxy, tmp_path, "authhash")


def test_password_hash_once_a_process(upstream, ops_proxy, tmp_path):
    """Accepted credentials are cached for the whole process: with two
    workers and eight client connections, alice's bcrypt is computed once
    (retryproxy_auth_hashes_total); a wrong password is never cached."""
    from test_ops import samples
    path = users_file(tmp_path, ("-B", "alice", "s3cret"))
    px = ops_proxy("", proxy_lines=f"auth = basic\nauth_file = {path}\nworkers = 2\n")
    ok = {"Proxy-Authorization": basic("alice", "s3cret")}
    bad = {"Proxy-Authorization": basic("alice", "wrong")}
    for c in range(8):
        with RawConn(px.addr) as conn:
            for i in range(3):
                upstream.script(f"/h{c}_{i}", ["200"])
                conn.send_request("GET", f"{upstream.url}/h{c}_{i}", headers=ok,
                                  close=False)
                r = conn.read_response()
                assert r.status == 200 and r.body == b"status=200 hit=1\n", \
                    describe(upstream, px, r)
    for _ in range(2):
        assert request(px.addr, "GET", upstream.url + "/no", bad).status == 407
    got = {lbl["result"]: v for lbl, v in
           samples(px.metrics(), "retryproxy_auth_hashes_total")}
    assert got == {"accepted": 1, "refused": 2}, got
    assert px.log_for("/h7_2")["user"] == "alice"
