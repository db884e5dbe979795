#!/usr/bin/python3
"""Fault soak for retryproxy: many requests through the daemon against an
origin that injects faults, then a per-request check against the retry
policy of retryproxy(8) RETRY SEMANTICS.

    /usr/bin/python3 tests/soak/soak.py [--requests N] [--concurrency C]
        [--seed S] [--ids 17,4711] [--binary PATH] [--wrapper "valgrind ..."]
        [--idle-close FRACTION[:MAX_S]] [--set KEY=VALUE ...]
        [--route-set ROUTE:KEY=VALUE ...] [--hold-tolerance-ms MS]

Everything is decided by a seeded RNG keyed on the request id, so a failure
names the id, and `--ids ID --seed S` replays exactly that request.

The plan of request id R (make_plan) fixes its method (GET; PUT with a
random body; POST without Idempotency-Key; POST with one), its body, its
target and a script of three steps, one per attempt:

    ok        200 with a body naming id and attempt
    big       (route M) 200 with 100 KiB .. 1 MiB of random bytes, a quarter
              of them holding the mark right after the first line
    slow      200 whose body trickles out (finishes well after per_try_timeout)
    503       503 with a body of 0..128 KiB (above 64 KiB the proxy closes)
    match     (route M) a short 200 whose body holds the mark
    rst, fin  the request is read, then the connection is reset / closed
    stall     no answer for several per_try_timeouts
    refused   the attempt goes to a port nobody listens on
    429       (routes H and F) 429 with Retry-After: 1 and a short body
    cut       (plain origin and W) 200 of an object with a strong ETag whose
              body breaks part way (rst or fin): resumed by the proxy
    cutweak   the same with a weak ETag (W/"..."): never resumed
    late      (hedge routes) a 200 like ok whose head comes 3 hedge units late
    drop      (hedge routes) the request is read, 3 hedge units later a reset

About 32% of requests get at least one fault.  "refused" attempts come from
the target: port A (a route whose fallback is the origin: attempt 1
refused), port B (fallbacks: a closed port, then the origin: attempts 1-2
refused) or port C (nothing, default route: every attempt refused).
Route M (12% of requests, path prefix /m/ on the origin) has
`retry_if_body = RPSOAK-RETRY-ME` (MARK): its ok steps are mostly big, its
faults are match (a 200 with the mark, retried like a 503; the access log
names the retry by its status, "200"), 503, rst, fin, stall and slow, never
refused.  A body over 64 KiB is never matched, mark or not: it must arrive
whole and byte-identical.

Each answered step (ok, big, slow, 503, match) may be decorated; this never
changes the prediction: 1xx heads before the final one (103 Early Hints
with a Link field, 102, 100; in the same write, or each apart after a
pause of 2-15 ms, the first perhaps cut in two), and ok/big/match bodies
may be chunked (pieces of random size), half of those with trailer fields
(X-Trailer, Content-Length: 99, X-Soak-Trailer).  The proxy drops every
1xx but 101, and drops trailers.

A request not on route M keeps the method, body, target and step kinds
and sizes it had before route M and the decorations were added: those are
drawn from a second RNG stream ("extra").

The raw lane (retryproxy(8) "The raw lane"; max_request_body = 64K here).
A third stream ("raw", _raw_variant) keeps the script and turns 30% of the
requests into what evhttp cannot carry:
    ext       an extension method token (PROPFIND, MKCOL, REPORT, PURGE,
              LOCK, M-SEARCH, BASELINE-CONTROL, some lower-case), 40% without
              a body, else a small or large one, Content-Length or chunked;
              20% with an Idempotency-Key
    chunked   a PUT/POST upload, chunked: small (up to 64 KiB: held whole,
              sent on with a Content-Length, re-sendable as its method
              allows) or large (past 64 KiB: streamed in chunks)
    large     a PUT/POST with a Content-Length past 64 KiB (streamed)
    upgrade   Upgrade: websocket, which the origin does not take (an
              ordinary response)
Chunked uploads come in pieces of random size, some with chunk extensions,
some with trailer fields (half of those with a Content-Length one): the
origin must see neither.  Bodies are 1 B .. 1 MiB, with 64 KiB and 64 KiB + 1
(the edges of the replay buffer) on purpose.  Of ext (and POST) variants on
the plain origin, 35% go to route S (path prefix /s/, `methods = *`), where
every method is re-sent like GET.  A streamed body is sent again only after
a failure where nothing of it left (refused): after a 503, reset, stall or
body match the client gets that outcome (503, 502, 504, the 200) and the
origin saw the request once.  The raw lane does not apply retry_if_body:
a match step there is the answer.  Apart from that, 7% of all requests
come from HTTP/1.0 clients (no chunked response; the connection closes
after the response) and 7% from clients that half-close (shutdown(SHUT_WR))
right after their request (they get their response, then the close); both
on a connection of their own.

Broken downloads (retryproxy.ini(5) `resume`; _cut).  A stream of its own
("cut") gives CUT_RATE (6%) of the plain GETs on the plain origin and W
(HTTP/1.1 clients, off the raw lane; the plans above left as they are
but for these steps) a step "cut" at attempt k (CUT_AT: 1 in 60%, 2 in
28%, 3 in 12%); CUT_WEAK (25%) of them are "cutweak".  The attempts
before k become faults the policy retries (503 or stall; rst or fin too
off W) where the script had them answered.  A cut step answers 200 with
ETag "soak-ID-k" (W/"soak-ID-k" for cutweak), Accept-Ranges: bytes and
Content-Length or (CUT_CHUNKED, 25%) chunked framing, and an object of
64 KiB .. 1 MiB (cut_object: the first line of every body, then filler
drawn from (seed, id, k) alone), and breaks its body after `at` bytes (1
.. length - 1, now and then within 200 B of either end) with rst or fin.
The origin answers a request with Range: bytes=N- and If-Range: "soak-ID-k"
(k a cut step of that request) by its scripted step at that attempt: an
answered one (ok, slow) with a 206 (Content-Range: bytes N-(L-1)/L, the
same ETag, bytes N.. of the object; chunked when the step is; slow paced),
503, rst, fin and stall as ever, and a further cut step (CUT_AGAIN, 20%
of the resumable cuts with an attempt after them) with a 206 that breaks
again, further on (a second resume).  The origin records in each hit the
Range (N) and If-Range it carried and, for a cut, the object offset it
wrote up to and the one its whole chunks reached (libevent passes on only
whole chunks: after a chunked break the proxy has the whole ones).
predict() (_predict_cut; resume read from --set like warm_reuse): a cut
with a strong ETag and resume = yes is followed by continuations, each
an ordinary attempt (its retry reason: "reset" after a broken body,
"503", "reset" or "timeout" after a continuation answered 503, rst/fin or
stall); a 206 answered is spliced in (resumes + 1), and a cut one breaks
again; the outcome is the whole object under the head of attempt k
(status 200, access log resumes = the continuations spliced), or, with a
weak ETag, resume = no, or no attempt left, a truncated one: the client
gets the head of attempt k and fewer bytes than the object, the access
log says status 200 error=connection_terminated.

  The daemon runs with its default warm_reuse =
yes (retryproxy.ini(5)): a request that may not be re-sent (a POST without
Idempotency-Key off route S; extension methods and streamed uploads on
the raw lane, which pools by the same rules) may ride a pooled connection when it is
warm: idle for less than half of the origin's idle timeout (the soak's
origin sends no Keep-Alive: timeout=N, so the shortest idle close the
worker saw of that origin host:port, else 2 s) and a peek shows no end of
stream.  The access log then says conn=warm (conn=reused: a re-sendable
request on a pooled connection).  The origin closes idle connections
(--idle-close FRACTION[:MAX_S], default 0.5:2): FRACTION of its
connections, drawn per connection, have a keep-alive timeout of their own,
log-uniform in 1 ms .. MAX_S s; kept idle that long after a response, the
connection is closed, whatever arrives meanwhile (what of a request the
origin had read then, it drops and records; a request arriving after the
close meets a reset).  The idle-close race: the origin closes a warm
connection just as the request is written; the request never reaches the
origin's handler, the daemon sees the connection end before any response
byte, may not re-send, and answers 502 connection_terminated, logged
conn=warm.  The other case, "the origin read the request and the response
was lost", does not come from an idle close here (the idle timer runs only
between a response and the next request head; once a head is read it is
served): it is a scripted rst or fin on a warm ride, predicted like any
(502, the origin saw it once), and a 502 after a hit whose step answers is
a wrong status.  A re-sendable request that meets a closed pooled
connection is re-sent once on a new connection without counting an
attempt, as for a scripted rst or fin; a second such break in the same
request costs an attempt (retried as "reset"; the final one gives 502,
logged conn=reused).

Route W: the origin again, on a port of its own, gets W_SHARE (40%) of the
requests left on the plain origin whose scripts hold no rst or fin step
(a stream of its own, "w": only their port changes).  The daemon learns
idle closes per worker and origin host:port, and it cannot tell a scripted
rst or fin on a reused connection (after the origin read the request) from
an idle close: each one teaches it an idle limit of that connection's idle
time, often 0 ms, and 0 ms ends warm reuse to that origin for up to ten
minutes.  On the plain origin, warm rides end within a second or two of
the start; on W only the origin's idle closes and the races teach it.  A
race teaches it the idle time at which it lost the request, which at
least halves the warm window: races are few by design, mostly in the
first second.  (--idle-close 1:0, an origin that closes every connection
right after its response without saying so, makes nearly every warm ride
a race.)  A race is a matter of timing: the summary names the ids it
met, but replaying one with --ids does not replay the race.  Compare a run
with the same seed and --set warm_reuse=no: a request that may not be
re-sent then never rides a pooled connection, and no idle-close race may
occur (the soak asserts it).

Routes H and F (retryproxy.ini(5) `hold`): the origin again, each on a
port of its own (a hold is per host:port), get H_SHARE (7%) and F_SHARE
(15%) of the requests left on the plain origin after W (a stream of their
own, "hold": their port changes, and HOLD_429 of them, 1% on H and 2% on
F, get a step "429" at one of the attempts they make); request ids 100 and
200 (then every HOLD_EVERY, 5,000) are probes, a GET whose first attempt
gets the 429, on H and on F, so that every run (the valgrind one's 300
requests too) has a hold on each.  H has `hold = wait` and `statuses = 429`:
a 429 holds the port for 1 s, new attempts to it wait, and the 429 itself
is retried after its Retry-After (passed on when the request may not be
re-sent, or on the third attempt).  F has `hold = fail`: a request that
meets the hold gets the proxy's 429 at once, and the 429 itself is passed
on (429 is not retried there).  When F answers a request held, is a matter
of timing: the prediction then takes the access log's attempts as those
made before the hold (held_prediction).  The origin records when it wrote
each 429 (the hold window: t .. t + Retry-After).  A hold on H costs the
clients that meet it up to a second each (about 0.3 s of a 2,000-request
run, which has the probe's hold and about one more); one on F nothing.
--route-set ROUTE:KEY=VALUE changes a route's section (--route-set
H:hold=off: the hold checks must fail).

Hedged requests (retryproxy.ini(5) `hedge_after`, `hedge_max`; _route_hedge).
A stream of its own ("hedge") sends HEDGE_SHARE (25%) of the requests left
on the plain origin after W, H and F that may be re-sent and take evhttp's
lane (GET, PUT, POST with Idempotency-Key; about 6% of all) to four routes,
each the origin on a port of its own, with hedge_after = one hedge unit
(half of per_try_timeout: 150 ms), per_try_timeout = 6 units there and a
retry budget that never binds: E (hedge_max = 1), E2 (hedge_max = 2), EF
(fallbacks = E: attempt 2, hedge or retry, and 3 go there) and ER
(fallbacks = a closed port, then E: attempt 2 is refused, a hedge too).
Their scripts are drawn apart: the first step mostly stall (45%) or late,
else drop, ok, 503, rst, fin, slow; the next ones mostly ok, stall, late or
503.  A step answered at once (ok, slow: only its body trickles, 503) is
never hedged; a stall or late one is, from one unit on.  simulate_hedge()
is predict() for these routes: an event simulation in hedge units of the
rules (hedge.c, attempt.c): at unit 1 a hedge goes out as the next attempt
(at 2 another on E2), if an attempt is left (else not_sent); the first
response head wins (the other copies cancelled: their connections closed;
a hedge among them lost), a hedge's head first is a hedge won, and its
head is decided on like any (a 503 retried as the next attempt after
backoff); a hedge that fails (rst, fin, drop, refused, its own timeout) is
gone and its attempt number stays spent; when the copy in charge fails (a
drop at 3, a stall's timeout at 6) while a hedge is on its way, the oldest
one takes over, no retry and no backoff, with the time it has left.  The
timings lie a unit or more apart; a script whose outcome would be decided
by timing is drawn again, but for one race (a not_sent the timer may count
when a hedge takes over on E2: a range of the metric).  The origin does not
close idle connections on these ports (a hedge on a closed pooled
connection is not re-sent: timing would decide).  predict() gives for each
request the attempts counted (hedges in), the attempt whose response the
client gets (the body and X-Soak-Attempt checks use it), the hedges sent,
whether the response forwarded is a hedge's (access log hedge_won, as
retryproxy.ini(5) access_log_format says: "when a hedge's response was
the one forwarded"), what each copy at the origin saw (answered, cancelled
when another's head won, timed out) and the outcomes of
retryproxy_hedges_total.  A request during which the origin's or the
clients' event loop was late by more than half a unit (a busy host: an
answer the origin held up may come after another copy's) has its
violations counted apart, with its id ("excused by a harness loop lag"),
and the metric is then checked against the access log only.  Only the
hedge routes change: every other request's plan is the one the soak made
before they were added.
--route-set E:hedge_after=off or E2:hedge_max=1 must make these checks
fail.

The TLS origin (retryproxy.ini(5) `tls`, [tls] `trust`; _route_tls).  A
stream of its own ("tls") sends TLS_SHARE (18%) of the requests on the
origin's port (plain, M, S), on the refused ports in front of it (A, B, C)
and on W, and TLS_CUT_SHARE (50%) of the cut downloads among them, to
their twins in front of the origin served over TLS (about 15% of all
requests): the same origin process and scripts on two ports of their own
that speak TLS only (T, for the origin's port, M under /m/ and S under
/s/; TW for W), with a certificate for 127.0.0.1 and localhost signed by
a CA the soak makes with the openssl command line in its work directory
at the start, the daemon's [tls] trust.  Their routes (T, TM, TS, TW, TA,
TB, TC for --route-set) have tls = yes and the keys of their plain twins;
TA's and TB's fallbacks are https URLs.  The clients still ask the proxy
for http://127.0.0.1:PORT/...: the daemon originates the TLS, on both
lanes.  Only the port changes: the script and the prediction are the
plan's as before, every fault included (a fin and an idle close arrive as
close_notify, then the FIN).  H, F and the hedge routes stay plain (ports
of their own for a hold, and for hedges' fallbacks and timings).

The origin (an asyncio server in a child process) answers by the attempt
number the proxy puts in X-Retry-Attempt (attempt_header), not by its own
hit count, because a reused upstream connection that breaks before any
response byte is re-sent once without counting an attempt (retryproxy(8) RETRY SEMANTICS).  It
records every hit: id, attempt, method, body hash, whether the upstream
connection was a reused one, its port and when its head was read; every
idle close: connection, idle time, the bytes of a request it dropped and
whose they were; and every 429 it wrote, with when.

Checks, per request (predict() is the policy):
  - the client got a complete response (lost = 0) with the predicted status,
    or a predicted truncation (an unpredicted one is lost);
    a 200/503 body is exactly the body of the predicted final attempt
    (wrong bodies = 0; a big one is compared by sha256, and a mismatch
    says where it parts and whether it is a truncation), with X-Soak-Id
    and X-Soak-Attempt naming that request and attempt;
    a 502/504 carries the predicted Proxy-Status error;
  - no response of another request id, by X-Soak-Id or by the body's first
    line, whatever the status (mix-ups = 0);
  - no 1xx head reached the client; no trailer field arrived as a header
    field (or a Content-Length of 99) or as a trailer field;
  - a cut download: the head is attempt k's (X-Soak-Id, X-Soak-Attempt,
    ETag); resumed: the object whole and byte-identical (sha256);
    truncated: a prefix of the object no longer than the origin wrote
    before the last break (with fin exactly what it wrote, in whole
    chunks when chunked), exactly the N of a continuation that failed
    after it, the connection closed, access log bytes the same;
  - the access log has the predicted attempts and retry reasons, resumes
    as predicted (absent when 0), error=connection_terminated for a
    truncated download and no error for a resumed one;
  - every continuation carried Range: bytes=N- and If-Range: "soak-ID-k",
    N no more than the last break's offset, no less than the N before,
    and after a fin exactly what the proxy could have passed on; no other
    attempt (weak ETag, resume = no, no cut) carried a Range or If-Range;
  - the origin saw exactly the predicted attempts; an attempt hit twice only
    as a stale re-send (first hit on a reused connection and broken before
    any response byte, second on a fresh connection, request re-sendable);
  - with --idle-close, an attempt the access log counts that never reached
    the origin (idle_lost) is one lost to an idle close: predicted like a
    reset; for a request that may not be re-sent only its final attempt,
    logged conn=warm (an idle-close race, counted, not a violation); for
    a re-sendable one only after an earlier attempt went out on a new
    connection (the one stale re-send was spent), and a lost final
    attempt logged conn=reused;
  - hedged requests: the access log's hedges (absent when none) and
    hedge_won (true when the response forwarded is a hedge's: one whose
    head won, or one that took over and answered; not after a hedge's 503
    that was retried, nor for the proxy's 502/504) as predicted; each
    attempt at the origin on the port policy_target gives it (EF, ER: the
    fallbacks); a copy cancelled because another's head came first (the
    first copy when its hedge won, a hedge that lost) saw its connection
    end within a hedge unit after the origin wrote the winning head; one
    that timed out, its per_try_timeout after its request (-0.5 .. +1
    unit); a late copy predicted to answer, answered;
  - every hit carried the byte-identical body (sha256) and the method;
  - every attempt reached the port its route sends it to (a TLS plan's:
    the TLS origin's, T or TW, so it came over TLS: those ports speak
    nothing else; the hedge routes' as policy_target gives it, see above);
  - a request that may not be re-sent (a POST or extension method without
    Idempotency-Key off route S, a streamed upload) reached the origin at
    most once (duplicates = 0), on a reused connection only when the access
    log says conn=warm (and conn=warm only on a reused one, never with
    warm_reuse = no); conn=warm never for a re-sendable request; both lanes
    alike (the raw lane pools as evhttp's does);
  - no chunk extension or trailer field of an upload reached the origin; a
    held chunked body arrived with a Content-Length, a streamed one chunked;
  - an HTTP/1.0 client got no Transfer-Encoding; HTTP/1.0 and half-closing
    clients saw the connection close within CLOSE_WAIT after the response;
  - hold: the origin's 429 passed on has its Retry-After: 1 and no
    "origin held"; a held answer (F, access log error=origin_held) is the
    proxy's 429 with Retry-After 1 (the seconds left), Proxy-Status
    `retryproxy; details="origin held"` and no X-Soak-Id, the origin saw
    none of the request's attempts after the ones the log counts, and the
    request was under way while the origin was held; held_ms only on H (and
    error=origin_held only on F), and only while the origin was held;
and overall: nothing hangs (a global time limit), the daemon is alive at
the end and exits 0 on SIGTERM, VmRSS after warm-up and at the end differ
by less than --rss-bound MiB, retryproxy_warm_reuse_total{outcome="reused"}
equals the access log's conn=warm count, and with warm_reuse = no there is
no idle-close race; no request reached H or F while it was held: none
arrived (its head read) in a hold window but the ones the proxy had sent
before it read the 429, within --hold-tolerance-ms (50 ms) of it plus the
longest lag of the harness's event loops then ("hits during a hold" = 0);
retryproxy_held_requests_total{outcome="waited"} equals the access log's
entries with held_ms, {outcome="answered"} those with error=origin_held,
and retryproxy_origin_holds_total is at most the 429s sent on H and F and
at least those sent after the hold before had ended;
retryproxy_broken_bodies_total{outcome="resumed"} equals the sum of the
access log's resumes, {outcome="truncated"} the responses that ended
short at the client (only the scripted cuts do);
retryproxy_hedges_total{outcome="won|lost|failed|took_over"} equal the
sums the simulation predicts, not_sent within its range, and won + lost
+ failed + took_over the access log's hedges added up; some request went
to the TLS origin (but with --ids), the TLS origin saw an attempt when some
was predicted to reach it, and retryproxy_upstream_tls_handshakes_total
counted a handshake when it did.  The summary counts
the requests that may not be re-sent, their warm rides (and on W), the
races, the idle closes and what the pool gave (the warm_reuse metric), and
the 429s, holds, waits and held answers, the cut downloads (resumable,
weak, where and how they broke, second breaks, continuations, resumes,
truncations, predicted and seen), the hedged requests (by route, hedges
sent, their outcomes, closes and timeouts checked), the requests on the
TLS origin (by route, lane, faults, cut downloads; its hits, on reused
connections; the handshakes, new and resumed) and, to paste into a
note, "truncated resumable downloads: T of R" (resume = yes: only those
whose break or failed continuation came on the last attempt; --set
resume=no: all of them).  Exit status 0 when all hold, 1 otherwise.
"""

