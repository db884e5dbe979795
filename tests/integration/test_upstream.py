"""Self-tests of the scripted upstream and the clients, without the daemon.

They check that each fault kind does on the wire what the proxy tests rely
on, and that curl, wget and urllib really go through the proxy they are
given (the upstream accepts absolute-form targets, so it can stand in for
the proxy).
"""

import hashlib
import shutil
import socket
import time

import pytest

from clients import RawConn, curl, request, urllib_request, wget
from upstream import PatternChecker, pattern_bytes, pattern_sha256


def test_status_script_and_last_step_repeats(upstream):
    upstream.script("/a", ["503", {"status": 429, "headers": {"Retry-After": "1"}}, "200"])
    got = [request(upstream.addr, "GET", upstream.url + "/a") for _ in range(4)]
    assert [r.status for r in got] == [503, 429, 200, 200]
    assert got[1].header("Retry-After") == "1"
    assert got[3].body == b"status=200 hit=4\n"
    assert [h.index for h in upstream.hits("/a")] == [1, 2, 3, 4]
    assert upstream.hits("/a")[0].target == upstream.url + "/a"


def test_keepalive_serves_several_requests_per_connection(upstream):
    upstream.script("/k", ["200"])
    with RawConn(upstream.addr) as c:
        for i in range(3):
            c.send_request("GET", "/k?i=%d" % i, headers={"Host": upstream.authority},
                           close=False)
            r = c.read_response()
            assert r.status == 200 and r.complete
    assert upstream.connections == 1
    assert [h.conn_request for h in upstream.hits("/k")] == [1, 2, 3]
    assert upstream.hits("/k")[2].query == "i=2"


