// The rows one step of the fused algorithm touches, and what training keeps per step: the
// conventions the GPU kernels and the cpu engine's passes share. Device code includes this, so it
// depends on nothing in src/ (src/fused/steps.h builds the rest of the algorithm's vocabulary on
// it).
//
// Per-time arrays are [T][B][...] with row (t * B + b). A sequence is active at step s while
// s < len[b]; its time is s (forward direction) or len[b]-1-s (backward direction).
#pragma once

#include <cstddef>

#include "kernels/cell_math.h"
#include "rnnx/model.h"

namespace rnnx::kernels {

struct StepRows {
  int B = 0;                 // batch
  const int* len = nullptr;  // [B] lengths, in the engine's memory
  int s = 0;                 // the step
  Dir dir = Dir::fw;
  int threads = 1;          // CPU: threads over the rows (1 inside a thread's own block)
  int first = 0, last = 0;  // the sequences [first, last) this call handles

  // The time row b works on at this step, or -1 if its sequence has ended.
  RNNX_HD int time(int b) const {
    if (s >= len[b]) return -1;
    return dir == Dir::fw ? s : len[b] - 1 - s;
  }
  RNNX_HD std::size_t row(int t, int b) const { return std::size_t(t) * B + b; }
};

// What forward_train keeps per step for backward (all per-time arrays), or nulls for inference.
// The RNN keeps its step's output as its one "gate" (G = 1): its derivative is a function of it.
template <class T>
struct StepSave {
  T* gates = nullptr;   // [T][B][G*H] activated gates (LSTM i, f, g, o; GRU r, z, n; RNN h)
  T* h_prev = nullptr;  // [T][B][H] the h each step started from
  T* c_prev = nullptr;  // [T][B][H] LSTM: the c each step started from
  T* hn = nullptr;      // [T][B][H] GRU reset after: Whn h + bhn
};

}  // namespace rnnx::kernels