import argparse
import asyncio
import collections
import fcntl
import gc
import hashlib
import json
import math
import multiprocessing
import random
import re
import shlex
import shutil
import signal
import socket
import ssl
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
CLOSE_WAIT = 3.0  # s: an HTTP/1.0 or half-closed client's connection must close by then
# --idle-close: the share of the origin's connections with a keep-alive
# timeout of their own, and the longest such timeout (s); the shortest is
# IDLE_MIN, and they are log-uniform in between: as many close after the
# milliseconds a pooled connection idles under load as after long pauses
IDLE_CLOSE = "0.5:2"
IDLE_MIN = 0.001

# ---------------------------------------------------------------------------
# The plan of one request: everything derived from (seed, request id).
# ---------------------------------------------------------------------------
FAULT_RATE = 0.30
METHODS = [("GET", 40), ("PUT", 25), ("POST", 20), ("POST+key", 15)]
PRIMARY = [("503", 26), ("reset", 24), ("stall", 14), ("refused", 16), ("slow", 20)]
# ioctl: bytes in a TCP socket's send queue not yet acknowledged (Linux)
SIOCOUTQ = 0x5411
ORIGIN_FAULTS = ["503", "rst", "fin", "stall"]
# Route M (retry_if_body = MARK, the origin under the path prefix /m/): no
# refused ports there; a short 200 holding the mark is its own fault.
M_SHARE = 0.12
M_FAULT_RATE = 0.45  # (whole fault share: 0.88 * 0.30 + 0.12 * 0.45, about 32%)
M_PRIMARY = [("match", 40), ("503", 18), ("reset", 18), ("stall", 10), ("slow", 14)]
M_ORIGIN_FAULTS = ["match", "match", "503", "rst", "fin", "stall"]
M_BIG = 0.6  # an ok step on route M has a big body (100 KiB .. 1 MiB) ...
BIG_MARK = 0.25  # ... which holds the mark: past 64 KiB it never matches
MARK = "RPSOAK-RETRY-ME"
MARK_B = MARK.encode()
FAULT_KINDS = ("503", "rst", "fin", "stall", "refused", "slow", "match", "429", "cut",
               "cutweak", "late", "drop")
# steps the origin answers ("late": on the hedge routes, a 200 whose head
# comes H_LATE hedge units after the request)
RESPONSE_KINDS = ("ok", "big", "slow", "503", "match", "429", "late")
STEP_STATUS = {"503": 503, "429": 429}  # (the other answered steps: 200)
REASON_PHRASE = {200: "OK", 503: "Service Unavailable", 429: "Too Many Requests"}
# Decorations of a response step; they never change the prediction.
INTERIM_RATE = 0.15
INTERIM_HEADS = {103: b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n",
                 102: b"HTTP/1.1 102 Processing\r\n\r\n",
                 100: b"HTTP/1.1 100 Continue\r\n\r\n"}
CHUNKED_RATE = 0.25  # of ok, big and match steps
TRAILER_RATE = 0.5  # of chunked ones
TRAILER_CL = "99"  # a Content-Length trailer field: never the body's length
TRAILER_NAMES = ("x-trailer", "x-soak-trailer")


def trailer_block(rid):
    return (f"X-Trailer: t\r\nContent-Length: {TRAILER_CL}\r\n"
            f"X-Soak-Trailer: {rid}\r\n").encode()


# One step of the script (one attempt): kind, body length, slow rate
# (bytes/s), then decorations: interim 1xx codes sent before the final head,
# pause (s; 0: the 1xx heads go out in one write with the final head, else
# each is its own write followed by the pause), split (the first 1xx head
# is itself cut in two writes), chunked, trailers, mark (a big body holding
# MARK right after its first line); of a cut step (cut, cutweak): at, the
# object offset where its body breaks, and how (rst or fin).
Step = collections.namedtuple("Step", "kind n rate interim pause split chunked trailers mark "
                              "at how",
                              defaults=(0, 0, (), 0, False, False, False, False, 0, ""))


def _pick(rng, weighted):
    total = sum(w for _, w in weighted)
    x = rng.random() * total
    for v, w in weighted:
        x -= w
        if x < 0:
            return v
    return weighted[-1][0]


def step_label(s):
    t = s.kind
    if s.kind == "big":
        t += f"({s.n // KiB}K{'+mark' if s.mark else ''})"
    if s.interim:
        t = ("+".join(map(str, s.interim)) + (f"/sep{s.pause * 1000:.0f}ms" if s.pause else "")
             + ("/split" if s.split else "") + ">" + t)
    if s.chunked:
        t += "/chunked" + ("+trailers" if s.trailers else "")
    if s.kind in CUT_KINDS:
        t += f"({s.n // KiB}K@{s.at}/{s.how})"
    return t


class Plan:
    __slots__ = ("rid", "method", "has_key", "body_len", "close", "path",
                 "route", "steps", "faulty", "raw_kind", "framing", "client",
                 "upgrade", "chunk_ext", "req_trailers", "tls")

    def describe(self):
        extra = []
        if self.raw_kind:
            extra.append(f"raw={self.raw_kind}")
        if self.framing == "chunked":
            extra.append("chunked" + ("+ext" if self.chunk_ext else "")
                         + ("+trailers" if self.req_trailers else ""))
        if self.body_len > MAX_REQUEST_BODY:
            extra.append("streamed")
        if self.upgrade:
            extra.append("Upgrade")
        if self.client != "1.1":
            extra.append({"1.0": "HTTP/1.0", "halfclose": "half-close"}[self.client])
        if self.tls:
            extra.append("TLS origin")
        return (f"id={self.rid} {self.method}{'+Idempotency-Key' if self.has_key else ''}"
                f" body={self.body_len}B route={self.route} "
                + (f"({', '.join(extra)}) " if extra else "")
                + f"steps={[step_label(s) for s in self.steps]}")


def _step(rng, kind):
    if kind == "ok":
        return Step("ok", rng.randrange(0, 4 * KiB))
    if kind == "slow":
        # 16..48 KiB at 64..128 KiB/s: 0.15..0.75 s, longer than per_try_timeout
        # would allow for headers, but it is body time, so it must finish.
        # A quarter 80..240 KiB at 160..320 KiB/s: a body the raw lane
        # splices, whose waits for the origin are marked (SO_RCVLOWAT 512
        # KiB or 10 ms, src/zbody.h): eight pieces far below the mark,
        # 30-190 ms apart, must each go on, and none is a timeout.
        if rng.random() < 0.25:
            return Step("slow", rng.randrange(80 * KiB, 240 * KiB),
                        rng.randrange(160 * KiB, 320 * KiB))
        return Step("slow", rng.randrange(16 * KiB, 48 * KiB), rng.randrange(64 * KiB, 128 * KiB))
    if kind == "503":
        # mostly small (drained, connection kept), sometimes above 64 KiB
        n = rng.randrange(0, 2 * KiB) if rng.random() < 0.8 else rng.randrange(64 * KiB, 128 * KiB)
        return Step("503", n)
    if kind == "big":
        # past the 64 KiB that retry_if_body examines: must arrive whole
        return Step("big", rng.randrange(100 * KiB, MiB + 1), mark=rng.random() < BIG_MARK)
    if kind == "match":
        # a short 200 holding the mark: retried like a 503
        return Step("match", rng.randrange(0, 8 * KiB))
    if kind == "late":
        # (the hedge routes) a 200 like ok, its head H_LATE hedge units late
        return Step("late", rng.randrange(0, 4 * KiB))
    return Step(kind)


def _faults(rng, steps, primary, faults):
    """Put `primary` (not refused) and 0-2 more faults into steps."""
    nf = _pick(rng, [(1, 70), (2, 20), (3, 10)])

    def origin_fault(kind=None):
        kind = kind or rng.choice(faults)
        if kind == "reset":
            kind = rng.choice(["rst", "fin"])
        return _step(rng, kind)

    if primary == "slow":
        for i in range(nf - 1):
            steps[i] = origin_fault()
        steps[nf - 1] = _step(rng, "slow")
    else:
        steps[0] = origin_fault(primary)
        for i in range(1, nf):
            steps[i] = origin_fault()
        if nf < 3 and rng.random() < 0.2:
            steps[nf] = _step(rng, "slow")


def _decorate(rng, s):
    if s.kind not in RESPONSE_KINDS:
        return s
    kw = {}
    if rng.random() < INTERIM_RATE:
        k = _pick(rng, [(1, 60), (2, 25), (3, 15)])
        kw["interim"] = tuple(rng.choice((103, 102, 100)) for _ in range(k))
        if rng.random() < 0.5:
            kw["pause"] = rng.randrange(2, 16) / 1000
            kw["split"] = rng.random() < 0.3
    if s.kind in ("ok", "big", "match") and rng.random() < CHUNKED_RATE:
        kw["chunked"] = True
        kw["trailers"] = rng.random() < TRAILER_RATE
    return s._replace(**kw)


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
        if primary == "refused":
            nf = _pick(rng, [(1, 70), (2, 20), (3, 10)])
            p.route = {1: "A", 2: "B", 3: "C"}[nf]
            for i in range(nf):
                steps[i] = Step("refused")
            if nf < 3 and rng.random() < 0.3:
                kind = rng.choice(ORIGIN_FAULTS)
                steps[nf] = _step(rng, kind)
        else:
            _faults(rng, steps, primary, ORIGIN_FAULTS)
    # Route M and the decorations come from a stream of their own: the
    # plans above are the ones the soak made before these were added.
    xr = random.Random(f"{seed}/extra/{rid}")
    if xr.random() < M_SHARE and not ALL_RAW:
        p.route = "M"
        p.path = "/m" + p.path
        steps = [_step(xr, "big" if xr.random() < M_BIG else "ok") for _ in range(3)]
        p.faulty = xr.random() < M_FAULT_RATE
        if p.faulty:
            _faults(xr, steps, _pick(xr, M_PRIMARY), M_ORIGIN_FAULTS)
    p.steps = [_decorate(xr, s) for s in steps]
    _raw_variant(seed, p)
    _route_w(seed, p)
    _route_hold(seed, p)
    _route_hedge(seed, p)
    if rid % HOLD_EVERY in HOLD_PROBE:
        _hold_probe(seed, p, HOLD_PROBE[rid % HOLD_EVERY])
    _cut(seed, p)
    _route_tls(seed, p)
    return p


# Broken downloads (retryproxy.ini(5) `resume`): a stream of its own ("cut")
# gives CUT_RATE of the plain GETs on the plain origin and W (HTTP/1.1
# clients, off the raw lane) a step "cut" at attempt k (CUT_AT): a 200 of
# an object (cut_object: 64 KiB .. 1 MiB, re-created from seed, id and k)
# with ETag "soak-ID-k", Accept-Ranges: bytes, Content-Length or (CUT_CHUNKED)
# chunked, whose body breaks after `at` bytes (rst or fin).  CUT_WEAK of
# them are "cutweak": ETag W/"soak-ID-k", never resumed.  The attempts
# before k become faults the policy retries (503, stall; rst, fin off W) if
# the script had them answered; those after k stay as scripted: they answer
# the range request of the continuation (an answered step: 206 with the rest;
# 503, rst, fin, stall: as ever), and CUT_AGAIN of the resumable cuts with
# an attempt after them get a cut there too: the 206 breaks again, further on.
CUT_RATE = 0.06
CUT_WEAK = 0.25
CUT_CHUNKED = 0.25
CUT_AT = [(1, 60), (2, 28), (3, 12)]
CUT_AGAIN = 0.2
CUT_KINDS = ("cut", "cutweak")
CUT_ROUTES = ("origin", "W")
RANGE_RE = re.compile(r"bytes=(\d+)-")
IF_RANGE_RE = re.compile(r'"soak-(\d+)-(\d+)"')


def cut_eligible(p):
    # (both lanes resume a GET whose body is held or empty)
    return (p.route in CUT_ROUTES and p.method == "GET"
            and not p.upgrade and not streamed(p)
            and p.client == "1.1")


def object_head(rid, k):
    return f"200 id={rid} attempt={k} body={EMPTY_SHA}\n".encode()


def cut_object(seed, rid, k, step):
    """The object a cut step at attempt k serves (and the 206s after it)."""
    return object_head(rid, k) + random.Random(f"{seed}/cutobj/{rid}/{k}").randbytes(step.n)


def etag(rid, k, weak=False):
    return ('W/' if weak else '') + f'"soak-{rid}-{k}"'


def _cut_at(cr, lo, total):
    """A break offset in lo+1 .. total-1: near either end now and then."""
    x = cr.random()
    if x < 0.1:
        return min(total - 1, lo + cr.randrange(1, 200))
    if x < 0.2:
        return max(lo + 1, total - cr.randrange(1, 200))
    return cr.randrange(lo + 1, total)


def _cut(seed, p):
    if not cut_eligible(p):
        return
    cr = random.Random(f"{seed}/cut/{p.rid}")
    if cr.random() >= CUT_RATE:
        return
    k = _pick(cr, CUT_AT)
    weak = cr.random() < CUT_WEAK
    pre = ["503", "503", "stall"] + ([] if p.route == "W" else ["rst", "fin"])
    for i in range(k - 1):
        if p.steps[i].kind not in ORIGIN_FAULTS:
            p.steps[i] = _decorate(cr, _step(cr, cr.choice(pre)))
    n = cr.randrange(64 * KiB, MiB + 1)
    total = len(object_head(p.rid, k)) + n
    chunked = cr.random() < CUT_CHUNKED
    at = _cut_at(cr, 0, total)
    p.steps[k - 1] = Step("cutweak" if weak else "cut", n, at=at, how=cr.choice(["rst", "fin"]),
                          chunked=chunked)
    if not weak and k < 3 and at < total - 1 and cr.random() < CUT_AGAIN:
        # a second break: the 206 of the continuation breaks further on
        p.steps[k] = Step("cut", n, at=_cut_at(cr, at, total), how=cr.choice(["rst", "fin"]),
                          chunked=cr.random() < CUT_CHUNKED)
    p.faulty = True


# Route W: the same origin on a port of its own, so that the daemon keeps
# its pooled connections and what it learned of their idle closes apart
# (per origin host:port).  A stream of its own ("w") sends W_SHARE of the
# requests left on the plain origin there, if their scripts hold no rst or
# fin: a connection the origin breaks after reading a request on it (rst,
# fin) is, for the daemon, an origin closing a kept connection, and it
# learns the idle time of that connection (often 0 ms) as the origin's idle
# close.  On the plain origin that ends warm reuse within a second or two
# of the start; on W only the origin's idle closes (--idle-close) and races
# teach it.
W_SHARE = 0.4


def _route_w(seed, p):
    if p.route == "origin" and not any(s.kind in ("rst", "fin") for s in p.steps) \
            and random.Random(f"{seed}/w/{p.rid}").random() < W_SHARE:
        p.route = "W"


# Routes H and F (retryproxy.ini(5) `hold`): the origin again, each on a
# port of its own (a hold is per origin host:port).  A stream of its own
# ("hold") sends H_SHARE of the requests left on the plain origin (after W)
# to H (`hold = wait`, `statuses = 429`) and F_SHARE to F (`hold = fail`),
# keeping their scripts, and gives HOLD_429[route] of those a step "429":
# a 429 with `Retry-After: HOLD_RA` (s) at one of the attempts the script
# makes.  It holds that port: on H, new attempts to it wait for the end
# (the 429 itself is retried after its own Retry-After when the request
# may be re-sent, else it goes to the client); on F, requests that meet
# the hold get a 429 of the proxy's at once (held_prediction) and the 429
# itself goes to the client.  HOLD_RA is short (1 s: the shortest a
# Retry-After in seconds can ask) and 429s are rare, so that the clients
# that meet a hold on H lose little of the run (a hold on F costs nothing).
# So that every run has a hold on each (the valgrind run's 300 requests
# too), request ids HOLD_EVERY * k + HOLD_PROBE[route] are probes
# (_hold_probe): a GET on that route whose first attempt gets the 429.
H_SHARE = 0.07
F_SHARE = 0.15
HOLD_429 = {"H": 0.01, "F": 0.02}
HOLD_RA = 1  # s
HOLD_EVERY = 5000
HOLD_PROBE = {100: "H", 200: "F"}
HOLD_ROUTES = {"H": "wait", "F": "fail"}
# A hit up to this long (s) after the origin wrote a 429 (plus the lag of
# its event loop then) is one the proxy had sent before it read that 429
HOLD_TOLERANCE = 0.05
RETRY_429_ROUTES = ("H",)  # `statuses = 429` there


def _route_hold(seed, p):
    if p.route != "origin":
        return
    hr = random.Random(f"{seed}/hold/{p.rid}")
    x = hr.random()
    if x >= H_SHARE + F_SHARE:
        return
    p.route = "H" if x < H_SHARE else "F"
    if hr.random() < HOLD_429[p.route]:
        # at one of the attempts the script makes (before the 429 is in it)
        k = hr.randrange(predict(p).attempts)
        p.steps[k] = _decorate(hr, Step("429", hr.randrange(0, 2 * KiB)))
        p.faulty = True


def _hold_probe(seed, p, route):
    """A probe, whatever the request was: a GET on `route` whose first
    attempt gets the 429."""
    hr = random.Random(f"{seed}/holdprobe/{p.rid}")
    p.method, p.has_key, p.body_len, p.close = "GET", False, 0, False
    p.route = route
    p.path = f"/soak/{p.rid}/{hr.getrandbits(48):012x}"
    p.steps = [Step("429", hr.randrange(0, 2 * KiB)), _step(hr, "ok"), _step(hr, "ok")]
    p.faulty = True
    p.raw_kind, p.framing, p.client = None, "none", "1.1"
    p.upgrade = p.chunk_ext = p.req_trailers = False


# Hedged requests (retryproxy.ini(5) `hedge_after`, `hedge_max`): a stream of
# its own ("hedge") sends HEDGE_SHARE of the requests left on the plain origin
# (after W, H and F) that may be re-sent and take evhttp's lane (GET, PUT,
# POST with Idempotency-Key) to one of four routes, each the origin on a port
# of its own, with a script of their own (HEDGE_FIRST, then HEDGE_NEXT):
#   E   hedge_after = one hedge unit (per_try_timeout / 2), hedge_max = 1
#   E2  the same with hedge_max = 2
#   EF  hedge_max = 1, fallbacks = E: attempts 2 and 3 (a hedge too) go there
#   ER  hedge_max = 1, fallbacks = X (closed), E: attempt 2 (hedge or retry)
#       is refused, attempt 3 goes to E
# Their per_try_timeout is H_TIMEOUT units (3 times the soak's), a "late" step
# answers after H_LATE units (a 200 like ok), a "drop" step resets the
# connection after H_LATE units without answering (a first copy that fails
# while its hedge is on its way), and no other timing is near a multiple of
# the unit, so that simulate_hedge() can tell in what order things happen: a
# script whose order would be decided by timing is drawn again (but for the
# one race left, see simulate_hedge).  The origin does not close idle
# connections on these ports (--idle-close): a hedge is never re-sent when
# its pooled connection turns out closed, so an idle close would decide its
# fate by timing.
HEDGE_SHARE = 0.25
HEDGE_ROUTE_MIX = [("E", 45), ("E2", 25), ("EF", 15), ("ER", 15)]
HEDGE_MAX = {"E": 1, "E2": 2, "EF": 1, "ER": 1}
HEDGE_ROUTES = tuple(HEDGE_MAX)
# the routes whose requests take evhttp's lane (when libevent can carry them)
EVHTTP_ROUTES = ("M",) + HEDGE_ROUTES
HEDGE_FIRST = [("stall", 45), ("late", 15), ("drop", 8), ("ok", 10), ("503", 9), ("rst", 4),
               ("fin", 4), ("slow", 5)]
