#!/usr/bin/env bash
# forge_route.sh - the forge orchestrator is reachable over HBTP (route
# "forge") as well as the control socket, and a host that stops takes its
# tools with it (usage: forge_route.sh DX_HOST DX).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

DX_HOST=$(abs_exe "${1:?usage: forge_route.sh DX_HOST DX}")
DX=$(abs_exe "${2:?usage: forge_route.sh DX_HOST DX}")

cat >"$T/m.json" <<JSON
{"dx": 1, "plugin_path": ["$DX_PLUGINS"], "listen": ["127.0.0.1:0"],
 "workers": 1, "control": {"socket": "ctl.sock"},
 "plugins": [{"name": "io_epoll"}, {"name": "forge_process"},
             {"name": "forge", "config": {"log_dir": "$T/logs"}}],
 "forge": {"tools": [{"name": "sleeper", "binary": "/bin/sleep",
                      "args": ["37"], "health": {"alive": true}}]}}
JSON
"$DX_HOST" -m "$T/m.json" 2>"$T/log" &
HOST=$!
BG_PIDS+=("$HOST")
for _ in $(seq 100); do
	grep -q 'ready\|error' "$T/log" && break
	sleep 0.05
done
ADDR=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\) .*/\1/p' "$T/log")
check "dx-host with forge came up" test -n "$ADDR"

STATE=
for _ in $(seq 100); do
	run "$DX" call "$ADDR" forge
	STATE=$(sed -n 's/.*"name":"sleeper","state":"\([a-z]*\)".*/\1/p' <<<"$OUT")
	[ "$STATE" = healthy ] && break
	sleep 0.05
done
check "the forge route reports the tool healthy (got '$STATE')" test "$STATE" = healthy
run "$DX" call "$ADDR" forge '{"op": "stop", "tool": "sleeper"}'
expect_rc 0 "the forge route stops a tool"
for _ in $(seq 100); do
	pgrep -f "^/bin/sleep 37" >/dev/null || break
	sleep 0.05
done
check "the tool's process is gone" bash -c '! pgrep -f "^/bin/sleep 37" >/dev/null'
run "$DX" call "$ADDR" forge '{"op": "up", "tool": "sleeper"}'
expect_rc 0 "the forge route starts it again"
# Background tasks, queued on the host's threads through forge.
mkdir -p "$T/proj/src"
printf 'int main(void)\n{\n\treturn 0;\n}\n' >"$T/proj/src/main.c"
run "$DX" call "$ADDR" forge "{\"op\": \"task\", \"kind\": \"snapshot\", \"project\": \"$T/proj\"}"
expect_out '"queued":"forge.snapshot"' "a snapshot task is queued"
run "$DX" call "$ADDR" forge "{\"op\": \"task\", \"kind\": \"analyse\", \"project\": \"$T/proj\"}"
expect_out '"queued":"forge.analyse"' "an analyse task is queued"
for _ in $(seq 100); do
	run "$DX" call "$ADDR" forge '{"op": "tasks"}'
	grep -q 'forge.analyse' <<<"$OUT" && grep -q 'forge.snapshot' <<<"$OUT" && break
	sleep 0.05
done
expect_out '"task":"forge.snapshot","rc":0' "the snapshot ran on a background thread"
expect_out '"task":"forge.analyse","rc":0' "the analysis ran too"
check "the snapshot is in the project's store" \
	test -n "$(ls "$T/proj/.dx/forge/snapshots/manifests" 2>/dev/null)"
check "the analysis report was written" test -s "$T/proj/.dx/forge/analysis.json"
run "$DX" call "$ADDR" forge '{"op": "task", "kind": "nope"}'
expect_rc 1 "an unknown task kind is an error"
run "$DX" ctl --socket "$T/ctl.sock" --json forge
expect_rc 0 "the control command answers status"
# The control command carries the plugin's own reason for a refusal.
printf '{"cmd": "forge", "op": "task", "kind": "prefetch"}\n' >"$T/req"
printf '{"cmd": "forge", "op": "task", "kind": "sync"}\n' >>"$T/req"
printf '{"cmd": "forge", "op": "task", "kind": "sync", "endpoint": "http://127.0.0.1:1", "bucket": "b", "credentials": "%s/none"}\n' "$T" >>"$T/req"
printf '{"cmd": "forge", "op": "logs", "tool": "nope"}\n' >>"$T/req"
if command -v python3 >/dev/null; then
	run python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
for line in open(sys.argv[2]):
    s.sendall(line.encode())
    print(s.makefile().readline().strip())
' "$T/ctl.sock" "$T/req"
	expect_out 'prefetch needs \\"registry\\", \\"name\\" and \\"version\\"' \
		"prefetch without its package is refused, saying what it needs"
	expect_out 'sync needs \\"endpoint\\" and \\"bucket\\"' \
		"sync without a store is refused, saying what it needs"
	expect_out 'forge: sync: ' "sync without credentials names the problem"
	expect_out '"ok":false.*nope' "logs of an unknown tool names it"
fi
run "$DX" call "$ADDR" forge '{"op": "nope"}'
expect_rc 1 "an unknown op is an error"
expect_err 'error 400: forge: use' "and says what the ops are"
run "$DX" ctl --socket "$T/ctl.sock" drain
expect_rc 0 "dx ctl drain"
set +e
wait "$HOST"
RC=$?
set -e
check "dx-host exits 0 (got $RC)" test "$RC" = 0
check "no tool outlives the host" bash -c '! pgrep -f "^/bin/sleep 37" >/dev/null'
finish
