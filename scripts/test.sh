#!/usr/bin/env bash
# rnnx's tests: install what is missing, build (CUDA code for sm_90 only, as in CI), run every
# test with ctest. GPU tests skip without a GPU; RNNX_REQUIRE_GPU=1 makes them fail instead.
# Usage: scripts/test.sh [extra ctest args...]
set -euo pipefail
source "$(dirname "$0")/common.sh"

export RNNX_CUDA_ARCHITECTURES=${RNNX_CUDA_ARCHITECTURES:-90}
install_missing_packages
configure_and_build -DRNNX_WERROR=ON

log "checking the format (clang-format, .clang-format at the root)"
cd "$RNNX_ROOT"
git ls-files -- '*.h' '*.cpp' '*.cu' '*.cuh' | xargs clang-format --dry-run --Werror

log "running the tests"
ctest --test-dir "$RNNX_BUILD_DIR" --output-on-failure --parallel "$(nproc)" "$@"
