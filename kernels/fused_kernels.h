// The GPU engines' fused kernels: one launch per step for the pointwise passes of the fused
// algorithm (the same passes, arguments and row conventions as the cpu engine's, see
// src/cpu/pointwise.h and kernels/step_rows.h), plus the small kernels around them. Each launcher
// enqueues on `stream` and returns the launch status (cudaGetLastError), which the caller checks.
// Instantiated for float and double.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/step_rows.h"
#include "rnnx/model.h"

namespace rnnx::gpu {

using kernels::StepRows;
using kernels::StepSave;

// ---- the fused passes, one kernel each ----

template <class T>
cudaError_t lstm_forward_step(cudaStream_t stream, const StepRows& rows, int H, T forget_bias,
                              const T* proj, const T* bias, T* rec, T* h, T* c, T* y, int y_ld,
                              const StepSave<T>& save);
template <class T>
cudaError_t gru_after_forward_step(cudaStream_t stream, const StepRows& rows, int H, const T* proj,
                                   const T* bias, const T* rec, const T* bhn, T* h, T* y, int y_ld,
                                   const StepSave<T>& save);
template <class T>
cudaError_t gru_before_reset_step(cudaStream_t stream, const StepRows& rows, int H, const T* proj,
                                  const T* bias, const T* rec, const T* h, T* r_out, T* rh);
template <class T>
cudaError_t gru_before_forward_step(cudaStream_t stream, const StepRows& rows, int H, const T* proj,
                                    const T* bias, const T* rec, const T* r, T* h, T* y, int y_ld,
                                    const StepSave<T>& save);
// The vanilla RNN, tanh or relu (one kernel instance each, chosen here by act).
template <class T>
cudaError_t rnn_forward_step(cudaStream_t stream, const StepRows& rows, int H, Activation act,
                             const T* proj, const T* bias, const T* rec, T* h, T* y, int y_ld,
                             const StepSave<T>& save);
template <class T>
cudaError_t lstm_backward_step(cudaStream_t stream, const StepRows& rows, int H,
                               const StepSave<T>& saved, const T* dh, const T* dout, int dout_ld,
                               T* dc, T* dz, T* dz_step);
template <class T>
cudaError_t gru_after_backward_step(cudaStream_t stream, const StepRows& rows, int H,
                                    const StepSave<T>& saved, const T* dh, const T* dout,
                                    int dout_ld, T* dzx, T* dzh, T* dz_step, T* dh_direct);
template <class T>
cudaError_t gru_before_backward_step(cudaStream_t stream, const StepRows& rows, int H,
                                     const StepSave<T>& saved, const T* dh, const T* dout,
                                     int dout_ld, T* dz, T* dz_step, T* dh_direct);
template <class T>
cudaError_t gru_before_reset_backward_step(cudaStream_t stream, const StepRows& rows, int H,
                                           const StepSave<T>& saved, const T* drh, T* dz,
                                           T* dz_step, T* dh_direct);
template <class T>
cudaError_t rnn_backward_step(cudaStream_t stream, const StepRows& rows, int H, Activation act,
                              const StepSave<T>& saved, const T* dh, const T* dout, int dout_ld,
                              T* dz, T* dz_step);

// dh = dh_step (+ dh_direct) for the sequences still running at this step.
template <class T>
cudaError_t combine_dh(cudaStream_t stream, const StepRows& rows, int H, bool add_direct,
                       const T* dh_step, const T* dh_direct, T* dh);

// ---- around the passes ----

// bias[k] = bx[k] + bh[k], except bx alone for k >= 2H when keep_bhn (GRU reset after).
template <class T>
cudaError_t projection_bias(cudaStream_t stream, int GH, int H, bool keep_bhn, const T* bx,
                            const T* bh, T* bias);

// out[row][j] = gates[row][j] * h_prev[row][j] for the first H of each row's 3H gates.
template <class T>
cudaError_t reset_times_h(cudaStream_t stream, std::size_t rows, int H, const T* gates,
                          const T* h_prev, T* out);

template <class T>
cudaError_t fill(cudaStream_t stream, T* p, std::size_t n, T value);

// A [T][B][F] time-major copy of a sequence in `layout`; with len (device, [B]) non-null, rows
// (t, b) with t >= len[b] are zeroed instead of copied.
template <class T>
cudaError_t to_time_major(cudaStream_t stream, const T* in, int steps, int batch, int F,
                          Layout layout, const int* len, T* out);

// The inverse: a time-major sequence written out in `layout`.
template <class T>
cudaError_t from_time_major(cudaStream_t stream, const T* in, int steps, int batch, int F,
                            Layout layout, T* out);

// out[k] = accumulate ? out[k] + in[k] : in[k].
template <class T>
cudaError_t write_or_add(cudaStream_t stream, const T* in, std::size_t n, bool accumulate, T* out);

}  // namespace rnnx::gpu
