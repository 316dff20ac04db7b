#!/usr/bin/env bash
# The one command to run on a GPU machine (DESIGN.md, "Testing without and with a GPU"):
#   scripts/gpu-check.sh OUT_DIR [STAGES]
# run through the device tool as ONE call, with .gpu-carry in `carry` (made here by
# scripts/gpu-carry.sh) and $OUT as OUT_DIR. STAGES: a comma-separated subset of
# build,gpu-tests,classifier,benchmarks,python,sanitizer,cpu-tests (default: all; the environment stage
# always runs).
#
# The whole check keeps one deadline, RNNX_GPU_CHECK_SECONDS (default 560, inside the device
# tool's 10-minute command limit). Stages run in order of the evidence they give: each runs under
# `timeout` of the time it may take (its cap, or what is left before the deadline if that is
# less), a stage that would get less than its minimum is reported as not reached, and
# OUT_DIR/summary.txt is rewritten after every stage, so a run cut short still returns what
# finished.
#
# Budget on one H200 with 16 cores. "here" = measured on the 2-core build machine (no GPU) on
# 2026-12-06; everything on a GPU is an estimate until a run replaces it with the stage times
# this script writes into summary.txt.
#   stage        cap    expected  basis
#   environment   30 s      10 s  here: unpacking the carried libraries 2 s; nvidia-smi, python
#   build        200 s      60 s  here: a clean configure and build (sm_90, 83 steps) took 81 s
#                                 on 2 cores (~155 core-s); on 16 cores ~20 s, plus GoogleTest
#                                 from source and configure (estimate)
#   gpu-tests    240 s     150 s  estimate: 115 GPU tests (ctest -R Gpu), 8 at a time; most take
#                                 1-2 s (a CUDA context, a cpu_reference run in float64), the
#                                 matrix tests loop over 60 models each (~10-30 s each)
#   classifier    75 s      45 s  estimate: 1 epoch of Fashion-MNIST per GPU engine that
#                                 trains (cudnn, gpu_dynamic, gpu_static), 25 s cap each
#   benchmarks   100 s      60 s  estimate: the quick set (~40 cases) at RNNX_BENCH_MIN_TIME=0.05,
#                                 RNNX_BENCH_REPETITIONS=3, then PyTorch's LSTM/GRU (40 s cap)
#   python       150 s      70 s  estimate: pip builds the package (the library compiled again,
#                                 ~30 s on 16 cores), then pytest tests/python (~20 s here)
#   sanitizer    rest       --   gpu_persistent first, then one test per engine; memcheck over
#                                 every kernel, racecheck/synccheck over rnnx's kernels only
#   cpu-tests    rest       --   here: 118 s on 2 cores (all 681 ctest tests, GPU ones
#                                 skipping); run only with 60 s left (CI runs them)
# Sum of the expected times: ~395 s before the sanitizer, leaving ~160 s for it.
#
# Files in OUT_DIR (the device tool returns at most 8): summary.txt, env.txt, build.log,
# tests.log, bench.txt, bench.json, torch.json, sanitizer.log.
set -uo pipefail
out=${1:?usage: scripts/gpu-check.sh OUT_DIR [build,gpu-tests,classifier,benchmarks,python,sanitizer,cpu-tests]}
wanted=${2:-all}
mkdir -p "$out"
root=$(cd "$(dirname "$0")/.." && pwd)
carry="$root/.gpu-carry"
build=${RNNX_GPU_BUILD_DIR:-$root/build-gpu}
jobs=$(nproc)
start=$(date +%s)
deadline=$((start + ${RNNX_GPU_CHECK_SECONDS:-560}))
# Scratch outside OUT_DIR, whose 8 files are spoken for.
scratch=$(mktemp -d /tmp/rnnx-gpu-check.XXXXXX)
identity="$scratch/identity.txt"
details_file="$scratch/details.txt"

stages=(environment build gpu-tests classifier benchmarks python sanitizer cpu-tests)
declare -A result seconds
for s in "${stages[@]}"; do result[$s]="pending"; done

left() { echo $((deadline - $(date +%s))); }
want() { [ "$wanted" = all ] || [[ ",$wanted," == *",$1,"* ]]; }
built() { [ -x "$build/tests/test_api" ]; }
log() { printf '\n== %s\n' "$*"; }

