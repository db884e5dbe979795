#!/bin/sh
# The manual pages: mandoc lint is clean, every config key that
# "retryproxy -t" prints has an entry in retryproxy.ini(5), and every long
# option of "retryproxy -h" appears in retryproxy(8).
#
# Environment (set by "make check"): RETRYPROXY (the binary), top_builddir
# (where make wrote man/retryproxy.8 and man/retryproxy.ini.5; default .).
# Without mandoc the lint checks are reported as SKIP.

RETRYPROXY=${RETRYPROXY:-./retryproxy}
top_builddir=${top_builddir:-.}
page8=$top_builddir/man/retryproxy.8
page5=$top_builddir/man/retryproxy.ini.5

if [ ! -x "$RETRYPROXY" ]; then
	echo "run-man: $RETRYPROXY is not an executable (set RETRYPROXY)" >&2
	exit 99
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/run-man.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

passed=0
failed=0
skipped=0

pass() {
	echo "PASS $1"
	passed=$((passed + 1))
}

fail() {
	echo "FAIL $1${2:+: $2}"
	failed=$((failed + 1))
}

skip() {
	echo "SKIP $1${2:+: $2}"
	skipped=$((skipped + 1))
}

have_mandoc=no
command -v mandoc >/dev/null 2>&1 && have_mandoc=yes

# The pages exist and were substituted.
for p in "$page8" "$page5"; do
	if [ ! -r "$p" ]; then
		fail "exists $p" "not found (run make first)"
	elif grep -q '@[a-z_]*@' "$p"; then
		fail "substituted $p" "$(grep -n '@[a-z_]*@' "$p" | head -1)"
	else
		pass "substituted $p"
	fi
done

# (a) mandoc -Tlint -W warning: exit 0 and no output.
for p in "$page8" "$page5"; do
	if [ "$have_mandoc" = no ]; then
		skip "lint $p" "mandoc not installed"
		continue
	fi
	[ -r "$p" ] || continue
	mandoc -Tlint -W warning "$p" >"$tmp/lint" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ] && [ ! -s "$tmp/lint" ]; then
		pass "lint $p"
	else
		fail "lint $p" "exit $rc"
		sed 's/^/    | /' "$tmp/lint" | head -20
	fi
done

# (b) every key of [proxy], [tls], [default] and [gateway] in "retryproxy -t"
# of a config with only a gateway has an entry ".It Cm KEY Ns = Ns Ar TYPE" in
# retryproxy.ini(5); and every such entry is a key retryproxy knows.
printf '[gateway 127.0.0.1:1]\norigin = http://a.example\n' >"$tmp/empty.ini"
if ! "$RETRYPROXY" -t -c "$tmp/empty.ini" >"$tmp/dump" 2>"$tmp/err"; then
	fail "retryproxy -t of an empty config" "$(head -1 "$tmp/err")"
elif [ -r "$page5" ]; then
	awk '
		/^\[(proxy|tls|default|gateway [^]]*)\]$/ { on = 1; next }
		/^\[/ { on = 0; next }
		on && / = / { sub(/ = .*/, ""); print }
	' "$tmp/dump" >"$tmp/keys"
	nkeys=$(wc -l <"$tmp/keys" | tr -d ' ')
	if [ "$nkeys" -lt 40 ]; then
		fail "keys from retryproxy -t" "only $nkeys keys found"
	fi
	while read -r key; do
		if grep -qF ".It Cm $key Ns = Ns Ar " "$page5"; then
			pass "retryproxy.ini.5 documents $key"
		else
			fail "retryproxy.ini.5 documents $key" \
			    "no line '.It Cm $key Ns = Ns Ar ...'"
		fi
	done <"$tmp/keys"
	sed -n 's/^\.It Cm \([a-z_]*\) Ns = Ns Ar .*/\1/p' "$page5" |
	    sort -u >"$tmp/documented"
	sort -u "$tmp/keys" >"$tmp/known"
	stale=$(comm -23 "$tmp/documented" "$tmp/known" | tr '\n' ' ')
	if [ -z "$stale" ]; then
		pass "retryproxy.ini.5 documents no unknown key"
	else
		fail "retryproxy.ini.5 documents no unknown key" "$stale"
	fi
fi

# (c) every long option of "retryproxy -h" appears in retryproxy(8): in
# the rendered page when mandoc is there, else as "Fl -NAME" in the source.
if ! "$RETRYPROXY" -h >"$tmp/help" 2>"$tmp/err"; then
	fail "retryproxy -h" "exit status not 0"
elif [ -r "$page8" ]; then
	tr ' \t,;[]()=' '\n\n\n\n\n\n\n\n\n' <"$tmp/help" |
	    grep '^--[a-z]' | sort -u >"$tmp/longopts"
	if [ ! -s "$tmp/longopts" ]; then
		fail "long options from retryproxy -h" "none found"
	fi
	if [ "$have_mandoc" = yes ]; then
		bs=$(printf '\b')
		MANWIDTH=80 mandoc -Tascii "$page8" 2>/dev/null |
		    sed "s/.$bs//g" >"$tmp/page8.txt"
	fi
	while read -r opt; do
		if [ "$have_mandoc" = yes ]; then
			found=$(grep -cF -- "$opt" "$tmp/page8.txt")
		else
			found=$(grep -cF -- "Fl -${opt#--}" "$page8")
		fi
		if [ "$found" -gt 0 ]; then
			pass "retryproxy.8 mentions $opt"
		else
			fail "retryproxy.8 mentions $opt"
		fi
	done <"$tmp/longopts"
fi

echo "$passed passed, $failed failed${skipped:+, $skipped skipped}" |
    sed 's/, 0 skipped$//'
[ "$failed" -eq 0 ]
