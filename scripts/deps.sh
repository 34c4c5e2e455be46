#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages that building lokiqt needs, when any is missing.
# Sourced by test.sh and demo.sh; runs apt-get as root, or through sudo.
set -euo pipefail

# qmake6 and make: the qmake consumer tests; dpkg-dev: dpkg-shlibdeps for the Debian packages (package.sh);
# binutils: nm for the exported-symbols tests.
lokiqt_packages=(g++ cmake ninja-build pkg-config qt6-base-dev libgl-dev libsnappy-dev zlib1g-dev
    libprotobuf-dev protobuf-compiler openssl qmake6 make dpkg-dev binutils)
# The QML module LokiQt, examples/qmlapp and tst_qmlapp: qt6-declarative-dev (Qt Qml and Quick, qmltyperegistrar),
# and the QML modules examples/qmlapp/Main.qml imports, found by trying: QtQuick, QtQuick.Controls (with
# QtQuick.Templates under its style), QtQuick.Layouts, and QtQml.WorkerScript, which QtQuick imports.
lokiqt_packages+=(qt6-declarative-dev qml6-module-qtquick qml6-module-qtquick-controls qml6-module-qtquick-templates
    qml6-module-qtquick-layouts qml6-module-qtqml-workerscript)
# lintian: the debian_lintian test checks the Debian packages of scripts/package.sh with it.
lokiqt_packages+=(lintian)
# tst_realloki starts the real Loki of ../shared/realloki when it exists beside the source tree (the project's
# CI machine): its start.sh needs curl, xz-utils (unpack.sh), openssl and nginx (the gateway). Installed here,
# after apt-get update, so that a clean machine has them: start.sh alone runs apt-get install without an
# update, which finds nothing on a machine whose package lists are empty.
lokiqt_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -f "$lokiqt_root/../shared/realloki/start.sh" ]; then
    lokiqt_packages+=(curl xz-utils)
    # nginx-light on Debian 12 (the gateway's nginx, as start.sh prefers it), nginx where it is gone.
    if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
        :
    elif apt-cache show nginx-light >/dev/null 2>&1 || ! apt-cache show nginx >/dev/null 2>&1; then
        lokiqt_packages+=(nginx-light)
    else
        lokiqt_packages+=(nginx)
    fi
fi
lokiqt_missing=()
for pkg in "${lokiqt_packages[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || lokiqt_missing+=("$pkg")
done
if [ "${#lokiqt_missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing: ${lokiqt_missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${lokiqt_missing[@]}" >/dev/null
fi
