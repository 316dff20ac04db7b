#include "cpu/packed_gemm.h"

#include <algorithm>

#include "cpu/gates16.h"
#include "cpu/small_batch.h"
#include "rnnx/error.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define RNNX_AVX2 __attribute__((target("avx2,fma")))
#endif

namespace rnnx::cpu {

namespace {

constexpr int kPanel = 16;  // columns of a panel: two 8-float registers

int panels(int N) {
  return (N + kPanel - 1) / kPanel;
}

}  // namespace

bool steps_project_input(const Layer& layer, int input, int B, bool training) {
  // A GRU that resets after the matmul multiplies only h's part of the n rows by r, so x's part
  // cannot share its product.
  bool can = false;
  switch (cell_kind(layer)) {
    case CellKind::lstm:
    case CellKind::gru_reset_before:
    case CellKind::rnn_tanh:
    case CellKind::rnn_relu:
      can = true;
      break;
    case CellKind::gru_reset_after:
      break;
  }
  return can && 4 * input <= layer.hidden && packed_step_gemm_applies() &&
         (training || !small_batch_lstm_applies(layer, B));
}

std::size_t packed_panels_size(int N, int K) {
  return std::size_t(panels(N)) * kPanel * std::size_t(K);
}

void pack_panels(bool transposed, int N, int K, const float* B, int ldb, float* packed,
                 int threads) {
  pack_panel_rows(transposed, N, K, B, ldb, K, 0, packed, threads);
}

void pack_panel_rows(bool transposed, int N, int K, const float* B, int ldb, int depth, int k0,
                     float* packed, int threads) {
  const int P = panels(N), width_last = N - (P - 1) * kPanel;
  const bool threaded = threads > 1 && std::size_t(N) * K >= (std::size_t(1) << 16);
  if (transposed) {
    // Panel column l is row n0 + l of B; blocks of 16 x 16 keep both sides in L1.
#pragma omp parallel for num_threads(threads) schedule(static) if (threaded)
    for (int p = 0; p < P; ++p) {
      float* panel = packed + (std::size_t(p) * depth + k0) * kPanel;
      const int n0 = p * kPanel, width = p + 1 < P ? kPanel : width_last;
      for (int kb = 0; kb < K; kb += kPanel) {
        const int ke = std::min(K, kb + kPanel);
        for (int l = 0; l < width; ++l) {
          const float* from = B + std::size_t(n0 + l) * ldb;
          for (int k = kb; k < ke; ++k) panel[std::size_t(k) * kPanel + l] = from[k];
        }
        for (int k = kb; k < ke; ++k) {
          std::fill(panel + std::size_t(k) * kPanel + width, panel + std::size_t(k + 1) * kPanel,
                    0.0f);
        }
      }
    }
    return;
  }
  // Row k of op(B) is row k of B: read along it, 16 floats to each panel.
#pragma omp parallel for num_threads(threads) schedule(static) if (threaded)
  for (int k = 0; k < K; ++k) {
    const float* from = B + std::size_t(k) * ldb;
    for (int p = 0; p < P; ++p) {
      float* row = packed + (std::size_t(p) * depth + k0 + k) * kPanel;
      const int width = p + 1 < P ? kPanel : width_last;
      std::copy(from + p * kPanel, from + p * kPanel + width, row);
      std::fill(row + width, row + kPanel, 0.0f);
    }
  }
}

#if defined(__x86_64__)

// Measured on an AMD EPYC (Zen 3, AVX2, 2 cores), 2026-12-07, against oneDNN 2.6's sgemm on the
// same shapes, one thread, medians: M,N,K = 64,512,128 (the seed LSTM's forward step, per thread)
// 68-74 -> 83-85 GFLOP/s; 64,128,512 (its backward step) 69-80 -> 84-88; 32,2048,512 (I=H=512,
// B=64 on 2 threads) 60-75 -> 71-92; 8,1024,256 54 -> 80; 1,768,256 6 -> 22 (oneDNN's small-M
// path); 1,3072,1024 (W_h beyond L2) 17-23 -> 21-26. Packing costs about one step's product at
// M = 2 (4 MB in 0.5-0.8 ms). Engine, 2 threads, alternating runs: seed LSTM training forward
// 6.96 -> 6.40 ms, backward 13.7 -> 12.9, inference 6.42 -> 5.54; I=H=512 B=64 forward 207 -> 184,
// backward 427 -> 387; GRU I=H=256 B=1 inference 10.1 -> 1.7; the seed GRU level (4.9 ms).
bool packed_step_gemm_applies() {
  return vector_isa() == VectorIsa::avx2;
}

namespace {

constexpr int kRows = 6;  // rows of C per kernel call: 6 x 2 accumulators of 16 registers

// Adds one part of A's rows (row i's factors A[i * lda + k], k < K) times the matching rows of a
// panel to the accumulators.
template <int R>
RNNX_AVX2 inline __attribute__((always_inline)) void accumulate(__m256 (&lo)[R], __m256 (&hi)[R],
                                                                int K, const float* A, int lda,
                                                                const float* panel) {
  int k = 0;
  if constexpr (R == 1) {
    // One row has only two chains of dependent FMAs, which wait on each other's latency: even
    // and odd k go to chains of their own, added at the end.
    __m256 odd_lo = _mm256_setzero_ps(), odd_hi = _mm256_setzero_ps();
    for (; k + 2 <= K; k += 2) {
      const __m256 a = _mm256_broadcast_ss(A + k), b = _mm256_broadcast_ss(A + k + 1);
      lo[0] = _mm256_fmadd_ps(a, _mm256_loadu_ps(panel + k * kPanel), lo[0]);
      hi[0] = _mm256_fmadd_ps(a, _mm256_loadu_ps(panel + k * kPanel + 8), hi[0]);
      odd_lo = _mm256_fmadd_ps(b, _mm256_loadu_ps(panel + (k + 1) * kPanel), odd_lo);
      odd_hi = _mm256_fmadd_ps(b, _mm256_loadu_ps(panel + (k + 1) * kPanel + 8), odd_hi);
    }
    lo[0] = _mm256_add_ps(lo[0], odd_lo);
    hi[0] = _mm256_add_ps(hi[0], odd_hi);
  }
#pragma GCC unroll 4
  for (; k < K; ++k) {
    const __m256 b_lo = _mm256_loadu_ps(panel + k * kPanel);
    const __m256 b_hi = _mm256_loadu_ps(panel + k * kPanel + 8);
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const __m256 a = _mm256_broadcast_ss(A + std::size_t(i) * lda + k);
      lo[i] = _mm256_fmadd_ps(a, b_lo, lo[i]);
      hi[i] = _mm256_fmadd_ps(a, b_hi, hi[i]);
    }
  }
}

// C rows [R][width] = A rows [R][K] times one panel [K][16], A's rows in two parts (f.first, then
// f.second); width < 16 only in the last panel, whose columns past N are computed (from the zero
// padding) but not stored.
template <int R>
RNNX_AVX2 void panel_kernel(const Factors& f, const float* panel, float* C, int ldc, int width) {
  __m256 lo[R], hi[R];
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) lo[i] = hi[i] = _mm256_setzero_ps();
  accumulate<R>(lo, hi, f.first.K, f.first.A, f.first.lda, panel);
  if (f.second.K > 0) {
    accumulate<R>(lo, hi, f.second.K, f.second.A, f.second.lda, panel + f.first.K * kPanel);
  }
  if (width == kPanel) {
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      _mm256_storeu_ps(C + std::size_t(i) * ldc, lo[i]);
      _mm256_storeu_ps(C + std::size_t(i) * ldc + 8, hi[i]);
    }
    return;
  }
  alignas(32) float tile[kPanel];
  // Unrolled as every loop over the accumulators must be: one loop that indexes them keeps them in
  // memory instead of registers (3x slower).
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
    _mm256_store_ps(tile, lo[i]);
    _mm256_store_ps(tile + 8, hi[i]);
    std::copy(tile, tile + width, C + std::size_t(i) * ldc);
  }
}

