// gpu_persistent: one cooperative kernel per layer (and direction, or both in one grid) keeps W_h
// on-chip for the whole sequence (kernels/persistent_kernels.h); the input projection of all
// steps is one cuBLAS GEMM before it. Inference with float32, bfloat16 or float16 weights and
// inputs (float32 state).
#pragma once

#include <memory>

#include "engine.h"

namespace rnnx {

std::unique_ptr<EngineImpl> make_persistent_engine(const Model& model, const Options& options);

// The limits of info.h's persistent_max_hidden / persistent_max_batch, on device `device`.
int persistent_limit_hidden(Cell cell, GruReset reset, int batch, int device, DType dtype);
int persistent_limit_batch(Cell cell, GruReset reset, int hidden, int device, DType dtype);

}  // namespace rnnx
