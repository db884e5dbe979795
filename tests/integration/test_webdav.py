"""Real WebDAV, Subversion and WebSocket clients through the proxy.

The README ("Any request") says what libevent's HTTP server cannot carry
takes the raw lane: any method token (RFC 9110 section 16.1: the method
set is extensible; WebDAV's PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, LOCK,
UNLOCK in RFC 4918, DeltaV's REPORT, MKACTIVITY, CHECKOUT, MERGE in RFC
3253 as Subversion uses them), chunked bodies (RFC 9112 section 7.1),
bodies over `max_request_body` (streamed), and `Upgrade` (RFC 9110 section
7.8; a 101 turns the connection into a tunnel, RFC 6455 section 4).

Each test runs a real client twice, once straight at the origin and once
through retryproxy, and wants the same outcome both ways:

- Subversion (svn, ra_serf) against Apache mod_dav_svn: checkout, add
  (a 3 MiB binary and some text), commit, update of a second working
  copy, log, diff, cat, propget; the same files (sha256), log and diff.
- litmus (the WebDAV server test suite) against Apache mod_dav_fs: the
  basic, copymove, props and locks suites; the same results.
- WebSocket echo (python3-websockets server): python3-websocket's client,
  which reaches a ws:// URL through an http proxy with CONNECT (RFC 9110
  section 9.3.6), and a client that sends the upgrade as an absolute-form
  GET (RFC 9112 section 3.2.2); text, binary and fragmented messages,
  a clean close (RFC 6455 section 7), then a plain GET.

Every request the origin saw through the proxy must be one line of the
proxy's access log with the same method, target and status, and every
extension method must have been carried with a 2xx.

Proxy variants: the defaults, and `workers = 1` with `max_request_body =
64K`, under which the 3 MiB commit streams; for Subversion also with its
bodies sent with a Content-Length instead of chunked, and over its older
HTTP protocol (DeltaV activities: MKACTIVITY, CHECKOUT, MERGE).

Debian 12 packages: apache2-bin libapache2-mod-svn subversion litmus
python3-websocket python3-websockets.  A test whose tool is missing is
skipped, naming it (RETRYPROXY_REQUIRE=1 turns that into a failure).
"""

import collections
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from clients import clean_env, request
from davserver import Apache, EchoServer, WsClient, apache_binary, apache_modules_dir
from davserver import OP_BINARY, OP_CONT, OP_TEXT
from harness import Proxy, daemon_factory, describe, free_port, urlpath

MiB = 1024 * 1024
TOOL_TIMEOUT = 60       # seconds for any one svn / litmus run

STREAM = "workers = 1\nmax_request_body = 64K"
VARIANTS = [
    pytest.param("defaults", "", id="defaults"),
    pytest.param("stream64k", STREAM, id="stream64k"),
]
# ra_serf sends request bodies chunked unless told not to
# (http-chunked-requests = no: each body with a Content-Length); /svnv1
# speaks Subversion's older HTTP protocol (DeltaV activities).
SVN_VARIANTS = [
    pytest.param("defaults", "", "auto", "svn", id="defaults"),
    pytest.param("stream64k", STREAM, "auto", "svn", id="stream64k-chunked"),
    pytest.param("stream64k-length", STREAM, "no", "svn", id="stream64k-content-length"),
    pytest.param("httpv1", "", "auto", "svnv1", id="httpv1-deltav"),
]
# Methods each protocol must carry with a 2xx: HTTPv2 (mod_dav_svn 1.7+)
# creates a transaction with POST; v1 with MKACTIVITY and CHECKOUT (RFC
# 3253 sections 13.5, 4.3); both PROPFIND, REPORT, PUT, PROPPATCH, MKCOL
# (RFC 4918) and MERGE (RFC 3253 section 11.2).
SVN_NEED = {
    "svn": {"PROPFIND", "REPORT", "POST", "PUT", "PROPPATCH", "MKCOL", "MERGE"},
    "svnv1": {"PROPFIND", "REPORT", "MKACTIVITY", "CHECKOUT", "PUT", "PROPPATCH",
              "MKCOL", "MERGE"},
}


