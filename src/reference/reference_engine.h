// cpu_reference: the oracle. Plain loops over one sequence, one step and one unit at a time, in
// float64 whatever the model's dtype, following DESIGN.md's formulas literally. It shares no code
// with the fast engines, so that they are checked against something written independently.
#pragma once

#include <memory>

#include "engine.h"

namespace rnnx {

std::unique_ptr<EngineImpl> make_reference_engine(const Model& model, const Options& options);

}  // namespace rnnx
