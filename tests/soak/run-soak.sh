#!/bin/sh
# Fault soak (tests/soak/soak.py): requests through the daemon against an
# origin that injects ~30% faults and closes idle kept connections at
# random times (--idle-close), each outcome checked against the retry
# policy, with warm_reuse = yes (the idle-close race counted apart), and
# two routes whose origin port now and then answers 429 with Retry-After
# (hold = wait, hold = fail: nothing may reach it while it is held), and
# downloads whose body breaks part way (resume: spliced from a 206, or
# truncated where predicted; --set resume=no: every one truncated), and
# four routes with hedge_after whose origin stalls, answers late or resets
# late (each request's copies simulated: hedges sent, won, lost, failed,
# taken over), and about 15% of the requests to the same origin served
# over TLS (routes with tls = yes; the soak makes its CA and certificate
# with the openssl command line, which it needs).  Short form for CI:
# 2,000 requests at concurrency 20 (well under a minute).  SOAK_FULL=1:
# 20,000 requests at concurrency 50.  Extra
# arguments go to soak.py (e.g. --seed S --ids ID to replay a request;
# --set warm_reuse=no to compare: no idle-close race then; --route-set
# H:hold=off or E:hedge_after=off to see the hold or hedge checks fail).
#
# The daemon is $RETRYPROXY (automake sets it), else ./retryproxy at the
# top of the tree ($top_srcdir).  Exit status: 0 pass, 1 a violation,
# 2 the soak could not start (e.g. no openssl command line), 77 skipped
# (no daemon binary; 99 instead with RETRYPROXY_REQUIRE=1), 99 no python3.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=${top_srcdir:-$here/../..}

if [ -n "${RETRYPROXY:-}" ]; then
	case $RETRYPROXY in
	/*) ;;
	*) RETRYPROXY=$(pwd)/$RETRYPROXY ;;
	esac
else
	RETRYPROXY=$(cd "$top" && pwd)/retryproxy
fi
export RETRYPROXY
if [ ! -x "$RETRYPROXY" ]; then
	echo "run-soak.sh: daemon binary not found: $RETRYPROXY (set RETRYPROXY)" >&2
	[ -n "${RETRYPROXY_REQUIRE:-}" ] && exit 99
	exit 77
fi

py=
for cand in ${PYTHON:-} /usr/bin/python3 python3; do
	if command -v "$cand" >/dev/null 2>&1; then
		py=$cand
		break
	fi
done
if [ -z "$py" ]; then
	echo "run-soak.sh: no python3" >&2
	exit 99
fi

if [ -n "${SOAK_FULL:-}" ] && [ "$SOAK_FULL" != 0 ]; then
	set -- --requests 20000 --concurrency 50 "$@"
else
	set -- --requests 2000 --concurrency 20 "$@"
fi

PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
# Twice: with the retry_if_body and hedge routes (their requests take
# evhttp's lane, the rest the raw lane: both at once), then without them
# (--all-raw: the raw lane carries every request).
"$py" "$here/soak.py" --binary "$RETRYPROXY" "$@"
exec "$py" "$here/soak.py" --binary "$RETRYPROXY" --all-raw "$@"
