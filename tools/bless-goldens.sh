#!/usr/bin/env bash
# Re-blesses the golden files after an intended change of the synthesis: writes each golden
# anew with the current build, then shows what changed against the old one (git keeps it).
#   tools/bless-goldens.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
wg=${1:-build}/waveglow
[ -x "$wg" ] || { echo "bless-goldens: $wg not built (cmake --build ${1:-build})" >&2; exit 2; }
model=models/speech16k.safetensors  # the bundled model: re-bless whenever it is retrained
# tests/golden/NAME.seedS.wav: audio/NAME.wav vocoded with seed S (list kept in tests/golden/LIST)
while read -r name seed sigma; do
  [ -z "$name" ] || [ "${name:0:1}" = "#" ] && continue
  out=tests/golden/$name.seed$seed.wav
  old=$(mktemp --suffix=.wav)
  [ -f "$out" ] && cp "$out" "$old"
  "$wg" vocode --model "$model" "audio/$name.wav" -o "$out" --seed "$seed" --sigma "$sigma" --float -q
  if [ -s "$old" ]; then "$wg" compare "$old" "$out" | sed 's/^/  /' || true; fi
  echo "blessed $out"
  rm -f "$old"
done < tests/golden/LIST
"$wg" vocode --model "$model" audio/hello-world.wav -o examples/audio_regression/golden/hello-seed3.wav \
  --seed 3 --float -q
echo "blessed examples/audio_regression/golden/hello-seed3.wav"
