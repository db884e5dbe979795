"""Start, watch and stop a retryproxy daemon for one test.

The binary is $RETRYPROXY (default: ./retryproxy at the repository top).
Each Proxy gets a temp directory holding its config file, its access log
(JSON, one object a line) and its stdout/stderr.  The config is

    [proxy]
    listen = 127.0.0.1:PORT
    access_log = DIR/access.log
    access_log_format = json
    shutdown_timeout = 2s
    <proxy_lines>
    <config text: [default] / [route ...] sections>

PORT comes from binding port 0, closing and reusing it; a start that fails
with exit code 1 (runtime failure, e.g. cannot bind: someone took the port)
is retried on a new port, 3 tries in all.  Readiness = a TCP connect to the port succeeds.
"""

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

__all__ = ["REPO_ROOT", "daemon_path", "Proxy", "DaemonError", "free_port",
           "unused_port_socket"]


class DaemonError(AssertionError):
    pass


def daemon_path():
    p = os.environ.get("RETRYPROXY")
    if p:
        return Path(p).resolve()
    return REPO_ROOT / "retryproxy"


_handed_out = set()


def free_port(host="127.0.0.1"):
    """A port the kernel just handed out (bound to port 0, then closed),
    never one this process was handed before: the kernel may give the same
    port to two binds in a row once the first is closed, and two keys of
    one config (a gateway's address and [proxy] admin) then collided."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(100):
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            break
    _handed_out.add(port)
    return port


def unused_port_socket(host="127.0.0.1"):
    """A socket bound to a kernel-chosen port and never listened on: a
    connect to that port is refused, and nobody else can take the port."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((host, 0))
    return s