# budget CAP MIN: the seconds a stage may take now (its cap, or what is left if less); prints 0
# when less than MIN is left.
budget() {
  local cap=$1 min=$2 t
  t=$(left)
  [ "$t" -gt "$cap" ] && t=$cap
  [ "$t" -lt "$min" ] && t=0
  echo "$t"
}

write_summary() {
  {
    echo "rnnx GPU check"
    cat "$identity" 2>/dev/null
    echo "elapsed: $(($(date +%s) - start)) s of ${RNNX_GPU_CHECK_SECONDS:-560}"
    printf '%-12s %6s  %s\n' stage seconds result
    for s in "${stages[@]}"; do printf '%-12s %6s  %s\n' "$s" "${seconds[$s]:--}" "${result[$s]}"; done
    [ -s "$details_file" ] && { echo; cat "$details_file"; }
  } >"$out/summary.txt"
}

# run_stage NAME FUNCTION: times the stage and rewrites the summary after it.
run_stage() {
  local name=$1 fn=$2 t0
  if [ "$name" != environment ] && ! want "$name"; then
    result[$name]="not asked for"
    write_summary
    return
  fi
  log "$name ($(left) s left)"
  t0=$(date +%s)
  # Shown if the device tool's own limit kills the check inside this stage.
  result[$name]="running (cut off here?)"
  write_summary
  "$fn"
  seconds[$name]=$(($(date +%s) - t0))
  write_summary
}

details() { echo "$*" >>"$details_file"; }

# --- environment -----------------------------------------------------------------------------
stage_environment() {
  # nvcc as scripts/common.sh finds it.
  if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH=/usr/local/cuda/bin:$PATH
  fi
  local device mode
  {
    date -u '+date: %Y-%m-%d %H:%M UTC'
    # .git does not travel to the device: scripts/gpu-carry.sh wrote the commit, and the hash of
    # the files it saw, which tells whether this tree is still the one it described.
    if [ -f "$carry/commit.txt" ]; then
      grep -v '^tree:' "$carry/commit.txt"
      local carried now
      carried=$(sed -n 's/^tree: //p' "$carry/commit.txt")
      now=$(cd "$root" && tr '\n' '\0' <"$carry/files.txt" | xargs -0 sha1sum 2>/dev/null | sha1sum | cut -c1-12)
      if [ "$carried" = "$now" ]; then
        echo "tree: as carried ($now)"
      else
        echo "tree: CHANGED since scripts/gpu-carry.sh ($carried then, $now now): the commit line may not describe it"
      fi
    else
      echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo 'unknown (no .gpu-carry/commit.txt: run scripts/gpu-carry.sh)')"
    fi
  } >"$identity"
  {
    cat "$identity"
    timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap,compute_mode,clocks.sm,clocks.max.sm \
      --format=csv 2>&1 || echo "nvidia-smi: not available"
    echo "nvcc: $(nvcc --version 2>&1 | tail -1)"
    echo "gcc: $(gcc --version 2>&1 | head -1)"
    cmake --version | head -1
    timeout 60 python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -1
    echo "compute-sanitizer: $(timeout 20 compute-sanitizer --version 2>&1 | tail -1)"
  } >"$out/env.txt" 2>&1
  device=$(timeout 20 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
  mode=$(timeout 20 nvidia-smi --query-gpu=compute_mode --format=csv,noheader 2>/dev/null | head -1)
  echo "device: ${device:-no GPU found}" >>"$identity"

  # cuDNN and cuBLAS: the toolkit's where it has them, else PyTorch's pip packages. The hints are
  # environment variables, so that every CMake project of the check finds them.
  local py_nvidia cuda_root d
  py_nvidia=$(timeout 30 python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]) + "/nvidia")' 2>/dev/null || true)
  cuda_root=/usr/local/cuda
  command -v nvcc >/dev/null && cuda_root=$(dirname "$(dirname "$(command -v nvcc)")")
  if [ ! -e "$cuda_root/include/cudnn.h" ] && [ -n "$py_nvidia" ] && [ -d "$py_nvidia/cudnn" ]; then
    export CUDNN_ROOT="$py_nvidia/cudnn"
    export LD_LIBRARY_PATH="$py_nvidia/cudnn/lib:${LD_LIBRARY_PATH:-}"
  fi
  if ls "$cuda_root"/lib64/libcublas.so* >/dev/null 2>&1; then
    export LD_LIBRARY_PATH="$cuda_root/lib64:${LD_LIBRARY_PATH:-}"
  elif [ -n "$py_nvidia" ]; then
    for d in "$py_nvidia/cu13" "$py_nvidia/cublas"; do
      if ls "$d"/lib/libcublas.so* >/dev/null 2>&1; then
        export CUBLAS_ROOT="$d"
        export LD_LIBRARY_PATH="$d/lib:${LD_LIBRARY_PATH:-}"
        break
      fi
    done
  fi
  echo "library hints: CUDNN_ROOT=${CUDNN_ROOT:-} CUBLAS_ROOT=${CUBLAS_ROOT:-}" >>"$out/env.txt"

  # oneDNN, OpenBLAS and zlib for the cpu engine and the classifier, carried xz-compressed.
  if [ -f "$carry/cpu-libs.tar.xz" ]; then
    local deps=/tmp/rnnx-deps
    mkdir -p "$deps"
    if command -v xz >/dev/null; then
      tar -xJf "$carry/cpu-libs.tar.xz" -C "$deps"
    else  # tar needs xz for -J; Python's tarfile reads it without
      python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
        "$carry/cpu-libs.tar.xz" "$deps"
    fi
    export DNNL_ROOT="$deps/usr" OPENBLAS_ROOT="$deps/usr" ZLIB_ROOT="$deps/usr"
    export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$deps/usr/lib/x86_64-linux-gnu:$deps/usr/lib/x86_64-linux-gnu/openblas-pthread"
    echo "cpu libraries and zlib: unpacked into $deps" >>"$out/env.txt"
  fi
  [ -d "$carry/fashion-mnist" ] && export RNNX_SEED_DATA="$carry/fashion-mnist"
  cat "$out/env.txt"
  result[environment]="${device:-no GPU found}; compute mode ${mode:-unknown}"
  # Exclusive-process mode lets one process at a time use the GPU: parallel tests would fail.
  case "$mode" in
    *Exclusive_Process*) details "WARNING: compute mode $mode: GPU tests run one at a time" ;;
  esac
}

