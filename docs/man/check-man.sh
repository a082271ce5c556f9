#!/bin/sh
# check-man.sh - render each man page as man would and fail on any warning.
#
# usage (meson test): check-man.sh MAN PAGE...
# man --warnings turns on groff's warnings; -l reads the file given, -Tutf8
# renders for a terminal. A page passes when it renders, exit 0, with
# nothing at all on stderr.
set -eu
MAN=$1
shift
[ "$#" -gt 0 ] || { echo "check-man: no pages given" >&2; exit 1; }
failed=0
for page in "$@"; do
	err=$("$MAN" --warnings -E UTF-8 -l -Tutf8 "$page" 2>&1 >/dev/null) || {
		echo "FAIL: $page: man exited $?"
		failed=1
	}
	if [ -n "$err" ]; then
		echo "FAIL: $page: warnings:"
		printf '%s\n' "$err" | sed 's/^/  /'
		failed=1
	else
		echo "ok: $page renders without a warning"
	fi
	# A page that rendered to nothing would pass the above.
	lines=$("$MAN" -E UTF-8 -l -Tutf8 "$page" 2>/dev/null | wc -l)
	if [ "$lines" -lt 20 ]; then
		echo "FAIL: $page: only $lines lines rendered"
		failed=1
	fi
done
exit "$failed"
