#!/usr/bin/env bash
# Installs the Debian 12 packages waveglow.c needs to build, test and make its reference data.
# Idempotent: asks apt only for what is missing, so it is cheap to run before every build.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libsndfile1-dev libfftw3-dev portaudio19-dev libasound2-dev libjack-jackd2-dev libopenblas-dev
  libcmocka-dev libcjson-dev libsamplerate0-dev libxxhash-dev libcairo2-dev libopenmpi-dev openmpi-bin
  python3-numpy python3-torch python3-torchaudio ffmpeg clang libclang-rt-14-dev valgrind
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