HEDGE_NEXT = [("ok", 28), ("503", 13), ("rst", 7), ("fin", 6), ("stall", 22), ("late", 16),
              ("drop", 3), ("slow", 5)]
H_LATE = 3  # hedge units: a late step's head
H_TIMEOUT = 6  # hedge units: the hedge routes' per_try_timeout
H_EPS = 0.01  # (an answer at once, a reset or a refused connect: just after the request)


def hedge_ms(args):
    """The hedge routes' hedge_after (ms): half the soak's per_try_timeout
    (a third left too little room on a busy 2-CPU machine: an answer "at
    once" of the Python origin, 1xx heads before it, took 113 ms once)."""
    return max(1, args.per_try_timeout_ms // 2)


def hedge_port_key(route, attempt):
    """Where attempt n of a request on a hedge route goes (policy_target):
    the name of the port in Soak.ports."""
    if route == "EF":
        return "EF" if attempt == 1 else "E"
    if route == "ER":
        return {1: "ER", 2: "X"}.get(attempt, "E")
    return route


def _route_hedge(seed, p):
    if (ALL_RAW or p.route != "origin" or not resendable(p) or needs_raw(p)
            or p.rid % HOLD_EVERY in HOLD_PROBE):
        return
    hr = random.Random(f"{seed}/hedge/{p.rid}")
    if hr.random() >= HEDGE_SHARE:
        return
    p.route = _pick(hr, HEDGE_ROUTE_MIX)
    for _ in range(50):
        steps = [_step(hr, _pick(hr, HEDGE_FIRST))] + \
            [_step(hr, _pick(hr, HEDGE_NEXT)) for _ in range(2)]
        if p.route == "ER":
            steps[1] = Step("refused")
        p.steps = [_decorate(hr, s) for s in steps]
        if simulate_hedge(p) is not None:
            break
    else:
        raise RuntimeError(f"id {p.rid}: no hedge script without a race")
    p.faulty = any(s.kind != "ok" for s in p.steps)


class HedgeSim:
    """What simulate_hedge() foresees besides the Prediction: the hedges
    sent, the outcomes retryproxy_hedges_total counts (not_sent_maybe: the
    ones a race decides), whether a hedge's response head came first
    (won_any) and the fate of each attempt's copy at the origin:
    ("answered",), ("cancelled", by attempt), ("timeout",), ("failed",)
    or ("refused",)."""
    __slots__ = ("hmax", "sent", "won", "lost", "failed", "took_over", "not_sent",
                 "not_sent_maybe", "fates", "won_any", "hedged")

    def __init__(self, hmax):
        self.hmax = hmax
        self.sent = self.won = self.lost = self.failed = self.took_over = 0
        self.not_sent = self.not_sent_maybe = 0
        self.fates = {}
        self.won_any = False
        self.hedged = set()  # attempts sent as hedges


def _new_prediction():
    pr = Prediction()
    pr.retries = []
    pr.origin_attempts = []
    pr.held = False
    pr.cut = pr.resumes = pr.cut_at = pr.cut_last = 0
    pr.truncated = pr.ranges = False
    pr.cut_how = ""
    pr.hedge = None
    pr.hedge_won = False
    return pr


def simulate_hedge(plan, attempts=3):
    """The outcome of a request on a hedge route, from its script, by the
    rules of retryproxy.ini(5) hedge_after (see hedge.c and attempt.c), in
    hedge units (hedge_after = 1): an attempt starts at 0 and arms the
    hedge timer (while fewer than hedge_max hedges were sent); each copy
    of it (the first, then its hedges) answers at once (ok, slow, 503) or
    after H_LATE (late), fails at once (rst, fin, refused) or after H_LATE
    (drop), or times out after H_TIMEOUT (stall).  When the timer fires, a
    hedge goes out as attempt n + 1 (n: the attempts made) if n < attempts
    (else it is counted not_sent, once a request), and the timer is armed
    again.  The
    first response head wins: the other copies are cancelled (a hedge
    among them: lost), and the head is decided on as the attempt's (a 503
    retried as attempt n + 1).  A hedge that fails is gone (failed); when
    the copy in charge fails while a hedge is on its way, the oldest hedge
    takes over (the timer armed again), else the failure is decided on as
    usual (retried as attempt n + 1).

    Returns the Prediction (.hedge: the HedgeSim), or None when the order
    of two events would be decided by timing, or when a drop in charge has
    no hedge to hand over to (on a pooled connection it would be re-sent
    once, uncounted, H_LATE late: whether it was one, timing decides).
    One race is left, counted in not_sent_maybe: the timer armed again
    when a hedge takes over (on E2, with no attempt left) fires just when
    that hedge's own event comes (it was sent a unit after the copy that
    failed, and answers or fails as long after it was sent); whether a
    not_sent is counted first is a matter of timing."""
    hmax = HEDGE_MAX[plan.route]
    sim = HedgeSim(hmax)
    pr = _new_prediction()
    pr.hedge = sim
    nh = 0
    k = 1
    while True:
        n = k
        # a copy: [attempt, sent at, step, sent as a hedge]
        def send(a, t, hedge):
            st = plan.steps[a - 1]
            if st.kind != "refused":
                pr.origin_attempts.append(a)
            if hedge:
                sim.hedged.add(a)
            return [a, t, st, hedge]

        lead = send(k, 0.0, False)
        hedges = []
        timer = 1.0 if nh < hmax else None
        while True:
            evs = []
            for cp in [lead] + hedges:
                kind = cp[2].kind
                if kind in ("rst", "fin", "refused"):
                    evs.append((cp[1] + H_EPS, "fail", cp))
                elif kind == "drop":
                    evs.append((cp[1] + H_LATE, "fail", cp))
                elif kind == "stall":
                    evs.append((cp[1] + H_TIMEOUT, "fail", cp))
                elif kind == "late":
                    evs.append((cp[1] + H_LATE, "head", cp))
                else:
                    evs.append((cp[1] + H_EPS, "head", cp))
            if timer is not None:
                evs.append((timer, "timer", None))
            evs.sort(key=lambda e: e[0])
            t, what, cp = evs[0]
            race = len(evs) > 1 and evs[1][0] - t < 0.5
            if race:
                tied = [e for e in evs if e[0] - t < 0.5]
                if len(tied) > 2 or "timer" not in (what, tied[1][1]) or n < attempts:
                    return None  # two copies' events, or a hedge sent or not
                # the timer would only count a not_sent: the other event
                # first; if it leaves the timer as it was, the timer fires next
                if what == "timer":
                    t, what, cp = tied[1]
            if what == "timer":
                timer = None
                if n >= attempts:
                    sim.not_sent += 1
                else:
                    n += 1
                    nh += 1
                    sim.sent += 1
                    hedges.append(send(n, t, True))
                    if nh < hmax:
                        timer = t + 1
                continue
            old_timer = timer
            a, _, st, is_hedge = cp
            if what == "head":
                for o in [lead] + hedges:
                    if o is not cp:
                        sim.fates[o[0]] = ("cancelled", a)
                        if o is not lead:
                            sim.lost += 1
                if cp is not lead:
                    sim.won += 1
                    sim.won_any = True
                sim.fates[a] = ("answered",)
                pr.attempts = n
                if st.kind == "503" and n < attempts:
                    pr.retries.append("503")
                    k = n + 1
                    if race:
                        sim.not_sent_maybe += 1
                    break
                pr.status = 503 if st.kind == "503" else 200
                pr.proxy_error = None
                pr.answer, pr.final_step, pr.hedge_won = a, st, is_hedge
                if race:
                    sim.not_sent_maybe += 1
                return pr
            # a copy failed
            sim.fates[a] = ({"stall": "timeout", "refused": "refused"}.get(st.kind, "failed"),)
            if cp is not lead:
                hedges.remove(cp)
                sim.failed += 1
                if race and timer != old_timer:
                    sim.not_sent_maybe += 1
                continue
            timer = None
            if not hedges and st.kind == "drop":
                # broken before any response byte, no hedge on its way: on a
                # pooled connection (whether it was one, timing decides) the
                # attempt is sent again once, uncounted, H_LATE units late
                return None
            if hedges:
                lead = hedges.pop(0)
                sim.took_over += 1
                if nh < hmax:
                    timer = t + 1
                if race:
                    sim.not_sent_maybe += 1
                continue
            pr.attempts = n
            if race:
                sim.not_sent_maybe += 1
            if n < attempts:
                pr.retries.append(RETRY_REASON[st.kind])
                k = n + 1
                break
            pr.status, pr.proxy_error = FINAL_FAILURE[st.kind]
            pr.answer, pr.final_step = a, st  # (the proxy's 502/504: no one's response)
            return pr


# TLS (retryproxy.ini(5) `tls`, [tls] `trust`): a stream of its own ("tls")
# sends TLS_SHARE of the requests on the origin's port (the plain origin, M,
# S), on the refused ports in front of it (A, B, C) and on W to their twins
# in front of the TLS origin: the same origin process, the same scripts, on
# ports of their own served over TLS only, with a certificate for 127.0.0.1
# and localhost signed by a CA that make_certs() makes with the openssl
# command line at the start (the daemon's [tls] trust).  Their routes say
# tls = yes: T, and TM, TS under the path prefixes /m/ and /s/ with the
# keys of M and S; TW, W's twin (a port of its own again: no rst or fin
# there to teach the daemon idle closes); TA and TB, refused ports whose
# fallbacks are https URLs (TB: a closed port first, then the TLS origin);
# TC, a refused port with tls = yes and nothing behind it.  The clients
# still speak plain HTTP to the proxy (http://127.0.0.1:PORT/...): the
# daemon originates the TLS.  Only the port changes, so the script, and
# with it the prediction, is the one the plan had before: every fault works
# the same over TLS (a reset is a reset; a fin, and an idle close, come as
# close_notify before the FIN, which the proxy must take as the same end of
# stream; a cut body with fin delivers every byte before the close, one with
# rst at most what was written, as a reset discards what the kernel held),
# and both lanes carry them.  About 15% of all requests (TLS_SHARE of the
# ~85% on those routes), and TLS_CUT_SHARE of the cut downloads there: a
# body broken part way is where TLS differs most below HTTP (a reset that
# cuts a record short, a close_notify in the middle of a body), and at
# TLS_SHARE a run had as few as none of them.  H, F and the hedge routes
# stay plain: each is the origin on a port of its own for what the daemon
# keeps per host:port (a hold; the hedge routes' fallback chains, and the
# timings simulate_hedge() foresees), so TLS twins would be another set of
# ports and of the checks that name them; the TLS connection under them is
# the one the routes above exercise, on both lanes.
TLS_SHARE = 0.18
TLS_CUT_SHARE = 0.5
TLS_ROUTES = ("origin", "M", "S", "A", "B", "C", "W")
# the port (in Soak.ports) where a route's requests reach the origin, plain
# and over TLS (the hedge routes: hedge_port_key)
PLAIN_PORT = {"A": "origin", "B": "origin", "C": "origin", "M": "origin", "S": "origin"}
TLS_PORT = {"W": "TW"}


def tls_port_key(route):
    """The name in Soak.ports of the TLS twin of `route` (TLS_ROUTES), where
    its clients send it; also the twin's name for --route-set (T: the plain
    origin's)."""
    return "T" if route == "origin" else "T" + route


def _route_tls(seed, p):
    p.tls = False
    if p.route not in TLS_ROUTES:
        return
    share = TLS_CUT_SHARE if any(s.kind in CUT_KINDS for s in p.steps) else TLS_SHARE
    p.tls = random.Random(f"{seed}/tls/{p.rid}").random() < share


# ---------------------------------------------------------------------------
# The raw lane (retryproxy(8) "The raw lane"): what libevent's evhttp cannot
# carry: another method token, a chunked body, a body over max_request_body
# (64K here), Upgrade.  A third RNG stream ("raw") turns RAW_SHARE of the
# requests into one of these, keeping the step script above; and, apart,
# makes CLIENT_10 of all requests HTTP/1.0 clients and CLIENT_HALF of them
# clients that half-close (shutdown(SHUT_WR)) right after their request.
# ---------------------------------------------------------------------------
MAX_REQUEST_BODY = 64 * KiB  # [proxy] max_request_body in the soak's config
# --all-raw: no route M (retry_if_body) and no hedge routes, so the daemon's
# lane = raw (its default) carries every request, GET and POST included;
# without it the requests of those routes take evhttp's lane when libevent
# can carry them (retryproxy.ini(5), lane), the rest the raw lane.
ALL_RAW = False
EVHTTP_METHODS = ("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE",
                  "CONNECT", "PATCH")  # what evhttp parses (case-sensitive)
# Extension method tokens; none of them is in the default `methods` (names are
# case-sensitive), so on the default route none may be re-sent once sent.
EXT_METHODS = ("PROPFIND", "MKCOL", "REPORT", "PURGE", "LOCK", "M-SEARCH",
               "BASELINE-CONTROL", "propfind", "purge", "mkcol", "Report")
DEFAULT_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE")
RAW_SHARE = 0.30
RAW_KINDS = [("ext", 40), ("chunked", 30), ("large", 20), ("upgrade", 10)]
RAW_LARGE = 0.35  # of bodies on the raw lane: over max_request_body (streamed)
S_SHARE = 0.35  # of ext (and POST) raw variants on the default origin: route S
CLIENT_10 = 0.07
CLIENT_HALF = 0.07


def _large_len(rng):
    """A body over max_request_body: just past it, or up to 1 MiB."""
    if rng.random() < 0.15:
        return MAX_REQUEST_BODY + 1
    return int(math.exp(rng.uniform(math.log(MAX_REQUEST_BODY + 2), math.log(MiB))))


def _small_len(rng):
    """A body the proxy holds: 1 B .. max_request_body, often right at it."""
    if rng.random() < 0.1:
        return MAX_REQUEST_BODY
    return min(MAX_REQUEST_BODY, max(1, int(math.exp(rng.uniform(0, math.log(MAX_REQUEST_BODY))))))


def _raw_variant(seed, p):
    rr = random.Random(f"{seed}/raw/{p.rid}")
    p.raw_kind = None
    p.framing = "length" if p.method != "GET" else "none"
    p.upgrade = p.chunk_ext = p.req_trailers = False
    x = rr.random()
    p.client = "1.0" if x < CLIENT_10 else "halfclose" if x < CLIENT_10 + CLIENT_HALF else "1.1"
    if rr.random() >= RAW_SHARE:
        return
    kind = _pick(rr, RAW_KINDS)
    p.raw_kind = kind
    if kind == "upgrade":
        # an Upgrade the origin does not take: an ordinary response
        p.upgrade = True
        if p.client == "1.0":
            p.client = "1.1"  # (Upgrade is HTTP/1.1's)
        return
    if kind == "ext":
        p.method = rr.choice(EXT_METHODS)
        p.has_key = rr.random() < 0.2
        p.body_len = 0 if rr.random() < 0.4 else (
            _large_len(rr) if rr.random() < RAW_LARGE else _small_len(rr))
        if p.body_len:
            p.framing = "chunked" if rr.random() < 0.5 else "length"
        else:
            p.framing = "none"
    else:
        if p.method == "GET":
            p.method = "PUT"
        if kind == "chunked":
            p.framing = "chunked"
            p.body_len = _large_len(rr) if rr.random() < RAW_LARGE else _small_len(rr)
        else:  # large: Content-Length over max_request_body
            p.framing = "length"
            p.body_len = _large_len(rr)
    if p.framing == "chunked":
        if p.client == "1.0":
            p.framing = "length"  # (HTTP/1.0 has no chunked framing)
        else:
            p.chunk_ext = rr.random() < 0.3
            p.req_trailers = rr.random() < 0.3
    if p.route == "origin" and (kind == "ext" or p.method == "POST") and rr.random() < S_SHARE:
        p.route = "S"  # methods = *: every method re-sendable
        p.path = "/s" + p.path


def streamed(plan):
    """A body over max_request_body streams: sent again only if nothing left."""
    return plan.body_len > MAX_REQUEST_BODY


def raw_lane(plan):
    """Does the daemon carry it on the raw lane?  lane = raw (its default)
    puts every request there but those of a route that needs evhttp's lane
    (M: retry_if_body; the hedge routes), which take it when libevent can
    carry them."""
    if ALL_RAW or plan.route not in EVHTTP_ROUTES:
        return True
    return needs_raw(plan)


def needs_raw(plan):
    """What libevent's evhttp cannot carry: the raw lane on either lane."""
    return (plan.method not in EVHTTP_METHODS or plan.framing == "chunked"
            or streamed(plan) or plan.upgrade)


def chunk_pieces(seed, plan, body):
    """The chunked encoding of a request body (pieces of random size,
    perhaps with chunk extensions and trailer fields)."""
    r = random.Random(f"{seed}/chunks/{plan.rid}")
    top = 16 * KiB if r.random() < 0.5 else 512
    out = []
    i = 0
    while i < len(body):
        piece = body[i:i + r.randrange(1, top + 1)]
        ext = b";soak=%d" % r.randrange(1000) if plan.chunk_ext and r.random() < 0.5 else b""
        out.append(b"%x%s\r\n%s\r\n" % (len(piece), ext, piece))
        i += len(piece)
    out.append(b"0\r\n")
    if plan.req_trailers:
        # half of them with a Content-Length trailer field: never the
        # body's framing, dropped like any trailer field
        out.append(f"X-Soak-Req-Trailer: {plan.rid}\r\n".encode()
                   + (b"Content-Length: 7\r\n" if r.random() < 0.5 else b""))
    out.append(b"\r\n")
    return b"".join(out)


def request_body(seed, rid, n):
    return random.Random(f"{seed}/body/{rid}").randbytes(n)


# The first line of every body the origin sends: the mix-up check reads it.
BODY_HEAD = re.compile(rb"(\d{3}) id=(\d+) attempt=(\d+) body=([0-9a-f]{64})\n")


def response_body(seed, rid, attempt, status, step, reqsha):
    """The body of `step` (a Step) answering attempt `attempt`: a first line
    naming status, request id, attempt and the request body's sha256, then
    step.n bytes of filler.  Only a match step (or a big one with its mark)
    holds MARK."""
    head = f"{status} id={rid} attempt={attempt} body={reqsha}\n".encode()
    n = step.n
    no_mark = b"x" * len(MARK_B)  # 'x' is not in MARK: no new match can form
    if step.kind == "big":
        fill = random.Random(f"{seed}/big/{rid}/{attempt}").randbytes(n).replace(MARK_B, no_mark)
        if step.mark:  # before any NUL (where the regex's view of a body ends)
            fill = MARK_B + fill[len(MARK_B):]
    elif step.kind == "match":
        # printable, so that no NUL hides the mark from the regex
        r = random.Random(f"{seed}/match/{rid}/{attempt}")
        fill = bytes(r.choices(b"abcdefghijklmnopqrstuvwxyz0123456789 \n", k=n))
        at = r.randrange(0, n + 1)
        fill = fill[:at] + MARK_B + fill[at:]
    elif n <= 0:
        fill = b""
    else:
        unit = hashlib.sha256(f"{seed}/resp/{rid}/{attempt}".encode()).digest()
        fill = (unit * (n // len(unit) + 1))[:n].replace(MARK_B, no_mark)
    return head + fill


# retry reasons in the access log: a status outcome is named by its status
# (policy_decide), so a retry_if_body match on a 200 is "200"
# ("lost": an attempt written on a pooled connection the origin was closing
# idle (--idle-close): it broke before any response byte, like a reset)
RETRY_REASON = {"503": "503", "rst": "reset", "fin": "reset", "stall": "timeout",
                "refused": "refused", "match": "200", "lost": "reset", "429": "429",
                "drop": "reset"}
FINAL_FAILURE = {"rst": (502, "connection_terminated"),
                 "drop": (502, "connection_terminated"),
                 "fin": (502, "connection_terminated"),
                 "lost": (502, "connection_terminated"),
                 "stall": (504, "http_response_timeout"),
                 "refused": (502, "connection_refused")}


class Prediction:
    # cut: the attempt whose 200 head (and object) the client got, 0 if
    # none; resumes: the continuations spliced in; truncated: the client's
    # body ends short, after (at most, with fin exactly) cut_at bytes,
    # broken at attempt cut_last (cut_how); ranges: whether a continuation
    # carries a Range (a resumable cut with resume = yes)
    # answer: the attempt whose response (or failure) the client got (the
    # attempts counted, hedges among them, may be more: a hedge that failed
    # or lost); hedge: a HedgeSim on the hedge routes, else None; hedge_won:
    # the response forwarded is a hedge's
    __slots__ = ("status", "attempts", "retries", "final_step", "proxy_error",
                 "origin_attempts", "held", "cut", "resumes", "truncated", "cut_at",
                 "cut_how", "cut_last", "ranges", "answer", "hedge", "hedge_won")


def resendable(plan):
    """May the request be sent again after something of it was sent?"""
    if streamed(plan):
        return False
    return (plan.method in DEFAULT_METHODS or plan.has_key
            or plan.route == "S")


def predict(plan, attempts=3, lost=frozenset(), resume=True, resume_max=3):
    """The outcome retryproxy(8) RETRY SEMANTICS prescribes for this plan (budget never binding).
    1xx heads and trailers change nothing; a big body never matches.
    `lost`: attempts that went out on a pooled connection the origin was
    closing idle (--idle-close, idle_lost): they never reached it, and broke
    before any response byte.  `resume`, `resume_max`: the keys (a cut:
    the body of a 200 broke after the client got some of it)."""
    if plan.route in HEDGE_ROUTES:
        return simulate_hedge(plan, attempts)
    pr = _predict(plan, attempts, lost, resume, resume_max)
    pr.answer = pr.attempts
    return pr


def _predict(plan, attempts, lost, resume, resume_max):
    pr = _new_prediction()
    for k in range(1, attempts + 1):
        step = plan.steps[k - 1]
        if k in lost:
            step = Step("lost")
        kind = step.kind
        if kind not in ("refused", "lost"):
            pr.origin_attempts.append(k)
        pr.attempts, pr.final_step = k, step
        if kind in CUT_KINDS:
            return _predict_cut(plan, pr, k, step, attempts, lost, resume, resume_max)
        if kind in ("ok", "slow", "big") or (kind == "match" and raw_lane(plan)):
            # (the raw lane does not apply retry_if_body: a match is an answer)
            pr.status, pr.proxy_error = 200, None
            return pr
        # a failure, a 503 or a body match: retryable (all classes are in
        # `errors`, 5xx retried, the mark is retry_if_body); may it be
        # re-sent?  connect failures: any method (nothing was sent).  (On
        # the last attempt a match is not even looked for: it is the answer.)
        may = kind == "refused" or resendable(plan)
        if kind == "429":
            # (retried only where `statuses` has it, after its Retry-After)
            may = may and plan.route in RETRY_429_ROUTES
            pr.status, pr.proxy_error = 429, None
        elif kind == "503":
            pr.status, pr.proxy_error = 503, None
        elif kind == "match":
            pr.status, pr.proxy_error = 200, None
        else:
            pr.status, pr.proxy_error = FINAL_FAILURE[kind]
        if not may or k == attempts:
            return pr
        pr.retries.append(RETRY_REASON[kind])
    return pr


def _predict_cut(plan, pr, k, step, attempts, lost, resume, resume_max):
    """The 200 of attempt k broke after some of its body reached the client:
    resumed (a Range attempt per continuation, an ordinary attempt of the
    policy) when its ETag is strong and resume = yes, while attempts last
    (and at most resume_max continuations spliced); else the client's
    response ends short (truncated)."""
    pr.status, pr.proxy_error = 200, None
    pr.cut, pr.truncated = k, True
    pr.cut_at, pr.cut_how, pr.cut_last = step.at, step.how, k
    if step.kind == "cutweak" or not resume:
        return pr
    pr.ranges = True
    reason = RETRY_REASON[step.how]  # a broken body: "reset"
    j = k
    while j < attempts and pr.resumes < resume_max:
        pr.retries.append(reason)
        j += 1
        s = Step("lost") if j in lost else plan.steps[j - 1]
        if s.kind != "lost":
            pr.origin_attempts.append(j)
        pr.attempts = j
        if s.kind in ("ok", "slow", "big"):  # a 206 with the rest: spliced
            pr.resumes += 1
            pr.truncated = False
            return pr
        if s.kind == "cut":  # a 206, spliced, that breaks again further on
            pr.resumes += 1
            pr.cut_at, pr.cut_how, pr.cut_last = s.at, s.how, j
            reason = RETRY_REASON[s.how]
            continue
        reason = RETRY_REASON[s.kind]  # 503, reset (rst, fin, lost), timeout
    return pr  # no attempt left: truncated


def held_prediction(pr, made):
    """hold = fail: the request met the hold before its attempt made + 1
    (the access log's attempts: those made before it): the client gets
    the proxy's 429 (the status that started the hold) with Retry-After
    and Proxy-Status "origin held" at once, and the origin saw only the
    attempts before.  None when the policy would not have made that attempt."""
    if not isinstance(made, int) or not 0 <= made < pr.attempts:
        return None
    h = _new_prediction()
    h.status, h.proxy_error, h.held = 429, None, True
    h.attempts, h.final_step = made, Step("held")
    h.answer = made
    h.retries = pr.retries[:made]
    h.origin_attempts = [a for a in pr.origin_attempts if a <= made]
    return h


def idle_lost(args, plan, entry, seen):
    """With --idle-close: the attempts the access log counts that never
    reached the origin although the script sends them there (seen: the
    attempts it saw).  Such an attempt was written on a pooled connection
    the origin closed idle just then (the idle-close race); whether that
    is plausible, check() says (conn=warm or reused, a stale re-send
    already spent)."""
    n = entry.get("attempts")
    if not args.idle_frac or not isinstance(n, int):
        return frozenset()
    return frozenset(k for k in range(1, min(n, 3) + 1)
                     if plan.steps[k - 1].kind != "refused" and k not in seen)


SMALL_LAG = 0.01  # s


class LagMonitor:
    """How late an asyncio loop (and the process) wakes up: a 10 ms sleep in a
    loop; lags above 100 ms are kept with their time.  A late origin turns a
    scripted prompt answer into a per_try_timeout, so a mismatch that follows
    a late origin is the harness's, not the daemon's: the report says so."""

    def __init__(self):
        self.max = 0.0
        self.events = []
        self.small = []  # lags above SMALL_LAG: (t, lag), for the hold check
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
            if lag > SMALL_LAG:
                self.small.append((t, lag))

    def near(self, t, window=1.0):
        return [lag for t0, lag in self.events if t - window <= t0 <= t + window]

    def worst_between(self, t0, t1):
        """The longest lag (s) that overlaps t0 .. t1 (of those above SMALL_LAG)."""
        return max((lag for t, lag in self.small if t <= t1 and t + 0.01 + lag >= t0),
                   default=0.0)


# ---------------------------------------------------------------------------
# The origin: asyncio, in a child process; hits come back over a pipe.
# ---------------------------------------------------------------------------
# range: the N of a Range: bytes=N- it carried (-1: another Range), if_range
# its If-Range; cut_end: where the origin broke the body of a cut step (the
# object offset it had written up to), else None; cut_whole: the object
# offset its whole chunks reached (chunked: a chunk cut short is never
# passed on, libevent hands on whole chunks; Content-Length: cut_end);
# responded: it wrote its answer to the end; t_resp: when it wrote the
# response head; ended: when a stall or late step saw the proxy end the
# connection (EOF or reset) before it answered
HIT_FIELDS = ("rid", "attempt", "method", "body_len", "sha", "conn", "seq",
              "step", "key", "t", "framing", "leak", "port", "t_head", "range",
              "if_range", "cut_end", "cut_whole", "responded", "t_resp", "ended")
Hit = collections.namedtuple("Hit", HIT_FIELDS)
# A 429 with Retry-After the origin sent: the port (its origin), when its
# head was written (monotonic), Retry-After (s), whose answer it was.
HOLD_FIELDS = ("port", "t", "ra", "rid", "attempt")
HoldSent = collections.namedtuple("HoldSent", HOLD_FIELDS)


IDLE_CLOSE_FIELDS = ("cid", "seq", "limit", "idle", "discarded", "rid", "attempt", "t")
IdleClose = collections.namedtuple("IdleClose", IDLE_CLOSE_FIELDS)
# what the origin had read of a request when it closed its connection idle:
# the request id (its target) and, once that far, the attempt
DISCARDED_RID = re.compile(rb"^\S+ \S*/soak/(\d+)/")
DISCARDED_ATTEMPT = re.compile(rb"\r\nx-retry-attempt:[ \t]*(\d+)\r\n", re.I)


class Origin:
    def __init__(self, seed, socks, stall_s, idle_close=(0.0, 0.0), late_s=0.3,
                 quiet_ports=(), tls=None):
        self.seed = seed
        self.socks = socks
        # (cert, key, ports): the ports served over TLS only, with that pair
        self.tls = tls
        self.stall_s = stall_s
        self.late_s = late_s  # a late step's head comes this long after its request
        self.quiet_ports = frozenset(quiet_ports)  # (no idle close there)
        self.idle_frac, self.idle_max = idle_close
        self.hits = []
        self.idle_closes = []
        self.holds = []
        self.errors = []
        self.nconn = 0

    def plan(self, rid):
        # no cache: thousands of live objects make every full collection slow
        return make_plan(self.seed, rid)

    async def serve(self, reader, writer):
        self.nconn += 1
        cid = self.nconn
        seq = 0
        port = writer.get_extra_info("sockname")[1]
        # --idle-close: a share of the connections, drawn per connection,
        # has a keep-alive timeout of its own (log-uniform in IDLE_MIN ..
        # idle_max s): kept idle that long after a response, it is closed,
        # whatever arrives meanwhile.
        ir = random.Random(f"{self.seed}/idleconn/{cid}")
        idle_s = None
        if ir.random() < self.idle_frac and port not in self.quiet_ports:
            idle_s = self.idle_max if self.idle_max <= IDLE_MIN else \
                math.exp(ir.uniform(math.log(IDLE_MIN), math.log(self.idle_max)))
        try:
            while True:
                t_idle = time.monotonic()
                try:
                    if seq and idle_s is not None:
                        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), idle_s)
                    else:
                        head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.TimeoutError:
                    self.idle_close(cid, seq, idle_s, t_idle, reader)
                    return
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                t_head = time.monotonic()  # (a long body may come long after)
                seq += 1
                lines = head[:-4].decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                hdrs = {}
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    hdrs[k.strip().lower()] = v.strip()
                sha = hashlib.sha256()
                blen = 0
                # what the proxy must not pass on of a chunked upload: its
                # chunk extensions and trailer fields (as either kind of field)
                leak = []
                if "x-soak-req-trailer" in hdrs:
                    leak.append("X-Soak-Req-Trailer as a header field")
                if "chunked" in hdrs.get("transfer-encoding", "").lower():
                    framing = "chunked"
                    while True:
                        line = await reader.readuntil(b"\r\n")
                        if b";" in line:
                            leak.append(f"chunk extension {line[:40]!r}")
                        size = int(line.split(b";")[0], 16)
                        if size == 0:
                            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                                leak.append(f"trailer field {line[:40]!r}")
                            break
                        data = await reader.readexactly(size + 2)
                        sha.update(data[:-2])
                        blen += size
                else:
                    framing = "length" if "content-length" in hdrs else "none"
                    n = int(hdrs.get("content-length", "0"))
                    if n:
                        data = await reader.readexactly(n)
                        sha.update(data)
                        blen = n
                keep = await self.answer(reader, writer, cid, seq, method, target,
                                         hdrs, blen, sha.hexdigest(), framing,
                                         "; ".join(leak), port, t_head)
                if not keep:
                    return
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            return
        except asyncio.CancelledError:  # the origin stops: nothing to report
            return
        except Exception as e:  # noqa: BLE001 - reported, never silent
            self.errors.append(f"conn {cid}: {e!r}")
        finally:
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass

    def note(self, idx, **kw):
        """Set fields of hit idx (HIT_FIELDS)."""
        h = list(self.hits[idx])
        for k, val in kw.items():
            h[HIT_FIELDS.index(k)] = val
        self.hits[idx] = tuple(h)

    def idle_close(self, cid, seq, limit, t_idle, reader):
        """Record a close of an idle kept connection (the finally of serve
        closes it): what of a request the origin had read and now drops
        with it (the StreamReader's buffer; a private name, but the only
        view of it), which request that was.  Bytes that arrive after the
        close are refused by the kernel (RST) and never seen here."""
        t = time.monotonic()
        buf = bytes(getattr(reader, "_buffer", b""))
        m = DISCARDED_RID.match(buf)
        a = DISCARDED_ATTEMPT.search(buf)
        self.idle_closes.append((cid, seq, limit, t - t_idle, len(buf),
                                 int(m.group(1)) if m else None,
                                 int(a.group(1)) if a else None, t))

    async def answer(self, reader, writer, cid, seq, method, target, hdrs, blen, sha,
                     framing, leak, port, t_head):
        path = target.split("://", 1)[1] if "://" in target else target
        if "://" in target:
            path = "/" + path.split("/", 1)[1] if "/" in path else "/"
        parts = path.split("?")[0].split("/")
        try:
            # /soak/ID/... or, on route M (S), /m/soak/ID/... (/s/soak/ID/...)
            i = 2 if parts[1] in ("m", "s") else 1
            assert parts[i] == "soak"
            rid = int(parts[i + 1])
            attempt = int(hdrs["x-retry-attempt"])
        except Exception:  # noqa: BLE001
            self.errors.append(f"unexpected request {method} {target} {hdrs}")
            writer.write(b"HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n")
            return True
        plan = self.plan(rid)
        step = plan.steps[attempt - 1] if 1 <= attempt <= 3 else Step("bad-attempt")
        kind = step.kind
        idx = len(self.hits)
        rstart = None
        if "range" in hdrs:
            m = RANGE_RE.fullmatch(hdrs["range"])
            rstart = int(m.group(1)) if m else -1
        # plain tuples of atomic values: the collector untracks them
        self.hits.append((rid, attempt, method, blen, sha, cid, seq, kind,
                          hdrs.get("idempotency-key"), time.monotonic(), framing, leak,
                          port, t_head, rstart, hdrs.get("if-range"), None, None, False,
                          None, None))
        # a continuation: Range: bytes=N- with If-Range the strong ETag of a
        # cut step of this request's (the object it served)
        obj_k = None
        if rstart is not None and rstart >= 0:
            m = IF_RANGE_RE.fullmatch(hdrs.get("if-range", ""))
            if m and int(m.group(1)) == rid and 1 <= int(m.group(2)) <= 3 \
                    and plan.steps[int(m.group(2)) - 1].kind == "cut":
                obj_k = int(m.group(2))
        if kind in CUT_KINDS or (obj_k is not None and kind in ("ok", "slow", "big")):
            if obj_k is None:  # the original 200 (or a cut step sent without range)
                obj_k, rstart = attempt, None
            keep = await self.send_object(writer, idx, rid, attempt, obj_k, step,
                                          plan.steps[obj_k - 1], rstart)
            if keep:
                self.note(idx, responded=True)
            return keep
        if kind in ("late", "drop"):
            # the head (late) or a reset (drop) after late_s, unless the
            # proxy ends the connection first
            try:
                data = await asyncio.wait_for(reader.read(1), self.late_s)
            except asyncio.TimeoutError:
                data = None
            except ConnectionError:
                data = b""
            if data is not None:
                self.note(idx, ended=time.monotonic())
                return False
            if kind == "drop":
                s = writer.get_extra_info("socket")
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return False
        if kind in RESPONSE_KINDS:
            status = STEP_STATUS.get(kind, 200)
            body = response_body(self.seed, rid, attempt, status, step, sha)
            await self.respond(writer, rid, attempt, status, step, body, port, idx)
            self.note(idx, responded=True)
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
                data = b""
            if data is None:  # the proxy did not time out: answer 200
                body = response_body(self.seed, rid, attempt, 200, Step("ok"), sha)
                self.note(idx, t_resp=time.monotonic())
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Soak-Id: %d\r\n"
                             b"X-Soak-Attempt: %d\r\n\r\n" % (len(body), rid, attempt) + body)
                await writer.drain()
                self.note(idx, responded=True)
                return True
            self.note(idx, ended=time.monotonic())
            return False
        # an attempt number beyond the script
        writer.write(b"HTTP/1.1 500 Unexpected Attempt\r\nContent-Length: 0\r\n"
                     b"X-Soak-Id: %d\r\nX-Soak-Attempt: %d\r\n\r\n" % (rid, attempt))
        return True

    async def send_object(self, writer, idx, rid, attempt, obj_k, step, obj_step, start):
        """The object of the cut step obj_step (attempt obj_k): all of it
        (start None: 200) or from byte `start` (206 with Content-Range), with
        Content-Length or chunked (step.chunked); a cut step breaks it at
        its object offset step.at (rst or fin), recorded in the hit
        (cut_end).  A slow step paces it in 8 pieces over its planned time.
        True if the connection may go on."""
        obj = cut_object(self.seed, rid, obj_k, obj_step)
        total = len(obj)
        weak = obj_step.kind == "cutweak"
        head = [f"X-Soak-Id: {rid}", f"X-Soak-Attempt: {attempt}",
                f"ETag: {etag(rid, obj_k, weak)}", "Accept-Ranges: bytes"]
        if start is None:
            start = 0
            head.insert(0, "HTTP/1.1 200 OK")
        elif start >= total:
            writer.write(("\r\n".join(["HTTP/1.1 416 Range Not Satisfiable", *head,
                                       f"Content-Range: bytes */{total}",
                                       "Content-Length: 0"]) + "\r\n\r\n").encode())
            await writer.drain()
            return True
        else:
            head.insert(0, "HTTP/1.1 206 Partial Content")
            head.append(f"Content-Range: bytes {start}-{total - 1}/{total}")
        head.append("Transfer-Encoding: chunked" if step.chunked
                    else f"Content-Length: {total - start}")
        out = [("\r\n".join(head) + "\r\n\r\n").encode()]
        body = obj[start:]
        limit = step.at - start if step.kind in CUT_KINDS else len(body)
        broke = limit < len(body)
        whole = limit
        if step.chunked:
            wire = random.Random(f"{self.seed}/wire/{rid}/{attempt}")
            i = 0
            while i < len(body):
                piece = body[i:i + wire.randrange(1, 64 * KiB + 1)]
                if i + len(piece) > limit:  # the break falls in this chunk
                    out.append(b"%x\r\n%s" % (len(piece), piece[:limit - i]))
                    whole = i
                    break
                out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
                i += len(piece)
            else:
                out.append(b"0\r\n\r\n")
        else:
            out.append(body[:limit])
        data = b"".join(out)
        if step.kind == "slow":
            piece = max(1, len(data) // 8)
            pause = step.n / step.rate / 8
            for i in range(0, len(data), piece):
                if i:
                    await asyncio.sleep(pause)
                writer.write(data[i:i + piece])
                await writer.drain()
        else:
            writer.write(data)
        if not broke:
            await writer.drain()
            return True
        # all of it handed to the kernel, then the break
        await self.flushed(writer)
        h = list(self.hits[idx])
        h[HIT_FIELDS.index("cut_end")] = start + limit
        h[HIT_FIELDS.index("cut_whole")] = start + whole
        self.hits[idx] = tuple(h)
        if step.how == "rst":
            s = writer.get_extra_info("socket")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            writer.close()
        return False

    @staticmethod
    async def flushed(writer):
        """Until all that was written is in the kernel's hands, and then on
        the proxy's side (see sent)."""
        if writer.get_extra_info("ssl_object") is None:
            writer.transport.set_write_buffer_limits(0)
            await writer.drain()
            await Origin.sent(writer)
            return
        # Over TLS a high-water mark of 0 would pause the writer for good
        # (asyncio's TLS transport pauses at a size >= the mark, 0 included,
        # and looks again only at the next write): wait for its buffer, then
        # for its socket transport's (a private name, but the only view of
        # it), to be empty, as the plain transport's drain does
        await writer.drain()
        sock_tr = getattr(getattr(writer.transport, "_ssl_protocol", None), "_transport", None)
        while writer.transport.get_write_buffer_size() or (
                sock_tr is not None and sock_tr.get_write_buffer_size()):
            if writer.transport.is_closing():
                return
            await asyncio.sleep(0.001)
        await Origin.sent(writer)

    @staticmethod
    async def sent(writer, limit_s=1.0):
        """Until the kernel holds nothing unacknowledged (SIOCOUTQ 0): the
        bytes are in the proxy's socket, where a reset that follows does
        not take them (it does take what is still queued here, unsent).
        Over TLS a break's last record went out in its own send, which the
        kernel may hold a moment (autocorking) -- reset then, the proxy
        never saw it, and a soak predicting those bytes failed now and
        then (--seed 99, id 1546).  At most limit_s: a proxy that reads
        nothing (its client stalled) leaves them queued, as before."""
        s = writer.get_extra_info("socket")
        if s is None:
            return
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            try:
                left = struct.unpack("i", fcntl.ioctl(s.fileno(), SIOCOUTQ, b"\0" * 4))[0]
            except OSError:
                return
            if left == 0:
                return
            await asyncio.sleep(0.001)

    async def respond(self, writer, rid, attempt, status, step, body, port, idx):
        """Write the response of a step: its 1xx heads (in the write of the
        final head, or each apart after a pause, the first perhaps cut in
        two), the head (Content-Length, or chunked with pieces of random
        size and perhaps trailer fields) and the body (slow: paced).  A 429
        says Retry-After: HOLD_RA, and when its head went out is kept (the
        hold it starts)."""
        wire = random.Random(f"{self.seed}/wire/{rid}/{attempt}")
        head = [f"HTTP/1.1 {status} {REASON_PHRASE[status]}",
                f"X-Soak-Id: {rid}", f"X-Soak-Attempt: {attempt}",
                "Transfer-Encoding: chunked" if step.chunked else f"Content-Length: {len(body)}"]
        if status == 429:
            head.append(f"Retry-After: {HOLD_RA}")
        head = ("\r\n".join(head) + "\r\n\r\n").encode()
        interim = [INTERIM_HEADS[code] for code in step.interim]
        if step.pause:
            if step.split:
                cut = wire.randrange(1, len(interim[0]))
                interim[0:1] = [interim[0][:cut], interim[0][cut:]]
            for piece in interim:
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(step.pause)
            interim = []
        first = b"".join(interim) + head
        if status == 429:
            self.holds.append((port, time.monotonic(), HOLD_RA, rid, attempt))
        self.note(idx, t_resp=time.monotonic())
        if step.kind == "slow":
            writer.write(first)
            rate = step.rate
            piece = max(1, len(body) // 8)
            for i in range(0, len(body), piece):
                if i:
                    await asyncio.sleep(piece / rate)
                writer.write(body[i:i + piece])
                await writer.drain()
        elif step.chunked:
            out = [first]
            top = 64 * KiB if step.kind == "big" else 2 * KiB
            i = 0
            while i < len(body):
                piece = body[i:i + wire.randrange(1, top + 1)]
                out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
                i += len(piece)
            out.append(b"0\r\n" + (trailer_block(rid) if step.trailers else b"") + b"\r\n")
            writer.write(b"".join(out))
        else:
            writer.write(first + body)
        await writer.drain()

    def tls_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.tls[0], self.tls[1])
        return ctx

    async def main(self, conn):
        ctx = self.tls_context() if self.tls else None
        servers = []
        for sock in self.socks:
            kw = {}
            if ctx is not None and sock.getsockname()[1] in self.tls[2]:
                # A fin (and an idle close) sends close_notify and waits for
                # the proxy's close_notify or FIN before the FIN: bounded,
                # so that a proxy that never answers cannot keep the
                # descriptor for asyncio's default 30 s
                kw = dict(ssl=ctx, ssl_shutdown_timeout=10)
            servers.append(await asyncio.start_server(self.serve, sock=sock, backlog=1024,
                                                      limit=256 * KiB, **kw))
        loop = asyncio.get_running_loop()
        lag = LagMonitor()
        lag_task = asyncio.create_task(lag.run())
        stop = loop.create_future()
        loop.add_reader(conn.fileno(), lambda: stop.done() or stop.set_result(None))
        conn.send("ready")
        await stop
        loop.remove_reader(conn.fileno())
        conn.recv()
        for server in servers:
            server.close()
        lag_task.cancel()
        conn.send((self.nconn, self.errors, self.hits, self.idle_closes,
                   (lag.max, lag.events, lag.gc_max, lag.small), self.holds))


def origin_process(seed, socks, stall_s, idle_close, late_s, quiet_ports, tls, conn):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(Origin(seed, socks, stall_s, idle_close, late_s, quiet_ports, tls).main(conn))


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


def set_keys(args):
    """The [default] keys --set gives, in order (the last one of a key wins)."""
    keys = {}
    for kv in args.set:
        k, _, val = kv.partition("=")
        keys[k.strip()] = val.strip()
    return keys


def resume_on(args):
    """Does the run have resume = yes (the default) and resume_max > 0?"""
    return (set_keys(args).get("resume", "yes").lower() not in ("no", "false", "off", "0")
            and resume_max(args) > 0)


def resume_max(args):
    """The run's resume_max (continuations per response; default 3)."""
    return int(set_keys(args).get("resume_max", "3"))


def warm_reuse_on(args):
    """Does the run have warm_reuse = yes (the default)?"""
    return set_keys(args).get("warm_reuse", "yes").lower() not in ("no", "false", "off", "0")


def route_keys(args):
    """--route-set: {route name: {key: value}} (the last one of a key wins)."""
    keys = collections.defaultdict(dict)
    for rkv in args.route_set:
        name, _, kv = rkv.partition(":")
        k, _, val = kv.partition("=")
        keys[name.strip()][k.strip()] = val.strip()
    return keys


def daemon_config(args, work, origin_port, closed, hold_ports, hedge_ports, tls_ports, trust):
    policy = {"attempts": "3", "start_timeout": "10ms",
              "per_try_timeout": f"{args.per_try_timeout_ms}ms",
              "connect_timeout": f"{args.per_try_timeout_ms}ms",
              "retry_budget": "100%", "attempt_header": "X-Retry-Attempt"}
    # (warm_reuse: the daemon's default, yes, unless --set says otherwise)
    policy.update(set_keys(args))
    default = "".join(f"{k} = {val}\n" for k, val in policy.items())
    rkeys = route_keys(args)

    def hedge_keys(**more):
        return dict(hedge_after=f"{hedge_ms(args)}ms",
                    per_try_timeout=f"{H_TIMEOUT * hedge_ms(args)}ms",
                    retry_budget_min="1000000", **more)

    def keys(name, **base):
        """The keys of route `name`'s section (--route-set overrides or adds)."""
        base.update(rkeys.get(name, {}))
        return "".join(f"{k} = {val}\n" for k, val in base.items())

    def config(port, admin):
        route_m = "" if ALL_RAW else f"""; route M: a 200 whose body (up to 64 KiB) holds the mark is retried
[route 127.0.0.1:{origin_port}/m/]
{keys('M', retry_if_body=MARK)}
"""
        hedge_routes = "" if ALL_RAW else f"""; routes E, E2, EF, ER: hedged requests.  hedge_after is a third of the
; soak's per_try_timeout, their per_try_timeout twice it; a hedge is a
; retry-budget token: the budget may not bind here either
[route 127.0.0.1:{hedge_ports['E']}]
{keys('E', **hedge_keys())}
[route 127.0.0.1:{hedge_ports['E2']}]
{keys('E2', **hedge_keys(hedge_max="2"))}
; EF: attempts 2 and 3, a hedge among them, go to E (the next fallback)
[route 127.0.0.1:{hedge_ports['EF']}]
{keys('EF', **hedge_keys(fallbacks=f"http://127.0.0.1:{hedge_ports['E']}"))}
; ER: attempt 2 goes to a closed port (a hedge there is refused), 3 to E
[route 127.0.0.1:{hedge_ports['ER']}]
{keys('ER', **hedge_keys(fallbacks=f"http://127.0.0.1:{closed['X']}, "
                                   f"http://127.0.0.1:{hedge_ports['E']}"))}"""
        tls_m = "" if ALL_RAW else f"""[route 127.0.0.1:{tls_ports['T']}/m/]
{keys('TM', tls="yes", retry_if_body=MARK)}
"""
        tls_routes = f"""; routes T, TM, TS: the origin again, on a port of its own that speaks
; TLS only (the twins of the origin's port, M and S); TA, TB, TC: refused
; ports in front of it, as A, B, C are
[route 127.0.0.1:{tls_ports['T']}]
{keys('T', tls="yes")}
{tls_m}[route 127.0.0.1:{tls_ports['T']}/s/]
{keys('TS', tls="yes", methods="*")}
; TW: W's twin, a TLS port of its own
[route 127.0.0.1:{tls_ports['TW']}]
{keys('TW', tls="yes")}
[route 127.0.0.1:{tls_ports['TA']}]
{keys('TA', tls="yes", fallbacks=f"https://127.0.0.1:{tls_ports['T']}",
      retry_budget_min="1000000")}
[route 127.0.0.1:{tls_ports['TB']}]
{keys('TB', tls="yes", fallbacks=f"https://127.0.0.1:{closed['X']}, "
                                 f"https://127.0.0.1:{tls_ports['T']}",
      retry_budget_min="1000000")}
; (C is on the default route, whose budget its few requests share; alone,
; every one of them retrying twice, TC's would bind)
[route 127.0.0.1:{tls_ports['TC']}]
{keys('TC', tls="yes", retry_budget_min="1000000")}
"""
        return (f"""[proxy]
listen = 127.0.0.1:{port}
workers = {args.workers}
access_log = {work / 'access.log'}
access_log_format = json
admin = 127.0.0.1:{admin}
shutdown_timeout = 5s
log_level = {__import__("os").environ.get("SOAK_LOG_LEVEL", "warn")}
; the replay buffer: larger uploads stream (the raw lane), re-sent only
; when nothing of them left
max_request_body = {MAX_REQUEST_BODY // KiB}K
; (few: a descriptor limit of 1,024 then leaves pipes, and the raw lane
; splices long bodies of known length as installed daemons do)
max_connections = 256

[tls]
; the soak's own CA (make_certs), which signed the TLS origin's certificate
trust = {trust}

[default]
{default}
; every request to these ports has one or two refused attempts, so every
; one retries: the budget would bind, which is not what this test is about
[route 127.0.0.1:{closed['A']}]
{keys('A', fallbacks=f"http://127.0.0.1:{origin_port}", retry_budget_min="1000000")}
[route 127.0.0.1:{closed['B']}]
{keys('B', fallbacks=f"http://127.0.0.1:{closed['X']}, http://127.0.0.1:{origin_port}",
      retry_budget_min="1000000")}
{route_m}; route S: every method may be re-sent (PROPFIND like GET)
[route 127.0.0.1:{origin_port}/s/]
{keys('S', methods="*")}
; route H: a 429 with Retry-After holds the origin (this port) for every
; worker: new attempts to it wait for the end; the 429 itself is retried
; after its Retry-After
[route 127.0.0.1:{hold_ports['H']}]
{keys('H', hold="wait", statuses="429")}
; route F: the same, hold = fail: a request that meets the hold gets the
; 429 at once (Retry-After: the seconds left); 429 is not retried
[route 127.0.0.1:{hold_ports['F']}]
{keys('F', hold="fail")}
{tls_routes}{hedge_routes}""")
    return config


# ---------------------------------------------------------------------------
# The clients
# ---------------------------------------------------------------------------
class BodyView:
    """What the check needs of a received body, without keeping the big ones:
    length, sha256, the first bytes, and the whole body up to KEEP_BODY or
    else the sha256 of each BLOCK (to say where a long one differs)."""
    BLOCK = 16 * KiB
    KEEP_BODY = 128 * KiB
    __slots__ = ("len", "sha", "head", "full", "blocks")

    def __init__(self, body=b""):
        self.len = len(body)
        self.sha = hashlib.sha256(body).digest()
        self.head = body[:256]
        if len(body) <= self.KEEP_BODY:
            self.full, self.blocks = body, None
        else:
            self.full = None
            self.blocks = [hashlib.sha256(body[i:i + self.BLOCK]).digest()
                           for i in range(0, len(body), self.BLOCK)]

    def equals(self, want):
        return self.len == len(want) and self.sha == hashlib.sha256(want).digest()

    def differs(self, want):
        """Where this body (not `want`) parts from it, in words."""
        if self.full is not None:
            got = self.full
            at = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                      min(len(got), len(want)))
            where = f"first difference at byte {at}"
        else:
            bl = self.BLOCK
            at = next((b * bl for b, h in enumerate(self.blocks)
                       if hashlib.sha256(want[b * bl:(b + 1) * bl]).digest() != h), self.len)
            where = f"first difference in the {bl // KiB} KiB block at byte {at}"
        what = ""
        if self.len < len(want) and hashlib.sha256(want[:self.len]).digest() == self.sha:
            what = f"; truncated: the first {self.len} B of the {len(want)} B wanted"
        elif self.len > len(want) and self.full is not None and self.full.startswith(want):
            what = f"; {self.len - len(want)} B past the body wanted"
        return f"{self.len} B, want {len(want)} B; {where}{what}"


