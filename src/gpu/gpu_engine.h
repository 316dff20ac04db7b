// gpu_dynamic and gpu_static: the fused algorithm (src/fused/) on cuBLAS and the fused kernels
// (kernels/fused_kernels.h). gpu_dynamic enqueues every step from the host, any T, stopping at
// max(lengths); gpu_static captures a whole pass into a CUDA Graph per shape and replays it.
#pragma once

#include <memory>

#include "engine.h"

namespace rnnx {

// engine: Engine::gpu_dynamic or Engine::gpu_static. Throws Error for options it cannot honour.
std::unique_ptr<EngineImpl> make_gpu_engine(const Model& model, Engine engine,
                                            const Options& options);

}  // namespace rnnx
