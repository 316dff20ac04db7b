// cudnn: cuDNN 9's RNN API behind rnnx's (cudnnRNNForward, cudnnRNNBackwardData_v8,
// cudnnRNNBackwardWeights_v8), the reference path on the GPU and the peer every rnnx kernel is
// measured against.
#pragma once

#include <memory>

#include "engine.h"

namespace rnnx {

// Throws Error(unsupported) for what cuDNN does not compute (a GRU that resets before the
// matmul) or an algorithm's limits, naming the engines that can.
std::unique_ptr<EngineImpl> make_cudnn_engine(const Model& model, const Options& options);

}  // namespace rnnx
