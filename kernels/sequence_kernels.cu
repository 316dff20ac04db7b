#include "kernels/sequence_kernels.h"

#include <algorithm>

namespace rnnx::gpu {

namespace {

constexpr int kThreads = 128;

dim3 flat_grid(std::size_t n) {
  const std::size_t blocks = (n + kThreads - 1) / kThreads;
  return dim3(
      static_cast<unsigned>(std::min<std::size_t>(std::max<std::size_t>(blocks, 1), 1 << 20)));
}

#define RNNX_GRID_STRIDE(i, n)                                                      \
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < (n); \
       i += std::size_t(gridDim.x) * blockDim.x)

template <class T>
__global__ void zero_padding_kernel(T* data, int steps, int batch, int F, Layout layout,
                                    const int* len) {
  const std::size_t n = std::size_t(steps) * batch * F;
  RNNX_GRID_STRIDE(i, n) {
    const std::size_t outer = i / F;  // (t, b) or (b, t)
    const std::size_t t = layout == Layout::time_major ? outer / batch : outer % steps;
    const std::size_t b = layout == Layout::time_major ? outer % batch : outer / steps;
    if (t >= static_cast<std::size_t>(len[b])) data[i] = T(0);
  }
}

template <class T>
__global__ void rows_of_empty_kernel(T* states, const T* from, int blocks, int batch, int H,
                                     const int* len) {
  const std::size_t n = std::size_t(blocks) * batch * H;
  RNNX_GRID_STRIDE(i, n) {
    const std::size_t b = (i / H) % batch;
    if (len[b] == 0) states[i] = from != nullptr ? from[i] : T(0);
  }
}

template <class T>
__global__ void add_scalar_kernel(T* p, std::size_t n, T value) {
  RNNX_GRID_STRIDE(i, n) {
    p[i] += value;
  }
}

}  // namespace

template <class T>
cudaError_t zero_padding(cudaStream_t stream, T* data, int steps, int batch, int F, Layout layout,
                         const int* len) {
  zero_padding_kernel<T><<<flat_grid(std::size_t(steps) * batch * F), kThreads, 0, stream>>>(
      data, steps, batch, F, layout, len);
  return cudaGetLastError();
}

template <class T>
cudaError_t copy_rows_of_empty(cudaStream_t stream, T* states, const T* from, int blocks, int batch,
                               int H, const int* len) {
  rows_of_empty_kernel<T><<<flat_grid(std::size_t(blocks) * batch * H), kThreads, 0, stream>>>(
      states, from, blocks, batch, H, len);
  return cudaGetLastError();
}

template <class T>
cudaError_t zero_rows_of_empty(cudaStream_t stream, T* states, int blocks, int batch, int H,
                               const int* len) {
  return copy_rows_of_empty<T>(stream, states, nullptr, blocks, batch, H, len);
}

template <class T>
cudaError_t add_scalar(cudaStream_t stream, T* p, std::size_t n, T value) {
  add_scalar_kernel<T><<<flat_grid(n), kThreads, 0, stream>>>(p, n, value);
  return cudaGetLastError();
}

#define RNNX_INSTANTIATE(T)                                                                  \
  template cudaError_t zero_padding<T>(cudaStream_t, T*, int, int, int, Layout, const int*); \
  template cudaError_t copy_rows_of_empty<T>(cudaStream_t, T*, const T*, int, int, int,      \
                                             const int*);                                    \
  template cudaError_t zero_rows_of_empty<T>(cudaStream_t, T*, int, int, int, const int*);   \
  template cudaError_t add_scalar<T>(cudaStream_t, T*, std::size_t, T);
RNNX_INSTANTIATE(float)
RNNX_INSTANTIATE(double)
#undef RNNX_INSTANTIATE

}  // namespace rnnx::gpu
