#!/usr/bin/env bash
# bench_smoke.sh - dx bench against the real dx-host, briefly.
#
# usage (from meson test): bench_smoke.sh DX_HOST DX LOOP
#
# Not a speed test: it checks that dx bench runs (ping, a route, --json,
# -n), prints a requests/s figure and exits 0, and that it fails clearly
# (exit 1, naming the address) when no host is there. LOOP is the
# readiness layer this build chose (tools/meson.build: epoll or poll): the
# report's syscalls line and JSON key name its wait call, so the checks
# know which loop ran. Several connections over two threads, and a host
# killed under load (every connection ending inside one wait), run it
# through its paths.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

DX_HOST=$(abs_exe "${1:?usage: bench_smoke.sh DX_HOST DX}")
DX=$(abs_exe "${2:?usage: bench_smoke.sh DX_HOST DX LOOP}")
case "${3:?usage: bench_smoke.sh DX_HOST DX LOOP}" in
epoll) WAIT=epoll_wait ;;
poll) WAIT=poll ;;
*) echo "bench_smoke.sh: LOOP is epoll or poll, not $3" >&2; exit 2 ;;
esac

# bench_host NAME LISTEN...: a dx-host serving routes_echo on LISTEN
# ($T/NAME.json, its log $T/NAME.log); sets HOST_PID and ADDR (its
# 127.0.0.1 port). Ends the test if the host does not start.
bench_host()
{
	local name=$1 listen
	shift
	listen=$(printf ', "%s"' "$@")
	cat >"$T/$name.json" <<EOF
{"dx": 1, "plugin_path": ["$DX_PLUGINS"],
 "listen": [${listen#, }], "workers": 1,
 "io": {"backend": "epoll"},
 "plugins": [{"name": "io_epoll"}, {"name": "routes_echo"}]}
EOF
	start_host "$T/$name.log" "$DX_HOST" -m "$T/$name.json"
	HOST_PID=$HOST
	ADDR=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\) .*/\1/p' \
		"$T/$name.log" | head -1)
	if [ -z "$ADDR" ] || ! grep -q ready "$T/$name.log"; then
		fail "dx-host starts for the bench" "ready and a 127.0.0.1 port" "none"
		finish
		exit # finish's status: a failure
	fi
}

bench_host bench 127.0.0.1:0 unix:bench.sock

run "$DX" bench -c 2 -P 4 -d 1 --warmup 0.2 "$ADDR"
expect_rc 0 "dx bench --ping for 1 s"
expect_out '^  requests/s +[0-9]+$' "it prints a requests/s figure"
expect_out 'p50 [0-9.]+ +p99 [0-9.]+ +p99\.9 [0-9.]+ +max [0-9.]+' \
	"it prints p50, p99, p99.9 and max"
expect_out '[1-9][0-9]* answered, 0 errors' "requests were answered, none failed"
expect_out "^  syscalls +per answer: recv [0-9.]+ +send [0-9.]+ +$WAIT [0-9.]+\$" \
	"the syscalls line names the $3 loop's wait call ($WAIT)"

run "$DX" bench -c 8 -P 4 -t 2 -d 1 --warmup 0.2 "$ADDR"
expect_rc 0 "dx bench -c 8 -P 4 -t 2 (four connections a thread)"
expect_out '8 connections x pipeline 4, 2 threads' "the header says so"
expect_out '[1-9][0-9]* answered, 0 errors' "answered over 8 connections, none failed"

run "$DX" bench --json -c 2 -n 2000 --warmup 0 --route echo -s 32 "$ADDR"
expect_rc 0 "dx bench --route echo -n 2000 --json"
expect_out '^\{.*"requests": 2000, "errors": 0,.*"rps": [0-9]+' \
	"--json gives one line with exactly 2000 requests and a rate"
expect_out "\"${WAIT}_per_answer\": [0-9.]+\\}\$" "--json names the wait call too"

run "$DX" bench -c 1 -n 500 --warmup 0 "unix:$T/bench.sock"
expect_rc 0 "dx bench over the Unix socket"

run "$DX" bench -c 1 -n 10 --warmup 0 --route no_such_route "$ADDR"
expect_rc 1 "dx bench --route with an unknown name"
expect_err 'no route "no_such_route"' "the error names the route"

run "$DX" bench -c 0 "$ADDR"
expect_rc 2 "dx bench -c 0 is a usage error"

# The host goes away: connecting fails, clearly.
kill -TERM "$HOST_PID"
wait "$HOST_PID" 2>/dev/null || true
run "$DX" bench -c 2 -d 1 "$ADDR"
expect_rc 1 "dx bench with no host at $ADDR"
expect_err "cannot connect to $(re_escape "$ADDR")" "the error names the address"
run "$DX" bench -c 1 -d 1 "unix:$T/bench.sock"
expect_rc 1 "dx bench with no host at the Unix socket"
expect_err 'cannot connect to unix:' "the error names the Unix socket"

# A host killed under load: every connection ends at once, inside the
# loop's waits (the poll loop repacks its set as each goes); dx bench says
# so and exits 1 long before -d runs out.
bench_host killed 127.0.0.1:0
LAST_CMD="$DX bench -c 8 -P 4 -t 2 -d 30 --warmup 0 $ADDR (host killed after 1 s)"
set +e
"$DX" bench -c 8 -P 4 -t 2 -d 30 --warmup 0 "$ADDR" >"$T/.out" 2>"$T/.err" </dev/null &
BENCH_PID=$!
BG_PIDS+=("$BENCH_PID")
sleep 1
kill -KILL "$HOST_PID"
wait "$BENCH_PID"
RC=$?
set -e
OUT=$(cat "$T/.out")
ERR=$(cat "$T/.err")
expect_rc 1 "dx bench when the host dies under load"
expect_err "$(re_escape "$ADDR"): 8 of 8 connections ended early" \
	"it reports every connection ended"
expect_out '[1-9][0-9]* answered' "what was answered before is reported"

finish
