#!/usr/bin/env bash
# ThreadSanitizer over the cpu engine's threaded tests (tests/test_cpu_threads.cpp,
# CpuEngineThreads.*: LSTM, GRU and RNN, float32 and float64, 1, 2 and 4 threads, inference and
# training, and two plans used at once from two threads). Builds test_cpu_engine (and the
# sanitizer canary) with clang 14 and RNNX_SANITIZE=thread, CPU-only, warnings as errors, in
# build-tsan, kept between runs; then
#   1. runs the canary's planted data race (tests/sanitizers/canary.cpp data-race) with the same
#      options and suppressions and requires TSan's report, so that neither a build that lost
#      -fsanitize=thread nor options that hide races can pass;
#   2. runs the threaded tests with ctest, halting at the first report.
# Fails on any ThreadSanitizer report, a failed test, no test run, or OpenMP's TSan support
# (Archer) not loaded. Prints how long configure, build and tests took: about 1 minute from an
# empty build folder on 2 cores (configure 2 s, build 51 s, tests 7 s, with other work running
# beside it), plus apt-get where packages are missing; the tests alone take under 10 s.
#
# Why clang and libomp: the engine's threads are OpenMP's. GCC's libgomp is not instrumented for
# TSan and gives false reports; LLVM's libomp (which CMake's FindOpenMP takes with clang, and
# which also runs oneDNN's parallel regions) comes with Archer, which tells TSan about OpenMP's
# synchronization (OMP_TOOL_LIBRARIES). oneDNN and OpenBLAS are not instrumented either: the
# reports their hidden hand-overs would give are kept out by ignore_noninstrumented_modules=1
# (tests/sanitizers/tsan.supp says why that hides nothing of rnnx's, and holds the suppressions,
# each with its reason; there are none now).
#
# Debian 12 packages it needs (installed with apt-get when missing, as scripts/common.sh does):
#   clang-14 libclang-rt-14-dev  (clang++-14 and its ThreadSanitizer runtime)
#   libomp-14-dev                (LLVM's OpenMP runtime and Archer, libarcher.so)
#   llvm-14                      (llvm-symbolizer, for reports with file and line)
#   cmake ninja-build libgtest-dev libdnnl-dev libopenblas-dev  (the build and the test)
#
# Usage: scripts/tsan.sh [extra ctest args...]
# Environment: RNNX_TSAN_BUILD_DIR (build-tsan at the root); RNNX_TSAN_TESTS, the ctest regex
# of the tests to run (default '^CpuEngineThreads\.'): all 38 of test_cpu_engine are
#   RNNX_TSAN_TESTS='^(CpuEngine(Threads)?\.|CpuTiledRecurrence\.|CpuPackedGemm\.|Notebook/CpuSeedModels\.)'
#   (about 3 minutes here).
set -euo pipefail
source "$(dirname "$0")/common.sh"

BUILD=${RNNX_TSAN_BUILD_DIR:-$RNNX_ROOT/build-tsan}
TESTS=${RNNX_TSAN_TESTS:-'^CpuEngineThreads\.'}
LLVM_DIR=/usr/lib/llvm-14
ARCHER=$LLVM_DIR/lib/libarcher.so
SUPPRESSIONS=$RNNX_ROOT/tests/sanitizers/tsan.supp

install_missing_packages clang-14 libclang-rt-14-dev libomp-14-dev llvm-14 cmake ninja-build \
  libgtest-dev libdnnl-dev libopenblas-dev
[ -f "$ARCHER" ] || { echo "no $ARCHER (Debian's libomp-14-dev has it)" >&2; exit 1; }

start_all=$SECONDS
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
log "configuring the ThreadSanitizer build (clang++-14, libomp, CPU-only) in $BUILD"
# Only what test_cpu_engine needs: no CLI, benchmarks, examples or Python.
cmake -S "$RNNX_ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_COMPILER=$(command -v clang++-14)" "${launcher[@]}" -DRNNX_CUDA=OFF \
  -DRNNX_SANITIZE=thread -DRNNX_WERROR=ON -DRNNX_BUILD_CLI=OFF -DRNNX_BUILD_BENCH=OFF \
  -DRNNX_BUILD_EXAMPLES=OFF -DRNNX_BUILD_PYTHON=OFF >/dev/null
