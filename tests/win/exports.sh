#!/usr/bin/env bash
# exports.sh - dx.dll exports exactly the names the Linux libdx.so does:
# the SDK's API and nothing else (no lz4, none of libdx's internal names,
# which mingw's ld would export by default; sdk/meson.build keeps them out).
#
# usage (from meson test): exports.sh OBJDUMP DX_DLL
#
# The Linux build is $DX_LINUX_BUILD, by default build/ in the source tree.
set -euo pipefail

OBJDUMP=${1:?usage: exports.sh OBJDUMP DX_DLL}
DLL=${2:?usage: exports.sh OBJDUMP DX_DLL}
LINUX=${DX_LINUX_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
SO=$LINUX/sdk/libdx.so
if [ ! -f "$SO" ]; then
	echo "exports.sh: no $SO (build the Linux tree, or set DX_LINUX_BUILD)" >&2
	exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/dx-win-exports.XXXXXXXX")
trap 'rm -rf "$T"' EXIT
"$OBJDUMP" -p "$DLL" | sed -n '/Ordinal\/Name Pointer/,/^$/p' |
	sed -n 's/^[[:space:]]*\[ *[0-9]*\] //p' | sort >"$T/dll"
nm -D --defined-only "$SO" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sort >"$T/so"

fail=0
if [ ! -s "$T/dll" ]; then
	echo "FAIL: no export table read from $DLL"
	fail=1
fi
if ! diff -u --label libdx.so "$T/so" --label dx.dll "$T/dll"; then
	echo "FAIL: dx.dll's exports differ from libdx.so's (- only in libdx.so, + only in dx.dll)"
	fail=1
fi
[ "$fail" -eq 0 ] && echo "ok: dx.dll exports the $(wc -l <"$T/dll") names libdx.so does"
exit "$fail"
