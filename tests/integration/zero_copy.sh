#!/usr/bin/env bash
# zero_copy.sh - large answers go out with send_zc on io_uring when
# io.zero_copy allows it, arrive intact, and are counted; "auto" keeps
# loopback peers on plain sends (usage: zero_copy.sh DX_HOST DX).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

DX_HOST=$(abs_exe "${1:?usage: zero_copy.sh DX_HOST DX}")
DX=$(abs_exe "${2:?usage: zero_copy.sh DX_HOST DX}")
BIG=$(head -c 102400 /dev/zero | tr '\0' z) # 100 KiB: above the 64 KiB bar

# serve MODE: start dx-host on io_uring with io.zero_copy MODE; sets ADDR.
serve()
{
	cat >"$T/$1.json" <<JSON
{"dx": 1, "plugin_path": ["$DX_PLUGINS"], "listen": ["127.0.0.1:0"],
 "workers": 1, "io": {"backend": "io_uring", "zero_copy": "$1"},
 "control": {"socket": "$1.sock"},
 "plugins": [{"name": "io_uring"}, {"name": "routes_echo"}]}
JSON
	"$DX_HOST" -m "$T/$1.json" 2>"$T/$1.log" &
	BG_PIDS+=("$!")
	for _ in $(seq 100); do
		grep -q 'ready\|error' "$T/$1.log" && break
		sleep 0.05
	done
	ADDR=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\) .*/\1/p' "$T/$1.log")
}

serve always
if grep -q 'not usable' "$T/always.log"; then
	echo "skip: io_uring is not usable here: $(cat "$T/always.log")"
	exit 77
fi
check "dx-host on io_uring came up" test -n "$ADDR"
for i in 1 2 3; do
	run "$DX" call "$ADDR" echo "$BIG"
	expect_rc 0 "a 100 KiB echo ($i) with zero_copy always"
	check "the answer ($i) is the 100 KiB that was sent" \
		test "${#OUT}" = "${#BIG}" -a "$OUT" = "$BIG"
done
run "$DX" ctl --socket "$T/always.sock" --json stats
expect_out '"zero_copy_sends":[3-9]' "the host counted its zero-copy sends"

serve auto
run "$DX" call "$ADDR" echo "$BIG"
expect_rc 0 "a 100 KiB echo with zero_copy auto"
check "its answer is intact" test "$OUT" = "$BIG"
run "$DX" ctl --socket "$T/auto.sock" --json stats
expect_out '"zero_copy_sends":0' "auto sends plainly to a loopback peer"
finish
