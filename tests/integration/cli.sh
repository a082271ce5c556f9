#!/usr/bin/env bash
# cli.sh - dx-host and dx as a user runs them.
#
# usage (from meson test): cli.sh DX_HOST DX
#
# Covers: --help/--version/usage errors, --check on the default manifest,
# manifest errors (JSON path, line:col), plugin config errors, serving until
# SIGTERM/SIGINT, dx plugin inspect, and the group/other-writable refusal
# with its allow_writable override.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

DX_HOST=$(abs_exe "${1:?usage: cli.sh DX_HOST DX}")
DX=$(abs_exe "${2:?usage: cli.sh DX_HOST DX}")
ABI=$(abi_version)
HELLO_SO=$DX_PLUGINS/routes_hello/routes_hello.so

# The default manifest, pointed at this build's plugins and at a Unix socket
# in the temp dir, so the test neither depends on build/ nor takes a port.
M=$T/hello.json
sed -e "s|\"\\.\\./build/plugins\"|\"$DX_PLUGINS\"|" \
	-e "s|\"127\\.0\\.0\\.1:7070\"|\"unix:dx-test.sock\"|" \
	"$DX_SOURCE_ROOT/examples/hello.json" >"$M"
check "the test manifest points at this build's plugins" \
	grep -q "\"$DX_PLUGINS\"" "$M"

# --- dx-host: help, version, usage errors ------------------------------
run "$DX_HOST" --help
expect_rc 0 "dx-host --help"
expect_out '-m' "dx-host --help mentions -m"
expect_out '--check' "dx-host --help mentions --check"

run "$DX_HOST" --version
expect_rc 0 "dx-host --version"
expect_out "^dx-host [0-9]+\.[0-9]+\.[0-9]+ \(plugin ABI $(re_escape "$ABI")\)\$" \
	"dx-host --version says the version and plugin ABI $ABI"

run "$DX_HOST" --no-such-option
expect_rc 2 "dx-host with an unknown option"
expect_err 'no-such-option' "the usage error names the option"

run "$DX_HOST"
expect_rc 2 "dx-host without -m"

run "$DX_HOST" -m "$M" --check --log-level loud
expect_rc 2 "dx-host --log-level with a bad level"

# --- dx-host --check on the default manifest ----------------------------
run "$DX_HOST" -m "$M" --check
expect_rc 0 "dx-host --check on examples/hello.json"
expect_out "^routes_hello 1\.0\.0 +ABI $(re_escape "$ABI") +/.*/routes_hello\.so +facets: ROUTES hello" \
	"--check lists routes_hello, its version, ABI, path and facets"
expect_out "^$(re_escape "$M"): ok \([0-9]+ plugins, 1 listener\)\$" \
	"--check ends with FILE: ok (N plugins, 1 listener)"
expect_out '^io backend: (io_uring|epoll)$' "--check names the IO backend it would use"

run "$DX_HOST" -m "$M" --check --log-level debug
expect_rc 0 "dx-host --check --log-level debug"
expect_err 'greeting is "hello"' "the plugin's debug log line shows its config"

run "$DX_HOST" -m "$M" --check -q
expect_rc 0 "dx-host --check -q"

# examples/hello.json itself resolves ../build/plugins: the plain build in
# build/. Check it as is when that is the build under test.
if [ "$(realpath "$DX_BUILD_ROOT")" = "$(realpath -m "$DX_SOURCE_ROOT/build")" ]; then
	run "$DX_HOST" -m "$DX_SOURCE_ROOT/examples/hello.json" --check
	expect_rc 0 "dx-host --check on examples/hello.json as shipped"
	expect_out '^routes_hello 1\.0\.0' "examples/hello.json lists routes_hello"
else
	echo "skip: examples/hello.json as shipped (this build is not build/)"
fi

# --- manifest errors ------------------------------------------------------
bad()
{
	# bad NAME JSON: write a manifest into the temp dir
	printf '%s\n' "$2" >"$T/$1"
}

