// A tiny kernel that proves a device can run code from this build (the right architecture, a
// working driver). rnnx::gpus() runs it on every device before listing it as usable.
#pragma once

#include <cuda_runtime.h>

namespace rnnx::gpu {

// Writes out[k] = device_probe_value(k) for k in [0, n). Returns the launch status.
cudaError_t launch_device_probe(int* out, int n, cudaStream_t stream);

__host__ __device__ inline int device_probe_value(int k) {
  return 3 * k + 1;
}

inline bool device_probe_matches(const int* host, int n) {
  for (int k = 0; k < n; ++k) {
    if (host[k] != device_probe_value(k)) return false;
  }
  return true;
}

}  // namespace rnnx::gpu
