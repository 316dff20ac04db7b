// Compiled with -fno-trapping-math (src/CMakeLists.txt), as cpu/pointwise.cpp: the RNN's
// activation loop over a block's lanes vectorizes only with it.
#include "cpu/tiled_recurrence.h"

#include <omp.h>

#include <algorithm>
#include <cstddef>

#include "cpu/gates16.h"
#include "cpu/spin_barrier.h"
#include "kernels/cell_math.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define RNNX_AVX512 __attribute__((target("avx512f")))
#endif

namespace rnnx::cpu {

#if defined(__x86_64__)

namespace {

using fused::StepRows;

constexpr int kLanes = 16;         // floats per AVX-512 register: a panel's units per gate block
constexpr int kAccumulators = 24;  // of the 32 registers; the rest hold W_h's vectors and h
constexpr int kDepth = 128;  // columns of W_h per pass: 128 x 4 x 16 floats (32 KiB) stay in L1

// Measured on the 2-core AVX-512 build machine (2026-12-07, engine-level medians of 21 calls,
// tiled path against GEMM path). Inference: faster at every shape tried once the threads split
// the sequences between them at 16 or more per thread (2 threads: LSTM H=128 B=128 T=28 2.72
// against 3.34 ms, GRU 2.18 against 2.28, RNN 0.95 against 0.99, LSTM H=512 B=64 T=100 102
// against 113; below that, split by panels: LSTM H=256 B=16 7.37 against 10.5, GRU 5.84 against
// 8.43, RNN B=8 1.39 against 1.84; one thread: LSTM H=128 B=128 5.76 against 6.24). Training's
// forward pass, which also stores the gates for backward, only up to 16 sequences (LSTM H=256
// B=16, one thread: 15.1 against 16.4 ms); past that it lost as often as it won (GRU H=128 B=128,
// 2 threads: 3.32 against 2.72; LSTM H=512 B=64: 128 against 122; LSTM H=128 B=128: 3.51
// against 3.72).
constexpr int kSplitBatches = 16;
constexpr int kTrainingBatches = 16;

// How a layer's W_h is cut into panels and its sequences into row tiles.
struct Tiling {
  CellKind kind = CellKind::lstm;
  const Gates16* gates = nullptr;  // the AVX-512 gate math, looked up once per call by run()
  int G = 0;                       // gates
  int blocks = 0;                  // blocks of 16 units per panel: 2 for the one-gate RNN, else 1
  int V = 0;                       // vectors per panel column: G * blocks
  int R = 0;      // sequences per tile: as many as keep V * R accumulators in registers
  int units = 0;  // units per panel
  int panels = 0;
};

Tiling tiling_of(const Layer& layer) {
  Tiling t;
  t.kind = cell_kind(layer);
  t.G = cell_traits(t.kind).gates;
  t.blocks = t.G == 1 ? 2 : 1;
  t.V = t.G * t.blocks;
  t.R = kAccumulators / t.V;
  t.units = kLanes * t.blocks;
  t.panels = (layer.hidden + t.units - 1) / t.units;
  return t;
}

// Rows of the h buffers: whole tiles, so that every tile reads R rows (the padding rows are
// zero and their sums are never used).
int padded_rows(int B, int R) {
  const int r = std::min(R, B);
  return (B + r - 1) / r * r;
}

// Panel p, column k: V vectors of 16 floats, vector (q * G + g) holding gate g's rows for units
// p * units + 16 q + [0, 16); rows past H are zero.
void pack_panel(const float* Wh, int H, const Tiling& t, int p, float* panel) {
  for (int k = 0; k < H; ++k) {
    for (int q = 0; q < t.blocks; ++q) {
      for (int g = 0; g < t.G; ++g) {
        float* out = panel + (std::size_t(k) * t.V + q * t.G + g) * kLanes;
        const int u0 = p * t.units + q * kLanes;
        for (int l = 0; l < kLanes; ++l) {
          const int u = u0 + l;
          out[l] = u < H ? Wh[(std::size_t(g) * H + u) * H + k] : 0.0f;
        }
      }
    }
  }
}

// sums[r][v][16] (+)= h rows [R] x panel columns [k0, k1): R x V accumulators in registers,
// every lane summed in k order. `first`: start from zero rather than from sums.
// The loops over r and v are unrolled by pragma, not left to -O3: an array of registers that is
// not fully unrolled lives in memory, at a quarter of the speed.
template <int R, int V>
RNNX_AVX512 void tile_sums(const float* h, int H, int k0, int k1, const float* panel, float* sums,
                           bool first) {
  __m512 acc[R][V];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      acc[r][v] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(sums + (r * V + v) * kLanes);
    }
  }
  const float* w = panel + std::size_t(k0) * V * kLanes;
  for (int k = k0; k < k1; ++k, w += V * kLanes) {
    __m512 wv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) wv[v] = _mm512_loadu_ps(w + v * kLanes);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(h[std::size_t(r) * H + k]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(x, wv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) _mm512_storeu_ps(sums + (r * V + v) * kLanes, acc[r][v]);
  }
}

