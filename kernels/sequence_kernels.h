// Small kernels that adapt a library's sequence conventions to rnnx's (the cudnn engine):
// zeroing past each length, and the states of empty sequences. Each returns the launch status.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "rnnx/model.h"

namespace rnnx::gpu {

// data: a [T][B][F] or [B][T][F] sequence; zeroes every (t, b) with t >= len[b] (device len).
template <class T>
cudaError_t zero_padding(cudaStream_t stream, T* data, int steps, int batch, int F, Layout layout,
                         const int* len);

// states: `blocks` arrays of [B][H]; for every b with len[b] == 0, row b of each block is
// copied from `from` (copy_rows_of_empty) or zeroed (zero_rows_of_empty).
template <class T>
cudaError_t copy_rows_of_empty(cudaStream_t stream, T* states, const T* from, int blocks, int batch,
                               int H, const int* len);
template <class T>
cudaError_t zero_rows_of_empty(cudaStream_t stream, T* states, int blocks, int batch, int H,
                               const int* len);

// p[k] += value for k in [0, n).
template <class T>
cudaError_t add_scalar(cudaStream_t stream, T* p, std::size_t n, T value);

}  // namespace rnnx::gpu
