#include "rnnx/info.h"

#include <atomic>

#include "build_config.h"
#include "gpu/capture_gate.h"
#include "gpu_loader.h"
#include "rnnx/version.h"

namespace rnnx {

BuildInfo build_info() {
  BuildInfo info;
  info.version = RNNX_VERSION_STRING;
  info.cuda = RNNX_WITH_CUDA != 0;
  if (!info.cuda) return info;
  info.cuda_architectures = RNNX_CUDA_ARCHITECTURES;
  const gpu_loader::Loaded& module = gpu_loader::module();
  if (module.table == nullptr) {
    info.gpu_module_problem = module.problem;
  } else {
    info.gpu_module = module.path;
    module.table->library_versions(&info);
  }
  info.gpu_libraries = gpu_loader::mapped_gpu_libraries();
  return info;
}

namespace {

const GpuReport& probed_devices() {
  static const GpuReport report = [] {
    GpuReport r;
    const gpu_loader::Loaded& module = gpu_loader::module();
    if (module.table == nullptr) {
      r.why_none = "rnnx's GPU module could not be loaded: " + module.problem;
    } else {
      module.table->query_devices(&r);
    }
    return r;
  }();
  return report;
}

}  // namespace

GpuReport gpus() {
  if (!RNNX_WITH_CUDA) {
    GpuReport report;
    report.why_none = "this rnnx was built without CUDA (RNNX_CUDA=OFF)";
    return report;
  }
  // The probe copies synchronously: not while another thread's plan captures. The gate is taken
  // before the static's own initialization lock, as Rnn's constructor takes them (gate, then
  // this), so that two threads cannot each hold one and wait for the other. Loading the module
  // (inside) takes no lock of rnnx's.
  static std::atomic<bool> probed{false};
  if (probed.load(std::memory_order_acquire)) return probed_devices();
  const gpu::SyncScope sync;
  const GpuReport& report = probed_devices();
  probed.store(true, std::memory_order_release);
  return report;
}

namespace {

bool device_present(int device) {
  for (const DeviceInfo& d : gpus().devices) {
    if (d.index == device) return true;
  }
  return false;
}

}  // namespace

int persistent_max_hidden(Cell cell, GruReset reset, int batch, int device, DType dtype) {
  // device_present loads the module: a listed device means the table is there.
  if (batch < 1 || dtype == DType::f64 || !device_present(device)) return 0;
  const gpu::SyncScope sync;  // the first call measures the grid barriers on the device
  return gpu_loader::module().table->persistent_max_hidden(cell, reset, batch, device, dtype);
}

int persistent_max_batch(Cell cell, GruReset reset, int hidden, int device, DType dtype) {
  if (hidden < 1 || dtype == DType::f64 || !device_present(device)) return 0;
  const gpu::SyncScope sync;  // the first call measures the grid barriers on the device
  return gpu_loader::module().table->persistent_max_batch(cell, reset, hidden, device, dtype);
}

}  // namespace rnnx
