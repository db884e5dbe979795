"""Header handling: hop-by-hop removal, Via, origin-form requests, log schema."""

from clients import RawConn, request, send_raw
from harness import describe, section

HOP_BY_HOP = ("X-Foo", "Keep-Alive", "Proxy-Connection", "TE", "Upgrade",
              "Proxy-Authorization")


def test_hop_by_hop_request_headers_not_forwarded(upstream, proxy):
    px = proxy(section("default", start_timeout="20ms"))
    upstream.script("/h", ["200"])
    r = request(px.addr, "GET", upstream.url + "/h", headers=[
        ("Connection", "X-Foo"),
        ("X-Foo", "bar"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Connection", "keep-alive"),
        ("TE", "trailers"),
        ("Upgrade", "websocket"),
        ("Proxy-Authorization", "Basic dXNlcjpwYXNz"),
        ("X-End-To-End", "kept"),
    ])
    why = describe(upstream, px, r)
    assert r.status == 200 and upstream.count("/h") == 1, why
    h = upstream.hits("/h")[0]
    for name in HOP_BY_HOP:
        assert not h.has_header(name), f"{name} forwarded\n{why}"
    for v in h.header_all("Connection"):
        assert "x-foo" not in v.lower(), why
    assert h.header("X-End-To-End") == "kept", why
    assert any("1.1 retryproxy" in v for v in h.header_all("Via")), why


def test_hop_by_hop_response_headers_and_via(upstream, proxy):
    px = proxy(section("default", start_timeout="20ms"))
    upstream.script("/h", [{"status": 200, "headers": [
        ("Connection", "X-Bar"), ("X-Bar", "1"), ("Keep-Alive", "timeout=5"),
        ("X-Kept", "yes")]}])
    r = request(px.addr, "GET", upstream.url + "/h")
    why = describe(upstream, px, r)
    assert r.status == 200, why
    assert not r.has_header("X-Bar") and not r.has_header("Keep-Alive"), why
    assert r.header("X-Kept") == "yes", why
    assert any("1.1 retryproxy" in v for v in r.header_all("Via")), why


def test_via_off(upstream, proxy):
    px = proxy(section("default", start_timeout="20ms"), proxy_lines="via = no")
    r = request(px.addr, "GET", upstream.url + "/v")
    assert r.status == 200, describe(upstream, px, r)
    assert not any("retryproxy" in v for v in upstream.hits("/v")[0].header_all("Via"))


def test_origin_form_request_400_mentions_http_proxy(upstream, proxy):
    px = proxy(section("default", start_timeout="20ms"))
    r = send_raw(px.addr, (f"GET / HTTP/1.1\r\nHost: {upstream.authority}\r\n"
                           "Connection: close\r\n\r\n").encode())
    why = describe(upstream, px, r)
    assert r.status == 400, why
    assert b"HTTP_PROXY" in r.body, why
    assert upstream.count() == 0, why


def test_access_log_schema(upstream, proxy):
    px = proxy(section("default", start_timeout="20ms"))
    upstream.script("/log", ["503", "200"])
    r = request(px.addr, "GET", upstream.url + "/log?q=1")
    assert r.status == 200
    e = px.log_for("/log?q=1")
    why = describe(upstream, px, r)
    for k in ("time", "client", "method", "url", "status", "attempts", "retries",
              "duration_ms", "bytes", "route"):
        assert k in e, f"missing {k}\n{why}"
    assert e["method"] == "GET" and e["status"] == 200, why
    assert e["url"] == upstream.url + "/log?q=1", why
    assert "127.0.0.1" in str(e["client"]), why
    assert e["attempts"] == 2 and e["retries"] == ["503"], why
    assert isinstance(e["duration_ms"], (int, float)) and e["duration_ms"] >= 0, why
    assert isinstance(e["bytes"], int) and e["bytes"] >= len(r.body), why


def test_via_names_the_protocol_each_message_came_in(upstream, proxy):
    # RFC 9110 section 7.6.3: received-protocol is the version of the
    # message as received; an HTTP/1.0 client's request says "1.0", on
    # evhttp's lane (GET) and on the raw lane (an extension method)
    px = proxy(section("default", start_timeout="20ms"))
    for method, path in (("GET", "/v10"), ("PROPFIND", "/dav10")):
        c = RawConn(px.addr)
        c.send_request(method, upstream.url + path, version="HTTP/1.0")
        r = c.read_response()
        c.close()
        why = describe(upstream, px, r)
        assert r.status == 200, why
        h = upstream.hits(path)[0]
        assert h.header_all("Via") == ["1.0 retryproxy"], why
        # the response came in as HTTP/1.1
        assert r.header_all("Via") == ["1.1 retryproxy"], why
    # and an HTTP/1.1 request after them says 1.1
    r = request(px.addr, "GET", upstream.url + "/v11")
    assert r.status == 200 and upstream.hits("/v11")[0].header_all("Via") == \
        ["1.1 retryproxy"], describe(upstream, px, r)