using TileSums = void (*)(const float*, int, int, int, const float*, float*, bool);

template <int V, int R = 1>
TileSums tile_sums_for(int rows) {
  if constexpr (R * V > kAccumulators) {
    return nullptr;
  } else {
    return rows == R ? &tile_sums<R, V> : tile_sums_for<V, R + 1>(rows);
  }
}

TileSums tile_sums_for(int V, int rows) {
  switch (V) {
    case 2:
      return tile_sums_for<2>(rows);
    case 3:
      return tile_sums_for<3>(rows);
    case 4:
      return tile_sums_for<4>(rows);
  }
  return nullptr;
}

// ---- the gate math of one sequence's block of n <= 16 units (u0 on), from its sums s[v][16]

// Where one sequence's results go at this step.
struct RowOut {
  const float* p;     // proj row, [G*H]
  const float* hcur;  // h at the start of the step, [H]
  float* hnext;       // [H]
  float* y;           // the output row
  std::size_t row;    // t * B + b, for the saved arrays
};

// n <= 16 floats; a whole block's 16 as one vector move rather than a call to memmove.
RNNX_AVX512 inline void store(float* to, const float* from, int n) {
  if (n == kLanes) {
    std::copy(from, from + kLanes, to);
  } else {
    std::copy(from, from + n, to);
  }
}

// A block of n < 16 units (the last of a hidden size that is not a multiple of 16) goes through
// the same 16-lane gate math as the others, on zero-padded copies of its inputs whose extra lanes
// are never stored. lanes: `from`'s n floats, or their padded copy in `pad`.
RNNX_AVX512 const float* lanes(const float* from, int n, float* pad) {
  if (n == kLanes) return from;
  std::fill(pad, pad + kLanes, 0.0f);
  std::copy(from, from + n, pad);
  return pad;
}

// The same for `gates` rows H apart (a proj row's or the bias's segments); the rows returned are
// H apart for a whole block and 16 apart for a padded one (lanes_stride).
RNNX_AVX512 const float* gate_lanes(const float* from, int H, int gates, int n,
                                    float (*pad)[kLanes]) {
  if (n == kLanes) return from;
  for (int g = 0; g < gates; ++g) lanes(from + std::size_t(g) * H, n, pad[g]);
  return pad[0];
}
RNNX_AVX512 int lanes_stride(int H, int n) {
  return n == kLanes ? H : kLanes;
}

template <bool kSave>
RNNX_AVX512 void lstm_block(const TiledRecurrence& a, const Gates16& math, const RowOut& o,
                            const float* s, int u0, int n, float* c) {
  const int H = a.layer->hidden;
  float p_pad[4][kLanes], bias_pad[4][kLanes], c_pad[kLanes];
  const float* p = gate_lanes(o.p + u0, H, 4, n, p_pad);
  const float* bias = gate_lanes(a.bias + u0, H, 4, n, bias_pad);
  const float* c_old = lanes(c + u0, n, c_pad);
  float act[4][kLanes], c_new[kLanes], h_new[kLanes];
  math.lstm(s, p, bias, lanes_stride(H, n), static_cast<float>(a.layer->forget_bias), c_old, act[0],
            c_new, h_new);
  if constexpr (kSave) {
    float* gates = a.save.gates + o.row * 4 * H + u0;
    for (int g = 0; g < 4; ++g) store(gates + g * H, act[g], n);
    store(a.save.h_prev + o.row * H + u0, o.hcur + u0, n);
    store(a.save.c_prev + o.row * H + u0, c_old, n);
  }
  store(c + u0, c_new, n);
  store(o.hnext + u0, h_new, n);
  store(o.y + u0, h_new, n);
}

