#!/bin/sh
# The command line of retryproxy(8) OPTIONS: flags, exit codes (0, 64 usage,
# 78 config), -t and --explain output.
#
# Environment (set by "make check"): RETRYPROXY (the binary).

RETRYPROXY=${RETRYPROXY:-./retryproxy}

if [ ! -x "$RETRYPROXY" ]; then
	echo "run-cli: $RETRYPROXY is not an executable (set RETRYPROXY)" >&2
	exit 99
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/run-cli.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

passed=0
failed=0
out=$tmp/out
err=$tmp/err

# run ARGS...: run the binary, leaving stdout, stderr and the exit status.
run() {
	"$RETRYPROXY" "$@" >"$out" 2>"$err"
	rc=$?
}

# check NAME WANT_RC [out|err|outline TEXT]...: judge the last run.  "out"
# and "err" want TEXT somewhere in that stream, "outline" a whole stdout
# line equal to TEXT, "outre" a stdout line matching the extended regex
# TEXT, "noout" no TEXT in stdout.
check() {
	name=$1
	want=$2
	shift 2
	why=
	if [ "$rc" -ne "$want" ]; then
		why="exit $rc, want $want"
	fi
	while [ $# -ge 2 ] && [ -z "$why" ]; do
		case $1 in
		out) grep -qF -- "$2" "$out" || why="stdout lacks: $2" ;;
		err) grep -qF -- "$2" "$err" || why="stderr lacks: $2" ;;
		outline) grep -qxF -- "$2" "$out" || why="no stdout line: $2" ;;
		outre) grep -qE -- "$2" "$out" || why="no stdout line like: $2" ;;
		noout) grep -qF -- "$2" "$out" && why="stdout has: $2" ;;
		esac
		shift 2
	done
	if [ -z "$why" ]; then
		echo "PASS $name"
		passed=$((passed + 1))
	else
		echo "FAIL $name: $why"
		sed 's/^/    stdout| /' "$out" | head -20
		sed 's/^/    stderr| /' "$err" | head -20
		failed=$((failed + 1))
	fi
}

typo=$tmp/typo.ini
printf '; a typo on line 3\n[default]\nattemps = 3\n' >"$typo"
api=$tmp/api.ini
printf '[route api.example.com/v1/]\nattempts = 4\nstart_timeout = 100ms\n' \
    >"$api"

run -V
check "-V prints the version" 0 outre '^retryproxy [0-9]+(\.[0-9]+)*'
run --version
check "--version" 0 out "retryproxy "

run -h
check "-h" 0 out "usage: retryproxy"
run --help
check "--help" 0 out "usage: retryproxy"

run -x
check "unknown flag -x" 64
run --no-such-flag
check "unknown flag --no-such-flag" 64
run -t -c "$api" stray
check "stray argument" 64

run --explain
check "--explain without METHOD" 64
run --explain GET
check "--explain without URL" 64
run --explain GET -c "$api"
check "--explain GET -c FILE (no URL)" 64
run --explain 'G@T' http://api.example.com/ -c "$api"
check "--explain with a bad method" 64

run -c /nonexistent/retryproxy.ini
check "-c missing file" 78 err "/nonexistent/retryproxy.ini"
run -t -c /nonexistent/retryproxy.ini
check "-t -c missing file" 78 err "/nonexistent/retryproxy.ini"

run -t -c "$typo"
check "-t with a typo" 78 \
    err "retryproxy: $typo:3: [default] attemps: unknown key" \
    err "'attempts'" \
    noout "[proxy]"
run --check-config --config "$typo"
check "--check-config with a typo" 78 err "$typo:3:"

run -t -c "$api"
check "-t prints the effective config" 0 \
    outline "[proxy]" \
    outline "listen = 127.0.0.1:3128" \
    outline "[route api.example.com/v1/]" \
    outline "attempts = 4"

run --explain GET http://api.example.com/v1/x -c "$api"
check "--explain a routed URL" 0 \
    out "api.example.com/v1/" \
    outline "attempt 2 after 100ms" \
    outline "attempt 3 after 200ms" \
    outline "attempt 4 after 400ms" \
    noout "attempt 5"
run --explain GET http://other.example.com/v1/x -c "$api"
check "--explain an unrouted URL" 0 \
    out "[default]" \
    outline "attempt 2 after 100ms" \
    outline "attempt 3 after 200ms" \
    noout "attempt 4"

run -l 127.0.0.1:9999 -t -c "$api"
check "-l replaces listen" 0 outline "listen = 127.0.0.1:9999"
run --listen '[::1]:9999' -t -c "$api"
check "--listen IPv6" 0 outline "listen = [::1]:9999"
run -l garbage -t -c "$api"
check "-l garbage" 78 err "garbage"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
