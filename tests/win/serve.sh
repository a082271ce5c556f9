#!/usr/bin/env bash
# serve.sh - tests/serve's bad-input battery against dx-host.exe under wine,
# serving through io_iocp: the Linux test_serve (from $DX_LINUX_BUILD, else
# build/) in its Windows mode (backend iocp), which starts the host through
# a wrapper that runs it under wine, sends every malformed frame and load
# case from Linux over 127.0.0.1, reads the host's counters with dx.exe
# ctl over the named pipe, and drains it with SIGINT (wine's CTRL_C_EVENT).
#
# usage (from meson test): serve.sh DX_HOST_EXE DX_EXE DX_DLL_DIR PLUGINS_DIR
set -euo pipefail

usage="usage: serve.sh DX_HOST_EXE DX_EXE DX_DLL_DIR PLUGINS_DIR"
HOST=$(realpath "${1:?$usage}")
DX=$(realpath "${2:?$usage}")
DLL_DIR=$(realpath "${3:?$usage}")
PLUGINS=$(realpath "${4:?$usage}")
LINUX=${DX_LINUX_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
TEST_SERVE=$LINUX/tests/serve/test_serve
if [ ! -x "$TEST_SERVE" ]; then
	echo "serve.sh: no $TEST_SERVE (build the Linux tree, or set DX_LINUX_BUILD)" >&2
	exit 1
fi
export WINEPATH="Z:$DLL_DIR"

T=$(mktemp -d "${TMPDIR:-/tmp}/dx-win-serve.XXXXXXXX")
trap 'rm -rf "$T"' EXIT
# test_serve execs the host and waits for it: exec keeps its pid wine's.
cat >"$T/dx-host" <<SH
#!/bin/sh
exec wine '$HOST' "\$@"
SH
# The counters through the pipe; output through a file, not the pipe
# popen reads (a wineserver started by wine would hold that open), CRs
# dropped (the C runtime writes CRLF).
cat >"$T/ctl" <<SH
#!/bin/sh
wine '$DX' ctl "\$@" >'$T/ctl.out' 2>&1 </dev/null
rc=\$?
tr -d '\r' <'$T/ctl.out'
exit \$rc
SH
chmod +x "$T/dx-host" "$T/ctl"
export DX_SERVE_CTL="$T/ctl" DX_PLUGINS="$PLUGINS"
"$TEST_SERVE" iocp "$T/dx-host"
