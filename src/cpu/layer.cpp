#include "cpu/layer.h"

#include <omp.h>

#include <algorithm>
#include <exception>

#include "cpu/blas.h"

namespace rnnx::cpu {

namespace {

template <class T>
T* sized(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// The projection's bias: every gate gets bx + bh, except the n rows of a GRU that resets after
// the matmul, where bhn sits inside r * (Whn h + bhn) and is added in the pointwise pass.
template <class T>
std::vector<T> projection_bias(const LayerWeights<T>& w) {
  const int H = w.layer->hidden, GH = gates(w.layer->cell) * H;
  const bool keep_bhn = w.layer->cell == Cell::gru && w.layer->gru_reset == GruReset::after_matmul;
  std::vector<T> bias(GH);
  for (int k = 0; k < GH; ++k) bias[k] = w.bx[k] + (keep_bhn && k >= 2 * H ? T(0) : w.bh[k]);
  return bias;
}

// out[k] += sum over the n rows of dz [n][cols] (the bias gradients).
template <class T>
void add_column_sums(const T* dz, std::size_t n, int cols, T* out) {
  for (std::size_t r = 0; r < n; ++r)
    for (int k = 0; k < cols; ++k) out[k] += dz[r * cols + k];
}

// Runs body(first, last, threads) over the batch: on disjoint blocks of sequences, one block per
// thread, when there are enough sequences for each thread's GEMM to be worth it (a sequence's
// recurrence never reads another's, so a block needs nothing from the others until the layer
// ends); else once over all sequences with the GEMMs and pointwise passes threaded inside.
template <class Body>
void over_sequence_blocks(int B, int threads, Body body) {
  if (threads <= 1 || B < 16 * threads) {
    body(0, B, threads);
    return;
  }
  std::exception_ptr failure;
#pragma omp parallel num_threads(threads)
  {
    const int id = omp_get_thread_num(), n = omp_get_num_threads();
    try {
      body(B * id / n, B * (id + 1) / n, 1);
    } catch (...) {
      // An exception must not leave an OpenMP region; keep the first and rethrow it outside.
#pragma omp critical(rnnx_cpu_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

template <class T>
void layer_forward(const LayerWeights<T>& w, Dir dir, const Sequences& seq, const T* in,
                   const T* h0, const T* c0, T* out, int out_ld, T* hn, T* cn,
                   const StepSave<T>& save, Scratch<T>& scratch) {
  const Layer& layer = *w.layer;
  const int B = seq.B, H = layer.hidden, GH = gates(layer.cell) * H, I = w.input;
  const bool lstm = layer.cell == Cell::lstm;
  const bool reset_after = layer.gru_reset == GruReset::after_matmul;
  const std::size_t rows = std::size_t(seq.max_len) * B;

  T* h = sized(scratch.h, std::size_t(B) * H);
  T* c = sized(scratch.c, std::size_t(B) * H);
  std::copy(h0, h0 + std::size_t(B) * H, h);
  if (lstm) std::copy(c0, c0 + std::size_t(B) * H, c);

  if (rows > 0) {
    // Every step's input projection at once: proj = in Wx^T (biases are added pointwise).
    T* proj = sized(scratch.proj, rows * GH);
    gemm(false, true, int(rows), GH, I, T(1), in, I, w.Wx, I, T(0), proj, GH);
    const std::vector<T> bias = projection_bias(w);

    T* rec = sized(scratch.rec, std::size_t(B) * GH);
    T* reset = sized(scratch.r, std::size_t(B) * H);
    T* rh = sized(scratch.rh, std::size_t(B) * H);
    over_sequence_blocks(B, seq.threads, [&](int first, int last, int threads) {
      const int M = last - first;
      T* hb = h + std::size_t(first) * H;
      T* recb = rec + std::size_t(first) * GH;
      for (int s = 0; s < seq.max_len; ++s) {
        const StepRows step{B, seq.len, s, dir, threads, first, last};
        if (lstm) {
          gemm(false, true, M, GH, H, T(1), hb, H, w.Wh, H, T(0), recb, GH);
          lstm_forward_step(step, H, T(layer.forget_bias), proj, bias.data(), rec, h, c, out,
                            out_ld, save);
        } else if (reset_after) {
          gemm(false, true, M, GH, H, T(1), hb, H, w.Wh, H, T(0), recb, GH);
          gru_after_forward_step(step, H, proj, bias.data(), rec, w.bh + 2 * H, h, out, out_ld,
                                 save);
        } else {
          // r and z from h; then n's recurrent term from r * h.
          gemm(false, true, M, 2 * H, H, T(1), hb, H, w.Wh, H, T(0), recb, GH);
          gru_before_reset_step(step, H, proj, bias.data(), rec, h, reset, rh);
          gemm(false, true, M, H, H, T(1), rh + std::size_t(first) * H, H,
               w.Wh + std::size_t(2) * H * H, H, T(0), recb + 2 * H, GH);
          gru_before_forward_step(step, H, proj, bias.data(), rec, reset, h, out, out_ld, save);
        }
      }
    });
  }
  std::copy(h, h + std::size_t(B) * H, hn);
  if (lstm) std::copy(c, c + std::size_t(B) * H, cn);
}

template <class T>
void layer_backward(const LayerWeights<T>& w, Dir dir, const Sequences& seq, const T* in,
                    const T* dout, int dout_ld, const StepSave<T>& saved, const T* dhn,
                    const T* dcn, T* dh0, T* dc0, T* din, const LayerGrads<T>& grads,
                    Scratch<T>& scratch) {
  const Layer& layer = *w.layer;
  const int B = seq.B, H = layer.hidden, GH = gates(layer.cell) * H, I = w.input;
  const bool lstm = layer.cell == Cell::lstm;
  const bool reset_after = layer.gru_reset == GruReset::after_matmul;
  const std::size_t rows = std::size_t(seq.max_len) * B, state = std::size_t(B) * H;

  // dh, dc: the gradient at each sequence's state, carried back through the steps.
  T* dh = dh0;
  T* dc = dc0;
  std::copy(dhn, dhn + state, dh);
  if (lstm) std::copy(dcn, dcn + state, dc);
  if (rows == 0) return;

  // Pre-activation gradients per time: x side (dzx) and h side (dzh); the same for an LSTM.
  // Rows of ended sequences stay zero, so the GEMMs below skip them for free.
  T* dzx = sized(scratch.dzx, rows * GH);
  T* dzh = lstm ? dzx : sized(scratch.dzh, rows * GH);
  std::fill(dzx, dzx + rows * GH, T(0));
  std::fill(dzh, dzh + rows * GH, T(0));
  T* dz_step = sized(scratch.dz_step, std::size_t(B) * GH);
  T* dh_step = sized(scratch.dh_step, state);
  T* dh_direct = sized(scratch.dh_direct, state);
  std::fill(dh_direct, dh_direct + state, T(0));

  over_sequence_blocks(B, seq.threads, [&](int first, int last, int threads) {
    const int M = last - first;
    T* dzb = dz_step + std::size_t(first) * GH;
    T* dhb = dh_step + std::size_t(first) * H;
    for (int s = seq.max_len - 1; s >= 0; --s) {
      const StepRows step{B, seq.len, s, dir, threads, first, last};
      if (lstm) {
        lstm_backward_step(step, H, saved, dh, dout, dout_ld, dc, dzx, dz_step);
        gemm(false, false, M, H, GH, T(1), dzb, GH, w.Wh, H, T(0), dhb, H);
      } else if (reset_after) {
        gru_after_backward_step(step, H, saved, dh, dout, dout_ld, dzx, dzh, dz_step, dh_direct);
        gemm(false, false, M, H, GH, T(1), dzb, GH, w.Wh, H, T(0), dhb, H);
      } else {
        gru_before_backward_step(step, H, saved, dh, dout, dout_ld, dzx, dzh, dz_step, dh_direct);
        // d(r*h) = dn Whn, then r's gradient, then dh through the r and z rows.
        gemm(false, false, M, H, H, T(1), dzb + 2 * H, GH, w.Wh + std::size_t(2) * H * H, H, T(0),
             dhb, H);
        gru_before_reset_backward_step(step, H, saved, dh_step, dzx, dzh, dz_step, dh_direct);
        gemm(false, false, M, H, 2 * H, T(1), dzb, GH, w.Wh, H, T(0), dhb, H);
      }
      // Sequences still running at step s take the new gradient; ended ones carry theirs.
      for (int b = first; b < last; ++b) {
        if (step.time(b) < 0) continue;
        T* target = dh + std::size_t(b) * H;
        const T* from_gemm = dh_step + std::size_t(b) * H;
        const T* direct = dh_direct + std::size_t(b) * H;
        for (int j = 0; j < H; ++j) target[j] = from_gemm[j] + (lstm ? T(0) : direct[j]);
      }
    }
  });

  // Weight gradients over all steps at once.
  gemm(true, false, GH, I, int(rows), T(1), dzx, GH, in, I, T(1), grads.Wx, I);
  add_column_sums(dzx, rows, GH, grads.bx);
  add_column_sums(dzh, rows, GH, grads.bh);
  if (lstm || reset_after) {
    gemm(true, false, GH, H, int(rows), T(1), dzh, GH, saved.h_prev, H, T(1), grads.Wh, H);
  } else {
    // The n rows of Wh multiply r * h_prev, not h_prev.
    T* rh_all = sized(scratch.rh_all, rows * H);
    for (std::size_t r = 0; r < rows; ++r)
      for (int j = 0; j < H; ++j)
        rh_all[r * H + j] = saved.gates[r * GH + j] * saved.h_prev[r * H + j];
    gemm(true, false, 2 * H, H, int(rows), T(1), dzh, GH, saved.h_prev, H, T(1), grads.Wh, H);
    gemm(true, false, H, H, int(rows), T(1), dzh + 2 * H, GH, rh_all, H, T(1),
         grads.Wh + std::size_t(2) * H * H, H);
  }
  // The input's gradient.
  gemm(false, false, int(rows), I, GH, T(1), dzx, GH, w.Wx, I, T(1), din, I);
}

template void layer_forward<float>(const LayerWeights<float>&, Dir, const Sequences&, const float*,
                                   const float*, const float*, float*, int, float*, float*,
                                   const StepSave<float>&, Scratch<float>&);
template void layer_forward<double>(const LayerWeights<double>&, Dir, const Sequences&,
                                    const double*, const double*, const double*, double*, int,
                                    double*, double*, const StepSave<double>&, Scratch<double>&);
template void layer_backward<float>(const LayerWeights<float>&, Dir, const Sequences&, const float*,
                                    const float*, int, const StepSave<float>&, const float*,
                                    const float*, float*, float*, float*, const LayerGrads<float>&,
                                    Scratch<float>&);
template void layer_backward<double>(const LayerWeights<double>&, Dir, const Sequences&,
                                     const double*, const double*, int, const StepSave<double>&,
                                     const double*, const double*, double*, double*, double*,
                                     const LayerGrads<double>&, Scratch<double>&);

}  // namespace rnnx::cpu
