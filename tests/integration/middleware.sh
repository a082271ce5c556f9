#!/usr/bin/env bash
# middleware.sh - the chain in the real dx-host: mw_timing on every answer
# (errors and deferred answers included), a route's own chain, and the
# manifest errors for bad chains (usage: middleware.sh DX_HOST DX).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

DX_HOST=$(abs_exe "${1:?usage: middleware.sh DX_HOST DX}")
DX=$(abs_exe "${2:?usage: middleware.sh DX_HOST DX}")

cat >"$T/m.json" <<JSON
{"dx": 1, "plugin_path": ["$DX_PLUGINS"], "listen": ["127.0.0.1:0"],
 "workers": 1,
 "plugins": [{"name": "io_epoll"}, {"name": "routes_hello"},
             {"name": "routes_echo"}, {"name": "mw_timing"}],
 "middleware": ["mw_timing"], "route_middleware": {"hello": []}}
JSON
"$DX_HOST" -m "$T/m.json" 2>"$T/log" &
BG_PIDS+=("$!")
for _ in $(seq 100); do
	grep -q 'ready\|error' "$T/log" && break
	sleep 0.05
done
ADDR=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\) .*/\1/p' "$T/log")
check "dx-host with mw_timing came up" test -n "$ADDR"

run "$DX" call "$ADDR" echo timed
expect_out '^timed$' "echo answers through the chain"
expect_err '^< x-response-time: [0-9]+$' "an answer carries x-response-time"
run "$DX" call "$ADDR" 999
expect_err 'error 404' "an unknown route id is 404"
expect_err '^< x-response-time: [0-9]+$' "and the 404 carries x-response-time too"
run "$DX" call "$ADDR" delay 120 later
expect_out '^later$' "a deferred answer arrives"
check "its x-response-time covers the 120 ms wait ($ERR)" \
	bash -c '[[ "$1" =~ x-response-time:\ ([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge 120000 ]' _ "$ERR"
run "$DX" call "$ADDR" hello
expect_out '^hello, world!$' "hello answers"
expect_no_err 'x-response-time' "route_middleware gives hello an empty chain"

# Bad chains stop startup with the JSON path.
printf '{"dx": 1, "plugin_path": ["%s"], "listen": [], "plugins": [{"name": "routes_echo"}], "middleware": ["routes_echo"]}\n' \
	"$DX_PLUGINS" >"$T/bad1.json"
run "$DX_HOST" -m "$T/bad1.json" --check
expect_rc 1 "middleware naming a plugin without a MIDDLEWARE facet"
expect_err 'middleware\[0\]: plugin "routes_echo" provides no MIDDLEWARE facet' \
	"the error names middleware[0] and the plugin"
printf '{"dx": 1, "plugin_path": ["%s"], "listen": ["127.0.0.1:0"], "plugins": [{"name": "io_epoll"}, {"name": "mw_timing"}], "route_middleware": {"nope": ["mw_timing"]}}\n' \
	"$DX_PLUGINS" >"$T/bad2.json"
run "$DX_HOST" -m "$T/bad2.json"
expect_rc 1 "route_middleware naming a route that is not loaded"
expect_err 'route_middleware.nope: no route named "nope"' "the error names the route"
printf '{"dx": 1, "listen": [], "plugins": [], "route_middleware": {"echo": ["mw_x"]}}\n' >"$T/bad3.json"
run "$DX_HOST" -m "$T/bad3.json" --check
expect_rc 1 "route_middleware naming a plugin not in the manifest"
expect_err 'route_middleware.echo\[0\]: "mw_x" is not a plugin' "the error names the path"
finish
