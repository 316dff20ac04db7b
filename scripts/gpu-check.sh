#!/usr/bin/env bash
# The one command to run on a GPU machine (DESIGN.md, "Testing without and with a GPU").
#   scripts/gpu-check.sh OUT_DIR [STAGES]
# STAGES: a comma-separated subset of build,tests,sanitizer,benchmarks,classifier (default: all), so that
# a 10-minute command limit can take them one call each on a machine kept warm in between.
# Stages, each well under 10 minutes on a 16-core H100/H200 machine:
#   1. environment: the GPU, driver, nvcc, cuDNN and cuBLAS found there;
#   2. build from source for sm_90 (GoogleTest and Google Benchmark from .gpu-carry/, made by
#      scripts/gpu-carry.sh on the build machine);
#   3. every test with RNNX_REQUIRE_GPU=1 (a GPU test that cannot find the GPU fails);
#   4. compute-sanitizer memcheck and racecheck over the GPU tests (suites named Gpu*), synccheck
#      over gpu_persistent's;
#   5. the benchmarks, as JSON;
#   6. the seed classifier (examples/) for one epoch of Fashion-MNIST on each GPU engine that
#      trains, appended to bench.txt (samples/s and test accuracy);
# then a summary table (device, date, commit, each stage's result). Logs go to OUT_DIR; at most
# 8 files, as the device tool returns.
set -uo pipefail
out=${1:?usage: scripts/gpu-check.sh OUT_DIR [build,tests,sanitizer,benchmarks,classifier]}
wanted=${2:-all}
mkdir -p "$out"
root=$(cd "$(dirname "$0")/.." && pwd)
carry="$root/.gpu-carry"
build=${RNNX_GPU_BUILD_DIR:-$root/build-gpu}
jobs=$(nproc)
declare -A result
stages=(environment build tests sanitizer benchmarks classifier)

stage() { printf '\n== %s\n' "$*"; }
want() { [ "$wanted" = all ] || [[ ",$wanted," == *",$1,"* ]]; }
built() { [ -x "$build/tests/test_api" ]; }

# --- 1. environment --------------------------------------------------------------------------
stage "environment" | tee "$out/env.txt"
{
  date -u '+date: %Y-%m-%d %H:%M UTC'
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 || echo "nvidia-smi: not available"
  nvcc --version 2>&1 | tail -1
  cmake --version | head -1
} | tee -a "$out/env.txt"
device=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
device=${device:-"no GPU found"}

# cuDNN and cuBLAS: the toolkit's if it has them, else PyTorch's pip packages. The hints are
# environment variables, so that the package test's consumer project finds them too.
py_nvidia=$(python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]) + "/nvidia")' 2>/dev/null || true)
cuda_root=$(dirname "$(dirname "$(command -v nvcc)")" 2>/dev/null || echo /usr/local/cuda)
if [ ! -e "$cuda_root/include/cudnn.h" ] && [ -n "$py_nvidia" ] && [ -d "$py_nvidia/cudnn" ]; then
  export CUDNN_ROOT="$py_nvidia/cudnn"
  export LD_LIBRARY_PATH="$py_nvidia/cudnn/lib:${LD_LIBRARY_PATH:-}"
fi
if ! ls "$cuda_root"/lib64/libcublas.so* >/dev/null 2>&1 && [ -n "$py_nvidia" ]; then
  for d in "$py_nvidia/cu13" "$py_nvidia/cublas"; do
    if ls "$d"/lib/libcublas.so* >/dev/null 2>&1; then
      export CUBLAS_ROOT="$d"
      export LD_LIBRARY_PATH="$d/lib:${LD_LIBRARY_PATH:-}"
      break
    fi
  done
fi
echo "library hints: CUDNN_ROOT=${CUDNN_ROOT:-} CUBLAS_ROOT=${CUBLAS_ROOT:-}" | tee -a "$out/env.txt"
result[environment]="$device"

