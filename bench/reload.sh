#!/usr/bin/env bash
# bench/reload.sh - what a live reload costs the traffic it happens under:
# dx bench against routes_echo's echo route (50 x 16 by default), once
# with no reload and once with `dx ctl reload routes_echo` every second,
# interleaved over ROUNDS rounds; one server worker on CPU 0, dx bench on
# CPU 1, the reloads from a shell loop on CPU 0. Prints requests/s, p99 and max
# latency and errors side by side (medians of the rounds), and the reload
# command's round trip (median and max over every reload of every round).
#
# usage: bench/reload.sh            (from anywhere; about 2 x ROUNDS x
#                                    (DURATION + 2) seconds)
#   BUILD=dir       build directory (default build/, set up if missing)
#   ROUNDS=N        rounds (default 3)
#   DURATION=S      measured seconds per run (default 30)
#   WARMUP=S        unmeasured seconds before each run (default 0.5)
#   SERVER_CPU=N    CPU for dx-host (default 0)
#   CLIENT_CPU=N    CPU for dx bench (default 1)
#   LOAD="-c 50 -P 16"  connections and pipeline depth
#   EVERY=S         seconds between reloads (default 1)
#
# Targets (issue 10): 0 errors; max latency added by reloads <= 5 ms;
# requests/s with reloads >= 95% of without.
set -euo pipefail

LOAD=${LOAD:-"-c 50 -P 16"}
EVERY=${EVERY:-1}
DURATION=${DURATION:-30}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_init dx-bench-reload

start_server()
{
	bench_manifest "$T/manifest.json" "{\"name\": \"routes_echo\"}" \
		"\"control\": {\"socket\": \"$T/ctl.sock\"}"
	start_host "$T/manifest.json" "$T/host.log"
}

# reloader SECONDS: reload routes_echo every EVERY s for SECONDS s; each
# round trip (ms, as the host measured it) goes to $T/reload_ms, a failed
# reload to $T/reload_err.
reloader()
{
	local end=$((SECONDS + $1))
	while [ "$SECONDS" -lt "$end" ]; do
		sleep "$EVERY"
		local t0 t1
		t0=$(date +%s%N)
		# On the server's CPU: the reload is the server's cost, and a
		# dx ctl process on the client's CPU would stall the client.
		if out=$(taskset -c "$SERVER_CPU" "$DX" ctl --socket "$T/ctl.sock" \
			--json reload routes_echo 2>&1); then
			t1=$(date +%s%N)
			field ms <<<"$out" >>"$T/reload_ms"
			echo "$(((t1 - t0) / 1000))" >>"$T/reload_rt_us"
		else
			echo "$out" >>"$T/reload_err"
		fi
	done
}

RES=$T/results
: >"$RES" >"$T/reload_ms" >"$T/reload_err" >"$T/reload_rt_us"
BENCH_ARGS="--route echo -s 16 $LOAD -d $DURATION --warmup $WARMUP --cpu $CLIENT_CPU --json"
MODES=("no reload" "reload every ${EVERY}s")
say "bench: $ROUNDS rounds x 2, ${DURATION}s + ${WARMUP}s warmup each"
for round in $(seq "$ROUNDS"); do
	for mode in 0 1; do
		start_server
		rpid=
		if [ "$mode" = 1 ]; then
			reloader "$DURATION" &
			rpid=$!
		fi
		# shellcheck disable=SC2086
		if out=$("$DX" bench $BENCH_ARGS "127.0.0.1:$PORT" 2>"$T/err"); then
			printf '%s %s %s %s %s\n' "$mode" "$(field rps <<<"$out")" \
				"$(field p99_us <<<"$out")" "$(field max_us <<<"$out")" \
				"$(field errors <<<"$out")" >>"$RES"
			say "  round $round  $(printf '%-20s' "${MODES[$mode]}") $(tail -1 "$RES" | awk '{printf "%10.0f req/s  p99 %7.1f us  max %8.1f us  errors %s", $2, $3, $4, $5}')"
		else
			say "bench: round $round ${MODES[$mode]} failed: $(cat "$T/err")"
		fi
		[ -z "$rpid" ] || wait "$rpid" || true
		stop_server
	done
done


echo
echo "dx bench: echo (16 B), one server worker (epoll) on CPU $SERVER_CPU, dx bench on CPU $CLIENT_CPU"
echo "machine: $(nproc) CPUs, $(uname -sr), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "dx: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (+ local changes)')"
echo "runs: median of $ROUNDS interleaved rounds, ${DURATION}s each after ${WARMUP}s warmup"
echo "client: dx bench $BENCH_ARGS ADDR; reloads: dx ctl reload routes_echo every ${EVERY}s"
echo
printf '| %-22s | %12s | %9s | %10s | %11s | %8s |\n' run "req/s" "vs none" "p99 us" "max us" errors
printf '|%s|%s|%s|%s|%s|%s|\n' "------------------------" "--------------" "-----------" "------------" "-------------" "----------"
base=$(median "$RES" 0 2)
for mode in 0 1; do
	rps=$(median "$RES" "$mode" 2)
	[ -n "$rps" ] || continue
	awk -v n="${MODES[$mode]}" -v r="$rps" -v b="$base" \
		-v p99="$(median "$RES" "$mode" 3)" -v mx="$(median "$RES" "$mode" 4)" \
		-v e="$(awk -v i="$mode" '$1 == i { s += $5 } END { print s + 0 }' "$RES")" 'BEGIN {
		printf "| %-22s | %12.0f | %8.1f%% | %10.1f | %11.1f | %8d |\n",
			n, r, 100 * r / b, p99, mx, e }'
done
n=$(wc -l <"$T/reload_ms")
echo
if [ "$n" -gt 0 ]; then
	sort -g "$T/reload_ms" | awk -v n="$n" '{ v[NR] = $1 } END {
		m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		printf "reload, inside the host (%d reloads): median %.2f ms, max %.2f ms\n", n, m, v[n] }'
	sort -g "$T/reload_rt_us" | awk -v n="$n" '{ v[NR] = $1 } END {
		m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		printf "reload, dx ctl round trip (process start included): median %.2f ms, max %.2f ms\n", m / 1000, v[n] / 1000 }'
fi
nerr=$(wc -l <"$T/reload_err")
echo "failed reloads: $nerr"
[ "$nerr" -eq 0 ] || head -3 "$T/reload_err"
echo "(max us: the median over rounds of each run's largest request latency; errors: summed over rounds)"
