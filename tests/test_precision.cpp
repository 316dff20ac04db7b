// The layouts, and float32 against float64 on the same (rounded) values,
// batch-major against time-major, and repeated calls.
#include <gtest/gtest.h>

#include "support/test_support.h"

namespace rnnx {
namespace {

std::vector<double> rounded(std::vector<double> v) {
  for (double& e : v) e = static_cast<float>(e);
  return v;
}

class Precision : public ::testing::TestWithParam<test::MatrixCase> {};

TEST_P(Precision, Float32MatchesFloat64) {
  const test::MatrixCase& c = GetParam();
  test::Problem p64 = test::random_problem(c.model, c.steps, c.batch, c.lengths, 41);
  for (auto* v : {&p64.x, &p64.weights, &p64.init, &p64.dy, &p64.dfinal}) *v = rounded(*v);
  test::Problem p32 = p64;
  p32.model.dtype = DType::f32;
  const test::Result r64 = test::run(p64, Engine::cpu_reference, true);
  const test::Result r32 = test::run(p32, Engine::cpu_reference, true);
  EXPECT_LT(test::max_rel_error(r32.y, r64.y), 1e-5);
  EXPECT_LT(test::max_rel_error(r32.final_state, r64.final_state), 1e-5);
  EXPECT_LT(test::max_rel_error(r32.dx, r64.dx), 1e-5);
  EXPECT_LT(test::max_rel_error(r32.dinit, r64.dinit), 1e-5);
  EXPECT_LT(test::max_rel_error(r32.dweights, r64.dweights), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Matrix, Precision, ::testing::ValuesIn(test::gradient_matrix()),
                         test::ParamName());

// [T, B, F] -> [B, T, F]
std::vector<double> to_batch_major(const std::vector<double>& v, int T, int B) {
  const std::size_t F = v.size() / (std::size_t(T) * B);
  std::vector<double> out(v.size());
  for (int t = 0; t < T; ++t)
    for (int b = 0; b < B; ++b)
      for (std::size_t f = 0; f < F; ++f)
        out[(std::size_t(b) * T + t) * F + f] = v[(std::size_t(t) * B + b) * F + f];
  return out;
}

TEST(Layouts, BatchMajorIsTheTransposeOfTimeMajor) {
  for (const test::MatrixCase& c : test::gradient_matrix()) {
    const test::Problem tm = test::random_problem(c.model, c.steps, c.batch, c.lengths, 42);
    test::Problem bm = tm;
    bm.model.layout = Layout::batch_major;
    bm.x = to_batch_major(tm.x, c.steps, c.batch);
    bm.dy = to_batch_major(tm.dy, c.steps, c.batch);
    const test::Result a = test::run(tm, Engine::cpu_reference, true);
    const test::Result b = test::run(bm, Engine::cpu_reference, true);
    EXPECT_EQ(to_batch_major(a.y, c.steps, c.batch), b.y) << c.name;
    EXPECT_EQ(to_batch_major(a.dx, c.steps, c.batch), b.dx) << c.name;
    EXPECT_EQ(a.final_state, b.final_state) << c.name;
    EXPECT_EQ(a.dweights, b.dweights) << c.name;
  }
}

TEST(Repeatability, RepeatedCallsAreBitwiseIdentical) {
  const test::MatrixCase c = test::gradient_matrix()[11];
  const test::Problem p = test::random_problem(c.model, c.steps, c.batch, c.lengths, 43);
  const test::Result a = test::run(p, Engine::cpu_reference, true);
  const test::Result b = test::run(p, Engine::cpu_reference, true);
  EXPECT_EQ(a.y, b.y);
  EXPECT_EQ(a.dweights, b.dweights);
}

}  // namespace
}  // namespace rnnx
