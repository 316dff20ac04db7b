#include "cpu/small_batch.h"

#include <omp.h>

#include <algorithm>
#include <cstddef>

#include "cpu/gates16.h"
#include "cpu/spin_barrier.h"
#include "kernels/cell_math.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define RNNX_AVX2 __attribute__((target("avx2,fma")))
#endif

namespace rnnx::cpu {

#if defined(__x86_64__)

namespace {

constexpr int kUnitBlock = 8;    // units whose sums one AVX2 register holds
constexpr int kSliceUnits = 16;  // a thread's slice is a multiple of this: whole cache lines of h
constexpr std::size_t kPackedSliceBytes = 512 * 1024;  // half of a common L2 (1 MiB here)

// Whether the threads pack their slices of W_h for a call of `steps` steps whose smallest slice
// takes `slice_bytes`. A slice that fits in a core's L2 is packed by its own thread and is then in
// that cache for the first step. A larger one streams from L3 or memory every step: packed, it
// reads as one stream rather than eight rows at a time, which repays the copy (a few steps'
// reads) in long calls. Measured on an AMD EPYC (Zen 3, 2 cores, L2 512 KB), 2026-12-07, LSTM
// I = H, B = 1, alternating runs, medians: T = 100, H = 256 1 thread 2.95 -> 2.64 ms, H = 512
// 1 thread 11.63 -> 10.85, 2 threads 5.45 -> 5.35; T = 50, H = 512 1 thread level (5.6 / 5.5);
// T = 25 slower. Shorter calls read W_h where it is.
constexpr int kPackedLongCall = 64;
bool packs_slices(std::size_t slice_bytes, int steps) {
  return slice_bytes <= kPackedSliceBytes || steps >= kPackedLongCall;
}

// W_h's rows for units [u0, u1) of every gate, packed for one sequential read per step: per
// block of 8 units and gate, per chunk of 8 columns, the 8 rows' chunks one after the other.
void pack_slice(const float* Wh, int H, int u0, int u1, float* packed) {
  for (int u = u0; u < u1; u += kUnitBlock) {
    for (int g = 0; g < 4; ++g) {
      const float* rows = Wh + (std::size_t(g) * H + u) * H;
      for (int k = 0; k < H; k += 8) {
        for (int i = 0; i < kUnitBlock; ++i) {
          std::copy(rows + std::size_t(i) * H + k, rows + std::size_t(i) * H + k + 8, packed);
          packed += 8;
        }
      }
    }
  }
}

// Where a block's 8 rows of one gate are: packed (pack_slice: row i's chunk k at 64 k + 8 i) or
// in W_h itself (row i at i H, chunk k at 8 k).
struct RowBlock {
  const float* first;
  std::size_t row_step, chunk_step;
};

// The dot products of a block's 8 rows of length n with x, as one register: lane i holds row i's
// sum.
RNNX_AVX2 __m256 eight_row_dots(const RowBlock& w, const float* x, int n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  const std::size_t r = w.row_step;
  const float* P = w.first;
  for (int k = 0; k < n; k += 8, P += w.chunk_step) {
    const __m256 xv = _mm256_loadu_ps(x + k);
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(P), xv, a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(P + r), xv, a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(P + 2 * r), xv, a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(P + 3 * r), xv, a3);
    a4 = _mm256_fmadd_ps(_mm256_loadu_ps(P + 4 * r), xv, a4);
    a5 = _mm256_fmadd_ps(_mm256_loadu_ps(P + 5 * r), xv, a5);
    a6 = _mm256_fmadd_ps(_mm256_loadu_ps(P + 6 * r), xv, a6);
    a7 = _mm256_fmadd_ps(_mm256_loadu_ps(P + 7 * r), xv, a7);
  }
  // Pairwise sums: [a0..a3 of the low halves | a0..a3 of the high halves], then the halves added.
  const __m256 low = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  const __m256 high = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
  return _mm256_add_ps(_mm256_permute2f128_ps(low, high, 0x20),
                       _mm256_permute2f128_ps(low, high, 0x31));
}

// One step of units [u, u + 8) of sequence b at time row `row`: the four gates' sums (`packed`:
// the block's rows from pack_slice, or null: from W_h), the gate math (kernels/cell_math.h, as
// every engine), the new c, h and y.
RNNX_AVX2 void lstm_unit_block(const SmallBatchLstm& a, const float* packed, int b, std::size_t row,
                               int u, const float* h_cur, float* h_next) {
  const int H = a.H;
  const float* x = h_cur + std::size_t(b) * H;
  float z[4][kUnitBlock];
  for (int g = 0; g < 4; ++g) {
    const std::size_t first_row = std::size_t(g) * H + u;
    const RowBlock rows = packed != nullptr ? RowBlock{packed + std::size_t(g) * H * kUnitBlock,
                                                       kUnitBlock, 8 * kUnitBlock}
                                            : RowBlock{a.Wh + first_row * H, std::size_t(H), 8};
    const __m256 sums = eight_row_dots(rows, x, H);
    const __m256 pre =
        _mm256_add_ps(sums, _mm256_add_ps(_mm256_loadu_ps(a.proj + row * 4 * H + first_row),
                                          _mm256_loadu_ps(a.bias + first_row)));
    _mm256_storeu_ps(z[g], pre);
  }
  float* c = a.c + std::size_t(b) * H + u;
  float* h = h_next + std::size_t(b) * H + u;
  float* y = a.y + row * a.y_ld + u;
  for (int l = 0; l < kUnitBlock; ++l) {
    const cell::LstmState<float> s = cell::lstm_state(
        cell::lstm_input_gate(z[0][l]), cell::lstm_forget_gate(z[1][l], a.forget_bias),
        cell::lstm_cell_gate(z[2][l]), cell::lstm_output_gate(z[3][l]), c[l]);
    c[l] = s.c;
    h[l] = s.h;
    y[l] = s.h;
  }
}

}  // namespace

