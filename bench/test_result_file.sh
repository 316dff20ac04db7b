#!/usr/bin/env bash
# rnnx_bench's --benchmark_out file is replaced whole or not at all (io/output_files.h): a write
# error or a kill keeps the previous file, a finished run replaces it and leaves nothing else.
# Usage: bench/test_result_file.sh RNNX_BENCH FAULT_INJECTION_LIBRARY WORK_DIR
set -uo pipefail
bench=$1 faults=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
result="$work/result.json"
run() {  # run [VARIABLE=VALUE...]
  env "$@" "$bench" --rnnx_quick --benchmark_filter='^cpu/cpu/lstm/H:128/B:128/T:28/fwd/f32' \
    --benchmark_out="$result" --benchmark_out_format=json >"$work/log.txt" 2>&1
}
injector=("ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0" "LD_PRELOAD=$faults")
failures=0
check() {  # check DESCRIPTION CONDITION...
  local what=$1
  shift
  if "$@"; then
    echo "ok: $what"
  else
    echo "FAILED: $what"
    cat "$work/log.txt"
    failures=$((failures + 1))
  fi
}
staging_count() { find "$work" -maxdepth 1 -name '.rnnx-staging-*' | wc -l; }

echo old >"$result"
run "${injector[@]}" RNNX_FAULT_FAIL_FILE=1
rc=$?
check "a write error exits 1 (was $rc)" test "$rc" -eq 1
check "a write error keeps the previous file" test "$(cat "$result")" = old
check "a write error leaves no staging folder" test "$(staging_count)" -eq 0

run "${injector[@]}" RNNX_FAULT_KILL_AT_RENAME=1
rc=$?
check "the kill ends the program (exit $rc)" test "$rc" -ne 0
check "a kill before the rename keeps the previous file" test "$(cat "$result")" = old
check "the killed run's staging folders are there" test "$(staging_count)" -ge 1

run
rc=$?
check "a clean run exits 0 (was $rc)" test "$rc" -eq 0
check "a clean run replaces the file" grep -q '"benchmarks"' "$result"
check "a clean run removes the killed run's staging folder" test "$(staging_count)" -eq 0
exit $((failures > 0))
