"""Idle client connections: many of them do not starve a new client, and
client_timeout closes them (retryproxy.ini(5), [proxy] client_timeout: "idle keep-alive
and slow-request limit on client connections").

1,000 connections need 1,000 descriptors in this process and in the daemon:
the soft RLIMIT_NOFILE of this process is raised (the daemon inherits it)
and the daemon's own limit is read from /proc/PID/limits; below 1,100 the
tests are skipped, saying why.
"""

import re
import resource
import selectors
import socket
import time
import urllib.request

import pytest

from clients import RawConn, request
from harness import describe, free_port, section

N_IDLE = 1000
NEED_FDS = 1100
CLIENT_TIMEOUT = 2.0
CLOSE_WITHIN = 4.0     # each idle connection is closed this long after it opened
CLOSE_NOT_BEFORE = 1.8  # ... and not (much) before client_timeout


@pytest.fixture
def nofile():
    """Raise the soft RLIMIT_NOFILE (inherited by the daemon) for the test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if now != resource.RLIM_INFINITY and now < NEED_FDS:
        pytest.skip(f"RLIMIT_NOFILE of the test process is {now} (hard {hard}); "
                    f"{NEED_FDS} needed for {N_IDLE} idle connections")
    yield now
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def daemon_nofile(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                v = line.split()[3]
                return float("inf") if v == "unlimited" else int(v)
    return None


def client_connections(admin_port):
    """retryproxy_client_connections from the admin endpoint (None if absent)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{admin_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(r"^retryproxy_client_connections (\d+)", text, re.M)
    return int(m.group(1)) if m else None


def wait_value(fn, pred, timeout):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if pred(v) or time.monotonic() > deadline:
            return v
        time.sleep(0.05)


def start_proxy(proxy, need=NEED_FDS):
    admin = free_port()
    px = proxy(section("default", attempts=1),
               f"client_timeout = {CLIENT_TIMEOUT:g}s\nadmin = 127.0.0.1:{admin}")
    limit = daemon_nofile(px.pid)
    if limit is None or limit < need:
        pytest.skip(f"the daemon's RLIMIT_NOFILE is {limit} (/proc/{px.pid}/limits); "
                    f"{need} needed for {N_IDLE} idle connections "
                    "(raise the hard limit, or LimitNOFILE= under systemd)")
    return px, admin


def watch_closes(conns, opened, deadline):
    """Read every connection until it closes or `deadline` (monotonic).

    Returns {index: (seconds after its open, how)} where how is "eof",
    "408+eof" (a complete 408 response, then EOF), "reset" or
    "data: ..." (anything else arrived)."""
    sel = selectors.DefaultSelector()   # epoll: more than FD_SETSIZE sockets
    bufs = {}
    for i, s in enumerate(conns):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        bufs[i] = b""
    closed = {}
    while len(closed) < len(conns):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for key, _ in sel.select(min(left, 0.2)):
            i = key.data
            try:
                data = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                data = None
            if data:
                bufs[i] += data
                continue
            t = time.monotonic() - opened[i]
            if data is None:
                how = "reset"
            elif not bufs[i]:
                how = "eof"
            elif re.match(rb"HTTP/1\.[01] 408 ", bufs[i]):
                how = "408+eof"
            else:
                how = f"data: {bufs[i][:80]!r}"
            closed[i] = (t, how)
            sel.unregister(key.fileobj)
    sel.close()
    return closed


def check_closed(conns, closed, what):
    missing = [i for i in range(len(conns)) if i not in closed]
    assert not missing, (f"{len(missing)} of {len(conns)} {what} connections still open "
                         f"{CLOSE_WITHIN}s after they opened (client_timeout "
                         f"{CLIENT_TIMEOUT:g}s); first: {missing[:10]}")
    bad = {i: v for i, v in closed.items() if v[1] not in ("eof", "408+eof")}
    assert not bad, f"{what} connections not closed cleanly: {list(bad.items())[:10]}"
    times = sorted(t for t, _ in closed.values())
    early = [t for t in times if t < CLOSE_NOT_BEFORE]
    assert not early, (f"{len(early)} {what} connections closed before client_timeout "
                       f"({CLIENT_TIMEOUT:g}s): after {early[:5]} s")
    late = [t for t in times if t > CLOSE_WITHIN]
    assert not late, f"{len(late)} {what} connections closed late: after {late[-5:]} s"
    return times


def test_1000_idle_connections_do_not_block_a_new_client_and_time_out(
        nofile, upstream, proxy):
    px, admin = start_proxy(proxy)
    upstream.script("/idle-ok", ["200"])
    conns, opened = [], []
    try:
        for _ in range(N_IDLE):
            s = socket.create_connection(px.addr, timeout=5)
            conns.append(s)
            opened.append(time.monotonic())
        # the daemon holds them all (accepted, not waiting in the backlog)
        n = wait_value(lambda: client_connections(admin),
                       lambda v: v is not None and v >= N_IDLE, 1.0)
        assert n is not None and n >= N_IDLE, \
            f"retryproxy_client_connections = {n} with {N_IDLE} idle clients open"

        # a new client is served while they are all still open
        r = request(px.addr, "GET", upstream.url + "/idle-ok", timeout=5)
        served = time.monotonic()
        assert r.status == 200 and r.complete and r.body == b"status=200 hit=1\n", \
            describe(upstream, px, r)
        assert served - opened[-1] < CLIENT_TIMEOUT - 0.3, \
            f"the request took until {served - opened[-1]:.2f}s after the last idle " \
            f"connection opened: the idle ones were not all open any more"
        sel = selectors.DefaultSelector()
        for s in conns:
            sel.register(s, selectors.EVENT_READ)
        gone = sel.select(0)
        sel.close()
        assert not gone, f"{len(gone)} idle connections closed or written to before " \
                         f"client_timeout, while the new client was served"

        # client_timeout = 2s closes every one of them, within ~4 s
        closed = watch_closes(conns, opened, opened[-1] + CLOSE_WITHIN + 0.5)
        times = check_closed(conns, closed, "idle")
        print(f"\n{N_IDLE} idle connections closed after {times[0]:.2f}..{times[-1]:.2f} s "
              f"(client_timeout {CLIENT_TIMEOUT:g}s): "
              f"{sum(1 for v in closed.values() if v[1] == 'eof')} EOF, "
              f"{sum(1 for v in closed.values() if v[1] == '408+eof')} 408 then EOF")
        n = wait_value(lambda: client_connections(admin), lambda v: v == 0, 2.0)
        assert n == 0, f"retryproxy_client_connections = {n} after every client left"
        assert px.alive()
    finally:
        for s in conns:
            s.close()


def test_idle_keepalive_connections_time_out(upstream, proxy):
    # idle after a complete keep-alive request: the other half of client_timeout
    px, _ = start_proxy(proxy, need=0)
    conns, done = [], []
    try:
        for i in range(50):
            c = RawConn(px.addr, timeout=5)
            c.send_request("GET", upstream.url + f"/ka{i}", close=False)
            r = c.read_response()
            assert r.status == 200 and r.complete, describe(upstream, px, r)
            assert not c.buf, f"bytes after the response: {bytes(c.buf)!r}"
            conns.append(c.sock)
            done.append(time.monotonic())
        closed = watch_closes(conns, done, done[-1] + CLOSE_WITHIN + 0.5)
        check_closed(conns, closed, "idle keep-alive")
    finally:
        for s in conns:
            s.close()


def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime


def test_out_of_descriptors_pauses_accept_and_recovers(upstream, proxy):
    # The daemon starts with 64 descriptors and max_connections = 1000: it
    # says it cannot raise the limit, and when accept() fails with EMFILE it
    # rests instead of retrying at once (libevent would spin on the
    # listener).  Once connections close it serves again.
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    px = proxy(section("default", start_timeout="20ms"),
               "workers = 1\nmax_connections = 1000\nclient_timeout = 60s",
               preexec=limit)
    why = describe(upstream, px)
    assert "wants about 2256 file descriptors, but the limit is 64" in px.stderr(), why
    conns = [socket.create_connection(px.addr) for _ in range(100)]
    try:
        time.sleep(0.5)
        cpu0 = _cpu_seconds(px.pid)
        time.sleep(1.5)
        cpu = _cpu_seconds(px.pid) - cpu0
        why = describe(upstream, px)
        assert "cannot accept a connection" in px.stderr(), why
        assert cpu < 0.5, f"daemon used {cpu:.2f} s of CPU in 1.5 s while out of descriptors\n{why}"
    finally:
        for c in conns:
            c.close()
    deadline = time.monotonic() + 10
    while True:
        try:
            r = request(px.addr, "GET", upstream.url + "/after", timeout=3)
            if r.status == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, describe(upstream, px)
        time.sleep(0.2)


# What an idle keep-alive client may cost the daemon (README "Performance":
# 10,000 of them in about 38 MiB).  On amd64 with glibc this test measures
# 3,220-3,300 bytes each; the bound leaves room for allocator rounding, and
# catches a state that every connection carries again when most never use
# it (4,110-4,150 before the raw lane's waiting head and the held-bytes
# buffer were made only when needed, and three one-shot events became one).
IDLE_BYTES_BOUND = 3800
N_WARM, N_MEASURED = 200, 1500


def open_answered(px, upstream, n, tag, batch=20):
    """n new keep-alive connections, each with one GET answered whole; a
    few at a time, as clients come (what is measured is what stays, not
    the peak of many requests in flight)."""
    conns = []
    for b in range(0, n, batch):
        some = []
        for i in range(b, min(n, b + batch)):
            c = RawConn(px.addr, timeout=5)
            path = f"/{tag}{i}"
            c.send(f"GET {upstream.url}{path} HTTP/1.1\r\n"
                   f"Host: {upstream.url.split('://', 1)[1]}\r\n\r\n".encode())
            some.append((c, path))
        for c, path in some:
            r = c.read_response()
            assert r.status == 200 and r.complete and r.body.startswith(b"status=200 hit=1"), \
                f"{path}: {r.status} {r.body[:60]!r}"
        conns += some
    return conns


def test_idle_keepalive_clients_cost_little_memory(nofile, upstream, proxy):
    admin = free_port()
    px = proxy(section("default", attempts=1),
               f"client_timeout = 60s\nworkers = 1\nadmin = 127.0.0.1:{admin}")
    if px.sanitized():
        pytest.skip("built with ASan: its shadow memory and redzones make RSS moot")
    limit = daemon_nofile(px.pid)
    if limit is None or limit < N_WARM + N_MEASURED + 100:
        pytest.skip(f"the daemon's RLIMIT_NOFILE is {limit}")
    conns = []
    try:
        # (the first ones grow the worker's heap to its working size)
        conns += open_answered(px, upstream, N_WARM, "w")
        time.sleep(0.2)
        before = px.vmrss()
        conns += open_answered(px, upstream, N_MEASURED, "m")
        n = wait_value(lambda: client_connections(admin),
                       lambda v: v is not None and v >= N_WARM + N_MEASURED, 2.0)
        assert n == N_WARM + N_MEASURED, f"retryproxy_client_connections = {n}"
        each = (px.vmrss() - before) / N_MEASURED
        print(f"\n{N_MEASURED} idle keep-alive clients: {each:.0f} bytes of RSS each")
        assert each <= IDLE_BYTES_BOUND, \
            f"an idle keep-alive client costs {each:.0f} bytes of RSS (bound {IDLE_BYTES_BOUND})"
        # and each of them still gets its own answer, the first and the last
        for c, path in (conns[0], conns[-1]):
            c.send(f"GET {upstream.url}{path}-2 HTTP/1.1\r\n"
                   f"Host: {upstream.url.split('://', 1)[1]}\r\n\r\n".encode())
            r = c.read_response()
            assert r.status == 200 and r.body == b"status=200 hit=1\n", \
                describe(upstream, px, r)
            assert [h.path for h in upstream.hits(path + "-2")] == [path + "-2"]
        assert px.alive()
    finally:
        for c, _ in conns:
            c.close()
