#!/usr/bin/env bash
# sdk_install.sh - a third-party plugin builds against the installed SDK only.
#
# usage (from meson test): sdk_install.sh DX_HOST DX MESON
#
# 1. meson install this build into a temp DESTDIR (never the real prefix);
# 2. copy examples/third_party somewhere else and build it with its own
#    Makefile, which knows dx only through `pkg-config dx-sdk` and
#    PKG_CONFIG_PATH (dx-sdk.pc locates itself: its prefix is relative to
#    its own directory, so the DESTDIR tree needs no --define-variable);
# 3. prove the compile read the installed headers, not sdk/include;
# 4. dx plugin inspect the result and dx-host --check manifests that load
#    it next to routes_hello, from the build tree and from the installed
#    plugin directory.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

DX_HOST=$(abs_exe "${1:?usage: sdk_install.sh DX_HOST DX MESON}")
DX=$(abs_exe "${2:?usage: sdk_install.sh DX_HOST DX MESON}")
MESON=${3:-meson}
ABI=$(abi_version)

# --- 1. install into a DESTDIR ----------------------------------------------
DEST=$T/dest
run $MESON install -C "$DX_BUILD_ROOT" --no-rebuild --destdir "$DEST"
expect_rc 0 "meson install --destdir into the temp dir"
[ "$RC" -eq 0 ] || { finish; exit 1; }

PC=$(find "$DEST" -name dx-sdk.pc -print -quit)
check "dx-sdk.pc is installed" test -n "$PC"
[ -n "$PC" ] || { finish; exit 1; }
# dx-sdk.pc says prefix=${pcfiledir}/../../.., so plain pkg-config with
# PKG_CONFIG_PATH gives paths inside $DEST. They come unnormalised
# (.../pkgconfig/../../../include): compare them through realpath.
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$PC")
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR CPATH C_INCLUDE_PATH LIBRARY_PATH
IPREFIX=$(realpath -m "$(pkg-config --variable=prefix dx-sdk)")
check "dx-sdk.pc's prefix is the installed tree under DESTDIR" \
	test "${IPREFIX#"$DEST"/}" != "$IPREFIX"

for h in dx/error.h dx/plugin.h dx/routes.h; do
	check "$h is installed" test -f "$IPREFIX/include/$h"
done

run pkg-config --cflags --libs dx-sdk
expect_rc 0 "pkg-config --cflags --libs dx-sdk"
INC=$(sed -n 's/.*-I\([^ ]*\).*/\1/p' <<<"$OUT")
check "the include path is the installed one" \
	test "$(realpath -m "$INC")" = "$IPREFIX/include"
expect_out '-ldx' "it links libdx"
if grep -q -- "$DX_SOURCE_ROOT" <<<"$OUT"; then
	fail "pkg-config flags stay out of the source tree" \
		"no path under $DX_SOURCE_ROOT" "$OUT"
fi
LIBDIR=$(realpath -m "$(pkg-config --variable=libdir dx-sdk)")
PLUGINDIR=$(realpath -m "$(pkg-config --variable=plugindir dx-sdk)")
check "libdx.so is installed in $LIBDIR" test -e "$LIBDIR/libdx.so"
check "routes_hello.so is installed in $PLUGINDIR" \
	test -f "$PLUGINDIR/routes_hello.so"

