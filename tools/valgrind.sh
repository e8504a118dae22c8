#!/usr/bin/env bash
# valgrind memcheck on a vocode run (offline, and streamed with the denoiser) and a few training
# steps (loader thread, validation, checkpoints): any error or definite leak fails.
#   tools/valgrind.sh [BUILD_DIR]    (default: build-test-release)
set -euo pipefail
cd "$(dirname "$0")/.."
wg=${1:-build-test-release}/waveglow
[ -x "$wg" ] || { echo "valgrind.sh: $wg is not built" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
vg=(valgrind --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite -q)
model=tests/data/reference/tiny.model.safetensors
"$wg" mel --model "$model" audio/auth-thankyou.wav -o "$work/mel.npy" -q
"${vg[@]}" "$wg" vocode --model "$model" "$work/mel.npy" -o "$work/a.wav" -t 2 -q  # the synthesis team
"${vg[@]}" "$wg" vocode --model "$model" "$work/mel.npy" -o "$work/b.wav" -t 1 -q --stream --denoise 0.1
cat > "$work/train.json" <<'JSON'
{"train_config": {"batch_size": 2, "iters_per_checkpoint": 1, "validation_fraction": 0.3},
 "data_config": {"segment_length": 2048, "sampling_rate": 16000},
 "waveglow_config": {"n_mel_channels": 16, "n_flows": 4, "n_group": 8, "n_early_every": 2, "n_early_size": 2,
                     "WN_config": {"n_layers": 2, "n_channels": 8, "kernel_size": 3}}}
JSON
"${vg[@]}" "$wg" train --config "$work/train.json" --data audio --out "$work/run" --steps 2 -t 1 -q 2>/dev/null
echo "valgrind: vocode on 2 threads, vocode --stream --denoise and 2 training steps: no errors, no definite leaks"