class Result:
    __slots__ = ("status", "headers", "pairs", "trailers", "interim", "body", "error",
                 "elapsed", "reused", "after", "send_error", "t0", "t1", "cut")


async def read_response(reader):
    """(status, headers, header fields, body, trailer fields, 1xx statuses,
    cut): header names lowercased, `headers` a dict (the last of a name
    wins), the fields lists of (name, value) pairs; 1xx heads (but 101) are
    read past, like any client would, and returned (the proxy drops them).
    A body that ends short (the connection closed or reset before its
    Content-Length or last chunk) is returned as far as it came, with cut
    saying how it ended (else None)."""
    interim = []
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        pairs = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            pairs.append((k.strip().lower(), v.strip()))
        if 100 <= status < 200 and status != 101:
            interim.append(status)
            continue
        break
    hdrs = dict(pairs)
    trailers = []
    parts = []
    cut = None
    try:
        if "chunked" in hdrs.get("transfer-encoding", "").lower():
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                        k, _, v = line.decode("latin-1").partition(":")
                        trailers.append((k.strip().lower(), v.strip()))
                    break
                try:
                    parts.append((await reader.readexactly(size + 2))[:-2])
                except asyncio.IncompleteReadError as e:
                    parts.append(e.partial[:size])
                    raise
        elif "content-length" in hdrs:
            left = int(hdrs["content-length"])
            while left > 0:
                data = await reader.read(min(left, 256 * KiB))
                if not data:
                    raise asyncio.IncompleteReadError(b"", left)
                parts.append(data)
                left -= len(data)
        else:
            parts.append(await reader.read())
            hdrs["connection"] = "close"
    except asyncio.IncompleteReadError:
        cut = "closed"
    except ConnectionError as e:
        cut = f"{type(e).__name__}"
    return status, hdrs, pairs, b"".join(parts), trailers, interim, cut


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
        port = self.ports[tls_port_key(plan.route) if plan.tls else plan.route]
        return f"http://127.0.0.1:{port}{plan.path}"

    def request_bytes(self, plan, body):
        url = self.url(plan)
        version = "HTTP/1.0" if plan.client == "1.0" else "HTTP/1.1"
        hdrs = [f"{plan.method} {url} {version}", f"Host: {url.split('/')[2]}",
                "User-Agent: retryproxy-soak", f"X-Soak-Id: {plan.rid}"]
        if plan.framing == "chunked":
            hdrs.append("Transfer-Encoding: chunked")
            body = chunk_pieces(self.args.seed, plan, body)
        elif plan.framing == "length":
            hdrs.append(f"Content-Length: {len(body)}")
        if plan.has_key:
            hdrs.append(f"Idempotency-Key: soak-{self.args.seed}-{plan.rid}")
        if plan.upgrade:
            hdrs.append("Upgrade: websocket")
            hdrs.append("Connection: Upgrade" + (", close" if plan.close else ""))
        elif plan.close:
            hdrs.append("Connection: close")
        return ("\r\n".join(hdrs) + "\r\n\r\n").encode() + body

    async def one(self, plan, conn):
        body = request_body(self.args.seed, plan.rid, plan.body_len) if plan.body_len else b""
        self.sha[plan.rid] = hashlib.sha256(body).hexdigest()
        data = self.request_bytes(plan, body)
        del body
        res = Result()
        res.status, res.headers, res.body, res.error = 0, {}, BodyView(), None
        res.pairs, res.trailers, res.interim = [], [], []
        res.after = res.send_error = res.cut = None
        # an HTTP/1.0 or half-closing client has a connection of its own
        own = plan.client != "1.1"
        if own:
            conn = [None, None]
        t0 = time.monotonic()
        res.reused = conn[0] is not None
        sender = None
        try:
            if conn[0] is None:
                conn[:] = await asyncio.open_connection("127.0.0.1", self.proxy_port,
                                                        limit=256 * KiB)
            reader, writer = conn

            async def send():
                # (apart from reading: an answer may come before the body is
                # all sent, e.g. a streamed upload whose attempts all failed)
                writer.write(data)
                await writer.drain()
                if plan.client == "halfclose":
                    writer.write_eof()

            sender = asyncio.create_task(send())
            (res.status, res.headers, res.pairs, body, res.trailers,
             res.interim, res.cut) = await asyncio.wait_for(read_response(reader),
                                                            self.args.request_timeout)
            res.body = BodyView(body)
            del body
            if res.cut is not None:
                # ended short: the connection is closed (EOF or reset)
                res.after = "closed"
            elif own:
                # then the proxy closes: EOF, nothing more
                try:
                    more = await asyncio.wait_for(reader.read(1), CLOSE_WAIT)
                    res.after = "closed" if more == b"" else f"more bytes {more!r}"
                except asyncio.TimeoutError:
                    res.after = f"still open {CLOSE_WAIT:g} s after the response"
                except (ConnectionError, OSError):
                    res.after = "closed"  # (reset after the response: closed too)
            if sender.done():
                e = sender.exception()
                if e is not None:
                    res.send_error = f"{type(e).__name__}: {e}"
            else:
                res.send_error = "the request was not all sent when the response came"
            if (own or plan.close or res.send_error is not None or res.cut is not None
                    or res.headers.get("connection", "").lower() == "close"):
                writer.close()
                conn[:] = [None, None]
        except asyncio.TimeoutError:
            res.error = f"no complete response within {self.args.request_timeout}s"
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError,
                IndexError) as e:
            res.error = f"{type(e).__name__}: {e}"
            if sender is not None and sender.done() and sender.exception() is not None:
                res.error += (f" (sending the request: {type(sender.exception()).__name__}: "
                              f"{sender.exception()})")
        if sender is not None and not sender.done():
            sender.cancel()
        if sender is not None:
            try:
                await sender
            except BaseException:  # noqa: BLE001 - said above, or cancelled
                pass
        if res.error is not None and conn[0] is not None:
            conn[1].close()
            conn[:] = [None, None]
        res.t0, res.t1 = t0, time.monotonic()
        res.elapsed = res.t1 - t0
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
def check(args, ids, plans, results, shas, hits, log_entries, lags, idle_closes=(),
          holds_sent=(), ports=None):
    """Violations (list of strings), counters for the summary and the ids
    of requests met by an idle close (to replay: --seed S --ids ...)."""
    origin_lag, client_lag = lags
    tol = args.hold_tolerance_ms / 1000
    # the holds the origin asked for, by route: (from, to) on its clock
    hold_port = {r: (ports or {}).get(r) for r in HOLD_ROUTES}
    windows = {r: sorted((w.t, w.t + w.ra) for w in holds_sent if w.port == hold_port[r])
               for r in HOLD_ROUTES}

    def met_hold(route, t0, t1):
        """Was route's origin held (as the origin asked) at some time
        between t0 and t1?  (The proxy reads a 429 a little after it was
        written, so its hold ends a little later: the tolerance.)"""
        return any(a <= t1 and t0 <= b + tol for a, b in windows.get(route, ()))
    v = []
    c = collections.Counter()
    met = collections.defaultdict(list)
    warm = warm_reuse_on(args)
    by_rid = collections.defaultdict(list)
    for h in hits:
        by_rid[h.rid].append(h)
    # the requests the origin had read (some of) when it closed idle
    dropped = {(x.rid, x.attempt) for x in idle_closes if x.rid is not None}
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
        msg = f"id={rid}: {what}\n    plan: {plans[rid].describe()}{note}"
        if plans[rid].route in HEDGE_ROUTES:
            held_back[rid].append(msg)  # (until the harness's lag is known)
        else:
            v.append(msg)

    # The hedge routes' timings lie a hedge unit apart: a request during which
    # the origin's (or the clients') event loop was late by half a unit may
    # have seen its events in another order (a hedge's answer held up by the
    # origin): its violations are counted apart, with its id, not as the
    # daemon's.  (The daemon's own lateness the harness cannot see.)
    held_back = collections.defaultdict(list)

    for rid in ids:
        plan = plans[rid]
        ents = logs.get(rid, [])
        entry = ents[0] if len(ents) == 1 else {}
        hs = sorted(by_rid.get(rid, []), key=lambda h: h.t)
        # (no idle close on the hedge routes' ports: an attempt missing there
        # is the daemon's)
        unseen = frozenset() if plan.route in HEDGE_ROUTES else \
            idle_lost(args, plan, entry, {h.attempt for h in hs})
        pr = predict(plan, lost=unseen, resume=resume_on(args), resume_max=resume_max(args))
        res = results.get(rid)
        if plan.route in HOLD_ROUTES:
            c["route " + plan.route] += 1
        # -- hold: an answer of the proxy's for a held origin (hold = fail)
        if entry.get("error") == "origin_held":
            c["held answered"] += 1
            if HOLD_ROUTES.get(plan.route) != "fail":
                bad(rid, f"access log error=origin_held on route {plan.route} "
                         f"(hold = {HOLD_ROUTES.get(plan.route, 'off')}): {entry}")
            elif (hp := held_prediction(pr, entry.get("attempts"))) is None:
                bad(rid, f"access log error=origin_held after attempts="
                         f"{entry.get('attempts')}, but the policy makes {pr.attempts}")
            else:
                pr = hp
                c["held answered after an attempt"] += pr.attempts > 0
                # (a stale re-send, not an attempt, may be what met the hold:
                # its first send, on a reused connection the script broke
                # after the origin read it, is then the next attempt's hit)
                nxt = [h for h in hs if h.attempt == pr.attempts + 1]
                if len(nxt) == 1 and nxt[0].seq > 1 and nxt[0].step in ("rst", "fin") \
                        and resendable(plan):
                    pr.origin_attempts.append(pr.attempts + 1)
                    c["held answered after a stale re-send"] += 1
                if res is not None and not met_hold(plan.route, res.t0, res.t1):
                    bad(rid, f"answered origin_held, but the origin asked for no hold "
                             f"between the request ({res.t0:.3f}) and its answer "
                             f"({res.t1:.3f}); holds: {windows[plan.route]}")
        c["method " + plan.method + ("+key" if plan.has_key else "")] += 1
        reached = [plan.steps[a - 1] for a in pr.origin_attempts]
        for s in plan.steps[:pr.attempts]:
            if s.kind in FAULT_KINDS:
                c["fault " + s.kind] += 1
        for s in reached:
            if s.kind in RESPONSE_KINDS:
                if s.interim:
                    c["interim responses"] += 1
                    c["interim heads"] += len(s.interim)
                    c["interim apart"] += bool(s.pause)
                c["chunked"] += s.chunked
                c["trailers"] += s.trailers
        fs = pr.final_step
        if plan.route == "M":
            c["route M"] += 1
            c["match retries"] += pr.retries.count(RETRY_REASON["match"])
            if fs.kind == "big" and pr.status == 200:
                c["big"] += 1
                c["big bytes"] += fs.n
                c["big mark"] += fs.mark
        if fs.kind == "slow" and fs.n > 64 * KiB and pr.status == 200:
            c["slow long"] += 1
        if plan.faulty:
            c["faulty requests"] += 1
        raw = raw_lane(plan)
        c["raw lane"] += raw
        if not resendable(plan):
            c["not resendable"] += 1
            c["not resendable raw"] += raw
            c["not resendable W"] += plan.route == "W"
        if plan.method not in EVHTTP_METHODS:
            c["raw ext"] += 1
            c["raw ext body"] += plan.body_len > 0
            c["raw ext S"] += plan.route == "S"
        elif plan.route == "S":
            c["raw S other"] += 1
        if plan.framing == "chunked":
            c["raw chunked streamed" if streamed(plan) else "raw chunked held"] += 1
        elif streamed(plan):
            c["raw length streamed"] += 1
        if plan.upgrade:
            c["raw upgrade"] += 1
        if raw and plan.route == "M":
            c["raw M"] += 1
        c["client " + plan.client] += 1
        if plan.tls:
            c["tls"] += 1
            c["tls route " + plan.route] += 1
            c["tls raw"] += raw
            c["tls faulty"] += plan.faulty
            c["tls cut"] += bool(pr.cut)
            c["tls not resendable"] += not resendable(plan)
            c["tls predicted hits"] += len(pr.origin_attempts)
        if streamed(plan):
            c["streamed bytes"] += plan.body_len
        # a retryable outcome the policy does not retry: the request may not
        # be sent again (its method, or a streamed body)
        if pr.attempts < 3 and not pr.held \
                and pr.final_step.kind in ("503", "rst", "fin", "stall", "match") \
                and not (pr.final_step.kind == "match" and raw):
            c["held back " + ("streamed" if streamed(plan) else
                              "ext" if plan.method not in EVHTTP_METHODS else "POST")] += 1
        def whole_at(a):
            """What of the body broken at attempt a the proxy could pass on:
            on evhttp's lane the whole chunks (or all bytes) the origin wrote
            (cut_whole), on the raw lane every byte (cut_end)."""
            if raw_lane(plan):
                return next((h.cut_end for h in hs if h.attempt == a and h.cut_end is not None),
                            None)
            return next((h.cut_whole for h in hs if h.attempt == a and h.cut_whole is not None),
                        None)

        # -- broken downloads (cut): the counts for the summary
        if pr.cut:
            cs = plan.steps[pr.cut - 1]
            weak = cs.kind == "cutweak"
            c["cut"] += 1
            c["cut weak" if weak else "cut resumable"] += 1
            c[f"cut at {pr.cut}"] += 1
            c["cut " + cs.how] += 1
            c["cut chunked"] += cs.chunked
            c["cut second"] += pr.cut_last > pr.cut
            if pr.truncated:
                c["cut predicted truncated " + ("weak" if weak else "resumable")] += 1
                if not weak and pr.ranges:
                    c["cut predicted truncated last attempt"] += 1
                    c["cut predicted truncated " + ("broke last" if pr.attempts == pr.cut_last
                                                    else "continuation failed")] += 1
            c["cut predicted resumes"] += pr.resumes
        # -- the client's view (of a lost request, the access log's and the
        # origin's views are still checked: a lost request may be duplicated)
        lost = res is None or res.error is not None or (res.cut is not None and not pr.truncated)
        if res is not None and res.cut is not None:
            c["truncated"] += 1
            if pr.cut:
                kind = "weak" if plan.steps[pr.cut - 1].kind == "cutweak" else "resumable"
                c["truncated " + kind] += 1
                met["truncated " + kind].append(rid)
        if lost:
            c["lost"] += 1
            if res is not None and res.error is None:
                bad(rid, f"lost: the {res.status} ended short ({res.cut}) after {res.body.len} "
                         f"B of its body, not predicted (predicted {pr.status}"
                         + (f" resumed {pr.resumes} time(s)" if pr.cut else "") + ")")
            else:
                bad(rid, f"lost: {res.error if res else 'never sent'}; predicted {pr.status}")
        else:
            c[f"status {res.status}"] += 1
            if res.interim:
                c["1xx forwarded"] += 1
                bad(rid, f"the client got 1xx head(s) {res.interim} before the final "
                         f"{res.status} (the proxy drops every 1xx but 101); the origin sent "
                         f"{[list(s.interim) for s in reached if s.kind in RESPONSE_KINDS]}")
            # whose response is it?  Every response of the origin names its
            # request id and attempt in X-Soak-Id / X-Soak-Attempt and in the
            # first line of its body (BODY_HEAD); the proxy's own 502/504 none.
            hid = [v for k, v in res.pairs if k == "x-soak-id"]
            hatt = [v for k, v in res.pairs if k == "x-soak-attempt"]
            m = BODY_HEAD.match(res.body.head)
            others = {x for x in hid if x != str(rid)}
            if m and int(m.group(2)) != rid:
                others.add(m.group(2).decode())
            if others:
                c["mixups"] += 1
                bad(rid, f"mix-up: the client got a response of request id "
                         f"{', '.join(sorted(others))}: status {res.status}, X-Soak-Id {hid}, "
                         f"X-Soak-Attempt {hatt}, body ({res.body.len} B) "
                         f"{res.body.head[:100]!r}; client connection "
                         f"{'reused' if res.reused else 'new'}")
            want = None
            wrong = []
            if res.status != pr.status:
                c["wrong status"] += 1
                bad(rid, f"status {res.status}, predicted {pr.status} after {pr.attempts} "
                         f"attempt(s)"
                         + (f" (attempt {pr.answer}'s)" if pr.answer != pr.attempts else "")
                         + f"; Proxy-Status: {res.headers.get('proxy-status')}; "
                         f"body ({res.body.len} B) {res.body.head[:120]!r}")
            elif pr.held:
                # the proxy's 429: the time left, "origin held", no origin's head
                ps = res.headers.get("proxy-status", "")
                ra = res.headers.get("retry-after", "")
                start = (f"retryproxy: 127.0.0.1:{hold_port[plan.route]} answered 429 "
                         f"with Retry-After").encode()
                if 'details="origin held"' not in ps or "error=" in ps:
                    wrong.append(f"held answer with Proxy-Status {ps!r}, want "
                                 f"'retryproxy; details=\"origin held\"'")
                if not (ra.isdigit() and 1 <= int(ra) <= HOLD_RA):
                    wrong.append(f"held answer with Retry-After {ra!r}, want 1..{HOLD_RA} "
                                 f"(the seconds left, rounded up)")
                if hid or hatt or not res.body.head.startswith(start):
                    wrong.append(f"held answer is not the proxy's: X-Soak-Id {hid}, "
                                 f"X-Soak-Attempt {hatt}, body {res.body.head[:100]!r}")
            elif pr.cut:
                # a broken download: the head and object of attempt pr.cut,
                # whole (resumed) or a prefix (truncated)
                want = cut_object(args.seed, rid, pr.cut, fs)
                if hid != [str(rid)] or hatt != [str(pr.cut)]:
                    wrong.append(f"X-Soak-Id {hid}, X-Soak-Attempt {hatt}: want [{rid}] "
                                 f"[{pr.cut}] (the head of the 200 whose body broke)")
                et = res.headers.get("etag")
                if et != etag(rid, pr.cut, fs.kind == "cutweak"):
                    wrong.append(f"ETag {et!r}, want {etag(rid, pr.cut, fs.kind == 'cutweak')}")
                if pr.truncated:
                    n = res.body.len
                    if res.cut is None:
                        wrong.append(f"predicted truncated after at most {pr.cut_at} B "
                                     f"(break at attempt {pr.cut_last}, {pr.cut_how}), got a "
                                     f"complete body of {n} B")
                    elif hashlib.sha256(want[:n]).digest() != res.body.sha:
                        wrong.append(f"truncated body ({n} B) is not a prefix of the object: "
                                     f"{res.body.differs(want[:n])}")
                    elif n > pr.cut_at or (pr.cut_how == "fin" and n != whole_at(pr.cut_last)):
                        wrong.append(f"truncated after {n} B, but the origin broke it "
                                     f"({pr.cut_how}) after {pr.cut_at} B"
                                     + (f" (with fin, all of them reach the client; "
                                        f"{whole_at(pr.cut_last)} on this lane)"
                                        if pr.cut_how == "fin" else ""))
                    else:
                        # after a failed continuation: exactly the N it asked from
                        ns = {h.range for h in hs if h.attempt > pr.cut_last}
                        if ns and ns != {n}:
                            wrong.append(f"truncated after {n} B, but the continuation(s) "
                                         f"after the last break asked from {sorted(ns)}")
                        if res.cut not in ("closed", "ConnectionResetError"):
                            wrong.append(f"truncated body, then the connection: {res.cut}")
                    if entry and entry.get("bytes") not in (None, n):
                        wrong.append(f"access log bytes={entry.get('bytes')}, the client got "
                                     f"{n} B of the body")
                elif not res.body.equals(want):
                    wrong.append(f"body is not the object of attempt {pr.cut} resumed "
                                 f"{pr.resumes} time(s): {res.body.differs(want)}")
            elif pr.proxy_error is None:
                want = response_body(args.seed, rid, pr.answer, pr.status, fs, shas[rid])
                if fs.kind == "429":
                    # the origin's 429, passed on as it came
                    ps = res.headers.get("proxy-status", "")
                    ra = res.headers.get("retry-after")
                    if ra != str(HOLD_RA) or "origin held" in ps:
                        wrong.append(f"the origin's 429 came with Retry-After {ra!r} "
                                     f"(want {HOLD_RA}), Proxy-Status {ps!r}")
                if not res.body.equals(want):
                    wrong.append(f"body is not attempt {pr.answer}'s ({step_label(fs)}): "
                                 f"{res.body.differs(want)}: {res.body.head[:100]!r}")
                if hid != [str(rid)] or hatt != [str(pr.answer)]:
                    wrong.append(f"X-Soak-Id {hid}, X-Soak-Attempt {hatt}: want [{rid}] "
                                 f"[{pr.answer}] (another attempt's head?)")
            else:
                ps = res.headers.get("proxy-status", "")
                if f"error={pr.proxy_error}" not in ps:
                    bad(rid, f"Proxy-Status {ps!r}, want error={pr.proxy_error}")
            if wrong:
                c["wrong bodies"] += 1
                if not others:  # (a mix-up is said above)
                    for w in wrong:
                        bad(rid, w)
            # trailers: dropped, never header fields, never forwarded
            leaks = [f"header field {k}: {v}" for k, v in res.pairs if k in TRAILER_NAMES]
            cls = [v for k, v in res.pairs if k == "content-length"]
            if fs.trailers and want is not None and TRAILER_CL in cls and len(want) != int(TRAILER_CL):
                leaks.append(f"header field Content-Length: {TRAILER_CL} (the trailer's; "
                             f"the body is {len(want)} B)")
            if len(cls) > 1:
                leaks.append(f"Content-Length given {len(cls)} times: {cls}")
            leaks += [f"trailer field {k}: {v}" for k, v in res.trailers]
            if leaks:
                c["trailers leaked"] += 1
                bad(rid, f"trailers leaked to the client (final step {step_label(fs)}): "
                         + "; ".join(leaks))
            # -- HTTP/1.0 and half-closing clients: a response they can read, then
            # the connection closes
            if plan.client == "1.0":
                te = [v for k, v in res.pairs if k == "transfer-encoding"]
                if te:
                    c["client violations"] += 1
                    bad(rid, f"HTTP/1.0 client got Transfer-Encoding {te}")
            if plan.client != "1.1" and res.after != "closed":
                c["client violations"] += 1
                bad(rid, f"{'HTTP/1.0' if plan.client == '1.0' else 'half-closed'} client "
                         f"connection after the {res.status}: {res.after}")
            if res.send_error is not None:
                c["answered before sent"] += 1
        # -- the access log
        if len(ents) != 1:
            bad(rid, f"{len(ents)} access log entries")
        else:
            e = ents[0]
            if (e.get("status"), e.get("attempts"), e.get("retries")) != \
                    (pr.status, pr.attempts, pr.retries):
                bad(rid, f"access log status={e.get('status')} attempts={e.get('attempts')} "
                         f"retries={e.get('retries')}, predicted status={pr.status} "
                         f"attempts={pr.attempts} retries={pr.retries}")
            c["log resumes"] += e.get("resumes", 0) if isinstance(e.get("resumes"), int) else 0
            if e.get("resumes", 0) != pr.resumes or e.get("resumes") == 0:
                bad(rid, f"access log resumes={e.get('resumes')}, predicted {pr.resumes} "
                         f"(absent when 0)")
            # hedges: the number sent, and whether the response forwarded
            # is a hedge's (both absent when none was sent)
            want_h = pr.hedge.sent if pr.hedge else 0
            got_h = (e.get("hedges"), e.get("hedge_won"))
            # (every request's, predicted or not: the metric counts every
            # hedge the daemon sent, one a late harness made it send too)
            c["log hedges"] += e.get("hedges", 0) if isinstance(e.get("hedges"), int) else 0
            if want_h:
                c["log hedge_won"] += e.get("hedge_won") is True
            if got_h != ((want_h, pr.hedge_won) if want_h else (None, None)):
                c["hedge log wrong"] += 1
                bad(rid, f"access log hedges={got_h[0]} hedge_won={got_h[1]}, predicted "
                         + (f"hedges={want_h} hedge_won={str(pr.hedge_won).lower()} "
                            f"({hedge_story(pr)})" if want_h else "none (absent)"))
            if pr.truncated and e.get("error") != "connection_terminated":
                bad(rid, f"access log error={e.get('error')} for a truncated response, want "
                         f"connection_terminated")
            elif pr.cut and not pr.truncated and e.get("error") is not None:
                bad(rid, f"access log error={e.get('error')} for a resumed download")
        held_ms = entry.get("held_ms")
        if held_ms is not None:
            c["held waited"] += 1
            c["held ms"] += held_ms if isinstance(held_ms, int) else 0
            c["held max ms"] = max(c["held max ms"], held_ms if isinstance(held_ms, int) else 0)
            if HOLD_ROUTES.get(plan.route) != "wait":
                bad(rid, f"access log held_ms={held_ms} on route {plan.route} (hold = "
                         f"{HOLD_ROUTES.get(plan.route, 'off')}): only hold = wait waits")
            elif not isinstance(held_ms, int) or held_ms <= 0:
                bad(rid, f"access log held_ms={held_ms!r}")
            elif res is not None and not met_hold(plan.route, res.t0, res.t1):
                bad(rid, f"access log held_ms={held_ms}, but the origin asked for no hold "
                         f"between the request ({res.t0:.3f}) and its answer ({res.t1:.3f}); "
                         f"holds: {windows[plan.route]}")
        conn = entry.get("conn")
        if conn is not None:
            c["log conn " + str(conn)] += 1
        if raw and conn is not None:
            c["raw lane conn " + str(conn)] += 1
        if plan.upgrade and conn is not None:
            bad(rid, f"access log conn={conn} for an upgrade (its connection is its own)")
        if conn == "warm" and (resendable(plan) or not warm):
            bad(rid, "access log conn=warm for a request that "
                     + ("may be re-sent (conn=reused wanted)" if resendable(plan)
                        else "may not be re-sent, with warm_reuse = no"))
        # -- the idle-close race: attempts that never reached the origin
        if unseen:
            kinds = [plan.steps[k - 1].kind for k in sorted(unseen)]
            c["lost attempts"] += len(unseen)
            if not resendable(plan):
                # its one attempt that reached out rode a warm connection
                # the origin closed as the request came: 502, never re-sent
                if conn == "warm" and unseen == {pr.attempts}:
                    c["idle races"] += 1
                    met["idle races"].append(rid)
                    c["idle races W"] += plan.route == "W"
                    c["idle races confirmed"] += (rid, pr.attempts) in dropped
                else:
                    bad(rid, f"attempt(s) {sorted(unseen)} (steps {kinds}) never reached the "
                             f"origin, access log attempts={entry.get('attempts')} "
                             f"conn={conn}: only an attempt on a warm connection "
                             f"(conn=warm) may be lost to an idle close")
            else:
                # a stale break is re-sent once on a new connection (not an
                # attempt): only a later one costs an attempt, and that
                # re-send went out on a new connection (seq 1) before
                c["resendable lost"] += 1
                met["resendable lost"].append(rid)
                for k in sorted(unseen):
                    if not any(h.seq == 1 for h in hs if h.attempt < k):
                        bad(rid, f"attempt {k} ({plan.steps[k - 1].kind}) never reached the "
                                 f"origin, yet no earlier attempt was re-sent on a new "
                                 f"connection (a reused connection that breaks before any "
                                 f"response byte is re-sent once, not counted)")
                c["resendable lost final"] += max(unseen) == pr.attempts
                if max(unseen) == pr.attempts and conn != "reused":
                    bad(rid, f"the final attempt {max(unseen)} never reached the origin, "
                             f"access log conn={conn}: only one on a pooled connection "
                             f"(conn=reused) may be lost to an idle close")
        # -- the continuations (Range: bytes=N-, If-Range: the ETag): N is
        # what the client had: after a fin exactly the origin's break (on
        # evhttp's lane its whole chunks: libevent passes on a chunk once it
        # is all in; the raw lane passes on every byte), after an rst at
        # most that; a failed continuation changes nothing
        last_n, bound, whole, how = 0, None, None, None
        had = (lambda b, w: b) if raw_lane(plan) else (lambda b, w: w)
        for h in hs:
            if pr.ranges and h.attempt > pr.cut:
                c["cut continuations"] += 1
                want_ifr = etag(rid, pr.cut)
                if h.range is None or h.range < 0 or h.if_range != want_ifr:
                    bad(rid, f"continuation attempt {h.attempt} came with Range "
                             f"{h.range!r} If-Range {h.if_range!r}: want bytes=N- and "
                             f"{want_ifr}")
                elif how is not None and (h.range > bound or h.range < last_n
                                          or (how == "fin" and h.range != had(bound, whole))):
                    bad(rid, f"continuation attempt {h.attempt} asked from byte {h.range}: "
                             f"the body broke ({how}) after {bound} B"
                             + (f", all of them the client's ({had(bound, whole)}"
                                f"{'' if raw_lane(plan) else ' in whole chunks'})"
                                if how == "fin" else "")
                             + (f", and the client had {last_n} B before" if last_n else ""))
                else:
                    last_n = h.range
            elif h.range is not None or h.if_range is not None:
                bad(rid, f"attempt {h.attempt} came with Range {h.range!r} If-Range "
                         f"{h.if_range!r}, which nothing asked for"
                         + (" (resume = no)" if pr.cut and not resume_on(args) else
                            " (a weak ETag)" if pr.cut and plan.steps[pr.cut - 1].kind ==
                            "cutweak" else ""))
            if h.cut_end is not None:
                bound, whole, how = h.cut_end, h.cut_whole, plan.steps[h.attempt - 1].how
                if h.range is not None and h.range >= 0:
                    last_n = h.range
        # -- the origin's view
        c["origin hits"] += len(hs)
        # the port each attempt reached: a TLS plan's the TLS origin's (its
        # hits there came over TLS: that port speaks nothing else), the
        # others' their route's plain one (the hedge routes: check_hedge)
        want_port = None
        if pr.hedge is None and ports:
            want_port = ports.get(TLS_PORT.get(plan.route, "T") if plan.tls else
                                  PLAIN_PORT.get(plan.route, plan.route))
        for h in hs:
            if plan.tls:
                c["tls hits"] += 1
                c["tls reused hits"] += h.seq > 1
            if want_port is not None and h.port != want_port:
                c["wrong port"] += 1
                bad(rid, f"attempt {h.attempt} reached the origin on port {h.port}, want "
                         f"{want_port} (" + ("the TLS origin" if plan.tls else
                                             f"route {plan.route}") + ")")
            if h.method != plan.method:
                bad(rid, f"origin saw method {h.method}")
            if h.leak:
                c["request trailers leaked"] += 1
                bad(rid, f"attempt {h.attempt}: the origin got {h.leak}")
            # a chunked body held whole goes with a Content-Length, a streamed
            # one in chunks (retryproxy(8) The raw lane); a streamed
            # Content-Length one as it came
            if plan.framing == "chunked":
                want_f = "chunked" if streamed(plan) else "length"
            elif plan.framing == "length" and plan.body_len > 0:
                want_f = "length"
            else:
                want_f = None
            if want_f is not None and h.framing != want_f:
                bad(rid, f"attempt {h.attempt}: the origin got the body framed by "
                         f"{h.framing}, want {want_f}")
            if raw and h.seq > 1:
                c["raw lane reused hits"] += 1
            if plan.upgrade and h.seq > 1:
                bad(rid, f"attempt {h.attempt} (an upgrade) rode a reused upstream "
                         f"connection (conn {h.conn}/{h.seq}): its connection is its own")
            if h.sha != shas[rid] or h.body_len != plan.body_len:
                c["body mismatches"] += 1
                bad(rid, f"attempt {h.attempt} body {h.body_len} B sha {h.sha[:12]}, "
                         f"sent {plan.body_len} B sha {shas[rid][:12]}")
            if plan.has_key and h.key != f"soak-{args.seed}-{rid}":
                bad(rid, f"attempt {h.attempt} Idempotency-Key {h.key!r}")
        if not resendable(plan):
            what = ("a streamed upload" if streamed(plan) else
                    f"{plan.method} without Idempotency-Key"
                    + (" (a method not in `methods`)" if plan.method != "POST" else ""))
            if len(hs) > 1:
                c["duplicates"] += 1
                bad(rid, f"{what} reached the origin {len(hs)} times "
                         f"(attempts {[h.attempt for h in hs]}, steps {[h.step for h in hs]})")
            if any(h.seq > 1 for h in hs) and conn != "warm":
                bad(rid, f"{what} sent on a reused upstream connection (access log "
                         f"conn={conn}, want warm)")
            if conn == "warm":
                c["warm rides"] += 1
                c["warm rides W"] += plan.route == "W"
                if hs and hs[-1].seq == 1:
                    bad(rid, f"access log conn=warm, but the origin saw {what} on a new "
                             f"connection (conn {hs[-1].conn}/{hs[-1].seq})")
                if hs and hs[-1].step in ("rst", "fin"):
                    c["warm rides broken after read"] += 1
        per = collections.defaultdict(list)
        for h in hs:
            per[h.attempt].append(h)
        if sorted(per) != pr.origin_attempts:
            bad(rid, f"origin saw attempts {sorted(per)}, predicted {pr.origin_attempts}"
                     + (f" ({hedge_story(pr)})" if pr.hedge else ""))
        if pr.hedge is not None:
            check_hedge(args, rid, plan, pr, hs, ports or {}, bad, c)
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
    # -- hold: no request reached a held origin.  The origin wrote a 429 with
    # Retry-After at t: nothing may arrive in t .. t + Retry-After but what
    # the proxy had sent before it read the 429 (in flight): within the
    # tolerance, plus the longest lag of the origin's or the clients' event
    # loop then (a late origin reads late; both late: a busy host, where
    # the daemon may read the 429 late too).
    port_route = {pt: r for r, pt in hold_port.items() if pt is not None}
    late_max = 0.0
    for h in hits:
        route = port_route.get(h.port)
        if route is None or h.rid not in plans:
            continue
        c["hold route hits"] += 1
        for a, b in windows[route]:
            if not a <= h.t_head < b:
                continue
            late = h.t_head - a
            allowed = tol + max(origin_lag.worst_between(a, h.t_head),
                                client_lag.worst_between(a, h.t_head))
            if late <= allowed:
                c["hold in-flight hits"] += 1
                c["hold in-flight lag"] += late > tol  # (past tol: the lag excused it)
                late_max = max(late_max, late)
            else:
                c["hold violations"] += 1
                bad(h.rid, f"attempt {h.attempt} reached the origin on route {route} "
                           f"{late * 1000:.0f} ms after it answered 429 with Retry-After: "
                           f"{b - a:g} (allowed in flight: {allowed * 1000:.0f} ms): "
                           f"the origin was held (hold = {HOLD_ROUTES[route]})")
            break
    c["hold in-flight max ms"] = round(late_max * 1000)
    for r in HOLD_ROUTES:
        c["429 sent " + r] = len(windows[r])
    # the least number of holds the proxy must have counted: 429s that
    # come after the previous hold ended (by the tolerance) start a new one
    least = 0
    for r in HOLD_ROUTES:
        end = None
        for a, b in windows[r]:
            if end is None or a >= end + tol:
                least += 1
                end = b
            else:
                end = max(end, b)
    c["holds least"] = least
    c["hold violations"] += 0
    if not warm and c["idle races"]:
        v.append(f"{c['idle races']} idle-close race(s) with warm_reuse = no: a request "
                 f"that may not be re-sent rode a pooled connection")
    c["lost"] += 0
    c["duplicates"] += 0
    unit = hedge_ms(args) / 1000
    for rid, msgs in held_back.items():
        res = results.get(rid)
        ts = [h.t for h in by_rid.get(rid, [])]
        if res is not None:
            t0, t1 = res.t0, res.t1
        elif ts:
            t0, t1 = min(ts), max(ts) + H_TIMEOUT * unit
        else:
            v.extend(msgs)
            continue
        lag = max(origin_lag.worst_between(t0, t1), client_lag.worst_between(t0, t1))
        if lag > unit / 2:
            c["hedge excused"] += 1
            c["hedge excused violations"] += len(msgs)
            c["hedge excused lag ms"] = max(c["hedge excused lag ms"], round(lag * 1000))
            met["hedge excused"].append(rid)
        else:
            v.extend(msgs)
    return v, c, met


