#!/usr/bin/env bash
# Run here (the build machine) before using the GPU machine: copies what the GPU machine lacks
# into .gpu-carry/ (git-ignored), to be named in the device tool's `carry`:
#   GoogleTest's sources (built there with RNNX_GTEST_SOURCE_DIR) and Google Benchmark's headers,
#   library and CMake config (found there with benchmark_DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
carry="$root/.gpu-carry"
rm -rf "$carry"
mkdir -p "$carry/benchmark/include" "$carry/benchmark/lib/x86_64-linux-gnu/cmake"

cp -r /usr/src/googletest "$carry/googletest"
cp -r /usr/include/benchmark "$carry/benchmark/include/"
cp -a /usr/lib/x86_64-linux-gnu/libbenchmark.so* /usr/lib/x86_64-linux-gnu/libbenchmark_main.a \
  "$carry/benchmark/lib/x86_64-linux-gnu/"
cp -r /usr/lib/x86_64-linux-gnu/cmake/benchmark "$carry/benchmark/lib/x86_64-linux-gnu/cmake/"
du -sh "$carry"
