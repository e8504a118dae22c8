#!/usr/bin/env bash
# The README's main job: installs what is missing, builds, and vocodes a bundled clip with the
# bundled model (copy-synthesis: the clip's log-mel, then speech from it).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
mkdir -p out
model=models/speech16k.safetensors
build/waveglow info --model "$model"
build/waveglow mel audio/tt-weasels.wav --model "$model" -o out/tt-weasels.mel.npy
build/waveglow vocode --model "$model" out/tt-weasels.mel.npy -o out/tt-weasels.vocoded.wav --seed 1
build/waveglow compare audio/tt-weasels.wav out/tt-weasels.vocoded.wav || true # metrics, no thresholds
echo "demo: out/tt-weasels.vocoded.wav is audio/tt-weasels.wav resynthesised from its log-mel by $model"
