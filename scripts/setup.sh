#!/usr/bin/env bash
# Sets cnnc up on a Debian machine with Swift 6: installs the system packages it needs (only
# those missing; with sudo when not root), builds the release binary, and trains LeNet on the
# shipped MNIST for one epoch (prints the test accuracy, writes lenet.safetensors).
#   scripts/setup.sh              everything
#   scripts/setup.sh --packages   the system packages alone (what .ci/run uses)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v swift >/dev/null; then
  echo "error: swift is not on PATH; install Swift 6 first (https://www.swift.org/install/linux/)" >&2
  exit 1
fi

# libyaml (specs), zlib (gzip, .npz), libpng and libjpeg-turbo (image folders), Open MPI
# (multi-process training), iproute2 (the two-host MPI check's network namespaces), Graphviz
# (check --svg); for `cnnc compile`'s checks, GCC, the Cortex-M and 32-bit ARM Linux cross
# compilers and qemu-user (the ARM self-tests).
packages=(libyaml-dev zlib1g-dev libpng-dev libturbojpeg0-dev pkg-config libopenmpi-dev
  openmpi-bin iproute2 graphviz gcc gcc-arm-none-eabi gcc-arm-linux-gnueabihf
  libc6-dev-armhf-cross qemu-user)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}"
fi
[ "${1:-}" = "--packages" ] && exit 0

swift build -c release
.build/release/cnnc check Models/lenet.yaml
.build/release/cnnc run Models/lenet.yaml --train
