"""pytest fixtures for the retryproxy integration tests.

    upstream        a started scripted origin (upstream.Upstream) on 127.0.0.1
    make_upstream   factory for more: make_upstream(host="127.0.0.1", start=True,
                    name=None, port=0)
    proxy           factory: proxy(config_text, proxy_lines="") -> harness.Proxy,
                    started; stopped with SIGTERM at teardown, exit code 0 asserted
    dns             a DNS server on loopback (dnsserver.DNSServer) that the
                    daemons started after it resolve names with
    both_lanes      (pytestmark = pytest.mark.usefixtures("both_lanes")) every
                    test of the module once with [proxy] lane = raw, once
                    with lane = evhttp

Tests that need the daemon are skipped when its binary does not exist
(set RETRYPROXY_REQUIRE=1 to make that a failure instead).
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from clients import PROXY_ENV_VARS  # noqa: E402
from dnsserver import DNSServer  # noqa: E402
from harness import Proxy, daemon_factory  # noqa: E402
from upstream import Upstream  # noqa: E402

# Nothing in this process (urllib) or its children may pick up a proxy or a
# no_proxy list from the caller's environment.
for _v in PROXY_ENV_VARS:
    os.environ.pop(_v, None)


def _stop_upstream(up):
    up.stop()
    if up.errors:
        raise AssertionError(f"{up.name} {up.authority} thread errors: {up.errors}")


@pytest.fixture
def make_upstream():
    made = []

    def make(host="127.0.0.1", start=True, name=None, port=0):
        up = Upstream(host, name=name or f"upstream{len(made) + 2}", port=port)
        made.append(up)
        return up.start() if start else up.bind()

    yield make
    for up in reversed(made):
        _stop_upstream(up)


@pytest.fixture
def upstream():
    up = Upstream().start()
    yield up
    _stop_upstream(up)


@pytest.fixture(params=["raw", "evhttp"])
def both_lanes(request, monkeypatch):
    """A module that uses this (pytestmark) runs each test once per lane:
    [proxy] lane = raw, the default, and lane = evhttp (also what every
    request libevent can carry gets while a route sets hedge_after,
    retry_if_body or parent).  A test's own lane line wins."""
    monkeypatch.setenv("RETRYPROXY_TEST_LANE", request.param)
    return request.param


@pytest.fixture
def proxy(upstream, make_upstream, tmp_path):
    """Factory; depends on the upstream fixtures so it is torn down first."""
    yield from daemon_factory(Proxy, tmp_path, "proxy")


@pytest.fixture
def dns(tmp_path, monkeypatch):
    server = DNSServer()
    conf = tmp_path / "resolv.conf"
    conf.write_text(f"nameserver 127.0.0.1:{server.port}\n"
                    "options timeout:1 attempts:1\n")
    monkeypatch.setenv("RETRYPROXY_RESOLV_CONF", str(conf))
    yield server
    server.stop()
