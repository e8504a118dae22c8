#!/usr/bin/env bash
# Builds the ~25-minute 16 kHz speech corpus (one professional speaker, Allison Smith) from
# Debian's asterisk-core-sounds-en-g722 package: downloads the .deb with apt-get, decodes every
# G.722 prompt with ffmpeg to 16 kHz mono PCM16 WAV under DEST, keeping the package's folders,
# and copies the licence (CC-BY-SA-3.0) beside them.
#
# usage: audio/fetch-corpus.sh DEST
set -euo pipefail

if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  echo "usage: $0 DEST   (decodes asterisk-core-sounds-en-g722 to 16 kHz WAV files in DEST)" >&2
  [ $# -eq 1 ] && exit 0 || exit 2
fi
dest=$1
for tool in apt-get dpkg-deb ffmpeg; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is missing (run tools/install-deps.sh)" >&2; exit 2; }
done
mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download asterisk-core-sounds-en-g722 >/dev/null 2>"$work/apt.log") || {
  echo "$0: apt-get download failed:" >&2; cat "$work/apt.log" >&2; exit 1; }
dpkg-deb -x "$work"/asterisk-core-sounds-en-g722_*.deb "$work/x"
src="$work/x/usr/share/asterisk/sounds/en_US_f_Allison"
[ -d "$src" ] || src=$(dirname "$(find "$work/x" -name '*.g722' | head -n 1)")
cp "$work/x/usr/share/doc/asterisk-core-sounds-en-g722/copyright" "$dest/COPYRIGHT"

decode() {  # $1 = source .g722, $2 = source root, $3 = destination root
  rel=${1#"$2"/}
  out="$3/${rel%.g722}.wav"
  mkdir -p "$(dirname "$out")"
  [ -s "$out" ] && return 0
  ffmpeg -nostdin -loglevel error -y -f g722 -i "$1" -ar 16000 -ac 1 -c:a pcm_s16le "$out.part.wav" &&
    mv "$out.part.wav" "$out"
}
export -f decode
find "$src" -name '*.g722' -print0 | xargs -0 -P "$(nproc)" -I{} bash -c 'decode "$1" "$2" "$3"' _ {} "$src" "$dest"
n=$(find "$dest" -name '*.wav' | wc -l)
secs=$(find "$dest" -name '*.wav' -printf '%s\n' | awk '{s += ($1 - 44) / 32000} END {printf "%.0f", s}')
echo "fetch-corpus: $n files, about $((secs / 60)) min $((secs % 60)) s of 16 kHz speech in $dest"
