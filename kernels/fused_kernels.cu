#include "kernels/fused_kernels.h"

#include <algorithm>

#include "kernels/cell_math.h"

namespace rnnx::gpu {

namespace {

constexpr int kThreads = 128;

// One thread per hidden unit (x), one block row per sequence (y, grid-strided past 65535).
struct RowLaunch {
  dim3 grid, block;
};
RowLaunch row_launch(int H, int rows) {
  return RowLaunch{dim3((H + kThreads - 1) / kThreads, std::min(rows, 65535)), dim3(kThreads)};
}

// Grid-stride over n elements.
dim3 flat_grid(std::size_t n) {
  const std::size_t blocks = (n + kThreads - 1) / kThreads;
  return dim3(static_cast<unsigned>(std::min<std::size_t>(blocks, 1 << 20)));
}

#define RNNX_FOR_EACH_ROW(rows)                                              \
  for (int b = (rows).first + static_cast<int>(blockIdx.y); b < (rows).last; \
       b += static_cast<int>(gridDim.y))

// ---- forward ----

template <class T>
__global__ void lstm_forward_kernel(StepRows rows, int H, T forget_bias, const T* proj,
                                    const T* bias, const T* rec, T* h, T* c, T* y, int y_ld,
                                    StepSave<T> save) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= H) return;
  const std::size_t G = 4 * std::size_t(H);
  RNNX_FOR_EACH_ROW(rows) {
    const int t = rows.time(b);
    if (t < 0) continue;
    const std::size_t row = rows.row(t, b), s = std::size_t(b) * H + j;
    const T* p = proj + row * G;
    const T* r = rec + b * G;
    const T h_prev = h[s], c_prev = c[s];
    const cell::LstmUnit<T> u =
        cell::lstm_forward(p[j] + bias[j] + r[j], p[H + j] + bias[H + j] + r[H + j],
                           p[2 * H + j] + bias[2 * H + j] + r[2 * H + j],
                           p[3 * H + j] + bias[3 * H + j] + r[3 * H + j], c_prev, forget_bias);
    c[s] = u.c;
    h[s] = u.h;
    y[row * y_ld + j] = u.h;
    if (save.gates != nullptr) {
      T* g = save.gates + row * G;
      g[j] = u.i;
      g[H + j] = u.f;
      g[2 * H + j] = u.g;
      g[3 * H + j] = u.o;
      save.h_prev[row * H + j] = h_prev;
      save.c_prev[row * H + j] = c_prev;
    }
  }
}

template <class T>
__global__ void gru_after_forward_kernel(StepRows rows, int H, const T* proj, const T* bias,
                                         const T* rec, const T* bhn, T* h, T* y, int y_ld,
                                         StepSave<T> save) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= H) return;
  const std::size_t G = 3 * std::size_t(H);
  RNNX_FOR_EACH_ROW(rows) {
    const int t = rows.time(b);
    if (t < 0) continue;
    const std::size_t row = rows.row(t, b), s = std::size_t(b) * H + j;
    const T* p = proj + row * G;
    const T* r = rec + b * G;
    const T reset = cell::sigmoid(p[j] + bias[j] + r[j]);
    const T update = cell::sigmoid(p[H + j] + bias[H + j] + r[H + j]);
    const T hn = r[2 * H + j] + bhn[j];
    const T n = cell::gru_candidate(p[2 * H + j] + bias[2 * H + j], hn, reset, true);
    const T h_prev = h[s];
    const T out = cell::gru_output(update, n, h_prev);
    h[s] = out;
    y[row * y_ld + j] = out;
    if (save.gates != nullptr) {
      T* g = save.gates + row * G;
      g[j] = reset;
      g[H + j] = update;
      g[2 * H + j] = n;
      save.h_prev[row * H + j] = h_prev;
      save.hn[row * H + j] = hn;
    }
  }
}

template <class T>
__global__ void gru_before_reset_kernel(StepRows rows, int H, const T* proj, const T* bias,
                                        const T* rec, const T* h, T* r_out, T* rh) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= H) return;
  const std::size_t G = 3 * std::size_t(H);
  RNNX_FOR_EACH_ROW(rows) {
    const int t = rows.time(b);
    const std::size_t s = std::size_t(b) * H + j;
    if (t < 0) {
      rh[s] = T(0);  // an ended sequence's rh still feeds the GEMM; keep it finite
      continue;
    }
    const std::size_t row = rows.row(t, b);
    const T reset = cell::sigmoid(proj[row * G + j] + bias[j] + rec[b * G + j]);
    r_out[s] = reset;
    rh[s] = reset * h[s];
  }
}

