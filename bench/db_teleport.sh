#!/usr/bin/env bash
# bench/db_teleport.sh - db_teleport's cache against Postgres itself, in
# one run (issue 4):
#
#   1. get hits in-process: tests/db_teleport/bench_db_teleport runs a host
#      in-process (real loader, registry, one worker) and times the SERVICE
#      facet's get + release of a warm key on that worker (ns per hit, p50
#      over 3000 batches of 1000);
#   2. db.get over HBTP: dx-host (one worker, CPU SERVER_CPU) answering
#      cache hits, loaded by dx bench (CPU CLIENT_CPU) with --body-hex;
#   3. the same query straight to Postgres over libpq with the same
#      connections (bench_db_teleport pg), Postgres on CPU SERVER_CPU.
#
# usage: bench/db_teleport.sh        (from anywhere, as root or a user who
#                                     can run initdb; about 40 s)
#   BUILD=dir       build directory (default build/, set up if missing)
#   DURATION=S      measured seconds per run (default 3)
#   CONNS=N         connections for both HBTP and libpq (default 50)
#   PIPELINE=N      the pipelined rows' depth (default 16)
#   SERVER_CPU=N    dx-host and Postgres (default 0)
#   CLIENT_CPU=N    dx bench and the libpq load (default 1)
#   PG_BIN=dir      PostgreSQL server binaries (/usr/lib/postgresql/15/bin)
#
# It makes a throwaway cluster in a temporary directory (Unix socket only),
# and stops and removes it, and the dx-host, on exit (also on Ctrl-C).
set -euo pipefail

CONNS=${CONNS:-50}
PIPELINE=${PIPELINE:-16}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

command -v psql >/dev/null 2>&1 || die "psql is missing (apt-get install postgresql)"
[ -x "$PG_BIN/initdb" ] || die "no PostgreSQL in $PG_BIN (apt-get install postgresql)"
bench_init dx-bench-db
HELPER=$BUILD/tests/db_teleport/bench_db_teleport
[ -f "$PLUGINS/db_teleport/db_teleport.so" ] && [ -x "$HELPER" ] ||
	die "db_teleport is not built in $BUILD (libpq-dev missing?)"
"$DX" bench --help | grep -q -- --body-hex ||
	die "$DX bench has no --body-hex option (rebuild?)"

chmod 755 "$T"
AS=()
if [ "$(id -u)" -eq 0 ]; then
	chown postgres "$T"
	AS=(runuser -u postgres --)
fi
PORT=5432
CONNINFO="host=$T port=$PORT user=dx dbname=postgres"
PG_UP=0
# bench_init's clean-up, and the cluster's stop before its dir goes.
cleanup()
{
	stop_server
	if [ "$PG_UP" -eq 1 ]; then
		"${AS[@]}" "$PG_BIN/pg_ctl" -D "$T/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	bench_cleanup
}
trap cleanup EXIT

say "bench: a throwaway PostgreSQL in $T"
"${AS[@]}" "$PG_BIN/initdb" -D "$T/data" -A trust -U dx --no-sync >"$T/initdb.log" 2>&1 ||
	{ cat "$T/initdb.log" >&2; die "initdb failed"; }
# Postgres on the server CPU, like dx-host: the backends inherit it.
taskset -c "$SERVER_CPU" "${AS[@]}" "$PG_BIN/pg_ctl" -D "$T/data" \
	-o "-k $T -p $PORT -c listen_addresses='' -c max_connections=200" \
	-l "$T/pg.log" -w start >/dev/null || { cat "$T/pg.log" >&2; die "pg_ctl start failed"; }
PG_UP=1
psql "$CONNINFO" -qc "CREATE TABLE items (id int PRIMARY KEY, name text,
	price numeric); INSERT INTO items SELECT i, 'item ' || i, i * 1.5 FROM
	generate_series(1, 1000) i" || die "psql: cannot create the table"
SQL='SELECT id, name, price FROM items WHERE id = $1'
PG_SQL='SELECT id, name, price FROM items WHERE id = 42'

manifest()
{
	bench_manifest "$1" "{\"name\": \"db_teleport\", \"config\": {
	  \"conninfo\": \"$CONNINFO\", \"install_triggers\": true,
	  \"queries\": [{\"name\": \"item\", \"sql\": \"$SQL\",
	                 \"tables\": [\"items\"]}]}}"
}
manifest "$T/manifest.json"