// Rows [0, rows) of C against one panel, in blocks of kRows.
RNNX_AVX2 void rows_times_panel(int rows, const Factors& f, const float* panel, float* C, int ldc,
                                int width) {
  int i = 0;
  for (; i + kRows <= rows; i += kRows) {
    panel_kernel<kRows>(f.from_row(i), panel, C + std::size_t(i) * ldc, ldc, width);
  }
  // The last 1 to 5 rows.
  using Kernel = void (*)(const Factors&, const float*, float*, int, int);
  static constexpr Kernel kRemainder[kRows] = {nullptr,         panel_kernel<1>, panel_kernel<2>,
                                               panel_kernel<3>, panel_kernel<4>, panel_kernel<5>};
  if (i < rows) kRemainder[rows - i](f.from_row(i), panel, C + std::size_t(i) * ldc, ldc, width);
}

// Panels [p0, p1) of the product. While A fits in L2 beside a panel (at most 64 KB), each panel
// meets every row block in turn and stays in L1; larger A runs row blocks outer, each block of A
// staying in L1 while the panels stream past (measured on Zen 3: 86 against 80 GFLOP/s at
// M,N,K = 32,2048,512; 99 against 83 at 128,128,512).
RNNX_AVX2 void panel_range(int M, int N, const Factors& f, const float* packed, float* C, int ldc,
                           int p0, int p1) {
  const int K = f.first.K + f.second.K;
  auto panel = [&](int p) { return packed + std::size_t(p) * K * kPanel; };
  auto width = [&](int p) { return std::min(kPanel, N - p * kPanel); };
  if (std::size_t(M) * K * sizeof(float) <= (std::size_t(64) << 10)) {
    for (int p = p0; p < p1; ++p) rows_times_panel(M, f, panel(p), C + p * kPanel, ldc, width(p));
    return;
  }
  for (int i = 0; i < M; i += kRows) {
    const int rows = std::min(kRows, M - i);
    for (int p = p0; p < p1; ++p) {
      rows_times_panel(rows, f.from_row(i), panel(p), C + std::size_t(i) * ldc + p * kPanel, ldc,
                       width(p));
    }
  }
}

}  // namespace

void packed_gemm(int M, int N, const Factors& A, const float* packed, float* C, int ldc,
                 int threads) {
  if (vector_isa() == VectorIsa::none) {
    throw Error(Status::unsupported, "cpu engine: packed_gemm needs a CPU with AVX2 and FMA");
  }
  const int P = panels(N);
  const int n = std::max(1, std::min(threads, P));
  if (n == 1) {
    panel_range(M, N, A, packed, C, ldc, 0, P);
    return;
  }
#pragma omp parallel for num_threads(n) schedule(static)
  for (int t = 0; t < n; ++t) panel_range(M, N, A, packed, C, ldc, P * t / n, P * (t + 1) / n);
}

#else

bool packed_step_gemm_applies() {
  return false;
}

void packed_gemm(int, int, const Factors&, const float*, float*, int, int) {
  throw Error(Status::unsupported, "cpu engine: packed_gemm needs an x86-64 CPU with AVX2 and FMA");
}

#endif

}  // namespace rnnx::cpu
