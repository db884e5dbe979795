#!/usr/bin/python3
"""Fault soak for retryproxy: many requests through the daemon against an
origin that injects faults, then a per-request check against the retry
policy of SPEC section 3.

    /usr/bin/python3 tests/soak/soak.py [--requests N] [--concurrency C]
        [--seed S] [--ids 17,4711] [--binary PATH] [--wrapper "valgrind ..."]

Everything is decided by a seeded RNG keyed on the request id, so a failure
names the id, and `--ids ID --seed S` replays exactly that request.

The plan of request id R (make_plan) fixes its method (GET; PUT with a
random body; POST without Idempotency-Key; POST with one), its body, its
target and a script of three steps, one per attempt:

    ok        200 with a body naming id and attempt
    slow      200 whose body trickles out (finishes well after per_try_timeout)
    503       503 with a body of 0..128 KiB (above 64 KiB the proxy closes)
    rst, fin  the request is read, then the connection is reset / closed
    stall     no answer for several per_try_timeouts
    refused   the attempt goes to a port nobody listens on

About 30% of requests get at least one fault.  "refused" attempts come from
the target: port A (a route whose fallback is the origin: attempt 1
refused), port B (fallbacks: a closed port, then the origin: attempts 1-2
refused) or port C (nothing, default route: every attempt refused).

The origin (an asyncio server in a child process) answers by the attempt
number the proxy puts in X-Retry-Attempt (attempt_header), not by its own
hit count, because a reused upstream connection that breaks before any
response byte is re-sent once without counting an attempt (SPEC 3).  It
records every hit: id, attempt, method, body hash, whether the upstream
connection was a reused one.

Checks, per request (predict() is the policy):
  - the client got a complete response (lost = 0) with the predicted status;
    a 200/503 body is exactly the body of the predicted final attempt;
    a 502/504 carries the predicted Proxy-Status error;
  - the access log has the predicted attempts and retry reasons;
  - the origin saw exactly the predicted attempts; an attempt hit twice only
    as a stale re-send (first hit on a reused connection and broken before
    any response byte, second on a fresh connection, request re-sendable);
  - every hit carried the byte-identical body (sha256) and the method;
  - a POST without Idempotency-Key reached the origin at most once
    (duplicates = 0), and never on a reused connection;
and overall: nothing hangs (a global time limit), the daemon is alive at
the end and exits 0 on SIGTERM, VmRSS after warm-up and at the end differ
by less than --rss-bound MiB.  Exit status 0 when all hold, 1 otherwise.
"""

import argparse
import asyncio
import collections
import gc
import hashlib
import json
import math
import multiprocessing
import random
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

from harness import daemon_path, free_port, unused_port_socket  # noqa: E402

KiB = 1024
MiB = 1024 * KiB
EMPTY_SHA = hashlib.sha256(b"").hexdigest()

# ---------------------------------------------------------------------------
# The plan of one request: everything derived from (seed, request id).
# ---------------------------------------------------------------------------
FAULT_RATE = 0.30
METHODS = [("GET", 40), ("PUT", 25), ("POST", 20), ("POST+key", 15)]
PRIMARY = [("503", 26), ("reset", 24), ("stall", 14), ("refused", 16), ("slow", 20)]
ORIGIN_FAULTS = ["503", "rst", "fin", "stall"]
FAULT_KINDS = ("503", "rst", "fin", "stall", "refused", "slow")


def _pick(rng, weighted):
    total = sum(w for _, w in weighted)
    x = rng.random() * total
    for v, w in weighted:
        x -= w
        if x < 0:
            return v
    return weighted[-1][0]


class Plan:
    __slots__ = ("rid", "method", "has_key", "body_len", "close", "path",
                 "route", "steps", "faulty")

    def describe(self):
        return (f"id={self.rid} {self.method}{'+Idempotency-Key' if self.has_key else ''}"
                f" body={self.body_len}B route={self.route} "
                f"steps={[s[0] for s in self.steps]}")


def _step(rng, kind):
    """A step tuple: (kind, response body length, slow rate bytes/s)."""
    if kind == "ok":
        return ("ok", rng.randrange(0, 4 * KiB), 0)
    if kind == "slow":
        # 16..48 KiB at 64..128 KiB/s: 0.15..0.75 s, longer than per_try_timeout
        # would allow for headers, but it is body time, so it must finish.
        return ("slow", rng.randrange(16 * KiB, 48 * KiB), rng.randrange(64 * KiB, 128 * KiB))
    if kind == "503":
        # mostly small (drained, connection kept), sometimes above 64 KiB
        n = rng.randrange(0, 2 * KiB) if rng.random() < 0.8 else rng.randrange(64 * KiB, 128 * KiB)
        return ("503", n, 0)
    return (kind, 0, 0)


