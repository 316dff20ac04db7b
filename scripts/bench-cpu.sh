#!/usr/bin/env bash
# The cpu suite with its peers, in one run: rnnx's cpu engine against oneDNN's RNN primitive,
# PyTorch's torch.nn.LSTM/GRU on the CPU (bench/torch_cpu_peer.py, in the Python tests' virtual
# environment, where scripts/common.sh's torch_venv installs torch as /work/shared/PYTHON.md
# describes; without torch the PyTorch column stays empty and the script says so), the GEMMs
# alone and the machine's FMA peak; on every core (suite cpu) and on one thread (cpu1); then the
# seed classifier's training speed against the same recipe in PyTorch
# (bench/torch_seed_classifier.py). Prints
# every ratio and writes bench/results/cpu-suite-DATE-ISA.{md,json} with machine, date and commit.
# Usage: scripts/bench-cpu.sh [--quick]   (--quick: one iteration a case, a smoke run)
# About 11-14 minutes on a 2-core machine once built (torch's first install adds a few).
set -euo pipefail
source "$(dirname "$0")/common.sh"

quick=()
[ "${1:-}" = --quick ] && quick=(--rnnx_quick)
install_missing_packages
configure_and_build
work="$RNNX_BUILD_DIR/bench-cpu"
mkdir -p "$work"

log "rnnx_bench: the cpu suites (cpu, cpu1), FMA peak included"
# Medians of 5 repetitions, the repetitions of all cases run in a random interleaved order:
# single runs on a shared 2-core machine vary by 10-50 %, and its speed drifts over minutes, so
# that back-to-back repetitions would give one engine a fast minute and its peer a slow one.
[ ${#quick[@]} -eq 0 ] && export RNNX_BENCH_REPETITIONS=${RNNX_BENCH_REPETITIONS:-5}
"$RNNX_BUILD_DIR/bench/rnnx_bench" "${quick[@]}" --benchmark_filter='^cpu1?/' \
  --benchmark_enable_random_interleaving=true \
  --benchmark_out="$work/rnnx_bench.json" --benchmark_out_format=json

log "PyTorch on the CPU (bench/torch_cpu_peer.py)"
torch_json="$work/torch_cpu.json"
rm -f "$torch_json"
if torch_venv && "$RNNX_BUILD_DIR/python-venv/bin/python" -c 'import torch' 2>/dev/null; then
  "$RNNX_BUILD_DIR/python-venv/bin/python" "$RNNX_ROOT/bench/torch_cpu_peer.py" \
    --out "$torch_json" ${quick:+--quick}
else
  echo "no PyTorch peer: torch could not be installed or imported here"
fi

log "the seed classifier's training speed, rnnx's cpu engine and PyTorch (12,800 images)"
seed_args=()
data=${RNNX_SEED_DATA:-/usr/share/datasets/fashion-mnist}
if [ -f "$data/train-images-idx3-ubyte.gz" ]; then
  # Three runs of each, alternating, so that both meet the machine's same minutes; the report
  # takes each one's median.
  rm -f "$work/seed_rnnx.txt" "$work/seed_torch.txt"
  seed_runs=1
  [ ${#quick[@]} -eq 0 ] && seed_runs=3
  for _ in $(seq "$seed_runs"); do
    "$RNNX_BUILD_DIR/examples/seed_classifier" --engine cpu --data "$data" --limit 12800 \
      --progress 0 | tee -a "$work/seed_rnnx.txt"
    if [ -f "$torch_json" ]; then
      "$RNNX_BUILD_DIR/python-venv/bin/python" "$RNNX_ROOT/bench/torch_seed_classifier.py" \
        --data "$data" --limit 12800 | tee -a "$work/seed_torch.txt"
    fi
  done
  seed_args+=(--seed-rnnx "$work/seed_rnnx.txt")
  [ -f "$work/seed_torch.txt" ] && seed_args+=(--seed-torch "$work/seed_torch.txt")
else
  echo "no Fashion-MNIST at $data (RNNX_SEED_DATA): the seed classifier is not timed"
fi

log "the report (bench/cpu_report.py)"
commit=$(git -C "$RNNX_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
# Uncommitted changes, other than the results this script rewrites, are marked.
if ! git -C "$RNNX_ROOT" diff --quiet HEAD -- . ':!bench/results' 2>/dev/null; then
  commit="$commit+changes"
fi
python3 "$RNNX_ROOT/bench/cpu_report.py" "$work/rnnx_bench.json" \
  $([ -f "$torch_json" ] && echo "$torch_json") "${seed_args[@]}" --out "$RNNX_ROOT/bench/results" \
  --commit "$commit"
