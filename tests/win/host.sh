# shellcheck shell=bash
# host.sh - start a Linux dx-host for a Windows test (sourced, not run).
#
# Starts the Linux build's dx-host ($DX_LINUX_BUILD, by default build/ in
# the source tree; scripts/test-windows.sh builds it) serving routes_echo
# on 127.0.0.1 (a port the host picks), and finds a port nobody listens on.
# Sets ADDR (HOST:PORT), CLOSED (a port), LINUX (the build dir), T (a temp
# dir) and HOST_PID; the host is stopped and T removed on exit. Exits 1 if
# the host does not start.
set -euo pipefail

LINUX=${DX_LINUX_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
HOST=$LINUX/host/dx-host
if [ ! -x "$HOST" ] || [ ! -f "$LINUX/plugins/routes_echo/routes_echo.so" ]; then
	echo "host.sh: no Linux dx-host and routes_echo.so in $LINUX" \
		"(build it, or set DX_LINUX_BUILD)" >&2
	exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/dx-win-host.XXXXXXXX")
HOST_PID=
dx_host_cleanup()
{
	if [ -n "$HOST_PID" ]; then
		kill -TERM "$HOST_PID" 2>/dev/null || true
		wait "$HOST_PID" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap dx_host_cleanup EXIT

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
	echo "host.sh: dx-host did not start:" >&2
	cat "$T/log" >&2
	exit 1
fi

# A port with no listener: one the kernel just gave a socket and took back.
CLOSED=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

