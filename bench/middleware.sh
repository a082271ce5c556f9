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
#   CALLGRIND=N     also count instructions per request: each
#                   configuration once more under valgrind --tool=callgrind
#                   (one worker, N requests, default 0: skipped; 20000 is
#                   about 10 s a configuration). Unlike req/s this figure
#                   does not move with the machine's load. The outputs stay
#                   in CALLGRIND_OUT (default: dropped with the temp dir)
#                   for callgrind_annotate.
#   CALLGRIND_ARGS="--dump-instr=yes --compress-pos=no"  more valgrind
#                   options for those runs (per-instruction counts, to
#                   read beside objdump -d of a plugin)
#   ONLY=REGEX      run only the configurations whose name matches (none
#                   always runs: it is the reference)
#
# Targets (issue 13), checked in the table: mw_timing costs at most 3% and
# timing+auth+ratelimit at most 10% of plain echo's throughput.
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
if [ -n "${ONLY:-}" ]; then
	KEEP=("${CONFIGS[0]}")
	for c in "${CONFIGS[@]:1}"; do
		[[ ${c%%|*} =~ $ONLY ]] && KEEP+=("$c")
	done
	CONFIGS=("${KEEP[@]}")
fi
CALLGRIND=${CALLGRIND:-0}

# write_manifest INDEX: CONFIGS[INDEX]'s manifest in $T/manifest.json.
write_manifest()
{
	local mw extra
	IFS="|" read -r _ mw extra <<<"${CONFIGS[$1]}"
	[ -z "$extra" ] || extra=", $extra"
	bench_manifest "$T/manifest.json" "{\"name\": \"routes_echo\"}$extra" \
		"\"middleware\": [$mw]"
}

# start_server INDEX: dx-host with CONFIGS[INDEX] on SERVER_CPU; sets PORT.
start_server()
{
	write_manifest "$1"
	start_host "$T/manifest.json" "$T/host.log"
}

# The server's user + system CPU so far: cpu_ticks (lib.sh), CLK_TCK a second.
HZ=$(getconf CLK_TCK)

# target NAME RATIO: "met"/"missed" against issue 13's target for the row
# (RATIO: percent of none), or "" for rows without one.
target()
{
	local max
	case "$1" in
	mw_timing) max=3 ;;
	timing+auth+ratelimit) max=10 ;;
	*) return 0 ;;
	esac
	awk -v r="$2" -v m="$max" 'BEGIN {
		printf "%s (<= %d%%)", (100 - r <= m) ? "met" : "missed", m }'
}

RES=$T/results
: >"$RES"
BENCH_ARGS="--route echo -s 16 $LOAD -d $DURATION --warmup $WARMUP --cpu $CLIENT_CPU --json"
[ "$ROUNDS" -gt 0 ] &&
	say "bench: $ROUNDS rounds x ${#CONFIGS[@]} configurations, ${DURATION}s + ${WARMUP}s warmup each"
for round in $(seq "$ROUNDS"); do
	for i in "${!CONFIGS[@]}"; do
		start_server "$i"
		cpu0=$(cpu_ticks "$SERVER_PID")
		# shellcheck disable=SC2086
		if out=$("$DX" bench $BENCH_ARGS --meta "authorization=Bearer $TOKEN" \
			"127.0.0.1:$PORT" 2>"$T/err"); then
			cpu1=$(cpu_ticks "$SERVER_PID")
			printf '%s %s %s %s %s\n' "$i" "$(field rps <<<"$out")" \
				"$(field p50_us <<<"$out")" \
				"$(field p99_us <<<"$out")" \
				"$(awk -v c="$((cpu1 - cpu0))" -v hz="$HZ" \
					-v r="$(field rps <<<"$out")" \
					-v s="$DURATION" -v w="$WARMUP" 'BEGIN {
					n = r * (s + w)
					printf "%.0f", (n > 0 ? c / hz * 1e9 / n : 0) }')" >>"$RES"
			say "  round $round  $(printf '%-24s' "${CONFIGS[$i]%%|*}") $(tail -1 "$RES" | awk '{printf "%10.0f req/s  p50 %6.1f us  p99 %7.1f us  cpu %5.0f ns/req", $2, $3, $4, $5}')"
		else
			say "bench: round $round ${CONFIGS[$i]%%|*} failed: $(cat "$T/err")"
		fi
		stop_server
	done
done

# ---- instructions per request (CALLGRIND=N) ----

