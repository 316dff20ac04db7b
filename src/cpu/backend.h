// The cpu engine's backend for the fused algorithm (fused/layer.h, fused/network.h): host
// memory, oneDNN/OpenBLAS GEMMs, the OpenMP passes of cpu/pointwise.h.
#pragma once

#include <omp.h>

#include <algorithm>
#include <array>
#include <exception>
#include <type_traits>
#include <utility>
#include <vector>

#include "cpu/blas.h"
#include "cpu/packed_gemm.h"
#include "cpu/pointwise.h"
#include "cpu/small_batch.h"
#include "cpu/tiled_recurrence.h"
#include "fused/steps.h"
#include "rnnx/error.h"

namespace rnnx::cpu {

// At least n elements of v, kept across calls: the cpu engine's arrays grow, never shrink.
template <class U>
U* sized(std::vector<U>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

template <class T>
class CpuBackend {
 public:
  explicit CpuBackend(int threads) : threads_(threads) {}

  T* scratch(fused::Slot slot, std::size_t n) { return sized(slots_[static_cast<int>(slot)], n); }
  std::size_t held_bytes() const {
    std::size_t bytes = 0;
    for (const std::vector<T>& v : slots_) bytes += v.capacity() * sizeof(T);
    bytes += transposed_.capacity() * sizeof(T);
    for (const std::vector<float>* v :
         {&small_batch_h_, &small_batch_wh_, &tiled_h_, &tiled_wh_, &tiled_sums_, &step_packed_[0],
          &step_packed_[1], &step_x_}) {
      bytes += v->capacity() * sizeof(float);
    }
    return bytes;
  }
  void copy(const T* from, std::size_t n, T* to) { std::copy(from, from + n, to); }
  void zero(T* p, std::size_t n) { std::fill(p, p + n, T(0)); }
  // Rows (t, b) of p [times][B][row] past sequence b's length: those no step writes. The rows
  // before are left alone, to be written once rather than zeroed first.
  void zero_ended_rows(const fused::Sequences& seq, std::size_t times, std::size_t row, T* p) {
    for (std::size_t t = 0; t < times; ++t) {
      for (int b = 0; b < seq.B; ++b) {
        if (t >= std::size_t(seq.len[b])) std::fill_n(p + (t * seq.B + b) * row, row, T(0));
      }
    }
  }
  void gemm(bool ta, bool tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
            int ldb, T beta, T* C, int ldc) {
    if (std::is_same_v<T, float> && ta && !tb && transposed_product_is_faster(M, N, K)) {
      gemm_through_transpose(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                             sized(transposed_, std::size_t(M) * N));
      return;
    }
    cpu::gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  // The recurrent weights in packed_gemm's panels (float32 on AVX2-only CPUs), laid out here once
  // per layer call; else as they are. index: which of the call's (at most two) products.
  fused::StepWeights<T> step_weights(int index, bool transposed, int N, int K, const T* B,
                                     int ldb) {
    fused::StepWeights<T> w = fused::unpacked_step_weights(transposed, N, K, B, ldb);
    if constexpr (std::is_same_v<T, float>) {
      if (packed_step_gemm_applies()) {
        float* packed = sized(step_packed_.at(index), packed_panels_size(N, K));
        pack_panels(transposed, N, K, B, ldb, packed, threads_);
        w.packed = packed;
      }
    }
    return w;
  }
  // C = A op(B): on this thread inside a thread's own block of sequences, else on every thread.
  void step_gemm(int M, const fused::StepWeights<T>& w, const T* A, int lda, T* C, int ldc) {
    if constexpr (std::is_same_v<T, float>) {
      if (w.packed != nullptr) {
        packed_gemm(M, w.N, Factors{{A, lda, w.K}, {}}, w.packed, C, ldc, product_threads());
        return;
      }
    }
    gemm(false, w.transposed, M, w.N, w.K, T(1), A, lda, w.B, w.ldb, T(0), C, ldc);
  }
  // The directions run one after the other on the CPU.
  void fork(CpuBackend&) {}
  void join(CpuBackend&) {}

  const T* projection_bias(const fused::LayerWeights<T>& w) {
    const CellKind kind = cell_kind(*w.layer);
    const int H = w.layer->hidden, GH = cell_traits(kind).gates * H;
    const bool keep_bhn = fused::bhn_apart(kind);
    T* bias = scratch(fused::Slot::bias, GH);
    for (int k = 0; k < GH; ++k) bias[k] = w.bx[k] + (keep_bhn && k >= 2 * H ? T(0) : w.bh[k]);
    return bias;
  }

  // On disjoint blocks of sequences, one per thread, when there are enough sequences for each
  // thread's GEMM to be worth it (a sequence's recurrence never reads another's, so a block
  // needs nothing from the others until the layer ends); else once over all sequences with the
  // GEMMs and passes threaded inside.
  template <class Body>
  void over_sequence_blocks(int B, Body body) {
    if (threads_ <= 1 || B < 16 * threads_) {
      body(0, B, threads_);
      return;
    }
    std::exception_ptr failure;
#pragma omp parallel num_threads(threads_)
    {
      const int id = omp_get_thread_num(), n = omp_get_num_threads();
      try {
        body(B * id / n, B * (id + 1) / n, 1);
      } catch (...) {
        // An exception must not leave an OpenMP region; keep the first, rethrow it outside.
#pragma omp critical(rnnx_cpu_failure)
        if (!failure) failure = std::current_exception();
      }
    }
    if (failure) std::rethrow_exception(failure);
  }

  // float32 layers that project x within each step's product (cpu/packed_gemm.h).
  bool projects_in_steps(const fused::LayerWeights<T>& w, int B, bool training) const {
    return std::is_same_v<T, float> && steps_project_input(*w.layer, w.input, B, training);
  }

  // float32 recurrences that have a path of their own: a few sequences of an LSTM in inference
  // (cpu/small_batch.h), else, on AVX-512 machines and at the batches where it measured faster,
  // every cell but the GRU that resets before the matmul (cpu/tiled_recurrence.h); and the layers
  // that project x in each step (proj null: projects_in_steps). False: the GEMM-and-pass steps of
  // fused/layer.h run.
  bool recurrence_forward(const fused::LayerWeights<T>& w, Dir dir, const fused::Sequences& seq,
                          const T* in, const T* proj, const T* bias, T* h, T* c, T* out, int out_ld,
                          const fused::StepSave<T>& save) {
    if constexpr (std::is_same_v<T, float>) {
      const Layer& layer = *w.layer;
      if (proj == nullptr) {
        projected_steps_forward(w, dir, seq, in, bias, h, c, out, out_ld, save);
        return true;
      }
      if (save.gates == nullptr && small_batch_lstm_applies(layer, seq.B)) {
        SmallBatchLstm a;
        a.threads = threads_;
        a.H = layer.hidden;
        a.B = seq.B;
        a.max_len = seq.max_len;
        a.len = seq.len;
        a.dir = dir;
        a.forget_bias = static_cast<float>(layer.forget_bias);
        a.Wh = w.Wh;
        a.proj = proj;
        a.bias = bias;
        a.h = h;
        a.c = c;
        a.y = out;
        a.y_ld = out_ld;
        a.scratch = &small_batch_h_;
        a.packed = &small_batch_wh_;
        small_batch_lstm_forward(a);
        return true;
      }
      if (!tiled_recurrence_applies(layer, seq.B, save.gates != nullptr)) return false;
      TiledRecurrence a;
      a.threads = threads_;
      a.layer = &layer;
      a.B = seq.B;
      a.max_len = seq.max_len;
      a.len = seq.len;
      a.dir = dir;
      a.Wh = w.Wh;
      a.proj = proj;
      a.bias = bias;
      a.bhn = fused::bhn_apart(cell_kind(layer)) ? w.bh + 2 * layer.hidden : nullptr;
      a.h = h;
      a.c = c;
      a.y = out;
      a.y_ld = out_ld;
      a.save = save;
      a.h_buffers = sized(tiled_h_, tiled_recurrence_h_size(layer, seq.B));
      a.packed = sized(tiled_wh_, tiled_recurrence_packed_size(layer));
      a.sums = sized(tiled_sums_, tiled_recurrence_sums_size(layer, seq.B, threads_));
      tiled_recurrence_forward(a);
      return true;
    } else {
      (void)w, (void)dir, (void)seq, (void)in, (void)proj, (void)bias, (void)h, (void)c, (void)out,
          (void)out_ld, (void)save;
      return false;
    }
  }

  // The rows of x that step `step` multiplies for sequences [first, last): where every one of
  // them is at the same time, as at every step of equal lengths, they lie one after the other in
  // `in` and are read there; else they are gathered into xs (rows of ended sequences zero).
  static const float* step_x_rows(const fused::StepRows& step, const float* in, int I, float* xs) {
    const int t = step.time(step.first);
    bool together = t >= 0;
    for (int b = step.first + 1; b < step.last && together; ++b) together = step.time(b) == t;
    if (together) return in + step.row(t, step.first) * I;
    for (int b = step.first; b < step.last; ++b) {
      const int tb = step.time(b);
      float* to = xs + std::size_t(b) * I;
      if (tb < 0) {
        std::fill(to, to + I, 0.0f);
      } else {
        const float* from = in + step.row(tb, b) * I;
        std::copy(from, from + I, to);
      }
    }
    return xs + std::size_t(step.first) * I;
  }

  // The steps of a layer that projects_in_steps: per step, the rows of x at each sequence's time
  // (zeros for ended ones) beside h, one packed product into rec, then the pointwise pass without
  // a projection; blocks of sequences as over_sequence_blocks gives them. A GRU that resets before
  // the matmul makes two: [x | h] times [Wx | Wh]^T for r and z, then, once r is known,
  // [x | r*h] times [Wxn | Whn]^T for n.
  void projected_steps_forward(const fused::LayerWeights<float>& w, Dir dir,
                               const fused::Sequences& seq, const float* in, const float* bias,
                               float* h, float* c, float* out, int out_ld,
                               const fused::StepSave<float>& save) {
    const Layer& layer = *w.layer;
    const CellKind kind = cell_kind(layer);
    const int B = seq.B, H = layer.hidden, I = w.input, GH = cell_traits(kind).gates * H;
    const bool two_products = cell_traits(kind).reset_before;
    // [Wx | Wh]^T of gate rows [first_row, first_row + N), x's part first along K.
    auto pack_x_then_h = [&](int index, std::size_t first_row, int N) {
      float* packed = sized(step_packed_[index], packed_panels_size(N, I + H));
      pack_panel_rows(true, N, I, w.Wx + first_row * I, I, I + H, 0, packed, threads_);
      pack_panel_rows(true, N, H, w.Wh + first_row * H, H, I + H, I, packed, threads_);
      return packed;
    };
    // The first product's columns: all the gates, or r and z.
    const int N = two_products ? 2 * H : GH;
    const float* packed = pack_x_then_h(0, 0, N);
    const float* packed_n = two_products ? pack_x_then_h(1, std::size_t(2) * H, H) : nullptr;
    float* rec = scratch(fused::Slot::rec, std::size_t(B) * GH);
    float* reset = two_products ? scratch(fused::Slot::r, std::size_t(B) * H) : nullptr;
    float* rh = two_products ? scratch(fused::Slot::rh, std::size_t(B) * H) : nullptr;
    float* xs = sized(step_x_, std::size_t(B) * I);
    over_sequence_blocks(B, [&](int first, int last, int threads) {
      const int M = last - first;
      const std::size_t at_h = std::size_t(first) * H;
      float* rec_block = rec + std::size_t(first) * GH;
      for (int s = 0; s < seq.max_len; ++s) {
        const fused::StepRows step{B, seq.len, s, dir, threads, first, last};
        const float* x_rows = step_x_rows(step, in, I, xs);
        packed_gemm(M, N, Factors{{x_rows, I, I}, {h + at_h, H, H}}, packed, rec_block, GH,
                    product_threads());
        switch (kind) {
          case CellKind::lstm:
            cpu::lstm_forward_step<float>(step, H, float(layer.forget_bias), nullptr, bias, rec, h,
                                          c, out, out_ld, save);
            break;
          case CellKind::rnn_tanh:
          case CellKind::rnn_relu:
            cpu::rnn_forward_step<float>(step, H, layer.activation, nullptr, bias, rec, h, out,
                                         out_ld, save);
            break;
          case CellKind::gru_reset_before:
            cpu::gru_before_reset_step<float>(step, H, nullptr, bias, rec, h, reset, rh);
            packed_gemm(M, H, Factors{{x_rows, I, I}, {rh + at_h, H, H}}, packed_n,
                        rec_block + 2 * H, GH, product_threads());
            cpu::gru_before_forward_step<float>(step, H, nullptr, bias, rec, reset, h, out, out_ld,
                                                save);
            break;
          case CellKind::gru_reset_after:
            throw Error(Status::backend_error,
                        "internal: a GRU that resets after the matmul never projects in its steps");
        }
      }
    });
  }

  template <class... A>
  void lstm_forward_step(A&&... a) {
    cpu::lstm_forward_step<T>(std::forward<A>(a)...);
  }
  template <class... A>
  void gru_after_forward_step(A&&... a) {
    cpu::gru_after_forward_step<T>(std::forward<A>(a)...);
  }
  template <class... A>
  void gru_before_reset_step(A&&... a) {
    cpu::gru_before_reset_step<T>(std::forward<A>(a)...);
  }
  template <class... A>
  void gru_before_forward_step(A&&... a) {
    cpu::gru_before_forward_step<T>(std::forward<A>(a)...);
  }
  template <class... A>
  void lstm_backward_step(A&&... a) {
    cpu::lstm_backward_step<T>(std::forward<A>(a)...);
  }
  template <class... A>
  void gru_after_backward_step(A&&... a) {
    cpu::gru_after_backward_step<T>(std::forward<A>(a)...);
  }
  template <class... A>
  void gru_before_backward_step(A&&... a) {
    cpu::gru_before_backward_step<T>(std::forward<A>(a)...);
  }
  template <class... A>
  void gru_before_reset_backward_step(A&&... a) {
    cpu::gru_before_reset_backward_step<T>(std::forward<A>(a)...);
  }
  template <class... A>
  void rnn_forward_step(A&&... a) {
    cpu::rnn_forward_step<T>(std::forward<A>(a)...);
  }
  template <class... A>
  void rnn_backward_step(A&&... a) {
    cpu::rnn_backward_step<T>(std::forward<A>(a)...);
  }

  // dh = dh_step (+ dh_direct) for the sequences still running at this step.
  void combine_dh(const fused::StepRows& step, int H, bool add_direct, const T* dh_step,
                  const T* dh_direct, T* dh) {
    for (int b = step.first; b < step.last; ++b) {
      if (step.time(b) < 0) continue;
      const std::size_t at = std::size_t(b) * H;
      for (int j = 0; j < H; ++j)
        dh[at + j] = dh_step[at + j] + (add_direct ? dh_direct[at + j] : T(0));
    }
  }

  // out[k] += column k's sum over the rows, and out2[k] too unless it is null (an LSTM's or an
  // RNN's bx and bh take the same sums). Each sum is made in row order from zero as one thread
  // would, so that the bits do not depend on the thread count: the threads share runs of columns,
  // each run summed in an array of its own that stays in L1 while the rows stream past.
  void add_column_sums(const T* dz, std::size_t rows, int cols, T* out, T* out2 = nullptr) {
    constexpr int kMaxRun = 1024;
    const int run = std::min(kMaxRun, (cols + 16 * threads_ - 1) / (16 * threads_) * 16);
    const int runs = (cols + run - 1) / run;
    const bool threaded = runs > 1 && rows * cols >= (std::size_t(1) << 16);
#pragma omp parallel for num_threads(std::min(threads_, runs)) schedule(static) if (threaded)
    for (int i = 0; i < runs; ++i) {
      const int first = i * run, n = std::min(run, cols - first);
      T sums[kMaxRun] = {};
      for (std::size_t r = 0; r < rows; ++r) {
        const T* row = dz + r * cols + first;
        for (int k = 0; k < n; ++k) sums[k] += row[k];
      }
      for (int k = 0; k < n; ++k) out[first + k] += sums[k];
      if (out2 != nullptr) {
        for (int k = 0; k < n; ++k) out2[first + k] += sums[k];
      }
    }
  }

  // out[row][j] = r[row][j] * h_prev[row][j], r being the first H of each row's 3H gates.
  // On the plan's threads: at the seed's size it took 0.4-0.6 ms of one thread while the other
  // waited.
  void reset_times_h(std::size_t rows, int H, const T* gates, const T* h_prev, T* out) {
    const bool threaded = threads_ > 1 && rows * H >= (std::size_t(1) << 16);
#pragma omp parallel for num_threads(threads_) schedule(static) if (threaded)
    for (std::size_t r = 0; r < rows; ++r)
      for (int j = 0; j < H; ++j) out[r * H + j] = gates[r * 3 * H + j] * h_prev[r * H + j];
  }

 private:
  // A product's threads: one inside a thread's own block of sequences, else all of them.
  int product_threads() const {
    return omp_in_parallel() ? 1 : threads_;
  }

  int threads_;
  std::vector<T> slots_[static_cast<int>(fused::Slot::count)];
  std::vector<T> transposed_;  // gemm's C^T where transposed_product_is_faster
  std::vector<float> small_batch_h_, small_batch_wh_;   // cpu/small_batch.h
  std::vector<float> tiled_h_, tiled_wh_, tiled_sums_;  // cpu/tiled_recurrence.h
  std::array<std::vector<float>, 2> step_packed_;       // step_weights' panels
  std::vector<float> step_x_;                           // projected_steps_forward's rows of x
};

}  // namespace rnnx::cpu
