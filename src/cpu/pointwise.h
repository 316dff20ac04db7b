// The fused pointwise passes of the cpu engine: one call per step handles every active sequence
// of the batch (in parallel over sequences), one unit at a time with the shared cell math
// (kernels/cell_math.h). Rows of per-time arrays are indexed by (t * B + b); a sequence is
// active at step s while s < len[b], and its time t is s (forward) or len[b]-1-s (backward).
#pragma once

#include <cstddef>

#include "rnnx/model.h"

namespace rnnx::cpu {

struct StepRows {
  int B = 0;                 // batch
  const int* len = nullptr;  // [B] lengths
  int s = 0;                 // the step
  Dir dir = Dir::fw;
  int threads = 1;          // threads over the rows (1 inside a thread's own block)
  int first = 0, last = 0;  // the sequences [first, last) this call handles

  // The time row b works on at this step, or -1 if its sequence has ended.
  int time(int b) const {
    if (s >= len[b]) return -1;
    return dir == Dir::fw ? s : len[b] - 1 - s;
  }
  std::size_t row(int t, int b) const { return std::size_t(t) * B + b; }
};

// What forward_train keeps per step for backward (all per-time arrays), or nulls for inference.
template <class T>
struct StepSave {
  T* gates = nullptr;   // [T][B][G*H] activated gates (LSTM i, f, g, o; GRU r, z, n)
  T* h_prev = nullptr;  // [T][B][H] the h each step started from
  T* c_prev = nullptr;  // [T][B][H] LSTM: the c each step started from
  T* hn = nullptr;      // [T][B][H] GRU reset after: Whn h + bhn
};

// ---- forward ----

// proj: [T][B][G*H] = x Wx^T, the input projection of every step; bias [G*H]: bx + bh (the n
// rows of a GRU that resets after the matmul: bx only, with bhn given apart); rec: [B][G*H]
// = h Wh^T of this step.

// LSTM. rec is used as scratch (overwritten). Updates h, c [B][H] of active rows and writes y
// rows (t, b) at y + row * y_ld.
template <class T>
void lstm_forward_step(const StepRows& rows, int H, T forget_bias, const T* proj, const T* bias,
                       T* rec, T* h, T* c, T* y, int y_ld, const StepSave<T>& save);

// GRU, reset after the matmul; bhn: the n rows' recurrent bias.
template <class T>
void gru_after_forward_step(const StepRows& rows, int H, const T* proj, const T* bias, const T* rec,
                            const T* bhn, T* h, T* y, int y_ld, const StepSave<T>& save);

// GRU, reset before the matmul, first pass: r from rec's r rows (r and z rows filled), writes
// r and r*h into r_out, rh [B][H].
template <class T>
void gru_before_reset_step(const StepRows& rows, int H, const T* proj, const T* bias, const T* rec,
                           const T* h, T* r_out, T* rh);

// Second pass: rec's n rows now hold (r*h) Whn^T.
template <class T>
void gru_before_forward_step(const StepRows& rows, int H, const T* proj, const T* bias,
                             const T* rec, const T* r, T* h, T* y, int y_ld,
                             const StepSave<T>& save);

// ---- backward ----
// dh [B][H] holds the gradient arriving at each sequence's state from later steps; dout rows
// (t, b) at dout + row * dout_ld the gradient of this step's output. Results go to dzx/dzh
// (per-time [T][B][G*H]: the pre-activation gradients for the x side and the h side), and to
// dz_step [B][G*H], the h side of this step for the dh GEMM (rows of ended sequences zeroed).

template <class T>
void lstm_backward_step(const StepRows& rows, int H, const StepSave<T>& saved, const T* dh,
                        const T* dout, int dout_ld, T* dc, T* dz, T* dz_step);

// dh_direct [B][H]: the part of dh_prev that does not go through the GEMM (dh * z).
template <class T>
void gru_after_backward_step(const StepRows& rows, int H, const StepSave<T>& saved, const T* dh,
                             const T* dout, int dout_ld, T* dzx, T* dzh, T* dz_step, T* dh_direct);

// Reset before, first pass: z and n; dz_step's n rows get dn for the d(r*h) GEMM.
template <class T>
void gru_before_backward_step(const StepRows& rows, int H, const StepSave<T>& saved, const T* dh,
                              const T* dout, int dout_ld, T* dzx, T* dzh, T* dz_step, T* dh_direct);

// Second pass: drh [B][H] = dn Whn; gives r's gradient and adds drh * r to dh_direct.
template <class T>
void gru_before_reset_backward_step(const StepRows& rows, int H, const StepSave<T>& saved,
                                    const T* drh, T* dzx, T* dzh, T* dz_step, T* dh_direct);

}  // namespace rnnx::cpu
