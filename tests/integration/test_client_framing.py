"""Client framing on the evhttp lane: an HTTP/1.0 client never receives
chunked framing or a wrong Content-Length (RFC 9112 section 6.3: without a
length the body ends with the connection), and a client that half-closes
after its request (shutdown(SHUT_WR), as nc does) still gets its answer.
Each case is followed by requests that must get their own answers."""

import pytest

from clients import RawConn, request
from harness import describe, section
from upstream import pattern_bytes

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
