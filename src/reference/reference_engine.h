// cpu_reference: the oracle. Plain loops over one sequence, one step and one unit at a time, in
// float64 whatever the model's dtype, following DESIGN.md's formulas literally. It shares no code
// with the fast engines, so that they are checked against something written independently. For
// bf16/f16 models it rounds each layer's output to the 16-bit type before the next layer reads it,
// as a 16-bit engine stores it.
#pragma once

#include <memory>

#include "engine.h"

namespace rnnx {

std::unique_ptr<EngineImpl> make_reference_engine(const Model& model, const Options& options);

}  // namespace rnnx
