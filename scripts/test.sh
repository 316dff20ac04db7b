#!/usr/bin/env bash
# rnnx's tests: install what is missing, build (CUDA code for sm_90 only, as in CI), run every
# test with ctest, including the ONNX Runtime cross-check (its Python packages go into a virtual
# environment in the build folder), then build the Python package with pip into another virtual
# environment there and run its tests with pytest (tests/python), and last run the CPU tests
# again in a second, CPU-only build under AddressSanitizer and UndefinedBehaviorSanitizer
# (build-asan; sanitizer_tests in common.sh; RNNX_SANITIZER_TESTS=off skips it), then the cpu
# engine's threaded tests under ThreadSanitizer (scripts/tsan.sh, build-tsan) and every fuzz
# target over its corpus and for 30 s more (scripts/fuzz.sh, build-fuzz); RNNX_SANITIZER_TESTS=off
# skips these too. GPU tests skip without a GPU; RNNX_REQUIRE_GPU=1 makes them fail instead.
# Usage: scripts/test.sh [extra ctest args...]
set -euo pipefail
source "$(dirname "$0")/common.sh"

export RNNX_CUDA_ARCHITECTURES=${RNNX_CUDA_ARCHITECTURES:-90}
install_missing_packages
# The ONNX Runtime cross-check must run here, not skip: its packages are installed first.
export RNNX_REQUIRE_PEERS=1
peer_python=$(setup_peer_python)
configure_and_build -DRNNX_WERROR=ON "-DRNNX_PEER_PYTHON=$peer_python"

log "checking the format (clang-format, .clang-format at the root)"
cd "$RNNX_ROOT"
git ls-files -- '*.h' '*.cpp' '*.cu' '*.cuh' | xargs clang-format --dry-run --Werror

log "running the tests"
ctest --test-dir "$RNNX_BUILD_DIR" --output-on-failure --parallel "$(nproc)" "$@"

python_tests

sanitizer_tests

if [ "${RNNX_SANITIZER_TESTS:-on}" != off ]; then
  "$RNNX_ROOT/scripts/tsan.sh"
  "$RNNX_ROOT/scripts/fuzz.sh"
fi
