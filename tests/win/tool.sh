#!/usr/bin/env bash
# tool.sh - dx.exe under wine: `dx call` against a Linux dx-host (a route
# by name, --ping, --routes, an unknown route, a refused connection),
# `dx plugin inspect` on DLLs of the cross build (a good one, a refused
# one with the loader's message and exit 1), dx ctl with no host on its
# pipe, and the commands that do not run on Windows yet saying so (exit 2).
#
# usage (from meson test): tool.sh DX_EXE DX_DLL_DIR PLUGINS_DIR TEST_PLUGINS_DIR
set -euo pipefail

usage="usage: tool.sh DX_EXE DX_DLL_DIR PLUGINS_DIR TEST_PLUGINS_DIR"
DX=${1:?$usage}
DLL_DIR=${2:?$usage}
PLUGINS=${3:?$usage}
TPLUGINS=${4:?$usage}
# shellcheck source=tests/win/host.sh
. "$(dirname "$0")/host.sh"
export WINEPATH="Z:$DLL_DIR"

PASSED=0
FAILED=0
# check DESC WANT_RC OUT_RE CMD...: run CMD (under wine), compare its exit
# status and search its stdout + stderr for the extended regex OUT_RE.
check()
{
	local desc=$1 want=$2 re=$3 rc
	shift 3
	set +e
	# Into a file, not a pipe: a wineserver started by this command
	# would hold a pipe open for seconds after it. The C runtime writes
	# text with CRLF line ends: compare without CR.
	wine "$DX" "$@" >"$T/raw" 2>&1 </dev/null
	rc=$?
	tr -d '\r' <"$T/raw" >"$T/out"
	set -e
	if [ "$rc" -eq "$want" ] && grep -Eq -- "$re" "$T/out"; then
		PASSED=$((PASSED + 1))
		echo "ok: $desc"
	else
		FAILED=$((FAILED + 1))
		echo "FAIL: $desc"
		echo "  command:  dx.exe $*"
		echo "  expected: exit $want, output matching /$re/"
		echo "  got:      exit $rc, output:"
		sed 's/^/  | /' "$T/out"
	fi
}

check "dx call ROUTE ARGS answers" 0 '^over wine$' \
	call "$ADDR" echo "over wine"
check "dx call --ping" 0 '^pong seq [0-9]+, 4 bytes, [0-9]+ us' \
	call "$ADDR" --ping wine
check "dx call --routes lists routes_echo's" 0 '"echo".*"delay"|"delay".*"echo"' \
	call "$ADDR" --routes
check "dx call with an unknown route" 1 'no route "no_such_route"' \
	call "$ADDR" no_such_route
check "dx call to a closed port" 1 "127\\.0\\.0\\.1:$CLOSED.*Connection refused" \
	call "127.0.0.1:$CLOSED" echo x

# Windows paths: wine's Z: drive is the Unix root.
win()
{
	printf 'Z:%s' "${1//\//\\}"
}
check "dx plugin inspect routes_hello.dll" 0 'route 1 hello' \
	plugin inspect "$(win "$PLUGINS/routes_hello/routes_hello.dll")" \
	--allow-writable
check "dx plugin inspect a refused DLL: the loader's message" 1 \
	'bad descriptor magic 0x32505844' \
	plugin inspect "$(win "$TPLUGINS/bad_magic.dll")" --allow-writable
check "dx plugin ids" 0 '1024\.\.65535' plugin ids
check "dx version" 0 '^dx [0-9.]+ \(plugin ABI [0-9]+\.[0-9]+\)$' version
# dx ctl runs on Windows (tests/win/control.sh drives it against
# dx-host.exe): with no host on the pipe it says so, naming the pipe.
check "dx ctl with no host on the pipe says so" 1 \
	'nobody\.sock \(pipe \\\\\.\\pipe\\dx-Z:/.*/nobody\.sock\): No such file or directory \(is dx-host running' \
	ctl --socket "$T/nobody.sock" status
check "dx forge says it is not on Windows yet" 2 'not on Windows yet' \
	forge list
check "dx bench says what it needs" 1 'needs Linux \(epoll\)' \
	bench "$ADDR"

echo "tool.sh: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
