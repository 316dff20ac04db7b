// Pieces of the cudnn engine (src/gpu/cudnn_engine.cpp) that are not the engine itself: status
// checks, the algorithm's cuDNN name, the segment and weight-copy records, stream scoping.
#pragma once

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstddef>

#include "gpu/cuda_check.h"
#include "rnnx/rnn.h"

namespace rnnx::gpu {

// A cuDNN status: NOT_SUPPORTED becomes Status::unsupported naming the algorithm and what to do;
// any other failure Status::backend_error naming the call.
void check(cudnnStatus_t status, const char* call, CudnnAlgo algo);

cudnnRNNAlgo_t to_cudnn(CudnnAlgo algo);

// Layers [first, first + layers) of the model run as one cuDNN RNN.
struct Segment {
  int first = 0, layers = 0, input = 0, hidden = 0, dirs = 1, gates = 4;
  Cell cell = Cell::lstm;
  cudnnRNNDescriptor_t rnn = nullptr;
  cudnnRNNDataDescriptor_t x_desc = nullptr, y_desc = nullptr;
  cudnnTensorDescriptor_t h_desc = nullptr;
  std::size_t weight_bytes = 0;
  void* weights = nullptr;   // cuDNN's weight space (in the plan's weight memory)
  void* dweights = nullptr;  // and its gradient
  std::size_t reserve_bytes = 0, reserve_offset = 0, output_offset = 0;  // in the caller's reserve
  std::size_t work_bytes = 0;  // workspace for the current shape and lengths

  int output() const { return hidden * dirs; }
  int blocks() const { return layers * dirs; }  // [B, H] blocks of hx
};

// One block copied between rnnx's canonical weights and a cuDNN weight space.
struct WeightCopy {
  std::size_t canonical;  // element offset in rnnx's buffer
  std::size_t space;      // byte offset in the segment's weight space
  std::size_t count;      // elements
  double add;             // added after packing (forget_bias), 0 for most
};

// Leaves the handle on no stream after a call: the caller's stream may be gone before the
// plan's next use of the handle.
class HandleStream {
 public:
  HandleStream(cudnnHandle_t handle, cudaStream_t stream, CudnnAlgo algo) : handle_(handle) {
    check(cudnnSetStream(handle, stream), "cudnnSetStream", algo);
  }
  ~HandleStream() { cudnnSetStream(handle_, nullptr); }
  HandleStream(const HandleStream&) = delete;
  HandleStream& operator=(const HandleStream&) = delete;

 private:
  cudnnHandle_t handle_;
};

// Copies n elements on `stream`, or zeroes them when `from` is null.
template <class T>
void copy_or_zero(const T* from, T* to, std::size_t n, cudaStream_t stream) {
  if (from == nullptr) {
    RNNX_CUDA_CHECK(cudaMemsetAsync(to, 0, n * sizeof(T), stream));
  } else {
    RNNX_CUDA_CHECK(cudaMemcpyAsync(to, from, n * sizeof(T), cudaMemcpyDeviceToDevice, stream));
  }
}

}  // namespace rnnx::gpu