template <class T>
__global__ void gru_before_forward_kernel(StepRows rows, int H, const T* proj, const T* bias,
                                          const T* rec, const T* reset, T* h, T* y, int y_ld,
                                          StepSave<T> save) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= H) return;
  const std::size_t G = 3 * std::size_t(H);
  RNNX_FOR_EACH_ROW(rows) {
    const int t = rows.time(b);
    if (t < 0) continue;
    const std::size_t row = rows.row(t, b), s = std::size_t(b) * H + j;
    const T* p = proj + row * G;
    const T* r = rec + b * G;
    const T update = cell::sigmoid(p[H + j] + bias[H + j] + r[H + j]);
    const T n = cell::gru_candidate(p[2 * H + j] + bias[2 * H + j], r[2 * H + j], reset[s], false);
    const T h_prev = h[s];
    const T out = cell::gru_output(update, n, h_prev);
    h[s] = out;
    y[row * y_ld + j] = out;
    if (save.gates != nullptr) {
      T* g = save.gates + row * G;
      g[j] = reset[s];
      g[H + j] = update;
      g[2 * H + j] = n;
      save.h_prev[row * H + j] = h_prev;
    }
  }
}

// save.gates gets h itself: the RNN's one "gate" (G = 1).
template <class T, bool kRelu>
__global__ void rnn_forward_kernel(StepRows rows, int H, const T* proj, const T* bias, const T* rec,
                                   T* h, T* y, int y_ld, StepSave<T> save) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= H) return;
  RNNX_FOR_EACH_ROW(rows) {
    const int t = rows.time(b);
    if (t < 0) continue;
    const std::size_t row = rows.row(t, b), s = std::size_t(b) * H + j;
    const T h_prev = h[s];
    const T out = cell::rnn_forward<kRelu>(proj[row * H + j] + bias[j] + rec[s]);
    h[s] = out;
    y[row * y_ld + j] = out;
    if (save.gates != nullptr) {
      save.gates[row * H + j] = out;
      save.h_prev[row * H + j] = h_prev;
    }
  }
}

// ---- backward ----

template <class T>
__global__ void lstm_backward_kernel(StepRows rows, int H, StepSave<T> saved, const T* dh,
                                     const T* dout, int dout_ld, T* dc, T* dz, T* dz_step) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= H) return;
  const std::size_t G = 4 * std::size_t(H);
  RNNX_FOR_EACH_ROW(rows) {
    const int t = rows.time(b);
    T* step = dz_step + b * G;
    if (t < 0) {
      for (int k = 0; k < 4; ++k) step[k * H + j] = T(0);
      continue;
    }
    const std::size_t row = rows.row(t, b), s = std::size_t(b) * H + j;
    const T* g = saved.gates + row * G;
    const cell::LstmUnitGrad<T> d =
        cell::lstm_backward(g[j], g[H + j], g[2 * H + j], g[3 * H + j], saved.c_prev[row * H + j],
                            dh[s] + dout[row * dout_ld + j], dc[s]);
    T* z = dz + row * G;
    z[j] = step[j] = d.di;
    z[H + j] = step[H + j] = d.df;
    z[2 * H + j] = step[2 * H + j] = d.dg;
    z[3 * H + j] = step[3 * H + j] = d.do_;
    dc[s] = d.dc_prev;
  }
}

template <class T>
__global__ void gru_after_backward_kernel(StepRows rows, int H, StepSave<T> saved, const T* dh,
                                          const T* dout, int dout_ld, T* dzx, T* dzh, T* dz_step,
                                          T* dh_direct) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= H) return;
  const std::size_t G = 3 * std::size_t(H);
  RNNX_FOR_EACH_ROW(rows) {
    const int t = rows.time(b);
    T* step = dz_step + b * G;
    if (t < 0) {
      for (int k = 0; k < 3; ++k) step[k * H + j] = T(0);
      continue;
    }
    const std::size_t row = rows.row(t, b), s = std::size_t(b) * H + j;
    const T* g = saved.gates + row * G;
    const cell::GruUnitGrad<T> d =
        cell::gru_backward(g[j], g[H + j], g[2 * H + j], saved.hn[row * H + j],
                           saved.h_prev[row * H + j], dh[s] + dout[row * dout_ld + j], true);
    T* zx = dzx + row * G;
    T* zh = dzh + row * G;
    zx[j] = zh[j] = step[j] = d.dr;
    zx[H + j] = zh[H + j] = step[H + j] = d.dz;
    zx[2 * H + j] = d.dn;
    zh[2 * H + j] = step[2 * H + j] = d.dhn;
    dh_direct[s] = d.dh_prev;
  }
}

