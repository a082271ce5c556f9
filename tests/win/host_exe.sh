#!/usr/bin/env bash
# host_exe.sh - dx-host.exe under wine: --help, --version, --check on a
# good manifest (and one named by a drive-letter path with backslashes), a
# bad manifest's messages (the file, the JSON path or line:column), a
# plugin that is not there, the refusals before serving (no IO plugin,
# LISTEN_FDS, a unix: listener wine cannot open, a port another host has),
# and serving routes_echo on 127.0.0.1 through io_iocp with two pinned
# workers on one shared socket, driven from Linux by the Linux build's
# `dx call` and `dx bench` (0 errors), with the line that says which
# backend "auto" took and why; mw_timing.dll and mw_ratelimit.dll in a
# second host's chain; then Ctrl+C's drain.
#
# usage (from meson test):
#   host_exe.sh DX_HOST_EXE DX_DLL_DIR PLUGINS_DIR
# The Linux build is $DX_LINUX_BUILD (scripts/test-windows.sh sets it),
# else build/ in the source tree.
set -euo pipefail

usage="usage: host_exe.sh DX_HOST_EXE DX_DLL_DIR PLUGINS_DIR"
HOST=$(realpath "${1:?$usage}") # meson passes it relative to the build dir
DLL_DIR=${2:?$usage}
PLUGINS=${3:?$usage}
LINUX=${DX_LINUX_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
DX=$LINUX/tools/dx
if [ ! -x "$DX" ]; then
	echo "host_exe.sh: no Linux dx in $LINUX/tools (build it, or set" \
		"DX_LINUX_BUILD)" >&2
	exit 1
fi
export WINEPATH="Z:$DLL_DIR"

# shellcheck source=tests/win/lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/dx-win-hostexe.XXXXXXXX")
PIDS=()
cleanup()
{
	stop_pids
	rm -rf "$T"
}
trap cleanup EXIT
cd "$T" # the manifests are named relative to it, as a user would

# check DESC WANT_RC OUT_RE ARGS...: expect of dx-host.exe ARGS under wine.
check()
{
	local desc=$1 want=$2 re=$3
	shift 3
	expect "$desc" "$want" "$re" wine "$HOST" "$@"
}

# manifest NAME JSON: $T/NAME.json.
manifest()
{
	printf '%s\n' "$2" >"$T/$1.json"
}

check "--help says how the host stops on Windows" 0 \
	'Stopping: Ctrl\+C or Ctrl\+Break' --help
check "--version names the host and the plugin ABI" 0 \
	'^dx-host [0-9.]+ \(plugin ABI [0-9]+\.[0-9]+\)$' --version
check "no manifest is a usage error" 2 'no manifest: pass -m FILE'

manifest good "{\"dx\": 1, \"plugin_path\": [\"$PLUGINS\"], \"listen\": [],
 \"plugins\": [{\"name\": \"routes_echo\"}]}"
check "--check loads routes_echo.dll and says ok" 0 \
	'^good\.json: ok \(1 plugin, 0 listeners\)$' -m good.json --check
if ! grep -Eq '^routes_echo .*routes_echo\.dll  facets: ROUTES echo$' \
	"$T/out"; then
	fail "--check prints the plugin's line with its DLL" "got:"
	sed 's/^/  | /' "$T/out"
else
	ok "--check prints the plugin's line with its DLL"
fi

# A Windows path with backslashes to the manifest: its directory is found
# by them, and a relative plugin_path is taken from there (wine's Z: drive
# is the Unix root).
mkdir -p "$T/sub/plugs"
cp "$PLUGINS/routes_echo/routes_echo.dll" "$T/sub/plugs/"
printf '%s\n' '{"dx": 1, "plugin_path": ["plugs"], "listen": [],
 "plugins": [{"name": "routes_echo"}]}' >"$T/sub/rel.json"
WINPATH="Z:${T//\//\\}\\sub\\rel.json"
check "a drive-letter path with backslashes, plugin_path relative to it" 0 \
	"^routes_echo .* Z:/.*/sub/plugs/routes_echo\.dll  facets" \
	-m "$WINPATH" --check

manifest syntax '{"dx": 1, "listen": [}'
check "a JSON syntax error names the file, line and column" 1 \
	'^dx-host: syntax\.json:1:[0-9]+: ' -m syntax.json
