#!/usr/bin/env bash
# bench/cpu_per_request.sh - the server's own CPU per request: dx-host on
# io_uring, dx-host on epoll, and a bare single-threaded epoll Ping loop
# (bench/bare_echo.c, compiled here with cc -O2), each on CPU 0 with one
# worker, dx bench (one thread) on CPU 1, HBTP Ping.
#
# usage: bench/cpu_per_request.sh     (from anywhere; about 70 s)
#   BUILD=dir       build directory (default build/, set up if missing)
#   ROUNDS=N        rounds, interleaved over the servers (default 3)
#   DURATION=S      measured seconds per run (default 3)
#   WARMUP=S        an unmeasured run of this long first (default 0.5)
#   SERVER_CPU=N    CPU for the servers (default 0)
#   CLIENT_CPU=N    CPU for dx bench (default 1)
#   CONFIGS="50x16 50x1"   connections x pipeline to measure
#   SERVERS="io_uring epoll bare"
#   BASE_BUILD=dir  also measure "base": dx-host on io_uring from another
#                   build directory (before/after a change, same run)
#   CALLGRIND=1     instead: user-space instructions per request under
#                   valgrind --tool=callgrind (CG_REQUESTS answers, default
#                   200000, per server and configuration)
#   CG_KEEP=dir     with CALLGRIND=1, keep the dumps there
#                   (callgrind.SERVER.CxP, for callgrind_annotate)
#
# CPU per request is the server process's utime+stime (/proc/PID/stat, all
# threads) over the measured run, divided by the answers dx bench counted
# in it. The measured run has no warm-up of its own (a separate run
# before it warms the server), so the CPU window and the count cover the
# same requests. Every round starts each server afresh. The table gives
# medians of the rounds; the targets of issue 13 are checked at the end.
# Instruction counts do not depend on the machine's noise (the kernel's
# share, most of the CPU here, is not in them): use them to compare user
# space between two builds.
set -euo pipefail

CONFIGS=${CONFIGS:-"50x16 50x1"}
SERVERS=${SERVERS:-"io_uring epoll bare${BASE_BUILD:+ base}"}
CG_REQUESTS=${CG_REQUESTS:-200000}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

bench_init dx-bench-cpu
command -v cc >/dev/null 2>&1 || die "cc is missing (needed for the bare loop)"
cc -O2 -o "$T/bare_echo" "$ROOT/bench/bare_echo.c" ||
	die "could not compile bench/bare_echo.c"
if [ "${CALLGRIND:-0}" = 1 ]; then
	if ! command -v valgrind >/dev/null 2>&1 ||
		! command -v callgrind_control >/dev/null 2>&1; then
		die "CALLGRIND=1 needs valgrind (apt-get install -y valgrind)"
	fi