template <class T>
__global__ void gru_before_backward_kernel(StepRows rows, int H, StepSave<T> saved, const T* dh,
                                           const T* dout, int dout_ld, T* dz, T* dz_step,
                                           T* dh_direct) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= H) return;
  const std::size_t G = 3 * std::size_t(H);
  RNNX_FOR_EACH_ROW(rows) {
    const int t = rows.time(b);
    T* step = dz_step + b * G;
    if (t < 0) {
      for (int k = 0; k < 3; ++k) step[k * H + j] = T(0);
      continue;
    }
    const std::size_t row = rows.row(t, b), s = std::size_t(b) * H + j;
    const T* g = saved.gates + row * G;
    const cell::GruUnitGrad<T> d =
        cell::gru_backward(g[j], g[H + j], g[2 * H + j], T(0), saved.h_prev[row * H + j],
                           dh[s] + dout[row * dout_ld + j], false);
    T* z = dz + row * G;
    z[H + j] = step[H + j] = d.dz;
    z[2 * H + j] = step[2 * H + j] = d.dn;  // d.dhn is d.dn: both sides agree
    dh_direct[s] = d.dh_prev;
  }
}

template <class T>
__global__ void gru_before_reset_backward_kernel(StepRows rows, int H, StepSave<T> saved,
                                                 const T* drh, T* dz, T* dz_step, T* dh_direct) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= H) return;
  const std::size_t G = 3 * std::size_t(H);
  RNNX_FOR_EACH_ROW(rows) {
    const int t = rows.time(b);
    if (t < 0) continue;
    const std::size_t row = rows.row(t, b), s = std::size_t(b) * H + j;
    const cell::GruResetGrad<T> d = cell::gru_reset_before_backward(
        saved.gates[row * G + j], saved.h_prev[row * H + j], drh[s]);
    dz[row * G + j] = dz_step[b * G + j] = d.dr;
    dh_direct[s] += d.dh_prev;
  }
}

template <class T, bool kRelu>
__global__ void rnn_backward_kernel(StepRows rows, int H, StepSave<T> saved, const T* dh,
                                    const T* dout, int dout_ld, T* dz, T* dz_step) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= H) return;
  RNNX_FOR_EACH_ROW(rows) {
    const int t = rows.time(b);
    const std::size_t s = std::size_t(b) * H + j;
    if (t < 0) {
      dz_step[s] = T(0);  // an ended sequence's row still feeds the dh GEMM
      continue;
    }
    const std::size_t row = rows.row(t, b);
    const T d =
        cell::rnn_backward<kRelu>(saved.gates[row * H + j], dh[s] + dout[row * dout_ld + j]);
    dz[row * H + j] = d;
    dz_step[s] = d;
  }
}

template <class T>
__global__ void combine_dh_kernel(StepRows rows, int H, bool add_direct, const T* dh_step,
                                  const T* dh_direct, T* dh) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= H) return;
  RNNX_FOR_EACH_ROW(rows) {
    if (rows.time(b) < 0) continue;
    const std::size_t s = std::size_t(b) * H + j;
    dh[s] = dh_step[s] + (add_direct ? dh_direct[s] : T(0));
  }
}

// ---- around the passes ----

template <class T>
__global__ void projection_bias_kernel(int GH, int H, bool keep_bhn, const T* bx, const T* bh,
                                       T* bias) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k < GH) bias[k] = bx[k] + (keep_bhn && k >= 2 * H ? T(0) : bh[k]);
}

template <class T>
__global__ void reset_times_h_kernel(std::size_t n, int H, const T* gates, const T* h_prev,
                                     T* out) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const std::size_t row = i / H, j = i % H;
    out[i] = gates[row * 3 * H + j] * h_prev[i];
  }
}