template <bool kSave>
RNNX_AVX512 void gru_after_block(const TiledRecurrence& a, const Gates16& math, const RowOut& o,
                                 const float* s, int u0, int n) {
  const int H = a.layer->hidden;
  float p_pad[3][kLanes], bias_pad[3][kLanes], bhn_pad[kLanes], h_pad[kLanes];
  const float* p = gate_lanes(o.p + u0, H, 3, n, p_pad);
  const float* bias = gate_lanes(a.bias + u0, H, 3, n, bias_pad);
  const float* bhn = lanes(a.bhn + u0, n, bhn_pad);
  const float* h_prev = lanes(o.hcur + u0, n, h_pad);
  float act[3][kLanes], hn[kLanes], h_new[kLanes];
  math.gru_after(s, p, bias, bhn, h_prev, lanes_stride(H, n), act[0], hn, h_new);
  if constexpr (kSave) {
    float* gates = a.save.gates + o.row * 3 * H + u0;
    for (int g = 0; g < 3; ++g) store(gates + g * H, act[g], n);
    store(a.save.h_prev + o.row * H + u0, h_prev, n);
    store(a.save.hn + o.row * H + u0, hn, n);
  }
  store(o.hnext + u0, h_new, n);
  store(o.y + u0, h_new, n);
}

// The RNN's one activation is a loop the compiler vectorizes; the block computes into an array
// of its own first, so that no store can alias what the loop reads.
template <bool kRelu, bool kSave>
RNNX_AVX512 void rnn_block(const TiledRecurrence& a, const RowOut& o, const float* s, int u0,
                           int n) {
  const int H = a.layer->hidden;
  const float* __restrict p = o.p + u0;
  const float* __restrict bias = a.bias + u0;
  float h_new[kLanes];
  for (int l = 0; l < n; ++l) h_new[l] = cell::rnn_forward<kRelu>(s[l] + p[l] + bias[l]);
  if constexpr (kSave) {
    store(a.save.gates + o.row * H + u0, h_new, n);
    store(a.save.h_prev + o.row * H + u0, o.hcur + u0, n);
  }
  store(o.hnext + u0, h_new, n);
  store(o.y + u0, h_new, n);
}

// The gate math of one block of n <= 16 units for sequence b at this step, sums s[G][16].
template <bool kSave>
RNNX_AVX512 void block_gate_math(const TiledRecurrence& a, const Tiling& t, const RowOut& o,
                                 const float* s, int u0, int n, int b) {
  switch (t.kind) {
    case CellKind::lstm:
      lstm_block<kSave>(a, *t.gates, o, s, u0, n, a.c + std::size_t(b) * a.layer->hidden);
      return;
    case CellKind::gru_reset_after:
      gru_after_block<kSave>(a, *t.gates, o, s, u0, n);
      return;
    case CellKind::rnn_tanh:
      rnn_block<false, kSave>(a, o, s, u0, n);
      return;
    case CellKind::rnn_relu:
      rnn_block<true, kSave>(a, o, s, u0, n);
      return;
    case CellKind::gru_reset_before:
      return;  // not taken (tiled_recurrence_applies)
  }
}

// Starts loading what the gate math of sequence b will read at this step (its proj row's
// segments for panel p), while the tile's sums are being made.
RNNX_AVX512 void prefetch_row(const TiledRecurrence& a, const Tiling& t, const StepRows& step,
                              int p, int b) {
  const int time = step.time(b);
  if (time < 0) return;
  const int H = a.layer->hidden;
  const float* proj = a.proj + step.row(time, b) * t.G * H + p * t.units;
  for (int g = 0; g < t.G; ++g) {
    for (int q = 0; q < t.blocks; ++q) {
      _mm_prefetch(reinterpret_cast<const char*>(proj + g * H + q * kLanes), _MM_HINT_T0);
    }
  }
}

