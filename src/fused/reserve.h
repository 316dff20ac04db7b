// The memory of the fused engines (cpu, gpu_*). What backward needs, inside the caller's
// reserve: per layer its output (the next layer's input; not for the last layer), and per
// direction the per-time arrays of StepSave. And the scratch the algorithm asks for. Counts and
// offsets are in elements of the model's dtype.
#pragma once

#include <cstddef>
#include <vector>

#include "fused/steps.h"
#include "rnnx/rnn.h"

namespace rnnx::fused {

struct DirOffsets {
  std::size_t gates = 0, h_prev = 0, c_prev = 0, hn = 0;  // c_prev, hn only where used
};

struct LayerOffsets {
  std::size_t out = 0;
  DirOffsets dir[2];
};

// The offsets for T steps and B sequences (appended to *map unless null); returns the total.
std::size_t reserve_elements(const Model& model, int T, int B, std::vector<LayerOffsets>* map);

// The element count of each scratch slot the fused algorithm asks a backend for, for T steps
// and B sequences (the largest over the model's layers), when every step runs.
using ScratchSizes = std::size_t[static_cast<int>(Slot::count)];
void scratch_sizes(const Model& model, int T, int B, ScratchSizes& sizes);

// GEMM sizes are ints (oneDNN, cuBLAS): refuses steps * batch beyond 2^31 - 1 with
// Error(unsupported) naming the engine, before anything is written.
void check_gemm_limits(int steps, int batch, Engine engine);

template <class T>
StepSave<T> save_of(T* arrays, const DirOffsets& o, const Layer& layer) {
  if (arrays == nullptr) return {};
  const CellTraits traits = cell_traits(layer);
  StepSave<T> save;
  save.gates = arrays + o.gates;
  save.h_prev = arrays + o.h_prev;
  if (traits.has_c) save.c_prev = arrays + o.c_prev;
  if (traits.saves_hn) save.hn = arrays + o.hn;
  return save;
}

}  // namespace rnnx::fused
