// librnnx's side of the GPU module (gpu_module.h, docs/GPU_LIBRARIES.md): finds and loads
// librnnx_gpu.so at the first need of a GPU, once per process, and makes GPU engines through it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine.h"
#include "gpu_module.h"
#include "rnnx/info.h"

namespace rnnx::gpu_loader {

struct Loaded {
  const rnnx_gpu_module* table = nullptr;  // null when the module could not be loaded
  std::string path;                        // the module's file, or "linked into <program>"
  std::string problem;  // when table is null: why, for people (the file, dlerror()'s text)
};

// Loads the module at the first call (thread-safe; no lock of rnnx's is taken inside, so callers
// may hold the capture gate). Never throws. Without CUDA in the build: no table, and a problem
// that says so.
const Loaded& module();

// A GPU engine through the module; throws Error(not_built) naming the module's problem when it
// could not be loaded, else whatever the module's engine refuses with.
std::unique_ptr<EngineImpl> make_engine(const Model& model, Engine engine, const Options& options);

// The GPU libraries this process has mapped (files named librnnx_gpu*, libcudart*, libcublas*,
// libcudnn*), symbolic links resolved, the loaded module first.
std::vector<GpuLibrary> mapped_gpu_libraries();

}  // namespace rnnx::gpu_loader