def test_request_body_recorded_content_length_and_chunked(upstream):
    body = pattern_bytes(300000)
    r = request(upstream.addr, "PUT", upstream.url + "/b", body=body)
    assert r.status == 200
    h = upstream.hits("/b")[0]
    assert h.body == body and h.body_len == len(body)
    assert h.body_sha256 == hashlib.sha256(body).hexdigest()
    raw = (b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           b"Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    with RawConn(upstream.addr) as c:
        c.send(raw)
        assert c.read_response().status == 200
    assert upstream.hits("/c")[0].body == b"hello world"


def test_reset_is_seen_as_rst_by_curl(upstream):
    upstream.script("/r", ["reset"])
    res = curl(upstream.url + "/r")
    assert res.returncode == 56, res  # "Failure in receiving network data"
    assert "reset" in res.stderr.lower(), res.stderr
    assert upstream.count("/r") == 1
    r = request(upstream.addr, "GET", upstream.url + "/r")
    assert r.status == 0 and r.error == "reset"


def test_close_answers_nothing(upstream):
    upstream.script("/c", ["close"])
    r = request(upstream.addr, "GET", upstream.url + "/c")
    assert r.status == 0 and r.error == "eof" and r.raw_head == b""


def test_stall_then_200_with_curl(upstream):
    upstream.script("/s", ["stall:0.5"])
    t0 = time.monotonic()
    res = curl(upstream.url + "/s")
    dt = time.monotonic() - t0
    assert res.returncode == 0 and res.status == 200, res
    assert 0.45 <= dt < 1.5
    assert upstream.hits("/s")[0].responded


def test_stall_notices_client_gone(upstream):
    upstream.script("/s", ["stall:3"])
    c = RawConn(upstream.addr)
    c.send_request("GET", upstream.url + "/s")
    assert upstream.wait_hits("/s", 1, 2)
    t0 = time.monotonic()
    c.close()
    assert upstream.wait_for(lambda: upstream.hits("/s")[0].client_gone, 1.0)
    assert time.monotonic() - t0 < 0.5
    assert not upstream.hits("/s")[0].responded


def test_big_nolen_chunked_are_the_pattern(upstream):
    n = 5 * 1024 * 1024 + 7
    upstream.script("/big", ["big:%d" % n])
    upstream.script("/nolen", ["nolen:123457"])
    upstream.script("/chunked", ["chunked:200003"])
    with RawConn(upstream.addr) as c:
        c.send_request("GET", upstream.url + "/big")
        r = c.read_head()
        h = hashlib.sha256()
        total = 0
        for piece in c.body_iter(r):
            h.update(piece)
            total += len(piece)
        assert r.complete and total == n and h.hexdigest() == pattern_sha256(n)
    r = request(upstream.addr, "GET", upstream.url + "/nolen")
    assert r.header("Content-Length") is None and r.complete
    assert r.body == pattern_bytes(123457)
    r = request(upstream.addr, "GET", upstream.url + "/chunked")
    assert r.header("Transfer-Encoding") == "chunked" and r.complete
    assert r.body == pattern_bytes(200003)


def test_slowbody_rate(upstream):
    upstream.script("/slow", ["slowbody:20000:40000"])
    r = request(upstream.addr, "GET", upstream.url + "/slow")
    assert r.complete and r.body == pattern_bytes(20000)
    assert 0.4 <= r.elapsed < 1.0, r.elapsed


def test_garbage(upstream):
    upstream.script("/g", ["garbage"])
    with RawConn(upstream.addr) as c:
        c.send_request("GET", upstream.url + "/g")
        c.wait_closed(2)
        assert bytes(c.buf) == b"HELLO\r\n\r\n"


def test_breakmid_truncates_with_rst(upstream):
    upstream.script("/bm", ["breakmid:100000"])
    r = request(upstream.addr, "GET", upstream.url + "/bm")
    assert r.status == 200 and r.content_length == 200000
    assert not r.complete and r.error == "reset"
    assert len(r.body) <= 100000 and r.body == pattern_bytes(len(r.body))


def test_big_status_body_and_close_after(upstream):
    upstream.script("/e", [{"status": 503, "body_len": 1 << 20, "close_after": True}])
    with RawConn(upstream.addr) as c:
        c.send_request("GET", "/e", headers={"Host": "x"}, close=False)
        r = c.read_response()
        assert r.status == 503 and r.body == b"E" * (1 << 20)
        assert r.header("Connection") is None
        assert c.wait_closed(2) and c.error is None


def test_drop_next_closes_on_the_next_request(upstream):
    upstream.script("/d1", [{"status": 200, "drop_next": True}])
    with RawConn(upstream.addr) as c:
        c.send_request("GET", "/d1", headers={"Host": "x"}, close=False)
        assert c.read_response().status == 200
        c.send_request("GET", "/d2", headers={"Host": "x"}, close=False)
        r = c.read_response()
        assert r.status == 0 and r.error == "eof"
    assert upstream.count("/d2") == 0 and len(upstream.dropped) == 1
    assert upstream.dropped[0].path == "/d2"


def test_wait_hits_blocks_on_event(upstream):
    t0 = time.monotonic()
    assert not upstream.wait_hits("/never", 1, 0.2)
    assert 0.15 <= time.monotonic() - t0 < 0.5
    assert upstream.gaps("/never") == []


def test_bound_but_not_listening_is_refused(make_upstream):
    late = make_upstream(start=False)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", late.port), timeout=1).close()
    late.start()
    socket.create_connection(("127.0.0.1", late.port), timeout=1).close()


def test_ipv6_upstream(make_upstream):
    try:
        up6 = make_upstream("::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    r = request(("::1", up6.port), "GET", up6.url + "/six")
    assert r.status == 200 and up6.count("/six") == 1


# --- the clients really use the proxy they are given -----------------------
# The upstream stands in for the proxy: it records the absolute-form target.
TARGET = "http://127.0.0.1:9/via-proxy?q=1"  # port 9: nothing should go there


def _went_through(up):
    hs = up.hits("/via-proxy")
    return len(hs) == 1 and hs[0].target == TARGET


def test_curl_x_uses_proxy(upstream):
    res = curl(TARGET, proxy_url=upstream.url)
    assert res.status == 200 and _went_through(upstream), res


def test_curl_env_uses_proxy(upstream):
    res = curl(TARGET, proxy_url=upstream.url, via_env=True)
    assert res.status == 200 and _went_through(upstream), res


@pytest.mark.skipif(shutil.which("wget") is None, reason="wget not installed")
def test_wget_env_uses_proxy(upstream):
    res = wget(TARGET, upstream.url)
    assert res.status == 200 and _went_through(upstream), res


def test_urllib_uses_proxy(upstream):
    status, _, body = urllib_request(upstream.url, TARGET)
    assert status == 200 and _went_through(upstream)
    upstream.script("/via-proxy", ["500"])
    status, _, body = urllib_request(upstream.url, TARGET)
    assert status == 500 and body == b"status=500 hit=2\n"


def test_pattern_checker():
    pc = PatternChecker()
    pc.feed(pattern_bytes(70000))
    pc.feed(pattern_bytes(10, 70000))
    assert pc.ok and pc.count == 70010
    pc.feed(bytes([pattern_bytes(1, 70010)[0] ^ 0xFF]) + pattern_bytes(9, 70011))
    assert not pc.ok


def test_expect_100_continue(upstream):
    body = pattern_bytes(2 * 1024 * 1024)
    with RawConn(upstream.addr) as c:
        c.send(f"PUT /e100 HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
               "Expect: 100-continue\r\nConnection: close\r\n\r\n".encode())
        c.sock.settimeout(2)
        assert c._fill() and bytes(c.buf).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        c.buf.clear()
        c.send(body)
        assert c.read_response().status == 200
    assert upstream.hits("/e100")[-1].body == body
