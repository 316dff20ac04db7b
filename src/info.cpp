#include "rnnx/info.h"

#include "rnnx/version.h"

#if RNNX_WITH_CUDA
#include <atomic>

#include "build_config.h"
#include "gpu/capture_gate.h"
#include "gpu/devices.h"
#include "gpu/persistent_engine.h"
#endif

namespace rnnx {

BuildInfo build_info() {
  BuildInfo info;
  info.version = RNNX_VERSION_STRING;
  info.cuda = RNNX_WITH_CUDA != 0;
#if RNNX_WITH_CUDA
  info.cuda_architectures = RNNX_CUDA_ARCHITECTURES;
  gpu::add_library_versions(info);
#endif
  return info;
}

#if RNNX_WITH_CUDA
namespace {
const GpuReport& probed_devices() {
  static const GpuReport report = gpu::query_devices();
  return report;
}
}  // namespace
#endif

GpuReport gpus() {
#if RNNX_WITH_CUDA
  // The probe copies synchronously: not while another thread's plan captures. The gate is taken
  // before the static's own initialization lock, as Rnn's constructor takes them (gate, then
  // this), so that two threads cannot each hold one and wait for the other.
  static std::atomic<bool> probed{false};
  if (probed.load(std::memory_order_acquire)) return probed_devices();
  const gpu::SyncScope sync;
  const GpuReport& report = probed_devices();
  probed.store(true, std::memory_order_release);
  return report;
#else
  GpuReport report;
  report.why_none = "this rnnx was built without CUDA (RNNX_CUDA=OFF)";
  return report;
#endif
}

}  // namespace rnnx

namespace rnnx {

namespace {

bool device_present(int device) {
  for (const DeviceInfo& d : gpus().devices) {
    if (d.index == device) return true;
  }
  return false;
}

}  // namespace

int persistent_max_hidden(Cell cell, GruReset reset, int batch, int device, DType dtype) {
#if RNNX_WITH_CUDA
  if (batch < 1 || dtype == DType::f64 || !device_present(device)) return 0;
  const gpu::SyncScope sync;  // the first call measures the grid barriers on the device
  return persistent_limit_hidden(cell, reset, batch, device, dtype);
#else
  (void)cell, (void)reset, (void)batch, (void)device, (void)device_present, (void)dtype;
  return 0;
#endif
}

int persistent_max_batch(Cell cell, GruReset reset, int hidden, int device, DType dtype) {
#if RNNX_WITH_CUDA
  if (hidden < 1 || dtype == DType::f64 || !device_present(device)) return 0;
  const gpu::SyncScope sync;  // the first call measures the grid barriers on the device
  return persistent_limit_batch(cell, reset, hidden, device, dtype);
#else
  (void)cell, (void)reset, (void)hidden, (void)device, (void)dtype;
  return 0;
#endif
}

}  // namespace rnnx
