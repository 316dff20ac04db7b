// The cpu engine's latency path: a whole LSTM recurrence for a few sequences (B <= 4) in float32
// inference, as one OpenMP region instead of a GEMM call and a pointwise pass per step. Each
// thread owns a slice of the hidden units, packs the rows of W_h its units need (all four gates)
// into one sequential stream at the start of the call, so that a slice small enough stays in that
// core's cache for the whole sequence, and every step it applies the gate math to its units while
// their sums are in registers, writes its part of the next h and meets the other threads at a spin
// barrier: the CPU twin of gpu_persistent. A unit's sums are always made by one thread in one
// order, so the results do not depend on the thread count.
#pragma once

#include <vector>

#include "rnnx/model.h"

namespace rnnx::cpu {

struct SmallBatchLstm {
  int threads = 1;
  int H = 0, B = 0;
  int max_len = 0;           // steps to run
  const int* len = nullptr;  // [B]
  Dir dir = Dir::fw;         // the backward direction reads time len[b]-1-s at step s
  float forget_bias = 0;
  const float* Wh = nullptr;    // [4H][H]
  const float* proj = nullptr;  // [T][B][4H]: x Wx^T of every step, row t*B+b
  const float* bias = nullptr;  // [4H]: bx + bh
  float* h = nullptr;           // [B][H]: the initial state in, the final state out
  float* c = nullptr;           // [B][H]
  float* y = nullptr;           // row t*B+b at y + row * y_ld, written for active (t, b) only
  int y_ld = 0;
  std::vector<float>* scratch = nullptr;  // the second h buffer, kept by the caller
  std::vector<float>* packed = nullptr;   // [4H * H]: W_h packed per thread, kept by the caller
};

// Whether this path takes the layer's inference at batch B: an LSTM, B <= 4, H a multiple of 16
// and at least 64, and an x86-64 CPU with AVX2 and FMA.
bool small_batch_lstm_applies(const Layer& layer, int B) noexcept;

// Runs the recurrence; call only where small_batch_lstm_applies.
void small_batch_lstm_forward(const SmallBatchLstm& a);

}  // namespace rnnx::cpu
