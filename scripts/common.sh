# Shared by scripts/run.sh and scripts/test.sh (sourced, not run).
# Installs what the build needs and configures and builds rnnx into $RNNX_BUILD_DIR.

RNNX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RNNX_BUILD_DIR=${RNNX_BUILD_DIR:-$RNNX_ROOT/build}

# Debian packages the build and tests need; installed with apt-get when missing.
RNNX_PACKAGES=(build-essential cmake ninja-build libgtest-dev googletest libbenchmark-dev
               libdnnl-dev libopenblas-dev zlib1g-dev dataset-fashion-mnist clang-format)

log() { printf '\n== %s\n' "$*"; }

# install_missing_packages [package...]: RNNX_PACKAGES when none are named.
install_missing_packages() {
  local wanted=("$@") missing=()
  [ ${#wanted[@]} -gt 0 ] || wanted=("${RNNX_PACKAGES[@]}")
  for pkg in "${wanted[@]}"; do
    # A here-string, not a pipe: under the callers' pipefail, grep -q quitting early can fail it.
    grep -q "install ok installed" <<<"$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" ||
      missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  log "installing missing packages: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root or sudo to apt-get install ${missing[*]}" >&2; return 1; }
    sudo=sudo
  fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The Python packages of the peer checks (tests/interop/onnx_runtime_peer.py), pinned to the
# versions the checks were written against.
RNNX_PEER_PIP=(numpy==2.4.6 onnx==1.23.2 onnxruntime==1.32.0)

# make_venv DIR: a new virtual environment in DIR (what was there is removed). Falls back to
# Debian's python3-venv when python3 has no venv.
make_venv() {
  local venv=$1
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")" || return 1
  if ! python3 -m venv "$venv" 2>/dev/null; then
    install_missing_packages python3 python3-venv python3-pip || return 1
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv" || return 1
  fi
}

# setup_peer_python: a virtual environment in $RNNX_BUILD_DIR/peer-venv with RNNX_PEER_PIP, made
# once and reused; prints its python. Falls back to Debian's python3-venv when python3 has no venv.
# Runs inside $(...), where set -e is off: every step checks itself, and the stamp that lets a
# later run reuse the environment is written only once the packages import.
setup_peer_python() {
  local venv="$RNNX_BUILD_DIR/peer-venv"
  local stamp="$venv/.rnnx-peer-packages"
  local check="import numpy, onnx, onnxruntime"
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${RNNX_PEER_PIP[*]}" ]; then
    echo "$venv/bin/python"
    return 0
  fi
  log "installing the peer checks' Python packages: ${RNNX_PEER_PIP[*]}" >&2
  make_venv "$venv" >&2 || return 1
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${RNNX_PEER_PIP[@]}" >&2 ||
    { echo "pip could not install ${RNNX_PEER_PIP[*]}" >&2; return 1; }
  "$venv/bin/python" -c "$check" >&2 || return 1
  echo "${RNNX_PEER_PIP[*]}" >"$stamp" || return 1
  echo "$venv/bin/python"
}

# configure_and_build [extra cmake args...]
# CUDA: on when nvcc is found (PATH or /usr/local/cuda), else a CPU-only build, said out loud.
configure_and_build() {
  local cuda_args=()
  if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH=/usr/local/cuda/bin:$PATH
  fi
  if command -v nvcc >/dev/null || [ -n "${CUDACXX:-}" ]; then
    cuda_args=(-DRNNX_CUDA=ON)
    if [ -n "${RNNX_CUDA_ARCHITECTURES:-}" ]; then
      cuda_args+=("-DCMAKE_CUDA_ARCHITECTURES=$RNNX_CUDA_ARCHITECTURES")
    fi
  else
    echo "NOTE: no CUDA toolkit (nvcc) found: building CPU-only (RNNX_CUDA=OFF); GPU engines report 'not built'."
    cuda_args=(-DRNNX_CUDA=OFF)
  fi
  local launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  fi
  log "configuring rnnx in $RNNX_BUILD_DIR"
  cmake -S "$RNNX_ROOT" -B "$RNNX_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    "${cuda_args[@]}" "${launcher[@]}" "$@"
  log "building rnnx"
  cmake --build "$RNNX_BUILD_DIR" --parallel "$(nproc)"
}

# The Python package's build and test tools (pyproject.toml, tests/python), pinned.
RNNX_PYTHON_PIP=(numpy==2.4.6 pytest==9.2.0 scikit-build-core==1.1.2 nanobind==3.1.0)
# torch for rnnx.torch's tests, installed with --no-deps, then its pure-Python dependencies.
RNNX_PYTHON_TORCH_PIP=(torch==2.15.0 'nvidia-cufile==1.17.1.22.*' nvidia-cusparselt-cu13==0.8.1
                       nvidia-nvshmem-cu13==3.7.2 nvidia-nccl-cu13==2.30.7)
RNNX_PYTHON_TORCH_DEPS=(filelock==4.3.2 typing-extensions==4.16.0 sympy==1.14.0 networkx==3.6.1
                        jinja2==3.1.6 fsspec==2026.9.0)

# python_tests [pytest args...]: builds the Python package with `pip install .` (its own CMake
# build in $RNNX_BUILD_DIR/python, kept between runs; CUDA when nvcc is present, as
# configure_and_build decides; CUDA architectures from RNNX_CUDA_ARCHITECTURES; warnings as
# errors) into a virtual environment in $RNNX_BUILD_DIR/python-venv (made once with
# RNNX_PYTHON_PIP and reused), then runs pytest on tests/python, comparing with the CLI in
# $RNNX_BUILD_DIR/src/rnnx when it is there. Fails when a step fails.
# torch_venv: the virtual environment of the Python tests and benchmarks ($RNNX_BUILD_DIR/
# python-venv) with their tools and, unless RNNX_PYTHON_TORCH=off, PyPI's torch: its CUDA build
# without its CUDA wheels, which runs on the CPU (and finds CUDA in /usr/local/cuda) as
# /work/shared/PYTHON.md describes; about 1.9 GB, installed once (stamps) and kept in the venv.
torch_venv() {
  local venv="$RNNX_BUILD_DIR/python-venv"
  local stamp="$venv/.rnnx-python-packages"
  if ! [ -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${RNNX_PYTHON_PIP[*]}" ]; then
    log "installing the Python package's build and test tools: ${RNNX_PYTHON_PIP[*]}"
    make_venv "$venv" || return 1
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "${RNNX_PYTHON_PIP[@]}" ||
      { echo "pip could not install ${RNNX_PYTHON_PIP[*]}" >&2; return 1; }
    echo "${RNNX_PYTHON_PIP[*]}" >"$stamp" || return 1
  fi
  local torch_stamp="$venv/.rnnx-torch-packages"
  if [ "${RNNX_PYTHON_TORCH:-on}" != off ] &&
     [ "$(cat "$torch_stamp" 2>/dev/null)" != "${RNNX_PYTHON_TORCH_PIP[*]} ${RNNX_PYTHON_TORCH_DEPS[*]}" ]; then
    log "installing torch: ${RNNX_PYTHON_TORCH_PIP[*]}"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
      "${RNNX_PYTHON_TORCH_PIP[@]}" &&
      "$venv/bin/python" -m pip install -q --disable-pip-version-check \
        "${RNNX_PYTHON_TORCH_DEPS[@]}" &&
      "$venv/bin/python" -c 'import torch; torch.zeros(1).sum()' ||
      { echo "pip could not install a working torch (${RNNX_PYTHON_TORCH_PIP[*]})" >&2; return 1; }
    echo "${RNNX_PYTHON_TORCH_PIP[*]} ${RNNX_PYTHON_TORCH_DEPS[*]}" >"$torch_stamp" || return 1
  fi
}

python_tests() {
  local venv="$RNNX_BUILD_DIR/python-venv"
  if [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH=/usr/local/cuda/bin:$PATH
  fi
  # rnnx.torch's tests (tests/python/test_torch*.py) need torch; RNNX_PYTHON_TORCH=off skips it
  # (the torch tests then skip).
  torch_venv || return 1
  # The extension needs Python's headers (Debian: python3-dev).
  if ! "$venv/bin/python" -c 'import os, sysconfig, sys
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
    install_missing_packages python3-dev || return 1
  fi
  local pip_args=(--no-build-isolation --no-deps --disable-pip-version-check
                  -C "build-dir=$RNNX_BUILD_DIR/python" -C cmake.define.RNNX_WERROR=ON)
  if [ -n "${RNNX_CUDA_ARCHITECTURES:-}" ]; then
    pip_args+=(-C "cmake.define.CMAKE_CUDA_ARCHITECTURES=$RNNX_CUDA_ARCHITECTURES")
  fi
  log "building the Python package: pip install $RNNX_ROOT"
  "$venv/bin/python" -m pip install "${pip_args[@]}" "$RNNX_ROOT" || return 1
  log "running the Python package's tests (tests/python)"
  local cli="$RNNX_BUILD_DIR/src/rnnx"
  (cd "$RNNX_ROOT" && RNNX_CLI=$([ -x "$cli" ] && echo "$cli") \
    "$venv/bin/python" -m pytest -p no:cacheprovider -q tests/python "$@")
}

# sanitizer_tests: a CPU-only build with AddressSanitizer (and its LeakSanitizer) and
# UndefinedBehaviorSanitizer (RNNX_SANITIZE=address,undefined; RelWithDebInfo, warnings as
# errors, no benchmarks) in $RNNX_BUILD_DIR-asan, kept between runs, then every ctest test there
# but package_consumer (a second full build) and onnx_runtime_peer (Python, not instrumented).
# A sanitizer report stops the program that made it, and so fails its test; the canaries
# (tests/sanitizers/canary.cpp) fail when the build lost its sanitizers. 5 to 7 minutes from
# clean on 2 cores. RNNX_SANITIZER_TESTS=off skips it.
sanitizer_tests() {
  if [ "${RNNX_SANITIZER_TESTS:-on}" = off ]; then
    log "skipping the sanitizer build (RNNX_SANITIZER_TESTS=off)"
    return 0
  fi
  local dir="$RNNX_BUILD_DIR-asan"
  local launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  log "configuring the sanitizer build (address,undefined; CPU-only) in $dir"
  cmake -S "$RNNX_ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRNNX_CUDA=OFF \
    -DRNNX_SANITIZE=address,undefined -DRNNX_BUILD_BENCH=OFF -DRNNX_WERROR=ON "${launcher[@]}" ||
    return 1
  log "building the sanitizer build"
  cmake --build "$dir" --parallel "$(nproc)" || return 1
  log "running the tests under AddressSanitizer and UndefinedBehaviorSanitizer"
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --test-dir "$dir" --output-on-failure --parallel "$(nproc)" \
    -E '^(package_consumer|onnx_runtime_peer)$'
}
