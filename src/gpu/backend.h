// The GPU engines' backend for the fused algorithm (fused/layer.h, fused/network.h): device
// memory in the plan's workspace, cuBLAS GEMMs and the fused kernels (kernels/fused_kernels.h),
// all enqueued on one stream; fork/join hand work between two backends with an event.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <initializer_list>
#include <string>
#include <utility>

#include "fused/steps.h"
#include "gpu/cublas_gemm.h"
#include "gpu/cuda_check.h"
#include "kernels/fused_kernels.h"
#include "rnnx/error.h"

namespace rnnx::gpu {

template <class T>
class GpuBackend {
 public:
  static constexpr int kSlots = static_cast<int>(fused::Slot::count);

  // The plan's resources this backend enqueues with; slots[k] holds capacity[k] elements.
  void bind(cudaStream_t stream, cublasHandle_t cublas, cudaEvent_t event, T* const* slots,
            const std::size_t* capacity) {
    stream_ = stream;
    cublas_ = cublas;
    event_ = event;
    for (int k = 0; k < kSlots; ++k) {
      slots_[k] = slots[k];
      capacity_[k] = capacity[k];
    }
    check_cublas(cublasSetStream(cublas_, stream_), "cublasSetStream");
  }

  cudaStream_t stream() const { return stream_; }

  T* scratch(fused::Slot slot, std::size_t n) {
    const int k = static_cast<int>(slot);
    if (n > capacity_[k]) {
      // fused::scratch_sizes sized every slot for the call; this is a bug, not bad input.
      throw Error(Status::backend_error, "internal: workspace slot " + std::to_string(k) +
                                             " holds " + std::to_string(capacity_[k]) +
                                             " elements, " + std::to_string(n) + " needed");
    }
    return slots_[k];
  }
  void copy(const T* from, std::size_t n, T* to) {
    RNNX_CUDA_CHECK(cudaMemcpyAsync(to, from, n * sizeof(T), cudaMemcpyDeviceToDevice, stream_));
  }
  void zero(T* p, std::size_t n) {
    RNNX_CUDA_CHECK(cudaMemsetAsync(p, 0, n * sizeof(T), stream_));  // 0 bits are 0.0
  }
  // The lengths are in device memory: every row is zeroed, the rows the steps write included.
  void zero_ended_rows(const fused::Sequences& seq, std::size_t times, std::size_t row, T* p) {
    zero(p, times * seq.B * row);
  }
  void gemm(bool ta, bool tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
            int ldb, T beta, T* C, int ldc) {
    gpu::gemm(cublas_, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  // cuBLAS takes the weights as they are.
  fused::StepWeights<T> step_weights(int, bool transposed, int N, int K, const T* B, int ldb) {
    return fused::unpacked_step_weights(transposed, N, K, B, ldb);
  }
  void step_gemm(int M, const fused::StepWeights<T>& w, const T* A, int lda, T* C, int ldc) {
    gemm(false, w.transposed, M, w.N, w.K, T(1), A, lda, w.B, w.ldb, T(0), C, ldc);
  }
  // other's later work waits for everything enqueued here so far; join is the reverse.
  void fork(GpuBackend& other) {
    RNNX_CUDA_CHECK(cudaEventRecord(event_, stream_));
    RNNX_CUDA_CHECK(cudaStreamWaitEvent(other.stream_, event_, 0));
  }
  void join(GpuBackend& other) { other.fork(*this); }

  const T* projection_bias(const fused::LayerWeights<T>& w) {
    const CellKind kind = cell_kind(*w.layer);
    const int H = w.layer->hidden, GH = cell_traits(kind).gates * H;
    const bool keep_bhn = fused::bhn_apart(kind);
    T* bias = scratch(fused::Slot::bias, GH);
    RNNX_CUDA_CHECK(gpu::projection_bias<T>(stream_, GH, H, keep_bhn, w.bx, w.bh, bias));
    return bias;
  }

  // The GPU engines run every step through the kernels below.
  bool projects_in_steps(const fused::LayerWeights<T>&, int, bool) { return false; }
  bool recurrence_forward(const fused::LayerWeights<T>&, Dir, const fused::Sequences&, const T*,
                          const T*, const T*, T*, T*, T*, int, const fused::StepSave<T>&) {
    return false;
  }

  // The GPU handles every sequence of a step in one launch.
  template <class Body>
  void over_sequence_blocks(int B, Body body) {
    body(0, B, 1);
  }

  template <class... A>
  void lstm_forward_step(A&&... a) {
    RNNX_CUDA_CHECK(gpu::lstm_forward_step<T>(stream_, std::forward<A>(a)...));
  }
  template <class... A>
  void gru_after_forward_step(A&&... a) {
    RNNX_CUDA_CHECK(gpu::gru_after_forward_step<T>(stream_, std::forward<A>(a)...));
  }
  template <class... A>
  void gru_before_reset_step(A&&... a) {
    RNNX_CUDA_CHECK(gpu::gru_before_reset_step<T>(stream_, std::forward<A>(a)...));
  }
  template <class... A>
  void gru_before_forward_step(A&&... a) {
    RNNX_CUDA_CHECK(gpu::gru_before_forward_step<T>(stream_, std::forward<A>(a)...));
  }
  template <class... A>
  void lstm_backward_step(A&&... a) {
    RNNX_CUDA_CHECK(gpu::lstm_backward_step<T>(stream_, std::forward<A>(a)...));
  }
  template <class... A>
  void gru_after_backward_step(A&&... a) {
    RNNX_CUDA_CHECK(gpu::gru_after_backward_step<T>(stream_, std::forward<A>(a)...));
  }
  template <class... A>
  void gru_before_backward_step(A&&... a) {
    RNNX_CUDA_CHECK(gpu::gru_before_backward_step<T>(stream_, std::forward<A>(a)...));
  }
  template <class... A>
  void gru_before_reset_backward_step(A&&... a) {
    RNNX_CUDA_CHECK(gpu::gru_before_reset_backward_step<T>(stream_, std::forward<A>(a)...));
  }
  template <class... A>
  void rnn_forward_step(A&&... a) {
    RNNX_CUDA_CHECK(gpu::rnn_forward_step<T>(stream_, std::forward<A>(a)...));
  }
  template <class... A>
  void rnn_backward_step(A&&... a) {
    RNNX_CUDA_CHECK(gpu::rnn_backward_step<T>(stream_, std::forward<A>(a)...));
  }
  void combine_dh(const fused::StepRows& rows, int H, bool add_direct, const T* dh_step,
                  const T* dh_direct, T* dh) {
    RNNX_CUDA_CHECK(gpu::combine_dh<T>(stream_, rows, H, add_direct, dh_step, dh_direct, dh));
  }
  // out[1][cols] += ones[1][rows] dz[rows][cols]: the column sums as one GEMM. The plan keeps
  // the ones slot filled.
  void add_column_sums(const T* dz, std::size_t rows, int cols, T* out, T* out2 = nullptr) {
    const T* ones = scratch(fused::Slot::ones, rows);
    for (T* o : {out, out2}) {
      if (o != nullptr)
        gemm(false, false, 1, cols, int(rows), T(1), ones, int(rows), dz, cols, T(1), o, cols);
    }
  }
  void reset_times_h(std::size_t rows, int H, const T* gates, const T* h_prev, T* out) {
    RNNX_CUDA_CHECK(gpu::reset_times_h<T>(stream_, rows, H, gates, h_prev, out));
  }

 private:
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cudaEvent_t event_ = nullptr;
  T* slots_[kSlots] = {};
  std::size_t capacity_[kSlots] = {};
};

}  // namespace rnnx::gpu
