#!/usr/bin/env bash
# rnnx's fuzz targets (fuzz/): builds them with clang 14 (libFuzzer, AddressSanitizer,
# UndefinedBehaviorSanitizer) in build-fuzz, then for each target
#   1. replays its committed corpus (fuzz/corpus/<target>) and every input that ever crashed it
#      (fuzz/regressions/<target>), one run per file;
#   2. fuzzes for RNNX_FUZZ_SECONDS seconds (default 30) into a scratch copy of the corpus (the
#      committed corpus is never written), with -timeout=1 -rss_limit_mb=2048 and a per-target
#      -max_len and -malloc_limit_mb (below: the largest single allocation the input size
#      justifies, so that anything sized by a number inside the input instead fails);
# prints per target the executions, seconds and findings, and fails on any finding (a crash, a
# sanitizer report, a leak, a timeout, an allocation over the limit), keeping the inputs that
# made them in build-fuzz/findings/<target>/ (copy them into fuzz/regressions/<target>/ once
# fixed).
#
# Debian 12 packages it needs (installed with apt-get when missing, as scripts/common.sh does):
#   clang-14 libclang-rt-14-dev  (clang++-14, libFuzzer and the sanitizer runtimes)
#   libomp-14-dev                (OpenMP for clang: the root CMakeLists.txt looks for it)
#   cmake ninja-build libdnnl-dev libopenblas-dev  (the root project's configure step; the fuzz
#                                 targets themselves compile only a few sources, no BLAS)
#   binutils                     (nm, for the check that the CLI's option parsing has no file
#                                 system calls)
#
# Usage: scripts/fuzz.sh [target...]   (default: every target)
# Environment: RNNX_FUZZ_SECONDS (30), RNNX_FUZZ_BUILD_DIR (build-fuzz at the root).
set -euo pipefail
source "$(dirname "$0")/common.sh"

FUZZ_SECONDS=${RNNX_FUZZ_SECONDS:-30}
BUILD=${RNNX_FUZZ_BUILD_DIR:-$RNNX_ROOT/build-fuzz}
ALL_TARGETS=(npy_fuzz json_fuzz import_weights_fuzz cli_args_fuzz)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")

# Per target: the corpus folder's name, -max_len, and -malloc_limit_mb (libFuzzer's floor is 1).
#   npy_fuzz 1 MB: read_npy_bytes copies at most the input (max_len 4096) into the array.
#   json_fuzz 4 MB: the largest legitimate allocation is the string of dump(2): 4096 bytes of
#     input reach at most ~2000 values nested up to 256 deep, each on a line indented up to 512
#     spaces, about 1 MB, whose std::string may have doubled to 2 MB once.
#   import_weights_fuzz 1 MB: the models have at most 3 layers of H, I <= 8 (an input of 16 after
#     a bidirectional layer): under 5000 weights, 40 KB of doubles and 80 KB of element maps;
#     the target's own values vectors hold at most 2048 doubles (16 KB). A shape may declare up
#     to 2^64 - 1 elements: an allocation sized by it fails this limit.
#   cli_args_fuzz 1 MB: the argument strings total at most max_len (4096) bytes.
corpus_of() { echo "${1%_fuzz}"; }
max_len_of() { echo 4096; }
malloc_limit_of() {
  case $1 in
    json_fuzz) echo 4 ;;
    *) echo 1 ;;
  esac
}

for t in "${TARGETS[@]}"; do
  grep -qx "$t" <<<"$(printf '%s\n' "${ALL_TARGETS[@]}")" ||
    { echo "unknown fuzz target '$t' (known: ${ALL_TARGETS[*]})" >&2; exit 2; }
done

install_missing_packages clang-14 libclang-rt-14-dev libomp-14-dev cmake ninja-build libdnnl-dev \
  libopenblas-dev binutils

start_all=$SECONDS
log "configuring the fuzz build (clang++-14, CPU-only, no tests, benchmarks, CLI or examples) in $BUILD"
# The targets compile their own sources (fuzz/CMakeLists.txt); everything else is switched off,
# and only the fuzz targets are built, so no BLAS or oneDNN code is compiled.
cmake -S "$RNNX_ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER=clang++-14 -DRNNX_CUDA=OFF -DRNNX_BUILD_FUZZ=ON \
  -DRNNX_BUILD_TESTS=OFF -DRNNX_BUILD_BENCH=OFF -DRNNX_BUILD_CLI=OFF -DRNNX_BUILD_EXAMPLES=OFF \
  -DRNNX_BUILD_PYTHON=OFF >/dev/null
