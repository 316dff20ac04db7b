// The gate math of one sequence's block of 16 hidden units in vector registers:
// kernels/cell_math.h's formulas on 16-float lanes, built once per instruction set (AVX-512F in
// src/cpu/gates16_avx512.cpp, AVX2 with FMA in src/cpu/gates16_avx2.cpp, both from
// src/cpu/gates16_math.h) and picked for the CPU at run time. Arrays are 16 floats per gate; `p`
// and `bias` point at the block's first unit in the gate-major [G*H] rows, gate g at + g * H.
#pragma once

namespace rnnx::cpu {

// The vector instruction sets the cpu engine has code of its own for.
enum class VectorIsa { none, avx2, avx512 };

// This CPU's best: AVX-512F (with AVX2 and FMA), else AVX2 with FMA, else none (a CPU that is not
// x86-64 or lacks them: the cpu engine then runs the compiler's code for the cell math). The one
// place the cpu engine asks the CPU what it has.
VectorIsa vector_isa();

struct Gates16 {
  // LSTM: sums [4][16] (h W_h^T of gates i, f, g, o); c_prev [16]. Writes the activated gates
  // act [4][16], the new c and h [16].
  void (*lstm)(const float* sums, const float* p, const float* bias, int H, float forget_bias,
               const float* c_prev, float* act, float* c, float* h);
  // GRU, reset after the matmul: sums [3][16]; bhn: the n rows' recurrent bias at the block;
  // h_prev [16]. Writes r, z, n into act [3][16], the candidate's recurrent term hn [16] and h.
  void (*gru_after)(const float* sums, const float* p, const float* bias, const float* bhn,
                    const float* h_prev, int H, float* act, float* hn, float* h);
  // LSTM backward: g the saved activated gates (gate k at g + k * H), c_prev [16], dh the
  // gradient arriving at h (from later steps and this step's output), dc at c. Writes the
  // pre-activation gradients to dz and dz_step (gate k at + k * H) and the gradient of c_prev to
  // dc.
  void (*lstm_backward)(const float* g, int H, const float* c_prev, const float* dh, float* dc,
                        float* dz, float* dz_step);
};

// The gate math built for `isa` (not none); call its functions only on a CPU that has it.
const Gates16& gates16(VectorIsa isa);

}  // namespace rnnx::cpu
