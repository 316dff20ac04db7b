// The per-step recurrent products on AVX2-only CPUs: C = A op(B), with op(B) [K][N] laid out
// once per layer call in panels of 16 columns, so that no step re-packs the weights (oneDNN's
// sgemm packs its B operand on every call) and each step's product runs from one register-blocked
// kernel (6 rows x 16 columns of C in 12 registers). packed_gemm.cpp lists what it measured.
#pragma once

#include <cstddef>

#include "rnnx/model.h"

namespace rnnx::cpu {

// Whether the cpu engine runs its per-step products here: on CPUs whose best vector set is AVX2
// with FMA (AVX-512 CPUs keep oneDNN's AVX-512 sgemm; other CPUs have no kernel here).
bool packed_step_gemm_applies();

// Whether a float32 layer (input size `input`, B sequences) makes x Wx^T within each step's
// product, [x_t | h] times [Wx | Wh]^T packed once, instead of a GEMM over all steps whose short
// K = I runs slowly and whose result makes a round trip through memory: an LSTM, an RNN or a GRU
// that resets before the matmul, whose input is at most a quarter of its hidden size, where
// packed_step_gemm_applies and the small-batch path does not take the layer.
bool steps_project_input(const Layer& layer, int input, int B, bool training);

// Floats the packed form of op(B) [K][N] takes: K rows of 16 for each of ceil(N / 16) panels.
std::size_t packed_panels_size(int N, int K);

// packed = op(B) in panels of 16 columns (the last one padded with zeros); op(B) is B^T when
// `transposed` (B then [N][K]), else B ([K][N]); rows of B are ldb apart. Runs on `threads`.
void pack_panels(bool transposed, int N, int K, const float* B, int ldb, float* packed,
                 int threads);
// The same for rows [k0, k0 + K) of panels `depth` rows deep: two operands stacked along K
// ([Wx | Wh] for a product over [x | h]) are packed by two calls.
void pack_panel_rows(bool transposed, int N, int K, const float* B, int ldb, int depth, int k0,
                     float* packed, int threads);

// The rows of A, in one or two parts along K: row i is first.A[i * first.lda + k] for k <
// first.K, then second's (K = 0: none).
struct Factors {
  struct Part {
    const float* A = nullptr;
    int lda = 0, K = 0;
  };
  Part first, second;
  Factors from_row(int i) const {
    auto at = [i](const Part& p) {
      return Part{p.A == nullptr ? nullptr : p.A + std::size_t(i) * p.lda, p.lda, p.K};
    };
    return {at(first), at(second)};
  }
};

// C [M][N] (rows ldc apart) = A [M][K] times the packed op(B) (K = both parts of A), each element
// summed over k in order (the same bits for any thread count). Runs on `threads`.
void packed_gemm(int M, int N, const Factors& A, const float* packed, float* C, int ldc,
                 int threads);

}  // namespace rnnx::cpu