# callgrind_run INDEX: dx-host under callgrind, collecting only inside
# the worker's loop turns (dx_turn: start-up and shutdown left out),
# answering CALLGRIND requests after 2,000 unmeasured ones; prints "INDEX IR REQUESTS" into $CGRES.
# REQUESTS is how many times the echo handler ran (callgrind's own call
# count), so requests in flight when the client stopped count exactly.
callgrind_run()
{
	local out=$CGDIR/callgrind.$1.out log=$T/host.cg.log _
	write_manifest "$1"
	: >"$log"
	# shellcheck disable=SC2086 # CALLGRIND_ARGS: words
	taskset -c "$SERVER_CPU" valgrind --tool=callgrind \
		--callgrind-out-file="$out" --instr-atstart=no --collect-atstart=no \
		--toggle-collect=dx_turn --compress-strings=no \
		${CALLGRIND_ARGS:-} "$DX_HOST" -m "$T/manifest.json" >"$log" 2>&1 </dev/null &
	SERVER_PID=$!
	PORT=
	for _ in $(seq 600); do
		PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log" | head -1)
		[ -z "$PORT" ] || break
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$PORT" ] || { cat "$log" >&2; die "dx-host under callgrind did not start"; }
	# A first round unmeasured: what runs once (the token's one
	# verification, OpenSSL's first use, buffers growing) is not a
	# per-request cost: it runs before callgrind instruments anything,
	# which it starts doing only then (one profile, whole names).
	# shellcheck disable=SC2086
	"$DX" bench --route echo -s 16 $LOAD -n 2000 --warmup 0 \
		--cpu "$CLIENT_CPU" --timeout 30000 --json \
		--meta "authorization=Bearer $TOKEN" "127.0.0.1:$PORT" \
		>/dev/null 2>"$T/err" ||
		say "bench: callgrind ${CONFIGS[$1]%%|*} (warmup): $(cat "$T/err")"
	callgrind_control -i on "$SERVER_PID" >/dev/null ||
		die "callgrind_control -i on $SERVER_PID failed"
	# shellcheck disable=SC2086
	"$DX" bench --route echo -s 16 $LOAD -n "$CALLGRIND" --warmup 0 \
		--cpu "$CLIENT_CPU" --timeout 30000 --json \
		--meta "authorization=Bearer $TOKEN" "127.0.0.1:$PORT" \
		>"$T/cg.json" 2>"$T/err" ||
		say "bench: callgrind ${CONFIGS[$1]%%|*}: $(cat "$T/err")"
	# Callgrind writes its file when the host exits: give it time.
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	for _ in $(seq 300); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	stop_server
	awk -v i="$1" '
		/^(summary|totals):/ { ir = $2 }
		/^cfn=/ {
			# "(id) name" the first time, "(id)" after, should names be compressed.
			f = substr($0, 5)
			if (match(f, /^\([0-9]+\)/)) {
				id = substr(f, 1, RLENGTH)
				if (length(f) > RLENGTH) name[id] = substr(f, RLENGTH + 2)
				f = name[id]
			}
		}
		/^calls=/ { if (f ~ /(^|[ )])echo_call$/) { split($1, c, "="); n += c[2] } }
		END { print i, ir + 0, n + 0 }' "$out" >>"$CGRES"
}

CGRES=$T/callgrind
: >"$CGRES"
if [ "$CALLGRIND" -gt 0 ]; then
	command -v valgrind >/dev/null || die "CALLGRIND needs valgrind"
	CGDIR=${CALLGRIND_OUT:-$T}
	mkdir -p "$CGDIR"
	say "bench: callgrind, $CALLGRIND requests per configuration"
	for i in "${!CONFIGS[@]}"; do
		callgrind_run "$i"
		say "  callgrind $(printf '%-24s' "${CONFIGS[$i]%%|*}") $(tail -1 "$CGRES" | awk '{printf "%d instructions / %d requests", $2, $3}')"
	done
fi

