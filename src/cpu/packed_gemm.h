// The per-step recurrent products on AVX2-only CPUs: C = A op(B), with op(B) [K][N] laid out
// once per layer call in panels of 16 columns, so that no step re-packs the weights (oneDNN's
// sgemm packs its B operand on every call) and each step's product runs from one register-blocked
// kernel (6 rows x 16 columns of C in 12 registers). packed_gemm.cpp lists what it measured.
#pragma once

#include <cstddef>

namespace rnnx::cpu {

// Whether the cpu engine runs its per-step products here: on CPUs whose best vector set is AVX2
// with FMA (AVX-512 CPUs keep oneDNN's AVX-512 sgemm; other CPUs have no kernel here).
bool packed_step_gemm_applies();

// Floats the packed form of op(B) [K][N] takes: K rows of 16 for each of ceil(N / 16) panels.
std::size_t packed_panels_size(int N, int K);

// packed = op(B) in panels of 16 columns (the last one padded with zeros); op(B) is B^T when
// `transposed` (B then [N][K]), else B ([K][N]); rows of B are ldb apart. Runs on `threads`.
void pack_panels(bool transposed, int N, int K, const float* B, int ldb, float* packed,
                 int threads);

// C [M][N] (rows ldc apart) = A [M][K] (rows lda apart) times the packed op(B), each element
// summed over k in order (the same bits for any thread count). Runs on `threads`.
void packed_gemm(int M, int N, int K, const float* A, int lda, const float* packed, float* C,
                 int ldc, int threads);

}  // namespace rnnx::cpu
