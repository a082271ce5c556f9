#!/usr/bin/env bash
# shellcheck disable=SC2016 # regexes that match a literal $ORIGIN, $MAINPID
# install.sh - `meson install` gives a tree that works as it lies.
#
# usage (from meson test): install.sh MESON MAN
#   MAN is "yes" when the build made the man pages.
#
# 1. meson install this build into a temp DESTDIR (never the real prefix);
#    the tree lands at DEST/PREFIX, a place its binaries were not built for;
# 2. the installed dx-host and dx find libdx through their $ORIGIN rpath
#    (readelf, ldd, and the running host's own maps), with no
#    LD_LIBRARY_PATH;
# 3. the default manifest, docs, examples, systemd units and man pages are
#    where an operator looks; installing again keeps an edited manifest;
# 4. the installed default manifest loads every plugin from the installed
#    plugin directory, found by default; a manifest's plugin_path wins;
# 5. the installed example plugin builds with `make` against the installed
#    SDK, known only through PKG_CONFIG_PATH (dx-sdk.pc locates itself),
#    installs into the plugin directory, and the installed host loads it
#    by name and serves it to the installed `dx call`.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh disable=SC2034
. "$(dirname "$0")/lib.sh"

MESON=${1:?usage: install.sh MESON MAN}
MAN=${2:?usage: install.sh MESON MAN}
ABI=$(abi_version)

# Nothing of this build may leak into the installed programs' environment
# (meson test points LD_LIBRARY_PATH into the build tree).
unset LD_LIBRARY_PATH LD_PRELOAD PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR \
	CPATH C_INCLUDE_PATH LIBRARY_PATH

