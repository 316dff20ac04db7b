// One layer and direction of the cpu engine: the input projection of all steps as one GEMM, then
// per step the recurrent GEMM and one fused pointwise pass (two of each for a GRU that resets
// before the matmul); backward mirrors it and ends with the weight gradients as GEMMs over all
// steps. Per-time arrays are [T][B][...] with row (t * B + b); only the first max(len) times
// are touched.
#pragma once

#include <vector>

#include "cpu/pointwise.h"
#include "rnnx/model.h"

namespace rnnx::cpu {

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

struct Sequences {
  int B = 0;
  int max_len = 0;           // steps run: max over len
  const int* len = nullptr;  // [B]
  int threads = 1;
};

// Scratch memory one call reuses across layers and directions; grows, never shrinks.
template <class T>
struct Scratch {
  std::vector<T> proj, rec, h, c, r, rh, dz_step, dh_step, dh_direct, dzx, dzh, rh_all;
};

// in: [T][B][I]; h0, c0, hn, cn: [B][H] (c for LSTM only); out: rows at out + row * out_ld,
// written only for active (t, b). save: per-time arrays for backward, or all nulls.
template <class T>
void layer_forward(const LayerWeights<T>& w, Dir dir, const Sequences& seq, const T* in,
                   const T* h0, const T* c0, T* out, int out_ld, T* hn, T* cn,
                   const StepSave<T>& save, Scratch<T>& scratch);

// dout: rows at dout + row * dout_ld (already offset to this direction); dhn, dcn: gradients of
// the final state; writes dh0, dc0; adds to din [T][B][I] and to the weight gradients.
template <class T>
void layer_backward(const LayerWeights<T>& w, Dir dir, const Sequences& seq, const T* in,
                    const T* dout, int dout_ld, const StepSave<T>& saved, const T* dhn,
                    const T* dcn, T* dh0, T* dc0, T* din, const LayerGrads<T>& grads,
                    Scratch<T>& scratch);

}  // namespace rnnx::cpu
