# shellcheck shell=bash
# bench/lib.sh - what every benchmark script here needs (sourced):
# the build, the CPUs, a temp dir, a server to stop, a free port.
#
#   bench_init NAME   resolve BUILD (default build/, set up and compiled
#                     if needed), set DX, DX_HOST, PLUGINS, check that
#                     SERVER_CPU and CLIENT_CPU exist and taskset is
#                     there, make the temp dir T and arrange for the
#                     server (SERVER_PID) to be stopped and T removed on
#                     exit.
#   stop_server       SIGTERM, then SIGKILL after 5 s.
#   start_host M LOG  dx-host -m M on SERVER_CPU, its output in LOG; waits
#                     for its "listening on" line and sets SERVER_PID and
#                     PORT (dies with the log when it does not start).
#   bench_manifest FILE PLUGINS [MEMBERS]
#                     a manifest of one pinned worker on epoll, listening
#                     on 127.0.0.1:0, with io_epoll and the plugin
#                     entries PLUGINS (JSON objects, comma-separated)
#                     and further top-level MEMBERS ("\"k\": v, ...").
#   field NAME        a number from a line of JSON on stdin ("NAME": N,
#                     with or without a space after the colon).
#   median FILE KEY COLUMN
#                     the median of COLUMN over FILE's lines whose first
#                     column is KEY ("" when there are none).
#   free_port         a TCP port nobody listens on now.
#   bench_rounds "SERVERS" "CONFIGS" FN
#                     ROUNDS interleaved rounds: each starts every server
#                     afresh (the script's start_server NAME PORT, with
#                     PORT free), calls FN NAME CFG C P ROUND for each
#                     configuration CxP, and stops it.
#   wait_ready NAME LOG PATTERN [BACKEND [TRIES]]
#                     wait until LOG matches PATTERN (grep -E), checking
#                     every 0.1 s, TRIES times (100); with BACKEND, a
#                     dx-host's log must also say "backend BACKEND". Dies
#                     with the log when SERVER_PID exits or never gets
#                     there.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-0.5}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: $*"; exit 1; }

stop_server()
{
	[ -n "${SERVER_PID:-}" ] || return 0
	local _
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
}

bench_manifest()
{
	cat >"$1" <<-EOF
		{
		  "dx": 1,
		  "plugin_path": ["$PLUGINS"],
		  "listen": ["127.0.0.1:0"],
		  "workers": 1,
		  "pin_cpus": true,
		  "io": {"backend": "epoll"},
		  "plugins": [{"name": "io_epoll"}, $2]${3:+,
		  $3}
		}
	EOF
}

start_host()
{
	local _
	: >"$2"
	taskset -c "$SERVER_CPU" "$DX_HOST" -m "$1" >"$2" 2>&1 </dev/null &
	SERVER_PID=$!
	PORT=
	for _ in $(seq 100); do
		PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$2" | head -1)
		[ -z "$PORT" ] || return 0
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$2" >&2
	die "dx-host -m $1 did not start (log above)"
}

field() { sed -n "s/.*\"$1\": *\\([0-9.]*\\).*/\\1/p"; }

median()
{
	awk -v i="$2" -v k="$3" '$1 == i { print $k }' "$1" |
		sort -g | awk '{ v[NR] = $1 } END {
			if (!NR) { print ""; exit }
			if (NR % 2) print v[(NR + 1) / 2];
			else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

wait_ready()
{
	local _
	for _ in $(seq "${5:-100}"); do
		if grep -Eq "$3" "$2"; then
			if [ -n "${4:-}" ] && ! grep -q "backend $4" "$2"; then
				cat "$2" >&2
				die "dx-host did not start with backend $4"
			fi
			return 0
		fi
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$2" >&2
	die "$1 did not start (log above)"
}

bench_rounds()
{
	local round name cfg
	for round in $(seq "$ROUNDS"); do
		for name in $1; do
			PORT=$(free_port)
			start_server "$name" "$PORT"
			for cfg in $2; do
				"$3" "$name" "$cfg" "${cfg%x*}" "${cfg#*x}" "$round"
			done
			stop_server
		done
	done
}

bench_cleanup()
{
	stop_server
	rm -rf "$T"
}

free_port()
{
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
		return
	fi
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || {
			echo "$p"
			return
		}
	done
}

bench_init()
{
	command -v taskset >/dev/null 2>&1 || die "taskset (util-linux) is missing"
	if [ ! -f "$BUILD/build.ninja" ]; then
		say "bench: setting up $BUILD"
		meson setup "$BUILD" "$ROOT" --wrap-mode=nofallback >/dev/null ||
			die "meson setup $BUILD failed"
	fi
	meson compile -C "$BUILD" >/dev/null ||
		die "meson compile -C $BUILD failed"
	DX=$BUILD/tools/dx
	DX_HOST=$BUILD/host/dx-host
	# shellcheck disable=SC2034 # used by the scripts that source this
	PLUGINS=$BUILD/plugins
	[ -x "$DX" ] && [ -x "$DX_HOST" ] || die "no dx / dx-host in $BUILD"
	local ncpu
	ncpu=$(nproc)
	if [ "$ncpu" -le "$SERVER_CPU" ] || [ "$ncpu" -le "$CLIENT_CPU" ]; then
		die "needs CPUs $SERVER_CPU and $CLIENT_CPU; this machine has $ncpu"
	fi
	T=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXXXX")
	SERVER_PID=
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

# cpu_ticks PID: utime + stime of PID so far, in clock ticks (CLK_TCK a
# second). The comm field may hold spaces: read after its closing
# parenthesis.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
