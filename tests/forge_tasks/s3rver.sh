#!/usr/bin/env bash
# s3rver.sh CACHE_DIR TEST [ARGS...] - install s3rver 3.7.1 from the npm
# registry into CACHE_DIR (once; later runs reuse it), then run TEST with
# DX_S3RVER set to its executable. The test starts and stops s3rver
# itself. Exit 77 (meson's SKIP) when node or npm is missing or the install
# fails (no network), saying why.
set -uo pipefail

cache=$1
shift
version=3.7.1
bin=$cache/node_modules/.bin/s3rver

skip()
{
	echo "SKIP: $*"
	exit 77
}

command -v node >/dev/null || skip "node is not installed (Debian: apt-get install nodejs npm)"
if [ ! -x "$bin" ] ||
	! grep -q "\"version\": \"$version\"" "$cache/node_modules/s3rver/package.json" 2>/dev/null; then
	command -v npm >/dev/null || skip "npm is not installed (Debian: apt-get install npm)"
	mkdir -p "$cache"
	log=$cache/npm-install.log
	if ! npm install --prefix "$cache" --no-audit --no-fund --no-save \
		"s3rver@$version" >"$log" 2>&1; then
		tail -n 20 "$log"
		skip "npm install s3rver@$version failed (offline?); log: $log"
	fi
fi
[ -x "$bin" ] || skip "s3rver did not install into $cache"
DX_S3RVER=$bin exec "$@"
