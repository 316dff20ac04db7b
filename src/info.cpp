#include "rnnx/info.h"

#include "rnnx/version.h"

#if RNNX_WITH_CUDA
#include "build_config.h"
#include "gpu/devices.h"
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