# --- build -----------------------------------------------------------------------------------
stage_build() {
  local t
  t=$(budget 200 60)
  if [ "$t" -eq 0 ]; then
    result[build]="not reached ($(left) s left)"
    return
  fi
  local bench_args=(-DRNNX_BUILD_BENCH=OFF) gtest_args=()
  if [ -d "$carry/benchmark" ]; then
    bench_args=(-DRNNX_BUILD_BENCH=ON "-Dbenchmark_DIR=$carry/benchmark/lib/x86_64-linux-gnu/cmake/benchmark")
    export LD_LIBRARY_PATH="$carry/benchmark/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
  fi
  [ -d "$carry/googletest" ] && gtest_args=("-DRNNX_GTEST_SOURCE_DIR=$carry/googletest")
  # No -Werror on a compiler rnnx has not been built with: a new warning must not cost the run.
  # One hung test must not take the call: 120 s per test.
  timeout -k 5 "$t" bash -c '
    cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
      -DRNNX_WERROR=OFF -DRNNX_TEST_TIMEOUT=120 -DRNNX_TEST_CPU_ONLY_BUILD=OFF "${@:4}" &&
    cmake --build "$2" --parallel "$3"' _ "$root" "$build" "$jobs" "${gtest_args[@]}" "${bench_args[@]}" \
    >"$out/build.log" 2>&1
  local rc=$? warnings
  warnings=$(grep -cE 'warning[: ]' "$out/build.log")
  if [ $rc -eq 0 ]; then
    result[build]="ok, $warnings warning lines (build.log)"
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    result[build]="TIMED OUT after $t s (build.log)"
  else
    result[build]="FAILED (build.log)"
    tail -30 "$out/build.log"
  fi
  if [ "$warnings" -gt 0 ]; then
    details "build warnings (first 5 of $warnings lines):"
    grep -E 'warning[: ]' "$out/build.log" | sort -u | head -5 >>"$details_file"
  fi
}

