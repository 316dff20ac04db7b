#include "rnnx/info.h"

#include "rnnx/version.h"

#if RNNX_WITH_CUDA
#include "build_config.h"
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

GpuReport gpus() {
#if RNNX_WITH_CUDA
  static const GpuReport report = gpu::query_devices();
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
  return persistent_limit_hidden(cell, reset, batch, device, dtype);
#else
  (void)cell, (void)reset, (void)batch, (void)device, (void)device_present, (void)dtype;
  return 0;
#endif
}

int persistent_max_batch(Cell cell, GruReset reset, int hidden, int device, DType dtype) {
#if RNNX_WITH_CUDA
  if (hidden < 1 || dtype == DType::f64 || !device_present(device)) return 0;
  return persistent_limit_batch(cell, reset, hidden, device, dtype);
#else
  (void)cell, (void)reset, (void)hidden, (void)device, (void)dtype;
  return 0;
#endif
}

}  // namespace rnnx
