// The CUDA side of rnnx::gpus() and rnnx::build_info(), in the GPU module (gpu/module_entry.cpp).
#pragma once

#include "rnnx/info.h"

namespace rnnx::gpu {

GpuReport query_devices();                   // enumerates and probes; never throws
void add_library_versions(BuildInfo& info);  // CUDA runtime and driver, cuBLAS, cuDNN versions

}  // namespace rnnx::gpu
