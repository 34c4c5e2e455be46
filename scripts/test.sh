#!/usr/bin/env bash
# Builds lokiqt and runs its whole test suite. Installs the Debian packages it needs first.
#   LOKIQT_BUILD_DIR   build folder (default: build)
#   LOKIQT_WERROR=ON   compile lokiqt's own targets with -Werror (CI does)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/deps.sh

build="${LOKIQT_BUILD_DIR:-build}"
# deps.sh installed Qt Qml and Quick: the QML module, the QML example and tst_qmlapp must be built and run
# (LOKIQT_BUILD_QML=ON fails the configure step without Qt Qml, instead of leaving them out).
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLOKIQT_WARNINGS_AS_ERRORS="${LOKIQT_WERROR:-OFF}" -DLOKIQT_BUILD_TESTS=ON -DLOKIQT_BUILD_QML=ON
cmake --build "$build" --parallel
if ! ctest --test-dir "$build" -N -R '^qmlapp$' | grep -q 'Total Tests: 1'; then
    echo "test.sh: the QML test (qmlapp) is not registered: is Qt Quick (qt6-declarative-dev) installed?" >&2
    exit 1
fi
ctest --test-dir "$build" --output-on-failure --timeout 600
