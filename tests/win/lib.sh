# shellcheck shell=bash
# lib.sh - what the Windows shell tests share (sourced, not run): the
# tally of checks, running a command with its exit status and output
# checked, and starting dx-host.exe under wine in the background.
#
# The sourcing script sets T (its temp dir), HOST (dx-host.exe, for
# start_wine_host) and PIDS=() (what its cleanup kills), and ends with
# `finish NAME`.

PASSED=0
FAILED=0
ok()
{
	PASSED=$((PASSED + 1))
	echo "ok: $1"
}
# fail DESC [LINE...]: a failed check and the lines that say why.
fail()
{
	FAILED=$((FAILED + 1))
	echo "FAIL: $1"
	shift
	printf '  %s\n' "$@"
}
# finish NAME: the tally; the exit status is whether all passed.
finish()
{
	echo "$1: $PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

# expect DESC WANT_RC OUT_RE CMD...: run CMD; its exit status must be
# WANT_RC and its stdout + stderr must match the extended regex OUT_RE.
# The output lands in $T/out (CRs dropped: the C runtime ends text lines
# with CRLF). Into a file, not a pipe: a wineserver this starts would hold
# a pipe open for seconds after. Bounded generously, to catch a hang.
expect()
{
	local desc=$1 want=$2 re=$3 rc
	shift 3
	set +e
	timeout 120 "$@" >"$T/raw" 2>&1 </dev/null
	rc=$?
	set -e
	tr -d '\r' <"$T/raw" >"$T/out"
	if [ "$rc" -eq "$want" ] && grep -Eq -- "$re" "$T/out"; then
		ok "$desc"
	else
		fail "$desc" "command:  $*" \
			"expected: exit $want, output matching /$re/" \
			"got:      exit $rc, output:"
		sed 's/^/  | /' "$T/out"
	fi
}

# start_wine_host LOG MANIFEST READY_RE: $HOST -m MANIFEST under wine in
# the background, its output into LOG; waits up to 60 s (the first start
# in a fresh wine prefix takes seconds) for a line matching READY_RE. Sets
# HOST_PID and adds it to PIDS. 0, or 1 after a failed check that shows
# the log.
start_wine_host()
{
	wine "$HOST" -m "$2" >"$1" 2>&1 </dev/null &
	HOST_PID=$!
	PIDS+=("$HOST_PID")
	for _ in $(seq 600); do
		grep -Eq -- "$3" "$1" && return 0
		kill -0 "$HOST_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "dx-host.exe starts ($2)" "log:"
	tr -d '\r' <"$1" | sed 's/^/  | /'
	return 1
}

# reaped PID: PID has been waited for: stop_pids leaves its number alone
# (another process may have it by then).
reaped()
{
	local p keep=()
	for p in ${PIDS[@]+"${PIDS[@]}"}; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=(${keep[@]+"${keep[@]}"})
}

# stop_pids: SIGKILL every process in PIDS and reap it (for a trap).
stop_pids()
{
	local p
	for p in ${PIDS[@]+"${PIDS[@]}"}; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}
