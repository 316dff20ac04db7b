// The vocabulary of the fused algorithm, shared by the cpu engine and the GPU engines: which
// sequences a step touches, what training keeps per step, and one layer's weights.
//
// Per-time arrays are [T][B][...] with row (t * B + b). A sequence is active at step s while
// s < len[b]; its time is s (forward direction) or len[b]-1-s (backward direction).
#pragma once

#include <cstddef>

#include "kernels/cell_math.h"
#include "rnnx/model.h"

namespace rnnx::fused {

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

// Whether the projection's bias leaves bh's n rows out: a GRU that resets after the matmul
// multiplies Whn h + bhn by r, so bhn joins the recurrent term instead (given apart).
inline bool bhn_apart(CellKind kind) noexcept {
  switch (kind) {
    case CellKind::gru_reset_after:
      return true;
    case CellKind::lstm:
    case CellKind::gru_reset_before:
    case CellKind::rnn_tanh:
    case CellKind::rnn_relu:
      return false;
  }
  return false;
}

struct Sequences {
  int B = 0;
  int max_len = 0;           // steps run: max over len
  const int* len = nullptr;  // [B], in the engine's memory
};

template <class T>
struct LayerWeights {
  const Layer* layer = nullptr;
  int input = 0;          // I of this layer
  const T* Wx = nullptr;  // [G*H, I]
  const T* Wh = nullptr;  // [G*H, H]
  const T* bx = nullptr;  // [G*H]
  const T* bh = nullptr;  // [G*H]
};

template <class T>
struct LayerGrads {
  T* Wx = nullptr;  // accumulated into
  T* Wh = nullptr;
  T* bx = nullptr;
  T* bh = nullptr;
};

// The scratch arrays a backend keeps for the algorithm, by name.
enum class Slot {
  proj,
  rec,
  h,
  c,
  r,
  rh,
  bias,
  dz_step,
  dh_step,
  dh_direct,
  dzx,
  dzh,
  rh_all,
  layer_out_a,
  layer_out_b,
  grad_a,
  grad_b,
  ones,  // GPU: a column of ones, for the bias gradients as GEMMs
  count
};

}  // namespace rnnx::fused
