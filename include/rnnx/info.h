// What this build of rnnx contains and what it finds on this machine.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "rnnx/rnn.h"

namespace rnnx {

struct BuildInfo {
  std::string version;             // e.g. "0.1.0"
  bool cuda = false;               // built with RNNX_CUDA=ON
  std::string cuda_architectures;  // e.g. "80;90", empty without CUDA
  int cuda_runtime_version = 0;    // e.g. 13000 (0 without CUDA)
  int cublas_version = 0;          // e.g. 130100
  int cudnn_version = 0;           // e.g. 91400
};
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
