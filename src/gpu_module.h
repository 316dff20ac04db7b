// The interface between librnnx (the core) and its GPU module, librnnx_gpu.so, which holds the
// GPU engines and links the CUDA runtime, cuBLAS and cuDNN (docs/GPU_LIBRARIES.md). librnnx
// loads the module with dlopen at the first need of a GPU and reaches it only through the table
// below, which the module's one exported function returns.
//
// The table has C linkage and plain function pointers, but it passes rnnx's C++ types (Model,
// Options, EngineImpl, GpuReport, BuildInfo) by pointer: a module works only with the librnnx it
// was built with. Both sides check that before anything else is called: the ABI number, the rnnx
// version and the sizes of the types that cross. Functions of the table never throw: an Error
// raised in the module comes back through rnnx_gpu_error_fn and librnnx throws it again as its
// own. (Errors thrown later by an engine's methods cross as C++ exceptions; libstdc++ matches
// them to rnnx::Error by name, as it does for any RTLD_LOCAL library.)
#pragma once

#include <cstdint>
#include <shared_mutex>

#include "engine.h"
#include "gpu/capture_gate.h"
#include "rnnx/info.h"
#include "rnnx/rnn.h"

// Raised whenever the table, or a type it passes, changes in a way that an older module cannot
// follow. The entry point's name carries it too. 2: Options and PlanStats grouped by engine
// (rnnx/engine_options.h).
#define RNNX_GPU_MODULE_ABI 2
#define RNNX_GPU_MODULE_ENTRY "rnnx_gpu_module_open_v2"

// status values of rnnx_gpu_error_fn beyond rnnx::Status's: a std::bad_alloc, and another
// std::exception, raised in the module (thrown again as such by librnnx).
#define RNNX_GPU_MODULE_BAD_ALLOC (-1)
#define RNNX_GPU_MODULE_STD_EXCEPTION (-2)

extern "C" {

// sizeof of the C++ types that cross; equal on both sides or the module is refused.
struct rnnx_gpu_layout {
  std::uint32_t model, layer, options, forward, backward, plan_stats, engine_impl, build_info,
      gpu_report, device_info, gate_hold, shared_mutex;
};

typedef void (*rnnx_gpu_error_fn)(void* context, int status, const char* message);

// What librnnx gives the module: its capture gate (gpu/capture_gate.h), so that the process has
// one gate whichever side takes it. The first two members never move.
struct rnnx_gpu_host {
  std::uint32_t abi;         // RNNX_GPU_MODULE_ABI of librnnx
  const char* rnnx_version;  // RNNX_VERSION_STRING of librnnx
  rnnx_gpu_layout layout;
  std::shared_mutex* (*capture_gate)();
  rnnx::gpu::detail::GateHold* (*this_thread_hold)();
};

// What the module gives librnnx. The first two members never move.
struct rnnx_gpu_module {
  std::uint32_t abi;         // RNNX_GPU_MODULE_ABI of the module
  const char* rnnx_version;  // RNNX_VERSION_STRING of the module
  rnnx_gpu_layout layout;
  // A new engine (gpu_dynamic, gpu_static, gpu_persistent or cudnn), deleted by the caller through
  // its virtual destructor; or null after calling `error` once.
  rnnx::EngineImpl* (*make_engine)(const rnnx::Model* model, rnnx::Engine engine,
                                   const rnnx::Options* options, rnnx_gpu_error_fn error,
                                   void* context);
  // Enumerates and probes the devices into *report (rnnx::gpus()); the caller holds the gate.
  void (*query_devices)(rnnx::GpuReport* report);
  // Fills the CUDA runtime, driver, cuBLAS and cuDNN versions of *info.
  void (*library_versions)(rnnx::BuildInfo* info);
  // info.h's persistent_max_hidden / persistent_max_batch on a listed device; the caller holds
  // the gate. 0 when nothing can be said.
  int (*persistent_max_hidden)(rnnx::Cell cell, rnnx::GruReset reset, int batch, int device,
                               rnnx::DType dtype);
  int (*persistent_max_batch)(rnnx::Cell cell, rnnx::GruReset reset, int hidden, int device,
                              rnnx::DType dtype);
};

// The module's one exported function (named RNNX_GPU_MODULE_ENTRY). Returns the module's table,
// whose abi, version and layout the caller must check before using anything else; it keeps
// `host` only when they match.
typedef const rnnx_gpu_module* (*rnnx_gpu_module_open_fn)(const rnnx_gpu_host* host);

}  // extern "C"

namespace rnnx::gpu {

inline rnnx_gpu_layout current_gpu_layout() {
  auto size = [](std::size_t n) { return static_cast<std::uint32_t>(n); };
  return {size(sizeof(Model)),
          size(sizeof(Layer)),
          size(sizeof(Options)),
          size(sizeof(Forward)),
          size(sizeof(Backward)),
          size(sizeof(PlanStats)),
          size(sizeof(EngineImpl)),
          size(sizeof(BuildInfo)),
          size(sizeof(GpuReport)),
          size(sizeof(DeviceInfo)),
          size(sizeof(detail::GateHold)),
          size(sizeof(std::shared_mutex))};
}

inline bool same_gpu_layout(const rnnx_gpu_layout& a, const rnnx_gpu_layout& b) {
  return a.model == b.model && a.layer == b.layer && a.options == b.options &&
         a.forward == b.forward && a.backward == b.backward && a.plan_stats == b.plan_stats &&
         a.engine_impl == b.engine_impl && a.build_info == b.build_info &&
         a.gpu_report == b.gpu_report && a.device_info == b.device_info &&
         a.gate_hold == b.gate_hold && a.shared_mutex == b.shared_mutex;
}

// In the module: the host librnnx opened it with, set by the entry point when it matches; the
// module's capture gate forwards to it (gpu/module_gate.cpp).
extern const rnnx_gpu_host* module_host;

}  // namespace rnnx::gpu