class MetricsProxy(Proxy):
    """A Proxy with `[proxy] admin` on a fresh free port at every start try
    (README "Operations": GET /metrics, Prometheus text)."""

    def config_text(self, port):
        self.admin_port = free_port(self.HOST)
        return super().config_text(port).replace(
            "[proxy]\n", f"[proxy]\nadmin = {self.HOST}:{self.admin_port}\n", 1)

    def metrics(self, timeout=5.0):
        """{name: value} of the unlabelled samples of GET /metrics."""
        c = http.client.HTTPConnection(self.HOST, self.admin_port, timeout=timeout)
        try:
            c.request("GET", "/metrics")
            r = c.getresponse()
            body = r.read().decode()
        finally:
            c.close()
        assert r.status == 200, f"/metrics answered {r.status}: {body}"
        out = {}
        for line in body.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, _, value = line.partition(" ")
                out[name] = float(value)
        return out

    def wait_metric(self, name, pred, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            m = self.metrics()
            if pred(m.get(name)):
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"metric {name} = {m.get(name)} after {timeout}s\n"
                                     + describe(proxy=self))
            time.sleep(0.05)


@pytest.fixture
def mproxy(tmp_path):
    """Factory: mproxy(config, proxy_lines) -> a started MetricsProxy."""
    yield from daemon_factory(MetricsProxy, tmp_path, "proxy")


def _missing(what):
    msg = f"{what} not installed (Debian 12: apt-get install apache2-bin " \
          "libapache2-mod-svn subversion litmus python3-websocket python3-websockets)"
    if os.environ.get("RETRYPROXY_REQUIRE"):
        pytest.fail(msg)
    pytest.skip(msg)


def _need_apache():
    if apache_binary() is None:
        _missing("apache2 (Apache httpd, package apache2-bin)")
    if apache_modules_dir(*Apache.MODULES) is None:
        _missing("Apache modules " + ", ".join(Apache.MODULES))


@pytest.fixture(scope="module")
def apache(tmp_path_factory):
    """One private Apache (mod_dav_fs on /dav, mod_dav_svn on /svn) for the
    module; every test uses collections and repositories of its own."""
    _need_apache()
    a = Apache(tmp_path_factory.mktemp("apache"))
    a.start()
    yield a
    a.stop()


def _under(target, prefix):
    return target == prefix or target[len(prefix):len(prefix) + 1] in ("/", "?") \
        and target.startswith(prefix)


def _origin_lines(apache, prefix):
    """(method, target, status) of what Apache logged under `prefix`."""
    return collections.Counter((m, t, s) for m, s, t in apache.access_log()
                               if _under(t, prefix))


def _refused_fragment(e):
    """A request the proxy answered itself with 400 because its target had
    a fragment (RFC 9112 section 3.2; README "Limits"): litmus sends
    DELETE .../frag/#ment on purpose, Apache answers it 400 directly."""
    return e.get("attempts") == 0 and e.get("status") == 400 \
        and "#" in str(e.get("url", ""))


def _proxy_lines(px, prefix):
    out = collections.Counter()
    for e in px.access_log():
        target = urlpath(str(e.get("url", "")))
        if _under(target, prefix) and not _refused_fragment(e):
            out[(e.get("method"), target, e.get("status"))] += 1
    return out


def _logs_disagree(apache, px, prefix, timeout=5.0):
    """Each request Apache saw under `prefix` must be one access-log line of
    the proxy with the same method, target and status, and vice versa (a
    line is written when its request ends: poll until both agree).
    (None or a description of the difference, the methods the proxy
    logged with a 2xx, all methods it logged)."""
    deadline = time.monotonic() + timeout
    while True:
        origin = _origin_lines(apache, prefix)
        proxied = _proxy_lines(px, prefix)
        if origin == proxied and origin or time.monotonic() > deadline:
            break
        # as many lines on each side: nothing is pending, they just differ
        if origin and sum(origin.values()) == sum(proxied.values()):
            break
        time.sleep(0.05)
    ok = {m for (m, _, s) in proxied if 200 <= s < 300}
    seen = {m for (m, _, _) in proxied}
    problem = None
    if origin != proxied or not origin:
        lost = sorted((origin - proxied).items())
        extra = sorted((proxied - origin).items())
        problem = (f"Apache's log and the proxy's disagree under {prefix} "
                   "((method, target, status): count):\n"
                   f"  at the origin, not in the proxy log: {lost[:20]}\n"
                   f"  in the proxy log, not at the origin: {extra[:20]}")
    bad = [e for e in px.access_log()
           if _under(urlpath(str(e.get("url", ""))), prefix)
           and not _refused_fragment(e)
           and (e.get("attempts") != 1 or e.get("error"))]
    if bad:
        problem = (problem + "\n" if problem else "") + f"retried or failed: {bad[:10]}"
    return problem, ok, seen


