#!/usr/bin/env bash
# The README's main job: installs what is missing, builds, and runs the toolkit on a bundled clip.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
mkdir -p out
build/waveglow info --config models/config-16k.json
build/waveglow mel audio/tt-weasels.wav --config models/config-16k.json -o out/tt-weasels.mel.npy
echo "demo: the log-mel of audio/tt-weasels.wav is in out/tt-weasels.mel.npy"
