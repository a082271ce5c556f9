#!/bin/sh
# seed-manifest.sh - meson install script: copy the default manifest to
# SYSCONFDIR/dx/dx.json (the one dx-host.service runs) only when no
# manifest is there yet, so installing again never overwrites an
# operator's edits.
#
# usage (meson.add_install_script): seed-manifest.sh SRC DST
#   SRC and DST are the configured absolute paths; meson's DESTDIR, when
#   given, is prepended to both. It is taken from MESON_INSTALL_DESTDIR_PREFIX
#   (DESTDIR + prefix, always absolute) rather than DESTDIR, which may be
#   relative.
set -eu
destdir=${MESON_INSTALL_DESTDIR_PREFIX%"$MESON_INSTALL_PREFIX"}
src=$destdir$1
dst=$destdir$2
if [ -n "${MESON_INSTALL_DRY_RUN:-}" ]; then
	echo "would seed $dst from $src (if absent)"
	exit 0
fi
if [ -e "$dst" ]; then
	echo "Keeping $dst (already there)"
	exit 0
fi
mkdir -p "$(dirname "$dst")"
cp "$src" "$dst.tmp"
chmod 0644 "$dst.tmp"
mv "$dst.tmp" "$dst"
echo "Installing $dst (from $src)"
