// The 14 networks of the seed notebook (shared/seeds/), as rnnx models. Not part of the installed
// library: a static library (rnnx_seed_models) for the CLI, the tests, the benchmarks and the
// examples, built on rnnx's public API.
#pragma once

#include <string>
#include <vector>

#include "rnnx/model.h"

namespace rnnx {

struct SeedModel {
  int number;            // 1..14, the notebook's order in DESIGN.md's table
  std::string function;  // the notebook's function, e.g. "multi_layer_dynamic_mix"
  std::string name;      // rnnx's short name shared by its static and dynamic twins: "mix"
  bool static_unroll;    // built with static_rnn (true) or dynamic_rnn (false)
  Model model;
};

// The seed's sizes by default: input 28 (one image row), hidden 128.
std::vector<SeedModel> seed_models(int input_size = 28, int hidden = 128, DType dtype = DType::f32,
                                   Layout layout = Layout::time_major);

// One seed model by short name ("lstm", "gru", "multi_lstm", "multi_gru", "mix", "bi_lstm",
// "multi_bi_lstm") or by notebook function name. Throws Error(invalid_argument) listing the names.
Model seed_model(const std::string& name, int input_size = 28, int hidden = 128,
                 DType dtype = DType::f32, Layout layout = Layout::time_major);

}  // namespace rnnx
