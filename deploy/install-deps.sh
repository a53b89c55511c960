#!/usr/bin/env bash
# Installs tessera's build and test dependencies from Debian's packages.
# Safe to re-run: it skips apt entirely when everything is already installed.
set -euo pipefail

PACKAGES=(
  cmake g++ make pkg-config
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
  libgoogle-glog-dev libprotobuf-dev protobuf-compiler
  libopenmpi-dev openmpi-bin libzmq3-dev cppzmq-dev nlohmann-json3-dev
  gnuplot-nox
  clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