manifest badval "{\"dx\": 1, \"plugin_path\": [\"$PLUGINS\"],
 \"listen\": [], \"plugins\": [{\"name\": \"routes_echo\", \"config\": 5}]}"
check "a bad value names the file and the JSON path" 1 \
	'^dx-host: badval\.json: plugins\[0\]\.config: expected an object, got 5$' \
	-m badval.json
manifest missing "{\"dx\": 1, \"plugin_path\": [\"$PLUGINS\"],
 \"listen\": [], \"plugins\": [{\"name\": \"no_such_plugin\"}]}"
check "a missing plugin names where it was looked for" 1 \
	'plugins\[0\]\.name: plugin "no_such_plugin" not found; looked in: Z:.*/no_such_plugin\.dll' \
	-m missing.json --check

# An IO plugin is needed to serve: a plugin_path with routes_echo alone
# has none.
mkdir "$T/noio"
cp "$PLUGINS/routes_echo/routes_echo.dll" "$T/noio/"
manifest noio "{\"dx\": 1, \"plugin_path\": [\"$T/noio\"],
 \"listen\": [\"127.0.0.1:0\"], \"plugins\": [{\"name\": \"routes_echo\"}]}"
check "listening without an IO plugin is refused, saying why" 1 \
	'listen: serving needs an IO backend plugin, and none is in plugins or along plugin_path' \
	-m noio.json
expect "LISTEN_FDS is refused on Windows" 1 \
	'LISTEN_FDS: passed listening sockets .* are not supported on this system' \
	env LISTEN_FDS=1 LISTEN_PID=1 wine "$HOST" -m good.json

# wine has no AF_UNIX: the refusal names the entry and the system's reason.
manifest unix "{\"dx\": 1, \"plugin_path\": [\"$PLUGINS\"],
 \"listen\": [\"unix:$T/x.sock\"], \"plugins\": [{\"name\": \"routes_echo\"}]}"
check "a unix: listener under wine is refused, naming it and why" 1 \
	"listen unix:$T/x\.sock: socket: Address family not supported by protocol \(this system has no unix sockets; listen on HOST:PORT instead\)" \
	-m unix.json

# Serving: two workers share one listening socket (bind_win.c) through
# io_iocp, found along plugin_path by "auto", each pinned to a CPU.
manifest serve "{\"dx\": 1, \"plugin_path\": [\"$PLUGINS\"],
 \"listen\": [\"127.0.0.1:0\"], \"workers\": 2, \"pin_cpus\": true,
 \"plugins\": [{\"name\": \"routes_echo\"}]}"
start_wine_host "$T/host.log" serve.json 'ready' || true
tr -d '\r' <"$T/host.log" >"$T/log"
ADDR=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\) (2 workers, backend iocp)$/\1/p' \
	"$T/log" | head -1)
if [ -z "$ADDR" ]; then
	fail "dx-host.exe serves on 127.0.0.1 with 2 workers, backend iocp" \
		"its log:"
	sed 's/^/  | /' "$T/log"
	finish host_exe.sh
	exit 1
fi
ok "dx-host.exe serves on $ADDR with 2 workers, backend iocp"
if grep -q 'io.backend auto: using iocp (the only IO backend loaded)$' \
	"$T/log"; then
	ok "auto says which backend it took and why"
else
	fail "auto says which backend it took and why" "its log:"
	sed 's/^/  | /' "$T/log"
fi

# pin_win.c: wine runs each Windows thread as a Linux thread and maps
# SetThreadAffinityMask onto its affinity, which /proc shows: worker 0 on
# CPU 0, worker 1 on CPU 1, every other thread on all of them.
if [ "$(nproc)" -lt 2 ]; then
	echo "skip: pin_cpus needs two CPUs to tell pinned threads apart"
