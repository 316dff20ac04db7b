// The vocabulary of the fused algorithm, shared by the cpu engine and the GPU engines: which
// sequences a step touches and what training keeps per step (kernels/step_rows.h, which the
// kernels read too), one layer's weights, and the scratch a backend keeps.
#pragma once

#include <cstddef>

#include "kernels/step_rows.h"
#include "rnnx/model.h"

namespace rnnx::fused {

using kernels::StepRows;
using kernels::StepSave;

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

// Whether the pre-activation gradients of the h side (Wh, bh) differ from the x side's (Wx, bx):
// in the same cell as bhn_apart and for the same reason, r multiplying the n rows' recurrent
// term. Elsewhere backward keeps one array for both.
inline bool h_side_gradients_apart(CellKind kind) noexcept {
  return bhn_apart(kind);
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

// The weights of a per-step recurrent product C = A op(B), op(B) [K][N] (B^T where transposed):
// the same at every step of a layer call, so a backend may lay them out once per call in the form
// its GEMM wants (packed) instead of at every step.
template <class T>
struct StepWeights {
  bool transposed = false;
  int N = 0, K = 0;
  const T* B = nullptr;
  int ldb = 0;
  const T* packed = nullptr;  // the backend's own layout of op(B), or null: B as it is
};

// The weights as they are, for a backend's GEMM to take (or to pack from).
template <class T>
StepWeights<T> unpacked_step_weights(bool transposed, int N, int K, const T* B, int ldb) {
  StepWeights<T> w;
  w.transposed = transposed;
  w.N = N;
  w.K = K;
  w.B = B;
  w.ldb = ldb;
  return w;
}

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