HEDGE_OUTCOMES = ("won", "lost", "failed", "took_over", "not_sent")


def hedge_story(pr):
    """What simulate_hedge foresaw, in words (for a violation)."""
    sim = pr.hedge
    fates = ", ".join(f"{a}: {' by '.join(map(str, f))}" for a, f in sorted(sim.fates.items()))
    return (f"hedges {sorted(sim.hedged)}; won {sim.won}, lost {sim.lost}, failed "
            f"{sim.failed}, took over {sim.took_over}, not sent {sim.not_sent}"
            + (f"(+{sim.not_sent_maybe}?)" if sim.not_sent_maybe else "")
            + f"; copies {fates}; "
            + (f"the proxy's {pr.status}" if pr.proxy_error else
               f"the {pr.status} of attempt {pr.answer}"
               + (" (a hedge)" if pr.hedge_won else "")))


def check_hedge(args, rid, plan, pr, hs, ports, bad, c):
    """A request on a hedge route: each attempt went where policy_target
    sends it (EF, ER: the fallbacks), and the copies the origin held
    (stall, late) ended as simulate_hedge foresaw: one cancelled (another
    copy's head won, or its own head came first) saw its connection end
    within a hedge unit after the origin wrote the winning head; one that
    timed out, about its per_try_timeout after its request; a late one
    that answered, answered."""
    sim = pr.hedge
    c["hedge requests"] += 1
    c["hedge route " + plan.route] += 1
    for k in ("sent", "won", "lost", "failed", "took_over"):
        c["hedge pred " + k] += getattr(sim, k)
    # not_sent is counted once a request, however often its timer found
    # no attempt left (hedge.c): one for sure, else at most one maybe
    c["hedge pred not_sent"] += min(sim.not_sent, 1)
    c["hedge pred not_sent_maybe"] += 0 if sim.not_sent else min(sim.not_sent_maybe, 1)
    c["hedge pred forwarded"] += pr.hedge_won
    c["hedge pred won_any"] += sim.won_any
    unit = hedge_ms(args) / 1000
    for h in hs:
        want = ports.get(hedge_port_key(plan.route, h.attempt))
        if h.port != want:
            c["hedge wrong port"] += 1
            bad(rid, f"attempt {h.attempt} reached the origin on port {h.port}, want "
                     f"{want} (route {plan.route}: {hedge_port_key(plan.route, h.attempt)})")
    last = {h.attempt: h for h in hs}  # (a stale re-send: the one re-sent)
    for a, fate in sorted(sim.fates.items()):
        h = last.get(a)
        if h is None or h.step not in ("stall", "late", "drop"):
            continue  # (a missing attempt is said above)
        if fate[0] == "cancelled":
            w = last.get(fate[1])
            if w is None or w.t_resp is None:
                continue  # (the winner's hit is missing: said above)
            c["hedge closes checked"] += 1
            gap = None if h.ended is None else h.ended - w.t_resp
            if gap is None or not -0.005 <= gap <= unit:
                c["hedge closes late"] += 1
                bad(rid, f"attempt {a} ({h.step}) was not closed when the head of attempt "
                         f"{fate[1]} won: the origin saw its connection end "
                         + ("never" + (" (it answered)" if h.responded else "")
                            if gap is None else f"{gap * 1000:.0f} ms after it wrote that "
                                                f"head")
                         + f" (want within {unit * 1000:.0f} ms; {hedge_story(pr)})")
        elif fate[0] == "timeout":
            c["hedge timeouts checked"] += 1
            t_out = H_TIMEOUT * unit
            took = None if h.ended is None else h.ended - h.t_head
            if took is None or not t_out - unit / 2 <= took <= t_out + unit:
                c["hedge timeouts off"] += 1
                bad(rid, f"attempt {a} (stall) ended "
                         + ("never (the origin answered it)" if took is None
                            else f"{took * 1000:.0f} ms after its request")
                         + f", want its per_try_timeout, {t_out * 1000:.0f} ms "
                           f"({hedge_story(pr)})")
        elif fate[0] == "answered" and not h.responded:
            bad(rid, f"attempt {a} ({h.step}) was cut off "
                     + (f"{(h.ended - h.t_head) * 1000:.0f} ms after its request"
                        if h.ended is not None else "")
                     + f": its head should have been the answer ({hedge_story(pr)})")