log "building ${TARGETS[*]}"
cmake --build "$BUILD" --parallel "$(nproc)" --target "${TARGETS[@]}"
build_seconds=$((SECONDS - start_all))

# The CLI's option parsing must not reach the file system (fuzz/cli_args_fuzz.cpp runs it on
# arbitrary arguments): no object of that target may call a file function.
if grep -qx cli_args_fuzz <<<"$(printf '%s\n' "${TARGETS[@]}")"; then
  if find "$BUILD/fuzz/CMakeFiles/cli_args_fuzz.dir" -name '*.o' -exec nm -C --undefined-only {} + |
     grep -E 'std::filesystem|fstream|\b(fopen|open|open64|openat|stat|stat64|mkdir|access|rename|unlink|remove)\b'; then
    echo "cli_args_fuzz's sources (src/cli/options.cpp, args.cpp, ...) call a file-system function (above)" >&2
    exit 1
  fi
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/rnnx-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

failed=0
summary=()
for t in "${TARGETS[@]}"; do
  bin="$BUILD/fuzz/$t"
  name=$(corpus_of "$t")
  corpus="$RNNX_ROOT/fuzz/corpus/$name"
  regressions="$RNNX_ROOT/fuzz/regressions/$name"
  max_len=$(max_len_of "$t")
  malloc_mb=$(malloc_limit_of "$t")
  limits=(-timeout=1 -rss_limit_mb=2048 "-malloc_limit_mb=$malloc_mb" "-max_len=$max_len")
  findings_dir="$BUILD/findings/$t"

  # 1. The committed inputs, each run once (given as files, libFuzzer writes nothing).
  dirs=("$corpus")
  if [ -d "$regressions" ]; then dirs+=("$regressions"); fi
  inputs=()
  while IFS= read -r -d '' f; do inputs+=("$f"); done < <(find "${dirs[@]}" -type f -print0 | sort -z)
  log "$t: replaying ${#inputs[@]} committed inputs (${dirs[*]#"$RNNX_ROOT/"})"
  if ! "$bin" "${limits[@]}" -artifact_prefix="$scratch/$t-replay-" "${inputs[@]}" \
    >"$scratch/$t-replay.log" 2>&1; then
    tail -n 40 "$scratch/$t-replay.log" >&2
    echo "$t: a committed input fails (above)" >&2
    failed=1
    summary+=("$(printf '%-20s %10s %8s %9s %9s  %s' "$t" - - - - "replay FAILED")")
    continue
  fi

  # 2. Fuzzing, into a scratch copy of the corpus.
  work="$scratch/$t"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp "${inputs[@]}" "$work/corpus/"
  before=$(find "$work/corpus" -type f | wc -l)
  log "$t: fuzzing for $FUZZ_SECONDS s (${limits[*]})"
  t0=$SECONDS
  status=0
  "$bin" "${limits[@]}" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/fuzz.log" 2>&1 || status=$?
  seconds=$((SECONDS - t0))
  after=$(find "$work/corpus" -type f | wc -l)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -n 1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$work/fuzz.log" | tail -n 1)
  if [ -z "$execs" ]; then  # a finding ends the run before the final stats
    execs=$(grep -oE '^#[0-9]+' "$work/fuzz.log" | tail -n 1 | tr -d '#')
  fi
  findings=$(find "$work/artifacts" -type f | wc -l)
  if [ "$status" -ne 0 ] || [ "$findings" -ne 0 ]; then
    failed=1
    mkdir -p "$findings_dir"
    cp "$work/fuzz.log" "$findings_dir/"
    find "$work/artifacts" -type f -exec cp {} "$findings_dir/" \;
    grep -E 'ERROR|SUMMARY|runtime error|deadly signal|out-of-memory|Test unit written' \
      "$work/fuzz.log" | head -n 20 >&2 || true
    echo "$t: finding (exit $status): log and inputs kept in $findings_dir" >&2
    [ "$findings" -ne 0 ] || findings=1
  fi
  summary+=("$(printf '%-20s %10s %8s %9s %9s  corpus %d -> %d, peak RSS %s MB' "$t" \
    "${execs:-?}" "$seconds" "$(( ${execs:-0} / (seconds > 0 ? seconds : 1) ))" "$findings" \
    "$before" "$after" "${rss:-?}")")
done

log "summary (build $build_seconds s, total $((SECONDS - start_all)) s)"
printf '%-20s %10s %8s %9s %9s\n' target executions seconds "exec/s" findings
printf '%s\n' "${summary[@]}"
exit "$failed"
