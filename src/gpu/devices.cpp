#include "gpu/devices.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <string>
#include <vector>

#include "gpu/cuda_check.h"
#include "kernels/device_probe.h"

namespace rnnx::gpu {

namespace {

std::string describe(cudaError_t status) {
  return std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
}

// Runs the probe kernel on the current device and checks what it wrote. Returns "" on success,
// else the reason the device cannot run rnnx's kernels.
std::string probe_current_device() {
  constexpr int n = 256;
  int* device = nullptr;
  if (const cudaError_t s = cudaMalloc(&device, n * sizeof(int)); s != cudaSuccess) {
    return "cudaMalloc failed: " + describe(s);
  }
  std::string problem;
  if (const cudaError_t s = launch_device_probe(device, n, nullptr); s != cudaSuccess) {
    problem = "the probe kernel did not launch (" + describe(s) +
              "); is the device's architecture in CMAKE_CUDA_ARCHITECTURES?";
  } else {
    std::vector<int> host(n, -1);
    if (const cudaError_t c =
            cudaMemcpy(host.data(), device, n * sizeof(int), cudaMemcpyDeviceToHost);
        c != cudaSuccess) {
      problem = "reading the probe's result failed: " + describe(c);
    } else if (!device_probe_matches(host.data(), n)) {
      problem = "the probe kernel wrote wrong values";
    }
  }
  if (const cudaError_t s = cudaFree(device); s != cudaSuccess && problem.empty()) {
    problem = "cudaFree failed: " + describe(s);
  }
  return problem;
}

}  // namespace

GpuReport query_devices() {
  GpuReport report;
  int count = 0;
  if (const cudaError_t s = cudaGetDeviceCount(&count); s != cudaSuccess) {
    report.why_none = "the CUDA runtime reports " + describe(s);
    return report;
  }
  if (count == 0) {
    report.why_none = "the CUDA driver reports no devices";
    return report;
  }
  // Probing makes each device current in turn; the caller's current device is given back.
  int previous = 0;
  const bool known = cudaGetDevice(&previous) == cudaSuccess;
  for (int index = 0; index < count; ++index) {
    cudaDeviceProp prop{};
    if (const cudaError_t s = cudaGetDeviceProperties(&prop, index); s != cudaSuccess) {
      report.problems.push_back("device " + std::to_string(index) + ": " + describe(s));
      continue;
    }
    DeviceInfo info;
    info.index = index;
    info.name = prop.name;
    info.major = prop.major;
    info.minor = prop.minor;
    info.memory_bytes = prop.totalGlobalMem;
    info.multiprocessors = prop.multiProcessorCount;
    std::string problem;
    if (const cudaError_t s = cudaSetDevice(index); s != cudaSuccess) {
      problem = "cudaSetDevice failed: " + describe(s);
    } else {
      problem = probe_current_device();
    }
    if (problem.empty()) {
      report.devices.push_back(info);
    } else {
      report.problems.push_back("device " + std::to_string(index) + " (" + info.name + ", sm_" +
                                std::to_string(info.major) + std::to_string(info.minor) +
                                "): " + problem);
    }
  }
  if (count > 0 && cudaSetDevice(known ? previous : 0) != cudaSuccess) {
    report.problems.push_back("cudaSetDevice(" + std::to_string(known ? previous : 0) +
                              ") failed after probing");
  }
  if (report.devices.empty()) {
    report.why_none = std::to_string(count) + " CUDA device(s) found, none usable";
  }
  return report;
}

void add_library_versions(BuildInfo& info) {
  int runtime = 0;
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess) info.cuda_runtime_version = runtime;
  int driver = 0;  // 0 (and cudaSuccess) when no driver is installed
  if (cudaDriverGetVersion(&driver) == cudaSuccess) info.cuda_driver_version = driver;
  int major = 0, minor = 0, patch = 0;
  if (cublasGetProperty(MAJOR_VERSION, &major) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(MINOR_VERSION, &minor) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(PATCH_LEVEL, &patch) == CUBLAS_STATUS_SUCCESS) {
    info.cublas_version = major * 10000 + minor * 100 + patch;
  }
  info.cudnn_version = static_cast<int>(cudnnGetVersion());
}

}  // namespace rnnx::gpu
