// The cpu engine's recurrence for batches past the small-batch path, in float32 on AVX-512: one
// OpenMP region for all steps of a layer and direction instead of a GEMM call and a pointwise
// pass per step. W_h is packed once per call into panels, each holding every gate's rows for 16
// hidden units (two blocks of 16 for the one-gate RNN) as 16-float vectors per column; each
// thread owns a run of panels, computes h W_h^T for all sequences and its units in register
// tiles (rows x panel width), and applies the cell's gate math (kernels/cell_math.h) to a tile
// while it is still in L1, so that neither the gates nor the recurrent sums make a trip through
// memory. The threads meet at a spin barrier once per step, h alternating between two buffers;
// with 16 or more sequences per thread they split the sequences instead (each thread all panels
// for its own sequences) and never meet.
// Every unit's sum is made by one thread in one order (k ascending), so the results do not
// depend on the thread count or on how rows fall into tiles.
#pragma once

#include <cstddef>

#include "fused/steps.h"
#include "rnnx/model.h"

namespace rnnx::cpu {

struct TiledRecurrence {
  int threads = 1;
  const Layer* layer = nullptr;
  int B = 0;
  int max_len = 0;           // steps to run
  const int* len = nullptr;  // [B]
  Dir dir = Dir::fw;
  const float* Wh = nullptr;    // [G*H][H]
  const float* proj = nullptr;  // [T][B][G*H]: x Wx^T of every step, row t*B+b
  const float* bias = nullptr;  // [G*H]: fused/layer.h's projection bias
  const float* bhn = nullptr;   // [H]: a GRU (reset after)'s n rows of bh, else unused
  float* h = nullptr;           // [B][H]: the initial state in, the final state out
  float* c = nullptr;           // [B][H], LSTM only
  float* y = nullptr;           // row t*B+b at y + row * y_ld, written for active (t, b) only
  int y_ld = 0;
  fused::StepSave<float> save;  // training: what backward needs (all nulls for inference)
  float* h_buffers = nullptr;   // [tiled_recurrence_h_size]: two copies of h, padded to whole tiles
  float* packed = nullptr;      // [tiled_recurrence_packed_size]: W_h in panels
  float* sums = nullptr;        // [tiled_recurrence_sums_size]: each thread's tile sums
};

// Whether this path runs the layer's recurrence at batch B, in inference or
// in training's forward pass: an LSTM, a GRU that resets after the matmul or a vanilla RNN, a CPU
// with AVX-512F, and, in training, at most 16 sequences (past that it measured no faster than the
// GEMM path; the numbers are in tiled_recurrence.cpp). A GRU that resets before the matmul needs
// every unit's r before any unit's n sum, two meetings per step; it stays on the GEMM path.
bool tiled_recurrence_applies(const Layer& layer, int B, bool training) noexcept;

// Element counts of TiledRecurrence's buffers for this layer, batch and thread count.
std::size_t tiled_recurrence_h_size(const Layer& layer, int B);
std::size_t tiled_recurrence_packed_size(const Layer& layer);
std::size_t tiled_recurrence_sums_size(const Layer& layer, int B, int threads);

// Runs the recurrence; call only where tiled_recurrence_applies.
void tiled_recurrence_forward(const TiledRecurrence& a);

}  // namespace rnnx::cpu
