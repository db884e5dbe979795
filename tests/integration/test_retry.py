"""Retry decisions, case by case (retryproxy.ini(5) and retryproxy(8) RETRY SEMANTICS).

Each Case is declarative: the upstream script for its path, the policy keys
(in [default], or in a [route] for the upstream), the request, and what the
client and the upstream must see.  One daemon per case.
"""

import os
from dataclasses import dataclass, field
from typing import Callable

import pytest

from clients import request
from harness import describe, section

MiB = 1024 * 1024
FAST = {"start_timeout": "50ms"}   # keep backoff short unless a case says
PUT_BODY = os.urandom(MiB)
POST_BODY = b"amount=42&note=" + bytes(range(256)) * 4


@dataclass
class Case:
    id: str
    script: list
    policy: dict = field(default_factory=dict)   # [default] keys (over FAST)
    route: dict | None = None                    # [route <upstream>] keys
    proxy_lines: str = ""                        # extra [proxy] lines
    method: str = "GET"
    path: str = "/t"
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    # expectations
    status: int = 200
    resp_body: bytes | None = None
    hits: int | None = None
    proxy_status: str | None = None              # substring of Proxy-Status
    resp_headers: dict = field(default_factory=dict)   # exact values
    resp_absent: tuple = ()                      # headers that must not be there
    attempts: int | None = None                  # access log "attempts"
    retries: list | None = None                  # access log "retries"
    elapsed: tuple | None = None                 # (min, max) seconds
    check: Callable | None = None                # check(upstream, response, proxy)


def _all_bodies(expected):
    def check(up, r, px):
        for h in up.hits("/t"):
            assert h.body_len == len(expected), f"hit {h.index}: {h.body_len} bytes"
            assert h.body == expected, f"hit {h.index}: body differs"
    return check


def _idempotency_forwarded(up, r, px):
    _all_bodies(POST_BODY)(up, r, px)
    assert all(h.header("Idempotency-Key") == "k-123" for h in up.hits("/t"))


def _no_x_retry_attempts_upstream(up, r, px):
    for h in up.hits("/t"):
        assert not h.has_header("X-Retry-Attempts"), h.headers


def _attempt_numbers(up, r, px):
    assert [h.header("X-Retry-Attempt") for h in up.hits("/t")] == ["1", "2", "3"]


def _no_error_body_bytes(up, r, px):
    assert b"E" * 16 not in r.body


