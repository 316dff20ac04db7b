// What this build of rnnx contains and what it finds on this machine.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "rnnx/rnn.h"

namespace rnnx {

// A GPU library mapped into this process.
struct GpuLibrary {
  std::string name;  // "librnnx_gpu", "libcublas", "libcublasLt", "libcudnn", "libcudnn_ops", ...
  std::string path;  // the file mapped, symbolic links resolved (e.g. .../libcublas.so.13.1.0.3)
};

struct BuildInfo {
  std::string version;             // e.g. "0.1.0"
  bool cuda = false;               // built with RNNX_CUDA=ON
  std::string cuda_architectures;  // e.g. "80;90", empty without CUDA
  // The versions below come from the GPU module; 0 when it is not loaded (or without CUDA).
  int cuda_runtime_version = 0;  // e.g. 13000 (the module's static CUDA runtime)
  int cuda_driver_version = 0;   // e.g. 13000: the CUDA version of the driver; 0 without one
  int cublas_version = 0;        // e.g. 130100
  int cudnn_version = 0;         // e.g. 91400
  // The GPU engines live in a module, librnnx_gpu.so, that links the CUDA runtime, cuBLAS and
  // cuDNN; rnnx loads it at the first need of a GPU (a GPU plan, gpus(), engine_available() for a
  // GPU engine, build_info() itself), so that a program that never uses a GPU never maps those
  // libraries (docs/GPU_LIBRARIES.md). gpu_module: where it was loaded from ("linked into ..."
  // when the program holds the GPU code itself); gpu_module_problem: why it could not be loaded
  // (the file and the loader's message, e.g. a missing libcudnn.so.9). Both empty without CUDA.
  std::string gpu_module;
  std::string gpu_module_problem;
  std::vector<GpuLibrary> gpu_libraries;  // mapped in this process, the module first
};
// With CUDA in the build, loads the GPU module if it is not loaded yet (see above).
BuildInfo build_info();

struct DeviceInfo {
  int index = 0;
  std::string name;
  int major = 0, minor = 0;  // compute capability
  std::size_t memory_bytes = 0;
  int multiprocessors = 0;
};

struct GpuReport {
  // The CUDA devices that ran rnnx's probe kernel (a device whose architecture this build lacks
  // answers the driver but cannot run rnnx's kernels; it is listed in problems instead).
  std::vector<DeviceInfo> devices;
  std::vector<std::string> problems;  // one line per device or driver that failed, for people
  std::string why_none;               // when devices is empty: the reason, for people
};
// Never throws for a missing GPU: an empty list with the reason. Cached after the first call.
// With CUDA in the build, loads the GPU module (see BuildInfo) if it is not loaded yet.
GpuReport gpus();

// gpu_persistent's limits for one layer of `cell` (GRU: with `reset`) on a device, computed from
// its multiprocessors and shared memory: the largest hidden size at a batch, and the largest
// batch at a hidden size, for weights in `dtype` (f32, bf16 or f16: 16-bit weights take half the
// shared memory). 0 when this build has no CUDA, the device is missing, or nothing fits.
int persistent_max_hidden(Cell cell, GruReset reset, int batch, int device = 0,
                          DType dtype = DType::f32);
int persistent_max_batch(Cell cell, GruReset reset, int hidden, int device = 0,
                         DType dtype = DType::f32);

// Whether `engine` can run on this machine in this build; if not, the reason in *why.
// Engine::automatic is always available (it falls back along DESIGN.md's order).
bool engine_available(Engine engine, std::string* why = nullptr);

}  // namespace rnnx