# oneDNN and OpenBLAS for the cpu engine, carried compressed (scripts/gpu-carry.sh).
if [ -f "$carry/cpu-libs.tar.xz" ]; then
  deps=/tmp/rnnx-deps
  mkdir -p "$deps" && tar -xJf "$carry/cpu-libs.tar.xz" -C "$deps"
  export DNNL_ROOT="$deps/usr" OPENBLAS_ROOT="$deps/usr"
  export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$deps/usr/lib/x86_64-linux-gnu:$deps/usr/lib/x86_64-linux-gnu/openblas-pthread"
  export ZLIB_ROOT="$deps/usr"
  echo "cpu libraries and zlib: unpacked into $deps (DNNL_ROOT, OPENBLAS_ROOT, ZLIB_ROOT)" | tee -a "$out/env.txt"
fi
# Fashion-MNIST for the classifier's tests and stage 6.
if [ -d "$carry/fashion-mnist" ]; then
  export RNNX_SEED_DATA="$carry/fashion-mnist"
fi

# --- 2. build --------------------------------------------------------------------------------
bench_args=(-DRNNX_BUILD_BENCH=OFF)
if [ -d "$carry/benchmark" ]; then
  bench_args=(-DRNNX_BUILD_BENCH=ON "-Dbenchmark_DIR=$carry/benchmark/lib/x86_64-linux-gnu/cmake/benchmark")
  export LD_LIBRARY_PATH="$carry/benchmark/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
fi
gtest_args=()
if [ -d "$carry/googletest" ]; then
  gtest_args=("-DRNNX_GTEST_SOURCE_DIR=$carry/googletest")
fi
if ! want build; then
  result[build]="not asked for"
elif stage "build (sm_90, $jobs jobs)" && cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
     -DRNNX_WERROR=ON "${gtest_args[@]}" "${bench_args[@]}" >"$out/build.log" 2>&1 &&
   cmake --build "$build" --parallel "$jobs" >>"$out/build.log" 2>&1; then
  result[build]="ok"
else
  result[build]="FAILED (build.log)"
  tail -30 "$out/build.log"
fi

# --- 3. tests --------------------------------------------------------------------------------
if ! want tests; then
  result[tests]="not asked for"
elif stage "tests (RNNX_REQUIRE_GPU=1)" && built; then
  RNNX_REQUIRE_GPU=1 ctest --test-dir "$build" --output-on-failure --parallel 8 --timeout 500 \
    >"$out/tests.log" 2>&1
  rc=$?
  summary=$(grep -E 'tests passed|tests failed' "$out/tests.log" | tail -1)
  result[tests]="$([ $rc -eq 0 ] && echo ok || echo FAILED): ${summary:-no summary (tests.log)}"
  tail -15 "$out/tests.log"
else
  result[tests]="not run (no build)"
fi

# --- 4. compute-sanitizer over the GPU tests -------------------------------------------------
# Under the sanitizer each cuBLAS call is instrumented: a representative subset of the GPU tests
# keeps this stage under 10 minutes (RNNX_SANITIZER_FILTER overrides it).
filter=${RNNX_SANITIZER_FILTER:-'GpuDevice*:GpuEngines*:GpuCudnn.*:Matrix/GpuMatrix.Float32*:Matrix/GpuCudnnMatrix.Float32MatchesReference/standard*:GpuPersistent.SeveralUnitsPerBlock:GpuPersistent.RunToRunIdentical:Half/GpuPersistentHalf.TensorCorePathRunToRunIdentical*-GpuEngines.TwoThousandSteps'}
if ! want sanitizer; then
  result[sanitizer]="not asked for"
elif stage "compute-sanitizer memcheck, racecheck, synccheck ($filter)" && built &&
     command -v compute-sanitizer >/dev/null; then
  : >"$out/sanitizer.log"
  sanitizer_ok=1
  for bin in "$build"/tests/test_*; do
    [ -x "$bin" ] || continue
    # Only binaries that hold GPU tests.
    "$bin" --gtest_list_tests --gtest_filter="$filter" 2>/dev/null | grep -q '^  ' || continue
    # synccheck where the grid barriers and block syncs are (gpu_persistent), to fit 10 minutes.
    tools="memcheck racecheck"
    [ "$(basename "$bin")" = test_persistent_engine ] && tools="$tools synccheck"
    for tool in $tools; do
      echo "--- $tool $(basename "$bin")" >>"$out/sanitizer.log"
      if ! RNNX_REQUIRE_GPU=1 timeout 280 compute-sanitizer --tool "$tool" --error-exitcode 99 \
           "$bin" --gtest_filter="$filter" --gtest_brief=1 >>"$out/sanitizer.log" 2>&1; then
        sanitizer_ok=0
      fi
    done
  done
  result[sanitizer]=$([ $sanitizer_ok -eq 1 ] && echo "ok (memcheck, racecheck, synccheck)" || echo "FAILED (sanitizer.log)")
  tail -5 "$out/sanitizer.log"