# --- 1. install into a DESTDIR ----------------------------------------------
DEST=$T/dest
run "$MESON" install -C "$DX_BUILD_ROOT" --no-rebuild --destdir "$DEST"
expect_rc 0 "meson install --destdir into the temp dir"
HOSTEXE=$(find "$DEST" -path '*/bin/dx-host' -type f -print -quit)
check "dx-host is installed under bin/" test -n "$HOSTEXE"
[ -n "$HOSTEXE" ] || { finish; exit 1; }
P=$(dirname "$(dirname "$HOSTEXE")") # DEST/PREFIX
PREFIX=${P#"$DEST"}                    # as configured
LIBDX=$(find "$P" -name 'libdx.so.*.*' -type f -print -quit)
check "libdx is installed" test -n "$LIBDX"
[ -n "$LIBDX" ] || { finish; exit 1; }
LIBDIR=$(dirname "$LIBDX")
PLUGINDIR=$LIBDIR/dx/plugins
DX=$P/bin/dx
echo "note: installed tree at $P (configured prefix $PREFIX)"

# --- 2. the rpath, not LD_LIBRARY_PATH ---------------------------------------
for exe in "$HOSTEXE" "$DX"; do
	run readelf -d "$exe"
	expect_out '\((RUNPATH|RPATH)\).*\[\$ORIGIN/\.\./' \
		"$(basename "$exe") carries an \$ORIGIN-relative rpath"
	run ldd "$exe"
	got=$(sed -n 's/^[[:space:]]*libdx\.so\.[0-9]* => \(.*\) (0x.*/\1/p' <<<"$OUT")
	check "ldd resolves $(basename "$exe")'s libdx in the installed libdir" \
		test -n "$got" -a "$(realpath -m "${got:-/nonexistent}")" = "$(realpath "$LIBDX")"
	if grep -q -- "$DX_BUILD_ROOT" <<<"$OUT"; then
		fail "$(basename "$exe") loads nothing from the build tree" \
			"no path under $DX_BUILD_ROOT" "$OUT"
	fi
done
run readelf -d "$PLUGINDIR/routes_hello.so"
expect_out '\$ORIGIN/\.\./\.\.' "a shipped plugin finds libdx two levels up"

run "$HOSTEXE" --version
expect_rc 0 "the installed dx-host runs"
expect_out "^dx-host .*\(plugin ABI $(re_escape "$ABI")\)$" "and prints its ABI"
run "$DX" version
expect_rc 0 "the installed dx runs"

# --- 3. what lands where ------------------------------------------------------
for f in share/dx/dx.json share/doc/dx/README.md \
	share/doc/dx/writing-plugins.md share/dx/examples/third_party/Makefile \
	share/dx/examples/third_party/routes_reverse.c \
	lib/systemd/system/dx-host.service lib/systemd/system/dx-host.socket; do
	check "$f is installed" test -f "$P/$f"
done
check "the in-tree example manifest (its plugin_path is the checkout's) is not" \
	test ! -e "$P/share/dx/examples/third_party/reverse.json"
if [ "$MAN" = yes ]; then
	for f in man1/dx-host.1 man1/dx.1 man5/dx-manifest.5 man7/dx-plugin.7; do
		check "the man page $f is installed" test -s "$P/share/man/$f"
	done
	run man -l -Tutf8 "$P/share/man/man5/dx-manifest.5"
	expect_out "$(re_escape "$PREFIX")/share/dx/dx\.json" \
		"dx-manifest(5) names this prefix's default manifest"
fi

ETC=$(find "$DEST" -path '*/dx/dx.json' ! -path '*/share/*' -print -quit)
check "the default manifest is seeded into sysconfdir" test -n "$ETC"
if [ -n "$ETC" ]; then
	check "the seeded manifest is the default one" cmp -s "$ETC" "$P/share/dx/dx.json"
	SVC=$P/lib/systemd/system/dx-host.service
	run cat "$SVC"
	expect_out "^ExecStart=$(re_escape "$PREFIX")/bin/dx-host -m $(re_escape "${ETC#"$DEST"}")$" \
		"the unit runs the installed dx-host on the seeded manifest"
	expect_out '^Type=notify$' "the unit is Type=notify"
	expect_out '^NotifyAccess=main$' "only the main process notifies"
	expect_out '^ExecReload=/bin/kill -HUP \$MAINPID$' "reload sends SIGHUP"
	expect_out '^RuntimeDirectory=dx$' "systemd makes /run/dx for the control socket"
	run cat "$P/share/dx/dx.json"
	expect_out '"socket": "/run/dx/dx\.sock"' \
		"the default manifest's control socket is /run/dx/dx.sock"

	# Installing again keeps an operator's edits.
	printf '{"dx": 1, "listen": []}\n' >"$ETC"
	run "$MESON" install -C "$DX_BUILD_ROOT" --no-rebuild --destdir "$DEST"
	expect_rc 0 "meson install again"
	check "a second install keeps the edited manifest" \
		grep -q '"listen": \[\]' "$ETC"
fi

# systemd parses the units (warnings for unknown keys or bad values fail);
# systemd-analyze wants the executables at their real paths, so check a
# copy that names the DESTDIR tree.
if command -v systemd-analyze >/dev/null; then
	mkdir "$T/units"
	sed "s|$PREFIX/|$P/|g" "$P/lib/systemd/system/dx-host.service" \
		>"$T/units/dx-host.service"
	cp "$P/lib/systemd/system/dx-host.socket" "$T/units/"
	run systemd-analyze verify --man=no "$T/units/dx-host.service" \
		"$T/units/dx-host.socket"
	expect_rc 0 "systemd-analyze verify accepts the units"
	check "with no warning" test -z "$ERR"
fi

# --- 4. plugins found by default ---------------------------------------------
# The default manifest as installed, but for its control socket: /run/dx
# is made by systemd (RuntimeDirectory=dx), and the host refuses a socket
# in a directory that is not there.
RPLUGINDIR=$(realpath "$PLUGINDIR")
sed "s|/run/dx/dx\.sock|$T/dx.sock|" "$P/share/dx/dx.json" >"$T/default.json"
check "the copy differs in the control socket only" \
	test "$(diff "$P/share/dx/dx.json" "$T/default.json" | grep -c '^[<>]')" = 2
run "$HOSTEXE" -m "$T/default.json" --check
expect_rc 0 "the installed dx-host --check on the installed default manifest"
expect_out "^routes_hello 1\.0\.0 .*$(re_escape "$RPLUGINDIR")/routes_hello\.so" \
	"routes_hello comes from the installed plugin dir, found by default"
expect_out "^io_epoll .*$(re_escape "$RPLUGINDIR")/io_epoll\.so" \
	"io_epoll too"
expect_out 'ok \(4 plugins, 1 listener\)$' "--check says ok (4 plugins, 1 listener)"

mkdir "$T/empty"
cat >"$T/elsewhere.json" <<EOF
{"dx": 1, "plugin_path": ["$T/empty"], "listen": [],
 "plugins": [{"name": "routes_hello"}]}
EOF
run "$HOSTEXE" -m "$T/elsewhere.json" --check
expect_rc 1 "a manifest's plugin_path wins over the default"
expect_err 'routes_hello' "the error names the plugin it did not find there"

# --- 5. an out-of-tree plugin against the installed SDK ----------------------
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig
run pkg-config --cflags --libs dx-sdk
expect_rc 0 "pkg-config dx-sdk with PKG_CONFIG_PATH only"
INC=$(sed -n 's/.*-I\([^ ]*\).*/\1/p' <<<"$OUT")
check "the include path is the installed one" \
	test "$(realpath -m "$INC")" = "$(realpath "$P/include")"
if grep -q -- "$DX_SOURCE_ROOT" <<<"$OUT"; then
	fail "pkg-config flags stay out of the source tree" \
		"no path under $DX_SOURCE_ROOT" "$OUT"
fi
run pkg-config --variable=plugindir dx-sdk
check "plugindir is the installed plugin dir" \
	test "$(realpath -m "$OUT")" = "$RPLUGINDIR"
run pkg-config --variable=abi_major dx-sdk
expect_out "^${ABI%%.*}$" "abi_major is the host's"

SRC=$T/third_party
cp -R "$P/share/dx/examples/third_party" "$SRC"
run make -C "$SRC" CFLAGS="-O2 -g -Wall -Wextra -Werror"
expect_rc 0 "make builds the installed example against the installed SDK"
run make -C "$SRC" install
expect_rc 0 "make install puts it into the SDK's plugin directory"
check "routes_reverse.so is in the installed plugin dir" \
	test -f "$PLUGINDIR/routes_reverse.so"

cat >"$T/m.json" <<EOF
{"dx": 1, "listen": ["127.0.0.1:0"], "workers": 1,
 "control": {"socket": "ctl.sock"},
 "plugins": [{"name": "io_epoll"}, {"name": "routes_hello"},
             {"name": "routes_reverse", "config": {"max_len": 64}}]}
EOF
start_host "$T/log" "$HOSTEXE" -m "$T/m.json"
check "the installed dx-host serves the manifest without plugin_path" \
	grep -q ready "$T/log"
ADDR=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\) .*/\1/p' "$T/log")
check "it logs the port it bound" test -n "$ADDR"

if [ -n "$ADDR" ]; then
	check "the running host has no LD_LIBRARY_PATH" \
		bash -c "! tr '\\0' '\\n' </proc/$HOST/environ | grep -q '^LD_LIBRARY_PATH='"
	check "the running host mapped the installed libdx" \
		grep -q " $(realpath "$LIBDX")\$" "/proc/$HOST/maps"
	check "and routes_reverse from the installed plugin dir" \
		grep -q "$(realpath "$PLUGINDIR")/routes_reverse\.so\$\|/dx-routes_reverse" \
		"/proc/$HOST/maps"

	run "$DX" call "$ADDR" reverse installed
	expect_rc 0 "the installed dx call reaches the out-of-tree route"
	expect_out '^dellatsni$' "routes_reverse answers its argument reversed"
	run "$DX" call "$ADDR" hello prefix
	expect_out '^hello, prefix!$' "routes_hello answers from the installed plugin dir"
	run "$DX" ctl --socket "$T/ctl.sock" plugins
	expect_rc 0 "the installed dx ctl plugins"
	expect_out "routes_reverse.*$(re_escape "$RPLUGINDIR")/routes_reverse\.so" \
		"the host loaded routes_reverse by name from the installed plugin dir"
	run "$DX" ctl --socket "$T/ctl.sock" drain
	expect_rc 0 "the installed dx ctl drain"
fi
set +e
for _ in $(seq 200); do
	kill -0 "$HOST" 2>/dev/null || break
	sleep 0.05
done
kill -0 "$HOST" 2>/dev/null && kill -TERM "$HOST"
wait "$HOST"
RC=$?
set -e
LAST_CMD="$HOSTEXE -m $T/m.json (after drain)"
ERR=$(cat "$T/log")
expect_rc 0 "the installed dx-host drains and exits 0"

finish