def _why(px, apache=None, log_lines=25):
    """The end of the proxy's access log and stderr (and Apache's logs)."""
    try:
        log = [json.dumps(e) for e in px.access_log()[-log_lines:]]
    except AssertionError as e:
        log = [str(e)]
    out = ["", f"--- proxy access log (last {log_lines}) ---", *log,
           "--- proxy stderr (tail) ---", px.stderr_tail(15)]
    if apache is not None:
        out += ["--- apache error log (tail) ---", apache.log_tail(10)]
    return "\n".join(out)


# ---- Subversion --------------------------------------------------------------

BIN_V1 = random.Random(6455).randbytes(3 * MiB)     # incompressible: ~3 MiB on the wire
BIN_V2 = BIN_V1[:MiB] + random.Random(4918).randbytes(4096) + BIN_V1[MiB + 4096:] + b"tail" * 64

FILES_V1 = {
    "README.txt": b"retryproxy svn test\nline two\n",
    "a.txt": b"".join(b"alpha line %d\n" % i for i in range(200)),
    "b.txt": b"bravo\n" * 10,
    "sub/c.txt": "c\u00e9dille \u20ac\n".encode(),
    "bin.dat": BIN_V1,
}


def _files_v2():
    f = dict(FILES_V1)
    f["a.txt"] = FILES_V1["a.txt"].replace(b"alpha line 100\n", b"ALPHA LINE 100 changed\n") \
        + b"appended\n"
    f["bin.dat"] = BIN_V2
    del f["b.txt"]
    f["sub/d.txt"] = b"delta, added in r2\n"
    return f


FILES_V2 = _files_v2()


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _tree_hashes(top):
    out = {}
    for d, dirs, files in os.walk(top):
        dirs[:] = [x for x in dirs if x != ".svn"]
        for n in files:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, top)] = _sha(f.read())
    return out


class Svn:
    """svn with a fresh --config-dir, optionally through an http proxy
    (the `servers` file's [global] http-proxy-host / http-proxy-port,
    given with --config-option)."""

    def __init__(self, workdir, proxy_port=None, why=lambda: "", chunked="auto"):
        self.dir = workdir
        self.cfg = workdir / "svn-config"
        self.cfg.mkdir(parents=True, exist_ok=True)
        self.opts = ["--non-interactive", "--no-auth-cache",
                     "--config-dir", str(self.cfg),
                     "--config-option", "servers:global:http-timeout=20",
                     "--config-option", f"servers:global:http-chunked-requests={chunked}",
                     "--config-option", "servers:global:http-proxy-exceptions="]
        if proxy_port:
            self.opts += ["--config-option", "servers:global:http-proxy-host=127.0.0.1",
                          "--config-option", f"servers:global:http-proxy-port={proxy_port}"]
        self.why = why
        self.env = clean_env(LC_ALL="C", LANG="C", HOME=str(workdir))

    def __call__(self, sub, *args, cwd=None, binary=False):
        cmd = ["svn", sub, *self.opts, *args]
        try:
            p = subprocess.run(cmd, cwd=cwd or self.dir, env=self.env,
                               capture_output=True, stdin=subprocess.DEVNULL,
                               timeout=TOOL_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{' '.join(cmd)}: no result in {TOOL_TIMEOUT}s\n"
                                 + self.why())
        if p.returncode != 0:
            raise AssertionError(
                f"svn {sub} {' '.join(args)} exited {p.returncode}:\n"
                f"{p.stderr.decode(errors='replace')}{p.stdout.decode(errors='replace')[-2000:]}"
                + self.why())
        return p.stdout if binary else p.stdout.decode("utf-8", "replace")


