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
    -DLOKIQT_BUILD_EXAMPLES=OFF -DLOKIQT_BUILD_BENCHMARKS=OFF "-DCMAKE_SHARED_LINKER_FLAGS=-Wl,-z,relro -Wl,-z,now"
cmake --build "$build"
mkdir -p "$out"
# Only the packages of this run in the output folder, so that a test or a script never picks up an old one.
rm -f "$out"/liblokiqt*.deb "$out"/lokiqt_*.deb "$out"/lokiqt-dev_*.deb
cpack --config "$build/CPackConfig.cmake" -B "$(cd "$out" && pwd)"
ls -l "$out"/*.deb
