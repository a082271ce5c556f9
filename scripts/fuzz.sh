#!/usr/bin/env bash
# fuzz.sh - build the libFuzzer targets of tests/fuzz and fuzz each of them.
#
# usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#        scripts/fuzz.sh --build      configure and build only
#
# Configures build-fuzz/ (DX_FUZZ_BUILD_DIR overrides) with clang,
# -Dfuzz=enabled, ASan+UBSan and -fsanitize=fuzzer-no-link on every library
# and plugin (so the code under test reports coverage), builds it, then runs
# every target (or the ones named) for SECONDS each (default 60) and prints
# one line per target: execs/s, total execs, coverage (cov and ft, from
# libFuzzer's final stats) and the crashes found.
#
# Each target fuzzes from a working corpus in BUILD/fuzz-work/TARGET (kept
# between runs) plus the committed tests/fuzz/TARGET/corpus and
# regressions, which it never writes to. A crash, leak or timeout is saved
# into tests/fuzz/TARGET/regressions/ and makes the script fail; move it to
# pending/ (with a README line) when the bug is in code you cannot fix now.
# DX_FUZZ_KNOWN_BUGS=1 (passed on to the targets) skips the checks that the
# bugs of pending/ fail, so a run can look past them (tests/fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${DX_FUZZ_BUILD_DIR:-build-fuzz}
FUZZ=tests/fuzz

# clang-14 is Debian 12's; plain clang anywhere else.
CLANG=$(command -v clang-14 || command -v clang || true)
if [ -z "$CLANG" ]; then
	echo "fuzz: no clang; scripts/deps.sh installs it" >&2
	exit 1
fi

setup()
{
	if [ ! -f "$BUILD/build.ninja" ]; then
		# b_lundef=false: the sanitizer runtimes are linked into
		# executables only (see scripts/test.sh). tests=disabled: the
		# Check suites are test.sh's other builds' business.
		CC=$CLANG meson setup "$BUILD" --wrap-mode=nofallback \
			-Dfuzz=enabled -Dtests=disabled \
			-Db_sanitize=address,undefined -Db_lundef=false \
			-Dc_args=-fsanitize=fuzzer-no-link
	fi
	meson compile -C "$BUILD"
}

if [ "${1:-}" = "--build" ]; then
	setup
	exit 0
fi

SECONDS_EACH=60
if [ "$#" -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
	SECONDS_EACH=$1
	shift
fi
setup

TARGETS=("$@")
if [ "${#TARGETS[@]}" -eq 0 ]; then
	for f in "$BUILD"/tests/fuzz/fuzz_*; do
		n=$(basename "$f")
		n=${n#fuzz_}
		[ -x "$f" ] && [ -d "$FUZZ/$n" ] && TARGETS+=("$n")
	done
fi

export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:allocator_may_return_null=1
# known_bugs.supp: bugs reported in pending/ but not fixed yet.
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$PWD/$FUZZ/known_bugs.supp
export DX_PLUGINS=$PWD/$BUILD/plugins
failed=0
nok=0
nfail=0
printf '%-10s %10s %12s %8s %8s %s\n' target execs/s execs cov ft crashes
for t in "${TARGETS[@]}"; do
	exe=$BUILD/tests/fuzz/fuzz_$t
	work=$BUILD/fuzz-work/$t
	art=$BUILD/fuzz-artifacts/$t
	log=$BUILD/fuzz-logs/$t.log
	mkdir -p "$work" "$art" "$FUZZ/$t/regressions" "$(dirname "$log")"
	rm -f "$art"/*
	set +e
	# -fork would survive a crash; one process keeps the figures simple:
	# the first crash ends this target's run.
	"$exe" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
		-artifact_prefix="$art/" -timeout=10 -rss_limit_mb=4096 \
		"$work" "$FUZZ/$t/corpus" "$FUZZ/$t/regressions" >"$log" 2>&1
	rc=$?
	set -e
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	line=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$line")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$line")
	crashes=0
	for a in "$art"/*; do
		[ -f "$a" ] || continue
		crashes=$((crashes + 1))
		cp "$a" "$FUZZ/$t/regressions/"
		echo "fuzz: $t: $(basename "$a") saved to $FUZZ/$t/regressions/ (log: $log)" >&2
	done
	if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
		crashes=1
		echo "fuzz: $t exited $rc without an artifact (log: $log)" >&2
	fi
	printf '%-10s %10s %12s %8s %8s %s\n' "$t" "${speed:-?}" "${execs:-?}" \
		"${cov:-?}" "${ft:-?}" "$crashes"
	if [ "$crashes" -eq 0 ]; then
		nok=$((nok + 1))
	else
		nfail=$((nfail + 1))
		failed=1
	fi
done
echo "fuzz: $nok passed, $nfail failed"
exit "$failed"