def _write(wc, files):
    for rel, data in files.items():
        p = wc / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def _log_summary(xml_text):
    """svn log --xml -v without the dates: [(rev, msg, [(action, path)])]."""
    out = []
    for e in ET.fromstring(xml_text).iter("logentry"):
        paths = sorted((p.get("action"), p.text) for p in e.iter("path"))
        out.append((e.get("revision"), e.findtext("msg"), paths))
    return out


def _lines(text):
    """Output lines in sorted order (ra_serf fetches files in parallel, so
    the order of update notifications may vary from run to run)."""
    return sorted(text.splitlines())


def _diff_sections(text):
    """svn diff output as its per-file sections (from "Index: "), sorted."""
    return sorted(re.split(r"(?m)^(?=Index: )", text))


def svn_session(svn, url, work):
    """The same operations on a repository, straight or through the proxy;
    the observable results."""
    wc1, wc2 = work / "wc1", work / "wc2"
    res = {}
    res["co1"] = svn("checkout", url, str(wc1))
    res["co2"] = svn("checkout", url, str(wc2))
    _write(wc1, FILES_V1)
    svn("add", "README.txt", "a.txt", "b.txt", "sub", "bin.dat", cwd=wc1)
    svn("propset", "rp:note", "v1", "a.txt", cwd=wc1)
    res["ci1"] = svn("commit", "-m", "r1: add files, one of 3 MiB", cwd=wc1)
    _write(wc1, {k: v for k, v in FILES_V2.items() if k != "sub/d.txt"})
    svn("rm", "b.txt", cwd=wc1)
    _write(wc1, {"sub/d.txt": FILES_V2["sub/d.txt"]})
    svn("add", "sub/d.txt", cwd=wc1)
    svn("propset", "rp:note", "v2", "a.txt", cwd=wc1)
    res["ci2"] = svn("commit", "-m", "r2: change a, bin; drop b; add d", cwd=wc1)
    res["up2"] = _lines(svn("update", cwd=wc2))
    res["wc2"] = _tree_hashes(wc2)
    res["log"] = _log_summary(svn("log", "-v", "--xml", url))
    res["diff"] = _diff_sections(svn("diff", "-r", "1:2", url))
    res["cat_r1_bin"] = _sha(svn("cat", "-r", "1", url + "/bin.dat", binary=True))
    res["propget_r1"] = svn("propget", "rp:note", "-r", "1", url + "/a.txt")
    res["status_wc1"] = svn("status", cwd=wc1)
    return res


def _need_svn():
    _need_apache()
    if shutil.which("svn") is None or shutil.which("svnadmin") is None:
        _missing("svn / svnadmin (subversion)")


@pytest.fixture(scope="module")
def svn_direct(apache, tmp_path_factory):
    """svn_direct(location): the operations straight at Apache on a
    repository of their own, once per location for the module; (results,
    the repository's path prefix)."""
    done = {}

    def run(location):
        if location not in done:
            url = apache.mkrepo(f"direct-{location}", location)
            work = tmp_path_factory.mktemp(f"svn-direct-{location}")
            done[location] = (svn_session(Svn(work, why=apache.log_tail), url, work),
                              f"/{location}/direct-{location}")
        return done[location]
    return run


