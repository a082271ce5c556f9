#!/usr/bin/env bash
# control.sh - dx-host.exe's control pipe under wine, driven by dx.exe ctl:
# the pipe named in the startup log; status, plugins, stats, metrics,
# reload, apply, unload, load and swap answered over it (--socket,
# DX_SOCKET and -m); raw lines (pipelined, split, not JSON, too long);
# the pipe's DACL read back (owner and SYSTEM only); a second host on the
# same control.socket refused with the Linux message; a control.socket of
# \\.\pipe\NAME served as that very pipe and reached by --socket and -m,
# and bad pipe names (the prefix alone, a backslash, over 256 characters)
# refused naming control.socket; a unix: listen under \\.\pipe\ refused
# with the real reason; SIGINT from Linux
# reaching the host as CTRL_C_EVENT (what wine does: its console handler
# runs and the host drains); `dx ctl drain` ending the host with exit 0;
# and dx ctl afterwards saying nobody serves the pipe.
#
# usage (from meson test):
#   control.sh DX_HOST_EXE DX_EXE TEST_WIN_PIPE_EXE DX_DLL_DIR PLUGINS_DIR
# The Linux build ($DX_LINUX_BUILD, else build/) sends the request the
# stats count.
set -euo pipefail

usage="usage: control.sh DX_HOST_EXE DX_EXE TEST_WIN_PIPE_EXE DX_DLL_DIR PLUGINS_DIR"
HOST=$(realpath "${1:?$usage}") # meson passes them relative to the build dir
DX=$(realpath "${2:?$usage}")
PIPETEST=$(realpath "${3:?$usage}")
DLL_DIR=${4:?$usage}
PLUGINS=$(realpath "${5:?$usage}")
LINUX=${DX_LINUX_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
export WINEPATH="Z:$DLL_DIR"
# dx ctl's own deadline (5 s) made generous: wine on a busy machine.
SLOW=(--timeout 60000)

# shellcheck source=tests/win/lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/dx-win-control.XXXXXXXX")
PIDS=()
cleanup()
{
	stop_pids
	rm -rf "$T"
}
trap cleanup EXIT
cd "$T" # c.sock and the manifests are named relative to it

# check DESC WANT_RC OUT_RE CMD...: expect of CMD under wine.
check()
{
	local desc=$1 want=$2 re=$3
	shift 3
	expect "$desc" "$want" "$re" wine "$@"
}
# start_host LOG MANIFEST: dx-host.exe until its "control pipe" line.
start_host()
{
	start_wine_host "$1" "$2" 'control pipe'
}
# wait_exit PID DESC: the host's exit status is 0 within 60 s, and it
# logged what the regex LOG_RE says.
wait_exit()
{
	local pid=$1 desc=$2 log=$3 re=$4 rc=0
	for _ in $(seq 600); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$pid" || rc=$?
	reaped "$pid"
	tr -d '\r' <"$log" >"$log.txt"
	if [ "$rc" -eq 0 ] && grep -Eq -- "$re" "$log.txt"; then
		ok "$desc"
	else
		fail "$desc" "expected: exit 0 and a log line matching /$re/" \
			"got:      exit $rc, log:"
		sed 's/^/  | /' "$log.txt"
	fi
}

write_manifest()
{
	cat >"$T/m.json" <<JSON
{"dx": 1,
 "plugin_path": ["$PLUGINS/io_iocp", "$PLUGINS/routes_echo", "$PLUGINS/routes_hello"],
 "listen": ["127.0.0.1:0"], "workers": 1,
 "control": {"socket": "c.sock"},
 "plugins": [{"name": "io_iocp"}, {"name": "routes_echo"}$1]}
JSON
}
write_manifest ""
PIPE="\\\\.\\pipe\\dx-Z:$T/c.sock"

start_host "$T/host.log" m.json
H1=$HOST_PID
tr -d '\r' <"$T/host.log" >"$T/host.txt"
if grep -Fq "control pipe $PIPE" "$T/host.txt"; then
	ok "the startup log names the pipe ($PIPE)"
else
	fail "the startup log names the pipe" "expected: control pipe $PIPE" \
		"got:"
	sed 's/^/  | /' "$T/host.txt"
fi
ADDR=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$T/host.txt" |
	head -1)

