#!/usr/bin/env bash
# route_ids.sh - the route ids dx keeps for itself (docs/writing-plugins.md,
# "Route ids"): `dx plugin ids` lists exactly what the shipped plugins in
# this build register, and `dx plugin inspect` warns about a third-party
# route in 1..1023, naming the shipped plugin it clashes with.
#
# usage (from meson test): route_ids.sh DX
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

DX=$(abs_exe "${1:?usage: route_ids.sh DX}")
TEST_PLUGINS=$DX_BUILD_ROOT/tests/plugins

run "$DX" plugin ids
expect_rc 0 "dx plugin ids"
expect_out '^0 \(the host.s route table\) is reserved' "0 is the host's"
expect_out '^1\.\.1023: the plugins shipped with dx' "1..1023 are dx's"
expect_out '^1024\.\.65535: third-party plugins' "1024..65535 are everyone's"
IDS=$OUT

# The table and the built plugins' descriptors agree, both ways.
nbuilt=0
for so in "$DX_PLUGINS"/*/*.so; do
	name=$(basename "$so" .so)
	run "$DX" plugin inspect "$so"
	expect_rc 0 "dx plugin inspect $name"
	expect_no_err . "inspect $name says nothing on stderr"
	expect_no_out '^warning:' "a shipped plugin ($name) is not warned about its own ids"
	while read -r id route; do
		nbuilt=$((nbuilt + 1))
		check "route $id $route of $name is in dx plugin ids" \
			grep -Eq "^  $id +$(re_escape "$route") +$name\$" <<<"$IDS"
		check "route $id of $name is in 1..1023" test "$id" -le 1023
	done < <(sed -n 's/^ *route \([0-9]*\) \([a-z0-9_.]*\).*/\1 \2/p' <<<"$OUT")
	# Every row of the table for this plugin is one of its routes.
	while read -r id route; do
		check "dx plugin ids' route $id $route is one $name registers" \
			grep -Eq "^ *route $id $(re_escape "$route")\b" <<<"$OUT"
	done < <(awk -v p="$name" '$3 == p {print $1, $2}' <<<"$IDS")
done
check "the shipped plugins built here register routes ($nbuilt)" \
	test "$nbuilt" -ge 3

# A third-party plugin on route 2 (examples/third_party, built here
# against this tree's headers) clashes with routes_echo's echo.
run cc -std=c11 -shared -fPIC -fvisibility=hidden \
	-I"$DX_SOURCE_ROOT/sdk/include" \
	"$DX_SOURCE_ROOT/examples/third_party/routes_reverse.c" \
	-o "$T/routes_reverse.so" -L"$DX_BUILD_ROOT/sdk" -ldx
expect_rc 0 "routes_reverse.so builds"
run "$DX" plugin inspect "$T/routes_reverse.so"
expect_rc 0 "inspect still succeeds: a manifest can move the route"
expect_out '^warning: route 2 reverse: clashes with shipped plugin routes_echo \(route 2 echo\); take an id in 1024\.\.65535, or move it in the manifest: "routes": \{"reverse": [0-9]+\}$' \
	"the clash names routes_echo's route and the way out"
# An id in dx's range that no shipped plugin uses is still dx's.
run "$DX" plugin inspect "$TEST_PLUGINS/route_clash_a.so"
expect_rc 0 "inspect route_clash_a.so"
expect_out '^warning: route 300 [a-z0-9_.]+: ids 1\.\.1023 are reserved for the plugins shipped with dx' \
	"an unused id below 1024 is flagged as reserved"
finish