# ctest_stage NAME CAP MIN CTEST_ARGS...: ctest under the stage's budget; --stop-time lets ctest
# end cleanly, with its summary, before `timeout` would kill it.
ctest_stage() {
  local name=$1 cap=$2 min=$3 t
  shift 3
  t=$(budget "$cap" "$min")
  if [ "$t" -eq 0 ]; then
    result[$name]="not reached ($(left) s left)"
    return
  fi
  if ! built; then
    result[$name]="not run (no build)"
    return
  fi
  local log="$scratch/$name.log"
  echo "--- $name: ctest $* (${t} s)" >"$log"
  RNNX_REQUIRE_GPU=1 timeout -k 5 $((t + 10)) ctest --test-dir "$build" --output-on-failure \
    --stop-time "$(date -d "+$t seconds" +%H:%M:%S)" "$@" >>"$log" 2>&1
  local rc=$? line failed
  cat "$log" >>"$out/tests.log"
  line=$(grep -E 'tests passed|tests failed' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    result[$name]="ok: ${line:-no summary}"
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    result[$name]="TIMED OUT after $t s: ${line:-no summary} (tests.log)"
  else
    result[$name]="FAILED: ${line:-no summary} (tests.log)"
  fi
  # The failed tests by name, from ctest's closing list (after its summary line).
  failed=$(sed -n '/tests passed\|tests failed/,$p' "$log" |
    grep -E '^[[:space:]]+[0-9]+ - .*\((Failed|Timeout|Not Run|Exception|SEGFAULT)' | head -20)
  if [ -n "$failed" ]; then
    details "$name: failed tests (first 20):"
    details "$failed"
  fi
}

stage_gpu_tests() {
  ctest_stage gpu-tests 240 30 -R Gpu --parallel 8
}

# --- the seed classifier ---------------------------------------------------------------------
stage_classifier() {
  if ! built || [ ! -x "$build/examples/seed_classifier" ]; then
    result[classifier]="not run (no build)"
    return
  fi
  local ok=0 all=0 engine t rc
  for engine in cudnn gpu_dynamic gpu_static; do
    t=$(budget 25 10)
    [ "$t" -eq 0 ] && break
    all=$((all + 1))
    echo "--- seed_classifier --engine $engine --model lstm --epochs 1" >>"$out/bench.txt"
    timeout -k 5 "$t" "$build/examples/seed_classifier" --model lstm --epochs 1 --progress 0 \
      --engine "$engine" --data "${RNNX_SEED_DATA:-/usr/share/datasets/fashion-mnist}" \
      >>"$out/bench.txt" 2>&1
    rc=$?
    [ $rc -eq 0 ] && ok=$((ok + 1))
    [ $rc -eq 124 ] && echo "(timed out after $t s)" >>"$out/bench.txt"
  done
  result[classifier]="$ok of $all engines trained one epoch (bench.txt)"
  [ $all -lt 3 ] && result[classifier]+="; $((3 - all)) not reached"
  grep -E '^(---|done)' "$out/bench.txt" >>"$details_file"
}

# --- python: the Python package on the GPU (CUDA tensors, torch's streams) ---------------------
# pip builds the package (a second compile of the library, in the build folder's python/) into a
# scratch folder put first on PYTHONPATH, beside the device's own torch and numpy (its python3 is
# itself a venv, so a venv made from it would not see them); the build and test tools come as
# pinned wheels in .gpu-carry.
stage_python() {
  if [ ! -d "$carry/wheels" ]; then
    result[python]="not run (no wheels in .gpu-carry: run scripts/gpu-carry.sh)"
    return
  fi
  local t rc counts
  t=$(budget 150 60)
  if [ "$t" -eq 0 ]; then
    result[python]="not reached ($(left) s left)"
    return
  fi
  echo "--- python: pip install . and pytest tests/python (RNNX_REQUIRE_GPU=1)" >>"$out/tests.log"
  RNNX_REQUIRE_GPU=1 timeout -k 5 "$t" bash -c '
    set -e
    export PYTHONPATH="$1${PYTHONPATH:+:$PYTHONPATH}"
    python3 -m pip install -q --no-index --find-links "$2" --target "$1" \
      scikit-build-core nanobind pytest
    python3 -m pip install -q --no-index --no-build-isolation --no-deps --target "$1" \
      -C "build-dir=$3/python-check" -C cmake.define.CMAKE_CUDA_ARCHITECTURES=90 "$4"
    cd "$4" && python3 -m pytest -p no:cacheprovider -q -rs tests/python' \
    _ "$scratch/pylib" "$carry/wheels" "$build" "$root" >>"$out/tests.log" 2>&1
  rc=$?
  counts=$(grep -E '^[0-9]+ (passed|failed)|(passed|failed|skipped|error)[^ ]* in [0-9.]+s' \
    "$out/tests.log" | tail -1)
  case $rc in
    0) result[python]="ok: ${counts:-see tests.log}" ;;
    124 | 137) result[python]="TIMED OUT after $t s (tests.log)" ;;
    *) result[python]="FAILED: ${counts:-see tests.log} (tests.log)" ;;
  esac
}

