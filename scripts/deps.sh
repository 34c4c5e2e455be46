#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages that building lokiqt needs, when any is missing.
# Sourced by test.sh and demo.sh; runs apt-get as root, or through sudo.
set -euo pipefail

# qmake6 and make: the qmake consumer tests; dpkg-dev: dpkg-shlibdeps for the Debian packages (package.sh);
# binutils: nm for the exported-symbols tests.
lokiqt_packages=(g++ cmake ninja-build pkg-config qt6-base-dev libgl-dev libsnappy-dev zlib1g-dev
    libprotobuf-dev protobuf-compiler openssl qmake6 make dpkg-dev binutils)
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
