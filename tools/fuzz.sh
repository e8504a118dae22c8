#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for SECONDS (default 30) on a
# copy of its committed seed corpus in fuzz/corpus/, as many at once as there are cores.
# Any crash, leak or sanitizer report fails the run; the reproducer is left in the work folder.
#   tools/fuzz.sh [SECONDS] [TARGET...]     targets: safetensors npy config audio datalist cli
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(safetensors npy config audio datalist cli)
build=${WG_FUZZ_BUILD:-build-fuzz}
CC=clang cmake -S . -B ${build} -DCMAKE_BUILD_TYPE=Debug -DWG_BUILD_FUZZERS=ON -DWG_BUILD_TESTS=OFF \
  -DWG_BUILD_SHARED=OFF >/dev/null
cmake --build ${build} -j "$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null
work=$(mktemp -d /tmp/wgfuzz.XXXXXX)
root=$PWD
export LSAN_OPTIONS=suppressions=$PWD/tools/lsan.supp
status=0
run_one() {
  local t=$1
  mkdir -p "$work/$t"
  cp fuzz/corpus/"$t"/* "$work/$t/"
  local quiet=()
  [ "$t" = cli ] && quiet=(-close_fd_mask=3) # the commands print; libFuzzer's own report stays
  (cd "$work" && "$root/${build}/fuzz_$t" -max_total_time="$secs" -max_len=65536 -timeout=20 \
     -rss_limit_mb=3072 -artifact_prefix="$work/$t-" "${quiet[@]}" "$work/$t" >"$work/$t.log" 2>&1)
}
pids=()
for t in "${targets[@]}"; do
  run_one "$t" & pids+=($!)
  while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do sleep 1; done
done
for i in "${!pids[@]}"; do
  t=${targets[$i]}
  if wait "${pids[$i]}"; then
    echo "fuzz_$t: $(grep -E '^#[0-9]+.*DONE' "$work/$t.log" | sed 's/ *lim:.*exec/, exec/' || true) (${secs} s, no finding)"
  else
    echo "fuzz_$t: FAILED; log and reproducer in $work ($t.log)"; tail -30 "$work/$t.log"; status=1
  fi
done
[ $status -eq 0 ] && rm -rf "$work"
exit $status