# --- benchmarks ------------------------------------------------------------------------------
stage_benchmarks() {
  if [ ! -x "$build/bench/rnnx_bench" ]; then
    result[benchmarks]="not run (no benchmark build: scripts/gpu-carry.sh brings Google Benchmark)"
    return
  fi
  local t preset filter rc
  t=$(budget 60 20)
  if [ "$t" -eq 0 ]; then
    result[benchmarks]="not reached ($(left) s left)"
    return
  fi
  # RNNX_BENCH_SET: quick (default), or one suite (seed, latency, deepbench, unroll, floor, cpu);
  # RNNX_BENCH_FILTER overrides it with a regex.
  case "${RNNX_BENCH_SET:-quick}" in
    quick) preset='^(floor/|latency/[^/]+/lstm/H:(256|1024)/B:(1|16)/|unroll/[^/]+/lstm/H:128/B:1/.*f32|seed/(gpu_dynamic|gpu_static|cudnn)/lstm/)' ;;
    cpu) preset='^cpu/(cpu|onednn|sgemm)/' ;;
    *) preset="^${RNNX_BENCH_SET}/" ;;
  esac
  filter=${RNNX_BENCH_FILTER:-$preset}
  local min_time=${RNNX_BENCH_MIN_TIME:-0.05} repetitions=${RNNX_BENCH_REPETITIONS:-3}
  local l2=${RNNX_BENCH_L2:-cold}
  echo "--- rnnx_bench --benchmark_filter=$filter (min time $min_time s, $repetitions repetitions, L2 $l2)" >>"$out/bench.txt"
  RNNX_BENCH_MIN_TIME=$min_time RNNX_BENCH_REPETITIONS=$repetitions RNNX_BENCH_L2=$l2 \
    timeout -k 5 "$t" "$build/bench/rnnx_bench" --benchmark_filter="$filter" \
    --benchmark_out="$out/bench.json" --benchmark_out_format=json >>"$out/bench.txt" 2>&1
  rc=$?
  case $rc in
    0) result[benchmarks]="ok (bench.json, set ${RNNX_BENCH_SET:-quick}, ${min_time} s x $repetitions, L2 $l2)" ;;
    124 | 137) result[benchmarks]="TIMED OUT after $t s (bench.txt; bench.partial.json holds what finished)" ;;
    *) result[benchmarks]="FAILED, exit $rc (bench.txt)" ;;
  esac
  # rnnx_bench writes its result file into a staging folder and replaces bench.json only when
  # it finishes (docs/INPUTS.md); a run that was cut off leaves what it had there.
  for partial in "$out"/.rnnx-staging-*/bench.json; do
    [ -f "$partial" ] && mv "$partial" "$out/bench.partial.json"
  done
  rm -rf "$out"/.rnnx-staging-*
  # PyTorch's LSTM/GRU on the same GPU, in the same units (bench/torch_peer.py).
  t=$(budget 40 15)
  if [ "$t" -gt 0 ] && timeout "$t" python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    if timeout -k 5 "$t" python3 "$root/bench/torch_peer.py" --out "$out/torch.json" --repeats 10 \
      --dtypes f32,bf16 --l2 "$l2" >>"$out/bench.txt" 2>&1; then
      result[benchmarks]+="; torch peer ok (torch.json)"
    else
      result[benchmarks]+="; torch peer FAILED or timed out (bench.txt)"
    fi
  else
    result[benchmarks]+="; torch peer not run"
  fi
}

