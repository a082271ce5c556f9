#!/usr/bin/env bash
# test.sh - install what is missing, build, and run the whole test suite
# twice: plain (build/) and under AddressSanitizer + UndefinedBehaviorSanitizer
# (build-asan/); between them, the suites that exercise signals, accept and
# listeners once more on the BSD/macOS fallbacks (build-portable/), and the
# Windows cross build's tests under wine (build-win/, scripts/
# test-windows.sh); then
# build the libFuzzer targets with clang (build-fuzz/), run each over its
# corpus and regressions, and fuzz each for a few seconds. Any failed test,
# sanitizer report or fuzz crash fails the run.
#
# usage: scripts/test.sh
#
# Prints meson test's summary for each run and, last, one line
# "N passed, N failed" over all of them. Exits non-zero if anything failed.
# DX_BUILD_DIR, DX_PORTABLE_BUILD_DIR, DX_ASAN_BUILD_DIR and
# DX_FUZZ_BUILD_DIR override the build directories; DX_FUZZ_SECONDS
# (default 10) is the fuzzing time per target (0: none).
set -euo pipefail
cd "$(dirname "$0")/.."

PLAIN=${DX_BUILD_DIR:-build}
ASAN=${DX_ASAN_BUILD_DIR:-build-asan}
PORTABLE=${DX_PORTABLE_BUILD_DIR:-build-portable}
FUZZ=${DX_FUZZ_BUILD_DIR:-build-fuzz}
FUZZ_SECONDS=${DX_FUZZ_SECONDS:-10}
LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT

scripts/deps.sh

TOTAL_OK=0
TOTAL_FAIL=0

# count LOG FIELD: the number on meson test's summary line "FIELD: N".
count()
{
	local n
	n=$(sed -n "s/^$2:[[:space:]]*\([0-9][0-9]*\).*/\1/p" "$1" | tail -n 1)
	echo "${n:-0}"
}

# suite NAME DIR [meson options...]: configure (or re-apply the options
# to an existing build dir), build, test, add to the totals.
suite()
{
	local name=$1 dir=$2
	shift 2
	echo "=== $name build in $dir/ ($*)"
	if [ -f "$dir/build.ninja" ]; then
		if [ "$#" -gt 0 ] && ! meson configure "$dir" "$@"; then
			echo "$name: meson configure failed"
			TOTAL_FAIL=$((TOTAL_FAIL + 1))
			return
		fi
	elif ! meson setup "$dir" --wrap-mode=nofallback "$@"; then
		echo "$name: meson setup failed"
		TOTAL_FAIL=$((TOTAL_FAIL + 1))
		return
	fi
	if ! meson compile -C "$dir"; then
		echo "$name: build failed"
		TOTAL_FAIL=$((TOTAL_FAIL + 1))
		return
	fi

	local log=$LOGS/$name.log rc ok fail
	set +e
	meson test -C "$dir" --print-errorlogs "${TEST_ARGS[@]}" 2>&1 |
		tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	ok=$(count "$log" 'Ok')
	fail=$(($(count "$log" 'Fail') + $(count "$log" 'Unexpected Pass') +
		$(count "$log" 'Timeout')))
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		fail=1 # meson test itself failed (no summary)
	fi
	echo "=== $name: $ok passed, $fail failed"
	TOTAL_OK=$((TOTAL_OK + ok))
	TOTAL_FAIL=$((TOTAL_FAIL + fail))
}

TEST_ARGS=()
suite plain "$PLAIN"

# The BSD/macOS variants of the host's system-specific pieces (self-pipe
# signals, accept + fcntl, one listening socket shared by the workers, no
# pinning: docs/platforms.md), built on Linux and run through the suites
# that exercise signals, accept, the control socket and listeners.
TEST_ARGS=(--suite serve --suite reload --suite integration --suite unit
	--suite hbtp --suite ops)
suite portable "$PORTABLE" -Dportable_fallbacks=true

# Windows: the mingw-w64 cross build (build-win/) and its tests under wine
# (scripts/test-windows.sh: libdx's codec and client, the loader with
# DLLs); the client test talks to the plain build's dx-host.
echo "=== windows: cross build and wine tests"
set +e
DX_BUILD_DIR=$PLAIN scripts/test-windows.sh 2>&1 | tee "$LOGS/windows.log"
set -e
line=$(grep '^[0-9]* passed, [0-9]* failed$' "$LOGS/windows.log" | tail -n 1)
if [ -z "$line" ]; then
	ok=0
	fail=1 # test-windows.sh itself failed (no summary)
else
	ok=${line%% passed*}
	fail=${line#*passed, }
	fail=${fail%% failed}
fi
echo "=== windows: $ok passed, $fail failed"
TOTAL_OK=$((TOTAL_OK + ok))
TOTAL_FAIL=$((TOTAL_FAIL + fail))

# Sanitizers. abort_on_error/halt_on_error turn any report into a crash, so
# the test fails; detect_leaks makes a leak a report. b_lundef=false: with
# clang, shared objects built with the sanitizers leave the runtime's symbols
# undefined, which meson's default -Wl,--no-undefined refuses; gcc (Debian's
# cc) links fine either way. The plain build keeps --no-undefined on.
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
TEST_ARGS=(--timeout-multiplier 3)
suite asan "$ASAN" -Db_sanitize=address,undefined -Db_lundef=false

# Fuzz targets (tests/fuzz): clang, coverage on every library and plugin,
# the Check suites left to the two builds above. meson's fuzz suite runs
# every input of each target's corpus and regressions once; then each
# target fuzzes for FUZZ_SECONDS with every check on, and counts as one
# more test.
CLANG=$(command -v clang-14 || command -v clang || true)
if [ -z "$CLANG" ]; then
	echo "=== fuzz: no clang (scripts/deps.sh installs it)"
	TOTAL_FAIL=$((TOTAL_FAIL + 1))
else
	TEST_ARGS=(--suite fuzz)
	CC=$CLANG suite fuzz "$FUZZ" -Dfuzz=enabled -Dtests=disabled \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link
	if [ "$FUZZ_SECONDS" -gt 0 ]; then
		echo "=== fuzz run: $FUZZ_SECONDS s per target"
		set +e
		DX_FUZZ_BUILD_DIR=$FUZZ \
			scripts/fuzz.sh "$FUZZ_SECONDS" 2>&1 | tee "$LOGS/fuzz-run.log"
		set -e
		line=$(grep '^fuzz: [0-9]* passed, [0-9]* failed$' \
			"$LOGS/fuzz-run.log" | tail -n 1)
		ok=$(sed -n 's/^fuzz: \([0-9]*\) passed.*/\1/p' <<<"$line")
		fail=$(sed -n 's/.* \([0-9]*\) failed$/\1/p' <<<"$line")
		if [ -z "$line" ]; then
			ok=0
			fail=1 # fuzz.sh itself failed (no summary)
		fi
		echo "=== fuzz run: $ok passed, $fail failed"
		TOTAL_OK=$((TOTAL_OK + ok))
		TOTAL_FAIL=$((TOTAL_FAIL + fail))
	fi
fi

echo "$TOTAL_OK passed, $TOTAL_FAIL failed"
[ "$TOTAL_FAIL" -eq 0 ]
