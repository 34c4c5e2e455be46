#!/usr/bin/env bash
# Builds lokiqt and runs its whole test suite. Installs the Debian packages it needs first.
#   LOKIQT_BUILD_DIR   build folder (default: build)
#   LOKIQT_WERROR=ON   compile lokiqt's own targets with -Werror (CI does)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/deps.sh

build="${LOKIQT_BUILD_DIR:-build}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLOKIQT_WARNINGS_AS_ERRORS="${LOKIQT_WERROR:-OFF}" -DLOKIQT_BUILD_TESTS=ON
cmake --build "$build" --parallel
ctest --test-dir "$build" --output-on-failure --timeout 600