template <class T>
__global__ void fill_kernel(T* p, std::size_t n, T value) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    p[i] = value;
  }
}

// Element i of the time-major array [t][b][f], and where it sits in `layout`.
struct SequenceIndex {
  std::size_t t, b, f, other;
};
__device__ SequenceIndex sequence_index(std::size_t i, int steps, int batch, int F, Layout layout) {
  SequenceIndex x;
  x.f = i % F;
  const std::size_t tb = i / F;
  x.b = tb % batch;
  x.t = tb / batch;
  x.other = layout == Layout::time_major ? i : (x.b * steps + x.t) * F + x.f;
  return x;
}

template <class T>
__global__ void to_time_major_kernel(const T* in, int steps, int batch, int F, Layout layout,
                                     const int* len, T* out) {
  const std::size_t n = std::size_t(steps) * batch * F;
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const SequenceIndex x = sequence_index(i, steps, batch, F, layout);
    const bool padding = len != nullptr && x.t >= static_cast<std::size_t>(len[x.b]);
    out[i] = padding ? T(0) : in[x.other];
  }
}

template <class T>
__global__ void from_time_major_kernel(const T* in, int steps, int batch, int F, Layout layout,
                                       T* out) {
  const std::size_t n = std::size_t(steps) * batch * F;
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    out[sequence_index(i, steps, batch, F, layout).other] = in[i];
  }
}

template <class T>
__global__ void write_or_add_kernel(const T* in, std::size_t n, bool accumulate, T* out) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    out[i] = accumulate ? out[i] + in[i] : in[i];
  }
}

}  // namespace

// ---- launchers ----

#define RNNX_ROW_LAUNCH(kernel, rows, H, ...)                                  \
  do {                                                                         \
    const RowLaunch launch = row_launch(H, (rows).last - (rows).first);        \
    kernel<T><<<launch.grid, launch.block, 0, stream>>>(rows, H, __VA_ARGS__); \
    return cudaGetLastError();                                                 \
  } while (0)

template <class T>
cudaError_t lstm_forward_step(cudaStream_t stream, const StepRows& rows, int H, T forget_bias,
                              const T* proj, const T* bias, T* rec, T* h, T* c, T* y, int y_ld,
                              const StepSave<T>& save) {
  RNNX_ROW_LAUNCH(lstm_forward_kernel, rows, H, forget_bias, proj, bias, rec, h, c, y, y_ld, save);
}

template <class T>
cudaError_t gru_after_forward_step(cudaStream_t stream, const StepRows& rows, int H, const T* proj,
                                   const T* bias, const T* rec, const T* bhn, T* h, T* y, int y_ld,
                                   const StepSave<T>& save) {
  RNNX_ROW_LAUNCH(gru_after_forward_kernel, rows, H, proj, bias, rec, bhn, h, y, y_ld, save);
}

template <class T>
cudaError_t gru_before_reset_step(cudaStream_t stream, const StepRows& rows, int H, const T* proj,
                                  const T* bias, const T* rec, const T* h, T* r_out, T* rh) {
  RNNX_ROW_LAUNCH(gru_before_reset_kernel, rows, H, proj, bias, rec, h, r_out, rh);
}

template <class T>
cudaError_t gru_before_forward_step(cudaStream_t stream, const StepRows& rows, int H, const T* proj,
                                    const T* bias, const T* rec, const T* r, T* h, T* y, int y_ld,
                                    const StepSave<T>& save) {
  RNNX_ROW_LAUNCH(gru_before_forward_kernel, rows, H, proj, bias, rec, r, h, y, y_ld, save);
}

template <class T>
cudaError_t rnn_forward_step(cudaStream_t stream, const StepRows& rows, int H, Activation act,
                             const T* proj, const T* bias, const T* rec, T* h, T* y, int y_ld,
                             const StepSave<T>& save) {
  const RowLaunch launch = row_launch(H, rows.last - rows.first);
  switch (act) {
    case Activation::tanh:
      rnn_forward_kernel<T, false>
          <<<launch.grid, launch.block, 0, stream>>>(rows, H, proj, bias, rec, h, y, y_ld, save);
      return cudaGetLastError();
    case Activation::relu:
      rnn_forward_kernel<T, true>
          <<<launch.grid, launch.block, 0, stream>>>(rows, H, proj, bias, rec, h, y, y_ld, save);
      return cudaGetLastError();
  }
  return cudaErrorInvalidValue;  // not an Activation: validate() refuses such models
}

