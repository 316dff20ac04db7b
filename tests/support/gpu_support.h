// Running a test problem on a GPU engine: inputs uploaded, outputs poisoned with NaN on the
// device, the call made on a stream, results brought back in float64.
#pragma once

#include <cuda_runtime_api.h>

#include "support/test_support.h"

namespace rnnx::test {

// Like run(), with device buffers, on `stream` (synchronized before returning).
Result run_on_device(const Problem& problem, Engine engine, bool backward,
                     const Options& options = {}, cudaStream_t stream = nullptr);

// cudaMalloc'd memory freed on destruction.
class DeviceMemory {
 public:
  explicit DeviceMemory(std::size_t bytes);
  ~DeviceMemory();
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  void* get() const { return p_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace rnnx::test