def make_plan(seed, rid):
    rng = random.Random(f"{seed}/plan/{rid}")
    p = Plan()
    p.rid = rid
    m = _pick(rng, METHODS)
    p.method = "POST" if m.startswith("POST") else m
    p.has_key = m == "POST+key"
    if p.method == "GET":
        p.body_len = 0
    else:  # 1 B .. 64 KiB, log-uniform so that small and large both occur
        p.body_len = min(64 * KiB, max(1, int(math.exp(rng.uniform(0, math.log(64 * KiB))))))
    p.close = rng.random() < 0.2
    p.path = f"/soak/{rid}/{rng.getrandbits(48):012x}"
    if rng.random() < 0.5:
        p.path += f"?q={rng.getrandbits(32):08x}"
    p.route = "origin"
    steps = [_step(rng, "ok") for _ in range(3)]
    p.faulty = rng.random() < FAULT_RATE
    if p.faulty:
        primary = _pick(rng, PRIMARY)
        nf = _pick(rng, [(1, 70), (2, 20), (3, 10)])

        def origin_fault(kind=None):
            kind = kind or rng.choice(ORIGIN_FAULTS)
            if kind == "reset":
                kind = rng.choice(["rst", "fin"])
            return _step(rng, kind)

        if primary == "refused":
            p.route = {1: "A", 2: "B", 3: "C"}[nf]
            for i in range(nf):
                steps[i] = ("refused", 0, 0)
            if nf < 3 and rng.random() < 0.3:
                steps[nf] = origin_fault()
        elif primary == "slow":
            for i in range(nf - 1):
                steps[i] = origin_fault()
            steps[nf - 1] = _step(rng, "slow")
        else:
            steps[0] = origin_fault(primary)
            for i in range(1, nf):
                steps[i] = origin_fault()
            if nf < 3 and rng.random() < 0.2:
                steps[nf] = _step(rng, "slow")
    p.steps = steps
    return p


def request_body(seed, rid, n):
    return random.Random(f"{seed}/body/{rid}").randbytes(n)


