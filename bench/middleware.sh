#!/usr/bin/env bash
# bench/middleware.sh - what middleware costs: requests/s of the echo route
# with no middleware, mw_timing, mw_auth (one token repeated: cache hits),
# mw_auth with its cache off, and all three, one server worker on CPU 0,
# dx bench on CPU 1; then the in-process cost of mw_auth's before() hook
# (tests/mw_auth/bench_mw_auth: ns per call, median of several runs).
#
# usage: bench/middleware.sh        (from anywhere; about 1.5 minutes)
#   BUILD=dir       build directory (default build/, set up if missing)
#   ROUNDS=N        rounds, interleaved over the configurations (default 3)
#   DURATION=S      measured seconds per run (default 3)
#   WARMUP=S        unmeasured seconds before each run (default 0.5)
#   SERVER_CPU=N    CPU for dx-host (default 0)
#   CLIENT_CPU=N    CPU for dx bench (default 1)
#   LOAD="-c 50 -P 16"  connections and pipeline depth
#   RATELIMIT_CONFIG='{"rate": 1e9, "burst": 1000000}'  (never limits)
#
# Every request of every configuration carries the same
# "authorization: Bearer <HS256 token>" metadata, so only the middleware
# differs between rows. Rows whose plugin is not built are skipped. The
# table gives the median of the rounds and the ratio to no middleware.
set -euo pipefail

LOAD=${LOAD:-"-c 50 -P 16"}
RATELIMIT_CONFIG=${RATELIMIT_CONFIG:-'{"rate": 1e9, "burst": 1000000}'}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_init dx-bench-mw
MICRO=$BUILD/tests/mw_auth/bench_mw_auth
"$DX" bench --help | grep -q -- --meta ||
	die "$DX bench has no --meta option (rebuild?)"
built() { [ -f "$PLUGINS/$1/$1.so" ]; }
built mw_auth && [ -x "$MICRO" ] ||
	die "mw_auth is not built in $BUILD (libjwt-dev missing?)"


# The secret and the one token every request carries.
head -c 48 /dev/urandom | base64 -w0 >"$T/secret"
chmod 600 "$T/secret"
TOKEN=$("$MICRO" token "$T/secret") || die "could not make a token"
AUTH_CFG='{"alg": "HS256", "secret_file": "'$T/secret'", "issuer": "dx-bench", "audience": "dx", "require": ["role"]'

# Configurations: name|middleware list|extra plugin entries.
CONFIGS=("none||")
built mw_timing && CONFIGS+=("mw_timing|\"mw_timing\"|{\"name\": \"mw_timing\"}")
CONFIGS+=("mw_auth (cache hit)|\"mw_auth\"|{\"name\": \"mw_auth\", \"config\": $AUTH_CFG}}")
CONFIGS+=("mw_auth (cache 0)|\"mw_auth\"|{\"name\": \"mw_auth\", \"config\": $AUTH_CFG, \"cache\": 0}}")
if built mw_timing && built mw_ratelimit; then
	CONFIGS+=("timing+auth+ratelimit|\"mw_timing\", \"mw_auth\", \"mw_ratelimit\"|{\"name\": \"mw_timing\"}, {\"name\": \"mw_auth\", \"config\": $AUTH_CFG}}, {\"name\": \"mw_ratelimit\", \"config\": $RATELIMIT_CONFIG}")
fi
for p in mw_timing mw_ratelimit; do
	built "$p" || say "bench: $p is not built: its rows are skipped"
done

# start_server INDEX: dx-host with CONFIGS[INDEX] on SERVER_CPU; sets PORT.
start_server()
{
	local name mw extra log=$T/host.log
	IFS='|' read -r name mw extra <<<"${CONFIGS[$1]}"
	[ -z "$extra" ] || extra=", $extra"
	bench_manifest "$T/manifest.json" "{\"name\": \"routes_echo\"}$extra" \
		"\"middleware\": [$mw]"
	start_host "$T/manifest.json" "$log"
}


RES=$T/results
: >"$RES"
BENCH_ARGS="--route echo -s 16 $LOAD -d $DURATION --warmup $WARMUP --cpu $CLIENT_CPU --json"
say "bench: $ROUNDS rounds x ${#CONFIGS[@]} configurations, ${DURATION}s + ${WARMUP}s warmup each"
for round in $(seq "$ROUNDS"); do
	for i in "${!CONFIGS[@]}"; do
		start_server "$i"
		# shellcheck disable=SC2086
		if out=$("$DX" bench $BENCH_ARGS --meta "authorization=Bearer $TOKEN" \
			"127.0.0.1:$PORT" 2>"$T/err"); then
			printf '%s %s %s %s\n' "$i" "$(field rps <<<"$out")" \
				"$(field p50_us <<<"$out")" \
				"$(field p99_us <<<"$out")" >>"$RES"
			say "  round $round  $(printf '%-24s' "${CONFIGS[$i]%%|*}") $(tail -1 "$RES" | awk '{printf "%10.0f req/s  p50 %6.1f us  p99 %7.1f us", $2, $3, $4}')"
		else
			say "bench: round $round ${CONFIGS[$i]%%|*} failed: $(cat "$T/err")"
		fi
		stop_server
	done
done


base=$(median "$RES" 0 2)
echo
echo "dx bench: echo (16 B) with middleware, one server worker (epoll) on CPU $SERVER_CPU, dx bench on CPU $CLIENT_CPU"
echo "machine: $(nproc) CPUs, $(uname -sr), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "dx: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (+ local changes)')"
echo "runs: median of $ROUNDS interleaved rounds, ${DURATION}s each after ${WARMUP}s warmup"
echo "client: dx bench $BENCH_ARGS --meta 'authorization=Bearer <HS256 token>' ADDR"
echo
printf '| %-24s | %12s | %8s | %8s | %8s | %14s |\n' middleware "req/s" "vs none" "p50 us" "p99 us" "ns/req extra"
printf '|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..26})" "$(printf -- '-%.0s' {1..13})-" "$(printf -- '-%.0s' {1..10})" "$(printf -- '-%.0s' {1..10})" "$(printf -- '-%.0s' {1..10})" "$(printf -- '-%.0s' {1..16})"
for i in "${!CONFIGS[@]}"; do
	rps=$(median "$RES" "$i" 2)
	[ -n "$rps" ] || continue
	awk -v n="${CONFIGS[$i]%%|*}" -v r="$rps" -v b="$base" \
		-v p50="$(median "$RES" "$i" 3)" -v p99="$(median "$RES" "$i" 4)" 'BEGIN {
		extra = (r > 0 && b > 0) ? 1e9 / r - 1e9 / b : 0
		printf "| %-24s | %12.0f | %7.1f%% | %8.1f | %8.1f | %14.0f |\n",
			n, r, 100 * r / b, p50, p99, extra }'
done
echo
echo "(ns/req extra: 1e9/rps - 1e9/rps(none), the server's added time per request on one worker)"
echo
echo "mw_auth before() in process (tests/mw_auth/bench_mw_auth, CPU $SERVER_CPU):"
DX_PLUGINS=$PLUGINS taskset -c "$SERVER_CPU" "$MICRO" 7
