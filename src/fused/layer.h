// One layer and direction of the fused algorithm, written once for every backend (the cpu
// engine's, the GPU engines'): the input projection of all steps as one GEMM, then per step the
// recurrent GEMM and one fused pointwise pass (two of each for a GRU that resets before the
// matmul); which pass is chosen once per step by the cell's kind; backward mirrors it and ends with
// the weight gradients as GEMMs over all steps. Only the first max(len) times are touched.
//
// A Backend<T> provides, on its own memory and (GPU) stream:
//   T* scratch(Slot, n)                      an array of at least n elements, kept across calls
//   void copy(const T* from, n, T* to), void zero(T* p, n)
//   void zero_ended_rows(seq, times, row, p)  zeroes the rows (t, b) of p [times][B][row] with
//                                            t >= len[b] (and may zero the others too)
//   void gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)   row-major
//   StepWeights<T> step_weights(index, transposed, N, K, B, ldb)   the recurrent weights of a
//                                            per-step product, as the backend wants them; index
//                                            (0 or 1) tells a call's two products apart
//   void step_gemm(M, step_weights, A, lda, C, ldc)   C = A op(B), at every step
//   const T* projection_bias(const LayerWeights<T>&)   [G*H]: bx + bh, but bx alone for the n
//                                                      rows where bhn_apart (fused/steps.h)
//   void over_sequence_blocks(B, body)       runs body(first, last, threads) over the batch
//   bool projects_in_steps(w, B, training)  whether recurrence_forward makes in Wx^T within each
//                                            step's product (proj is then null)
//   bool recurrence_forward(w, dir, seq, in, proj, bias, h, c, out, out_ld, save)
//                                            runs all the steps itself where it has a faster way
//                                            for the shape (the cpu engine's small batches); false:
//                                            the steps below run
//   the fused passes of cpu/pointwise.h (lstm_forward_step, ...) with the same arguments
//   void combine_dh(step, H, add_direct, dh_step, dh_direct, dh)
//   void add_column_sums(dz, rows, cols, out, out2 = null)   out[k] (and out2[k] where not
//                                                      null) += sum_r dz[r][k]
//   void reset_times_h(rows, H, gates, h_prev, out)    out = r * h_prev per time (GRU before)
#pragma once

#include "fused/steps.h"