bad unknown-key.json "{\"dx\": 1, \"plugin_path\": [\"$DX_PLUGINS\"],
  \"plugins\": [{\"name\": \"routes_hello\", \"colour\": \"red\"}]}"
run "$DX_HOST" -m "$T/unknown-key.json" --check
expect_rc 1 "--check on a manifest with an unknown key"
expect_err "^dx-host: .*unknown-key\.json.*plugins\[0\]\.colour" \
	"the error names the file and the JSON path plugins[0].colour"
check "nothing was printed to stdout" test -z "$OUT"

bad unknown-top.json "{\"dx\": 1, \"lisen\": [\"127.0.0.1:7070\"],
  \"plugin_path\": [\"$DX_PLUGINS\"], \"plugins\": [{\"name\": \"routes_hello\"}]}"
run "$DX_HOST" -m "$T/unknown-top.json" --check
expect_rc 1 "--check on a manifest with an unknown top-level key"
expect_err 'lisen' "the error names the unknown key lisen"

# A syntax error on line 3.
bad syntax.json "{
  \"dx\": 1,
  \"plugins\": [{\"name\": \"routes_hello\"},, ]
}"
run "$DX_HOST" -m "$T/syntax.json" --check
expect_rc 1 "--check on a manifest with a JSON syntax error"
expect_err 'syntax\.json:? ?3:[0-9]+:' "the error gives the file, line 3 and a column"

bad wrong-type.json "{\"dx\": 1, \"workers\": \"many\",
  \"plugin_path\": [\"$DX_PLUGINS\"], \"plugins\": [{\"name\": \"routes_hello\"}]}"
run "$DX_HOST" -m "$T/wrong-type.json" --check
expect_rc 1 "--check on a manifest with workers: \"many\""
expect_err 'workers' "the error names the JSON path workers"

bad no-plugin.json "{\"dx\": 1, \"plugin_path\": [\"$DX_PLUGINS\"],
  \"plugins\": [{\"name\": \"routes_nowhere\"}]}"
run "$DX_HOST" -m "$T/no-plugin.json" --check
expect_rc 1 "--check with a plugin that is on no plugin_path"
expect_err 'plugins\[0\].*routes_nowhere' "the error names plugins[0] and routes_nowhere"

bad bad-config.json "{\"dx\": 1, \"plugin_path\": [\"$DX_PLUGINS\"],
  \"plugins\": [{\"name\": \"routes_hello\", \"config\": {\"greting\": \"hi\"}}]}"
run "$DX_HOST" -m "$T/bad-config.json" --check
expect_rc 1 "--check when the plugin's init refuses its config"
expect_err 'plugins\[0\]\.config\.greting' "the plugin's error names plugins[0].config.greting"

run "$DX_HOST" -m "$T/does-not-exist.json" --check
expect_rc 1 "--check on a manifest that does not exist"
expect_err 'does-not-exist\.json' "the error names the missing file"

# --- serving until a signal ----------------------------------------------
# serve SIG: start dx-host, wait for "ready", send SIG, expect exit 0 and a
# log line saying the plugins were finalised.
serve()
{
	local sig=$1 log=$T/serve-$1.log pid i
	LAST_CMD="$DX_HOST -m $M (then SIG$sig)"
	"$DX_HOST" -m "$M" >"$log" 2>&1 </dev/null &
	pid=$!
	BG_PIDS+=("$pid")
	for i in $(seq 100); do
		grep -q 'ready' "$log" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	OUT=""
	ERR=$(cat "$log")
	RC=0
	if ! grep -q 'ready' "$log"; then
		fail "dx-host logs ready before SIG$sig" "a line with 'ready' within 10 s" "none"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		return
	fi
	kill "-$sig" "$pid"
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		ERR=$(cat "$log")
		fail "dx-host exits after SIG$sig" "exit within 10 s" "still running"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		return
	fi
	set +e
	wait "$pid"
	RC=$?
	set -e
	ERR=$(cat "$log")
	expect_rc 0 "dx-host after SIG$sig"
	expect_err 'fini|finali[sz]' "dx-host logs that it finalised the plugins after SIG$sig"
}
serve TERM
serve INT