check "dx ctl --socket status" 0 '^backend +iocp' \
	"$DX" ctl "${SLOW[@]}" --socket c.sock status
check "dx ctl status by the pipe's own name" 0 '^version +[0-9.]+ \(pid [0-9]+\)' \
	"$DX" ctl "${SLOW[@]}" --socket "$PIPE" status
DX_SOCKET=c.sock check "dx ctl plugins (DX_SOCKET)" 0 \
	'^routes_echo .*routes_echo\.dll' "$DX" ctl "${SLOW[@]}" plugins
# A request from Linux, for the stats to count.
if [ -n "$ADDR" ] && "$LINUX/tools/dx" call "$ADDR" echo counted >/dev/null; then
	ok "the Linux dx call reaches dx-host.exe at $ADDR"
else
	fail "the Linux dx call reaches dx-host.exe at ${ADDR:-(no address logged)}"
fi
check "dx ctl -m stats counts it" 0 '^host +requests +[1-9]' \
	"$DX" ctl "${SLOW[@]}" -m m.json stats
check "dx ctl metrics" 0 '^# TYPE dx_requests_total counter' \
	"$DX" ctl "${SLOW[@]}" --socket c.sock metrics
check "dx ctl reload routes_echo" 0 \
	'^routes_echo: .* -> .*routes_echo\.dll.*generation 2' \
	"$DX" ctl "${SLOW[@]}" --socket c.sock reload routes_echo
write_manifest ', {"name": "routes_hello"}'
check "dx ctl apply loads the plugin the manifest gained" 0 \
	'^applied .*m\.json: generation [0-9]+, 1 change' \
	"$DX" ctl "${SLOW[@]}" --socket c.sock apply
DX_SOCKET=c.sock check "and plugins lists it" 0 '^routes_hello ' \
	"$DX" ctl "${SLOW[@]}" plugins
check "dx ctl swap to a backend that is not there says why" 1 \
	'^dx ctl swap: .*no_such' "$DX" ctl "${SLOW[@]}" --socket c.sock swap io no_such
check "an unknown command over the pipe: the host's answer" 1 \
	'unknown command; use status, plugins' \
	"$DX" ctl "${SLOW[@]}" --socket c.sock bogus
check "dx ctl unload routes_hello" 0 '^unload routes_hello ' \
	"$DX" ctl "${SLOW[@]}" --socket c.sock unload routes_hello
check "dx ctl load --name routes_hello" 0 '^load routes_hello .*routes_hello\.dll' \
	"$DX" ctl "${SLOW[@]}" --socket c.sock load --name routes_hello
check "raw lines: pipelined, split, not JSON, too long" 0 \
	'test_win_pipe host: 1 cases passed, 0 failed' \
	"$PIPETEST" host "$PIPE"
check "the pipe's DACL: the owner and SYSTEM only" 0 \
	'test_win_pipe dacl: 1 cases passed, 0 failed' \
	"$PIPETEST" dacl "$PIPE"

check "a second host on the same control.socket stops, saying why" 1 \
	"control\\.socket Z:/.*/c\\.sock: pipe .*dx-Z:/.*/c\\.sock: another process serves it \\(a dx-host with the same control\\.socket\\?\\)" \
	"$HOST" -m m.json
check "and the first still answers" 0 '^plugins +3' \
	"$DX" ctl "${SLOW[@]}" --socket c.sock status

# SIGINT from Linux: wine raises CTRL_C_EVENT in the process, and the
# console handler stops the host as SIGINT does on Linux. (SIGTERM is not
# passed on: wine ends the process at once, no handler runs.)
sed 's/"c\.sock"/"int.sock"/' m.json >int.json
if start_host "$T/int.log" int.json; then
	kill -INT "$HOST_PID"
	wait_exit "$HOST_PID" "SIGINT under wine: CTRL_C_EVENT, drained, exit 0" \
		"$T/int.log" 'CTRL_C_EVENT: stopping as for SIGINT'
fi

