#!/usr/bin/env bash
# rnnx's main job: install what is missing (build tools, libraries, Debian's Fashion-MNIST), build,
# show what rnnx finds here, then train the seed notebook's first model (a single-layer LSTM of
# 128) on Fashion-MNIST for one epoch: on a GPU engine when there is a GPU, else on the cpu
# engine (about 10 s an epoch on a 2-core machine).
# Usage: scripts/run.sh [seed_classifier options...]   e.g. --model mix --epochs 10 --engine cpu
set -euo pipefail
source "$(dirname "$0")/common.sh"

install_missing_packages
configure_and_build

log "rnnx info"
"$RNNX_BUILD_DIR/src/rnnx" info

mkdir -p "$RNNX_ROOT/out"
log "seed_classifier (examples/): the seed's classifier on Fashion-MNIST"
"$RNNX_BUILD_DIR/examples/seed_classifier" --model lstm --epochs 1 \
  --json "$RNNX_ROOT/out/seed_classifier.json" "$@"
echo
echo "Per-epoch figures: $RNNX_ROOT/out/seed_classifier.json (plot: python3 examples/plot_accuracy.py)."
