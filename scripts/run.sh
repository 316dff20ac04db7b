#!/usr/bin/env bash
# rnnx's main job: install what is missing, build, then show what rnnx finds here and run a seed
# model (the notebook's LSTM -> GRU "mix") forward and backward through `rnnx run`.
# Usage: scripts/run.sh [engine]     (default: auto)
set -euo pipefail
source "$(dirname "$0")/common.sh"

engine=${1:-auto}
install_missing_packages
configure_and_build

rnnx="$RNNX_BUILD_DIR/src/rnnx"
demo="$RNNX_ROOT/out/demo"
log "rnnx info"
"$rnnx" info

log "a seed model through rnnx run (inputs from rnnx init, engine $engine)"
rm -rf "$demo"
"$rnnx" init --seed-model mix --dir "$demo" --steps 28 --batch 16 --grad --seed 7
"$rnnx" run --model "$demo/model.json" --dir "$demo" --engine "$engine" --grad
echo
echo "The NPY files in $demo are the inputs and outputs (README.md, 'The rnnx CLI')."
