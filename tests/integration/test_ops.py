"""Operations: the admin endpoint, signals, systemd integration (retryproxy(8), README Operations).

- /metrics after retried requests (exact counters; promtool check metrics),
  /healthz, /config;
- SIGHUP: reload under load (broken and valid files), listen addresses
  added and removed;
- SIGTERM: requests in flight and in backoff finish, shutdown_timeout cuts;
- sd_notify (READY/RELOADING/STOPPING, WATCHDOG), socket activation;
- SIGUSR1 reopens the access log;
- cpu_affinity pins the workers.

Every wait is on an event (an upstream hit, a metric, a notify datagram, a
log line, a refused connect) with a deadline, never a bare sleep.
"""

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from clients import RawConn, request
from harness import (DaemonError, Proxy, daemon_factory, daemon_path,
                     describe, free_port, section, unused_port_socket)

HOST = "127.0.0.1"


# ---- helpers ---------------------------------------------------------------
class OpsProxy(Proxy):
    """A Proxy with [proxy] admin on a fresh free port at every start try."""

    def __init__(self, *a, admin=True, **kw):
        super().__init__(*a, **kw)
        self.want_admin = admin
        self.admin_port = None

    def config_text(self, port):
        text = super().config_text(port)
        if self.want_admin:
            self.admin_port = free_port(HOST)
            text = text.replace("[proxy]\n",
                                f"[proxy]\nadmin = {HOST}:{self.admin_port}\n", 1)
        return text

    # -- admin endpoint --
    def admin_get(self, path, timeout=5.0):
        c = http.client.HTTPConnection(HOST, self.admin_port, timeout=timeout)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.getheader("Content-Type"), r.read().decode()
        finally:
            c.close()

    def scrape(self):
        try:
            status, _, body = self.admin_get("/metrics")
        except OSError as e:
            # (say whether the daemon is still there, and what it said)
            raise DaemonError(f"/metrics on port {self.admin_port}: {e!r}; daemon "
                              f"{'alive' if self.alive() else 'exited'}\n"
                              + self.stderr_tail()) from e
        assert status == 200, f"/metrics answered {status}: {body}"
        return body

    def metrics(self):
        return parse_metrics(self.scrape())

    def wait_metrics(self, pred, timeout=5.0, what="metrics condition"):
        """Poll /metrics until pred(parsed) is true; the parsed metrics."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.metrics()
            if pred(m):
                return m
            if time.monotonic() > deadline:
                raise DaemonError(f"{what}: not met after {timeout}s\n"
                                  + self.scrape() + "\n" + self.stderr_tail())
            time.sleep(0.01)

    def reloads(self, m=None):
        m = self.metrics() if m is None else m
        return (value(m, "retryproxy_config_reloads_total", result="success"),
                value(m, "retryproxy_config_reloads_total", result="failure"))

    def wait_reloads(self, n, timeout=5.0):
        """Until success + failure reloads reach n; (success, failure)."""
        m = self.wait_metrics(lambda m: sum(self.reloads(m)) >= n, timeout,
                              f"{n} config reloads counted")
        return self.reloads(m)

    # -- config file --
    def rewrite_config(self, text):
        """Replace the config file atomically (a reload never sees half)."""
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.config_path)

    def wait_stderr(self, needle, timeout=5.0):
        deadline = time.monotonic() + timeout
        while needle not in self.stderr():
            if not self.alive() or time.monotonic() > deadline:
                raise DaemonError(f"{needle!r} not in the daemon's stderr after "
                                  f"{timeout}s\n" + self.stderr_tail())
            time.sleep(0.01)


@pytest.fixture
def ops_proxy(upstream, make_upstream, tmp_path):
    """Like conftest's proxy, with the admin endpoint on a free port."""
    yield from daemon_factory(OpsProxy, tmp_path, "ops")


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, frozenset(labels.items())): float} of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"unparsable metrics line: {line!r}"
        labels = frozenset(_LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(m, name, **labels):
    """The sample with exactly these labels (0 when absent)."""
    return m.get((name, frozenset(labels.items())), 0.0)


def samples(m, name):
    """[(labels dict, value)] of every sample of `name`."""
    return [(dict(lbl), v) for (n, lbl), v in m.items() if n == name]


def connect_refused(port, timeout=1.0):
    """True if a connect is refused; False if it is accepted or comes to
    another end (reset in the backlog of a listener being closed, timeout):
    callers poll until True."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout}s")
        time.sleep(0.01)


def in_thread(fn, *a, **kw):
    """Run fn in a thread; the result (or exception) in box["r"] / box["e"]."""
    box = {}

    def run():
        try:
            box["r"] = fn(*a, **kw)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            box["e"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    box["thread"] = t
    return box


def joined(box, timeout):
    box["thread"].join(timeout)
    assert not box["thread"].is_alive(), "client still waiting"
    if "e" in box:
        raise box["e"]
    return box["r"]


# ---- 1. metrics, healthz, config --------------------------------------------
def test_metrics_after_retried_requests(upstream, ops_proxy):
    px = ops_proxy(section("default", attempts=3, start_timeout="10ms"))
    upstream.script("/a", ["503", "200"])
    upstream.script("/b", ["500"])
    ra = request(px.addr, "GET", upstream.url + "/a")
    rb = request(px.addr, "GET", upstream.url + "/b")
    why = describe(upstream, px, [ra, rb])
    assert (ra.status, rb.status) == (200, 500), why
    assert upstream.count("/a") == 2 and upstream.count("/b") == 3, why

    # counted when each request ends, which may be just after the client read it
    m = px.wait_metrics(
        lambda m: sum(v for _, v in samples(m, "retryproxy_requests_total")) >= 2,
        what="2 requests counted")
    text = px.scrape()
    why = text + "\n" + why
    assert value(m, "retryproxy_requests_total", route="default", code="200") == 1, why
    assert value(m, "retryproxy_requests_total", route="default", code="500") == 1, why
    assert sum(v for _, v in samples(m, "retryproxy_requests_total")) == 2, why
    assert value(m, "retryproxy_attempts_total", route="default") == 5, why
    assert value(m, "retryproxy_retries_total", route="default", reason="503") == 1, why
    assert value(m, "retryproxy_retries_total", route="default", reason="500") == 2, why
    assert sum(v for _, v in samples(m, "retryproxy_retries_total")) == 3, why
    assert sum(v for _, v in samples(m, "retryproxy_retries_suppressed_total")) == 0, why
    assert value(m, "retryproxy_request_duration_seconds_count") == 2, why
    assert value(m, "retryproxy_request_duration_seconds_bucket", le="+Inf") == 2, why
    assert ("retryproxy_client_connections", frozenset()) in m, why
    assert px.reloads(m) == (0, 0), why

    promtool = shutil.which("promtool")
    if promtool is not None:
        p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=30)
        assert p.returncode == 0, (f"promtool check metrics: exit {p.returncode}\n"
                                   f"{p.stdout.decode()}{p.stderr.decode()}\n{text}")

    status, _, body = px.admin_get("/healthz")
    assert (status, body.strip()) == (200, "ok"), body
    status, _, body = px.admin_get("/config")
    assert status == 200, body
    assert re.search(r"^attempts = 3$", body, re.M), body
    if promtool is None:
        pytest.skip("promtool not installed (apt-get install prometheus): "
                    "every other check passed")


# ---- 2. reload under load ---------------------------------------------------
def _policy(attempts, start="5ms"):
    return section("default", attempts=attempts, start_timeout=start)


def test_reload_under_load(upstream, ops_proxy):
    px = ops_proxy(_policy(2))
    valid = px.config_path.read_text()
    broken = valid.replace("attempts = 2", "attemps = 3")
    assert broken != valid
    bad_line = broken.splitlines().index("attemps = 3") + 1
    valid4 = valid.replace("attempts = 2", "attempts = 4")
    upstream.script("/fail", ["500"])

    r = request(px.addr, "GET", upstream.url + "/fail")
    assert r.status == 500 and upstream.count("/fail") == 2, describe(upstream, px, r)

    lock = threading.Lock()
    done = [0]
    failures = []
    stop = threading.Event()

    def client(n, keepalive):
        conn = None
        i = 0
        try:
            while not stop.is_set() and i < 20000:
                i += 1
                if conn is None:
                    conn = RawConn(px.addr, timeout=10)
                url = f"{upstream.url}/ok?c={n}&i={i}"
                conn.send_request("GET", url, close=not keepalive)
                r = conn.read_response()
                if r.status != 200 or not r.complete:
                    with lock:
                        failures.append((url, repr(r)))
                if not keepalive or i % 100 == 0 or r.status != 200 or \
                        (r.header("Connection") or "").lower() == "close":
                    conn.close()
                    conn = None
                with lock:
                    done[0] += 1
        except Exception as e:  # noqa: BLE001 - reported below
            with lock:
                failures.append((f"client {n}", repr(e)))
        finally:
            if conn is not None:
                conn.close()

    threads = [threading.Thread(target=client, args=(n, n % 2 == 0), daemon=True)
               for n in range(4)]
    for t in threads:
        t.start()
    spacing = 200
    t_end = time.monotonic() + 40
    try:
        for k in range(1, 11):
            wait_until(lambda: done[0] >= k * spacing or failures, t_end - time.monotonic(),
                       f"{k * spacing} requests done")
            if failures:
                break
            if k % 2 == 1:
                px.rewrite_config(broken)
            else:
                px.rewrite_config(valid4 if k == 10 else valid)
            px.signal(signal.SIGHUP)
            px.wait_reloads(k)
            assert px.alive(), px.stderr_tail()
        if not failures:
            # the swap is done once /config shows it; then some more requests
            wait_until(lambda: re.search(r"^attempts = 4$", px.admin_get("/config")[2],
                                         re.M), 5, "/config shows attempts = 4")
            after = done[0]
            wait_until(lambda: done[0] >= max(after + 200, 11 * spacing) or failures,
                       t_end - time.monotonic(), "requests after the last reload")
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    assert not any(t.is_alive() for t in threads), "client threads hang"
    assert not failures, f"{len(failures)} failed requests, first: {failures[:3]}\n" \
        + px.stderr_tail()
    assert done[0] >= 2000, done[0]
    ok_hits = upstream.count("/ok")
    assert ok_hits == done[0], f"upstream saw {ok_hits} /ok requests for {done[0]} sent"

    assert px.reloads() == (5, 5), px.scrape()
    err = px.stderr()
    loc = f"{px.config_path}:{bad_line}:"
    assert loc in err and "attemps" in err, \
        f"stderr does not name {loc} and the key:\n{px.stderr_tail()}"
    assert err.count(loc) == 5, f"{err.count(loc)} errors naming {loc}, want 5"

    before = upstream.count("/fail")
    r = request(px.addr, "GET", upstream.url + "/fail")
    assert r.status == 500, describe(upstream, px, r)
    assert upstream.count("/fail") - before == 4, describe(upstream, px, r)


# ---- 3. reload adds and removes a listen address ---------------------------
def test_reload_changes_listen(upstream, ops_proxy):
    px = ops_proxy(section("default", attempts=1))
    orig = px.config_path.read_text()
    first = f"listen = {HOST}:{px.port}\n"
    assert first in orig
    port2 = free_port(HOST)
    px.rewrite_config(orig.replace(first, f"listen = {HOST}:{px.port}, {HOST}:{port2}\n"))
    px.signal(signal.SIGHUP)
    assert px.wait_reloads(1) == (1, 0), px.stderr_tail()
    wait_until(lambda: not connect_refused(port2), 3, f"port {port2} accepts")
    r = request((HOST, port2), "GET", upstream.url + "/two")
    assert r.status == 200, describe(upstream, px, r)
    r = request(px.addr, "GET", upstream.url + "/one")
    assert r.status == 200, describe(upstream, px, r)

    px.rewrite_config(orig)
    px.signal(signal.SIGHUP)
    assert px.wait_reloads(2) == (2, 0), px.stderr_tail()
    wait_until(lambda: connect_refused(port2), 3, f"port {port2} refuses connections")
    for i in range(3):
        r = request(px.addr, "GET", upstream.url + f"/one-again{i}")
        assert r.status == 200, describe(upstream, px, r)


# ---- 4, 5. SIGTERM -----------------------------------------------------------
def test_sigterm_finishes_slow_and_backoff_requests(upstream, ops_proxy):
    px = ops_proxy(section("default", per_try_timeout="20s", start_timeout="1500ms",
                           attempts=3), shutdown_timeout="10s")
    upstream.script("/slow", ["stall:2"])
    upstream.script("/backoff", ["503", "200"])
    slow = in_thread(request, px.addr, "GET", upstream.url + "/slow", timeout=15)
    back = in_thread(request, px.addr, "GET", upstream.url + "/backoff", timeout=15)
    assert upstream.wait_hits("/slow", 1), describe(upstream, px)
    # the 503 was answered in full: the request now waits out its 1.5 s delay
    assert upstream.wait_responded("/backoff", 1), describe(upstream, px)
    t_term = time.monotonic()
    px.signal(signal.SIGTERM)
    px.wait_stderr("stopping")
    wait_until(lambda: connect_refused(px.port), 1.0,
               "a new connection is refused after SIGTERM")
    assert px.alive(), "daemon exited with requests in flight\n" + px.stderr_tail()

    rs = joined(slow, 15)
    rb = joined(back, 15)
    why = describe(upstream, px, [rs, rb])
    assert rs.status == 200 and rs.complete, why
    assert rb.status == 200 and rb.complete and rb.body == b"status=200 hit=2\n", why
    hits = upstream.hits("/backoff")
    assert len(hits) == 2 and hits[1].time > t_term, why
    try:
        rc = px.proc.wait(10)
    except subprocess.TimeoutExpired:
        raise AssertionError("daemon still running 10 s after its requests ended\n"
                             + px.stderr_tail())
    assert rc == 0, f"exit code {rc}\n{px.stderr_tail()}"
    assert time.monotonic() - t_term < 5, why


def test_sigterm_shutdown_timeout_cuts_stalled_request(upstream, ops_proxy):
    px = ops_proxy(section("default", per_try_timeout="30s", attempts=1),
                   shutdown_timeout="500ms")
    upstream.script("/stall", ["stall:5"])
    conn = RawConn(px.addr, timeout=8)
    try:
        conn.send_request("GET", upstream.url + "/stall")
        assert upstream.wait_hits("/stall", 1), describe(upstream, px)
        t_term = time.monotonic()
        px.signal(signal.SIGTERM)
        try:
            rc = px.proc.wait(4)
        except subprocess.TimeoutExpired:
            raise AssertionError("daemon still running 4 s after SIGTERM with "
                                 "shutdown_timeout = 500ms\n" + px.stderr_tail())
        took = time.monotonic() - t_term
        assert rc == 0, f"exit code {rc}\n{px.stderr_tail()}"
        assert 0.4 <= took <= 2.0, f"exit {took:.2f}s after SIGTERM (want ~0.5s)"
        r = conn.read_response()
        closed_at = time.monotonic() - t_term
        assert conn.eof and conn.error != "timeout", \
            f"client connection not closed: {r!r}"
        assert closed_at <= 2.5, f"client connection closed {closed_at:.2f}s after SIGTERM"
        assert r.status == 0 or not r.complete or r.status >= 500, r
    finally:
        conn.close()


# ---- 6. sd_notify --------------------------------------------------------------
@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    """A bound unix datagram socket; NOTIFY_SOCKET points at it."""
    path = tmp_path / "notify.sock"
    tmpdir = None
    if len(str(path)) > 100:  # sun_path is 108 bytes
        tmpdir = tempfile.mkdtemp(prefix="rp-")
        path = Path(tmpdir) / "notify.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    for v in ("WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID", "LISTEN_FDS",
              "LISTEN_FDNAMES"):
        monkeypatch.delenv(v, raising=False)
    yield Notify(s)
    s.close()
    if tmpdir:
        shutil.rmtree(tmpdir, ignore_errors=True)


class Notify:
    def __init__(self, sock):
        self.sock = sock
        self.seen = []  # (time, message)

    def next(self, timeout=5.0, skip_watchdog=True):
        """The next datagram (WATCHDOG=1 skipped), or None after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                return None
            msg = data.decode(errors="replace")
            self.seen.append((time.monotonic(), msg))
            if skip_watchdog and msg.strip() == "WATCHDOG=1":
                continue
            return msg

    def expect(self, field, timeout=5.0):
        msg = self.next(timeout)
        assert msg is not None, f"no notify message after {timeout}s (want {field}); " \
            f"seen {[m for _, m in self.seen]}"
        assert field in msg.split("\n"), f"notify {msg!r}, want {field}; " \
            f"seen {[m for _, m in self.seen]}"
        return msg


def test_sd_notify_ready_reloading_stopping(notify_socket, ops_proxy):
    px = ops_proxy(section("default", attempts=2))
    msg = notify_socket.expect("READY=1")
    assert "STATUS=serving" in msg.split("\n"), msg
    px.signal(signal.SIGHUP)
    notify_socket.expect("RELOADING=1")
    notify_socket.expect("READY=1")
    assert px.reloads() == (1, 0), px.stderr_tail()
    px.signal(signal.SIGTERM)
    notify_socket.expect("STOPPING=1")
    assert px.proc.wait(5) == 0, px.stderr_tail()
    assert notify_socket.next(0.2) is None
    assert not any("WATCHDOG" in m for _, m in notify_socket.seen), \
        f"WATCHDOG without WATCHDOG_USEC: {notify_socket.seen}"


def test_sd_notify_watchdog(notify_socket, ops_proxy, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "400000")
    ops_proxy(section("default", attempts=2))
    notify_socket.expect("READY=1")
    t0 = time.monotonic()
    pings = []
    while time.monotonic() - t0 < 1.0:
        msg = notify_socket.next(t0 + 1.0 - time.monotonic(), skip_watchdog=False)
        if msg is not None and msg.strip() == "WATCHDOG=1":
            pings.append(time.monotonic() - t0)
    assert len(pings) >= 2, f"{len(pings)} WATCHDOG=1 within 1 s of READY=1 " \
        f"(WATCHDOG_USEC=400000): {notify_socket.seen}"


# ---- 7. socket activation --------------------------------------------------------
# Put a listening socket at fd 3, set LISTEN_PID to our own pid, exec the daemon.
_ACTIVATE = r"""
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1",
                  LISTEN_FDNAMES="retryproxy.socket")
os.execv(sys.argv[2], sys.argv[2:])
"""


@pytest.mark.parametrize("how", ["blocking", "nonblocking", "systemd-socket-activate"])
def test_socket_activation(upstream, tmp_path, monkeypatch, how):
    """systemd passes blocking sockets unless the unit says NonBlocking=yes;
    systemd-socket-activate does the same."""
    binary = daemon_path()
    if not binary.exists():
        pytest.skip(f"retryproxy binary not built: {binary}")
    ssa = shutil.which("systemd-socket-activate")
    if how == "systemd-socket-activate" and ssa is None:
        pytest.skip("systemd-socket-activate not installed")
    for v in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID",
              "LISTEN_FDS", "LISTEN_FDNAMES"):
        monkeypatch.delenv(v, raising=False)
    # [proxy] listen names a port that nobody may take and nobody listens on
    decoy = unused_port_socket(HOST)
    decoy_port = decoy.getsockname()[1]
    cfg = tmp_path / "retryproxy.ini"
    cfg.write_text(f"[proxy]\nlisten = {HOST}:{decoy_port}\nworkers = 2\n"
                   "shutdown_timeout = 1s\naccess_log = stderr\n\n"
                   + section("default", attempts=1))
    err_path = tmp_path / "stderr.log"
    lsock = None
    with open(err_path, "wb") as err:
        if how == "systemd-socket-activate":
            port = free_port(HOST)
            argv = [ssa, "-l", f"{HOST}:{port}", str(binary), "-c", str(cfg), "-v"]
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err)
        else:
            lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            lsock.bind((HOST, 0))
            lsock.listen(64)
            lsock.setblocking(how == "blocking")
            port = lsock.getsockname()[1]
            argv = [sys.executable, "-c", _ACTIVATE, str(lsock.fileno()), str(binary),
                    "-c", str(cfg), "-v"]
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err,
                                    pass_fds=(lsock.fileno(),))
    if lsock is not None:
        lsock.close()  # the daemon holds the only copy now

    def tail():
        return err_path.read_text(errors="replace")[-3000:]

    try:
        if how == "systemd-socket-activate":
            wait_until(lambda: not connect_refused(port) or proc.poll() is not None,
                       5, "systemd-socket-activate listening")
        # the socket listens from the start: a request waits for the daemon
        for i in range(3):
            r = request((HOST, port), "GET", upstream.url + f"/activated{i}", timeout=3)
            assert r.status == 200 and r.body == b"status=200 hit=1\n", \
                f"request {i} on the inherited socket: {r!r}\n{tail()}"
        assert proc.poll() is None, tail()
        assert connect_refused(decoy_port), \
            f"[proxy] listen port {decoy_port} accepts despite socket activation"
        # logged by the main thread once the workers run: maybe after them
        wait_until(lambda: "from systemd" in tail(), 3,
                   "the daemon logs that it serves the sockets from systemd")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0, tail()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        decoy.close()


