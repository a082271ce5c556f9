#!/usr/bin/env bash
# serve.sh - dx-host serving IPv4, IPv6 and a Unix socket at once, driven by
# dx call and dx ctl as a user would (usage: serve.sh DX_HOST DX).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

DX_HOST=$(abs_exe "${1:?usage: serve.sh DX_HOST DX}")
DX=$(abs_exe "${2:?usage: serve.sh DX_HOST DX}")

LISTEN='"127.0.0.1:0", "unix:hbtp.sock"'
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
	LISTEN="$LISTEN, \"[::1]:0\""
	V6=1
else
	V6=0
	echo "note: no IPv6 loopback here; [::1] not tried"
fi
cat >"$T/m.json" <<JSON
{"dx": 1, "plugin_path": ["$DX_PLUGINS"], "listen": [$LISTEN],
 "workers": 2, "control": {"socket": "ctl.sock"},
 "plugins": [{"name": "io_epoll"}, {"name": "routes_hello"},
             {"name": "routes_echo", "routes": {"echo": 20}}]}
JSON

"$DX_HOST" -m "$T/m.json" 2>"$T/log" &
HOST=$!
BG_PIDS+=("$HOST")
for _ in $(seq 100); do
	grep -q 'ready' "$T/log" && break
	sleep 0.05
done
check "dx-host logs ready" grep -q ready "$T/log"
V4=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\) .*/\1/p' "$T/log")
check "dx-host logs the port it bound for 127.0.0.1:0" test -n "$V4"

run "$DX" call "$V4" hello v4
expect_rc 0 "dx call over IPv4"
expect_out '^hello, v4!$' "hello answers over IPv4"

run "$DX" call "unix:$T/hbtp.sock" hello unix
expect_rc 0 "dx call over the Unix socket"
expect_out '^hello, unix!$' "hello answers over the Unix socket"

if [ "$V6" = 1 ]; then
	V6ADDR=$(sed -n 's/.*listening on \(\[::1\]:[0-9]*\) .*/\1/p' "$T/log")
	run "$DX" call "$V6ADDR" hello v6
	expect_rc 0 "dx call over IPv6 ($V6ADDR)"
	expect_out '^hello, v6!$' "hello answers over IPv6"
fi

run "$DX" call "$V4" echo moved route
expect_out '^moved route$' "echo answers under the id the manifest gave it"
run "$DX" call --routes "$V4"
expect_out '"id":20,"name":"echo"' "route 0 lists echo as id 20"
run "$DX" call "$V4" nope
expect_rc 1 "dx call to an unknown route name exits 1"
expect_err 'no route "nope"' "and says which route"
run "$DX" call "$V4" delay abc
expect_rc 1 "a route's own 400 exits 1"
expect_err 'error 400' "and shows the status"

run "$DX" ctl --socket "$T/ctl.sock" status
expect_rc 0 "dx ctl status"
expect_out '^backend +epoll$' "status names the backend"
expect_out '^requests +[1-9]' "status counts requests"
run "$DX" ctl --socket "$T/ctl.sock" --json plugins
expect_out '"name":"routes_echo"' "dx ctl --json plugins lists routes_echo"
run "$DX" ctl --socket "$T/ctl.sock" bogus
expect_rc 1 "an unknown control command exits 1"
expect_err 'unknown command' "and says so"
check "the control socket is mode 0600" \
	test "$(stat -c %a "$T/ctl.sock")" = 600

run "$DX" ctl --socket "$T/ctl.sock" drain
expect_rc 0 "dx ctl drain"
for _ in $(seq 100); do
	kill -0 "$HOST" 2>/dev/null || break
	sleep 0.05
done
set +e
wait "$HOST"
RC=$?
set -e
check "dx-host exits 0 after drain (got $RC)" test "$RC" = 0
check "the control socket is removed" test ! -e "$T/ctl.sock"
check "the Unix listener's socket is removed" test ! -e "$T/hbtp.sock"
finish
