// rnnx.Model from the fields of the CLI's model JSON (docs/CLI.md), given as a dict, a JSON
// string or keyword arguments, and back.
#pragma once

#include <nanobind/nanobind.h>

#include "rnnx/model.h"

namespace rnnx::python {

// `spec`: a dict, a JSON string, an rnnx.Model or None; `fields`: keyword arguments, which add to
// (or replace keys of) spec. Refuses unknown keys, wrong types and values out of range with
// Error(invalid_argument) naming the key, e.g. "model: layers[1].hidden: expected an integer in
// [1, 16777216], found 0", then runs rnnx::validate.
Model model_from_python(nanobind::handle spec, nanobind::handle fields);

// The fields, as model_to_json writes them: every key, each layer's cell-specific one.
nanobind::dict model_to_dict(const Model& model);

}  // namespace rnnx::python
