#!/usr/bin/env bash
# plugin_new.sh - `dx plugin new` makes projects that work as generated.
#
# usage (from meson test): plugin_new.sh DX_HOST DX MESON
#
# 1. meson install this build into a temp DESTDIR (never the real prefix)
#    and point pkg-config at it: the .pc files are copied with prefix= set
#    to the DESTDIR tree (what sdk_install.sh does with
#    --define-variable=prefix=, which meson's dependency() cannot pass);
# 2. the refusals: a bad NAME (saying which characters are allowed), an
#    unknown kind, a directory that exists;
# 3. for each kind: generate, build against the installed SDK (with this
#    build's sanitizers, so the kit's ASan build links), run the generated
#    test (the plugin test kit), inspect the plugin (no route-id warning),
#    then: routes, middleware and io serve a request through the real
#    dx-host and `dx call` with the generated manifest (io as the host's
#    io.backend); service passes dx-host --check.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

DX_HOST=$(abs_exe "${1:?usage: plugin_new.sh DX_HOST DX MESON}")
DX=$(abs_exe "${2:?usage: plugin_new.sh DX_HOST DX MESON}")
MESON=${3:-meson}

# --- 1. the SDK, installed ---------------------------------------------------
DEST=$T/dest
run $MESON install -C "$DX_BUILD_ROOT" --no-rebuild --destdir "$DEST"
expect_rc 0 "meson install --destdir into the temp dir"
[ "$RC" -eq 0 ] || { finish; exit 1; }
PCDIR=$(dirname "$(find "$DEST" -name dx-sdk.pc -print -quit)")
check "dx-testing.pc is installed beside dx-sdk.pc" test -f "$PCDIR/dx-testing.pc"
PREFIX=$(PKG_CONFIG_PATH=$PCDIR pkg-config --variable=prefix dx-sdk)
case "$PREFIX" in
"$DEST"*) IPREFIX=$PREFIX ;; # already relocatable
*) IPREFIX=$DEST$PREFIX ;;
esac
mkdir -p "$T/pc"
for pc in "$PCDIR"/dx-*.pc; do
	sed "s|^prefix=.*|prefix=$IPREFIX|" "$pc" >"$T/pc/$(basename "$pc")"
done
export PKG_CONFIG_PATH=$T/pc
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR CPATH C_INCLUDE_PATH LIBRARY_PATH
check "dx/testing.h is installed" test -f "$IPREFIX/include/dx/testing.h"
PLUGINDIR=$(pkg-config --variable=plugindir dx-sdk)
# Build the projects as this build is built (ASan and UBSan or not).
SAN=$($MESON introspect --buildoptions "$DX_BUILD_ROOT" |
	python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "b_sanitize"))')
SETUP_ARGS=(-Dwerror=true)
[ "$SAN" = none ] || SETUP_ARGS+=(-Db_sanitize="$SAN" -Db_lundef=false)

# --- 2. refusals ---------------------------------------------------------------
mkdir -p "$T/p"
cd "$T/p"
run "$DX" plugin new Bad-Name --kind routes
expect_rc 2 "a NAME with capitals and a dash"
expect_err 'bad NAME "Bad-Name": a plugin name is a lowercase letter followed by lowercase letters \(a-z\), digits \(0-9\) and underscores \(_\)' \
	"the error says which characters are allowed"
check "nothing was written for a bad NAME" test ! -e Bad-Name
run "$DX" plugin new fine --kind filter
expect_rc 2 "an unknown kind"
expect_err 'kind must be routes, middleware, service or io' "the kinds are listed"
mkdir taken
run "$DX" plugin new fine --kind routes --dir taken
expect_rc 1 "an existing --dir"
expect_err 'taken already exists' "the error names the directory"
check "the existing directory was left empty" test -z "$(ls -A taken)"

# --- 3. each kind, as generated ------------------------------------------------
serve()
{
	local dir=$1 log=$2
	"$DX_HOST" -m "$dir/build/manifest.json" 2>"$log" &
	BG_PIDS+=("$!")
	for _ in $(seq 200); do
		grep -q 'ready\|error' "$log" && break
		sleep 0.05
	done
	check "dx-host serves $dir/build/manifest.json" grep -q ready "$log"
}

for kind in routes middleware service io; do
	name=my_$kind
	dir=$T/p/$name
	run "$DX" plugin new "$name" --kind "$kind" --dir "$dir"
	expect_rc 0 "dx plugin new $name --kind $kind"
	for f in meson.build "$name.c" "test_$name.c" manifest.json.in; do
		check "$kind: $f was written" test -f "$dir/$f"
	done
	run $MESON setup "${SETUP_ARGS[@]}" "$dir/build" "$dir"
	expect_rc 0 "$kind: meson setup against the installed SDK"
	run $MESON compile -C "$dir/build"
	expect_rc 0 "$kind: meson compile"
	run $MESON test -C "$dir/build" --print-errorlogs
	expect_rc 0 "$kind: the generated test passes (the plugin test kit)"
	expect_out "$name +OK" "$kind: meson test ran $name"
	[ -f "$dir/build/$name.so" ] || continue
	run "$DX" plugin inspect "$dir/build/$name.so"
	expect_rc 0 "$kind: dx plugin inspect"
	expect_no_err . "$kind: inspect says nothing on stderr"
	expect_no_out '^warning' "$kind: no route-id warning"
	sock=unix:$dir/build/$name.sock
	case $kind in
	routes)
		expect_out "route 1[0-9]{3,4} $name|route [0-9]{5} $name" \
			"routes: its route id is a third party's (1024..65535)"
		serve "$dir" "$T/$kind.log"
		run "$DX" call "$sock" "$name" dx
		expect_rc 0 "routes: dx call $name"
		expect_out '^hello, dx!$' "routes: the generated route answers"
		;;
	middleware)
		serve "$dir" "$T/$kind.log"
		run "$DX" call "$sock" hello dx
		expect_out '^hello, dx!$' "middleware: hello answers through it"
		expect_err "^< x-$name: seen\$" "middleware: its after hook tagged the answer"
		run "$DX" call "$sock" hello mallory
		expect_rc 1 "middleware: the deny text is refused"
		expect_err "403.*denied by $name" "middleware: with its 403"
		;;
	io)
		serve "$dir" "$T/$kind.log"
		check "io: dx-host uses $name as its backend" \
			grep -q "backend $name)" "$T/$kind.log"
		run "$DX" call "$sock" hello dx
		expect_rc 0 "io: dx call over the generated backend"
		expect_out '^hello, dx!$' "io: hello answers over it"
		;;
	service)
		run "$DX_HOST" -m "$dir/build/manifest.json" --check
		expect_rc 0 "service: dx-host --check loads it"
		expect_out "^$name 0\.1\.0 .*facets: SERVICE $name" "service: listed with its facet"
		;;
	esac
done
check "the plugins were built against the installed SDK's plugin dir" \
	grep -q "$(re_escape "$PLUGINDIR")" "$T/p/my_routes/build/manifest.json"
finish