namespace rnnx::fused {

// The weights of a step's recurrent products, laid out once per layer call by the backend: all of
// Wh, or for a GRU that resets before the matmul its r and z rows (first) and its n rows
// (second), which multiply r * h. Forward multiplies by Wh^T, backward by Wh.
template <class T>
struct RecurrentWeights {
  StepWeights<T> first, second;
};

template <class T, class Backend>
RecurrentWeights<T> recurrent_weights(Backend& be, const LayerWeights<T>& w, bool forward) {
  const CellTraits traits = cell_traits(cell_kind(*w.layer));
  const int H = w.layer->hidden, rows = traits.reset_before ? 2 * H : traits.gates * H;
  RecurrentWeights<T> r;
  r.first = forward ? be.step_weights(0, true, rows, H, w.Wh, H)
                    : be.step_weights(0, false, H, rows, w.Wh, H);
  if (traits.reset_before) {
    r.second = be.step_weights(1, forward, H, H, w.Wh + std::size_t(2) * H * H, H);
  }
  return r;
}

// in: [T][B][I]; h0, c0, hn, cn: [B][H] (c for LSTM only); out: rows at out + row * out_ld,
// written only for active (t, b). save: per-time arrays for backward, or all nulls.
template <class T, class Backend>
void layer_forward(Backend& be, const LayerWeights<T>& w, Dir dir, const Sequences& seq,
                   const T* in, const T* h0, const T* c0, T* out, int out_ld, T* hn, T* cn,
                   const StepSave<T>& save) {
  const Layer& layer = *w.layer;
  const CellKind kind = cell_kind(layer);
  const CellTraits traits = cell_traits(kind);
  const int B = seq.B, H = layer.hidden, GH = traits.gates * H, I = w.input;
  const std::size_t rows = std::size_t(seq.max_len) * B, state = std::size_t(B) * H;

  T* h = be.scratch(Slot::h, state);
  T* c = be.scratch(Slot::c, state);
  be.copy(h0, state, h);
  if (traits.has_c) be.copy(c0, state, c);

  if (rows > 0) {
    // Every step's input projection at once: proj = in Wx^T (biases are added pointwise), unless
    // the backend's recurrence makes it within each step's product.
    T* proj = nullptr;
    if (!be.projects_in_steps(w, B, save.gates != nullptr)) {
      proj = be.scratch(Slot::proj, rows * GH);
      be.gemm(false, true, int(rows), GH, I, T(1), in, I, w.Wx, I, T(0), proj, GH);
    }
    const T* bias = be.projection_bias(w);

    if (!be.recurrence_forward(w, dir, seq, in, proj, bias, h, c, out, out_ld, save)) {
      T* rec = be.scratch(Slot::rec, std::size_t(B) * GH);
      T* reset = be.scratch(Slot::r, state);
      T* rh = be.scratch(Slot::rh, state);
      // h Wh^T at each step: all G*H columns, or a GRU that resets before the matmul's r and z
      // columns (wh) and then its n columns (whn).
      const RecurrentWeights<T> weights = recurrent_weights(be, w, true);
      const StepWeights<T>&wh = weights.first, &whn = weights.second;
      be.over_sequence_blocks(B, [&](int first, int last, int threads) {
        const int M = last - first;
        T* hb = h + std::size_t(first) * H;
        T* recb = rec + std::size_t(first) * GH;
        for (int s = 0; s < seq.max_len; ++s) {
          const StepRows step{B, seq.len, s, dir, threads, first, last};
          switch (kind) {
            case CellKind::lstm:
              be.step_gemm(M, wh, hb, H, recb, GH);
              be.lstm_forward_step(step, H, T(layer.forget_bias), proj, bias, rec, h, c, out,
                                   out_ld, save);
              break;
            case CellKind::gru_reset_after:
              be.step_gemm(M, wh, hb, H, recb, GH);
              be.gru_after_forward_step(step, H, proj, bias, rec, w.bh + 2 * H, h, out, out_ld,
                                        save);
              break;
            case CellKind::gru_reset_before:
              // r and z from h; then n's recurrent term from r * h.
              be.step_gemm(M, wh, hb, H, recb, GH);
              be.gru_before_reset_step(step, H, proj, bias, rec, h, reset, rh);
              be.step_gemm(M, whn, rh + std::size_t(first) * H, H, recb + 2 * H, GH);
              be.gru_before_forward_step(step, H, proj, bias, rec, reset, h, out, out_ld, save);
              break;
            case CellKind::rnn_tanh:
            case CellKind::rnn_relu:
              be.step_gemm(M, wh, hb, H, recb, GH);
              be.rnn_forward_step(step, H, layer.activation, proj, bias, rec, h, out, out_ld, save);
              break;
          }
        }
      });
    }
  }
  be.copy(h, state, hn);
  if (traits.has_c) be.copy(c, state, cn);
}

// dout: rows at dout + row * dout_ld (already offset to this direction); dhn, dcn: gradients of
// the final state; writes dh0, dc0 and adds to the weight gradients. Returns the x-side
// pre-activation gradients [max_len][B][G*H] (in the backend's scratch), from which the caller
// computes the input's gradient (dzx Wx) once both directions are done.
template <class T, class Backend>
const T* layer_backward(Backend& be, const LayerWeights<T>& w, Dir dir, const Sequences& seq,
                        const T* in, const T* dout, int dout_ld, const StepSave<T>& saved,
                        const T* dhn, const T* dcn, T* dh0, T* dc0, const LayerGrads<T>& grads) {
  const Layer& layer = *w.layer;
  const CellKind kind = cell_kind(layer);
  const CellTraits traits = cell_traits(kind);
  const int B = seq.B, H = layer.hidden, GH = traits.gates * H, I = w.input;
  const std::size_t rows = std::size_t(seq.max_len) * B, state = std::size_t(B) * H;
  // Part of a GRU's dh_prev (dh * z, and dh through r * h before the matmul) bypasses the dh GEMM.
  bool gru = false;
  switch (kind) {
    case CellKind::gru_reset_after:
    case CellKind::gru_reset_before:
      gru = true;
      break;
    case CellKind::lstm:
    case CellKind::rnn_tanh:
    case CellKind::rnn_relu:
      break;
  }

  // dh, dc: the gradient at each sequence's state, carried back through the steps.
  T* dh = dh0;
  T* dc = dc0;
  be.copy(dhn, state, dh);
  if (traits.has_c) be.copy(dcn, state, dc);
  if (rows == 0) return nullptr;

  // Pre-activation gradients per time: x side (dzx) and h side (dzh); one array where they agree
  // (all but a GRU that resets after the matmul, fused/steps.h). Rows of ended sequences stay
  // zero, so the GEMMs below skip them for free.
  const bool dzh_apart = h_side_gradients_apart(kind);
  T* dzx = be.scratch(Slot::dzx, rows * GH);
  T* dzh = dzh_apart ? be.scratch(Slot::dzh, rows * GH) : dzx;
  be.zero_ended_rows(seq, seq.max_len, GH, dzx);
  if (dzh_apart) be.zero_ended_rows(seq, seq.max_len, GH, dzh);
  T* dz_step = be.scratch(Slot::dz_step, std::size_t(B) * GH);
  T* dh_step = be.scratch(Slot::dh_step, state);
  T* dh_direct = be.scratch(Slot::dh_direct, state);
  be.zero(dh_direct, state);

  // dz Wh at each step: all G*H rows of Wh, or a GRU that resets before the matmul's n rows
  // (whn, for d(r * h)) and then its r and z rows (wh).
  const RecurrentWeights<T> weights = recurrent_weights(be, w, false);
  const StepWeights<T>&wh = weights.first, &whn = weights.second;
  be.over_sequence_blocks(B, [&](int first, int last, int threads) {
    const int M = last - first;
    T* dzb = dz_step + std::size_t(first) * GH;
    T* dhb = dh_step + std::size_t(first) * H;
    for (int s = seq.max_len - 1; s >= 0; --s) {
      const StepRows step{B, seq.len, s, dir, threads, first, last};
      switch (kind) {
        case CellKind::lstm:
          be.lstm_backward_step(step, H, saved, dh, dout, dout_ld, dc, dzx, dz_step);
          be.step_gemm(M, wh, dzb, GH, dhb, H);
          break;
        case CellKind::gru_reset_after:
          be.gru_after_backward_step(step, H, saved, dh, dout, dout_ld, dzx, dzh, dz_step,
                                     dh_direct);
          be.step_gemm(M, wh, dzb, GH, dhb, H);
          break;
        case CellKind::gru_reset_before:
          be.gru_before_backward_step(step, H, saved, dh, dout, dout_ld, dzx, dz_step, dh_direct);
          // d(r*h) = dn Whn, then r's gradient, then dh through the r and z rows.
          be.step_gemm(M, whn, dzb + 2 * H, GH, dhb, H);
          be.gru_before_reset_backward_step(step, H, saved, dh_step, dzx, dz_step, dh_direct);
          be.step_gemm(M, wh, dzb, GH, dhb, H);
          break;
        case CellKind::rnn_tanh:
        case CellKind::rnn_relu:
          be.rnn_backward_step(step, H, layer.activation, saved, dh, dout, dout_ld, dzx, dz_step);
          be.step_gemm(M, wh, dzb, GH, dhb, H);
          break;
      }
      // Sequences still running at step s take the new gradient; ended ones carry theirs.
      be.combine_dh(step, H, gru, dh_step, dh_direct, dh);
    }
  });

  // Weight gradients over all steps at once.
  be.gemm(true, false, GH, I, int(rows), T(1), dzx, GH, in, I, T(1), grads.Wx, I);
  if (dzh_apart) {
    be.add_column_sums(dzx, rows, GH, grads.bx);
    be.add_column_sums(dzh, rows, GH, grads.bh);
  } else {
    be.add_column_sums(dzx, rows, GH, grads.bx, grads.bh);  // dzh is dzx
  }
  if (!traits.reset_before) {
    be.gemm(true, false, GH, H, int(rows), T(1), dzh, GH, saved.h_prev, H, T(1), grads.Wh, H);
  } else {
    // The n rows of Wh multiply r * h_prev, not h_prev.
    T* rh_all = be.scratch(Slot::rh_all, rows * H);
    be.reset_times_h(rows, H, saved.gates, saved.h_prev, rh_all);
    be.gemm(true, false, 2 * H, H, int(rows), T(1), dzh, GH, saved.h_prev, H, T(1), grads.Wh, H);
    be.gemm(true, false, H, H, int(rows), T(1), dzh + 2 * H, GH, rh_all, H, T(1),
            grads.Wh + std::size_t(2) * H * H, H);
  }
  return dzx;
}

}  // namespace rnnx::fused
