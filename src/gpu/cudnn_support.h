// Pieces of the cudnn engine (src/gpu/cudnn_engine.cpp) that are not the engine itself: what a
// cuDNN status means for rnnx, the algorithm's cuDNN name, the segment and weight-copy records,
// stream scoping.
#pragma once

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstddef>

#include "gpu/cuda_check.h"
#include "rnnx/error.h"
#include "rnnx/model.h"
#include "rnnx/rnn.h"

namespace rnnx::gpu {

// The role of the cuDNN call a status came from. Only the calls that depend on the chosen
// algorithm can be refused by it, and a refusal must come before anything is written.
enum class CudnnCall {
  // Handles, streams, dropout, tensor and sequence-data descriptors: nothing in them depends on
  // the algorithm, so a failure is rnnx's mistake or the machine's.
  plumbing,
  // What configures the algorithm for the model or for a shape: cudnnSetRNNDescriptor_v8,
  // cudnnGetRNNWeightSpaceSize, cudnnGetRNNWeightParams, cudnnBuildRNNDynamic,
  // cudnnGetRNNTempSpaceSizes. The engine makes all of them before a call enqueues any work.
  configure,
  // cudnnRNNForward, cudnnRNNBackwardData_v8, cudnnRNNBackwardWeights_v8.
  execute,
};

// What a failed cuDNN status means.
enum class CudnnFailure {
  refusal,      // the algorithm does not take this model or shape: Status::unsupported
  environment,  // cuDNN cannot run on this machine (driver, architecture, sub-library): unsupported
  error,        // anything else, rnnx's mistakes and cuDNN's failures: Status::backend_error
};

// The mapping (a pure function, so that tests check it without a GPU), for a status other than
// CUDNN_STATUS_SUCCESS:
// - environment, for any call and algorithm: NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER,
//   _INCOMPATIBLE_CUDART, _ARCH_MISMATCH, _RUNTIME_PREREQUISITE_MISSING, _SUBLIBRARY_UNAVAILABLE.
// - refusal, from a configure call: any other NOT_SUPPORTED status, whatever the algorithm (for
//   standard, a size cuDNN cannot do at all); and for the persist algorithms also BAD_PARAM,
//   INVALID_VALUE (2001), BAD_PARAM_OUT_OF_BOUND and INTERNAL_ERROR_COMPILATION_FAILED
//   (cudnnBuildRNNDynamic compiling persist_dynamic's kernel), which cuDNN answers for a dtype,
//   hidden size or batch the algorithm cannot take.
// - refusal, from an execute call, for the persist algorithms only: those NOT_SUPPORTED and
//   BAD_PARAM statuses, since cuDNN checks per-sequence lengths there (the persistent algorithms
//   do not take lengths that vary across the batch). For standard they are errors: it accepted
//   the same configuration a moment before.
// - error: everything else, such as EXECUTION_FAILED*, INTERNAL_ERROR* (but compilation as
//   above), NOT_INITIALIZED, SUBLIBRARY_VERSION_MISMATCH, and the BAD_PARAM sub-codes that name
//   a caller's mistake (null or misaligned pointer, insufficient size, stream or graph mismatch,
//   shape mismatch, ...). BAD_PARAM from standard is rnnx's mistake, never a refusal.
// Statuses this header does not know fall by category: NOT_SUPPORTED ones as above, others are
// errors.
CudnnFailure classify(cudnnStatus_t status, CudnnCall call, CudnnAlgo algo) noexcept;

// What the engine was configuring or running when a call failed, for the message.
struct CudnnContext {
  CudnnAlgo algo = CudnnAlgo::standard;
  DType dtype = DType::f32;
  int steps = 0, batch = 0;     // the shape; 0 while the plan itself is being made
  bool varied_lengths = false;  // the sequences' lengths (raised to >= 1) differ
  bool training = false;        // forward_train or backward, or a training-mode size query
};

// The Error for a failed status (not thrown, so that tests can read it): unsupported for a
// refusal (naming the algorithm, the call, cuDNN's status and message, the likely reason and what
// runs instead) or an environment failure; backend_error naming the call and status otherwise.
Error cudnn_error(cudnnStatus_t status, const char* call_name, CudnnCall call,
                  const CudnnContext& context);

// Throws cudnn_error unless the status is CUDNN_STATUS_SUCCESS.
inline void check(cudnnStatus_t status, const char* call_name, CudnnCall call,
                  const CudnnContext& context) {
  if (status != CUDNN_STATUS_SUCCESS) throw cudnn_error(status, call_name, call, context);
}

cudnnRNNAlgo_t to_cudnn(CudnnAlgo algo);

// cuDNN's cell mode for a kind (cudnnSetRNNDescriptor_v8's cellMode): CUDNN_LSTM, CUDNN_GRU (which
// resets after the matmul), CUDNN_RNN_TANH, CUDNN_RNN_RELU. Throws Error(Status::unsupported)
// for the GRU that resets before the matmul, which cuDNN does not compute.
cudnnRNNMode_t cudnn_cell_mode(CellKind kind);

// cuDNN's linear layers of a kind (cudnnGetRNNWeightParams' linLayerID): G on the input side
// (0 .. G-1, gates in rnnx's order) and G on the recurrent side (G .. 2G-1). For RNN_TANH/RELU,
// G = 1: 0 is W_x and b_x, 1 is W_h and b_h.
struct LinearLayer {
  bool recurrent;  // W_h and b_h, else W_x and b_x
  int gate;        // the gate's index in rnnx's order (LstmGate, GruGate; 0 for the RNN)
};
LinearLayer linear_layer(CellKind kind, int id);

// What rnnx adds to a bias block when packing it for cuDNN: the LSTM's forget_bias on the forget
// gate's input-side bias, 0 everywhere else.
double packed_bias_add(CellKind kind, const Layer& layer, LinearLayer linear);

// Layers [first, first + layers) of the model run as one cuDNN RNN.
struct Segment {
  int first = 0, layers = 0, input = 0, hidden = 0, dirs = 1, gates = 4;
  CellKind kind = CellKind::lstm;  // equal in every layer of the segment, activation included
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

// Leaves the handle on no stream after a call: the caller's stream may be gone before the
// plan's next use of the handle.
class HandleStream {
 public:
  HandleStream(cudnnHandle_t handle, cudaStream_t stream, const CudnnContext& context)
      : handle_(handle) {
    check(cudnnSetStream(handle, stream), "cudnnSetStream", CudnnCall::plumbing, context);
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
