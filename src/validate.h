// Checks of each call's arguments against the model, shared by every engine. Each throws
// Error(invalid_argument) naming the field and its allowed range, before anything is written.
#pragma once

#include <cstddef>

#include "rnnx/rnn.h"

namespace rnnx {

// Element counts of one call's tensors.
struct CallSizes {
  std::size_t x = 0, y = 0, state = 0, weights = 0;
};

CallSizes check_forward(const Model& model, const Forward& args);
// Engines without bf16/f16 refuse such a model with Error(unsupported) naming the ones that run
// it (gpu_persistent, cpu_reference).
void check_not_half(const Model& model, Engine engine);

// Training (forward_train, backward) needs float32 or float64: Error(unsupported) otherwise.
void check_trainable(const Model& model);

void check_backward(const Model& model, const Forward& args, const Backward& grads);
void check_reserve(Reserve reserve, std::size_t needed);
// CPU engines run on the calling thread; a CUDA stream means the caller expected a GPU engine.
void check_stream(Engine engine, Stream stream);

}  // namespace rnnx