configure_seconds=$((SECONDS - start_all))

log "building test_cpu_engine and sanitizer_canary"
start=$SECONDS
cmake --build "$BUILD" --parallel "$(nproc)" --target test_cpu_engine sanitizer_canary
build_seconds=$((SECONDS - start))

# The OpenMP runtime must be LLVM's, for Archer: clang's FindOpenMP result. ldd's output goes
# through a variable, not a pipe: grep -q quitting at its first match can end ldd with SIGPIPE,
# and pipefail then reads the pipe as failed (CI's clean machine did, at 78cabc6).
linked=$(ldd "$BUILD/tests/test_cpu_engine")
if ! grep -q "$LLVM_DIR/lib/libomp" <<<"$linked"; then
  echo "test_cpu_engine is not linked with $LLVM_DIR/lib/libomp.so:" >&2
  printf '%s\n' "$linked" >&2
  exit 1
fi

export OMP_TOOL_LIBRARIES=$ARCHER
export ARCHER_OPTIONS=verbose=1  # its "Archer detected OpenMP application" line proves it loaded
tsan_options=(halt_on_error=1 second_deadlock_stack=1 ignore_noninstrumented_modules=1
              "suppressions=$SUPPRESSIONS" "external_symbolizer_path=$LLVM_DIR/bin/llvm-symbolizer")
TSAN_OPTIONS=$(IFS=:; echo "${tsan_options[*]}")
export TSAN_OPTIONS

log "checking that a planted data race is reported (sanitizer_canary data-race)"
if canary=$("$BUILD/tests/sanitizer_canary" data-race 2>&1); then
  printf '%s\n' "$canary" >&2
  echo "sanitizer_canary data-race ran to the end: ThreadSanitizer did not stop it" >&2
  exit 1
fi
if ! grep -q "WARNING: ThreadSanitizer: data race" <<<"$canary" ||
   ! grep -q "canary.cpp:" <<<"$canary"; then
  printf '%s\n' "$canary" >&2
  echo "sanitizer_canary data-race failed without ThreadSanitizer's report of its race" >&2
  exit 1
fi
echo "reported, as it must be"

log "running the tests matching $TESTS under ThreadSanitizer (Archer: $ARCHER)"
start=$SECONDS
status=0
ctest --test-dir "$BUILD" -R "$TESTS" --no-tests=error --output-on-failure "$@" || status=$?
test_seconds=$((SECONDS - start))

# Every test's output, passed or failed: no report may hide in a test that still passed, and
# Archer must have loaded (it says so in each process that starts OpenMP; a test that never
# does, such as one that checks an error, says nothing).
test_log=$BUILD/Testing/Temporary/LastTest.log
reports=$(grep -cE '(WARNING|ERROR|SUMMARY): ThreadSanitizer|==[0-9]+==ThreadSanitizer' \
  "$test_log" || true)
tests_run=$(grep -c '^[0-9]*/[0-9]* Testing: ' "$test_log" || true)
archer_loaded=$(grep -c 'Archer detected OpenMP application with TSan' "$test_log" || true)
echo "tests run: $tests_run; ThreadSanitizer lines in their output: $reports; processes with" \
  "Archer: $archer_loaded"
if [ "$reports" -gt 0 ]; then
  grep -E '(ERROR|SUMMARY): ThreadSanitizer|==[0-9]+==ThreadSanitizer' "$test_log" >&2
  status=1
fi
if [ "$tests_run" -eq 0 ]; then
  echo "no test ran" >&2
  status=1
elif [ "$archer_loaded" -eq 0 ]; then
  echo "Archer ($ARCHER) did not load: OpenMP's synchronization was unknown to TSan" >&2
  status=1
fi

log "ThreadSanitizer: configure ${configure_seconds} s, build ${build_seconds} s, tests" \
  "${test_seconds} s, total $((SECONDS - start_all)) s"
if [ "$status" -ne 0 ]; then
  echo "FAILED (ctest's log: $test_log)" >&2
fi
exit "$status"