else
  result[sanitizer]="not run (no build or no compute-sanitizer)"
fi

# --- 5. benchmarks ---------------------------------------------------------------------------
if ! want benchmarks; then
  result[benchmarks]="not asked for"
elif stage "benchmarks" && [ -x "$build/bench/rnnx_bench" ]; then
  # RNNX_BENCH_SET picks what fits one 10-minute call: quick (default), or one suite (seed,
  # latency, deepbench, unroll, floor, cpu); RNNX_BENCH_FILTER overrides it with a regex.
  case "${RNNX_BENCH_SET:-quick}" in
    quick) preset='^(floor/|latency/[^/]+/lstm/H:(256|1024)/B:(1|16)/|unroll/[^/]+/lstm/H:128/B:1/.*f32|seed/(gpu_dynamic|gpu_static|cudnn)/lstm/)' ;;
    cpu) preset='^cpu/(cpu|onednn|sgemm)/' ;;
    *) preset="^${RNNX_BENCH_SET}/" ;;
  esac
  filter=${RNNX_BENCH_FILTER:-$preset}
  if timeout 480 "$build/bench/rnnx_bench" --benchmark_filter="$filter" \
       --benchmark_out="$out/bench.json" --benchmark_out_format=json >"$out/bench.txt" 2>&1; then
    result[benchmarks]="ok (bench.json, set ${RNNX_BENCH_SET:-quick})"
  else
    result[benchmarks]="FAILED or timed out (bench.txt)"
  fi
  # PyTorch's LSTM/GRU on the same GPU, in the same units (bench/torch_peer.py).
  if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    timeout 200 python3 "$root/bench/torch_peer.py" --out "$out/torch.json" >>"$out/bench.txt" 2>&1 ||
      echo "torch_peer.py failed (bench.txt)"
  fi
  tail -25 "$out/bench.txt"
else
  result[benchmarks]="not run (no benchmark build: scripts/gpu-carry.sh brings Google Benchmark)"
fi

# --- 6. the seed classifier ------------------------------------------------------------------
if ! want classifier; then
  result[classifier]="not asked for"
elif stage "seed classifier, 1 epoch of Fashion-MNIST per engine" && [ -x "$build/examples/seed_classifier" ]; then
  classifier_ok=1
  for engine in cudnn gpu_dynamic gpu_static cpu; do
    echo "--- seed_classifier --engine $engine" >>"$out/bench.txt"
    timeout 150 "$build/examples/seed_classifier" --model lstm --epochs 1 --progress 0 \
      --engine "$engine" --data "${RNNX_SEED_DATA:-/usr/share/datasets/fashion-mnist}" \
      >>"$out/bench.txt" 2>&1 || classifier_ok=0
  done
  result[classifier]=$([ $classifier_ok -eq 1 ] && echo "ok (bench.txt)" || echo "FAILED (bench.txt)")
  grep -E '^(---|done)' "$out/bench.txt" | tail -8
else
  result[classifier]="not run (no build)"
fi

# --- summary ---------------------------------------------------------------------------------
{
  echo
  echo "rnnx GPU check"
  grep -E '^(date|commit):' "$out/env.txt"
  printf '%-12s %s\n' "stage" "result"
  for s in "${stages[@]}"; do printf '%-12s %s\n' "$s" "${result[$s]}"; done
} | tee "$out/summary.txt"

for s in build tests sanitizer classifier; do
  case "${result[$s]}" in ok* | "not asked for") ;; *) exit 1 ;; esac
done
exit 0
