#!/usr/bin/env bash
# client.sh - run test_win_client.exe under wine against a Linux dx-host.
#
# usage (from meson test): client.sh TEST_EXE DX_DLL_DIR
#
# Starts the Linux build's dx-host ($DX_LINUX_BUILD, by default build/ in
# the source tree; scripts/test-windows.sh builds it) serving routes_echo
# on 127.0.0.1 (a port the host picks), finds a port nobody listens on for
# the refused-connection case, and runs the Windows test with both. The
# test's exit status is this script's; the host is stopped either way.
set -euo pipefail

EXE=${1:?usage: client.sh TEST_EXE DX_DLL_DIR}
DLL_DIR=${2:?usage: client.sh TEST_EXE DX_DLL_DIR}
LINUX=${DX_LINUX_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
HOST=$LINUX/host/dx-host
if [ ! -x "$HOST" ] || [ ! -f "$LINUX/plugins/routes_echo/routes_echo.so" ]; then
	echo "client.sh: no Linux dx-host and routes_echo.so in $LINUX" \
		"(build it, or set DX_LINUX_BUILD)" >&2
	exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/dx-win-client.XXXXXXXX")
HOST_PID=
cleanup()
{
	if [ -n "$HOST_PID" ]; then
		kill -TERM "$HOST_PID" 2>/dev/null || true
		wait "$HOST_PID" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT

cat >"$T/host.json" <<JSON
{"dx": 1, "plugin_path": ["$LINUX/plugins"],
 "listen": ["127.0.0.1:0"], "workers": 1,
 "io": {"backend": "epoll"},
 "plugins": [{"name": "io_epoll"}, {"name": "routes_echo"}]}
JSON
"$HOST" -m "$T/host.json" >"$T/log" 2>&1 </dev/null &
HOST_PID=$!
for _ in $(seq 100); do
	grep -q 'ready' "$T/log" && break
	kill -0 "$HOST_PID" 2>/dev/null || break
	sleep 0.1
done
ADDR=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\) .*/\1/p' "$T/log" |
	head -1)
if [ -z "$ADDR" ] || ! grep -q ready "$T/log"; then
	echo "client.sh: dx-host did not start:" >&2
	cat "$T/log" >&2
	exit 1
fi

# A port with no listener: one the kernel just gave a socket and took back.
CLOSED=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

echo "dx-host (Linux) on $ADDR; closed port $CLOSED"
set +e
WINEPATH="Z:$DLL_DIR" wine "$EXE" "$ADDR" "$CLOSED"
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
	echo "--- dx-host log:"
	cat "$T/log"
fi
exit "$rc"
