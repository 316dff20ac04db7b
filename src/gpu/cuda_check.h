// Status checks for every CUDA runtime, cuBLAS and cuDNN call, and for every kernel launch.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "rnnx/error.h"

namespace rnnx::gpu {

[[noreturn]] inline void throw_cuda(cudaError_t status, const char* call, const char* file,
                                    int line) {
  throw Error(Status::backend_error, std::string(call) + " failed: " + cudaGetErrorName(status) +
                                         " (" + cudaGetErrorString(status) + ") at " + file + ":" +
                                         std::to_string(line));
}

}  // namespace rnnx::gpu

// RNNX_CUDA_CHECK(cudaMalloc(&p, n)); throws rnnx::Error(backend_error) naming the call.
#define RNNX_CUDA_CHECK(call)                                           \
  do {                                                                  \
    const cudaError_t rnnx_status_ = (call);                            \
    if (rnnx_status_ != cudaSuccess) {                                  \
      ::rnnx::gpu::throw_cuda(rnnx_status_, #call, __FILE__, __LINE__); \
    }                                                                   \
  } while (0)

// After every kernel launch: a bad configuration shows up here, not at the next sync.
#define RNNX_LAUNCH_CHECK() RNNX_CUDA_CHECK(cudaGetLastError())
