"""Delay schedules, measured as gaps between upstream arrivals.

A gap is the delay plus a round trip on loopback (well under a millisecond
to a few ms), so each gap must be within TOL of the scheduled delay.
"""

import pytest

from clients import request
from harness import describe, section

TOL = 0.060


def _run(upstream, proxy, policy, script, path="/t", headers=None):
    px = proxy(section("default", **policy))
    upstream.script(path, script)
    r = request(px.addr, "GET", upstream.url + path, headers=headers, timeout=15)
    return px, r


def _assert_gaps(upstream, px, r, path, expected, tol=TOL):
    gaps = upstream.gaps(path)
    why = describe(upstream, px, r) + f"\ngaps {[round(g, 3) for g in gaps]} want {expected}"
    assert len(gaps) == len(expected), why
    for i, (g, want) in enumerate(zip(gaps, expected)):
        assert abs(g - want) <= tol, f"gap {i + 1}: {g:.3f}s, want {want}s +- {tol}\n{why}"


@pytest.mark.parametrize("policy,expected", [
    pytest.param({"attempts": 4, "start_timeout": "100ms", "factor": 2},
                 [0.1, 0.2, 0.4], id="exponential_100ms_x2"),
    pytest.param({"attempts": 4, "start_timeout": "100ms", "factor": 3,
                  "max_timeout": "150ms"},
                 [0.1, 0.15, 0.15], id="exponential_clamped_by_max_timeout"),
    pytest.param({"backoff": "list", "timeouts": "50ms, 150ms"},
                 [0.05, 0.15], id="list_50_150_gives_3_attempts"),
    pytest.param({"backoff": "list", "timeouts": "50ms, 150ms", "attempts": 4},
                 [0.05, 0.15, 0.15], id="list_last_entry_repeats"),
    pytest.param({"backoff": "fibonacci", "multiplier": "50ms", "attempts": 4},
                 [0.05, 0.1, 0.15], id="fibonacci_50ms"),
    pytest.param({"backoff": "random", "min_timeout": "100ms", "max_timeout": "200ms",
                  "attempts": 3},
                 None, id="random_within_bounds"),
])
def test_delay_schedule(upstream, proxy, policy, expected):
    px, r = _run(upstream, proxy, policy, ["503"])
    assert r.status == 503, describe(upstream, px, r)
    if expected is None:  # random: each gap in [min, max]
        gaps = upstream.gaps("/t")
        assert len(gaps) == 2 and all(0.1 - 0.01 <= g <= 0.2 + TOL for g in gaps), \
            describe(upstream, px, r) + f"\ngaps {gaps}"
        return
    _assert_gaps(upstream, px, r, "/t", expected)
    assert upstream.count("/t") == len(expected) + 1


def test_fibonacci_fresh_for_every_request(upstream, proxy):
    px, r = _run(upstream, proxy, {"backoff": "fibonacci", "multiplier": "50ms",
                                   "attempts": 3}, ["503"], path="/f1")
    assert r.status == 503
    upstream.script("/f2", ["503"])
    r = request(px.addr, "GET", upstream.url + "/f2")
    _assert_gaps(upstream, px, r, "/f1", [0.05, 0.1])
    _assert_gaps(upstream, px, r, "/f2", [0.05, 0.1])


def test_retry_after_429_waits_at_least_1s(upstream, proxy):
    # max_timeout does not clamp Retry-After.
    px, r = _run(upstream, proxy,
                 {"statuses": "429", "start_timeout": "50ms", "max_timeout": "200ms"},
                 [{"status": 429, "headers": {"Retry-After": "1"}}, "200"])
    why = describe(upstream, px, r)
    assert r.status == 200 and upstream.count("/t") == 2, why
    (gap,) = upstream.gaps("/t")
    assert 1.0 - 0.005 <= gap <= 1.0 + 0.3, f"gap {gap:.3f}\n{why}"


def test_retry_after_no_ignores_header(upstream, proxy):
    px, r = _run(upstream, proxy, {"retry_after": False, "start_timeout": "50ms"},
                 [{"status": 503, "headers": {"Retry-After": "1"}}, "200"])
    assert r.status == 200, describe(upstream, px, r)
    _assert_gaps(upstream, px, r, "/t", [0.05])


def test_deadline_suppresses_a_delay_past_it(upstream, proxy):
    # The first delay (400 ms) would end past the deadline (300 ms): the 503
    # is returned at once, not after waiting.
    px, r = _run(upstream, proxy, {"start_timeout": "400ms", "deadline": "300ms"}, ["503"])
    why = describe(upstream, px, r)
    assert r.status == 503 and upstream.count("/t") == 1, why
    assert r.elapsed < 0.2, f"elapsed {r.elapsed:.3f}\n{why}"


def test_access_log_duration_covers_delays(upstream, proxy):
    px, r = _run(upstream, proxy, {"attempts": 3, "start_timeout": "100ms"}, ["503"])
    e = px.log_for("/t")
    assert e["attempts"] == 3 and e["retries"] == ["503", "503"], describe(upstream, px, r)
    assert 300 - 10 <= e["duration_ms"] <= 300 + 200, e
