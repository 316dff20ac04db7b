// cpu: the fused RNN algorithm on BLAS and OpenMP threads (cpu/layer.h), sharing its cell math
// with the GPU engines (kernels/cell_math.h).
#pragma once

#include <memory>

#include "engine.h"

namespace rnnx {

std::unique_ptr<EngineImpl> make_cpu_engine(const Model& model, const Options& options);

}  // namespace rnnx
