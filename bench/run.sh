#!/usr/bin/env bash
# bench/run.sh - dx-host (io_uring, epoll) against redis-server, PING, one
# worker on CPU 0, the load generator (dx bench) on CPU 1.
#
# usage: bench/run.sh            (from anywhere; about 2 minutes)
#   BUILD=dir       build directory (default build/, set up if missing)
#   ROUNDS=N        rounds per backend, interleaved (default 3)
#   DURATION=S      measured seconds per run (default 3)
#   WARMUP=S        unmeasured seconds before each run (default 0.5)
#   SERVER_CPU=N    CPU for the servers (default 0)
#   CLIENT_CPU=N    CPU for dx bench (default 1)
#   CONFIGS="50x16 50x1 1x1"   connections x pipeline to measure
#   RAW=file        also keep every run's JSON line here
#
# Every round starts each server afresh, in the order io_uring, epoll,
# redis, and runs every configuration against it, so slow drift of the
# machine spreads over all three. The table gives the median of the rounds.
# See bench/README.md for how to read it.
set -euo pipefail

CONFIGS=${CONFIGS:-"50x16 50x1 1x1"}
BACKENDS="io_uring epoll redis"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

if ! command -v redis-server >/dev/null 2>&1; then
	say "bench: redis-server is missing; installing it (apt-get install -y redis-server)"
	SUDO=
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get install -y redis-server >/dev/null 2>&1 ||
		{ $SUDO apt-get update >/dev/null 2>&1 &&
			$SUDO apt-get install -y redis-server >/dev/null 2>&1; } ||
		die "could not install redis-server; install it and run again"
fi
bench_init dx-bench

# start_server BACKEND PORT: start it on SERVER_CPU, wait until it is ready.
start_server()
{
	local backend=$1 port=$2 log=$T/$1.log
	: >"$log"
	case "$backend" in
	redis)
		taskset -c "$SERVER_CPU" redis-server --port "$port" \
			--bind 127.0.0.1 --save '' --appendonly no \
			--daemonize no --dir "$T" >"$log" 2>&1 </dev/null &
		SERVER_PID=$!
		;;
	*)
		# io.backend names the IO facet (io_uring, epoll); the plugin
		# that provides epoll is io_epoll.
		local plugin=$backend
		[ "$backend" = epoll ] && plugin=io_epoll
		cat >"$T/$backend.json" <<-EOF
			{
			  "dx": 1,
			  "plugin_path": ["$PLUGINS"],
			  "listen": ["127.0.0.1:$port"],
			  "workers": 1,
			  "pin_cpus": true,
			  "io": {"backend": "$backend"},
			  "plugins": [
			    {"name": "$plugin"},
			    {"name": "routes_echo"}
			  ]
			}
		EOF
		taskset -c "$SERVER_CPU" "$DX_HOST" -m "$T/$backend.json" \
			>"$log" 2>&1 </dev/null &
		SERVER_PID=$!
		;;
	esac
	local check=$backend
	[ "$backend" = redis ] && check=
	wait_ready "$backend" "$log" 'ready|Ready to accept' "$check"
}

RES=$T/results
: >"$RES"
BENCH_ARGS="-d $DURATION --warmup $WARMUP --cpu $CLIENT_CPU --json"
say "bench: $ROUNDS rounds x {$BACKENDS} x {$CONFIGS}, ${DURATION}s + ${WARMUP}s warmup each"
# one_run BACKEND CFG C P ROUND: one dx bench run against PORT.
one_run()
{
	local backend=$1 cfg=$2 c=$3 p=$4 round=$5 proto=--ping out
	[ "$backend" = redis ] && proto=--resp
	# shellcheck disable=SC2086
	if out=$("$DX" bench $proto -c "$c" -P "$p" $BENCH_ARGS \
		"127.0.0.1:$PORT" 2>"$T/err"); then
		printf '%s %s %s %s %s\n' "$backend" "$cfg" \
			"$(field rps <<<"$out")" \
			"$(field p50_us <<<"$out")" \
			"$(field p99_us <<<"$out")" >>"$RES"
		say "  round $round  $(printf '%-8s %-6s' "$backend" "$cfg") $(tail -1 "$RES" | awk '{printf "%10.0f req/s  p50 %6.1f us  p99 %7.1f us", $3, $4, $5}')"
	else
		say "bench: round $round $backend $cfg failed: $(cat "$T/err")"
	fi
	[ -z "${RAW:-}" ] || printf '%s %s\n' "$backend" "$out" >>"$RAW"
}
bench_rounds "$BACKENDS" "$CONFIGS" one_run