CASES = [
    # -- statuses --------------------------------------------------------
    Case("503_503_200", ["503", "503", "200"],
         status=200, resp_body=b"status=200 hit=3\n", hits=3,
         attempts=3, retries=["503", "503"]),
    Case("always_500_attempts_3", ["500"], policy={"attempts": 3},
         status=500, resp_body=b"status=500 hit=3\n", hits=3,
         attempts=3, retries=["500", "500"]),
    Case("404_not_retried", ["404"], status=404, hits=1, attempts=1, retries=[]),
    Case("statuses_404_retried", ["404", "200"], policy={"statuses": "404"},
         status=200, hits=2, retries=["404"]),
    Case("retry_all_server_errors_no", ["503", "200"],
         policy={"retry_all_server_errors": False}, status=503, hits=1),
    Case("retry_all_server_errors_no_but_listed", ["503", "200"],
         policy={"retry_all_server_errors": False, "statuses": "503"},
         status=200, hits=2),
    Case("attempts_1_no_retry", ["500"], route={"attempts": 1}, status=500, hits=1),
    # -- methods and bodies ---------------------------------------------
    Case("post_503_not_retried", ["503"], method="POST", body=POST_BODY,
         status=503, hits=1, attempts=1),
    Case("post_idempotency_key_retried", ["503", "503", "200"], method="POST",
         headers={"Idempotency-Key": "k-123"}, body=POST_BODY,
         status=200, hits=3, check=_idempotency_forwarded),
    Case("methods_star_retries_post", ["503", "200"], policy={"methods": "*"},
         method="POST", body=POST_BODY, status=200, hits=2),
    Case("put_1mib_body_replayed", ["503", "200"], method="PUT", body=PUT_BODY,
         status=200, hits=2, check=_all_bodies(PUT_BODY)),
    Case("max_upload_413", ["200"], proxy_lines="max_upload = 1K",
         method="POST", body=b"x" * 2048, status=413, hits=0),
    # -- transport failures ---------------------------------------------
    Case("post_reset_not_resent", ["reset"], method="POST", body=POST_BODY,
         status=502, hits=1, proxy_status="error=connection_terminated"),
    Case("get_reset_then_200", ["reset", "200"], status=200, hits=2,
         resp_body=b"status=200 hit=2\n", retries=["reset"]),
    Case("get_always_reset_502", ["reset"], status=502, hits=3,
         proxy_status="error=connection_terminated", attempts=3,
         retries=["reset", "reset"]),
    Case("close_then_200", ["close", "200"], status=200, hits=2,
         resp_body=b"status=200 hit=2\n"),
    Case("garbage_then_200", ["garbage", "200"], status=200, hits=2,
         resp_body=b"status=200 hit=2\n"),
    Case("always_garbage_502", ["garbage"], policy={"attempts": 2}, status=502,
         hits=2, proxy_status="error=http_protocol_error"),
    Case("stall_per_try_timeout_then_200", ["stall:3", "200"],
         policy={"per_try_timeout": "500ms"}, status=200, hits=2,
         resp_body=b"status=200 hit=2\n", retries=["timeout"], elapsed=(0.5, 1.5)),
    Case("always_stall_504", ["stall:3"],
         policy={"attempts": 2, "per_try_timeout": "500ms"}, status=504, hits=2,
         proxy_status="error=http_response_timeout", elapsed=(1.0, 2.0)),
    Case("deadline_stall_504", ["stall:3"], policy={"deadline": "300ms"},
         status=504, hits=1, proxy_status="error=http_response_timeout",
         elapsed=(0.25, 0.6)),
    Case("errors_without_reset_not_retried", ["reset", "200"],
         policy={"errors": "connect, dns, timeout"}, status=502, hits=1),
    # -- Retry-After -------------------------------------------------------
    Case("retry_after_above_max_returned", [
        {"status": 429, "headers": {"Retry-After": "120"}}, "200"],
         policy={"statuses": "429", "max_retry_after": "1s"},
         status=429, hits=1, resp_headers={"Retry-After": "120"}, elapsed=(0, 0.8)),
    # -- X-Retry-Attempts, reporting --------------------------------------
    Case("x_retry_attempts_5_overrides_route", ["500"], route={"attempts": 1},
         headers={"X-Retry-Attempts": "5"}, status=500, hits=5,
         check=_no_x_retry_attempts_upstream),
    Case("x_retry_attempts_clamped_to_limit", ["500"],
         route={"attempts": 1, "attempts_limit": 4, "start_timeout": "20ms"},
         headers={"X-Retry-Attempts": "50"}, status=500, hits=4,
         check=_no_x_retry_attempts_upstream),
    Case("x_retry_attempts_not_a_number_ignored", ["500"], route={"attempts": 2},
         headers={"X-Retry-Attempts": "lots"}, status=500, hits=2,
         check=_no_x_retry_attempts_upstream),
    Case("x_retry_attempts_client_overrides_no", ["500"],
         route={"attempts": 1, "client_overrides": False},
         headers={"X-Retry-Attempts": "5"}, status=500, hits=1,
         check=_no_x_retry_attempts_upstream),
    Case("report_attempts", ["500", "500", "200"], policy={"report_attempts": True},
         status=200, hits=3, resp_headers={"X-Retry-Attempts": "3"}),
    Case("report_attempts_on_502", ["reset"],
         policy={"report_attempts": True, "attempts": 2},
         status=502, hits=2, resp_headers={"X-Retry-Attempts": "2"}),
    Case("report_attempts_off_by_default", ["500", "200"], status=200, hits=2,
         resp_absent=("X-Retry-Attempts",)),
    Case("attempt_header", ["500", "500", "200"],
         policy={"attempt_header": "X-Retry-Attempt"}, status=200, hits=3,
         check=_attempt_numbers),
    # -- response matchers -------------------------------------------------
    Case("retry_if_header_any_value", [
        {"status": 200, "headers": {"X-Retry-Me": "yes"}}, "200"],
         policy={"retry_if_header": "X-Retry-Me: *"}, status=200, hits=2,
         resp_body=b"status=200 hit=2\n", resp_absent=("X-Retry-Me",)),
    Case("retry_if_header_other_value_not_retried", [
        {"status": 200, "headers": {"X-Retry-Me": "later"}}, "200"],
         policy={"retry_if_header": "X-Retry-Me: now"}, status=200, hits=1,
         resp_headers={"X-Retry-Me": "later"}),
    Case("retry_if_body", [{"status": 200, "body": "busy, please try again later"},
                           "200"],
         policy={"retry_if_body": "try again"}, status=200, hits=2,
         resp_body=b"status=200 hit=2\n"),
    Case("retry_if_body_no_match", [{"status": 200, "body": "all good"}, "200"],
         policy={"retry_if_body": "try again"}, status=200, hits=1,
         resp_body=b"all good"),
    # -- a retried response's body never reaches the client ----------------
    Case("retried_503_8mib_body_not_forwarded",
         [{"status": 503, "body_len": 8 * MiB}, "200"], status=200, hits=2,
         resp_body=b"status=200 hit=2\n", check=_no_error_body_bytes),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case, upstream, proxy):
    cfg = section("default", **{**FAST, **case.policy})
    if case.route is not None:
        cfg += section(f"route {upstream.authority}", **case.route)
    px = proxy(cfg, case.proxy_lines)
    upstream.script(case.path, case.script)
    r = request(px.addr, case.method, upstream.url + case.path,
                headers=case.headers, body=case.body, timeout=10)
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
    for k in case.resp_absent:
        assert not r.has_header(k), why
    if case.elapsed is not None:
        lo, hi = case.elapsed
        assert lo <= r.elapsed <= hi, f"elapsed {r.elapsed:.3f}s not in {case.elapsed}\n{why}"
    if case.check is not None:
        case.check(upstream, r, px)
    if case.attempts is not None or case.retries is not None:
        e = px.log_for(case.path)
        if case.attempts is not None:
            assert e["attempts"] == case.attempts, describe(upstream, px, r)
        if case.retries is not None:
            assert e["retries"] == case.retries, describe(upstream, px, r)