template <class T>
cudaError_t lstm_backward_step(cudaStream_t stream, const StepRows& rows, int H,
                               const StepSave<T>& saved, const T* dh, const T* dout, int dout_ld,
                               T* dc, T* dz, T* dz_step) {
  RNNX_ROW_LAUNCH(lstm_backward_kernel, rows, H, saved, dh, dout, dout_ld, dc, dz, dz_step);
}

template <class T>
cudaError_t gru_after_backward_step(cudaStream_t stream, const StepRows& rows, int H,
                                    const StepSave<T>& saved, const T* dh, const T* dout,
                                    int dout_ld, T* dzx, T* dzh, T* dz_step, T* dh_direct) {
  RNNX_ROW_LAUNCH(gru_after_backward_kernel, rows, H, saved, dh, dout, dout_ld, dzx, dzh, dz_step,
                  dh_direct);
}

template <class T>
cudaError_t gru_before_backward_step(cudaStream_t stream, const StepRows& rows, int H,
                                     const StepSave<T>& saved, const T* dh, const T* dout,
                                     int dout_ld, T* dz, T* dz_step, T* dh_direct) {
  RNNX_ROW_LAUNCH(gru_before_backward_kernel, rows, H, saved, dh, dout, dout_ld, dz, dz_step,
                  dh_direct);
}

template <class T>
cudaError_t gru_before_reset_backward_step(cudaStream_t stream, const StepRows& rows, int H,
                                           const StepSave<T>& saved, const T* drh, T* dz,
                                           T* dz_step, T* dh_direct) {
  RNNX_ROW_LAUNCH(gru_before_reset_backward_kernel, rows, H, saved, drh, dz, dz_step, dh_direct);
}

template <class T>
cudaError_t rnn_backward_step(cudaStream_t stream, const StepRows& rows, int H, Activation act,
                              const StepSave<T>& saved, const T* dh, const T* dout, int dout_ld,
                              T* dz, T* dz_step) {
  const RowLaunch launch = row_launch(H, rows.last - rows.first);
  switch (act) {
    case Activation::tanh:
      rnn_backward_kernel<T, false><<<launch.grid, launch.block, 0, stream>>>(
          rows, H, saved, dh, dout, dout_ld, dz, dz_step);
      return cudaGetLastError();
    case Activation::relu:
      rnn_backward_kernel<T, true><<<launch.grid, launch.block, 0, stream>>>(
          rows, H, saved, dh, dout, dout_ld, dz, dz_step);
      return cudaGetLastError();
  }
  return cudaErrorInvalidValue;  // not an Activation: validate() refuses such models
}

template <class T>
cudaError_t combine_dh(cudaStream_t stream, const StepRows& rows, int H, bool add_direct,
                       const T* dh_step, const T* dh_direct, T* dh) {
  RNNX_ROW_LAUNCH(combine_dh_kernel, rows, H, add_direct, dh_step, dh_direct, dh);
}

template <class T>
cudaError_t projection_bias(cudaStream_t stream, int GH, int H, bool keep_bhn, const T* bx,
                            const T* bh, T* bias) {
  projection_bias_kernel<T>
      <<<(GH + kThreads - 1) / kThreads, kThreads, 0, stream>>>(GH, H, keep_bhn, bx, bh, bias);
  return cudaGetLastError();
}

template <class T>
cudaError_t reset_times_h(cudaStream_t stream, std::size_t rows, int H, const T* gates,
                          const T* h_prev, T* out) {
  const std::size_t n = rows * H;
  reset_times_h_kernel<T><<<flat_grid(n), kThreads, 0, stream>>>(n, H, gates, h_prev, out);
  return cudaGetLastError();
}

template <class T>
cudaError_t fill(cudaStream_t stream, T* p, std::size_t n, T value) {
  fill_kernel<T><<<flat_grid(n), kThreads, 0, stream>>>(p, n, value);
  return cudaGetLastError();
}

template <class T>
cudaError_t to_time_major(cudaStream_t stream, const T* in, int steps, int batch, int F,
                          Layout layout, const int* len, T* out) {
  to_time_major_kernel<T><<<flat_grid(std::size_t(steps) * batch * F), kThreads, 0, stream>>>(
      in, steps, batch, F, layout, len, out);
  return cudaGetLastError();
}