else
	pinned=$(cat /proc/"$HOST_PID"/task/*/status 2>/dev/null |
		sed -n 's/^Cpus_allowed_list:[[:space:]]*\([0-9]*\)$/\1/p' |
		sort | tr '\n' ' ')
	if [ "$pinned" = "0 1 " ] && ! grep -q 'unpinned' "$T/log"; then
		ok "pin_cpus pins the two workers to CPUs 0 and 1"
	else
		fail "pin_cpus pins the two workers to CPUs 0 and 1" \
			"threads pinned to one CPU: '$pinned'; log:"
		sed 's/^/  | /' "$T/log"
	fi
fi

expect "Linux dx call echo through dx-host.exe" 0 '^over wine$' \
	"$DX" call "$ADDR" echo "over wine"
expect "Linux dx call --routes lists routes_echo's" 0 '"echo"' \
	"$DX" call "$ADDR" --routes
expect "Linux dx bench, echo, 8 connections x pipeline 4: 0 errors" 0 \
	' answered, 0 errors$' \
	"$DX" bench -c 8 -P 4 -d 1 --warmup 0.2 --route echo -s 64 "$ADDR"
expect "Linux dx bench, ping, 50 connections: 0 errors" 0 \
	' answered, 0 errors$' "$DX" bench -c 50 -d 1 --warmup 0.2 "$ADDR"

# A second host on the same port: its listener would share nothing with
# the first (SO_EXCLUSIVEADDRUSE), and the port check says who has it.
manifest second "{\"dx\": 1, \"plugin_path\": [\"$PLUGINS\"],
 \"listen\": [\"$ADDR\"], \"plugins\": [{\"name\": \"routes_echo\"}]}"
check "a second dx-host.exe on the same port is refused" 1 \
	"listen $ADDR: address already in use by another process \(another dx-host\?\)" \
	-m second.json

# The middleware DLLs (mw_auth is Linux-only: no mingw libjwt): a second
# host on its own port with mw_timing and mw_ratelimit (a burst of 2 per
# client, refilled once a minute): the first calls carry both headers,
# the third is refused 429 with the bucket's reset time.
manifest mw "{\"dx\": 1, \"plugin_path\": [\"$PLUGINS\"],
 \"listen\": [\"127.0.0.1:0\"], \"workers\": 1,
 \"plugins\": [{\"name\": \"routes_echo\"}, {\"name\": \"mw_timing\"},
  {\"name\": \"mw_ratelimit\", \"config\": {\"rate\": 0.0167, \"burst\": 2}}],
 \"middleware\": [\"mw_timing\", \"mw_ratelimit\"]}"
SERVE_PID=$HOST_PID
start_wine_host "$T/mw.log" mw.json 'ready' || true
MW_PID=$HOST_PID
HOST_PID=$SERVE_PID
MW_ADDR=$(tr -d '\r' <"$T/mw.log" |
	sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\) .*/\1/p' | head -1)
if [ -z "$MW_ADDR" ]; then
	fail "dx-host.exe serves with mw_timing.dll and mw_ratelimit.dll" "its log:"
	tr -d '\r' <"$T/mw.log" | sed 's/^/  | /'
else
	expect "mw_timing.dll: the answer carries x-response-time" 0 \
		'^< x-response-time: [0-9]+$' "$DX" call "$MW_ADDR" echo one
	expect "mw_ratelimit.dll: the answer carries x-ratelimit-remaining 0" 0 \
		'^< x-ratelimit-remaining: 0$' "$DX" call "$MW_ADDR" echo two
	expect "mw_ratelimit.dll: past the burst the call is refused 429" 1 \
		'429' "$DX" call "$MW_ADDR" echo three
fi
kill -INT "$MW_PID" 2>/dev/null || true
wait "$MW_PID" 2>/dev/null || true
reaped "$MW_PID"

# wine turns SIGINT into the console's Ctrl+C: the host drains and exits 0.
kill -INT "$HOST_PID"
set +e
for _ in $(seq 300); do
	kill -0 "$HOST_PID" 2>/dev/null || break
	sleep 0.1
done
wait "$HOST_PID"
rc=$?
set -e
reaped "$HOST_PID"
tr -d '\r' <"$T/host.log" >"$T/log"
if [ "$rc" -eq 0 ] && grep -q 'SIGINT: draining' "$T/log" &&
	grep -q 'plugins finalised in reverse order; bye' "$T/log"; then
	ok "Ctrl+C (SIGINT through wine) drains and exits 0"
else
	fail "Ctrl+C (SIGINT through wine) drains and exits 0" \
		"got: exit $rc, log:"
	sed 's/^/  | /' "$T/log"
fi

finish host_exe.sh