# --- dx: help, version, subcommands --------------------------------------
run "$DX" --help
expect_rc 0 "dx --help"
expect_out 'plugin' "dx --help lists the plugin subcommand"

run "$DX" --version
expect_rc 0 "dx --version"
expect_out '^dx [0-9]+\.[0-9]+\.[0-9]+' "dx --version says its version"

run "$DX" help plugin
expect_rc 0 "dx help plugin"
expect_out 'inspect' "dx help plugin describes inspect"

run "$DX" no-such-command
expect_rc 2 "dx with an unknown subcommand"

run "$DX" plugin inspect
expect_rc 2 "dx plugin inspect without a file"

# --- dx plugin inspect -----------------------------------------------------
run "$DX" plugin inspect "$HELLO_SO"
expect_rc 0 "dx plugin inspect routes_hello.so"
expect_out '^name: +routes_hello$' "inspect prints the name"
expect_out '^version: +1\.0\.0$' "inspect prints the version"
expect_out "^abi: +$(re_escape "$ABI") \(host $(re_escape "$ABI")\)\$" \
	"inspect prints the plugin's and the host's ABI"
expect_out 'ROUTES hello' "inspect lists the ROUTES facet hello"
expect_out 'route 1 hello' "inspect lists route 1 hello"

printf 'this is not a plugin\n' >"$T/notes.txt"
run "$DX" plugin inspect "$T/notes.txt"
expect_rc 1 "dx plugin inspect on a text file"
expect_err "^dx: $(re_escape "$T/notes.txt"): " "the refusal starts with dx: FILE:"

run "$DX" plugin inspect "$T/missing.so"
expect_rc 1 "dx plugin inspect on a file that does not exist"
expect_err 'missing\.so' "the refusal names the missing file"

# --- group/other-writable plugins -------------------------------------------
W=$T/wplug
mkdir -m 0755 "$W"
cp "$HELLO_SO" "$W/routes_hello.so"
chmod 0664 "$W/routes_hello.so"

run "$DX" plugin inspect "$W/routes_hello.so"
expect_rc 1 "dx plugin inspect on a group-writable plugin"
expect_err "$(re_escape "$W/routes_hello.so").*writable" \
	"the refusal names the file and says writable"

run "$DX" plugin inspect --allow-writable "$W/routes_hello.so"
expect_rc 0 "dx plugin inspect --allow-writable on it"

printf '{"dx": 1, "listen": [], "plugins": [{"path": "wplug/routes_hello.so"}]}\n' >"$T/writable.json"
run "$DX_HOST" -m "$T/writable.json" --check
expect_rc 1 "--check with a group-writable plugin"
expect_err 'writable' "the refusal says writable"
expect_err 'allow_writable' "the refusal says how to override it"

printf '{"dx": 1, "listen": [], "plugins": [{"path": "wplug/routes_hello.so", "allow_writable": true}]}\n' \
	>"$T/allowed.json"
run "$DX_HOST" -m "$T/allowed.json" --check
expect_rc 0 "--check with the same plugin and \"allow_writable\": true"
expect_out '^routes_hello 1\.0\.0' "it is loaded"

# The directory counts too.
chmod 0644 "$W/routes_hello.so"
chmod 0775 "$W"
run "$DX_HOST" -m "$T/writable.json" --check
expect_rc 1 "--check with a plugin in a group-writable directory"
expect_err "$(re_escape "$W").*writable" "the refusal names the directory"
chmod 0755 "$W"
run "$DX_HOST" -m "$T/writable.json" --check
expect_rc 0 "--check once the directory is 0755 again"

finish