// Sequence b's step for panel p: the gate math, or for an ended sequence its state carried.
template <bool kSave>
RNNX_AVX512 void row_step(const TiledRecurrence& a, const Tiling& t, const StepRows& step, int p,
                          int b, const float* sums, const float* hcur, float* hnext) {
  const int H = a.layer->hidden;
  const std::size_t at = std::size_t(b) * H;
  const int first_unit = p * t.units;
  const int time = step.time(b);
  if (time < 0) {
    const int last_unit = std::min(H, first_unit + t.units);
    std::copy(hcur + at + first_unit, hcur + at + last_unit, hnext + at + first_unit);
    return;
  }
  const std::size_t row = step.row(time, b);
  const RowOut o{a.proj + row * t.G * H, hcur + at, hnext + at, a.y + row * a.y_ld, row};
  for (int q = 0; q < t.blocks; ++q) {
    const int u0 = first_unit + q * kLanes, n = std::min(kLanes, H - u0);
    if (n > 0) block_gate_math<kSave>(a, t, o, sums + q * t.G * kLanes, u0, n, b);
  }
}

// One thread's share of one step: panels [p0, p1) for the padded rows [r0, r1) (whole tiles),
// the sums tile by tile, a depth slice of W_h at a time; in the last slice each tile's sequences
// get their gate math right after their sums.
template <bool kSave>
RNNX_AVX512 void step_panels(const TiledRecurrence& a, const Tiling& t, TileSums tile, int R,
                             int r0, int r1, int s, int p0, int p1, const float* hcur, float* hnext,
                             float* sums) {
  const int H = a.layer->hidden;
  const std::size_t panel_size = std::size_t(H) * t.V * kLanes, row_sums = t.V * kLanes;
  const StepRows step{a.B, a.len, s, a.dir};
  for (int p = p0; p < p1; ++p) {
    const float* panel = a.packed + p * panel_size;
    for (int k0 = 0; k0 < H; k0 += kDepth) {
      const int k1 = std::min(H, k0 + kDepth);
      for (int m = r0; m < r1; m += R) {
        const int end = std::min(m + R, a.B);
        if (k1 == H) {
          // This tile's rows were asked for one tile ago; ask for the next tile's now.
          const int last = std::min({end + R, r1, a.B});
          for (int b = m == r0 ? m : end; b < last; ++b) prefetch_row(a, t, step, p, b);
        }
        tile(hcur + std::size_t(m) * H, H, k0, k1, panel, sums + m * row_sums, k0 == 0);
        if (k1 == H) {
          for (int b = m; b < end; ++b) {
            row_step<kSave>(a, t, step, p, b, sums + b * row_sums, hcur, hnext);
          }
        }
      }
    }
  }
}

// How the threads share the work: by panels (each thread a run of units for every sequence,
// meeting once per step) or, with at least kSplitBatches sequences per thread, by sequences
// (each thread every unit of its own sequences, which need nothing from the others until the
// layer ends: no meeting at all, at the price of every thread reading all of W_h).
bool by_sequences(int B, int threads) {
  return threads > 1 && B >= kSplitBatches * threads;
}

