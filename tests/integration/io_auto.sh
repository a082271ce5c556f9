#!/usr/bin/env bash
# io_auto.sh - io.backend "auto" on Linux logs which backend it took and
# why, naming only the IO plugins this build has and the manifest loaded
# (issue 14; tests/win/host_exe.sh checks the same line on Windows):
#   - a manifest naming no IO plugin loads every one along plugin_path and
#     takes the first usable of them (io_uring before epoll), or says why
#     one is not usable here and takes the next;
#   - with one IO plugin it says it is the only one loaded;
#   - backends this build does not have (kqueue, iocp) are never named.
# usage: io_auto.sh DX_HOST
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

DX_HOST=$(abs_exe "${1:?usage: io_auto.sh DX_HOST}")

cat >"$T/all.json" <<JSON
{"dx": 1, "plugin_path": ["$DX_PLUGINS"], "listen": ["127.0.0.1:0"],
 "workers": 1, "plugins": [{"name": "routes_echo"}]}
JSON
run "$DX_HOST" -m "$T/all.json" --check
expect_rc 0 "--check with the IO plugins found along plugin_path"
if [ -f "$DX_PLUGINS/io_uring/io_uring.so" ]; then
	order="io_uring, epoll"
	took=$(sed -n 's/^io backend: //p' <<<"$OUT")
	expect_err "io\\.backend auto: using $took \\(the first usable of $order: native completions before emulated, then by name\\)$" \
		"auto names the backend it took ($took), the candidates and its rule"
	if [ "$took" = epoll ]; then
		# io_uring was there and refused: auto says why first.
		expect_err 'io\.backend auto: io_uring \(plugin io_uring\) is not usable here: .+' \
			"auto says why io_uring is not usable here"
	else
		check "auto took io_uring, the first in its order" test "$took" = io_uring
	fi
else
	expect_err 'io\.backend auto: using epoll \(the only IO backend loaded\)$' \
		"auto says epoll is the only IO backend loaded"
fi
# Only auto's own lines: the plugin files' paths are the checkout's, which
# may hold any word.
expect_no_err 'io\.backend auto:.*(kqueue|iocp)' \
	"auto names no backend this build lacks"

cat >"$T/one.json" <<JSON
{"dx": 1, "plugin_path": ["$DX_PLUGINS"], "listen": ["127.0.0.1:0"],
 "workers": 1, "plugins": [{"name": "io_epoll"}, {"name": "routes_echo"}]}
JSON
run "$DX_HOST" -m "$T/one.json" --check
expect_rc 0 "--check with io_epoll named"
expect_out '^io backend: epoll$' "--check reports the backend epoll"
expect_err 'io\.backend auto: using epoll \(the only IO backend loaded\)$' \
	"with one IO plugin auto says it is the only one loaded"

finish
