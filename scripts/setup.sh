#!/usr/bin/env bash
# setup.sh - install what is missing and build dx into build/.
#
# usage: scripts/setup.sh
#   then: build/host/dx-host -m examples/hello.json
#
# examples/hello.json finds its plugins in ../build/plugins, i.e. here.
# DX_BUILD_DIR overrides the build directory (default: build).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${DX_BUILD_DIR:-build}

# What building needs, not what the tests need (scripts/test.sh has those).
scripts/deps.sh --build
if [ ! -f "$BUILD/build.ninja" ]; then
	# nofallback: on Debian 12 every dependency is a system package; never
	# reach for subprojects/ (they would need the network).
	meson setup "$BUILD" --wrap-mode=nofallback
fi
meson compile -C "$BUILD"
echo "setup: built into $BUILD/; run: $BUILD/host/dx-host -m examples/hello.json"