# ---------------------------------------------------------------------------
def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--all-raw", action="store_true",
                    help="no retry_if_body or hedge routes: lane = raw carries every request")
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
                         "(e.g. --set methods=* must give duplicates), or to compare "
                         "(--set warm_reuse=no: no idle-close race may remain)")
    ap.add_argument("--route-set", action="append", default=[], metavar="ROUTE:KEY=VALUE",
                    help="add or override a key of route A, B, M, S, H, F, E, E2, EF, "
                         "ER or of the TLS origin's T, TM, TS, TW, TA, TB, TC, to see the "
                         "checks fail (e.g. --route-set H:hold=off: requests reach the "
                         "origin while it is held; --route-set E:hedge_after=off: no hedges)")
    ap.add_argument("--hold-tolerance-ms", type=float, default=HOLD_TOLERANCE * 1000,
                    help="how long after the origin wrote a 429 with Retry-After a hit "
                         "may still be one the proxy sent before it read that 429 (plus "
                         "the longest lag of the origin's or the clients' event loop "
                         f"then) (default {HOLD_TOLERANCE * 1000:g})")
    ap.add_argument("--idle-close", default=IDLE_CLOSE, metavar="FRACTION[:MAX_S]",
                    help="the share of the origin's connections that close when kept "
                         "idle past a timeout of their own, log-uniform in "
                         f"{IDLE_MIN * 1000:g} ms..MAX_S seconds (MAX_S below that: "
                         f"exactly MAX_S; 0: as soon as idle) (default {IDLE_CLOSE}; 0: "
                         "the origin never closes an idle connection)")
    a = ap.parse_args(argv)
    try:
        frac, _, top = a.idle_close.partition(":")
        a.idle_frac, a.idle_max = float(frac), float(top or IDLE_CLOSE.split(":")[1])
        if not (0 <= a.idle_frac <= 1 and a.idle_max >= 0):
            raise ValueError
    except ValueError:
        ap.error(f"--idle-close {a.idle_close!r}: want FRACTION[:MAX_S], "
                 f"0 <= FRACTION <= 1, MAX_S >= 0")
    pt = a.per_try_timeout_ms / 1000
    if a.request_timeout is None:
        a.request_timeout = 3 * pt + 3 * 0.9 + 10
    if a.time_limit is None:
        a.time_limit = 30 + 0.02 * a.requests
    if a.warmup is None:
        a.warmup = min(2000, a.requests // 4)
    a.stall_s = max(1.5, 5 * pt)
    return a


def make_certs(work):
    """The TLS origin's certificates, made with the openssl command line in
    the work directory: a CA (the daemon's [tls] trust) and a certificate
    for 127.0.0.1 and localhost signed by it (EC P-256: cheap handshakes
    for the origin's one Python process).  Returns (ca, cert, key)."""
    def openssl(*a):
        p = subprocess.run(["openssl", *a], cwd=work, capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(a)}: "
                               f"{p.stderr.decode(errors='replace').strip()}")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "tls-ca.key", "-out", "tls-ca.pem",
            "-days", "2", "-sha256", "-subj", "/CN=retryproxy soak CA",
            "-addext", "basicConstraints = critical, CA:TRUE",
            "-addext", "keyUsage = critical, keyCertSign, cRLSign")
    (work / "tls-origin.ext").write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n")
    openssl("req", "-new", *ec, "-keyout", "tls-origin.key", "-out", "tls-origin.csr",
            "-subj", "/CN=retryproxy soak origin")
    openssl("x509", "-req", "-in", "tls-origin.csr", "-CA", "tls-ca.pem",
            "-CAkey", "tls-ca.key", "-set_serial", "1", "-days", "2", "-sha256",
            "-extfile", "tls-origin.ext", "-out", "tls-origin.pem")
    return work / "tls-ca.pem", work / "tls-origin.pem", work / "tls-origin.key"