# --- compute-sanitizer -----------------------------------------------------------------------
# Most likely to find something first: gpu_persistent (grid barriers, shared memory, tensor
# cores), then one test per engine. memcheck watches every kernel (cuBLAS's and cuDNN's reads of
# rnnx's buffers included); racecheck and synccheck only rnnx's own kernels (names in namespace
# rnnx), which keeps them affordable.
sanitizer_runs=(
  "test_persistent_engine GpuPersistent.SeveralUnitsPerBlock memcheck,racecheck,synccheck"
  "test_persistent_engine Half/GpuPersistentHalf.TensorCorePathRunToRunIdentical/bfloat16 memcheck,racecheck,synccheck"
  "test_persistent_engine GpuPersistent.DirectionsPairedAndApart memcheck,synccheck"
  "test_gpu_engines GpuEngines.EdgeShapes memcheck,racecheck"
  "test_gpu_engines GpuEngines.StaticReplaysMatchDynamic memcheck"
  "test_cudnn_engine GpuCudnn.OnePlanManyShapes memcheck"
  "test_api GpuDevice.ProbeKernelRanOnEveryListedDevice memcheck,racecheck"
)

stage_sanitizer() {
  if ! built; then
    result[sanitizer]="not run (no build)"
    return
  fi
  if ! command -v compute-sanitizer >/dev/null; then
    result[sanitizer]="unavailable (no compute-sanitizer)"
    return
  fi
  : >"$out/sanitizer.log"
  # gVisor-style runtimes refuse the device ("Device not supported", error 999): unavailable,
  # which is not a finding.
  local probe t
  t=$(budget 60 20)
  if [ "$t" -eq 0 ]; then
    result[sanitizer]="not reached ($(left) s left)"
    return
  fi
  probe=$(timeout -k 5 "$t" compute-sanitizer --tool memcheck "$build/tests/test_api" \
    --gtest_filter=GpuDevice.ProbeKernelRanOnEveryListedDevice 2>&1)
  if grep -qiE 'device not supported|error 999|unable to run on this device' <<<"$probe"; then
    echo "$probe" >>"$out/sanitizer.log"
    result[sanitizer]="unavailable on this machine (sanitizer.log)"
    return
  fi
  local filter=()
  # A here-string, not a pipe: grep -q ending early would fail the pipe under pipefail.
  grep -q -- '--kernel-name' <<<"$(compute-sanitizer --help 2>&1)" && filter=(--kernel-name kns=rnnx)
  local clean=0 findings=0 failed=0 timed_out=0 skipped=0 run bin test tools tool rc
  for run in "${sanitizer_runs[@]}"; do
    read -r bin test tools <<<"$run"
    for tool in ${tools//,/ }; do
      t=$(budget 120 20)
      if [ "$t" -eq 0 ]; then
        skipped=$((skipped + 1))
        continue
      fi
      local args=(--tool "$tool" --error-exitcode 99)
      [ "$tool" != memcheck ] && args+=("${filter[@]}")
      echo "--- $tool $bin --gtest_filter=$test" >>"$out/sanitizer.log"
      RNNX_REQUIRE_GPU=1 timeout -k 5 "$t" compute-sanitizer "${args[@]}" "$build/tests/$bin" \
        --gtest_filter="$test" --gtest_brief=1 >>"$out/sanitizer.log" 2>&1
      rc=$?
      # 99: the sanitizer found something; another failure is the test's own (or a timeout).
      case $rc in
        0) clean=$((clean + 1)) ;;
        99) findings=$((findings + 1)) && details "sanitizer: $tool $test: FINDINGS" ;;
        124 | 137) timed_out=$((timed_out + 1)) && details "sanitizer: $tool $test: timed out ($t s)" ;;
        *) failed=$((failed + 1)) && details "sanitizer: $tool $test: the test itself failed (exit $rc)" ;;
      esac
      echo "--- exit $rc" >>"$out/sanitizer.log"
    done
  done
  result[sanitizer]="$clean clean, $findings with findings, $failed test failures, $timed_out timed out, $skipped not reached (sanitizer.log)"
}

stage_cpu_tests() {
  # Everything but the GPU tests and the package test (a second full build); CI runs all of them.
  ctest_stage cpu-tests 600 60 -E 'Gpu|package_consumer' --parallel "$jobs"
}

run_stage environment stage_environment
run_stage build stage_build
run_stage gpu-tests stage_gpu_tests
run_stage classifier stage_classifier
run_stage benchmarks stage_benchmarks
run_stage python stage_python
run_stage sanitizer stage_sanitizer
run_stage cpu-tests stage_cpu_tests
cat "$out/summary.txt"

for s in build gpu-tests classifier; do
  case "${result[$s]}" in ok* | "not asked for" | "3 of 3"*) ;; *) exit 1 ;; esac
done
exit 0
