#!/usr/bin/env bash
# metrics.sh - the metrics as an operator meets them (usage: metrics.sh
# DX_HOST DX): a real dx-host with metrics.listen serves traffic; `dx ctl
# metrics` and GET /metrics both pass `promtool check metrics` and count
# what was sent; a real Prometheus server scrapes the endpoint and its HTTP
# API returns the dx series with those counts. Also: the manifest key's
# validation, and apply refusing to change it live. Skips (77) when
# Debian's prometheus package (promtool, prometheus) is not installed.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

DX_HOST=$(abs_exe "${1:?usage: metrics.sh DX_HOST DX}")
DX=$(abs_exe "${2:?usage: metrics.sh DX_HOST DX}")
: "${DX_TEST_PLUGINS:?run this through meson test}"
for tool in promtool prometheus python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool is not installed (scripts/deps.sh installs it)"
		exit 77
	fi
done

# GET http://ADDR/PATH: prints the body; exit 1 on any failure, with the
# HTTP status on stderr.
http_get()
{
	python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
        sys.stdout.write(r.headers.get("Content-Type", "") + "\n")
        sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    sys.stderr.write("HTTP %d\n" % e.code)
    sys.exit(1)
PY
}

# A port nobody listens on now (for Prometheus's own web address).
free_port()
{
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The value of the first sample of METRIC{LABELS} in the text on stdin, or
# nothing.
sample()
{
	grep -F "$1 " | head -1 | awk '{print $NF}'
}

# --- the manifest key --------------------------------------------------------

cat >"$T/bad.json" <<JSON
{"dx": 1, "plugin_path": ["$DX_PLUGINS"], "listen": ["127.0.0.1:0"],
 "metrics": {"listen": "unix:m.sock", "port": 9}, "plugins": []}
JSON
run "$DX_HOST" --check -m "$T/bad.json"
expect_rc 1 "a bad metrics section fails --check"
expect_err 'metrics\.listen: expected HOST:PORT or \[IPV6\]:PORT' \
	"metrics.listen refuses a Unix socket, saying what it takes"
expect_err 'metrics\.port: unknown key' "an unknown key under metrics is an error"

# A port another process holds is refused at start, by name.
python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(60)' >"$T/held" &
HELD=$!
BG_PIDS+=("$HELD")
for _ in $(seq 200); do
	[ -s "$T/held" ] && break
	sleep 0.05
done
HPORT=$(cat "$T/held")
cat >"$T/held.json" <<JSON
{"dx": 1, "plugin_path": ["$DX_PLUGINS"], "listen": ["127.0.0.1:0"],
 "metrics": {"listen": "127.0.0.1:$HPORT"}, "plugins": [{"name": "io_epoll"}]}
JSON
run "$DX_HOST" -m "$T/held.json"
expect_rc 1 "a metrics port another process holds stops the start"
expect_err "metrics: listen 127\.0\.0\.1:$HPORT: address already in use by another process" \
	"and the refusal names metrics and the address"
kill "$HELD" 2>/dev/null || true

# --- a host with traffic --------------------------------------------------------

cat >"$T/m.json" <<JSON
{"dx": 1, "plugin_path": ["$DX_PLUGINS"], "listen": ["127.0.0.1:0"],
 "workers": 2, "control": {"socket": "ctl.sock"},
 "metrics": {"listen": "127.0.0.1:0"},
 "plugins": [{"name": "io_epoll"},
             {"name": "mw_ratelimit", "config": {"rate": 100000, "burst": 100000}},
             {"name": "routes_echo", "routes": {"echo": 20}},
             {"path": "$DX_TEST_PLUGINS/metricsplug.so"}],
 "middleware": ["mw_ratelimit"]}
JSON
"$DX_HOST" -m "$T/m.json" 2>"$T/log" &
HOST=$!
BG_PIDS+=("$HOST")
for _ in $(seq 200); do
	grep -q 'ready' "$T/log" && break
	sleep 0.05
done
check "dx-host logs ready" grep -q ready "$T/log"
V4=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\) .*/\1/p' "$T/log")
MADDR=$(sed -n 's|.*metrics on http://\(127\.0\.0\.1:[0-9]*\)/metrics.*|\1|p' "$T/log")
check "dx-host logs the metrics address it bound" test -n "$MADDR"

N=12
for i in $(seq $N); do
	run "$DX" call "$V4" echo "hello $i"
	[ "$RC" -eq 0 ] || fail "echo call $i" "exit 0" "exit $RC"
done
for body in a bb "twenty bytes of body"; do
	run "$DX" call "$V4" metrics.observe "$body"
done
expect_out '^ok$' "metricsplug's route answers"
run "$DX" call "$V4" delay abc
expect_rc 1 "a route's own 400"
run "$DX" call "$V4" delay 30 later
expect_out '^later$' "a deferred answer (delay answers after 30 ms)"

# --- dx ctl metrics ------------------------------------------------------------

run "$DX" ctl --socket "$T/ctl.sock" metrics
expect_rc 0 "dx ctl metrics"
printf '%s\n' "$OUT" >"$T/ctl.txt"
run promtool check metrics <"$T/ctl.txt"
expect_rc 0 "promtool check metrics accepts dx ctl metrics' output"
OUT=$(cat "$T/ctl.txt")
expect_out "^dx_route_requests_total\{route=\"echo\",plugin=\"routes_echo\"\} $N\$" \
	"dx ctl metrics counts the $N echo requests"
expect_out "^dx_route_answers_total\{route=\"echo\",plugin=\"routes_echo\",status=\"200\"\} $N\$" \
	"and their $N answers as status 200"
expect_out "^dx_route_latency_seconds_count\{route=\"echo\",plugin=\"routes_echo\"\} $N\$" \
	"and $N latencies"