bool small_batch_lstm_applies(const Layer& layer, int B) noexcept {
  const int H = layer.hidden;
  return cell_kind(layer) == CellKind::lstm && B >= 1 && B <= 4 && H >= 64 &&
         H % kSliceUnits == 0 && vector_isa() != VectorIsa::none;
}

void small_batch_lstm_forward(const SmallBatchLstm& a) {
  const int H = a.H, B = a.B;
  const std::size_t state = std::size_t(B) * H;
  if (a.scratch->size() < state) a.scratch->resize(state);
  float* buffers[2] = {a.h, a.scratch->data()};
  const int slices = H / kSliceUnits;
  const int threads = std::max(1, std::min(a.threads, slices));
  // The packed copy is needed only if some thread packs (fewer threads than asked only make the
  // slices larger).
  const std::size_t smallest_slice = std::size_t(slices / threads) * kSliceUnits;
  if (packs_slices(4 * smallest_slice * H * sizeof(float), a.max_len)) {
    const std::size_t weights = std::size_t(4) * H * H;
    if (a.packed->size() < weights) a.packed->resize(weights);
  }
  SpinBarrier barrier(threads);
#pragma omp parallel num_threads(threads)
  {
    // OpenMP may give fewer threads than asked; the slices follow what it gave.
    const int id = omp_get_thread_num(), n = omp_get_num_threads();
    const int u0 = slices * id / n * kSliceUnits, u1 = slices * (id + 1) / n * kSliceUnits;
    SpinBarrier* meet = n == threads ? &barrier : nullptr;
    const std::size_t slice_bytes = std::size_t(4) * (u1 - u0) * H * sizeof(float);
    float* packed = nullptr;
    if (packs_slices(slice_bytes, a.max_len)) {
      packed = a.packed->data() + std::size_t(4) * u0 * H;
      pack_slice(a.Wh, H, u0, u1, packed);
    }
    for (int s = 0; s < a.max_len; ++s) {
      const float* h_cur = buffers[s % 2];
      float* h_next = buffers[(s + 1) % 2];
      for (int b = 0; b < B; ++b) {
        if (s >= a.len[b]) {  // ended: its state is carried
          std::copy(h_cur + std::size_t(b) * H + u0, h_cur + std::size_t(b) * H + u1,
                    h_next + std::size_t(b) * H + u0);
          continue;
        }
        const int t = a.dir == Dir::fw ? s : a.len[b] - 1 - s;
        const std::size_t row = std::size_t(t) * B + b;
        for (int u = u0; u < u1; u += kUnitBlock) {
          const float* block = packed ? packed + std::size_t(4) * (u - u0) * H : nullptr;
          lstm_unit_block(a, block, b, row, u, h_cur, h_next);
        }
      }
      if (meet != nullptr) {
        meet->wait();
      } else {
#pragma omp barrier
      }
    }
  }
  if (a.max_len % 2 == 1) std::copy(buffers[1], buffers[1] + state, a.h);
}

#else  // not x86-64: the GEMM path runs instead

bool small_batch_lstm_applies(const Layer&, int) noexcept {
  return false;
}
void small_batch_lstm_forward(const SmallBatchLstm&) {}

#endif

}  // namespace rnnx::cpu
