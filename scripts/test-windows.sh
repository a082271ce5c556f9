#!/usr/bin/env bash
# test-windows.sh - cross-build dx for 64-bit Windows with mingw-w64 and run
# the Windows tests (tests/win) under wine.
#
# usage: scripts/test-windows.sh
#
# Installs what is missing (gcc-mingw-w64-x86-64, wine, wine64) with
# apt-get, configures build-win/ (DX_WIN_BUILD_DIR overrides) with
# cross/x86_64-w64-mingw32.txt and -Werror (the project's default), builds
# cJSON and lz4 from subprojects/*.wrap (Debian ships no mingw builds of
# them; the wraps fetch Debian's own source tarballs from Debian's mirror
# once, into subprojects/packagecache/), builds, and runs the tests under
# wine with a wine prefix inside the build dir (created on the first run,
# about 10 s), so a run does not depend on or touch ~/.wine.
#
# The client test needs a Linux dx-host: it uses build/host/dx-host
# (DX_BUILD_DIR overrides build/), building it first if it is missing.
#
# Prints meson test's summary and, last, "N passed, N failed". Exits
# non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."

WIN=${DX_WIN_BUILD_DIR:-build-win}
LINUX=${DX_BUILD_DIR:-build}
PACKAGES=(gcc-mingw-w64-x86-64 wine wine64)

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ "${#missing[@]}" -gt 0 ]; then
	SUDO=()
	[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
	echo "test-windows: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	"${SUDO[@]}" apt-get update
	"${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [ ! -f "$WIN/build.ninja" ] &&
	! meson setup "$WIN" --cross-file cross/x86_64-w64-mingw32.txt \
		--wrap-mode=nofallback --force-fallback-for=libcjson,liblz4 \
		-Dtests=enabled; then
	echo "test-windows: meson setup failed"
	echo "0 passed, 1 failed"
	exit 1
fi
if ! meson compile -C "$WIN"; then
	echo "test-windows: build failed"
	echo "0 passed, 1 failed"
	exit 1
fi

# The Linux host the client test talks to over 127.0.0.1.
if [ ! -x "$LINUX/host/dx-host" ]; then
	if [ ! -f "$LINUX/build.ninja" ]; then
		meson setup "$LINUX" --wrap-mode=nofallback
	fi
	meson compile -C "$LINUX"
fi
export DX_LINUX_BUILD=$PWD/$LINUX

# WINEDEBUG=-all: no wine debug channels on stderr. mscoree and mshtml
# disabled: the prefix is made without offering to install Mono or Gecko.
export WINEPREFIX=$PWD/$WIN/wineprefix
export WINEDEBUG=-all
export WINEDLLOVERRIDES='mscoree,mshtml='
# The prefix is made once here, before meson runs the tests side by side.
if [ ! -f "$WINEPREFIX/system.reg" ]; then
	echo "test-windows: creating the wine prefix $WINEPREFIX"
	wine wineboot --init >/dev/null 2>&1 || true
	wineserver -w 2>/dev/null || true
fi
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
set +e
meson test -C "$WIN" --print-errorlogs --timeout-multiplier 3 2>&1 |
	tee "$LOG"
rc=${PIPESTATUS[0]}
set -e
# Wine's server lingers a few seconds after the last program: stop it, so
# the build dir can be removed at once.
wineserver -k 2>/dev/null || true

# count FIELD: the number on meson test's summary line "FIELD: N".
count()
{
	local n
	n=$(sed -n "s/^$1:[[:space:]]*\([0-9][0-9]*\).*/\1/p" "$LOG" | tail -n 1)
	echo "${n:-0}"
}
ok=$(count Ok)
fail=$(($(count Fail) + $(count 'Unexpected Pass') + $(count Timeout)))
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
	fail=1 # meson test itself failed (no summary)
fi
echo "$ok passed, $fail failed"
[ "$fail" -eq 0 ]
