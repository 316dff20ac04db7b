// gpu_persistent: one cooperative kernel per layer (and direction, or both in one grid) keeps W_h
// on-chip for the whole sequence (kernels/persistent_kernels.h); the input projection of all
// steps is one cuBLAS GEMM before it. Inference with float32, bfloat16 or float16 weights and
// inputs (float32 state). Its setup (options, device, grid barrier, each layer's layout, limits)
// is in persistent_setup.h.
#pragma once

#include <memory>

#include "engine.h"

namespace rnnx {

std::unique_ptr<EngineImpl> make_persistent_engine(const Model& model, const Options& options);

}  // namespace rnnx
