#!/usr/bin/env bash
# bench/stuck_reader.sh - what one client that never reads its answers
# costs the host (issue 11): dx-host's RSS and the bystanders' latency,
# with and without a stuck reader, in the same run.
#
# The stuck reader pipelines 4 KiB pings and never reads: one connection
# at a time, each writing until the host closes it (write timeout), then
# the next, for the whole measured run; at most 2 GiB per connection and
# the run's length in all. The bystanders are dx bench against
# routes_echo's echo route (50 x 16 by default). One server worker on
# CPU 0, dx bench on CPU 1, the stuck reader on CPU 0. Rounds alternate
# the two modes, each on a fresh host. Prints, per mode (medians of the
# rounds): the host's RSS idle (before the load), its peak during the run
# and after it, requests/s and p99, and for the stuck readers how long
# each connection lived (connect to close: filling the buffers, then
# write_timeout_ms) and how much each could write.
#
# usage: bench/stuck_reader.sh      (from anywhere; about 2 x ROUNDS x
#                                    (DURATION + 3) seconds)
#   BUILD=dir          build directory (default build/, set up if missing)
#   ROUNDS=N           rounds (default 3)
#   DURATION=S         measured seconds per run (default 10)
#   WARMUP=S           unmeasured seconds before each run (default 0.5)
#   SERVER_CPU=N       CPU for dx-host and the stuck reader (default 0)
#   CLIENT_CPU=N       CPU for dx bench (default 1)
#   LOAD="-c 50 -P 16" connections and pipeline depth
#   WRITE_TIMEOUT_MS=N limits.write_timeout_ms (default 1000)
#   MAX_OUTPUT=N       limits.max_output (default: the host's, 4 MiB)
#
# Targets (issue 11): RSS under 64 MiB above idle with the stuck reader;
# each stuck connection closed within the write timeout (plus the time to
# fill the buffers); bystander p99 within 2x of without.
set -euo pipefail

LOAD=${LOAD:-"-c 50 -P 16"}
DURATION=${DURATION:-10}
WRITE_TIMEOUT_MS=${WRITE_TIMEOUT_MS:-1000}
MAX_OUTPUT=${MAX_OUTPUT:-}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_init dx-bench-stuck

start_server()
{
	local limits="\"write_timeout_ms\": $WRITE_TIMEOUT_MS"
	[ -z "$MAX_OUTPUT" ] || limits="$limits, \"max_output\": $MAX_OUTPUT"
	bench_manifest "$T/manifest.json" "{\"name\": \"routes_echo\"}" \
		"\"control\": {\"socket\": \"$T/ctl.sock\"}, \"limits\": {$limits}"
	start_host "$T/manifest.json" "$T/host.log"
}

rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$SERVER_PID/status"; }

# 64 pings of 4 KiB (header: opcode 0, FINAL, seq 0, length 4096 LE).
{
	for _ in $(seq 64); do
		printf '\x00\x08\x00\x00\x00\x10\x00\x00'
		head -c 4096 /dev/zero | tr '\0' x
	done
} >"$T/pings"
PINGS_BYTES=$(stat -c %s "$T/pings")
REPS=$(((2 << 30) / PINGS_BYTES)) # 2 GiB per connection at most

