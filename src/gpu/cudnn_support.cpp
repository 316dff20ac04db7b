#include "gpu/cudnn_support.h"

#include <string>

#include "rnnx/error.h"

namespace rnnx::gpu {

void check(cudnnStatus_t status, const char* call, CudnnAlgo algo) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  const std::string what = std::string(call) + " failed: " + cudnnGetErrorString(status);
  if (CUDNN_STATUS_CATEGORY(status) == CUDNN_STATUS_NOT_SUPPORTED) {
    throw Error(Status::unsupported,
                what + " (cuDNN algorithm " + to_string(algo) +
                    "; its limits are cuDNN's: try Options::cudnn_algo = standard, another "
                    "engine such as gpu_dynamic, or a smaller hidden size or batch)");
  }
  throw Error(Status::backend_error, what);
}

cudnnRNNAlgo_t to_cudnn(CudnnAlgo algo) {
  switch (algo) {
    case CudnnAlgo::persist_static:
      return CUDNN_RNN_ALGO_PERSIST_STATIC;
    case CudnnAlgo::persist_dynamic:
      return CUDNN_RNN_ALGO_PERSIST_DYNAMIC;
    case CudnnAlgo::persist_static_small_h:
      return CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H;
    case CudnnAlgo::standard:
      break;
  }
  return CUDNN_RNN_ALGO_STANDARD;
}

}  // namespace rnnx::gpu