@pytest.mark.parametrize("variant,proxy_lines,chunked,location", SVN_VARIANTS)
def test_svn_through_proxy(apache, svn_direct, mproxy, variant, proxy_lines, chunked,
                           location, tmp_path):
    """Subversion's checkout, commit, update, log, diff, cat and propget
    through the proxy give what they give straight; every request Apache
    saw is one proxy log line with its status; with max_request_body = 64K
    the 3 MiB commit streams, whether ra_serf sends it chunked (its default)
    or with a Content-Length."""
    _need_svn()
    direct, direct_prefix = svn_direct(location)
    px = mproxy("", proxy_lines)
    name = f"via-{variant}"
    url = apache.mkrepo(name, location)

    def why():
        return _why(px, apache)

    work = tmp_path / "svn"
    got = svn_session(Svn(work, proxy_port=px.port, why=why, chunked=chunked), url, work)

    want_tree = {k: _sha(v) for k, v in FILES_V2.items()}
    assert direct["wc2"] == want_tree, "straight at Apache, wc2 differs"
    assert got["wc2"] == want_tree, f"wc2 after update through the proxy: {got['wc2']}\n" + why()
    assert got["cat_r1_bin"] == _sha(BIN_V1), why()
    assert "Committed revision 1." in got["ci1"] and "Committed revision 2." in got["ci2"], \
        f"{got['ci1']}\n{got['ci2']}" + why()
    assert any(x.startswith("Index: bin.dat") for x in got["diff"]), got["diff"]
    for k in ("co1", "co2", "ci1", "ci2", "up2", "log", "diff", "propget_r1", "status_wc1"):
        assert got[k] == direct[k], \
            f"{k} differs\n--- straight:\n{direct[k]}\n--- through the proxy:\n{got[k]}" + why()

    problem, ok, seen = _logs_disagree(apache, px, f"/{location}/{name}")
    assert problem is None, problem + why()
    # Whatever methods svn used straight, it used through the proxy.
    direct_methods = {m for m, _, _ in _origin_lines(apache, direct_prefix)}
    assert seen == direct_methods, f"methods straight {direct_methods}, through {seen}" + why()
    need = SVN_NEED[location]
    assert need <= ok, f"methods without a 2xx through the proxy: {need - ok}" + why()
    # The 3 MiB file went up (a PUT, RFC 9110 section 9.3.4).
    puts = [e for e in px.access_log() if e.get("method") == "PUT"
            and _under(urlpath(e.get("url", "")), f"/{location}/{name}")
            and e.get("url", "").endswith("/bin.dat")]
    assert puts and all(e["status"] in (201, 204) for e in puts), why()

    m = px.metrics()
    assert m.get("retryproxy_raw_lane_requests_total", 0) > 0, f"{m}" + why()
    if proxy_lines == STREAM:
        assert m.get("retryproxy_streamed_bodies_total", 0) >= 1, \
            f"no body streamed under max_request_body = 64K: {m}" + why()


# ---- litmus --------------------------------------------------------------------

LITMUS_SUITES = "basic copymove props locks"
SUMMARY = re.compile(r"<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed")
FAILED = re.compile(r"^\s*\d+\.\s+(\w+)\.*\s*FAIL\b(.*)$", re.M)
WARNING = re.compile(r"^\s*\d+\.\s+(\w+)\.*\s*WARNING: (.*)$", re.M)


