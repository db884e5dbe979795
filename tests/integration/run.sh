#!/bin/sh
# Integration tests: the scripted upstream, the daemon and real clients
# (tests/integration/*.py, run by pytest).  Listed in the automake TESTS;
# exits non-zero when a test fails.  The daemon is $RETRYPROXY (automake
# sets it), else ./retryproxy at the top of the tree.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=${top_srcdir:-$here/../..}

# Make RETRYPROXY absolute before changing directory.
if [ -n "${RETRYPROXY:-}" ]; then
	case $RETRYPROXY in
	/*) ;;
	*) RETRYPROXY=$(pwd)/$RETRYPROXY ;;
	esac
	export RETRYPROXY
fi

cd "$top"

# The first python3 that has pytest (a pyenv shim may shadow Debian's).
py=
for cand in ${PYTHON:-} python3 /usr/bin/python3; do
	if command -v "$cand" >/dev/null 2>&1 &&
	    "$cand" -c 'import pytest' >/dev/null 2>&1; then
		py=$cand
		break
	fi
done
if [ -z "$py" ]; then
	echo "run.sh: no python3 with pytest (apt-get install python3-pytest)" >&2
	exit 99
fi

# No bytecode or cache in the source tree (make distcheck makes it read-only).
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
exec "$py" -m pytest -q -p no:cacheprovider tests/integration "$@"
