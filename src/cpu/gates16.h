// The gate math of one sequence's block of 16 hidden units, on AVX-512 (src/cpu/gates16.cpp is
// compiled with -mavx512f): kernels/cell_math.h's formulas on src/cpu/lanes16.h's registers.
// Call only on a CPU with AVX-512F (cpu/tiled_recurrence.cpp checks). Arrays are 16 floats per
// gate; `p` and `bias` point at the block's first unit in the gate-major [G*H] rows, gate g at
// + g * H.
#pragma once

namespace rnnx::cpu {

// LSTM: sums [4][16] (h W_h^T of gates i, f, g, o); c_prev [16]. Writes the activated gates
// act [4][16], the new c and h [16].
void lstm_gates16(const float* sums, const float* p, const float* bias, int H, float forget_bias,
                  const float* c_prev, float* act, float* c, float* h);

// GRU, reset after the matmul: sums [3][16]; bhn: the n rows' recurrent bias at the block;
// h_prev [16]. Writes r, z, n into act [3][16], the candidate's recurrent term hn [16] and h.
void gru_after_gates16(const float* sums, const float* p, const float* bias, const float* bhn,
                       const float* h_prev, int H, float* act, float* hn, float* h);

// LSTM backward: g the saved activated gates (gate k at g + k * H), c_prev [16], dh the gradient
// arriving at h (from later steps and this step's output), dc at c. Writes the pre-activation
// gradients to dz and dz_step (gate k at + k * H) and the gradient of c_prev to dc.
void lstm_backward_gates16(const float* g, int H, const float* c_prev, const float* dh, float* dc,
                           float* dz, float* dz_step);

}  // namespace rnnx::cpu
