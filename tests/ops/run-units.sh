#!/bin/sh
# The systemd units that make generates: "systemd-analyze verify" is clean
# for both, and "systemd-analyze security" rates the service's exposure at
# 2.0 or below.
#
# Environment (set by "make check"): top_builddir (where make wrote
# systemd/retryproxy.service and systemd/retryproxy.socket; default .) and
# RETRYPROXY (the binary; it replaces ExecStart's program in a copy of the
# units, since verify wants an executable there).  Exit 77 (skipped) when
# systemd-analyze is not installed.

RETRYPROXY=${RETRYPROXY:-./retryproxy}
top_builddir=${top_builddir:-.}
service=$top_builddir/systemd/retryproxy.service
socket=$top_builddir/systemd/retryproxy.socket
max_exposure=2.0

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP run-units: systemd-analyze not installed (apt-get install systemd)"
	exit 77
fi
if [ ! -x "$RETRYPROXY" ]; then
	echo "run-units: $RETRYPROXY is not an executable (set RETRYPROXY)" >&2
	exit 99
fi
case $RETRYPROXY in
/*) ;;
*) RETRYPROXY=$(pwd)/$RETRYPROXY ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/run-units.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

passed=0
failed=0

pass() {
	echo "PASS $1"
	passed=$((passed + 1))
}

fail() {
	echo "FAIL $1${2:+: $2}"
	failed=$((failed + 1))
}

# The generated units exist and make substituted every @var@.
for u in "$service" "$socket"; do
	if [ ! -r "$u" ]; then
		fail "exists $u" "not found (run make first)"
	elif grep -q '@[a-z_]*@' "$u"; then
		fail "substituted $u" "$(grep -n '@[a-z_]*@' "$u" | head -1)"
	else
		pass "substituted $u"
	fi
done

if [ -r "$service" ] && [ -r "$socket" ]; then
	# Copies whose ExecStart runs $RETRYPROXY (escaped for sed's right side).
	bin=$(printf '%s\n' "$RETRYPROXY" | sed 's/[\\&|]/\\&/g')
	sed "s|^\(ExecStart=[-@:+!]*\)[^ ]*|\1$bin|" "$service" \
	    >"$tmp/retryproxy.service"
	cp "$socket" "$tmp/retryproxy.socket"
	exec_line=$(grep '^ExecStart=' "$tmp/retryproxy.service")
	case $exec_line in
	"ExecStart=$RETRYPROXY "* | "ExecStart=$RETRYPROXY")
		pass "ExecStart runs \$RETRYPROXY"
		;;
	*)
		fail "ExecStart runs \$RETRYPROXY" "${exec_line:-no ExecStart= line}"
		;;
	esac

	# systemd-analyze verify: exit 0 and no output, for each unit.
	for u in retryproxy.service retryproxy.socket; do
		(cd "$tmp" && systemd-analyze verify --man=no "$tmp/$u") \
		    >"$tmp/verify.out" 2>&1
		rc=$?
		if [ "$rc" -eq 0 ] && [ ! -s "$tmp/verify.out" ]; then
			pass "systemd-analyze verify $u"
		else
			fail "systemd-analyze verify $u" "exit $rc"
			sed 's/^/    | /' "$tmp/verify.out" | head -20
		fi
	done

	# systemd-analyze security: the overall exposure level, at most 2.0.
	(cd "$tmp" && systemd-analyze security --offline=yes --no-pager \
	    "$tmp/retryproxy.service") >"$tmp/security.out" 2>&1
	rc=$?
	level=$(sed -n 's/.*Overall exposure level for retryproxy\.service: *\([0-9][0-9.]*\).*/\1/p' \
	    "$tmp/security.out" | head -1)
	if [ -z "$level" ]; then
		fail "systemd-analyze security exposure" \
		    "no 'Overall exposure level' line (exit $rc)"
		tail -20 "$tmp/security.out" | sed 's/^/    | /'
	elif awk -v x="$level" -v m="$max_exposure" 'BEGIN { exit !(x + 0 <= m + 0) }'; then
		pass "systemd-analyze security exposure $level <= $max_exposure"
	else
		fail "systemd-analyze security exposure $level <= $max_exposure"
		grep '✗' "$tmp/security.out" | head -20 | sed 's/^/    | /'
	fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
