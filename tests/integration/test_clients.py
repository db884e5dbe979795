"""Real clients through the proxy: curl -x, curl and wget with http_proxy,
and Python's urllib with a ProxyHandler, each against "500,500,200"."""

import shutil

import pytest

from clients import curl, urllib_request, wget
from harness import describe, section


def _curl_x(px, url):
    res = curl(url, proxy_url=px.url)
    return res.status, res.body, res


def _curl_env(px, url):
    res = curl(url, proxy_url=px.url, via_env=True)
    return res.status, res.body, res


def _wget_env(px, url):
    res = wget(url, px.url)
    return res.status, res.body, res


def _urllib(px, url):
    status, headers, body = urllib_request(px.url, url)
    return status, body, headers


CLIENTS = [
    pytest.param(_curl_x, "curl", id="curl_x"),
    pytest.param(_curl_env, "curl", id="curl_http_proxy_env"),
    pytest.param(_wget_env, "wget", id="wget_http_proxy_env"),
    pytest.param(_urllib, None, id="python_urllib"),
]


@pytest.mark.parametrize("run,binary", CLIENTS)
def test_real_client_500_500_200(upstream, proxy, run, binary):
    if binary and shutil.which(binary) is None:
        pytest.skip(f"{binary} not installed")
    px = proxy(section("default", start_timeout="50ms"))
    upstream.script("/c", ["500", "500", "200"])
    status, body, detail = run(px, upstream.url + "/c?client=1")
    why = describe(upstream, px) + f"\nclient: {detail!r}"
    assert status == 200 and body == b"status=200 hit=3\n", why
    assert upstream.count("/c") == 3, why
    e = px.log_for("/c?client=1")
    assert e["attempts"] == 3 and e["retries"] == ["500", "500"], why
    assert e["status"] == 200, why