expect_out '^dx_route_answers_total\{route="delay",plugin="routes_echo",status="400"\} 1$' \
	"a 400 answer is counted under its status"
expect_out '^dx_route_answers_total\{route="delay",plugin="routes_echo",status="200"\} 1$' \
	"a deferred answer is counted when it completes"
# The deferred one took at least 30 ms (its timer's), so at most the 400
# is at or under 25 ms: latency runs until the deferred answer completes.
expect_out '^dx_route_latency_seconds_bucket\{route="delay",plugin="routes_echo",le="0\.025"\} [01]$' \
	"a deferred answer's latency runs until it completes"
expect_out '^dx_route_latency_seconds_count\{route="delay",plugin="routes_echo"\} 2$' \
	"both delay answers have a latency"
expect_out '^# HELP dx_plugin_mw_ratelimit_allowed_total requests let through$' \
	"mw_ratelimit's counter shows with its help text"
expect_out "^dx_plugin_mw_ratelimit_allowed_total\{plugin=\"mw_ratelimit\"\} $((N + 5))\$" \
	"and counts every request through the chain"
expect_out '^# TYPE dx_plugin_metricsplug_body_size histogram$' \
	"a plugin's own histogram is there"
expect_out '^dx_plugin_metricsplug_body_size_count\{plugin="metricsplug"\} 3$' \
	"with its three observations"
expect_out '^dx_plugin_metricsplug_last_size\{plugin="metricsplug"\} 20$' \
	"a plugin's gauge holds the last value it set"
expect_out '^dx_worker_loop_turns_total\{worker="1"\} [1-9]' \
	"worker 1 counts its loop turns"
expect_out '^dx_generation 1$' "the generation is 1 before any change"

# --- GET /metrics ----------------------------------------------------------------

run http_get "http://$MADDR/metrics"
expect_rc 0 "GET /metrics answers 200"
expect_out '^text/plain; version=0\.0\.4' "as the exposition format's content type"
tail -n +2 "$T/.out" >"$T/http.txt"
run promtool check metrics <"$T/http.txt"
expect_rc 0 "promtool check metrics accepts GET /metrics"
got=$(sample 'dx_route_requests_total{route="echo",plugin="routes_echo"}' <"$T/http.txt")
check "GET /metrics counts the $N echo requests (got '$got')" test "$got" = "$N"
run http_get "http://$MADDR/nope"
expect_rc 1 "another path is refused"
expect_err 'HTTP 404' "with 404"

# A change is counted, and a live change of metrics is refused.
run "$DX" ctl --socket "$T/ctl.sock" reload routes_echo
expect_rc 0 "dx ctl reload routes_echo"
sed 's/"listen": "127.0.0.1:0"/"listen": "127.0.0.1:1"/' "$T/m.json" >"$T/m2.json"
run "$DX" ctl --socket "$T/ctl.sock" apply "$T/m2.json"
expect_rc 1 "apply refuses a changed metrics section"
expect_err 'metrics: changed from .* restart the host to change it' \
	"and says a restart changes it"
run "$DX" ctl --socket "$T/ctl.sock" metrics
expect_out '^dx_reloads_total\{command="reload",result="ok"\} 1$' "the reload is counted"
expect_out '^dx_reloads_total\{command="apply",result="failed"\} 1$' \
	"the refused apply is counted as failed"
expect_out '^dx_generation 2$' "the generation moved to 2"

# --- a real Prometheus scrapes it ---------------------------------------------------

PPORT=$(free_port)
cat >"$T/prom.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: dx
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ['$MADDR']
YAML
mkdir "$T/tsdb"
prometheus --config.file="$T/prom.yml" --storage.tsdb.path="$T/tsdb" \
	--web.listen-address="127.0.0.1:$PPORT" >"$T/prom.log" 2>&1 &
PROM=$!
BG_PIDS+=("$PROM")

# Ask Prometheus until it has a sample of QUERY >= MIN (bounded: only a
# hang fails this; a scrape every second takes a few).
prom_value()
{
	python3 - "127.0.0.1:$PPORT" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
url = "http://%s/api/v1/query?query=%s" % (sys.argv[1], urllib.parse.quote(sys.argv[2]))
try:
    with urllib.request.urlopen(url, timeout=5) as r:
        res = json.load(r)["data"]["result"]
    print(res[0]["value"][1] if res else "")
except Exception:
    print("")
PY
}
wait_prom()
{
	local v=""
	for _ in $(seq 120); do
		v=$(prom_value "$1")
		if [ -n "$v" ] && python3 -c "import sys; sys.exit(0 if float('$v') >= $2 else 1)"; then
			echo "$v"
			return 0
		fi
		sleep 0.5
	done
	echo "${v:-none}"
	return 1
}
run wait_prom 'dx_route_requests_total{route="echo",job="dx"}' "$N"
expect_rc 0 "Prometheus scraped dx: its API returns the echo request count"
expect_out "^$N\$" "and the count is the $N requests sent"
run wait_prom 'dx_plugin_metricsplug_body_size_count' 3
expect_rc 0 "Prometheus has the plugin's histogram"
run wait_prom 'up{job="dx"}' 1
expect_rc 0 "Prometheus sees the target up"
kill -TERM "$PROM" 2>/dev/null || true
wait "$PROM" 2>/dev/null || true

kill -TERM "$HOST"
wait "$HOST" || true
check "dx-host stopped cleanly" grep -q 'bye' "$T/log"
if [ "$FAILED" -ne 0 ]; then
	echo "--- dx-host log"; cat "$T/log"
	echo "--- prometheus log (tail)"; tail -20 "$T/prom.log" 2>/dev/null || true
fi
finish