fi
TCK=$(getconf CLK_TCK)
if [ -n "${BASE_BUILD:-}" ]; then
	case "$BASE_BUILD" in /*) ;; *) BASE_BUILD=$PWD/$BASE_BUILD ;; esac
	[ -x "$BASE_BUILD/host/dx-host" ] || die "no dx-host in BASE_BUILD $BASE_BUILD"
fi

# start_server NAME PORT: on SERVER_CPU (under callgrind with CALLGRIND=1),
# wait until it is ready; sets SERVER_PID.
start_server()
{
	local name=$1 port=$2 log=$T/$1.log wrap=()
	: >"$log"
	if [ "${CALLGRIND:-0}" = 1 ]; then
		rm -f "$T/cg.$name".*
		wrap=(valgrind --tool=callgrind
			"--callgrind-out-file=$T/cg.$name.%p")
	fi
	if [ "$name" = bare ]; then
		taskset -c "$SERVER_CPU" "${wrap[@]}" "$T/bare_echo" "$port" \
			>"$log" 2>&1 </dev/null &
	else
		local plugin=$name backend=$name host=$DX_HOST plugins=$PLUGINS
		[ "$name" = epoll ] && plugin=io_epoll
		if [ "$name" = base ]; then
			plugin=io_uring backend=io_uring
			host=$BASE_BUILD/host/dx-host plugins=$BASE_BUILD/plugins
		fi
		cat >"$T/$name.json" <<-EOF
			{
			  "dx": 1,
			  "plugin_path": ["$plugins"],
			  "listen": ["127.0.0.1:$port"],
			  "workers": 1,
			  "pin_cpus": true,
			  "io": {"backend": "$backend"},
			  "plugins": [{"name": "$plugin"}, {"name": "routes_echo"}]
			}
		EOF
		taskset -c "$SERVER_CPU" "${wrap[@]}" "$host" \
			-m "$T/$name.json" >"$log" 2>&1 </dev/null &
	fi
	SERVER_PID=$!
	local check=$name traffic=
	case $name in bare | base) check= ;; esac
	if [ "${CALLGRIND:-0}" = 1 ] && [ "$name" != epoll ] &&
		[ "$name" != bare ]; then
		# valgrind 3.19 holds its big lock across io_uring_enter (it
		# does not count it as blocking): the other threads, the main
		# one included, only run when the worker has used up its time
		# slice, which takes traffic.
		(for _ in $(seq 300); do
			"$DX" bench --ping -c 5 -P 16 -d 1 --warmup 0 \
				--timeout 30000 "127.0.0.1:$port" >/dev/null 2>&1 &&
				exit 0
			sleep 0.1
		done) &
		traffic=$!
	fi
	wait_ready "$name" "$log" ready "$check" 300
	if [ -n "$traffic" ]; then
		wait "$traffic" || true
	fi
}


# load C P ARGS...: dx bench against PORT; its JSON line on stdout.
load()
{
	local c=$1 p=$2
	shift 2
	"$DX" bench --ping -c "$c" -P "$p" --cpu "$CLIENT_CPU" --warmup 0 \
		"$@" "127.0.0.1:$PORT" 2>"$T/err"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f\n", a / b }'; }

machine()
{
	echo "machine: $(nproc) CPUs, $(uname -sr), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
	echo "dx: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (+ local changes)')"
}

if [ "${CALLGRIND:-0}" = 1 ]; then
	# Zero the counters once the server is warm, run CG_REQUESTS
	# answers, dump: the dump holds exactly those requests' work.
	RES=$T/cg
	: >"$RES"
	for name in $SERVERS; do
		PORT=$(free_port)
		start_server "$name" "$PORT"
		for cfg in $CONFIGS; do
			c=${cfg%x*} p=${cfg#*x}
			load "$c" "$p" -n 20000 --json >/dev/null ||
				die "warm-up against $name failed: $(cat "$T/err")"
			callgrind_control -z "$SERVER_PID" >/dev/null ||
				die "callgrind_control -z failed"
			load "$c" "$p" -n "$CG_REQUESTS" --json >"$T/out" ||
				die "$name $cfg failed: $(cat "$T/err")"
			rm -f "$T/cg.$name".*.[0-9]*
			callgrind_control -d "$SERVER_PID" >/dev/null ||
				die "callgrind_control -d failed"
			f=$(find "$T" -name "cg.$name.*.[0-9]*" | head -1)
			[ -n "$f" ] || die "no callgrind dump for $name"
			[ -z "${CG_KEEP:-}" ] || cp "$f" "$CG_KEEP/callgrind.$name.$cfg"
			ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f")
			n=$(field requests <"$T/out")
			printf '%s %s %s %s\n' "$name" "$cfg" "$ir" "$n" >>"$RES"
			say "  $name $cfg: $ir instructions / $n answers"
		done
		stop_server
	done
	echo
	echo "user-space instructions per request (valgrind --tool=callgrind), dx bench --ping -c C -P P -n $CG_REQUESTS"
	machine
	echo
	printf '%-9s %-7s %14s %10s\n' server c×P "instr/req" "vs bare"
	for cfg in $CONFIGS; do
		bare=$(awk -v c="$cfg" '$1 == "bare" && $2 == c { printf "%.0f", $3 / $4 }' "$RES")
		for name in $SERVERS; do
			v=$(awk -v s="$name" -v c="$cfg" '$1 == s && $2 == c { printf "%.0f", $3 / $4 }' "$RES")
			printf '%-9s %-7s %14s %10s\n' "$name" "$cfg" "${v:-n/a}" \
				"$(ratio "$v" "$bare")"
		done
	done
	exit 0
fi

RES=$T/results
: >"$RES"
say "bench: $ROUNDS rounds x {$SERVERS} x {$CONFIGS}, ${DURATION}s each after a ${WARMUP}s warm-up run"
# one_run NAME CFG C P ROUND: a warm-up run, then the measured one.
one_run()
{
	local name=$1 cfg=$2 c=$3 p=$4 round=$5 t0 t1 out n rps ns
	load "$c" "$p" -d "$WARMUP" --json >/dev/null ||
		die "warm-up against $name failed: $(cat "$T/err")"
	t0=$(cpu_ticks "$SERVER_PID")
	if ! out=$(load "$c" "$p" -d "$DURATION" --json); then
		say "bench: round $round $name $cfg failed: $(cat "$T/err")"
		return 0
	fi
	t1=$(cpu_ticks "$SERVER_PID")
	n=$(field requests <<<"$out")
	rps=$(field rps <<<"$out")
	ns=$(awk -v d=$((t1 - t0)) -v t="$TCK" -v n="$n" 'BEGIN { printf "%.1f", (n > 0 ? d / t * 1e9 / n : 0) }')
	printf '%s@%s %s %s\n' "$name" "$cfg" "$rps" "$ns" >>"$RES"
	say "  round $round  $(printf '%-8s %-6s' "$name" "$cfg") $(printf '%10.0f req/s  %7.1f ns CPU/req' "$rps" "$ns")"
}
bench_rounds "$SERVERS" "$CONFIGS" one_run

# med NAME CFG COLUMN (2 requests/s, 3 ns CPU per request)
med() { median "$RES" "$1@$2" "$3"; }

echo
echo "server CPU per request: one server worker on CPU $SERVER_CPU, dx bench (1 thread) on CPU $CLIENT_CPU, HBTP Ping"
machine
echo "runs: median of $ROUNDS interleaved rounds, ${DURATION}s each after a ${WARMUP}s warm-up run"
echo "client: dx bench --ping -c C -P P --cpu $CLIENT_CPU --warmup 0 -d $DURATION --json ADDR"
echo "CPU: utime+stime of the server process over the run (/proc/PID/stat) / answers"
echo
printf '%-9s %-7s %12s %13s %9s\n' server c×P "requests/s" "CPU ns/req" "vs bare"
for cfg in $CONFIGS; do
	bare=$(med bare "$cfg" 3)
	for name in $SERVERS; do
		ns=$(med "$name" "$cfg" 3)
		printf '%-9s %-7s %12s %13s %9s\n' "$name" "$cfg" \
			"$(med "$name" "$cfg" 2)" "${ns:-n/a}" "$(ratio "$ns" "$bare")"
	done
done

echo
echo "targets (issue 13, CPU per request):"
target()
{
	# target DESC VALUE LIMIT
	awk -v d="$1" -v v="$2" -v l="$3" 'BEGIN {
		if (v == "" || v == "-") { printf "  %-34s n/a\n", d; exit }
		printf "  %-34s %6.2f (target <= %s): %s\n", d, v, l, v <= l ? "met" : "MISSED" }'
}
for cfg in $CONFIGS; do
	limit=
	case $cfg in 50x16) limit=0.8 ;; 50x1) limit=0.9 ;; esac
	[ -n "$limit" ] || continue
	target "$cfg io_uring / bare" "$(ratio "$(med io_uring "$cfg" 3)" "$(med bare "$cfg" 3)")" "$limit"
done
