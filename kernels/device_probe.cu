#include "kernels/device_probe.h"

namespace rnnx::gpu {

namespace {

__global__ void device_probe_kernel(int* out, int n) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k < n) out[k] = device_probe_value(k);
}

}  // namespace

cudaError_t launch_device_probe(int* out, int n, cudaStream_t stream) {
  constexpr int threads = 128;
  device_probe_kernel<<<(n + threads - 1) / threads, threads, 0, stream>>>(out, n);
  return cudaGetLastError();
}

}  // namespace rnnx::gpu