# stuck_reader SECONDS: one never-reading connection after another for
# SECONDS s; each one's life (ms) goes to $T/stuck_ms, and what it wrote
# (bytes the kernel took, dd's count) to $T/stuck_bytes.
stuck_reader()
{
	local end=$((SECONDS + $1)) t0 t1 wrote
	while [ "$SECONDS" -lt "$end" ]; do
		t0=$(date +%s%N)
		# Writes block once the host stops reading; the host's close
		# ends dd (ECONNRESET or EPIPE: SIGPIPE is ignored so dd
		# says how far it got).
		# shellcheck disable=SC2016 # expanded by the inner bash
		wrote=$(timeout $((end - SECONDS + 1)) bash -c '
			trap "" PIPE
			exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
			for _ in $(seq "$2"); do cat "$3" || exit 0; done |
				dd bs=262144 iflag=fullblock 2>&1 >&3 |
				sed -n "s/^\([0-9][0-9]*\) bytes.*/\1/p"
		' stuck "$PORT" "$REPS" "$T/pings" 2>/dev/null) || true
		t1=$(date +%s%N)
		[ "$SECONDS" -lt "$end" ] || break # cut by the run's end
		echo $(((t1 - t0) / 1000000)) >>"$T/stuck_ms"
		echo "${wrote:-0}" >>"$T/stuck_bytes"
	done
}

# rss_sampler: the largest RSS seen, every 100 ms, into $T/rss_peak.
rss_sampler()
{
	local peak=0 r
	while kill -0 "$SERVER_PID" 2>/dev/null; do
		r=$(rss_kib) || break
		[ -z "$r" ] || [ "$r" -le "$peak" ] || { peak=$r; echo "$peak" >"$T/rss_peak"; }
		sleep 0.1
	done
}

RES=$T/results
: >"$RES"
: >"$T/stuck_ms"
: >"$T/stuck_bytes"
BENCH_ARGS="--route echo -s 16 $LOAD -d $DURATION --warmup $WARMUP --cpu $CLIENT_CPU --json"
MODES=("no stuck reader" "one stuck reader")
say "bench: $ROUNDS rounds x 2, ${DURATION}s + ${WARMUP}s warmup each"
for round in $(seq "$ROUNDS"); do
	for mode in 0 1; do
		start_server
		# Idle: the host up, one call answered (buffers and routes warm).
		"$DX" call "127.0.0.1:$PORT" echo warm >/dev/null
		sleep 0.3
		idle=$(rss_kib)
		echo "$idle" >"$T/rss_peak"
		rss_sampler &
		spid=$!
		stpid=
		if [ "$mode" = 1 ]; then
			secs=$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 1.999 }')
			taskset -c "$SERVER_CPU" bash -c "$(declare -f stuck_reader); T=$T PORT=$PORT REPS=$REPS stuck_reader $secs" &
			stpid=$!
			sleep 0.5 # stuck before the bystanders start
		fi
		# shellcheck disable=SC2086
		if out=$("$DX" bench $BENCH_ARGS "127.0.0.1:$PORT" 2>"$T/err"); then
			[ -z "$stpid" ] || wait "$stpid" || true
			sleep 0.3
			after=$(rss_kib)
			kill "$spid" 2>/dev/null || true
			wait "$spid" 2>/dev/null || true
			printf '%s %s %s %s %s %s %s\n' "$mode" "$idle" "$(cat "$T/rss_peak")" \
				"$after" "$(field rps <<<"$out")" "$(field p99_us <<<"$out")" \
				"$(field errors <<<"$out")" >>"$RES"
			say "  round $round  $(printf '%-17s' "${MODES[$mode]}") $(tail -1 "$RES" | awk '{printf "RSS idle %6d KiB peak %+7d after %+7d  %9.0f req/s  p99 %7.1f us  errors %s", $2, $3 - $2, $4 - $2, $5, $6, $7}')"
		else
			say "bench: round $round ${MODES[$mode]} failed: $(cat "$T/err")"
			[ -z "$stpid" ] || kill "$stpid" 2>/dev/null || true
			kill "$spid" 2>/dev/null || true
		fi
		stop_server
	done
done

echo
echo "dx bench: echo (16 B) $LOAD, one server worker (epoll) on CPU $SERVER_CPU, dx bench on CPU $CLIENT_CPU"
echo "stuck reader: 4 KiB pings, never reads, one connection after another on CPU $SERVER_CPU; limits.write_timeout_ms $WRITE_TIMEOUT_MS, max_output ${MAX_OUTPUT:-default}"
echo "machine: $(nproc) CPUs, $(uname -sr), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "dx: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (+ local changes)')"
echo "runs: median of $ROUNDS interleaved rounds, ${DURATION}s each after ${WARMUP}s warmup"
echo
printf '| %-17s | %10s | %12s | %12s | %10s | %10s | %8s | %6s |\n' run "RSS idle" "peak - idle" "after - idle" "req/s" "p99 us" "vs none" errors
printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' "-------------------" "------------" "--------------" "--------------" "------------" "------------" "----------" "--------"
base=$(median "$RES" 0 6)
awk '{ print $1, $3 - $2, $4 - $2 }' "$RES" >"$T/deltas"
for mode in 0 1; do
	[ -n "$(median "$RES" "$mode" 2)" ] || continue
	awk -v n="${MODES[$mode]}" -v idle="$(median "$RES" "$mode" 2)" \
		-v pk="$(median "$T/deltas" "$mode" 2)" -v af="$(median "$T/deltas" "$mode" 3)" \
		-v r="$(median "$RES" "$mode" 5)" -v p99="$(median "$RES" "$mode" 6)" -v b="$base" \
		-v e="$(awk -v i="$mode" '$1 == i { s += $7 } END { print s + 0 }' "$RES")" 'BEGIN {
		printf "| %-17s | %6.1f MiB | %+8.1f MiB | %+8.1f MiB | %10.0f | %10.1f | %7.2fx | %6d |\n",
			n, idle / 1024, pk / 1024, af / 1024, r, p99, p99 / b, e }'
done
n=$(wc -l <"$T/stuck_ms")
echo
if [ "$n" -gt 0 ]; then
	sort -g "$T/stuck_ms" | awk -v n="$n" -v wt="$WRITE_TIMEOUT_MS" '{ v[NR] = $1 } END {
		m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		printf "stuck connections: %d, each lived (connect to close) median %d ms, max %d ms (write timeout %d ms)\n", n, m, v[n], wt }'
	sort -g "$T/stuck_bytes" | awk -v n="$n" '{ v[NR] = $1 } END {
		m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		printf "each got out (bytes the kernel took) median %.1f MiB, max %.1f MiB, of the 2048 MiB it tried to send\n", m / 1048576, v[n] / 1048576 }'
else
	echo "stuck connections: none was closed within the run (write timeout $WRITE_TIMEOUT_MS ms)"
fi
echo "(RSS from /proc/PID/status VmRSS: idle after one call, peak sampled every 100 ms during the run, after 0.3 s past its end)"
