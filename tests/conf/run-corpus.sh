#!/bin/sh
# Config corpus: every tests/conf/invalid/*.ini must make "retryproxy -t"
# exit 78 with the error its first line names ("; expect: TEXT", where a
# TEXT starting with ':' follows the file name as given); every
# tests/conf/valid/*.ini, and the sample conf/retryproxy.ini, must pass -t.
#
# Environment (set by "make check"): top_srcdir, RETRYPROXY (the binary).

top_srcdir=${top_srcdir:-$(dirname "$0")/../..}
RETRYPROXY=${RETRYPROXY:-./retryproxy}

if [ ! -x "$RETRYPROXY" ]; then
	echo "run-corpus: $RETRYPROXY is not an executable (set RETRYPROXY)" >&2
	exit 99
fi

passed=0
failed=0

pass() {
	echo "PASS $1"
	passed=$((passed + 1))
}

fail() {
	echo "FAIL $1: $2"
	failed=$((failed + 1))
}

# Indent captured output under a FAIL line.
show() {
	printf '%s\n' "$1" | sed 's/^/    | /'
}

for f in "$top_srcdir"/tests/conf/invalid/*.ini; do
	[ -f "$f" ] || continue
	name=invalid/$(basename "$f")
	expect=$(sed -n '1s/^; expect: //p' "$f" | tr -d '\r')
	if [ -z "$expect" ]; then
		fail "$name" "first line is not '; expect: TEXT'"
		continue
	fi
	case $expect in
	:*) needle="$f$expect" ;;
	*) needle=$expect ;;
	esac
	err=$("$RETRYPROXY" -t -c "$f" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -ne 78 ]; then
		fail "$name" "exit $rc, want 78"
		show "$err"
	elif ! printf '%s\n' "$err" | grep -qF -- "$needle"; then
		fail "$name" "stderr lacks: $needle"
		show "$err"
	else
		pass "$name"
	fi
done

check_valid() {
	out=$("$RETRYPROXY" -t -c "$1" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "$2" "exit $rc, want 0"
		show "$out"
	else
		pass "$2"
	fi
}

for f in "$top_srcdir"/tests/conf/valid/*.ini; do
	[ -f "$f" ] || continue
	check_valid "$f" "valid/$(basename "$f")"
done

if [ -f "$top_srcdir/conf/retryproxy.ini" ]; then
	check_valid "$top_srcdir/conf/retryproxy.ini" "conf/retryproxy.ini"
fi

# valid/every-key.ini names every key "retryproxy -t" prints
every="$top_srcdir/tests/conf/valid/every-key.ini"
missing=$("$RETRYPROXY" -t -c /dev/null 2>/dev/null |
	sed -n 's/^\([a-z_]*\) =.*/\1/p' | sort -u | while read -r key; do
	grep -q "^$key =" "$every" || printf '%s ' "$key"
done)
if [ -n "$missing" ]; then
	fail "valid/every-key.ini names every key" "missing: $missing"
else
	pass "valid/every-key.ini names every key"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