template <bool kSave>
void run(const TiledRecurrence& a) {
  Tiling t = tiling_of(*a.layer);
  t.gates = &gates16(VectorIsa::avx512);
  const int H = a.layer->hidden, B = a.B;
  const int R = std::min(t.R, B), rows = padded_rows(B, t.R), tiles = rows / R;
  const TileSums tile = tile_sums_for(t.V, R);
  const std::size_t state = std::size_t(B) * H, padded = std::size_t(rows) * H;
  float* buffers[2] = {a.h_buffers, a.h_buffers + padded};
  std::copy(a.h, a.h + state, buffers[0]);
  std::fill(buffers[0] + state, buffers[0] + padded, 0.0f);
  std::fill(buffers[1] + state, buffers[1] + padded, 0.0f);
  const bool split_sequences = by_sequences(B, a.threads);
  const int threads = std::max(1, std::min(a.threads, split_sequences ? tiles : t.panels));
  const std::size_t sums_per_thread = std::size_t(rows) * t.V * kLanes;
  SpinBarrier barrier(threads);
#pragma omp parallel num_threads(threads)
  {
    // OpenMP may give fewer threads than asked; the shares follow what it gave.
    const int id = omp_get_thread_num(), n = omp_get_num_threads();
    float* sums = a.sums + id * sums_per_thread;
    // Each thread packs a run of panels: then in its cache for the first step.
    const std::size_t panel_size = std::size_t(H) * t.V * kLanes;
    const int own_p0 = t.panels * id / n, own_p1 = t.panels * (id + 1) / n;
    for (int p = own_p0; p < own_p1; ++p) pack_panel(a.Wh, H, t, p, a.packed + p * panel_size);
    if (split_sequences) {
#pragma omp barrier
      const int r0 = tiles * id / n * R, r1 = tiles * (id + 1) / n * R;
      for (int s = 0; s < a.max_len; ++s) {
        step_panels<kSave>(a, t, tile, R, r0, r1, s, 0, t.panels, buffers[s % 2],
                           buffers[(s + 1) % 2], sums);
      }
    } else {
      SpinBarrier* meet = n == threads ? &barrier : nullptr;
      for (int s = 0; s < a.max_len; ++s) {
        step_panels<kSave>(a, t, tile, R, 0, rows, s, own_p0, own_p1, buffers[s % 2],
                           buffers[(s + 1) % 2], sums);
        if (meet != nullptr) {
          meet->wait();
        } else {
#pragma omp barrier
        }
      }
    }
  }
  std::copy(buffers[a.max_len % 2], buffers[a.max_len % 2] + state, a.h);
}

}  // namespace

bool tiled_recurrence_applies(const Layer& layer, int B, bool training) noexcept {
  // On AVX2 alone (16 registers) its tiles measured slower than the GEMM path (AMD EPYC, Zen 3,
  // 2026-12-07, one thread: LSTM H=128 B=128 T=28 15 against 9 ms): it stays AVX-512 only.
  if (B < 1 || vector_isa() != VectorIsa::avx512) return false;
  if (training && B > kTrainingBatches) return false;
  switch (cell_kind(layer)) {
    case CellKind::lstm:
    case CellKind::gru_reset_after:
    case CellKind::rnn_tanh:
    case CellKind::rnn_relu:
      return true;
    case CellKind::gru_reset_before:
      return false;
  }
  return false;
}

std::size_t tiled_recurrence_packed_size(const Layer& layer) {
  const Tiling t = tiling_of(layer);
  return std::size_t(t.panels) * layer.hidden * t.V * kLanes;
}

std::size_t tiled_recurrence_sums_size(const Layer& layer, int B, int threads) {
  const Tiling t = tiling_of(layer);
  return std::size_t(std::max(1, threads)) * padded_rows(B, t.R) * t.V * kLanes;
}

std::size_t tiled_recurrence_h_size(const Layer& layer, int B) {
  return 2 * std::size_t(padded_rows(B, tiling_of(layer).R)) * layer.hidden;
}

void tiled_recurrence_forward(const TiledRecurrence& a) {
  if (a.save.gates != nullptr) {
    run<true>(a);
  } else {
    run<false>(a);
  }
}

#else  // not x86-64: the GEMM path runs instead

bool tiled_recurrence_applies(const Layer&, int, bool) noexcept {
  return false;
}
std::size_t tiled_recurrence_packed_size(const Layer&) {
  return 0;
}
std::size_t tiled_recurrence_sums_size(const Layer&, int, int) {
  return 0;
}
std::size_t tiled_recurrence_h_size(const Layer&, int) {
  return 0;
}
void tiled_recurrence_forward(const TiledRecurrence&) {}

#endif

}  // namespace rnnx::cpu