template <class T>
cudaError_t from_time_major(cudaStream_t stream, const T* in, int steps, int batch, int F,
                            Layout layout, T* out) {
  from_time_major_kernel<T><<<flat_grid(std::size_t(steps) * batch * F), kThreads, 0, stream>>>(
      in, steps, batch, F, layout, out);
  return cudaGetLastError();
}

template <class T>
cudaError_t write_or_add(cudaStream_t stream, const T* in, std::size_t n, bool accumulate, T* out) {
  write_or_add_kernel<T><<<flat_grid(n), kThreads, 0, stream>>>(in, n, accumulate, out);
  return cudaGetLastError();
}

#define RNNX_INSTANTIATE(T)                                                                        \
  template cudaError_t lstm_forward_step<T>(cudaStream_t, const StepRows&, int, T, const T*,       \
                                            const T*, T*, T*, T*, T*, int, const StepSave<T>&);    \
  template cudaError_t gru_after_forward_step<T>(cudaStream_t, const StepRows&, int, const T*,     \
                                                 const T*, const T*, const T*, T*, T*, int,        \
                                                 const StepSave<T>&);                              \
  template cudaError_t gru_before_reset_step<T>(cudaStream_t, const StepRows&, int, const T*,      \
                                                const T*, const T*, const T*, T*, T*);             \
  template cudaError_t gru_before_forward_step<T>(cudaStream_t, const StepRows&, int, const T*,    \
                                                  const T*, const T*, const T*, T*, T*, int,       \
                                                  const StepSave<T>&);                             \
  template cudaError_t lstm_backward_step<T>(cudaStream_t, const StepRows&, int,                   \
                                             const StepSave<T>&, const T*, const T*, int, T*, T*,  \
                                             T*);                                                  \
  template cudaError_t gru_after_backward_step<T>(cudaStream_t, const StepRows&, int,              \
                                                  const StepSave<T>&, const T*, const T*, int, T*, \
                                                  T*, T*, T*);                                     \
  template cudaError_t gru_before_backward_step<T>(cudaStream_t, const StepRows&, int,             \
                                                   const StepSave<T>&, const T*, const T*, int,    \
                                                   T*, T*, T*);                                    \
  template cudaError_t gru_before_reset_backward_step<T>(                                          \
      cudaStream_t, const StepRows&, int, const StepSave<T>&, const T*, T*, T*, T*);               \
  template cudaError_t rnn_forward_step<T>(cudaStream_t, const StepRows&, int, Activation,         \
                                           const T*, const T*, const T*, T*, T*, int,              \
                                           const StepSave<T>&);                                    \
  template cudaError_t rnn_backward_step<T>(cudaStream_t, const StepRows&, int, Activation,        \
                                            const StepSave<T>&, const T*, const T*, int, T*, T*);  \
  template cudaError_t combine_dh<T>(cudaStream_t, const StepRows&, int, bool, const T*, const T*, \
                                     T*);                                                          \
  template cudaError_t projection_bias<T>(cudaStream_t, int, int, bool, const T*, const T*, T*);   \
  template cudaError_t reset_times_h<T>(cudaStream_t, std::size_t, int, const T*, const T*, T*);   \
  template cudaError_t fill<T>(cudaStream_t, T*, std::size_t, T);                                  \
  template cudaError_t to_time_major<T>(cudaStream_t, const T*, int, int, int, Layout, const int*, \
                                        T*);                                                       \
  template cudaError_t from_time_major<T>(cudaStream_t, const T*, int, int, int, Layout, T*);      \
  template cudaError_t write_or_add<T>(cudaStream_t, const T*, std::size_t, bool, T*);
RNNX_INSTANTIATE(float)
RNNX_INSTANTIATE(double)
#undef RNNX_INSTANTIATE

// bfloat16 and float16 sequences move as their 16-bit patterns (zero bits are +0 in both).
template cudaError_t to_time_major<std::uint16_t>(cudaStream_t, const std::uint16_t*, int, int, int,
                                                  Layout, const int*, std::uint16_t*);
template cudaError_t from_time_major<std::uint16_t>(cudaStream_t, const std::uint16_t*, int, int,
                                                    int, Layout, std::uint16_t*);

}  // namespace rnnx::gpu
