"""The operator's kit (contrib/README.md) against a running daemon.

- every metric the Grafana dashboard and the Prometheus rules query, with
  every label they select or group by, is in a live /metrics scrape after
  a retried request (a renamed metric or label would leave a panel empty
  and an alert silent, and nothing else would notice);
- the dashboard is JSON and each of its queries is PromQL that promtool
  parses; the rules pass "promtool check rules" and fire as described
  ("promtool test rules" on made-up series);
- retryproxy --version names the libevent and OpenSSL the process loaded
  (what an operator quotes in a report after a security update).
"""

import ctypes
import ctypes.util
import json
import re
import shutil
import subprocess
import time

import pytest

from harness import (REPO_ROOT, DaemonError, daemon_factory, daemon_path,
                     describe, section)
from clients import request
from test_ops import OpsProxy  # [proxy] admin on a free port, scrape()

CONTRIB = REPO_ROOT / "contrib"
DASHBOARD = CONTRIB / "retryproxy-grafana.json"
RULES = CONTRIB / "retryproxy.rules.yml"

# Labels Prometheus adds to every scraped series (the scrape target's).
TARGET_LABELS = {"instance", "job"}
# Series Prometheus makes itself, not the daemon.
PROMETHEUS_SERIES = {"up"}


@pytest.fixture
def admin_proxy(upstream, make_upstream, tmp_path):
    yield from daemon_factory(OpsProxy, tmp_path, "contrib")


# ---- what the kit queries --------------------------------------------------
def dashboard_queries():
    """Every PromQL expression of the dashboard, and its variable queries."""
    dash = json.loads(DASHBOARD.read_text())
    exprs, variables = [], []

    def walk(o):
        if isinstance(o, dict):
            if isinstance(o.get("expr"), str):
                exprs.append(o["expr"])
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(dash["panels"])
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            variables.append(v["definition"])
    return exprs, variables


def rule_queries():
    """The expr of each rule: inline, or a folded/literal block after it
    (the rules file is written that way; no YAML library needed)."""
    exprs = []
    lines = RULES.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)expr:\s*(.*)$", lines[i])
        i += 1
        if not m:
            continue
        indent, rest = len(m.group(1)), m.group(2)
        if rest and rest[0] not in "|>":
            exprs.append(rest)
            continue
        block = []
        while i < len(lines) and (not lines[i].strip() or
                                  len(lines[i]) - len(lines[i].lstrip()) > indent):
            block.append(lines[i].strip())
            i += 1
        exprs.append(" ".join(x for x in block if x))
    return exprs


def grafana_to_promql(expr):
    """A dashboard query as Prometheus would get it from Grafana."""
    return expr.replace("$__rate_interval", "5m").replace("$instance", ".*")


_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_NAME = re.compile(r"\bretryproxy_[a-zA-Z0-9_]+\b")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def scraped_series(text):
    """{name: [labels dict, ...]} of the samples of a /metrics page."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+\S+$", line)
        assert m, f"unparsable metrics line: {line!r}"
        labels = dict((k, v) for k, _, v in _MATCHER.findall(m.group(2) or ""))
        out.setdefault(m.group(1), []).append(labels)
    return out


def problems_in(expr, served):
    """What of expr's names and labels the scrape does not have."""
    out = []
    names = set(_NAME.findall(expr))
    for name in sorted(names):
        if name not in served:
            out.append(f"metric {name} is not served")
    for name, matchers in _SELECTOR.findall(expr):
        if name in PROMETHEUS_SERIES or name not in served:
            continue
        for label, op, value in _MATCHER.findall(matchers):
            if label in TARGET_LABELS:
                continue
            values = {s[label] for s in served[name] if label in s}
            if not values:
                out.append(f"{name} has no label {label}")
            elif op == "=" and value not in values:
                out.append(f'{name} has no sample with {label}="{value}" '
                           f"(served: {sorted(values)})")
    have = {label for n in names if n in served for s in served[n] for label in s}
    for group in _GROUPING.findall(expr):
        for label in (x.strip() for x in group.split(",")):
            if label and label not in TARGET_LABELS and label not in have:
                out.append(f"grouping by {label}, which none of "
                           f"{sorted(names)} has")
    return out


# ---- 1. every queried metric is served --------------------------------------
def test_queried_metrics_are_served(upstream, admin_proxy):
    px = admin_proxy(section("default", attempts=3, start_timeout="10ms"))
    upstream.script("/a", ["503", "200"])
    r = request(px.addr, "GET", upstream.url + "/a")
    assert r.status == 200, describe(upstream, px, r)

    # counted when the request ends, which may be just after the client read it
    deadline = time.monotonic() + 5
    while True:
        text = px.scrape()
        served = scraped_series(text)
        if "retryproxy_requests_total" in served:
            break
        if time.monotonic() > deadline:
            raise DaemonError("the request is not counted in /metrics\n" + text)
        time.sleep(0.01)
    assert "retryproxy_retries_total" in served, text

    panels, variables = dashboard_queries()
    rules = rule_queries()
    # The parsers found the queries at all (an empty list would pass).
    assert len(panels) >= 20 and len(variables) >= 1 and len(rules) == 3, \
        (panels, variables, rules)

    problems = []
    for where, exprs in (("dashboard", panels), ("dashboard variable", variables),
                         ("rules", rules)):
        for e in exprs:
            problems += [f"{where}: {p}\n    in {e}" for p in problems_in(e, served)]
    queried = set().union(*(_NAME.findall(e) for e in panels + variables + rules))
    assert not problems, "\n".join(problems) + "\n--- scrape ---\n" + text
    # The kit covers what README "Operations" lists for /metrics.
    for name in ("retryproxy_requests_total", "retryproxy_attempts_total",
                 "retryproxy_retries_total", "retryproxy_retries_suppressed_total",
                 "retryproxy_request_duration_seconds_bucket",
                 "retryproxy_client_connections",
                 "retryproxy_upstream_connections",
                 "retryproxy_config_reloads_total"):
        assert name in queried, f"the dashboard does not show {name}"


