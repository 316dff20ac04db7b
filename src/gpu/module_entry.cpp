// The GPU module's entry point (gpu_module.h, docs/GPU_LIBRARIES.md): the table through which
// librnnx makes GPU engines, probes devices and reads library versions. Linked into
// librnnx_gpu.so, or into a program together with librnnx (the GPU tests, the benchmarks), where
// librnnx finds it without dlopen.
#include <exception>
#include <new>
#include <string>

#include "gpu/cudnn_engine.h"
#include "gpu/devices.h"
#include "gpu/gpu_engine.h"
#include "gpu/persistent_engine.h"
#include "gpu/persistent_setup.h"
#include "gpu_module.h"
#include "rnnx/error.h"
#include "rnnx/version.h"

namespace rnnx::gpu {

const rnnx_gpu_host* module_host = nullptr;

namespace {

// The exception being handled, reported through `error`.
void report_current_exception(rnnx_gpu_error_fn error, void* context) noexcept {
  try {
    throw;
  } catch (const Error& e) {
    error(context, static_cast<int>(e.status()), e.what());
  } catch (const std::bad_alloc& e) {
    error(context, RNNX_GPU_MODULE_BAD_ALLOC, e.what());
  } catch (const std::exception& e) {
    error(context, RNNX_GPU_MODULE_STD_EXCEPTION, e.what());
  } catch (...) {
    error(context, static_cast<int>(Status::backend_error),
          "the GPU module raised an exception that is not a std::exception");
  }
}

EngineImpl* module_make_engine(const Model* model, Engine engine, const Options* options,
                               rnnx_gpu_error_fn error, void* context) {
  try {
    switch (engine) {
      case Engine::gpu_dynamic:
      case Engine::gpu_static:
        return make_gpu_engine(*model, engine, *options).release();
      case Engine::gpu_persistent:
        return make_persistent_engine(*model, *options).release();
      case Engine::cudnn:
        return make_cudnn_engine(*model, *options).release();
      case Engine::cpu_reference:
      case Engine::cpu:
      case Engine::automatic:
        break;
    }
    throw Error(Status::invalid_argument,
                std::string("engine ") + to_string(engine) + " is not a GPU engine");
  } catch (...) {
    report_current_exception(error, context);
    return nullptr;
  }
}

void query(GpuReport* report) {
  try {
    *report = query_devices();
  } catch (const std::exception& e) {  // only an allocation can fail here
    *report = GpuReport{};
    report->why_none = std::string("probing the devices failed: ") + e.what();
  }
}

void library_versions(BuildInfo* info) {
  try {
    add_library_versions(*info);
  } catch (const std::exception&) {
    // add_library_versions writes ints only; nothing to report
  }
}

int max_hidden(Cell cell, GruReset reset, int batch, int device, DType dtype) {
  try {
    return persistent_limit_hidden(cell, reset, batch, device, dtype);
  } catch (const std::exception&) {
    return 0;  // documented: 0 when nothing can be said
  }
}

int max_batch(Cell cell, GruReset reset, int hidden, int device, DType dtype) {
  try {
    return persistent_limit_batch(cell, reset, hidden, device, dtype);
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

}  // namespace rnnx::gpu

extern "C" __attribute__((visibility("default"))) const rnnx_gpu_module* rnnx_gpu_module_open_v2(
    const rnnx_gpu_host* host) {
  using namespace rnnx::gpu;
  static const rnnx_gpu_module table = {RNNX_GPU_MODULE_ABI,
                                        RNNX_VERSION_STRING,
                                        current_gpu_layout(),
                                        &module_make_engine,
                                        &query,
                                        &library_versions,
                                        &max_hidden,
                                        &max_batch};
  if (host != nullptr && host->abi == RNNX_GPU_MODULE_ABI &&
      std::string(host->rnnx_version) == RNNX_VERSION_STRING &&
      same_gpu_layout(host->layout, table.layout)) {
    module_host = host;
  }
  return &table;
}
