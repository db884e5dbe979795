"""Client framing on the evhttp lane: an HTTP/1.0 client never receives
chunked framing or a wrong Content-Length (RFC 9112 section 6.3: without a
length the body ends with the connection), and a client that half-closes
after its request (shutdown(SHUT_WR), as nc does) still gets its answer.
Each case is followed by requests that must get their own answers."""

import pytest

from clients import RawConn, request
from harness import describe, section
from upstream import pattern_bytes

# every test on both lanes ([proxy] lane = raw and evhttp: conftest.py)
pytestmark = pytest.mark.usefixtures("both_lanes")

N = 70000  # more than a few reads


def _read_all(c):
    """Everything the proxy sends until it closes (or times out)."""
    while c._fill():
        pass
    return bytes(c.buf)


def _next_requests_ok(px, upstream):
    for i in range(3):
        upstream.script(f"/next{i}", [{"status": 200, "body": f"next{i}".encode()}])
        r = request(px.addr, "GET", f"{upstream.url}/next{i}")
        assert r.status == 200 and r.body == f"next{i}".encode(), describe(upstream, px, r)


@pytest.mark.parametrize("step", [f"chunked:{N}", f"nolen:{N}", f"big:{N}"])
@pytest.mark.parametrize("keepalive", [True, False])
def test_http10_client_never_gets_chunks_or_a_wrong_length(upstream, proxy, step, keepalive):
    px = proxy(section("proxy", workers=1))
    upstream.script("/ten", [step])
    c = RawConn(px.addr, timeout=5)
    hdrs = {"Connection": "keep-alive"} if keepalive else {}
    c.send_request("GET", upstream.url + "/ten", headers=hdrs, version="HTTP/1.0", close=False)
    raw = _read_all(c)
    why = describe(upstream, px) + f"\nraw head: {raw[:300]!r}"
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.0 200") or lines[0].startswith("HTTP/1.1 200"), why
    fields = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    assert "transfer-encoding" not in fields, why
    if "content-length" in fields:
        assert int(fields["content-length"]) == N, why
        if keepalive:
            assert c.error == "timeout" or not c.eof, why  # kept open
    else:
        assert c.eof and c.error is None, why  # ended by closing
    assert body == pattern_bytes(N), why
    c.close()
    _next_requests_ok(px, upstream)


@pytest.mark.parametrize("step", ["200", f"chunked:{N}", f"big:{N}", "nolen:5"])
def test_half_closed_client_gets_its_response(upstream, proxy, step):
    px = proxy(section("proxy", workers=1))
    upstream.script("/half", [step])
    c = RawConn(px.addr, timeout=5)
    c.send_request("GET", upstream.url + "/half")
    c.half_close()
    r = c.read_head()
    assert r.status == 200, describe(upstream, px, r)
    body = b"".join(c.body_iter(r))
    assert r.complete, describe(upstream, px, r)
    if step != "200":
        n = int(step.split(":")[1])
        assert body == pattern_bytes(n), describe(upstream, px, r)
    assert px.log_for("/half")["status"] == 200
    c.close()
    _next_requests_ok(px, upstream)


def test_half_closed_client_waits_out_a_retry(upstream, proxy):
    px = proxy(section("proxy", workers=1) + section("default", start_timeout="300ms"))
    upstream.script("/hr", ["503", {"status": 200, "body": b"second"}])
    c = RawConn(px.addr, timeout=5)
    c.send_request("GET", upstream.url + "/hr")
    c.half_close()
    r = c.read_head()
    body = b"".join(c.body_iter(r))
    assert r.status == 200 and body == b"second", describe(upstream, px, r)
    assert upstream.count("/hr") == 2
    e = px.log_for("/hr")
    assert e["status"] == 200 and e["attempts"] == 2, e
    _next_requests_ok(px, upstream)


# ---- request framing: chunk extensions, bodies over the limit -------------

CHUNKED_EXT = (b"3;foo=bar\r\nabc\r\n"
               b"4;q=\"a;b c\";n\r\ndefg\r\n"
               b"0;last=1\r\nX-T: 1\r\n\r\n")


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_chunk_extensions_are_accepted(upstream, proxy, method):
    # RFC 9112 section 7.1.1: a recipient ignores extensions it does not
    # understand; libevent refused them (413).
    px = proxy(section("proxy", workers=1))
    upstream.script("/ext", [{"status": 200, "body": b"ok"}])
    c = RawConn(px.addr, timeout=5)
    c.send(f"{method} {upstream.url}/ext HTTP/1.1\r\nHost: x\r\n"
           "Transfer-Encoding: chunked\r\n\r\n".encode() + CHUNKED_EXT)
    r = c.read_response(method)
    why = describe(upstream, px, r)
    assert r.status == 200 and r.body == b"ok", why
    hit = upstream.hits("/ext")[0]
    assert hit.body == b"abcdefg", why
    assert hit.header("X-T") is None, why  # trailers are never headers
    # the same connection goes on with its next request
    upstream.script("/ext2", [{"status": 200, "body": b"two"}])
    c.send_request("GET", upstream.url + "/ext2")
    r2 = c.read_response()
    assert r2.status == 200 and r2.body == b"two", describe(upstream, px, r2)
    c.close()
    _next_requests_ok(px, upstream)


def test_declared_body_over_the_limit_is_refused_at_once(upstream, proxy):
    px = proxy(section("proxy", workers=1, max_upload="1M"))
    c = RawConn(px.addr, timeout=5)
    c.send(f"POST {upstream.url}/huge HTTP/1.1\r\nHost: x\r\n"
           "Content-Length: 20000000\r\n\r\n".encode() + b"x" * 1000)
    r = c.read_response("POST")
    why = describe(upstream, px, r) + f"\nafter {r.elapsed:.3f}s"
    assert r.status == 413, why
    assert r.elapsed < 1.0, why  # not after client_timeout, nor 1 MiB later
    assert "retryproxy" in (r.header("Proxy-Status") or ""), why
    assert r.header("Content-Type").startswith("text/plain"), why
    assert upstream.count("/huge") == 0, why
    e = px.wait_log(lambda e: e.get("status") == 413)
    assert e["error"] == "http_request_error", e
    c.close()
    _next_requests_ok(px, upstream)


def test_chunked_body_growing_past_the_limit_is_refused(upstream, proxy):
    px = proxy(section("proxy", workers=1, max_upload="64K"))
    c = RawConn(px.addr, timeout=5)
    c.send(f"PUT {upstream.url}/grow HTTP/1.1\r\nHost: x\r\n"
           "Transfer-Encoding: chunked\r\n\r\n".encode())
    for _ in range(3):
        if not c.send(b"8000\r\n" + b"y" * 0x8000 + b"\r\n"):
            break
    r = c.read_response("PUT")
    why = describe(upstream, px, r)
    assert r.status == 413, why
    assert r.header("Content-Type").startswith("text/plain"), why  # ours
    assert upstream.count("/grow") == 0, why
    c.close()
    _next_requests_ok(px, upstream)