# median BACKEND CFG COLUMN (3 rps, 4 p50, 5 p99)
median()
{
	awk -v b="$1" -v c="$2" -v k="$3" '$1 == b && $2 == c { print $k }' "$RES" |
		sort -g | awk '{ v[NR] = $1 } END {
			if (!NR) { print ""; exit }
			if (NR % 2) print v[(NR + 1) / 2];
			else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2fx\n", a / b }'; }

echo
echo "dx bench: PING, one server worker on CPU $SERVER_CPU, dx bench (1 thread) on CPU $CLIENT_CPU"
echo "machine: $(nproc) CPUs, $(uname -sr), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "dx: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (+ local changes)'), $(redis-server --version | awk '{print $1, $2, $3}')"
echo "runs: median of $ROUNDS interleaved rounds, ${DURATION}s each after ${WARMUP}s warmup"
echo "client: dx bench {--ping|--resp} -c C -P P $BENCH_ARGS ADDR"
echo
printf '%-9s %-7s %12s %9s %9s %9s %12s\n' backend c×P "requests/s" "p50 µs" "p99 µs" "vs redis" "uring/epoll"
for cfg in $CONFIGS; do
	redis_rps=$(median redis "$cfg" 3)
	uring_rps=$(median io_uring "$cfg" 3)
	epoll_rps=$(median epoll "$cfg" 3)
	for backend in $BACKENDS; do
		rps=$(median "$backend" "$cfg" 3)
		vs=- ue=-
		if [ "$backend" != redis ]; then
			vs=$(ratio "$rps" "$redis_rps")
		fi
		[ "$backend" = io_uring ] && ue=$(ratio "$uring_rps" "$epoll_rps")
		printf '%-9s %-7s %12s %9s %9s %9s %12s\n' "$backend" "$cfg" \
			"${rps:-n/a}" "$(median "$backend" "$cfg" 4)" \
			"$(median "$backend" "$cfg" 5)" "$vs" "$ue"
	done
done

# The targets of issue 3, when their configurations were measured.
echo
target()
{
	# target DESC VALUE OP LIMIT
	awk -v d="$1" -v v="$2" -v op="$3" -v l="$4" 'BEGIN {
		if (v == "") { printf "  %-44s n/a\n", d; exit }
		ok = op == ">=" ? v >= l : v <= l
		printf "  %-44s %8.2f (target %s %s): %s\n", d, v, op, l, ok ? "met" : "MISSED" }'
}
echo "targets:"
case " $CONFIGS " in *" 50x16 "*)
	u=$(median io_uring 50x16 3) e=$(median epoll 50x16 3) r=$(median redis 50x16 3)
	target "50x16 io_uring / redis" "$(awk -v a="$u" -v b="$r" 'BEGIN { if (a != "" && b > 0) print a / b }')" ">=" 1.5
	target "50x16 epoll / redis" "$(awk -v a="$e" -v b="$r" 'BEGIN { if (a != "" && b > 0) print a / b }')" ">=" 1.5
	target "50x16 io_uring / epoll" "$(awk -v a="$u" -v b="$e" 'BEGIN { if (a != "" && b > 0) print a / b }')" ">=" 1.15
	;;
esac
case " $CONFIGS " in *" 1x1 "*)
	r=$(median redis 1x1 4)
	for b in io_uring epoll; do
		target "1x1 $b p50 - redis p50 (µs)" "$(awk -v a="$(median "$b" 1x1 4)" -v r="$r" 'BEGIN { if (a != "" && r != "") print a - r }')" "<=" 3
	done
	;;
esac
