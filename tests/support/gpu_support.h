// Running a test problem on a GPU engine: inputs uploaded, outputs poisoned with NaN on the
// device, the call made on a stream, results brought back in float64.
#pragma once

#include <cuda_runtime_api.h>

#include "support/test_support.h"

namespace rnnx::test {

// Like run(), with device buffers, on `stream` (synchronized before returning). With the legacy
// stream (nullptr) the buffers are set up with synchronous calls and cudaDeviceSynchronize; with
// a stream of the caller's, everything is ordered on that stream and only it is synchronized, so
// that other threads' graph captures are left alone.
Result run_on_device(const Problem& problem, Engine engine, bool backward,
                     const Options& options = {}, cudaStream_t stream = nullptr);
// The same with a plan the caller keeps (its model must be the problem's).
Result run_on_device(Rnn& plan, const Problem& problem, bool backward,
                     cudaStream_t stream = nullptr);

// Runs `engine` on the problem (forward, then forward_train + backward) and expects every output
// within `bound` of cpu_reference's; records and returns the worst error.
double expect_device_close(const Problem& p, Engine engine, double bound,
                           const Options& options = {}, cudaStream_t stream = nullptr);

// Device memory freed on destruction: cudaMalloc/cudaFree, or with a stream stream-ordered
// (cudaMallocAsync/cudaFreeAsync on it).
class DeviceMemory {
 public:
  explicit DeviceMemory(std::size_t bytes, cudaStream_t stream = nullptr);
  ~DeviceMemory();
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  void* get() const { return p_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  std::size_t bytes_ = 0;
  cudaStream_t stream_ = nullptr;
};

}  // namespace rnnx::test
