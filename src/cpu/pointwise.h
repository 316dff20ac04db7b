// The fused pointwise passes of the cpu engine: one call per step handles the active sequences of
// [first, last) (in parallel over sequences when the call has threads), one unit at a time with
// the shared cell math (kernels/cell_math.h). Row conventions: fused/steps.h.
#pragma once

#include <cstddef>

#include "fused/steps.h"

namespace rnnx::cpu {

using fused::StepRows;
using fused::StepSave;

// ---- forward ----

// proj: [T][B][G*H] = x Wx^T, the input projection of every step; bias [G*H]: bx + bh (the n
// rows of a GRU that resets after the matmul: bx only, with bhn given apart); rec: [B][G*H]
// = h Wh^T of this step.

// LSTM. rec is used as scratch (overwritten). Updates h, c [B][H] of active rows and writes y
// rows (t, b) at y + row * y_ld. proj may be null (here and for the RNN): rec then holds the
// step's x Wx^T too (the cpu backend's steps that project x themselves).
template <class T>
void lstm_forward_step(const StepRows& rows, int H, T forget_bias, const T* proj, const T* bias,
                       T* rec, T* h, T* c, T* y, int y_ld, const StepSave<T>& save);

// GRU, reset after the matmul; bhn: the n rows' recurrent bias.
template <class T>
void gru_after_forward_step(const StepRows& rows, int H, const T* proj, const T* bias, const T* rec,
                            const T* bhn, T* h, T* y, int y_ld, const StepSave<T>& save);

// GRU, reset before the matmul, first pass: r from rec's r rows (r and z rows filled), writes
// r and r*h into r_out, rh [B][H]. proj may be null in both passes, as for the LSTM: rec's r and
// z rows then hold x Wx^T too, and its n rows (x Wxn^T + (r*h) Whn^T in the second pass) as well.
template <class T>
void gru_before_reset_step(const StepRows& rows, int H, const T* proj, const T* bias, const T* rec,
                           const T* h, T* r_out, T* rh);

// Second pass: rec's n rows now hold (r*h) Whn^T.
template <class T>
void gru_before_forward_step(const StepRows& rows, int H, const T* proj, const T* bias,
                             const T* rec, const T* r, T* h, T* y, int y_ld,
                             const StepSave<T>& save);

// Vanilla RNN (act: tanh or relu); rec is only read. save.gates gets h itself (G = 1).
template <class T>
void rnn_forward_step(const StepRows& rows, int H, Activation act, const T* proj, const T* bias,
                      const T* rec, T* h, T* y, int y_ld, const StepSave<T>& save);

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

// Reset before, first pass: z and n; dz_step's n rows get dn for the d(r*h) GEMM. dz [T][B][3H]
// serves as both sides, as for the LSTM: the n rows' h-side gradient is dn itself (r multiplies h
// before the matmul, and its gradient is the second pass's).
template <class T>
void gru_before_backward_step(const StepRows& rows, int H, const StepSave<T>& saved, const T* dh,
                              const T* dout, int dout_ld, T* dz, T* dz_step, T* dh_direct);

// Second pass: drh [B][H] = dn Whn; gives r's gradient and adds drh * r to dh_direct.
template <class T>
void gru_before_reset_backward_step(const StepRows& rows, int H, const StepSave<T>& saved,
                                    const T* drh, T* dz, T* dz_step, T* dh_direct);

// Vanilla RNN: dz [T][B][H] serves as both sides (the x and h sides agree); dh_prev is all in
// the dh GEMM.
template <class T>
void rnn_backward_step(const StepRows& rows, int H, Activation act, const StepSave<T>& saved,
                       const T* dh, const T* dout, int dout_ld, T* dz, T* dz_step);

}  // namespace rnnx::cpu
