#!/usr/bin/env bash
# deps.sh - install the Debian 12 packages dx builds and tests with.
#
# usage: scripts/deps.sh            install only what is missing (no network
#                                   when nothing is)
#        scripts/deps.sh --always   apt-get update + install everything (CI)
#        scripts/deps.sh --build    only what is missing to build and run dx,
#                                   none of TEST_ONLY (scripts/setup.sh)
#
# Runs apt-get as root, or through sudo when not root.
set -euo pipefail

PACKAGES=(
	build-essential # cc, make, nm
	meson
	ninja-build
	pkg-config
	libcjson-dev # manifest parsing
	check        # unit tests
	libjwt-dev   # mw_auth (later issues)
	libpq-dev    # db_teleport (later issues)
	postgresql   # db_teleport tests: a throwaway server (initdb, pg_ctl)
	liburing-dev # io_uring backend (later issues)
	liblz4-dev   # HBTP COMPRESSED frames (later issues)
	liburcu-dev  # lock-free registry reads (later issues)
	libgit2-dev  # forge traffic manager: three-way merges
	openssl      # mw_auth tests make RSA and EC keys with it
	libcurl4-openssl-dev # forge sync: S3 uploads, SigV4 signing
	libssl-dev           # forge tasks: SHA-256 (libcrypto)
	clang-14             # fuzz targets (tests/fuzz, scripts/fuzz.sh)
	libclang-rt-14-dev   # libclang_rt.fuzzer: -fsanitize=fuzzer
	scdoc                # man pages: docs/man/*.scd to roff at build time
	man-db               # the man page check: man --warnings (docs/man)
	libsystemd-dev       # dx-host: sd_notify and socket activation (sd-daemon)
	systemd              # tests/ops: systemd-socket-activate (no systemd as PID 1 needed)
	libmicrohttpd-dev    # metrics.listen's HTTP server
	prometheus           # tests/integration/metrics.sh: promtool and a real server
	gcc-mingw-w64-x86-64 wine wine64 # scripts/test-windows.sh: cross build, run under wine
)

# The forge sync test runs s3rver, installed from the npm registry. Debian's
# nodejs + npm, unless a node and npm are there already (NodeSource's nodejs
# bundles npm and conflicts with Debian's npm package).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	PACKAGES+=(nodejs npm)
fi

# Needed only by the tests, not to build or run dx: `--build` (the README's
# first command, through setup.sh) leaves them out, so trying dx installs
# no PostgreSQL server, compiler toolchain or node.
TEST_ONLY=(check postgresql openssl clang-14 libclang-rt-14-dev nodejs npm
	man-db systemd prometheus gcc-mingw-w64-x86-64 wine wine64)

always=0
case "${1:-}" in
--always) always=1 ;;
--build)
	build=()
	for p in "${PACKAGES[@]}"; do
		case " ${TEST_ONLY[*]} " in
		*" $p "*) ;;
		*) build+=("$p") ;;
		esac
	done
	PACKAGES=("${build[@]}")
	;;
"") ;;
*) echo "usage: $0 [--always | --build]" >&2; exit 2 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ "$always" -eq 0 ] && [ "${#missing[@]}" -eq 0 ]; then
	echo "deps: all ${#PACKAGES[@]} packages are installed"
	exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null; then
		SUDO=(sudo)
	else
		echo "deps: need root (or sudo) to install: ${missing[*]}" >&2
		exit 1
	fi
fi

if [ "$always" -eq 1 ]; then
	install=("${PACKAGES[@]}")
else
	install=("${missing[@]}")
	echo "deps: installing ${install[*]}"
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" apt-get install -y --no-install-recommends "${install[@]}"
