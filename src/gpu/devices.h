// The CUDA side of rnnx::gpus() and rnnx::build_info().
#pragma once

#include "rnnx/info.h"

namespace rnnx::gpu {

GpuReport query_devices();                   // enumerates and probes; never throws
void add_library_versions(BuildInfo& info);  // CUDA runtime, cuBLAS, cuDNN versions

}  // namespace rnnx::gpu
