#!/usr/bin/env bash
# Builds the API documentation with Doxygen (installed first when missing) into <build>/docs/html.
#   LOKIQT_BUILD_DIR   build folder (default: build)
#   LOKIQT_WERROR=ON   any Doxygen warning (an undocumented public symbol, a broken command) fails it (CI)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/deps.sh doxygen

build="${LOKIQT_BUILD_DIR:-build}"
cmake -S . -B "$build" -G Ninja -DLOKIQT_WARNINGS_AS_ERRORS="${LOKIQT_WERROR:-OFF}" >/dev/null
cmake --build "$build" --target docs
echo "API documentation: $build/docs/html/index.html"