def response_body(seed, rid, attempt, status, n, reqsha):
    head = f"{status} id={rid} attempt={attempt} body={reqsha}\n".encode()
    if n <= 0:
        return head
    unit = hashlib.sha256(f"{seed}/resp/{rid}/{attempt}".encode()).digest()
    return head + (unit * (n // len(unit) + 1))[:n]


RETRY_REASON = {"503": "503", "rst": "reset", "fin": "reset", "stall": "timeout",
                "refused": "refused"}
FINAL_FAILURE = {"rst": (502, "connection_terminated"),
                 "fin": (502, "connection_terminated"),
                 "stall": (504, "http_response_timeout"),
                 "refused": (502, "connection_refused")}


class Prediction:
    __slots__ = ("status", "attempts", "retries", "final_step", "proxy_error",
                 "origin_attempts")


def resendable(plan):
    return plan.method in ("GET", "PUT") or plan.has_key


def predict(plan, attempts=3):
    """The outcome SPEC 3 prescribes for this plan (budget never binding)."""
    pr = Prediction()
    pr.retries = []
    pr.origin_attempts = []
    for k in range(1, attempts + 1):
        kind = plan.steps[k - 1][0]
        if kind != "refused":
            pr.origin_attempts.append(k)
        pr.attempts, pr.final_step = k, plan.steps[k - 1]
        if kind in ("ok", "slow"):
            pr.status, pr.proxy_error = 200, None
            return pr
        # a failure or a 503: retryable class (all in `errors`, 5xx retried);
        # may it be re-sent?  connect failures: any method (nothing was sent)
        may = kind == "refused" or resendable(plan)
        if kind == "503":
            pr.status, pr.proxy_error = 503, None
        else:
            pr.status, pr.proxy_error = FINAL_FAILURE[kind]
        if not may or k == attempts:
            return pr
        pr.retries.append(RETRY_REASON[kind])
    return pr


class LagMonitor:
    """How late an asyncio loop (and the process) wakes up: a 10 ms sleep in a
    loop; lags above 100 ms are kept with their time.  A late origin turns a
    scripted prompt answer into a per_try_timeout, so a mismatch that follows
    a late origin is the harness's, not the daemon's: the report says so."""

    def __init__(self):
        self.max = 0.0
        self.events = []
        self.gc_max = 0.0
        self._gc_t0 = None

    def _gc(self, phase, info):
        if phase == "start":
            self._gc_t0 = time.monotonic()
        elif self._gc_t0 is not None:
            self.gc_max = max(self.gc_max, time.monotonic() - self._gc_t0)

    async def run(self):
        # The full (oldest generation) collection walks every live object and
        # took up to 300 ms with a few hundred thousand of them: longer than
        # per_try_timeout.  Collect only the young generations, here, between
        # requests; cyclic garbage that grows old stays (bounded by the run).
        gc.callbacks.append(self._gc)
        gc.disable()
        n = 0
        while True:
            n += 1
            if n % 20 == 0:
                gc.collect(1)
            t = time.monotonic()
            await asyncio.sleep(0.01)
            lag = time.monotonic() - t - 0.01
            self.max = max(self.max, lag)
            if lag > 0.1:
                self.events.append((t, lag))

    def near(self, t, window=1.0):
        return [lag for t0, lag in self.events if t - window <= t0 <= t + window]


# ---------------------------------------------------------------------------
# The origin: asyncio, in a child process; hits come back over a pipe.
# ---------------------------------------------------------------------------
HIT_FIELDS = ("rid", "attempt", "method", "body_len", "sha", "conn", "seq",
              "step", "key", "t", "responded")
Hit = collections.namedtuple("Hit", HIT_FIELDS)


class Origin:
    def __init__(self, seed, sock, stall_s):
        self.seed = seed
        self.sock = sock
        self.stall_s = stall_s
        self.hits = []
        self.errors = []
        self.nconn = 0

    def plan(self, rid):
        # no cache: thousands of live objects make every full collection slow
        return make_plan(self.seed, rid)

    async def serve(self, reader, writer):
        self.nconn += 1
        cid = self.nconn
        seq = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                seq += 1
                lines = head[:-4].decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                hdrs = {}
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    hdrs[k.strip().lower()] = v.strip()
                sha = hashlib.sha256()
                blen = 0
                if "chunked" in hdrs.get("transfer-encoding", "").lower():
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                        if size == 0:
                            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                                pass
                            break
                        data = await reader.readexactly(size + 2)
                        sha.update(data[:-2])
                        blen += size
                else:
                    n = int(hdrs.get("content-length", "0"))
                    if n:
                        data = await reader.readexactly(n)
                        sha.update(data)
                        blen = n
                keep = await self.answer(reader, writer, cid, seq, method, target,
                                         hdrs, blen, sha.hexdigest())
                if not keep:
                    return
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            return
        except Exception as e:  # noqa: BLE001 - reported, never silent
            self.errors.append(f"conn {cid}: {e!r}")
        finally:
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass

    async def answer(self, reader, writer, cid, seq, method, target, hdrs, blen, sha):
        path = target.split("://", 1)[1] if "://" in target else target
        if "://" in target:
            path = "/" + path.split("/", 1)[1] if "/" in path else "/"
        parts = path.split("?")[0].split("/")
        try:
            assert parts[1] == "soak"
            rid = int(parts[2])
            attempt = int(hdrs["x-retry-attempt"])
        except Exception:  # noqa: BLE001
            self.errors.append(f"unexpected request {method} {target} {hdrs}")
            writer.write(b"HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n")
            return True
        plan = self.plan(rid)
        step = plan.steps[attempt - 1] if 1 <= attempt <= 3 else ("bad-attempt", 0, 0)
        kind = step[0]
        idx = len(self.hits)
        # plain tuples of atomic values: the collector untracks them
        self.hits.append((rid, attempt, method, blen, sha, cid, seq, kind,
                          hdrs.get("idempotency-key"), time.monotonic(), False))
        if kind in ("ok", "slow", "503"):
            status = 503 if kind == "503" else 200
            body = response_body(self.seed, rid, attempt, status, step[1], sha)
            writer.write(f"HTTP/1.1 {status} {'OK' if status == 200 else 'Service Unavailable'}"
                         f"\r\nContent-Length: {len(body)}\r\nX-Soak-Id: {rid}\r\n"
                         f"X-Soak-Attempt: {attempt}\r\n\r\n".encode())
            if kind == "slow":
                rate = step[2]
                piece = max(1, len(body) // 8)
                for i in range(0, len(body), piece):
                    writer.write(body[i:i + piece])
                    await writer.drain()
                    await asyncio.sleep(piece / rate)
            else:
                writer.write(body)
            await writer.drain()
            self.hits[idx] = self.hits[idx][:-1] + (True,)
            return True
        if kind == "rst":
            s = writer.get_extra_info("socket")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if kind == "fin":
            writer.close()
            return False
        if kind == "stall":
            # wait for the proxy to give up (EOF), at most stall_s
            try:
                data = await asyncio.wait_for(reader.read(1), self.stall_s)
            except asyncio.TimeoutError:
                data = None
            except ConnectionError:
                return False
            if data is None:  # the proxy did not time out: answer 200
                body = response_body(self.seed, rid, attempt, 200, 0, sha)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
                             + body)
                await writer.drain()
                self.hits[idx] = self.hits[idx][:-1] + (True,)
                return True
            return False
        # an attempt number beyond the script
        writer.write(b"HTTP/1.1 500 Unexpected Attempt\r\nContent-Length: 0\r\n\r\n")
        return True

    async def main(self, conn):
        server = await asyncio.start_server(self.serve, sock=self.sock, backlog=1024,
                                            limit=256 * KiB)
        loop = asyncio.get_running_loop()
        lag = LagMonitor()
        lag_task = asyncio.create_task(lag.run())
        stop = loop.create_future()
        loop.add_reader(conn.fileno(), lambda: stop.done() or stop.set_result(None))
        conn.send("ready")
        await stop
        loop.remove_reader(conn.fileno())
        conn.recv()
        server.close()
        lag_task.cancel()
        conn.send((self.nconn, self.errors, self.hits,
                   (lag.max, lag.events, lag.gc_max)))


def origin_process(seed, sock, stall_s, conn):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(Origin(seed, sock, stall_s).main(conn))


# ---------------------------------------------------------------------------
# The daemon
# ---------------------------------------------------------------------------
class Daemon:
    def __init__(self, binary, wrapper, workdir, config):
        self.binary = binary
        self.wrapper = wrapper
        self.dir = workdir
        self.config = config
        self.proc = None
        self.port = None
        self.admin = None

    def start(self, ready_timeout):
        cfg_path = self.dir / "retryproxy.ini"
        for _ in range(3):
            self.port = free_port()
            self.admin = free_port()
            cfg_path.write_text(self.config(self.port, self.admin))
            with open(self.dir / "stderr.log", "wb") as err:
                self.proc = subprocess.Popen(
                    [*self.wrapper, str(self.binary), "-c", str(cfg_path)],
                    stdin=subprocess.DEVNULL, stdout=err, stderr=err, cwd=self.dir)
            deadline = time.monotonic() + ready_timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                    return
                except OSError:
                    time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError(f"daemon not ready after {ready_timeout}s\n{self.stderr_tail()}")
            if self.proc.returncode != 1:
                break
        raise RuntimeError(f"daemon exited with {self.proc.returncode} at start\n"
                           f"{self.stderr_tail()}")

    def alive(self):
        return self.proc.poll() is None

    def status(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}

    def rss(self):
        return int(self.status()["VmRSS"].split()[0]) * KiB

    def hwm(self):
        return int(self.status()["VmHWM"].split()[0]) * KiB

    def sanitized(self):
        """Built with ASan, whose quarantine holds freed memory (RSS moot)?"""
        try:
            with open(f"/proc/{self.proc.pid}/maps") as f:
                return "libasan" in f.read()
        except OSError:
            return False

    def metrics(self):
        try:
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                    f"http://127.0.0.1:{self.admin}/metrics", timeout=10) as r:
                return r.read().decode()
        except OSError as e:
            return f"# metrics unavailable: {e}"

    def stop(self, timeout):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stderr_tail(self, n=40):
        try:
            lines = (self.dir / "stderr.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


def daemon_config(args, work, origin_port, closed):
    policy = {"attempts": "3", "start_timeout": "10ms",
              "per_try_timeout": f"{args.per_try_timeout_ms}ms",
              "connect_timeout": f"{args.per_try_timeout_ms}ms",
              "retry_budget": "100%", "attempt_header": "X-Retry-Attempt"}
    for kv in args.set:
        k, _, val = kv.partition("=")
        policy[k.strip()] = val.strip()
    default = "".join(f"{k} = {val}\n" for k, val in policy.items())

    def config(port, admin):
        return (f"""[proxy]
listen = 127.0.0.1:{port}
workers = {args.workers}
access_log = {work / 'access.log'}
access_log_format = json
admin = 127.0.0.1:{admin}
shutdown_timeout = 5s
log_level = warn

[default]
{default}
; every request to these ports has one or two refused attempts, so every
; one retries: the budget would bind, which is not what this test is about
[route 127.0.0.1:{closed['A']}]
fallbacks = http://127.0.0.1:{origin_port}
retry_budget_min = 1000000

[route 127.0.0.1:{closed['B']}]
fallbacks = http://127.0.0.1:{closed['X']}, http://127.0.0.1:{origin_port}
retry_budget_min = 1000000
""")
    return config


# ---------------------------------------------------------------------------
# The clients
# ---------------------------------------------------------------------------
class Result:
    __slots__ = ("status", "headers", "body", "error", "elapsed", "reused")


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if "chunked" in hdrs.get("transfer-encoding", "").lower():
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            parts.append((await reader.readexactly(size + 2))[:-2])
        body = b"".join(parts)
    elif "content-length" in hdrs:
        body = await reader.readexactly(int(hdrs["content-length"]))
    else:
        body = await reader.read()
        hdrs["connection"] = "close"
    return status, hdrs, body


class Soak:
    def __init__(self, args, ports, proxy_port):
        self.args = args
        self.ports = ports
        self.proxy_port = proxy_port
        self.results = {}
        self.sha = {}
        self.inflight = set()
        self.done = 0
        self.rss_warm = None
        self.on_warm = None

    def url(self, plan):
        port = self.ports[plan.route]
        return f"http://127.0.0.1:{port}{plan.path}"

    async def one(self, plan, conn):
        body = request_body(self.args.seed, plan.rid, plan.body_len) if plan.body_len else b""
        self.sha[plan.rid] = hashlib.sha256(body).hexdigest()
        url = self.url(plan)
        hdrs = [f"{plan.method} {url} HTTP/1.1", f"Host: {url.split('/')[2]}",
                f"User-Agent: retryproxy-soak", f"X-Soak-Id: {plan.rid}"]
        if plan.method != "GET":
            hdrs.append(f"Content-Length: {len(body)}")
        if plan.has_key:
            hdrs.append(f"Idempotency-Key: soak-{self.args.seed}-{plan.rid}")
        if plan.close:
            hdrs.append("Connection: close")
        data = ("\r\n".join(hdrs) + "\r\n\r\n").encode() + body
        res = Result()
        res.status, res.headers, res.body, res.error = 0, {}, b"", None
        t0 = time.monotonic()
        res.reused = conn[0] is not None
        try:
            if conn[0] is None:
                conn[:] = await asyncio.open_connection("127.0.0.1", self.proxy_port,
                                                        limit=256 * KiB)
            reader, writer = conn
            writer.write(data)
            await writer.drain()
            res.status, res.headers, res.body = await asyncio.wait_for(
                read_response(reader), self.args.request_timeout)
            if plan.close or res.headers.get("connection", "").lower() == "close":
                writer.close()
                conn[:] = [None, None]
        except asyncio.TimeoutError:
            res.error = f"no complete response within {self.args.request_timeout}s"
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError,
                IndexError) as e:
            res.error = f"{type(e).__name__}: {e}"
        if res.error is not None and conn[0] is not None:
            conn[1].close()
            conn[:] = [None, None]
        res.elapsed = time.monotonic() - t0
        return res

    async def worker(self, queue):
        conn = [None, None]
        while True:
            try:
                rid = queue.popleft()
            except IndexError:
                break
            plan = make_plan(self.args.seed, rid)
            self.inflight.add(rid)
            self.results[rid] = await self.one(plan, conn)
            self.inflight.discard(rid)
            self.done += 1
            if self.done == self.args.warmup and self.on_warm:
                self.on_warm()
        if conn[1] is not None:
            conn[1].close()

    async def run(self, ids):
        queue = collections.deque(ids)
        tasks = [asyncio.create_task(self.worker(queue))
                 for _ in range(min(self.args.concurrency, len(ids)))]
        await asyncio.gather(*tasks)


# ---------------------------------------------------------------------------
# Checking
# ---------------------------------------------------------------------------
def check(args, ids, plans, results, shas, hits, log_entries, lags):
    """Violations (list of strings) and counters for the summary."""
    origin_lag, client_lag = lags
    v = []
    c = collections.Counter()
    by_rid = collections.defaultdict(list)
    for h in hits:
        by_rid[h.rid].append(h)
    logs = collections.defaultdict(list)
    for e in log_entries:
        try:
            logs[int(e["url"].split("/soak/", 1)[1].split("/", 1)[0])].append(e)
        except (KeyError, IndexError, ValueError):
            v.append(f"access log entry without a soak id: {e}")
    idset = set(ids)
    for rid in set(by_rid) - idset:
        v.append(f"origin hit for id {rid}, which was never sent")

    def bad(rid, what):
        note = ""
        ts = [h.t for h in by_rid.get(rid, [])]
        late = [x for t in ts for x in origin_lag.near(t)]
        if late:
            note = (f"\n    NB: the origin's event loop was {max(late) * 1000:.0f} ms late "
                    f"near this request's hits: an unanswered attempt may be the "
                    f"harness's stall, not the daemon's")
        v.append(f"id={rid}: {what}\n    plan: {plans[rid].describe()}{note}")

    for rid in ids:
        plan = plans[rid]
        pr = predict(plan)
        res = results.get(rid)
        c["method " + plan.method + ("+key" if plan.has_key else "")] += 1
        for s in plan.steps[:pr.attempts]:
            if s[0] != "ok":
                c["fault " + s[0]] += 1
        if plan.faulty:
            c["faulty requests"] += 1
        # -- the client's view
        if res is None or res.error is not None:
            c["lost"] += 1
            bad(rid, f"lost: {res.error if res else 'never sent'}; predicted {pr.status}")
            continue
        c[f"status {res.status}"] += 1
        if res.status != pr.status:
            c["wrong status"] += 1
            bad(rid, f"status {res.status}, predicted {pr.status} after {pr.attempts} "
                     f"attempt(s); Proxy-Status: {res.headers.get('proxy-status')}; "
                     f"body {res.body[:120]!r}")
        elif pr.proxy_error is None:
            want = response_body(args.seed, rid, pr.attempts, pr.status, pr.final_step[1],
                                 shas[rid])
            if res.body != want:
                bad(rid, f"body is not attempt {pr.attempts}'s ({len(res.body)} B, "
                         f"want {len(want)} B): {res.body[:100]!r}")
        else:
            ps = res.headers.get("proxy-status", "")
            if f"error={pr.proxy_error}" not in ps:
                bad(rid, f"Proxy-Status {ps!r}, want error={pr.proxy_error}")
        # -- the access log
        ents = logs.get(rid, [])
        if len(ents) != 1:
            bad(rid, f"{len(ents)} access log entries")
        else:
            e = ents[0]
            if (e.get("status"), e.get("attempts"), e.get("retries")) != \
                    (pr.status, pr.attempts, pr.retries):
                bad(rid, f"access log status={e.get('status')} attempts={e.get('attempts')} "
                         f"retries={e.get('retries')}, predicted status={pr.status} "
                         f"attempts={pr.attempts} retries={pr.retries}")
        # -- the origin's view
        hs = sorted(by_rid.get(rid, []), key=lambda h: h.t)
        c["origin hits"] += len(hs)
        for h in hs:
            if h.method != plan.method:
                bad(rid, f"origin saw method {h.method}")
            if h.sha != shas[rid] or h.body_len != plan.body_len:
                c["body mismatches"] += 1
                bad(rid, f"attempt {h.attempt} body {h.body_len} B sha {h.sha[:12]}, "
                         f"sent {plan.body_len} B sha {shas[rid][:12]}")
            if plan.has_key and h.key != f"soak-{args.seed}-{rid}":
                bad(rid, f"attempt {h.attempt} Idempotency-Key {h.key!r}")
        if plan.method == "POST" and not plan.has_key:
            if len(hs) > 1:
                c["duplicates"] += 1
                bad(rid, f"POST without Idempotency-Key reached the origin {len(hs)} times "
                         f"(attempts {[h.attempt for h in hs]})")
            if any(h.seq > 1 for h in hs):
                bad(rid, "POST without Idempotency-Key sent on a reused upstream connection")
        per = collections.defaultdict(list)
        for h in hs:
            per[h.attempt].append(h)
        if sorted(per) != pr.origin_attempts:
            bad(rid, f"origin saw attempts {sorted(per)}, predicted {pr.origin_attempts}")
        for a, lst in per.items():
            if len(lst) == 1:
                continue
            stale = (len(lst) == 2 and resendable(plan) and lst[0].seq > 1
                     and lst[0].step in ("rst", "fin") and lst[1].seq == 1)
            if stale:
                c["stale re-sends"] += 1
            else:
                bad(rid, f"attempt {a} reached the origin {len(lst)} times: "
                         + ", ".join(f"conn {h.conn}/{h.seq} step {h.step}" for h in lst))
    c["lost"] += 0
    c["duplicates"] += 0
    return v, c


# ---------------------------------------------------------------------------
def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--ids", help="comma-separated request ids to run (replay)")
    ap.add_argument("--binary", help="the daemon (default $RETRYPROXY or ./retryproxy)")
    ap.add_argument("--wrapper", default="", help="command prefix, e.g. valgrind ...")
    ap.add_argument("--workers", default="auto")
    ap.add_argument("--per-try-timeout-ms", type=int, default=300)
    ap.add_argument("--request-timeout", type=float, default=None,
                    help="client limit per request (default from per-try timeout)")
    ap.add_argument("--time-limit", type=float, default=None,
                    help="global limit in seconds (default 30 + 0.02 s a request)")
    ap.add_argument("--warmup", type=int, default=None,
                    help="requests before the first RSS sample (default min(2000, N/4))")
    ap.add_argument("--rss-bound", type=float, default=10.0, help="MiB")
    ap.add_argument("--no-rss", action="store_true", help="skip the RSS check")
    ap.add_argument("--stop-timeout", type=float, default=20.0)
    ap.add_argument("--ready-timeout", type=float, default=10.0)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a [default] key, to see the checks fail "
                         "(e.g. --set methods=* must give duplicates)")
    a = ap.parse_args(argv)
    pt = a.per_try_timeout_ms / 1000
    if a.request_timeout is None:
        a.request_timeout = 3 * pt + 3 * 0.9 + 10
    if a.time_limit is None:
        a.time_limit = 30 + 0.02 * a.requests
    if a.warmup is None:
        a.warmup = min(2000, a.requests // 4)
    a.stall_s = max(1.5, 5 * pt)
    return a


def fmt_mib(n):
    return "-" if n is None else f"{n / MiB:.1f} MiB"


def main(argv=None):
    args = parse_args(argv)
    binary = Path(args.binary).resolve() if args.binary else daemon_path()
    if not binary.exists():
        print(f"soak: daemon binary not found: {binary}", file=sys.stderr)
        return 2
    ids = ([int(x) for x in args.ids.split(",")] if args.ids
           else list(range(1, args.requests + 1)))
    plans = {rid: make_plan(args.seed, rid) for rid in ids}
    work = Path(tempfile.mkdtemp(prefix="retryproxy-soak-"))

    # closed ports: bound, never listening (refused, and nobody can take them)
    closed_socks = {k: unused_port_socket() for k in ("A", "B", "X", "C")}
    closed = {k: s.getsockname()[1] for k, s in closed_socks.items()}
    osock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    osock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    osock.bind(("127.0.0.1", 0))
    osock.listen(1024)
    origin_port = osock.getsockname()[1]
    ctx = multiprocessing.get_context("fork")
    parent_conn, child_conn = ctx.Pipe()
    oproc = ctx.Process(target=origin_process,
                        args=(args.seed, osock, args.stall_s, child_conn), daemon=True)
    oproc.start()
    osock.close()
    if not parent_conn.poll(10) or parent_conn.recv() != "ready":
        print("soak: origin did not start", file=sys.stderr)
        return 2

    wrapper = shlex.split(args.wrapper)
    d = Daemon(binary, wrapper, work, daemon_config(args, work, origin_port, closed))
    violations = []
    t_start = time.monotonic()
    rss = {"warm": None, "end": None, "hwm": None}
    try:
        d.start(args.ready_timeout)
    except RuntimeError as e:
        print(f"soak: {e}", file=sys.stderr)
        parent_conn.send("stop")
        parent_conn.recv()
        oproc.join(5)
        return 2
    ports = {"origin": origin_port, "A": closed["A"], "B": closed["B"], "C": closed["C"]}
    soak = Soak(args, ports, d.port)

    def on_warm():
        try:
            rss["warm"] = d.rss()
        except OSError:
            pass
    soak.on_warm = on_warm

    client_lag = LagMonitor()

    async def run_all():
        lag_task = asyncio.create_task(client_lag.run())
        try:
            await asyncio.wait_for(soak.run(ids), args.time_limit)
        finally:
            lag_task.cancel()

    hung = False
    t0 = time.monotonic()
    try:
        asyncio.run(run_all())
    except asyncio.TimeoutError:
        hung = True
        violations.append(f"hang: {len(soak.results)}/{len(ids)} requests done after the "
                          f"{args.time_limit:.0f}s limit; in flight: "
                          f"{sorted(soak.inflight)[:20]}")
    duration = time.monotonic() - t0

    alive = d.alive()
    sanitized = alive and d.sanitized()
    metrics = ""
    if alive:
        try:
            rss["end"] = d.rss()
            rss["hwm"] = d.hwm()
        except OSError:
            pass
        metrics = d.metrics()
    else:
        violations.append(f"daemon died during the run (exit {d.proc.returncode})\n"
                          + d.stderr_tail())
    rc = d.stop(args.stop_timeout) if alive else d.proc.returncode
    if alive and rc != 0:
        violations.append(f"daemon exit status {rc} after SIGTERM (want 0)"
                          + (" [did not exit: killed]" if rc is None else "")
                          + "\n" + d.stderr_tail())

    parent_conn.send("stop")
    nconn, oerrors, raw_hits, (olag_max, olag_events, ogc_max) = parent_conn.recv()
    origin_lag = LagMonitor()
    origin_lag.max, origin_lag.events, origin_lag.gc_max = olag_max, olag_events, ogc_max
    oproc.join(5)
    hits = [Hit(*h) for h in raw_hits]
    for e in oerrors:
        violations.append(f"origin: {e}")

    entries = []
    try:
        for line in (work / "access.log").read_text().splitlines():
            if line.strip():
                entries.append(json.loads(line))
    except (OSError, ValueError) as e:
        violations.append(f"access log unreadable: {e}")

    pv, c = check(args, ids, plans, soak.results, soak.sha, hits, entries,
                  (origin_lag, client_lag))
    violations.extend(pv)

    supp = {}
    for line in metrics.splitlines():
        if line.startswith("retryproxy_retries_suppressed_total{") and "why=\"budget\"" in line:
            route = line.split("route=\"", 1)[1].split("\"", 1)[0] if "route=\"" in line else "?"
            supp[route] = float(line.rsplit(" ", 1)[1])
    budget_hits = sum(supp.values())
    if budget_hits:
        violations.append(f"the retry budget suppressed {budget_hits:.0f} retries "
                          f"(the predictions assume it never binds): {supp}")

    rss_note = ""
    if not args.no_rss and not hung and alive and sanitized:
        rss_note = "not checked (AddressSanitizer build: its quarantine keeps freed memory)"
    elif not args.no_rss and not hung and alive:
        if rss["warm"] is None or rss["end"] is None:
            rss_note = "not measured"
        else:
            delta = rss["end"] - rss["warm"]
            rss_note = f"{delta / MiB:+.1f} MiB (bound {args.rss_bound:g} MiB)"
            if abs(delta) >= args.rss_bound * MiB:
                violations.append(f"RSS grew from {fmt_mib(rss['warm'])} after "
                                  f"{args.warmup} requests to {fmt_mib(rss['end'])}")
    elif args.no_rss:
        rss_note = "not checked (--no-rss)"

    # ---- summary
    n = len(ids)
    rows = [("requests", f"{n} (concurrency {args.concurrency}, seed {args.seed})"),
            ("methods", ", ".join(f"{k.split(' ', 1)[1]} {c[k]}" for k in sorted(c)
                                  if k.startswith("method "))),
            ("requests with a fault", f"{c['faulty requests']} ({100 * c['faulty requests'] / max(n, 1):.1f}%)"),
            ("faults injected (attempts)", ", ".join(f"{k} {c['fault ' + k]}" for k in FAULT_KINDS)),
            ("outcomes", ", ".join(f"{k.split(' ', 1)[1]} {c[k]}" for k in sorted(c)
                                   if k.startswith("status "))),
            ("wrong status", str(c["wrong status"])),
            ("origin hits", f"{c['origin hits']} on {nconn} connections "
                            f"({c['stale re-sends']} stale keep-alive re-sends)"),
            ("body mismatches", str(c["body mismatches"])),
            ("duplicates (POST without key)", str(c["duplicates"])),
            ("lost", str(c["lost"])),
            ("retries suppressed by budget", f"{budget_hits:.0f}"),
            ("daemon RSS after warm-up / end", f"{fmt_mib(rss['warm'])} (after {args.warmup}) / "
                                               f"{fmt_mib(rss['end'])}, {rss_note}; peak {fmt_mib(rss['hwm'])}"),
            ("daemon exit after SIGTERM", str(rc)),
            ("harness loop lag max (origin / client)",
             f"{origin_lag.max * 1000:.0f} ms / {client_lag.max * 1000:.0f} ms "
             f"(GC pause max {origin_lag.gc_max * 1000:.0f} / {client_lag.gc_max * 1000:.0f} ms; "
             f"origin lags > 100 ms: {len(origin_lag.events)})"),
            ("duration", f"{duration:.1f} s ({n / max(duration, 1e-9):.0f} req/s); "
                         f"total {time.monotonic() - t_start:.1f} s"),
            ("violations", str(len(violations)))]
    print("| soak | |")
    print("|---|---|")
    for k, val in rows:
        print(f"| {k} | {val} |")
    print()
    if violations:
        print(f"FAILED: {len(violations)} violation(s) (replay one with --seed {args.seed} "
              f"--ids ID); first ones:", file=sys.stderr)
        for line in violations[:40]:
            print("  - " + line, file=sys.stderr)
        print(f"work directory kept: {work}", file=sys.stderr)
        return 1
    if not args.keep:
        for p in sorted(work.iterdir()):
            p.unlink()
        work.rmdir()
    else:
        print(f"work directory: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
