# shellcheck shell=bash disable=SC2034
# lib.sh - helpers for the integration tests (sourced, not run).
#
# Each test script runs the real executables, collects failures instead of
# stopping at the first one, and prints for every failed assertion what it
# expected and what it got. Sourcing this file gives:
#
#   T            a private temp dir (0700), removed on exit
#   run CMD...   run CMD; sets RC, OUT (stdout) and ERR (stderr)
#   expect_rc N DESC, expect_out RE DESC, expect_err RE DESC,
#   expect_no_err RE DESC
#                checks on the last run (RE is an extended regex)
#   check DESC COND...   a free-form check: runs COND, fails DESC if false
#   finish       prints the tally and exits 0, or 1 if anything failed

set -euo pipefail
umask 022 # plugins must not come out group/other-writable

: "${DX_SOURCE_ROOT:?run this through meson test (DX_SOURCE_ROOT unset)}"
: "${DX_BUILD_ROOT:?run this through meson test (DX_BUILD_ROOT unset)}"
: "${DX_PLUGINS:=$DX_BUILD_ROOT/plugins}"

T=$(mktemp -d "${TMPDIR:-/tmp}/dx-it.XXXXXXXX")
chmod 0700 "$T"
BG_PIDS=()
cleanup()
{
	local p
	for p in "${BG_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap cleanup EXIT

PASSED=0
FAILED=0
LAST_CMD=""
RC=0
OUT=""
ERR=""

run()
{
	LAST_CMD="$*"
	set +e
	"$@" >"$T/.out" 2>"$T/.err" </dev/null
	RC=$?
	set -e
	OUT=$(cat "$T/.out")
	ERR=$(cat "$T/.err")
}

pass()
{
	PASSED=$((PASSED + 1))
	echo "ok: $1"
}

# fail DESC EXPECTED GOT
fail()
{
	FAILED=$((FAILED + 1))
	echo "FAIL: $1"
	echo "  command:  $LAST_CMD"
	echo "  expected: $2"
	echo "  got:      $3"
	echo "  --- exit status: $RC; stdout:"
	printf '%s\n' "$OUT" | sed 's/^/  | /'
	echo "  --- stderr:"
	printf '%s\n' "$ERR" | sed 's/^/  | /'
}

expect_rc()
{
	if [ "$RC" -eq "$1" ]; then
		pass "$2 (exit $1)"
	else
		fail "$2" "exit status $1" "exit status $RC"
	fi
}

expect_out()
{
	# A here-string, not printf | grep -q: grep -q leaves at the first
	# match, and with pipefail the writer's SIGPIPE (output past one
	# 4 KiB write) would fail the check at random.
	if grep -Eq -- "$1" <<<"$OUT"; then
		pass "$2"
	else
		fail "$2" "stdout matching /$1/" "no such line"
	fi
}

expect_err()
{
	if grep -Eq -- "$1" <<<"$ERR"; then
		pass "$2"
	else
		fail "$2" "stderr matching /$1/" "no such line"
	fi
}

# expect_no_out RE DESC: no stdout line of the last run matches RE.
expect_no_out()
{
	if grep -Eq -- "$1" <<<"$OUT"; then
		fail "$2" "no stdout line matching /$1/" "$(grep -E -m1 -- "$1" <<<"$OUT")"
	else
		pass "$2"
	fi
}

expect_no_err()
{
	if grep -Eq -- "$1" <<<"$ERR"; then
		fail "$2" "no stderr line matching /$1/" "$(grep -E -m1 -- "$1" <<<"$ERR")"
	else
		pass "$2"
	fi
}

check()
{
	local desc=$1
	shift
	if "$@"; then
		pass "$desc"
	else
		fail "$desc" "$*" "false"
	fi
}

finish()
{
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

# The ABI this tree was built with, from the SDK header.
abi_version()
{
	local h=$DX_SOURCE_ROOT/sdk/include/dx/plugin.h
	local maj min
	maj=$(sed -n 's/^#define DX_ABI_MAJOR \([0-9]*\).*/\1/p' "$h")
	min=$(sed -n 's/^#define DX_ABI_MINOR \([0-9]*\).*/\1/p' "$h")
	echo "$maj.$min"
}

# meson passes executables as paths relative to the build dir; make them
# absolute so a test may cd anywhere.
abs_exe()
{
	case "$1" in
	/*) printf '%s\n' "$1" ;;
	*/*) printf '%s\n' "$DX_BUILD_ROOT/$1" ;;
	*) command -v "$1" ;;
	esac
}

# Regex-escape a literal string (paths in messages).
re_escape()
{
	printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'
}

# start_host LOG CMD...: run CMD (a dx-host) in the background with its
# stderr in LOG, killed on exit; wait up to 10 s for it to log "ready" or
# die. Sets HOST (its pid) and LAST_CMD/ERR for the checks that follow.
start_host()
{
	local log=$1
	shift
	"$@" 2>"$log" &
	HOST=$!
	BG_PIDS+=("$HOST")
	for _ in $(seq 200); do
		grep -q 'ready' "$log" && break
		kill -0 "$HOST" 2>/dev/null || break
		sleep 0.05
	done
	LAST_CMD="$*"
	OUT=""
	ERR=$(cat "$log")
}
