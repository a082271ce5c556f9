#!/usr/bin/env bash
# client.sh - run test_win_client.exe under wine against a Linux dx-host.
#
# usage (from meson test): client.sh TEST_EXE DX_DLL_DIR
#
# host.sh starts the host; the test gets its address and a port nobody
# listens on. The test's exit status is this script's.
set -euo pipefail

EXE=${1:?usage: client.sh TEST_EXE DX_DLL_DIR}
DLL_DIR=${2:?usage: client.sh TEST_EXE DX_DLL_DIR}
# shellcheck source=tests/win/host.sh
. "$(dirname "$0")/host.sh"

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