def run_litmus(url, work, proxy_url=None, why=lambda: ""):
    """litmus -k [--proxy=PROXY] URL with TESTS=basic copymove props locks
    (its usage: `litmus [OPTIONS] URL`, `-k` keep going, `-p, --proxy=URL`);
    the per-suite (run, passed, failed), the failed tests, the warnings.

    The long form: litmus 0.13's suite programs declare the short `-p`
    without an argument, print their usage, and the wrapper still exits 0,
    so a proxy given as `-p URL` runs nothing (hence the check that every
    suite printed its summary).  Its fifth suite, http, is left out: its
    one test (expect100) opens its own connection to the server, past the
    proxy."""
    work.mkdir(parents=True, exist_ok=True)
    cmd = ["litmus", "-k"] + ([f"--proxy={proxy_url}"] if proxy_url else []) + [url]
    env = clean_env(TESTS=LITMUS_SUITES, LC_ALL="C", LANG="C")
    try:
        p = subprocess.run(cmd, cwd=work, env=env, capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{' '.join(cmd)}: no result in {TOOL_TIMEOUT}s" + why())
    # each test's line is printed twice, the second time after a "\r"
    out = p.stdout.decode(errors="replace").replace("\r", "\n")
    summary = {m[0]: tuple(int(x) for x in m[1:]) for m in SUMMARY.findall(out)}
    failed = sorted(set((n, r.strip()) for n, r in FAILED.findall(out)))
    warnings = sorted(set((n, w.strip()) for n, w in WARNING.findall(out)))
    # compared by test name (a reason may name the collection's path)
    return {"rc": p.returncode, "summary": summary,
            "failed": sorted(set(n for n, _ in failed)), "failed_detail": failed,
            "warnings": sorted(set(n for n, _ in warnings)), "warnings_detail": warnings,
            "out": out, "err": p.stderr.decode(errors="replace")}


def _need_litmus():
    _need_apache()
    if shutil.which("litmus") is None:
        _missing("litmus")


@pytest.fixture(scope="module")
def litmus_direct(apache, tmp_path_factory):
    _need_litmus()
    url = apache.mkdav("direct")
    r = run_litmus(url, tmp_path_factory.mktemp("litmus-direct"), why=apache.log_tail)
    assert set(r["summary"]) == set(LITMUS_SUITES.split()), \
        "litmus straight at Apache did not run every suite:\n" + r["out"] + r["err"]
    return r


def _litmus_brief(r):
    return (f"rc={r['rc']} summary={r['summary']}\n"
            f"  warnings={r['warnings_detail']}\n  failed={r['failed_detail']}")


@pytest.mark.parametrize("variant,proxy_lines", VARIANTS)
def test_litmus_through_proxy(apache, litmus_direct, mproxy, variant, proxy_lines, tmp_path):
    """litmus's basic, copymove, props and locks suites (RFC 4918) give the
    same results through the proxy as straight at mod_dav_fs: the same
    tests run, passed, failed and warned about, and every request Apache
    saw is one proxy log line with the same target and status."""
    _need_litmus()
    px = mproxy("", proxy_lines)
    name = f"via-{variant}"
    url = apache.mkdav(name)

    def why():
        return _why(px, apache)

    got = run_litmus(url, tmp_path / "litmus", proxy_url=px.url, why=why)
    want = litmus_direct
    problems = []
    if got["summary"] != want["summary"]:
        problems.append(f"suite summaries differ: straight {want['summary']}, "
                        f"through the proxy {got['summary']}")
    for k in ("failed", "warnings"):
        only_via = [d for d in got[k + "_detail"] if d[0] not in want[k]]
        only_direct = [d for d in want[k + "_detail"] if d[0] not in got[k]]
        if only_via or only_direct:
            problems.append(f"litmus {k} differ: only through the proxy {only_via}; "
                            f"only straight {only_direct}")
    problem, ok, _ = _logs_disagree(apache, px, f"/dav/{name}")
    if problem:
        problems.append(problem)
    need = {"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK"}
    if not need <= ok:
        problems.append(f"methods without a 2xx through the proxy: {sorted(need - ok)}")
    assert not problems, "\n".join(problems) + (
        f"\nstraight:  {_litmus_brief(want)}\nthrough:   {_litmus_brief(got)}\n"
        f"--- litmus through the proxy (tail) ---\n{got['out'][-3000:]}{got['err']}" + why())


# ---- WebSocket -------------------------------------------------------------------

TEXT = "h\u00e9llo, \u20ac through the proxy"
BINARY = bytes(range(256)) * 3
BIG = random.Random(17).randbytes(200 * 1024)     # 64-bit payload length


def _need_websockets():
    try:
        import websockets  # noqa: F401
    except ImportError:
        _missing("python3-websockets")


@pytest.fixture
def echo():
    _need_websockets()
    s = EchoServer().start()
    yield s
    s.stop()
    assert not s.errors, f"echo server errors: {s.errors}"


def _plain_get_after(upstream, px, why):
    """A plain GET on a new connection still works."""
    upstream.script("/after-ws", ["200"])
    r = request(px.addr, "GET", upstream.url + "/after-ws")
    assert r.status == 200 and r.body == b"status=200 hit=1\n", \
        describe(upstream, px, r) + why()


def test_websocket_client_library_through_proxy(upstream, mproxy, echo):
    """python3-websocket's create_connection with http_proxy_host: it opens
    a CONNECT tunnel (RFC 9110 section 9.3.6) and does the RFC 6455
    handshake inside; text and binary echo, a clean close."""
    try:
        import websocket  # python3-websocket (websocket-client)
    except ImportError:
        _missing("python3-websocket")
    px = mproxy("", "connect_ports = *")

    def why():
        return _why(px)

    # websocket-client bypasses the proxy for 127.0.0.1 and localhost
    # unless it is given a no-proxy list of its own.
    ws = websocket.create_connection(
        echo.url + "/echo?lib=1", timeout=10,
        http_proxy_host=px.HOST, http_proxy_port=px.port, proxy_type="http",
        http_no_proxy=["no-proxy.invalid"])
    try:
        ws.send(TEXT)
        assert ws.recv() == TEXT, why()
        ws.send_binary(BINARY)
        assert ws.recv() == BINARY, why()
        ws.send_binary(BIG)
        assert ws.recv() == BIG, why()
        ws.close(timeout=5)
    finally:
        ws.shutdown()
    assert echo.closed.wait(5), "the echo server never saw the close" + why()
    assert [p for p, _ in echo.handshakes] == ["/echo?lib=1"], echo.handshakes
    assert echo.messages == [TEXT, BINARY, BIG]
    e = px.wait_log(lambda e: e.get("method") == "CONNECT", timeout=5)
    assert e["status"] == 200 and str(echo.port) in e["url"], why()
    px.wait_metric("retryproxy_tunnels", lambda v: v == 0)
    _plain_get_after(upstream, px, why)


def test_websocket_upgrade_absolute_form_through_proxy(upstream, mproxy, echo):
    """The opening handshake as an absolute-form GET to the proxy (RFC 9112
    section 3.2.2), no CONNECT: the proxy forwards Upgrade and Connection:
    Upgrade (RFC 9110 section 7.8), relays the 101 with the origin's
    Sec-WebSocket-Accept (RFC 6455 section 4.2.2), then carries frames both
    ways until the close handshake (RFC 6455 section 7)."""
    px = mproxy()

    def why():
        return _why(px)

    c = WsClient(px.addr, timeout=10)
    try:
        status = c.handshake(echo.http_url + "/echo?x=1")
        assert status == 101, f"upgrade answered {c.head!r}" + why()
        c.send_frame(OP_TEXT, TEXT.encode())
        assert c.recv_message() == (OP_TEXT, TEXT.encode()), why()
        c.send_frame(OP_BINARY, BINARY)
        assert c.recv_message() == (OP_BINARY, BINARY), why()
        # one text message in three fragments (RFC 6455 section 5.4)
        c.send_frame(OP_TEXT, b"frag-1 ", fin=False)
        c.send_frame(OP_CONT, b"frag-2 ", fin=False)
        c.send_frame(OP_CONT, b"frag-3")
        assert c.recv_message() == (OP_TEXT, b"frag-1 frag-2 frag-3"), why()
        c.send_frame(OP_BINARY, BIG)
        op, data = c.recv_message()
        assert op == OP_BINARY and data == BIG, why()
        code, eof = c.close_handshake(1000)
        assert code == 1000, f"close code {code}" + why()
        assert eof, "the connection stayed open after the close handshake" + why()
    finally:
        c.close()
    assert echo.closed.wait(5), "the echo server never saw the close" + why()
    # The origin got origin-form (RFC 9112 section 3.2.1), with the upgrade.
    assert len(echo.handshakes) == 1, echo.handshakes
    path, headers = echo.handshakes[0]
    assert path == "/echo?x=1", (path, headers)
    names = {k.lower(): v for k, v in headers}
    assert names.get("upgrade", "").lower() == "websocket", headers
    assert echo.messages == [TEXT, BINARY, "frag-1 frag-2 frag-3", BIG]
    e = px.log_for("/echo?x=1", timeout=5)
    assert e["method"] == "GET" and e["status"] == 101, why()
    m = px.wait_metric("retryproxy_tunnels", lambda v: v == 0)
    assert m.get("retryproxy_raw_lane_requests_total", 0) >= 1, f"{m}" + why()
    _plain_get_after(upstream, px, why)
