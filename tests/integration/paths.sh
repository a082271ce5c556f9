#!/usr/bin/env bash
# paths.sh - relative paths in plugin configs mean the manifest's directory,
# from whatever directory dx-host starts in (host->config_file), and
# dx-host --check changes nothing outside the process (host->dry_run):
# issue 11, items 7 and 8 (usage: paths.sh DX_HOST).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

DX_HOST=$(abs_exe "${1:?usage: paths.sh DX_HOST}")

mkdir -p "$T/site/keys" "$T/elsewhere"
head -c 48 /dev/urandom | base64 -w0 >"$T/site/keys/secret"
chmod 600 "$T/site/keys/secret"
cat >"$T/site/m.json" <<JSON
{"dx": 1, "plugin_path": ["$DX_PLUGINS"], "listen": ["127.0.0.1:0"],
 "workers": 1,
 "plugins": [{"name": "io_epoll"}, {"name": "routes_echo"},
             {"name": "mw_auth", "config": {"alg": "HS256",
                                            "secret_file": "keys/secret"}},
             {"name": "forge_process"},
             {"name": "forge", "config": {"log_dir": "logs/forge"}}],
 "middleware": ["mw_auth"],
 "forge": {"tools": []}}
JSON

# --check from another directory: the secret is found beside the manifest,
# and forge's log_dir is not created (nothing outside the process).
cd "$T/elsewhere"
run "$DX_HOST" -m ../site/m.json --check
expect_rc 0 "--check from another directory finds keys/secret beside the manifest"
check "--check created no log_dir beside the manifest" test ! -e "$T/site/logs"
check "--check created no log_dir in the working directory" test ! -e "$T/elsewhere/logs"
expect_err 'would create .*/site/logs/forge' "--check says what it would create"

# Serving from there: the log_dir is the manifest's, not the cwd's.
"$DX_HOST" -m ../site/m.json 2>"$T/log" &
HOST=$!
BG_PIDS+=("$HOST")
for _ in $(seq 100); do
	grep -q 'ready\|error' "$T/log" && break
	sleep 0.05
done
check "dx-host came up from another directory ($(tail -1 "$T/log"))" grep -q ready "$T/log"
check "forge's log_dir is under the manifest's directory" test -d "$T/site/logs/forge"
check "and not under the working directory" test ! -e "$T/elsewhere/logs"
kill "$HOST"
wait "$HOST" || true
finish