# --- 2. build the third-party plugin out of tree ---------------------------
SRC=$T/third_party
cp -R "$DX_SOURCE_ROOT/examples/third_party" "$SRC"
chmod 0755 "$SRC"
rm -f "$SRC"/*.so
run make -C "$SRC" CFLAGS="-O2 -g -Wall -Wextra -Werror"
expect_rc 0 "make builds routes_reverse.so against the installed SDK"
check "routes_reverse.so exists" test -f "$SRC/routes_reverse.so"
if [ ! -f "$SRC/routes_reverse.so" ]; then
	finish
	exit 1
fi
check "the plugin exports dx_plugin_v1" \
	bash -c "nm -D --defined-only '$SRC/routes_reverse.so' | grep -qw dx_plugin_v1"

# --- 3. which headers did it read? -----------------------------------------
# -M lists every header the compile opened.
run cc -std=c11 $(pkg-config --cflags dx-sdk) -M "$SRC/routes_reverse.c"
expect_rc 0 "cc -M with the installed SDK's flags"
DEPS=$(printf '%s\n' "$OUT" | tr ' \\' '\n\n' | grep '/dx/' || true)
check "the compile read dx headers" test -n "$DEPS"
while IFS= read -r dep; do
	[ -n "$dep" ] || continue
	dep=$(realpath -m "$dep")
	case "$dep" in
	"$IPREFIX"/include/dx/*) ;;
	*) LAST_CMD="cc -M"
	   fail "every dx header comes from the installed tree" \
		"$IPREFIX/include/dx/..." "$dep" ;;
	esac
done <<<"$DEPS"

# --- 4. the host loads it ----------------------------------------------------
run "$DX" plugin inspect "$SRC/routes_reverse.so"
expect_rc 0 "dx plugin inspect routes_reverse.so"
expect_out '^name: +routes_reverse$' "inspect prints its name"
expect_out '^version: +0\.1\.0$' "inspect prints its version"
expect_out "^abi: +$(re_escape "$ABI") " "inspect prints ABI $ABI"
expect_out 'ROUTES reverse' "inspect lists the ROUTES facet reverse"
expect_out 'route 2 reverse' "inspect lists route 2 reverse"

cat >"$T/reverse.json" <<EOF
{
  "dx": 1,
  "listen": [],
  "plugin_path": ["$DX_PLUGINS"],
  "plugins": [
    {"name": "routes_hello"},
    {"path": "third_party/routes_reverse.so", "config": {"max_len": 1024}}
  ]
}
EOF
run "$DX_HOST" -m "$T/reverse.json" --check --log-level info
expect_rc 0 "dx-host --check loads routes_hello and routes_reverse"
expect_out '^routes_hello 1\.0\.0' "routes_hello is listed"
expect_out "^routes_reverse 0\.1\.0 +ABI $(re_escape "$ABI") +$(re_escape "$SRC")/routes_reverse\.so +facets: ROUTES reverse" \
	"routes_reverse is listed with its path and facet"
expect_out 'ok \(2 plugins, 0 listeners\)$' "--check says ok (2 plugins, 0 listeners)"
expect_err 'answering up to 1024 bytes' "the plugin read max_len from its config"

cat >"$T/reverse-bad.json" <<EOF
{"dx": 1, "listen": [], "plugins": [{"path": "third_party/routes_reverse.so",
                       "config": {"max_len": 0}}]}
EOF
run "$DX_HOST" -m "$T/reverse-bad.json" --check
expect_rc 1 "--check with max_len out of range"
expect_err 'plugins\[0\]\.config\.max_len' "the error names plugins[0].config.max_len"

# make install puts it next to the installed routes_hello; a manifest that
# names both finds them along the installed plugin directory.
run make -C "$SRC" install
expect_rc 0 "make install into the SDK's plugin directory"
check "routes_reverse.so is installed in $PLUGINDIR" \
	test -f "$PLUGINDIR/routes_reverse.so"
cat >"$T/installed.json" <<EOF
{"dx": 1, "plugin_path": ["$PLUGINDIR"], "listen": [],
 "plugins": [{"name": "routes_hello"}, {"name": "routes_reverse"}]}
EOF
run "$DX_HOST" -m "$T/installed.json" --check
expect_rc 0 "--check finds both plugins by name in the installed plugin dir"
expect_out "^routes_hello 1\.0\.0 .*$(re_escape "$PLUGINDIR")/routes_hello\.so" \
	"routes_hello comes from the installed plugin dir"
expect_out "^routes_reverse 0\.1\.0 .*$(re_escape "$PLUGINDIR")/routes_reverse\.so" \
	"routes_reverse comes from the installed plugin dir"

finish
