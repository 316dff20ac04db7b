// Where the fused engines (cpu, gpu_*) keep what backward needs, inside the caller's reserve:
// per layer its output (the next layer's input; not for the last layer), and per direction the
// per-time arrays of StepSave. Offsets are in elements of the model's dtype.
#pragma once

#include <cstddef>
#include <vector>

#include "fused/steps.h"

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

template <class T>
StepSave<T> save_of(T* arrays, const DirOffsets& o, const Layer& layer) {
  if (arrays == nullptr) return {};
  StepSave<T> save;
  save.gates = arrays + o.gates;
  save.h_prev = arrays + o.h_prev;
  if (layer.cell == Cell::lstm) save.c_prev = arrays + o.c_prev;
  if (layer.cell == Cell::gru && layer.gru_reset == GruReset::after_matmul) save.hn = arrays + o.hn;
  return save;
}

}  // namespace rnnx::fused