# control.socket naming the pipe itself: \\.\pipe\NAME is used as it is,
# by dx-host.exe and by dx ctl (--socket, and -m reading the manifest).
NP="\\\\.\\pipe\\dx-test-$$"
json_str() { printf '"%s"' "${1//\\/\\\\}"; } # a JSON string of $1
pipe_manifest() { # FILE VALUE: a manifest with control.socket VALUE
	printf '{"dx": 1, "listen": [], "control": {"socket": %s}}\n' \
		"$(json_str "$2")" >"$1"
}
pipe_manifest p.json "$NP"
if start_host "$T/p.log" p.json; then
	tr -d '\r' <"$T/p.log" >"$T/p.txt"
	if grep -Fxq "control pipe $NP" <(sed 's/^.*: //' "$T/p.txt"); then
		ok "control.socket $NP: the startup log names that very pipe"
	else
		fail "control.socket $NP: the startup log names that very pipe" \
			"expected a line ending: control pipe $NP" "got:"
		sed 's/^/  | /' "$T/p.txt"
	fi
	check "dx ctl --socket $NP status" 0 '^version +[0-9.]+ \(pid [0-9]+\)' \
		"$DX" ctl "${SLOW[@]}" --socket "$NP" status
	check "dx ctl -m (control.socket $NP) status" 0 '^plugins +0' \
		"$DX" ctl "${SLOW[@]}" -m p.json status
	P_PID=$HOST_PID
	check "a second host on the same pipe name stops, saying why" 1 \
		'control\.socket .*: pipe .*dx-test-[0-9]+: another process serves it' \
		"$HOST" -m p.json
	check "dx ctl -m drain" 0 '^drain: done' "$DX" ctl "${SLOW[@]}" -m p.json drain
	wait_exit "$P_PID" "the pipe-named host drains and exits 0" "$T/p.log" \
		'dx ctl drain: draining'
fi
# Bad pipe names stop the start, the message naming control.socket; dx ctl
# -m says the same.
pipe_manifest bad1.json '\\.\pipe\'
check "control.socket \\\\.\\pipe\\ alone: refused" 1 \
	'bad1\.json: control\.socket: pipe name "\\\\\.\\pipe\\" names no pipe; put the pipe.s name after' \
	"$HOST" -m bad1.json
check "and dx ctl -m says the same" 1 \
	'^dx ctl: bad1\.json: control\.socket: pipe name "\\\\\.\\pipe\\" names no pipe' \
	"$DX" ctl "${SLOW[@]}" -m bad1.json status
pipe_manifest bad2.json '\\.\pipe\dx\test'
check "control.socket with a backslash in the pipe's name: refused" 1 \
	'control\.socket: pipe name "\\\\\.\\pipe\\dx\\test" holds a backslash after' \
	"$HOST" -m bad2.json
check "dx ctl --socket with such a name says what is wrong" 1 \
	'^dx ctl: pipe name \\\\\.\\pipe\\dx\\test holds a backslash after .*: Invalid argument$' \
	"$DX" ctl "${SLOW[@]}" --socket '\\.\pipe\dx\test' status
pipe_manifest bad3.json "//./pipe/$(printf 'x%.0s' $(seq 248))"
check "control.socket with a pipe name over 256 characters: refused" 1 \
	'control\.socket: pipe name "//\./pipe/x+" is too long: Windows takes at most 256' \
	"$HOST" -m bad3.json
pipe_manifest ok3.json "//./pipe/$(printf 'x%.0s' $(seq 247))"
check "and one of 256 passes" 0 'ok3\.json: ok' "$HOST" -m ok3.json --check
# \\.\pipe\ is no directory a socket file can be in: said with the real
# reason, not the "Cannot allocate memory" dx_path_real once gave.
printf '{"dx": 1, "listen": [%s]}\n' "$(json_str 'unix:\\.\pipe\x.sock')" >u.json
check "a unix: listen address under \\\\.\\pipe\\: the real reason" 1 \
	'listen\[0\]: socket directory \\\\\.\\pipe\\: No such device$' \
	"$HOST" -m u.json

check "dx ctl drain" 0 '^drain: done' "$DX" ctl "${SLOW[@]}" --socket c.sock drain
wait_exit "$H1" "the host drains and exits 0" "$T/host.log" \
	'dx ctl drain: draining'
check "dx ctl with the host gone says nobody serves the pipe" 1 \
	'c\.sock \(pipe .*\): No such file or directory \(is dx-host running' \
	"$DX" ctl "${SLOW[@]}" --socket c.sock status

finish control.sh