echo
echo "dx bench: echo (16 B) with middleware, one server worker (epoll) on CPU $SERVER_CPU, dx bench on CPU $CLIENT_CPU"
echo "machine: $(nproc) CPUs, $(uname -sr), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "dx: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (+ local changes)')"
if [ "$ROUNDS" -gt 0 ]; then
	base=$(median "$RES" 0 2)
	echo "runs: median of $ROUNDS interleaved rounds, ${DURATION}s each after ${WARMUP}s warmup"
	echo "client: dx bench $BENCH_ARGS --meta 'authorization=Bearer <HS256 token>' ADDR"
	echo
	cpubase=$(median "$RES" 0 5)
	printf '| %-24s | %12s | %8s | %8s | %8s | %14s | %-17s | %11s | %8s | %-17s |\n' middleware "req/s" "vs none" "p50 us" "p99 us" "ns/req extra" "target" "cpu ns/req" "vs none" "target (by cpu)"
	printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..26})" "$(printf -- '-%.0s' {1..13})-" "$(printf -- '-%.0s' {1..10})" "$(printf -- '-%.0s' {1..10})" "$(printf -- '-%.0s' {1..10})" "$(printf -- '-%.0s' {1..16})" "$(printf -- '-%.0s' {1..19})" "$(printf -- '-%.0s' {1..13})" "$(printf -- '-%.0s' {1..10})" "$(printf -- '-%.0s' {1..19})"
	for i in "${!CONFIGS[@]}"; do
		rps=$(median "$RES" "$i" 2)
		[ -n "$rps" ] || continue
		n=${CONFIGS[$i]%%|*}
		cpu=$(median "$RES" "$i" 5)
		awk -v n="$n" -v r="$rps" -v b="$base" -v cpu="$cpu" -v cb="$cpubase" \
			-v p50="$(median "$RES" "$i" 3)" -v p99="$(median "$RES" "$i" 4)" \
			-v t="$(target "$n" "$(awk -v r="$rps" -v b="$base" 'BEGIN { print 100 * r / b }')")" \
			-v tc="$(target "$n" "$(awk -v c="$cpu" -v b="$cpubase" 'BEGIN { print (c > 0 ? 100 * b / c : 0) }')")" 'BEGIN {
			extra = (r > 0 && b > 0) ? 1e9 / r - 1e9 / b : 0
			printf "| %-24s | %12.0f | %7.1f%% | %8.1f | %8.1f | %14.0f | %-17s | %11.0f | %7.1f%% | %-17s |\n",
				n, r, 100 * r / b, p50, p99, extra, t, cpu,
				(cpu > 0 ? 100 * cb / cpu : 0), tc }'
	done
	echo
	echo "(ns/req extra: 1e9/rps - 1e9/rps(none), the server's added time per request on one worker;"
	echo " cpu ns/req: the server's utime + stime over the run (warmup included) / (req/s x"
	echo " (DURATION + WARMUP)); its 'vs none' is cpu(none) / cpu(row), the throughput a worker"
	echo " bound by its own CPU would keep, which other processes on the machine move less than req/s;"
	echo " target: issue 13's bound on the throughput lost to the middleware, on this run's medians)"
fi
if [ "$CALLGRIND" -gt 0 ]; then
	echo
	echo "instructions per request (valgrind --tool=callgrind, one worker, inside dx_turn;"
	echo "client: dx bench --route echo -s 16 $LOAD -n $CALLGRIND --warmup 0):"
	echo
	printf '| %-24s | %10s | %10s | %8s | %-17s |\n' middleware "Ir/req" "extra" "vs none" "target (by Ir)"
	printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..26})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..10})" "$(printf -- '-%.0s' {1..19})"
	cgbase=$(awk '$1 == 0 && $3 > 0 { print $2 / $3 }' "$CGRES")
	for i in "${!CONFIGS[@]}"; do
		per=$(awk -v i="$i" '$1 == i && $3 > 0 { print $2 / $3 }' "$CGRES")
		[ -n "$per" ] && [ -n "$cgbase" ] || continue
		n=${CONFIGS[$i]%%|*}
		# As throughput on a server-bound worker: none's Ir / this Ir.
		awk -v n="$n" -v p="$per" -v b="$cgbase" \
			-v t="$(target "$n" "$(awk -v p="$per" -v b="$cgbase" 'BEGIN { print 100 * b / p }')")" 'BEGIN {
			printf "| %-24s | %10.0f | %10.0f | %7.1f%% | %-17s |\n",
				n, p, p - b, 100 * b / p, t }'
	done
	echo
	echo "(vs none: Ir/req of none / Ir/req of the row, the throughput a worker bound by"
	echo " instructions would keep; callgrind_annotate on ${CALLGRIND_OUT:-the outputs (set CALLGRIND_OUT)} shows where they go)"
fi
if [ "$ROUNDS" -gt 0 ]; then
	echo
	echo "mw_auth before() in process (tests/mw_auth/bench_mw_auth, CPU $SERVER_CPU):"
	DX_PLUGINS=$PLUGINS taskset -c "$SERVER_CPU" "$MICRO" 7
fi
