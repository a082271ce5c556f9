#!/usr/bin/env bash
# tool.sh - dx.exe under wine: `dx call` against a Linux dx-host (a route
# by name, --ping, --routes, an unknown route, a refused connection),
# `dx plugin inspect` on DLLs of the cross build (a good one, a refused
# one with the loader's message and exit 1), `dx bench` against the same
# host (its WSAPoll loop: pipelined, several connections and threads, 0
# errors; a refused connection, a server hanging up), dx ctl with no host
# on its pipe, and the commands that do not run on Windows yet saying so
# (exit 2).
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
	local ok=1
	[ "$rc" -eq "$want" ] && grep -Eq -- "$re" "$T/out" && ok=0
	tally "$desc" "$ok" "command:  dx.exe $*" \
		"expected: exit $want, output matching /$re/" \
		"got:      exit $rc, output:"
}

# also DESC OUT_RE: the last check's output matches OUT_RE too.
also()
{
	local ok=1
	grep -Eq -- "$2" "$T/out" && ok=0
	tally "$1" "$ok" \
		"expected: the last check's output matching /$2/, got:"
}

# tally DESC OK DETAIL...: count a check (OK 0: passed); a failure prints
# the DETAIL lines and the output of the last command run.
tally()
{
	local desc=$1 ok=$2
	shift 2
	if [ "$ok" -eq 0 ]; then
		PASSED=$((PASSED + 1))
		echo "ok: $desc"
		return
	fi
	FAILED=$((FAILED + 1))
	echo "FAIL: $desc"
	printf '  %s\n' "$@"
	sed 's/^/  | /' "$T/out"
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

# dx bench: the poll loop (WSAPoll) against the Linux host, the report as
# on Linux with the wait call named "poll".
check "dx bench -c 8 -P 4 -t 2 for 3 s" 0 \
	'8 connections x pipeline 4, 2 threads, 3\.00 s measured' \
	bench -c 8 -P 4 -t 2 -d 3 --warmup 0.5 "$ADDR"
also "dx bench: a requests/s figure" '^  requests/s +[1-9][0-9]*$'
also "dx bench: p50, p99, p99.9 and max" \
	'p50 [0-9.]+ +p99 [0-9.]+ +p99\.9 [0-9.]+ +max [0-9.]+'
also "dx bench: requests answered, none failed" '[1-9][0-9]* answered, 0 errors'
also "dx bench: the wait call is poll (WSAPoll)" \
	'^  syscalls +per answer: recv [0-9.]+ +send [0-9.]+ +poll [0-9.]+$'
check "dx bench --route echo -n 500 --json" 0 \
	'^\{.*"requests": 500, "errors": 0,.*"poll_per_answer": [0-9.]+\}$' \
	bench --json -c 2 -P 2 -n 500 --warmup 0 --route echo -s 32 "$ADDR"
check "dx bench --route with an unknown name" 1 'no route "no_such_route"' \
	bench -c 1 -n 10 --route no_such_route "$ADDR"
check "dx bench -c 0 is a usage error" 2 '-c wants an integer in 1\.\.100000' \
	bench -c 0 "$ADDR"
check "dx bench to a closed port: Linux's words" 1 \
	"cannot connect to 127\\.0\\.0\\.1:$CLOSED: Connection refused \\(is a server listening there\\?\\)" \
	bench -c 2 -d 1 "127.0.0.1:$CLOSED"

# A server that takes 8 connections, answers nothing and hangs up on all
# of them after a second: every connection ends inside WSAPoll's waits,
# and dx bench says so (exit 1) instead of waiting out -d.
python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
conns = [s.accept()[0] for _ in range(8)]
time.sleep(1)
for c in conns:
    c.close()
' >"$T/hangup.port" 2>&1 &
HANGUP_PID=$!
for _ in $(seq 50); do
	[ -s "$T/hangup.port" ] && break
	sleep 0.1
done
check "dx bench when the server hangs up on every connection" 1 \
	'8 of 8 connections ended early' \
	bench -c 8 -P 4 -t 2 -d 30 --warmup 0 "127.0.0.1:$(head -1 "$T/hangup.port")"
wait "$HANGUP_PID" || true

echo "tool.sh: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