# ---- 2. the files parse, and the alerts fire as described -------------------
PROMTOOL_TESTS = """\
rule_files:
  - {rules}
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{{job="retryproxy",instance="px:9128"}}'
        values: '1 1 0x10'
    alert_rule_test:
      - eval_time: 3m
        alertname: RetryproxyDown
        exp_alerts: []
      - eval_time: 5m
        alertname: RetryproxyDown
        exp_alerts:
          - exp_labels: {{severity: critical, job: retryproxy, instance: "px:9128"}}
            exp_annotations:
              summary: "retryproxy on px:9128 is down"
              description: "The admin endpoint has not answered a scrape for 2 minutes: programs pointed at this proxy get refused connections."
  - interval: 1m
    input_series:
      # 6 retries a minute turned down by the budget
      - series: 'retryproxy_retries_suppressed_total{{job="retryproxy",instance="px:9128",route="api",why="budget"}}'
        values: '0+6x20'
      - series: 'retryproxy_retries_suppressed_total{{job="retryproxy",instance="px:9128",route="api",why="deadline"}}'
        values: '0+60x20'
    alert_rule_test:
      - eval_time: 4m
        alertname: RetryproxyRetryBudgetExhausted
        exp_alerts: []
      - eval_time: 8m
        alertname: RetryproxyRetryBudgetExhausted
        exp_alerts:
          - exp_labels: {{severity: warning, instance: "px:9128", route: api}}
            exp_annotations:
              summary: "retry budget of route api exhausted on px:9128"
              description: "Retries of route api have been suppressed by the retry budget for 5 minutes (0.10 a second)."
  - interval: 1m
    input_series:
      # route api: 9 200s and 1 502 a second (10%); route slow: 1 of 60
      # requests a minute is a 503, but under one request a second
      - series: 'retryproxy_requests_total{{job="retryproxy",instance="px:9128",route="api",code="200"}}'
        values: '0+540x30'
      - series: 'retryproxy_requests_total{{job="retryproxy",instance="px:9128",route="api",code="502"}}'
        values: '0+60x30'
      - series: 'retryproxy_requests_total{{job="retryproxy",instance="px:9128",route="slow",code="503"}}'
        values: '0+30x30'
    alert_rule_test:
      - eval_time: 8m
        alertname: RetryproxyServerErrorsAfterRetries
        exp_alerts: []
      - eval_time: 15m
        alertname: RetryproxyServerErrorsAfterRetries
        exp_alerts:
          - exp_labels: {{severity: warning, instance: "px:9128", route: api}}
            exp_annotations:
              summary: "10% of route api ends in 5xx on px:9128"
              description: "More than 5% of the requests of route api got a 5xx response after all their attempts, for 10 minutes."
"""


def run_promtool(*args):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    p = subprocess.run([promtool, *map(str, args)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, (f"promtool {' '.join(map(str, args))}: exit "
                               f"{p.returncode}\n{p.stdout}{p.stderr}")
    return p.stdout


def test_dashboard_and_rules_are_valid(tmp_path):
    json.loads(DASHBOARD.read_text())
    run_promtool("check", "rules", RULES)

    # Each dashboard query, as a recording rule, goes through promtool's
    # PromQL parser.
    panels, _ = dashboard_queries()
    recorded = tmp_path / "dashboard.rules.yml"
    recorded.write_text("groups:\n  - name: dashboard\n    rules:\n" + "".join(
        f"      - record: dashboard_query_{i}\n        expr: {json.dumps(grafana_to_promql(e))}\n"
        for i, e in enumerate(panels)))
    out = run_promtool("check", "rules", recorded)
    assert f"SUCCESS: {len(panels)} rules found" in out, out

    tests = tmp_path / "rules.test.yml"
    tests.write_text(PROMTOOL_TESTS.format(rules=RULES))
    run_promtool("test", "rules", tests)


# ---- 3. --version names the libraries loaded --------------------------------
def loaded_version(libname, func, *args):
    """What the system's library says its version is, asked the way the
    daemon asks it."""
    path = ctypes.util.find_library(libname)
    if path is None:
        pytest.skip(f"lib{libname} not found by ctypes")
    f = getattr(ctypes.CDLL(path), func)
    f.restype = ctypes.c_char_p
    f.argtypes = [ctypes.c_int] * len(args)
    return f(*args).decode()


def test_version_names_runtime_libraries():
    binary = daemon_path()
    if not binary.exists():
        pytest.skip(f"retryproxy binary not built: {binary} (set RETRYPROXY)")
    p = subprocess.run([str(binary), "--version"], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 3, p.stdout
    assert re.fullmatch(r"retryproxy [0-9]+(\.[0-9]+)*", lines[0]), p.stdout
    assert lines[1] == "libevent " + loaded_version("event_core", "event_get_version"), p.stdout
    # OpenSSL_version(OPENSSL_VERSION), OPENSSL_VERSION being 0
    assert lines[2] == loaded_version("crypto", "OpenSSL_version", 0), p.stdout
    assert re.match(r"OpenSSL 3\.", lines[2]), p.stdout