# 1. In-process hits.
say "bench: get + release in-process"
HIT=$(taskset -c "$SERVER_CPU" "$HELPER" hit "$T/manifest.json" item 42) ||
	die "the in-process bench failed"
HIT_P50=$(awk '{print $2}' <<<"$HIT")
HIT_P99=$(awk '{print $4}' <<<"$HIT")

# 2. db.get over HBTP.
start_host "$T/manifest.json" "$T/host.log"
HPORT=$PORT
ADDR=127.0.0.1:$HPORT
"$DX" call "$ADDR" db.get item 42 >&2
# name "item", one parameter "42" (dx/db_teleport.h)
BODY=$(printf '04%s01%s%s' "$(printf item | od -An -tx1 | tr -d ' \n')" 0200 \
	"$(printf 42 | od -An -tx1 | tr -d ' \n')")

hbtp()
{
	local out
	out=$("$DX" bench -c "$CONNS" -P "$1" -d "$DURATION" --warmup 1 \
		--cpu "$CLIENT_CPU" --route db.get --body-hex "$BODY" --json "$ADDR") ||
		die "dx bench failed"
	[ "$(field errors <<<"$out")" = 0 ] || die "dx bench saw errors: $out"
	printf '%s %s\n' "$(field rps <<<"$out")" "$(field p50_us <<<"$out")"
}
say "bench: db.get over HBTP, ${CONNS}x1 and ${CONNS}x$PIPELINE"
read -r H1 H1P50 <<<"$(hbtp 1)"
read -r HP HPP50 <<<"$(hbtp "$PIPELINE")"
STATS=$("$DX" call "$ADDR" db.stats)
stop_server

# 3. Straight to Postgres.
say "bench: the same query over libpq, ${CONNS}x1 and ${CONNS}x$PIPELINE"
P1=$(taskset -c "$CLIENT_CPU" "$HELPER" pg "$CONNINFO" "$PG_SQL" "$CONNS" "$DURATION" 1 | awk '{print $2}')
PP=$(taskset -c "$CLIENT_CPU" "$HELPER" pg "$CONNINFO" "$PG_SQL" "$CONNS" "$DURATION" "$PIPELINE" | awk '{print $2}')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", (b > 0 ? a / b : 0) }'; }
printf '\ndb_teleport, %s, %s s per run (dx-host/Postgres on CPU %s, load on CPU %s)\n\n' \
	"$(uname -m)" "$DURATION" "$SERVER_CPU" "$CLIENT_CPU"
printf '%-44s %8s %14s %10s\n' "what" "c x P" "per second" "p50"
printf '%-44s %8s %14s %10s\n' "get + release in-process (SERVICE, hit)" "-" \
	"$(awk -v n="$HIT_P50" 'BEGIN { printf "%.0f", 1e9 / n }')" "$HIT_P50 ns"
printf '%-44s %8s %14.0f %10s\n' "db.get over HBTP (cache hit)" "${CONNS}x1" "$H1" "$H1P50 us"
printf '%-44s %8s %14.0f %10s\n' "db.get over HBTP (cache hit)" "${CONNS}x$PIPELINE" "$HP" "$HPP50 us"
printf '%-44s %8s %14.0f %10s\n' "same query, libpq straight to Postgres" "${CONNS}x1" "$P1" "-"
printf '%-44s %8s %14.0f %10s\n' "same query, libpq pipeline mode" "${CONNS}x$PIPELINE" "$PP" "-"
printf '\nin-process hit p99: %s ns; host stats after the HBTP runs: %s\n' "$HIT_P99" "$STATS"
printf 'HBTP / Postgres: %s at %sx1, %s at %sx%s\n' "$(ratio "$H1" "$P1")" "$CONNS" \
	"$(ratio "$HP" "$PP")" "$CONNS" "$PIPELINE"
awk -v h="$HIT_P50" 'BEGIN { printf "target: hit <= 200 ns p50: %s\n", (h <= 200 ? "met" : "MISSED") }'
awk -v a="$H1" -v b="$P1" -v c="$HP" -v d="$PP" 'BEGIN {
	printf "target: HBTP >= 20x Postgres: %s at c x 1, %s at c x P\n",
		(a >= 20 * b ? "met" : "MISSED"), (c >= 20 * d ? "met" : "MISSED") }'
