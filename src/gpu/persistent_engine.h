// gpu_persistent: one cooperative kernel per layer (and direction, or both in one grid) keeps W_h
// on-chip for the whole sequence (kernels/persistent_kernels.h); the input projection of all
// steps is one cuBLAS GEMM before it. Inference with float32, bfloat16 or float16 weights and
// inputs (float32 state).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "engine.h"

namespace rnnx {

std::unique_ptr<EngineImpl> make_persistent_engine(const Model& model, const Options& options);

// The limits of info.h's persistent_max_hidden / persistent_max_batch, on device `device`.
int persistent_limit_hidden(Cell cell, GruReset reset, int batch, int device, DType dtype);
int persistent_limit_batch(Cell cell, GruReset reset, int hidden, int device, DType dtype);

// How a layer runs: a pure function of what the device allows, so that the CPU tests check the
// choice (tests/test_persistent_layout.cpp) without a GPU.
enum class PersistentMma { automatic, on, off };  // RNNX_PERSISTENT_MMA

// Tensor cores fewer than this many 16x16 tiles of z per block are not used under `automatic`.
constexpr int kPersistentMmaMinTiles = 4;

struct PersistentLayerInputs {
  PersistentMma mma = PersistentMma::automatic;
  bool bidirectional = false;
  bool may_pair = true;    // RNNX_PERSISTENT_DIRECTIONS is not `apart`
  std::string no_mma;      // why tensor cores cannot run this layer at all; empty if they can
  bool few_tiles[2] = {};  // [directions - 1]: fewer than kPersistentMmaMinTiles tiles a block
};

struct PersistentLayerChoice {
  int directions = 0;  // per launch: 1, or 2 (both directions in one grid); 0: nothing fits
  bool mma = false;    // the recurrent product on tensor cores
  std::string why;     // directions 0: why the most frugal layout does not fit
  std::string note;    // how it runs and what it did not get, and why (PlanStats::layer_choices)
};

// Why a layout (directions per launch, tensor cores or not) cannot run: shared memory over the
// device's limit, a grid that cannot be resident; empty when it can. Asked at most once each.
using PersistentLayoutCheck = std::function<std::string(int directions, bool mma)>;

// The layouts in order of preference, the first that fits running: tensor cores where allowed
// (not `off`, possible, and under `automatic` enough tiles a block) and both directions of a
// bidirectional layer in one grid. `automatic` prefers pairing to tensor cores (one launch and
// one barrier a step for both directions), `on` tensor cores to pairing (a forced choice is for
// measuring them, so it must not lose them silently to pairing).
PersistentLayerChoice choose_persistent_layout(const PersistentLayerInputs& in,
                                               const PersistentLayoutCheck& check);

}  // namespace rnnx