# ---- 8. SIGUSR1 ---------------------------------------------------------------
def test_sigusr1_reopens_access_log(upstream, ops_proxy):
    px = ops_proxy(section("default", attempts=1))
    r = request(px.addr, "GET", upstream.url + "/before")
    assert r.status == 200, describe(upstream, px, r)
    px.log_for("/before")
    rotated = px.log_path.with_name(px.log_path.name + ".1")
    os.rename(px.log_path, rotated)
    px.signal(signal.SIGUSR1)
    px.wait_stderr("reopened")
    assert px.log_path.exists(), "SIGUSR1 did not create a new access log"
    r = request(px.addr, "GET", upstream.url + "/after")
    assert r.status == 200, describe(upstream, px, r)
    px.log_for("/after")
    assert len(px.access_log()) == 1, px.access_log()
    old = rotated.read_text()
    assert "/before" in old and "/after" not in old, old


# ---- 9. cpu_affinity ----------------------------------------------------------
def _worker_cpus(pid, n, timeout=5.0):
    """{worker index: sorted CPUs it may run on}, once all n workers have
    named their threads (rp-worker-I)."""
    deadline = time.monotonic() + timeout
    while True:
        found = {}
        for t in Path(f"/proc/{pid}/task").iterdir():
            try:
                name = (t / "comm").read_text().strip()
            except OSError:
                continue
            if name.startswith("rp-worker-"):
                found[int(name[len("rp-worker-"):])] = sorted(
                    os.sched_getaffinity(int(t.name)))
        if len(found) == n or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


@pytest.mark.parametrize("affinity", ["auto", "off"])
def test_cpu_affinity(upstream, ops_proxy, affinity):
    """auto: worker i may run only on the (i mod n)-th of the n CPUs the
    daemon may use; off: every worker on all of them."""
    px = ops_proxy(section("default", attempts=1),
                   proxy_lines=f"workers = 3\ncpu_affinity = {affinity}")
    allowed = sorted(os.sched_getaffinity(px.proc.pid))
    workers = _worker_cpus(px.proc.pid, 3)
    assert sorted(workers) == [0, 1, 2], (workers, px.stderr())
    for i, cpus in workers.items():
        want = [allowed[i % len(allowed)]] if affinity == "auto" else allowed
        assert cpus == want, (i, cpus, want, px.stderr())
    pinned = ",".join(str(allowed[i % len(allowed)]) for i in range(3))
    assert (f"on CPUs {pinned})" in px.stderr()) == (affinity == "auto"), px.stderr()
    r = request(px.addr, "GET", upstream.url + "/pinned")
    assert r.status == 200, describe(upstream, px, r)
