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

# Every socket the host holds (listeners, the unix listener's per-worker
# copies, the control socket) is close-on-exec: a child a plugin starts
# must not keep a listener open.
leaky=""
for fd in /proc/"$HOST"/fd/*; do
	case "$(readlink "$fd")" in socket:*) ;; *) continue ;; esac
	flags=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$HOST/fdinfo/${fd##*/}")
	(( (8#$flags & 8#2000000) != 0 )) || leaky="$leaky ${fd##*/}"
done
check "every socket of dx-host is close-on-exec (not:$leaky)" test -z "$leaky"

run "$DX" call "$V4" hello v4
expect_rc 0 "dx call over IPv4"
expect_out '^hello, v4!$' "hello answers over IPv4"

run "$DX" call "unix:$T/hbtp.sock" hello unix
expect_rc 0 "dx call over the Unix socket"
expect_out '^hello, unix!$' "hello answers over the Unix socket"

# A unix listener's path is taken at startup only from a stale socket: a
# second host naming the first one's live socket, or a regular file, is
# refused naming the path, and what is there stays.
unix_host()
{
	cat >"$T/u.json" <<JSON
{"dx": 1, "plugin_path": ["$DX_PLUGINS"], "listen": ["unix:$1"],
 "workers": 1, "control": {"socket": "u.sock"},
 "plugins": [{"name": "io_epoll"}, {"name": "routes_hello"}]}
JSON
	run timeout 20 "$DX_HOST" -m "$T/u.json"
}
unix_host "$T/hbtp.sock"
expect_rc 1 "a second host on the first one's live unix socket stops"
expect_err "another process listens on $T/hbtp.sock" "and says another process listens there"
run "$DX" call "unix:$T/hbtp.sock" hello still
expect_out '^hello, still!$' "the first host still serves on its socket"
echo keep >"$T/file.sock"
unix_host "$T/file.sock"
expect_rc 1 "a unix listener on a regular file stops the start"
expect_err "$T/file.sock exists and is not a socket" "and names the file"
check "the file is left as it was" grep -qx keep "$T/file.sock"
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/stale.sock"
unix_host "$T/stale.sock" &
STALE=$!
for _ in $(seq 100); do
	"$DX" call "unix:$T/stale.sock" hello stale >/dev/null 2>&1 && break
	sleep 0.05
done
run "$DX" call "unix:$T/stale.sock" hello stale
expect_out '^hello, stale!$' "a stale socket file (nobody listens) is replaced and served"
run "$DX" ctl --socket "$T/u.sock" drain
wait "$STALE" || true

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
# dx ctl -m with a manifest it cannot use says which file and where, as
# dx-host does.
printf '{"dx": 1, "control": {"socket": 5}}' >"$T/ctl_bad.json"
run "$DX" ctl -m "$T/ctl_bad.json" status
expect_rc 1 "dx ctl -m with a bad control.socket exits 1"
expect_err "^dx ctl: $T/ctl_bad\.json: control\.socket: expected a non-empty string, got 5$" \
	"and names the file and the JSON path"
printf '{"dx": 1,' >"$T/ctl_syntax.json"
run "$DX" ctl -m "$T/ctl_syntax.json" status
expect_err "^dx ctl: $T/ctl_syntax\.json:1:[0-9]+: JSON syntax error" \
	"a JSON syntax error as FILE:LINE:COL"
# Live changes as an operator types them: reload, unload, load.
run "$DX" ctl --socket "$T/ctl.sock" reload routes_hello
expect_rc 0 "dx ctl reload routes_hello"
expect_out '^routes_hello: 1\.0\.0 -> 1\.0\.0 .*generation 2' "reload says what changed"
run "$DX" call "$V4" hello again
expect_out '^hello, again!$' "hello answers after its reload"
run "$DX" ctl --socket "$T/ctl.sock" unload routes_hello
expect_rc 0 "dx ctl unload routes_hello"
run "$DX" call "$V4" hello gone
expect_rc 1 "hello is gone after its unload"
run "$DX" ctl --socket "$T/ctl.sock" load --name routes_hello --config "$T/nope.json"
expect_rc 1 "dx ctl load with a missing config file exits 1"
expect_err 'nope\.json: No such file' "and names the file"
echo '{"greeting": 5}' >"$T/cfg.json"
run "$DX" ctl --socket "$T/ctl.sock" load --name routes_hello --config "$T/cfg.json"
expect_rc 1 "dx ctl load of a plugin whose init refuses its config exits 1"
expect_err 'init failed: plugin\.config\.greeting' "and gives the JSON path"
echo '{"greeting": "hi"}' >"$T/cfg.json"
run "$DX" ctl --socket "$T/ctl.sock" load --name routes_hello --config "$T/cfg.json"
expect_rc 0 "dx ctl load --name routes_hello --config FILE"
run "$DX" call "$V4" hello back
expect_out '^hi, back!$' "hello is back with its new config"
run "$DX" ctl --socket "$T/ctl.sock" load 'not json'
expect_rc 1 "dx ctl load of text that is not JSON exits 1"
expect_err 'expected a JSON object' "and says what it expected"
run "$DX" ctl --socket "$T/ctl.sock" reload
expect_rc 2 "dx ctl reload without a plugin is a usage error"
expect_err '^usage: dx ctl reload PLUGIN \[FILE\]' "which names the verb's arguments"
expect_no_err '^commands:' "without the whole usage"
run env DX_SOCKET="$T/ctl.sock" "$DX" ctl status
expect_rc 0 "dx ctl finds the host through DX_SOCKET"
expect_out '^workers +2' "and asks it"
run env -u DX_SOCKET "$DX" ctl status
expect_rc 2 "dx ctl without a socket, a manifest or DX_SOCKET"
expect_err 'set DX_SOCKET' "says how to name the host"
run "$DX" ctl --socket "$T/ctl.sock" reload routes_hello "$T/nope.so"
expect_rc 1 "dx ctl reload from a missing file exits 1"
expect_err 'nope\.so: No such file' "and names the file"

# SIGHUP applies the manifest: an edit only a restart can make is refused
# in the log and changes nothing; a live edit (echo to id 21) is applied.
cp "$T/m.json" "$T/m.orig"
sed -i 's/"workers": 2/"workers": 3/' "$T/m.json"
kill -HUP "$HOST"
for _ in $(seq 100); do
	grep -q 'SIGHUP:' "$T/log" && break
	sleep 0.05
done
check "SIGHUP with workers changed is refused in the log" \
	grep -q 'SIGHUP: apply .*m\.json: workers: changed from 2 to 3.*nothing changed' "$T/log"
run "$DX" call "$V4" echo still
expect_out '^still$' "the host serves on as it was"
sed 's/"echo": 20/"echo": 21/' "$T/m.orig" >"$T/m.json"
kill -HUP "$HOST"
for _ in $(seq 100); do
	grep -q 'apply .*changes \["reload routes_echo"\]' "$T/log" && break
	sleep 0.05
done
check "SIGHUP applies a live edit" \
	grep -q 'apply .*changes \["reload routes_echo"\]' "$T/log"
run "$DX" call --routes "$V4"
expect_out '"id":21,"name":"echo"' "echo moved to id 21"
check "kill -HUP left dx-host running" kill -0 "$HOST"

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

# --- limits.idle_timeout_ms: a silent client gets Close 1001, then EOF ---
cat >"$T/idle.json" <<JSON
{"dx": 1, "plugin_path": ["$DX_PLUGINS"], "listen": ["127.0.0.1:0"],
 "workers": 1, "limits": {"idle_timeout_ms": 300},
 "plugins": [{"name": "io_epoll"}, {"name": "routes_hello"}]}
JSON
"$DX_HOST" -m "$T/idle.json" 2>"$T/idle.log" &
BG_PIDS+=("$!")
for _ in $(seq 100); do
	grep -q 'ready' "$T/idle.log" && break
	sleep 0.05
done
IDLE=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$T/idle.log")
exec 3<>"/dev/tcp/127.0.0.1/$IDLE"
START=$(date +%s%N)
# Close frame: opcode 02, FINAL 08, seq 0, then u16 code 1001 (e9 03).
HEAD=$(timeout 5 head -c 10 <&3 | od -An -tx1 | tr -d ' \n')
END=$(date +%s%N)
set +e
timeout 5 cat <&3 >"$T/idle.rest"
EOF_RC=$?
set -e
REST=$(wc -c <"$T/idle.rest")
exec 3<&-
ELAPSED=$(((END - START) / 1000000))
check "an idle client gets Close 1001 (got $HEAD)" \
	test "${HEAD:0:4}" = 0208 -a "${HEAD:16:4}" = e903
check "after about idle_timeout_ms (300 ms; took $ELAPSED ms)" \
	test "$ELAPSED" -ge 250 -a "$ELAPSED" -lt 3000
check "the reason follows ($REST bytes)" test "$REST" -gt 0
check "then the host closes the connection (cat exit $EOF_RC; 124 is a timeout)" \
	test "$EOF_RC" = 0
finish
