#!/usr/bin/env bash
# bench_smoke.sh - dx bench against the real dx-host, briefly.
#
# usage (from meson test): bench_smoke.sh DX_HOST DX
#
# Not a speed test: it checks that dx bench runs (ping, a route, --json,
# -n), prints a requests/s figure and exits 0, and that it fails clearly
# (exit 1, naming the address) when no host is there.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

DX_HOST=$(abs_exe "${1:?usage: bench_smoke.sh DX_HOST DX}")
DX=$(abs_exe "${2:?usage: bench_smoke.sh DX_HOST DX}")

cat >"$T/bench.json" <<EOF
{"dx": 1, "plugin_path": ["$DX_PLUGINS"],
 "listen": ["127.0.0.1:0", "unix:bench.sock"], "workers": 1,
 "io": {"backend": "epoll"},
 "plugins": [{"name": "io_epoll"}, {"name": "routes_echo"}]}
EOF
"$DX_HOST" -m "$T/bench.json" >"$T/log" 2>&1 </dev/null &
HOST_PID=$!
BG_PIDS+=("$HOST_PID")
for _ in $(seq 100); do
	grep -q 'ready' "$T/log" && break
	kill -0 "$HOST_PID" 2>/dev/null || break
	sleep 0.1
done
ADDR=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\) .*/\1/p' "$T/log" | head -1)
LAST_CMD="$DX_HOST -m $T/bench.json"
if [ -z "$ADDR" ] || ! grep -q ready "$T/log"; then
	ERR=$(cat "$T/log")
	fail "dx-host starts for the bench" "ready and a 127.0.0.1 port" "none"
	finish
fi

run "$DX" bench -c 2 -P 4 -d 1 --warmup 0.2 "$ADDR"
expect_rc 0 "dx bench --ping for 1 s"
expect_out '^  requests/s +[0-9]+$' "it prints a requests/s figure"
expect_out 'p50 [0-9.]+ +p99 [0-9.]+ +p99\.9 [0-9.]+ +max [0-9.]+' \
	"it prints p50, p99, p99.9 and max"
expect_out '[1-9][0-9]* answered, 0 errors' "requests were answered, none failed"

run "$DX" bench --json -c 2 -n 2000 --warmup 0 --route echo -s 32 "$ADDR"
expect_rc 0 "dx bench --route echo -n 2000 --json"
expect_out '^\{.*"requests": 2000, "errors": 0,.*"rps": [0-9]+' \
	"--json gives one line with exactly 2000 requests and a rate"

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

finish
