#!/usr/bin/env bash
# host_exe.sh - dx-host.exe under wine: --help, --version, --check on a
# good manifest, a bad manifest's messages (the file, the JSON path or
# line:column), a plugin that is not there, the refusals before serving
# (no IO plugin, LISTEN_FDS, a unix: listener wine cannot open), and
# serving routes_echo on 127.0.0.1 through io_iocp, driven from Linux by
# the Linux build's `dx call` and `dx bench` (0 errors), with the line
# that says which backend "auto" took and why.
#
# usage (from meson test):
#   host_exe.sh DX_HOST_EXE DX_DLL_DIR PLUGINS_DIR
# The Linux build is $DX_LINUX_BUILD (scripts/test-windows.sh sets it),
# else build/ in the source tree.
set -euo pipefail

usage="usage: host_exe.sh DX_HOST_EXE DX_DLL_DIR PLUGINS_DIR"
HOST=$(realpath "${1:?$usage}") # meson passes it relative to the build dir
DLL_DIR=${2:?$usage}
PLUGINS=${3:?$usage}
LINUX=${DX_LINUX_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
DX=$LINUX/tools/dx
if [ ! -x "$DX" ]; then
	echo "host_exe.sh: no Linux dx in $LINUX/tools (build it, or set" \
		"DX_LINUX_BUILD)" >&2
	exit 1
fi
export WINEPATH="Z:$DLL_DIR"

T=$(mktemp -d "${TMPDIR:-/tmp}/dx-win-hostexe.XXXXXXXX")
HOST_PID=
cleanup()
{
	if [ -n "$HOST_PID" ]; then
		kill -KILL "$HOST_PID" 2>/dev/null || true
		wait "$HOST_PID" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT
cd "$T" # the manifests are named relative to it, as a user would

PASSED=0
FAILED=0
ok()
{
	PASSED=$((PASSED + 1))
	echo "ok: $1"
}
fail()
{
	FAILED=$((FAILED + 1))
	echo "FAIL: $1"
	shift
	for line in "$@"; do
		echo "  $line"
	done
}

# check DESC WANT_RC OUT_RE ARGS...: dx-host.exe ARGS under wine; its exit
# status must be WANT_RC and its stdout + stderr must match the extended
# regex OUT_RE. The output lands in $T/out (CRs dropped: the C runtime
# ends text lines with CRLF). Into a file, not a pipe: a wineserver this
# starts would hold a pipe open for seconds after.
check()
{
	local desc=$1 want=$2 re=$3 rc
	shift 3
	set +e
	wine "$HOST" "$@" >"$T/raw" 2>&1 </dev/null
	rc=$?
	set -e
	tr -d '\r' <"$T/raw" >"$T/out"
	if [ "$rc" -eq "$want" ] && grep -Eq -- "$re" "$T/out"; then
		ok "$desc"
	else
		fail "$desc" "command:  dx-host.exe $*" \
			"expected: exit $want, output matching /$re/" \
			"got:      exit $rc, output:"
		sed 's/^/  | /' "$T/out"
	fi
}

# manifest NAME JSON: $T/NAME.json.
manifest()
{
	printf '%s\n' "$2" >"$T/$1.json"
}

check "--help says how the host stops on Windows" 0 \
	'Stopping: Ctrl\+C or Ctrl\+Break' --help
check "--version names the host and the plugin ABI" 0 \
	'^dx-host [0-9.]+ \(plugin ABI [0-9]+\.[0-9]+\)$' --version
check "no manifest is a usage error" 2 'no manifest: pass -m FILE'

manifest good "{\"dx\": 1, \"plugin_path\": [\"$PLUGINS\"], \"listen\": [],
 \"plugins\": [{\"name\": \"routes_echo\"}]}"
check "--check loads routes_echo.dll and says ok" 0 \
	'^good\.json: ok \(1 plugin, 0 listeners\)$' -m good.json --check
if ! grep -Eq '^routes_echo .*routes_echo\.dll  facets: ROUTES echo$' \
	"$T/out"; then
	fail "--check prints the plugin's line with its DLL" "got:"
	sed 's/^/  | /' "$T/out"
else
	ok "--check prints the plugin's line with its DLL"
fi

# A Windows path with backslashes to the manifest: its directory is found
# by them, and a relative plugin_path is taken from there (wine's Z: drive
# is the Unix root).
mkdir -p "$T/sub/plugs"
cp "$PLUGINS/routes_echo/routes_echo.dll" "$T/sub/plugs/"
printf '%s\n' '{"dx": 1, "plugin_path": ["plugs"], "listen": [],
 "plugins": [{"name": "routes_echo"}]}' >"$T/sub/rel.json"
WINPATH="Z:${T//\//\\}\\sub\\rel.json"
check "a C:\\ path to the manifest, a plugin_path relative to it" 0 \
	"^routes_echo .* Z:/.*/sub/plugs/routes_echo\.dll  facets" \
	-m "$WINPATH" --check

manifest syntax '{"dx": 1, "listen": [}'
check "a JSON syntax error names the file, line and column" 1 \
	'^dx-host: syntax\.json:1:[0-9]+: ' -m syntax.json
manifest badval "{\"dx\": 1, \"plugin_path\": [\"$PLUGINS\"],
 \"listen\": [], \"plugins\": [{\"name\": \"routes_echo\", \"config\": 5}]}"
check "a bad value names the file and the JSON path" 1 \
	'^dx-host: badval\.json: plugins\[0\]\.config: expected an object, got 5$' \
	-m badval.json
manifest missing "{\"dx\": 1, \"plugin_path\": [\"$PLUGINS\"],
 \"listen\": [], \"plugins\": [{\"name\": \"no_such_plugin\"}]}"
check "a missing plugin names where it was looked for" 1 \
	'plugins\[0\]\.name: plugin "no_such_plugin" not found; looked in: Z:.*/no_such_plugin\.dll' \
	-m missing.json --check

# An IO plugin is needed to serve: a plugin_path with routes_echo alone
# has none.
mkdir "$T/noio"
cp "$PLUGINS/routes_echo/routes_echo.dll" "$T/noio/"
manifest noio "{\"dx\": 1, \"plugin_path\": [\"$T/noio\"],
 \"listen\": [\"127.0.0.1:0\"], \"plugins\": [{\"name\": \"routes_echo\"}]}"
check "listening without an IO plugin is refused, saying why" 1 \
	'listen: serving needs an IO backend plugin, and none is in plugins or along plugin_path' \
	-m noio.json
set +e
LISTEN_FDS=1 LISTEN_PID=1 wine "$HOST" -m good.json >"$T/raw" 2>&1 </dev/null
rc=$?
set -e
tr -d '\r' <"$T/raw" >"$T/out"
if [ "$rc" -eq 1 ] && grep -q 'LISTEN_FDS: passed listening sockets .* are not supported on this system' "$T/out"; then
	ok "LISTEN_FDS is refused on Windows"
else
	fail "LISTEN_FDS is refused on Windows" "got: exit $rc, output:"
	sed 's/^/  | /' "$T/out"
fi

echo "host_exe.sh: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
