#!/bin/sh
# The fault soak, short (300 requests, concurrency 10, one worker), with the
# daemon under valgrind memcheck: any memory error or a definite/indirect
# leak makes valgrind exit 99 after SIGTERM, which soak.py reports (it wants
# exit status 0).  Timeouts are generous (valgrind is ~20x slower):
# per_try_timeout and connect_timeout 1.5 s, stalls 7.5 s, and a request the
# daemon had sent before it read a 429 may reach the origin up to 250 ms
# after it (the hold check; 50 ms without valgrind); the RSS check is off
# (valgrind's own memory).  Extra arguments go to soak.py.
#
# The daemon is $RETRYPROXY, else ./retryproxy at the top ($top_srcdir).
# Exit status: 0 pass, 1 a violation or valgrind errors, 77 skipped (no
# valgrind, or no daemon binary), 99 no python3.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=${top_srcdir:-$here/../..}

if ! command -v valgrind >/dev/null 2>&1; then
	echo "run-valgrind.sh: valgrind not installed; skipped" >&2
	exit 77
fi
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
	echo "run-valgrind.sh: daemon binary not found: $RETRYPROXY (set RETRYPROXY)" >&2
	[ -n "${RETRYPROXY_REQUIRE:-}" ] && exit 99
	exit 77
fi
# A sanitizer build cannot run under valgrind.
if nm "$RETRYPROXY" 2>/dev/null | grep -q __asan_init; then
	echo "run-valgrind.sh: $RETRYPROXY is built with AddressSanitizer; skipped" >&2
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
	echo "run-valgrind.sh: no python3" >&2
	exit 99
fi

logdir=$(mktemp -d "${TMPDIR:-/tmp}/retryproxy-vg.XXXXXX")
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
# Twice: both lanes at once (the soak's retry_if_body and hedge routes take
# evhttp's lane, the rest the raw lane), then the raw lane for everything
# (--all-raw).
for lane in evhttp raw; do
	vglog=$logdir/valgrind-$lane.log
	extra=
	[ "$lane" = raw ] && extra=--all-raw
	rc=0
	"$py" "$here/soak.py" --binary "$RETRYPROXY" $extra \
		--requests 300 --concurrency 10 --workers 1 \
		--per-try-timeout-ms 1500 --hold-tolerance-ms 250 --no-rss \
		--ready-timeout 60 --stop-timeout 120 --time-limit 900 \
		--wrapper "valgrind --leak-check=full --error-exitcode=99 --errors-for-leak-kinds=definite,indirect --log-file=$vglog" \
		"$@" || rc=$?

	echo "valgrind ($lane): $(grep 'ERROR SUMMARY' "$vglog" 2>/dev/null | tail -n 1 | sed 's/^==[0-9]*== //')"
	grep -E 'in use at exit:|total heap usage:|All heap blocks|definitely lost:|indirectly lost:|possibly lost:|still reachable:' "$vglog" 2>/dev/null |
		sed 's/^==[0-9]*== */valgrind: /' || true
	if [ "$rc" -ne 0 ] || ! grep -q 'ERROR SUMMARY: 0 errors' "$vglog" 2>/dev/null; then
		echo "run-valgrind.sh: FAILED ($lane, soak exit $rc); valgrind log: $vglog" >&2
		sed -n '1,200p' "$vglog" >&2 2>/dev/null || true
		exit 1
	fi
done
rm -rf "$logdir"
exit 0