class Proxy:
    """One retryproxy daemon."""

    HOST = "127.0.0.1"

    def __init__(self, config="", proxy_lines="", workdir=None, args=(),
                 shutdown_timeout="2s", preexec=None):
        self.config = config
        self.preexec = preexec  # run in the child before exec (rlimits)
        self.proxy_lines = proxy_lines
        self.shutdown_timeout = shutdown_timeout
        self.args = list(args)
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="retryproxy-it-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.dir / "retryproxy.ini"
        self.log_path = self.dir / "access.log"
        self.stderr_path = self.dir / "stderr.log"
        self.stdout_path = self.dir / "stdout.log"
        self.proc = None
        self.port = None
        self.returncode = None

    # ---- config --------------------------------------------------------
    def config_text(self, port):
        text = ("[proxy]\n"
                f"listen = {self.HOST}:{port}\n"
                f"access_log = {self.log_path}\n"
                "access_log_format = json\n")
        if self.shutdown_timeout:
            text += f"shutdown_timeout = {self.shutdown_timeout}\n"
        pl = self.proxy_lines.strip("\n")
        if pl:
            text += pl + "\n"
        # a module's lane_param fixture: the same tests on both lanes
        lane = os.environ.get("RETRYPROXY_TEST_LANE")
        if lane and not any(ln.split("=")[0].strip() == "lane" for ln in pl.splitlines()):
            text += f"lane = {lane}\n"
        cfg = self.config.strip("\n")
        if cfg:
            text += "\n" + cfg + "\n"
        return text

    # ---- life cycle ----------------------------------------------------
    def start(self, ready_timeout=5.0):
        binary = daemon_path()
        if not binary.exists():
            raise DaemonError(f"daemon binary not found: {binary}")
        last = ""
        for _ in range(3):
            self.port = free_port(self.HOST)
            self.config_path.write_text(self.config_text(self.port))
            err = open(self.stderr_path, "wb")
            out = open(self.stdout_path, "wb")
            try:
                self.proc = subprocess.Popen(
                    [str(binary), "-c", str(self.config_path), "-v", *self.args],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                    cwd=str(self.dir), preexec_fn=self.preexec)
            finally:
                err.close()
                out.close()
            state = self._wait_ready(ready_timeout)
            if state == "ready":
                return self
            last = self.stderr()
            if state == "bind":
                continue
            raise DaemonError(state + "\n--- config ---\n" +
                              self.config_path.read_text() +
                              "--- stderr ---\n" + last)
        raise DaemonError("daemon exited with code 1 (cannot bind?) on 3 ports\n" + last)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                if rc == 1:  # runtime failure: most likely the port was taken
                    return "bind"
                return f"daemon exited with code {rc} during start"
            try:
                with socket.create_connection((self.HOST, self.port), timeout=0.5):
                    return "ready"
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                return f"daemon not accepting on {self.HOST}:{self.port} after {timeout}s"
            time.sleep(0.02)

    def stop(self, timeout=10.0):
        """SIGTERM, wait; the exit code (SIGKILL and DaemonError if it hangs)."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise DaemonError(f"daemon did not exit within {timeout}s of SIGTERM\n"
                                  + self.stderr_tail())
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc is not None:
            self.returncode = self.proc.returncode

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    # ---- addresses -----------------------------------------------------
    @property
    def url(self):
        return f"http://{self.HOST}:{self.port}"

    @property
    def addr(self):
        return (self.HOST, self.port)

    @property
    def pid(self):
        return self.proc.pid

    # ---- observation ---------------------------------------------------
    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def stderr_tail(self, n=60):
        return "\n".join(self.stderr().splitlines()[-n:])

    def access_log(self):
        """Complete access log lines, parsed (a malformed line raises)."""
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for line in data.split(b"\n")[:-1]:  # the last piece may be partial
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except ValueError as e:
                raise DaemonError(f"access log line is not JSON: {line!r}: {e}")
        return out

    def wait_log(self, predicate=None, timeout=3.0, n=1):
        """The first n access log entries matching predicate, once written.

        The daemon writes a line when a request ends, which may be just
        after the client saw the response, so poll (every 20 ms) until
        timeout.
        """
        deadline = time.monotonic() + timeout
        while True:
            entries = [e for e in self.access_log() if predicate is None or predicate(e)]
            if len(entries) >= n:
                return entries[:n] if n > 1 else entries[0]
            if time.monotonic() > deadline:
                raise DaemonError(
                    f"no {n} matching access log entries after {timeout}s; log:\n"
                    + "\n".join(json.dumps(e) for e in self.access_log()))
            time.sleep(0.02)

    def log_for(self, path, timeout=3.0, method=None):
        """The access log entry whose url ends with `path` (query included)."""
        def pred(e):
            u = str(e.get("url", ""))
            return (u.endswith(path) or urlpath(u) == path) and \
                (method is None or e.get("method") == method)
        return self.wait_log(pred, timeout)

    def proc_status(self):
        with open(f"/proc/{self.pid}/status") as f:
            return {k: v.strip() for k, _, v in
                    (line.partition(":") for line in f)}

    def vmhwm(self):
        """Peak resident set size (VmHWM) in bytes."""
        v = self.proc_status()["VmHWM"]
        num, unit = v.split()
        assert unit == "kB"
        return int(num) * 1024

    def vmrss(self):
        num, _ = self.proc_status()["VmRSS"].split()
        return int(num) * 1024

    def sanitized(self):
        """Is the daemon built with ASan (whose shadow memory makes RSS moot)?"""
        try:
            with open(f"/proc/{self.pid}/maps") as f:
                return "libasan" in f.read()
        except OSError:
            return False


def urlpath(url):
    if "://" in url:
        rest = url.split("://", 1)[1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return url


def section(name, **keys):
    """An INI section: section("default", attempts=3) ->
    "[default]\\nattempts = 3\\n"; section("route 127.0.0.1:8080", ...).
    True/False become yes/no; lists are joined with ", "."""
    out = [f"[{name}]"]
    for k, v in keys.items():
        if isinstance(v, bool):
            v = "yes" if v else "no"
        elif isinstance(v, (list, tuple)):
            v = ", ".join(str(x) for x in v)
        out.append(f"{k} = {v}")
    return "\n".join(out) + "\n"


def describe(upstreams=(), proxy=None, response=None):
    """A failure message: the response, the hits each upstream saw, the
    access log and the end of the daemon's stderr."""
    out = []
    if response is not None:
        out.append(f"response: {response!r}")
    if not isinstance(upstreams, (list, tuple)):
        upstreams = [upstreams]
    for up in upstreams:
        out.append(f"{up.name} {up.authority}: {up.connections} connections")
        t0 = None
        for h in up.hits():
            t0 = h.time if t0 is None else t0
            out.append(f"  +{(h.time - t0) * 1000:7.1f}ms {h.method} {h.target} "
                       f"hit {h.index} conn {h.conn_id}/{h.conn_request} "
                       f"step {h.step} body {h.body_len}B")
        for h in up.dropped:
            out.append(f"  dropped {h.method} {h.target} conn {h.conn_id}")
    if proxy is not None:
        try:
            log = proxy.access_log()
        except AssertionError as e:
            log = [str(e)]
        out.append("access log:")
        out.extend(f"  {json.dumps(e) if isinstance(e, dict) else e}" for e in log)
        out.append("daemon stderr (tail):")
        out.append(proxy.stderr_tail(30))
    return "\n".join(out)


def daemon_factory(cls, tmp_path, prefix):
    """Yield a start(config, proxy_lines, **kw) that runs a daemon of class
    cls; at teardown stop them all, each of which must exit 0."""
    import pytest  # (only the fixtures use this)

    started = []

    def start(config="", proxy_lines="", **kw):
        if not daemon_path().exists():
            msg = f"retryproxy binary not built: {daemon_path()} (set RETRYPROXY)"
            if os.environ.get("RETRYPROXY_REQUIRE"):
                pytest.fail(msg)
            pytest.skip(msg)
        p = cls(config, proxy_lines, workdir=tmp_path / f"{prefix}{len(started)}", **kw)
        started.append(p)
        return p.start()

    yield start
    problems = []
    for p in started:
        try:
            rc = p.stop()
        except DaemonError as e:
            problems.append(str(e))
            continue
        if rc != 0:
            problems.append(f"daemon exit code {rc} after SIGTERM (want 0)\n"
                            + p.stderr_tail())
    if problems:
        raise DaemonError("\n\n".join(problems))
