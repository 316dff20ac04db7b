// The notebook's 14 networks at the notebook's sizes (input 28, T=28,
// B=128, hidden 128) run forward and backward on cpu_reference: shapes, finite values, zeros past
// each length.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>

#include "support/test_support.h"

namespace rnnx {

// GoogleTest prints a failing case by its notebook function and model.
void PrintTo(const SeedModel& s, std::ostream* out) {
  *out << s.number << " " << s.function << ": " << describe(s.model);
}

namespace {

TEST(SeedModels, TableMatchesTheNotebook) {
  const std::vector<SeedModel> seeds = seed_models();
  ASSERT_EQ(seeds.size(), 14u);
  std::set<std::string> functions;
  for (const SeedModel& s : seeds) functions.insert(s.function);
  EXPECT_EQ(functions.size(), 14u);
  // Spot checks against DESIGN.md's table.
  EXPECT_EQ(seeds[0].function, "single_layer_static_lstm");
  EXPECT_EQ(seeds[9].function, "multi_layer_dynamic_mix");
  const Model mix = seeds[9].model;
  ASSERT_EQ(mix.layers.size(), 2u);
  EXPECT_EQ(mix.layers[0].cell, Cell::lstm);
  EXPECT_EQ(mix.layers[0].hidden, 128);
  EXPECT_EQ(mix.layers[0].forget_bias, 1.0);
  EXPECT_EQ(mix.layers[1].cell, Cell::gru);
  EXPECT_EQ(mix.layers[1].hidden, 256);
  EXPECT_EQ(mix.layers[1].gru_reset, GruReset::before_matmul);
  const Model bi = seed_model("multi_bi_lstm");
  ASSERT_EQ(bi.layers.size(), 3u);
  EXPECT_TRUE(bi.layers[2].bidirectional);
  EXPECT_EQ(layer_input_size(bi, 1), 256);
  EXPECT_EQ(output_size(bi), 256);
  // The static and dynamic twins are the same rnnx model.
  EXPECT_EQ(describe(seed_model("single_layer_static_gru")),
            describe(seed_model("single_layer_dynamic_gru")));
  EXPECT_THROW(seed_model("transformer"), Error);
}

class SeedModelRun : public ::testing::TestWithParam<SeedModel> {};

TEST_P(SeedModelRun, ForwardAndBackwardAtTheSeedsSizes) {
  const SeedModel& seed = GetParam();
  constexpr int T = 28, B = 128;
  std::vector<std::int32_t> lengths(B);
  for (int b = 0; b < B; ++b) lengths[b] = b % 29;  // every length 0..28, as a stress of padding
  const test::Problem p = test::random_problem(seed.model, T, B, lengths, seed.number);
  const test::Result r = test::run(p, Engine::cpu_reference, true);

  const int D = output_size(seed.model);
  ASSERT_EQ(r.y.size(), std::size_t(T) * B * D);
  ASSERT_EQ(r.final_state.size(), StateLayout(seed.model, B).size());
  ASSERT_EQ(r.dx.size(), p.x.size());
  ASSERT_EQ(r.dinit.size(), r.final_state.size());
  ASSERT_EQ(r.dweights.size(), p.weights.size());
  for (const auto* v : {&r.y, &r.final_state, &r.dx, &r.dinit, &r.dweights}) {
    for (double e : *v) ASSERT_TRUE(std::isfinite(e));
  }
  double live = 0;
  for (int t = 0; t < T; ++t) {
    for (int b = 0; b < B; ++b) {
      for (int f = 0; f < D; ++f) {
        const double y = r.y[(std::size_t(t) * B + b) * D + f];
        if (t >= lengths[b]) {
          ASSERT_EQ(y, 0.0) << "t=" << t << " b=" << b;
        } else {
          live += std::abs(y);
        }
      }
    }
  }
  EXPECT_GT(live, 1.0);
}

INSTANTIATE_TEST_SUITE_P(Notebook, SeedModelRun, ::testing::ValuesIn(seed_models(28, 128)),
                         [](const ::testing::TestParamInfo<SeedModel>& param_info) {
                           return std::to_string(param_info.param.number) + "_" +
                                  param_info.param.function;
                         });

}  // namespace
}  // namespace rnnx