def fmt_mib(n):
    return "-" if n is None else f"{n / MiB:.1f} MiB"


def main(argv=None):
    global ALL_RAW
    args = parse_args(argv)
    ALL_RAW = args.all_raw
    binary = Path(args.binary).resolve() if args.binary else daemon_path()
    if not binary.exists():
        print(f"soak: daemon binary not found: {binary}", file=sys.stderr)
        return 2
    ids = ([int(x) for x in args.ids.split(",")] if args.ids
           else list(range(1, args.requests + 1)))
    plans = {rid: make_plan(args.seed, rid) for rid in ids}
    if shutil.which("openssl") is None:
        print("soak: the openssl command line tool is not installed (it makes the TLS "
              "origin's certificates)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="retryproxy-soak-"))
    try:
        trust, cert, key = make_certs(work)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"soak: the TLS origin's certificates: {e}", file=sys.stderr)
        return 2

    # closed ports: bound, never listening (refused, and nobody can take them)
    closed_socks = {k: unused_port_socket() for k in ("A", "B", "X", "C", "TA", "TB", "TC")}
    closed = {k: s.getsockname()[1] for k, s in closed_socks.items()}
    # the origin: its port, and W, H, F, T and TW (over TLS) and the hedge
    # routes, the same origin on ports of their own
    osocks = []
    for _ in range(6 + len(HEDGE_ROUTES)):
        osock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        osock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        osock.bind(("127.0.0.1", 0))
        osock.listen(1024)
        osocks.append(osock)
    origin_port, w_port, h_port, f_port, t_port, tw_port, *e_ports = \
        (s.getsockname()[1] for s in osocks)
    hold_ports = {"H": h_port, "F": f_port}
    hedge_ports = dict(zip(HEDGE_ROUTES, e_ports))
    tls_ports = {"T": t_port, "TW": tw_port, "TA": closed["TA"], "TB": closed["TB"],
                 "TC": closed["TC"]}
    ctx = multiprocessing.get_context("fork")
    parent_conn, child_conn = ctx.Pipe()
    oproc = ctx.Process(target=origin_process,
                        args=(args.seed, osocks, args.stall_s, (args.idle_frac, args.idle_max),
                              H_LATE * hedge_ms(args) / 1000, tuple(hedge_ports.values()),
                              (str(cert), str(key), (t_port, tw_port)), child_conn), daemon=True)
    oproc.start()
    for osock in osocks:
        osock.close()
    if not parent_conn.poll(10) or parent_conn.recv() != "ready":
        print("soak: origin did not start", file=sys.stderr)
        return 2

    wrapper = shlex.split(args.wrapper)
    d = Daemon(binary, wrapper, work, daemon_config(args, work, origin_port, closed,
                                                    hold_ports, hedge_ports, tls_ports, trust))
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
    ports = {"origin": origin_port, "A": closed["A"], "B": closed["B"], "C": closed["C"],
             "M": origin_port, "S": origin_port, "W": w_port, "H": h_port, "F": f_port,
             "X": closed["X"], **hedge_ports, **tls_ports, "TM": t_port, "TS": t_port}
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
    (nconn, oerrors, raw_hits, raw_idle, (olag_max, olag_events, ogc_max, olag_small),
     raw_holds) = parent_conn.recv()
    origin_lag = LagMonitor()
    origin_lag.max, origin_lag.events, origin_lag.gc_max = olag_max, olag_events, ogc_max
    origin_lag.small = olag_small
    oproc.join(5)
    hits = [Hit(*h) for h in raw_hits]
    idle_closes = [IdleClose(*x) for x in raw_idle]
    holds_sent = [HoldSent(*x) for x in raw_holds]
    for e in oerrors:
        violations.append(f"origin: {e}")

    entries = []
    try:
        for line in (work / "access.log").read_text().splitlines():
            if line.strip():
                entries.append(json.loads(line))
    except (OSError, ValueError) as e:
        violations.append(f"access log unreadable: {e}")

    pv, c, met = check(args, ids, plans, soak.results, soak.sha, hits, entries,
                       (origin_lag, client_lag), idle_closes, holds_sent, ports)
    violations.extend(pv)

    supp = {}
    for line in metrics.splitlines():
        if line.startswith("retryproxy_retries_suppressed_total{") and "why=\"budget\"" in line:
            route = line.split("route=\"", 1)[1].split("\"", 1)[0] if "route=\"" in line else "?"
            supp[route] = float(line.rsplit(" ", 1)[1])
    budget_hits = sum(supp.values())
    # what the pool gave requests that may not be re-sent (warm_reuse)
    warm_m = {}
    for line in metrics.splitlines():
        if line.startswith("retryproxy_warm_reuse_total{"):
            outcome = line.split("outcome=\"", 1)[1].split("\"", 1)[0]
            warm_m[outcome] = int(float(line.rsplit(" ", 1)[1]))
    if warm_m and warm_m.get("reused", 0) != c["log conn warm"]:
        violations.append(f"retryproxy_warm_reuse_total{{outcome=\"reused\"}} is "
                          f"{warm_m.get('reused', 0)}, but {c['log conn warm']} access log "
                          f"entries say conn=warm")
    warm_note = ", ".join(f"{k} {val}" for k, val in warm_m.items()) or "unavailable"
    # response bodies the raw lane spliced (zbody): the path must have run
    spliced_m = None
    for line in metrics.splitlines():
        if line.startswith("retryproxy_spliced_body_bytes_total "):
            spliced_m = int(float(line.rsplit(" ", 1)[1]))
    if ALL_RAW and args.requests >= 500 and spliced_m == 0:
        violations.append("retryproxy_spliced_body_bytes_total is 0 with every "
                          "request on the raw lane: no long body was spliced")
    # hold: the metrics against the access log and the origin's 429s
    held_m = {}
    holds_m = None
    for line in metrics.splitlines():
        if line.startswith("retryproxy_held_requests_total{"):
            outcome = line.split("outcome=\"", 1)[1].split("\"", 1)[0]
            held_m[outcome] = int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("retryproxy_origin_holds_total "):
            holds_m = int(float(line.rsplit(" ", 1)[1]))
    if alive:
        for outcome, what, n_log in (("waited", "held_ms", c["held waited"]),
                                     ("answered", "error=origin_held", c["held answered"])):
            if held_m.get(outcome) != n_log:
                violations.append(f"retryproxy_held_requests_total{{outcome=\"{outcome}\"}} is "
                                  f"{held_m.get(outcome)}, but {n_log} access log entries "
                                  f"have {what}")
        n429 = c["429 sent H"] + c["429 sent F"]
        if holds_m is None or not c["holds least"] <= holds_m <= n429:
            violations.append(f"retryproxy_origin_holds_total is {holds_m}: the origin sent "
                              f"{n429} 429s with Retry-After, at least {c['holds least']} of "
                              f"them after the hold before had ended")
    # resume: the metric against the access log and the clients
    broken_m = {}
    for line in metrics.splitlines():
        if line.startswith("retryproxy_broken_bodies_total{"):
            outcome = line.split("outcome=\"", 1)[1].split("\"", 1)[0]
            broken_m[outcome] = int(float(line.rsplit(" ", 1)[1]))
    if alive:
        if broken_m.get("resumed") != c["log resumes"]:
            violations.append(f"retryproxy_broken_bodies_total{{outcome=\"resumed\"}} is "
                              f"{broken_m.get('resumed')}, but the access log's resumes add "
                              f"up to {c['log resumes']}")
        if broken_m.get("truncated") != c["truncated"]:
            violations.append(f"retryproxy_broken_bodies_total{{outcome=\"truncated\"}} is "
                              f"{broken_m.get('truncated')}, but {c['truncated']} responses "
                              f"ended short at the client")
    # hedges: the metric against the simulation and the access log (every
    # hedge sent ends won, lost, failed or took over)
    hedge_m = {}
    for line in metrics.splitlines():
        if line.startswith("retryproxy_hedges_total{"):
            outcome = line.split("outcome=\"", 1)[1].split("\"", 1)[0]
            hedge_m[outcome] = int(float(line.rsplit(" ", 1)[1]))
    if alive and not c["hedge excused"]:
        for k in HEDGE_OUTCOMES[:4]:
            if hedge_m.get(k) != c["hedge pred " + k]:
                violations.append(f"retryproxy_hedges_total{{outcome=\"{k}\"}} is "
                                  f"{hedge_m.get(k)}, predicted {c['hedge pred ' + k]}")
        lo = c["hedge pred not_sent"]
        hi = lo + c["hedge pred not_sent_maybe"]
        if hedge_m.get("not_sent") is None or not lo <= hedge_m["not_sent"] <= hi:
            violations.append(f"retryproxy_hedges_total{{outcome=\"not_sent\"}} is "
                              f"{hedge_m.get('not_sent')}, predicted {lo}"
                              + (f"..{hi}" if hi > lo else ""))
    if alive:
        ends = sum(hedge_m.get(k, 0) for k in HEDGE_OUTCOMES[:4])
        if ends != c["log hedges"]:
            violations.append(f"the access log counts {c['log hedges']} hedges sent, but "
                              f"retryproxy_hedges_total's won, lost, failed and took_over add "
                              f"up to {ends}")
    # TLS: the path must have run (a run of its own ids may have no TLS
    # request: --ids replays one); what reached the TLS origin came over TLS,
    # so the daemon must have counted handshakes
    tls_m = {}
    for line in metrics.splitlines():
        if line.startswith("retryproxy_upstream_tls_handshakes_total{"):
            session = line.split("session=\"", 1)[1].split("\"", 1)[0]
            tls_m[session] = int(float(line.rsplit(" ", 1)[1]))
    if not args.ids and not c["tls"]:
        violations.append("no request went to the TLS origin (TLS_SHARE, _route_tls)")
    if c["tls"] and not c["tls hits"] and c["tls predicted hits"]:
        violations.append(f"{c['tls']} requests went to the TLS origin, and it saw none of "
                          f"the {c['tls predicted hits']} attempts predicted to reach it")
    if alive and c["tls hits"] and not sum(tls_m.values()):
        violations.append(f"the TLS origin saw {c['tls hits']} attempts, but "
                          f"retryproxy_upstream_tls_handshakes_total counts no handshake: "
                          f"{tls_m or 'absent'}")
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
    def ids_note(what, n=10):
        ids_ = met.get(what)
        if not ids_:
            return ""
        return f" (ids {','.join(map(str, ids_[:n]))}{', ...' if len(ids_) > n else ''})"

    idle_range = (f"{IDLE_MIN * 1000:g} ms..{args.idle_max:g} s" if args.idle_max > IDLE_MIN
                  else f"{args.idle_max:g} s")
    n = len(ids)
    rows = [("requests", f"{n} (concurrency {args.concurrency}, seed {args.seed})"),
            ("methods", ", ".join(f"{k.split(' ', 1)[1]} {c[k]}" for k in sorted(c)
                                  if k.startswith("method "))),
            ("requests with a fault", f"{c['faulty requests']} ({100 * c['faulty requests'] / max(n, 1):.1f}%)"),
            ("faults injected (attempts)", ", ".join(f"{k} {c['fault ' + k]}" for k in FAULT_KINDS)),
            ("responses decorated (attempts)",
             f"1xx before {c['interim responses']} ({c['interim heads']} heads, "
             f"{c['interim apart']} written apart), chunked {c['chunked']} "
             f"({c['trailers']} with trailers)"),
            ("retry_if_body route",
             f"{c['route M']} requests, {c['match retries']} body-match retries, "
             f"{c['big']} big bodies delivered ({c['big bytes'] / MiB:.0f} MiB, "
             f"{c['big mark']} holding the mark past 64 KiB)"),
            ("slow bodies over 64 KiB delivered", f"{c['slow long']}"),
            ("raw lane",
             f"{c['raw lane']} requests: extension methods {c['raw ext']} ({c['raw ext body']} "
             f"with a body, {c['raw ext S']} on the methods=* route, plus {c['raw S other']} "
             f"others there), chunked uploads held {c['raw chunked held']} / streamed "
             f"{c['raw chunked streamed']}, Content-Length uploads streamed "
             f"{c['raw length streamed']} ({c['streamed bytes'] / MiB:.0f} MiB streamed in all), "
             f"Upgrade {c['raw upgrade']}, on the retry_if_body route {c['raw M']}; "
             f"on pooled connections: {c['raw lane reused hits']} origin hits, access log "
             f"conn=reused {c['raw lane conn reused']}, conn=warm {c['raw lane conn warm']}"),
            ("not re-sent after a sent failure (policy)",
             f"POST {c['held back POST']}, extension methods {c['held back ext']}, "
             f"streamed uploads {c['held back streamed']}"),
            ("clients",
             f"HTTP/1.1 {c['client 1.1']}, HTTP/1.0 {c['client 1.0']}, half-closing "
             f"{c['client halfclose']}; answered before the request was all sent "
             f"{c['answered before sent']}; 1.0/half-close violations {c['client violations']}"),
            ("outcomes", ", ".join(f"{k.split(' ', 1)[1]} {c[k]}" for k in sorted(c)
                                   if k.startswith("status "))),
            ("wrong status", str(c["wrong status"])),
            ("wrong bodies", str(c["wrong bodies"])),
            ("mix-ups (another request's response)", str(c["mixups"])),
            ("1xx forwarded to clients", str(c["1xx forwarded"])),
            ("trailers leaked", str(c["trailers leaked"])),
            ("origin hits", f"{c['origin hits']} on {nconn} connections "
                            f"({c['stale re-sends']} stale keep-alive re-sends)"),
            ("idle closes (origin)",
             f"{args.idle_frac:g} of its connections close when kept idle past {idle_range}: "
             f"{len(idle_closes)} closed ({sum(1 for x in idle_closes if x.discarded)} "
             f"dropping bytes of a request they had read)" if args.idle_frac
             else "off (--idle-close 0)"),
            (f"warm reuse (warm_reuse = {'yes' if warm_reuse_on(args) else 'no'})",
             f"{c['not resendable']} requests may not be re-sent ({c['not resendable raw']} "
             f"on the raw lane, {c['not resendable W']} on port W); "
             f"{c['warm rides']} rode a warm connection ({c['warm rides W']} on W) "
             f"({c['warm rides broken after read']} broken by the script after the origin "
             f"read them); pool: {warm_note}"),
            ("spliced bodies (raw lane)",
             f"{spliced_m} bytes (retryproxy_spliced_body_bytes_total)"),
            ("hold (H: hold = wait, 429 retried; F: hold = fail)",
             f"{c['route H']} requests on H, {c['route F']} on F; 429s with Retry-After: "
             f"{HOLD_RA} sent {c['429 sent H']} on H, {c['429 sent F']} on F; holds "
             f"{holds_m} (metric; at least {c['holds least']}); requests that waited "
             f"{c['held waited']} ({c['held ms'] / 1000:.1f} s in all, at most "
             f"{c['held max ms']} ms), answered held {c['held answered']} "
             f"({c['held answered after an attempt']} after an attempt); metric: "
             f"waited {held_m.get('waited')}, answered {held_m.get('answered')}; "
             f"hits on H and F {c['hold route hits']}, in flight after a 429 "
             f"{c['hold in-flight hits']} (at most {c['hold in-flight max ms']} ms after "
             f"it; allowed {args.hold_tolerance_ms:g} ms + harness loop lag: "
             f"{c['hold in-flight lag']} past {args.hold_tolerance_ms:g} ms), during a hold "
             f"{c['hold violations']}"),
            ("idle-close races (502, conn=warm, the origin never saw it)",
             f"{c['idle races']} ({c['idle races W']} on W; {c['idle races confirmed']} "
             f"of them read and dropped by the origin){ids_note('idle races')}; "
             f"re-sendable requests that lost an attempt past the one stale re-send "
             f"{c['resendable lost']}{ids_note('resendable lost')}, "
             f"{c['resendable lost final']} of them their final attempt (502)"),
            (f"cut downloads (resume = {'yes' if resume_on(args) else 'no'})",
             f"{c['cut']} (resumable {c['cut resumable']}, weak {c['cut weak']}; at attempt "
             f"1/2/3: {c['cut at 1']}/{c['cut at 2']}/{c['cut at 3']}; rst {c['cut rst']}, "
             f"fin {c['cut fin']}; chunked {c['cut chunked']}; broken again in the "
             f"continuation {c['cut second']}); continuations sent {c['cut continuations']}; "
             f"resumed {c['log resumes']} (access log; predicted {c['cut predicted resumes']}; "
             f"metric {broken_m.get('resumed')}); truncated: resumable "
             f"{c['truncated resumable']} (predicted "
             f"{c['cut predicted truncated resumable']}, of them "
             f"{c['cut predicted truncated last attempt']} out of attempts or resume_max), "
             f"weak {c['truncated weak']} (predicted "
             f"{c['cut predicted truncated weak']}); all truncated {c['truncated']} "
             f"(metric {broken_m.get('truncated')})"),
            (f"hedged requests (hedge_after {hedge_ms(args)} ms)",
             f"{c['hedge requests']} requests (E {c['hedge route E']}, E2 (hedge_max 2) "
             f"{c['hedge route E2']}, EF {c['hedge route EF']}, ER {c['hedge route ER']}); "
             f"hedges sent {c['log hedges']} (access log; predicted {c['hedge pred sent']}); "
             + ", ".join(f"{k} {hedge_m.get(k)}" for k in HEDGE_OUTCOMES)
             + " (metric; predicted "
             + ", ".join(f"{k} {c['hedge pred ' + k]}" for k in HEDGE_OUTCOMES)
             + (f"..{c['hedge pred not_sent'] + c['hedge pred not_sent_maybe']}"
                if c["hedge pred not_sent_maybe"] else "")
             + f"); hedge_won in the access log {c['log hedge_won']} (predicted "
               f"{c['hedge pred forwarded']} responses forwarded from a hedge; a hedge's "
               f"head first in {c['hedge pred won_any']}); copies closed when another head "
               f"won {c['hedge closes checked']} ({c['hedge closes late']} not in time), "
               f"timed out {c['hedge timeouts checked']} ({c['hedge timeouts off']} off); "
               f"attempts on the wrong port {c['hedge wrong port']}; access log hedge fields "
               f"wrong {c['hedge log wrong']}; excused by a harness loop lag over "
               f"{hedge_ms(args) // 2} ms: {c['hedge excused']} requests "
               f"({c['hedge excused violations']} violations, lag up to "
               f"{c['hedge excused lag ms']} ms{ids_note('hedge excused')})"
             + (", so the metric was checked against the access log only"
                if c["hedge excused"] else "")),
            ("TLS origin (tls = yes; [tls] trust: the soak's CA)",
             f"{c['tls']} requests ({100 * c['tls'] / max(n, 1):.1f}%: "
             + ", ".join(f"{r} {c['tls route ' + r]}" for r in TLS_ROUTES)
             + f"), {c['tls raw']} on the raw lane, {c['tls faulty']} with a fault "
               f"({c['tls cut']} cut downloads), {c['tls not resendable']} not re-sendable; "
               f"origin hits over TLS {c['tls hits']} (predicted at least "
               f"{c['tls predicted hits']}; {c['tls reused hits']} on a reused connection); "
               f"handshakes new {tls_m.get('new')}, resumed {tls_m.get('resumed')} (metric); "
               f"attempts on the wrong port (any route) {c['wrong port']}"),
            ("truncated resumable downloads",
             f"{c['truncated resumable']} of {c['cut resumable']} "
             f"({100 * c['truncated resumable'] / max(c['cut resumable'], 1):.0f}%; "
             f"resume = {'yes' if resume_on(args) else 'no'}, seed {args.seed}, {n} requests; "
             f"predicted {c['cut predicted truncated resumable']}: "
             + ("resume = no" if not resume_on(args) else
                f"{c['cut predicted truncated broke last']} broke on their last attempt "
                f"(or resume_max spent), {c['cut predicted truncated continuation failed']} "
                f"had their continuation fail on the last attempt")
             + f"){ids_note('truncated resumable')}"),
            ("body mismatches", str(c["body mismatches"])),
            ("request trailers / chunk extensions leaked", str(c["request trailers leaked"])),
            ("duplicates (not re-sendable: POST, extension methods, streamed)",
             str(c["duplicates"])),
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
    verdict = "PASS" if not violations else "FAIL"
    line = (f"soak {verdict}: {n} requests (seed {args.seed}, concurrency {args.concurrency}), "
            f"{100 * c['faulty requests'] / max(n, 1):.1f}% with faults: lost {c['lost']}, "
            f"duplicates {c['duplicates']}, wrong status {c['wrong status']}, "
            f"warm rides {c['warm rides']}, idle-close races {c['idle races']}, "
            f"raw lane {c['raw lane']}, TLS {c['tls']}, "
            f"holds {holds_m}, held waited {c['held waited']} answered {c['held answered']}, "
            f"hits during a hold {c['hold violations']}, "
            f"{c['wrong bodies']} wrong bodies, {c['mixups']} mix-ups, "
            f"1xx forwarded {c['1xx forwarded']}, trailers leaked {c['trailers leaked']}, "
            f"cut downloads {c['cut']} (resumable {c['cut resumable']}, weak {c['cut weak']}), "
            f"hedges {c['log hedges']} (won {hedge_m.get('won')}, lost {hedge_m.get('lost')}, "
            f"failed {hedge_m.get('failed')}, took over {hedge_m.get('took_over')}), "
            f"resumes {c['log resumes']}, truncated resumable {c['truncated resumable']} of "
            f"{c['cut resumable']} (resume = {'yes' if resume_on(args) else 'no'}), "
            f"RSS {rss_note or '-'}, {len(violations)} violation(s), {duration:.1f} s")
    print("| soak | |")
    print("|---|---|")
    for k, val in rows:
        print(f"| {k} | {val} |")
    print()
    print(line)
    if warm_reuse_on(args) and args.idle_frac:
        print(f"(to compare: the same run with --seed {args.seed} --set warm_reuse=no "
              f"must have no idle-close race)")
    if violations:
        print(f"FAILED: {len(violations)} violation(s) (replay one with --seed {args.seed} "
              f"--ids ID); first ones:", file=sys.stderr)
        # (the run's own first: the per-request ones may be many)
        for line in sorted(violations, key=lambda x: x.startswith("id="))[:40]:
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
