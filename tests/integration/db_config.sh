#!/usr/bin/env bash
# db_config.sh - db_teleport's config errors stop dx-host --check with the
# JSON path and the reason, before any database is contacted
# (usage: db_config.sh DX_HOST).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

DX_HOST=$(abs_exe "${1:?usage: db_config.sh DX_HOST}")
Q='{"name": "q", "sql": "SELECT 1", "tables": ["t"]}'

# bad CONFIG REGEX DESC: --check with db_teleport's config CONFIG fails
# with REGEX on stderr.
bad()
{
	printf '{"dx": 1, "listen": [], "plugin_path": ["%s"], "plugins": [{"name": "db_teleport", "config": %s}]}\n' \
		"$DX_PLUGINS" "$1" >"$T/m.json"
	run "$DX_HOST" -m "$T/m.json" --check
	expect_rc 1 "$3: --check fails"
	expect_err "$2" "$3: the error says where and why"
}

bad '{"queries": []}' \
	'plugins\[0\]\.config\.conninfo: missing' "no conninfo"
bad '{"conninfo": "host=/x", "channel": "no spaces"}' \
	'plugins\[0\]\.config\.channel: expected a channel name' "a bad channel"
bad '{"conninfo": "host=/x", "pool": 0}' \
	'plugins\[0\]\.config\.pool: expected an integer' "pool out of range"
bad '{"conninfo": "host=/x", "cache": 1}' \
	'plugins\[0\]\.config\.cache: unknown key' "an unknown key"
bad '{"conninfo": "host=/x", "queries": [{"name": "q"}]}' \
	'plugins\[0\]\.config\.queries\[0\]\.sql: missing' "a query without sql"
bad '{"conninfo": "host=/x", "queries": [{"name": "Bad", "sql": "SELECT 1"}]}' \
	'queries\[0\]: query name "Bad"' "a bad query name"
bad "{\"conninfo\": \"host=/x\", \"queries\": [$Q, $Q]}" \
	'queries\[1\]: query "q" is registered twice' "a query registered twice"
bad '{"conninfo": "host=/x", "queries": [{"name": "q", "sql": "SELECT 1", "tables": ["x;y"]}]}' \
	'table "x;y"' "a table name that is not an identifier"
finish
