#!/usr/bin/env bash
# control_busy.sh - a control socket another dx-host serves is refused, not
# taken over; one a host left behind when it was killed is reused.
#
# usage (from meson test): control_busy.sh DX_HOST DX
#
# Before this, a second host unlinked the first one's live socket and
# bound its own: the first host went on serving with no control channel,
# and the second one's exit removed the file. The Windows pipe
# (FILE_FLAG_FIRST_PIPE_INSTANCE) refuses the same way (tests/win).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

DX_HOST=$(abs_exe "${1:?usage: control_busy.sh DX_HOST DX}")
DX=$(abs_exe "${2:?usage: control_busy.sh DX_HOST DX}")
M=$T/m.json
echo '{"dx": 1, "listen": [], "control": {"socket": "c.sock"}, "plugins": []}' >"$M"
SOCK=$T/c.sock

# drain PID WHO: dx ctl drain on the socket; the host PID exits 0.
drain()
{
	local rc=0
	run "$DX" ctl --socket "$SOCK" drain
	expect_rc 0 "dx ctl drain ($2)"
	wait "$1" || rc=$?
	check "$2 exits 0 after drain (got $rc)" [ "$rc" -eq 0 ]
}

start_host "$T/first.log" "$DX_HOST" -m "$M"
FIRST=$HOST
expect_err 'ready: 0 plugins, no listeners, control socket' "the first host is ready"

run timeout 20 "$DX_HOST" -m "$M"
expect_rc 1 "a second host on the same control.socket stops"
expect_err "control\\.socket $(re_escape "$SOCK"): another process serves it \\(a dx-host with the same control\\.socket\\?\\)" \
	"and says another process serves it"

run "$DX" ctl --socket "$SOCK" status
expect_rc 0 "the first host still answers on its socket"
expect_out "pid +\\(?$FIRST|version .*\\(pid $FIRST\\)" "the answer is the first host's"

drain "$FIRST" "the first host"

# A host killed with SIGKILL leaves its socket file: the next host takes it.
start_host "$T/killed.log" "$DX_HOST" -m "$M"
kill -KILL "$HOST"
wait "$HOST" 2>/dev/null || true
check "a killed host leaves its socket behind" [ -S "$SOCK" ]
start_host "$T/next.log" "$DX_HOST" -m "$M"
expect_err 'ready:' "a host starts over the socket a killed one left"
drain "$HOST" "the host on the socket a killed one left"

finish
