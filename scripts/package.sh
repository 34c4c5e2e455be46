#!/usr/bin/env bash
# Builds the Debian packages liblokiqt<SOVERSION> (the shared library, e.g. liblokiqt0.1 for liblokiqt.so.0.1)
# and liblokiqt-dev (headers, CMake and pkg-config files) with CPack, from a shared Release build of the library
# alone, installed under /usr and linked with -z relro -z now as Debian's hardened libraries are. Packages are
# made only from a shared build: a static lokiqt is for building it into an application (see README.md).
# Installs the Debian packages the build needs first (scripts/deps.sh; dpkg-shlibdeps comes with dpkg-dev).
#   LOKIQT_PACKAGE_BUILD_DIR   build folder (default: build-package)
#   LOKIQT_PACKAGE_DIR         where the .deb files go (default: <build folder>/packages)
#   LOKIQT_WERROR=ON           compile with -Werror
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/deps.sh

build="${LOKIQT_PACKAGE_BUILD_DIR:-build-package}"
out="${LOKIQT_PACKAGE_DIR:-$build/packages}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_SHARED_LIBS=ON \
    -DLOKIQT_WARNINGS_AS_ERRORS="${LOKIQT_WERROR:-OFF}" -DLOKIQT_BUILD_TESTS=OFF -DLOKIQT_BUILD_TOOLS=OFF \
    -DLOKIQT_BUILD_EXAMPLES=OFF -DLOKIQT_BUILD_BENCHMARKS=OFF -DLOKIQT_BUILD_QML=OFF \
    "-DCMAKE_SHARED_LINKER_FLAGS=-Wl,-z,relro -Wl,-z,now"
cmake --build "$build"
mkdir -p "$out"
# Only the packages of this run in the output folder, so that a test or a script never picks up an old one.
rm -f "$out"/liblokiqt*.deb "$out"/lokiqt_*.deb "$out"/lokiqt-dev_*.deb
cpack --config "$build/CPackConfig.cmake" -B "$(cd "$out" && pwd)"

# CPack gives a package with a library under /usr/lib a postinst and a postrm that only run ldconfig. The runtime
# package activates dpkg's ldconfig trigger instead (cmake/debian/triggers), as Debian's library packages do, so
# those two scripts are taken out again (lintian: maintscript-calls-ldconfig): only when they are exactly CPack's.
cpack_script() { printf '#!/bin/sh\n\nset -e\n\nif [ "$1" = "%s" ]; then\n\tldconfig\nfi\n' "$1"; }
for deb in "$out"/liblokiqt[0-9]*.deb; do
    unpacked=$(mktemp -d)
    dpkg-deb -R "$deb" "$unpacked/root"
    changed=no
    for script in postinst:configure postrm:remove; do
        file="$unpacked/root/DEBIAN/${script%%:*}"
        [ -f "$file" ] || continue
        if [ "$(cat "$file")" != "$(cpack_script "${script#*:}")" ]; then
            echo "package.sh: $(basename "$deb"): ${script%%:*} is not CPack's ldconfig script; left in:" >&2
            cat "$file" >&2
            continue
        fi
        rm "$file"
        changed=yes
    done
    if [ "$changed" = yes ]; then
        dpkg-deb --root-owner-group -Zgzip -b "$unpacked/root" "$deb" >/dev/null
    fi
    rm -rf "$unpacked"
done
ls -l "$out"/*.deb
