#!/usr/bin/env bash
# The README's test command: installs what is missing, builds Release and an ASan+UBSan Debug
# build, and runs every test in both (ctest fails when no test ran).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
jobs=$(nproc)
for kind in release asan; do
  dir=build-test-$kind
  if [ $kind = release ]; then
    flags=(-DCMAKE_BUILD_TYPE=Release)
  else
    flags=(-DCMAKE_BUILD_TYPE=Debug -DWG_SANITIZE=ON)
  fi
  echo "== $kind build ($dir)"
  cmake -S . -B "$dir" "${flags[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs" >/dev/null
  echo "== $kind tests"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS=suppressions=$PWD/tools/lsan.supp \
    ctest --test-dir "$dir" --no-tests=error --output-on-failure -j "$jobs"
done
# ThreadSanitizer on the threaded parts it can see whole (the ring, parallel front ends)
echo "== tsan build (build-test-tsan)"
cmake -S . -B build-test-tsan -DCMAKE_BUILD_TYPE=Debug -DWG_SANITIZE_THREAD=ON >/dev/null
cmake --build build-test-tsan -j "$jobs" --target test_ring test_mel test_flow >/dev/null
echo "== tsan tests"
TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-test-tsan -L tsan --no-tests=error --output-on-failure
echo "== valgrind"
bash tools/valgrind.sh build-test-release
# libFuzzer smoke run: every parser target for 30 s from its committed seeds (tools/fuzz.sh)
echo "== fuzz smoke"
bash tools/fuzz.sh 30
