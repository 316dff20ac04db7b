// Engine cpu against cpu_reference: the gradient matrix in float64 (1e-12) and float32 (1e-5),
// the seed's 14 networks at the seed's sizes, edge shapes, and bitwise repeatability.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "support/test_support.h"

namespace rnnx {
namespace {

struct Errors {
  double y = 0, final_state = 0, dx = 0, dinit = 0, dweights = 0;
  double worst() const { return std::max({y, final_state, dx, dinit, dweights}); }
};

Errors compare(const test::Result& got, const test::Result& ref) {
  return Errors{test::max_rel_error(got.y, ref.y),
                test::max_rel_error(got.final_state, ref.final_state),
                test::max_rel_error(got.dx, ref.dx), test::max_rel_error(got.dinit, ref.dinit),
                test::max_rel_error(got.dweights, ref.dweights)};
}

void expect_close(const test::Problem& p, double bound, const Options& options = {}) {
  const test::Result ref = test::run(p, Engine::cpu_reference, true);
  const test::Result fwd = test::run(p, Engine::cpu, false, options);
  const test::Result got = test::run(p, Engine::cpu, true, options);
  EXPECT_LT(test::max_rel_error(fwd.y, ref.y), bound) << "forward (inference) y";
  EXPECT_LT(test::max_rel_error(fwd.final_state, ref.final_state), bound) << "forward final";
  const Errors e = compare(got, ref);
  EXPECT_LT(e.y, bound) << "y";
  EXPECT_LT(e.final_state, bound) << "final_state";
  EXPECT_LT(e.dx, bound) << "dx";
  EXPECT_LT(e.dinit, bound) << "dinit";
  EXPECT_LT(e.dweights, bound) << "dweights";
  ::testing::Test::RecordProperty("max_rel_error", test::scientific(e.worst()));
}

class CpuMatrix : public ::testing::TestWithParam<test::MatrixCase> {};

TEST_P(CpuMatrix, Float64MatchesReference) {
  const test::MatrixCase& c = GetParam();
  expect_close(test::random_problem(c.model, c.steps, c.batch, c.lengths, 51), 1e-12);
}

TEST_P(CpuMatrix, Float32MatchesReference) {
  test::MatrixCase c = GetParam();
  c.model.dtype = DType::f32;
  expect_close(test::random_problem(c.model, c.steps, c.batch, c.lengths, 52), 1e-5);
}

TEST_P(CpuMatrix, BatchMajorMatchesReference) {
  test::MatrixCase c = GetParam();
  c.model.layout = Layout::batch_major;
  expect_close(test::random_problem(c.model, c.steps, c.batch, c.lengths, 53), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Matrix, CpuMatrix, ::testing::ValuesIn(test::gradient_matrix()),
                         test::ParamName());

class CpuSeedModels : public ::testing::TestWithParam<SeedModel> {};

// The notebook's sizes: input 28, T=28, B=128, hidden 128, every length from 0 to 28.
TEST_P(CpuSeedModels, MatchReferenceAtTheSeedsSizes) {
  Model m = GetParam().model;
  std::vector<std::int32_t> lengths(128);
  for (int b = 0; b < 128; ++b) lengths[b] = (b * 7) % 29;
  m.dtype = DType::f64;
  expect_close(test::random_problem(m, 28, 128, lengths, 54), 1e-12);
}

// A static and a dynamic function of the notebook build the same rnnx model: run each once.
std::vector<SeedModel> distinct_seed_models() {
  std::vector<SeedModel> out;
  for (const SeedModel& s : seed_models()) {
    if (!s.static_unroll) out.push_back(s);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Notebook, CpuSeedModels, ::testing::ValuesIn(distinct_seed_models()),
                         [](const ::testing::TestParamInfo<SeedModel>& param_info) {
                           return param_info.param.function;
                         });

// float32 at the seed's size, for the error a user of the seed's models sees.
TEST(CpuEngine, Float32SeedMixWithinTolerance) {
  const Model m = seed_model("mix");
  expect_close(test::random_problem(m, 28, 128, {}, 55), 1e-4);
}

Model small(Cell cell, int hidden, bool bi, GruReset reset = GruReset::after_matmul) {
  Model m;
  m.input_size = 7;
  m.dtype = DType::f64;
  Layer layer;
  layer.cell = cell;
  layer.hidden = hidden;
  layer.bidirectional = bi;
  layer.gru_reset = reset;
  layer.forget_bias = 0.5;
  m.layers.push_back(layer);
  layer.hidden = hidden + 2;
  m.layers.push_back(layer);
  return m;
}

TEST(CpuEngine, EdgeShapes) {
  for (Cell cell : {Cell::lstm, Cell::gru}) {
    for (GruReset reset : {GruReset::after_matmul, GruReset::before_matmul}) {
      SCOPED_TRACE(std::string(to_string(cell)) + " " + to_string(reset));
      // T = 1, B = 1, and hidden sizes that are not multiples of 4 or 8.
      expect_close(test::random_problem(small(cell, 5, true, reset), 1, 1, {}, 56), 1e-12);
      expect_close(test::random_problem(small(cell, 13, false, reset), 4, 1, {3}, 57), 1e-12);
      // Every length 0: zeros out, initial states through, gradients straight back.
      expect_close(test::random_problem(small(cell, 3, true, reset), 6, 4, {0, 0, 0, 0}, 58),
                   1e-12);
    }
  }
}

// Without init and dfinal the engine starts from zeros and takes no final-state gradient.
TEST(CpuEngine, NoInitialStateNorFinalGradient) {
  for (const test::MatrixCase& c : test::gradient_matrix()) {
    SCOPED_TRACE(c.name);
    expect_close(test::random_problem(c.model, c.steps, 40, {}, 63, false, false), 1e-12);
  }
}

// A long sequence: the per-step loop must not grow anything with T (the reference recurses
// nowhere either, so this is about time and memory staying linear).
TEST(CpuEngine, ThousandStepsBatchTwo) {
  Model m = seed_model("mix", 6, 8, DType::f64);
  expect_close(test::random_problem(m, 1000, 2, {1000, 377}, 59), 1e-12);
}

TEST(CpuEngine, RepeatedCallsAreBitwiseIdentical) {
  for (int threads : {1, 2}) {
    Options o;
    o.threads = threads;
    const test::MatrixCase c = test::gradient_matrix(DType::f32)[23];
    const test::Problem p = test::random_problem(c.model, c.steps, c.batch, c.lengths, 60);
    const test::Result a = test::run(p, Engine::cpu, true, o);
    const test::Result b = test::run(p, Engine::cpu, true, o);
    EXPECT_EQ(a.y, b.y) << threads << " threads";
    EXPECT_EQ(a.dx, b.dx) << threads << " threads";
    EXPECT_EQ(a.dweights, b.dweights) << threads << " threads";
  }
}

TEST(CpuEngine, ThreadCountsAllMatchReference) {
  const Model m = seed_model("multi_bi_lstm", 9, 12, DType::f64);
  for (int threads : {1, 2, 3}) {
    Options o;
    o.threads = threads;
    SCOPED_TRACE(std::to_string(threads) + " threads");
    expect_close(test::random_problem(m, 7, 5, {7, 1, 0, 4, 6}, 61), 1e-12, o);
  }
}

// Whatever the caller leaves in x past a sequence's length (NaN included) must not reach the
// results: TF's semantics ignore those steps.
TEST(CpuEngine, PaddingIsNeverRead) {
  const test::MatrixCase c = test::gradient_matrix()[3];  // LSTM, 1 layer, bi, mixed lengths
  test::Problem p = test::random_problem(c.model, c.steps, c.batch, c.lengths, 62);
  const test::Result clean = test::run(p, Engine::cpu, true);
  const int I = c.model.input_size;
  for (int t = 0; t < c.steps; ++t)
    for (int b = 0; b < c.batch; ++b)
      if (t >= c.lengths[b])
        for (int f = 0; f < I; ++f) p.x[(std::size_t(t) * c.batch + b) * I + f] = std::nan("");
  const test::Result dirty = test::run(p, Engine::cpu, true);
  EXPECT_EQ(clean.y, dirty.y);
  EXPECT_EQ(clean.dweights, dirty.dweights);
}

TEST(CpuEngine, WorkspaceIsReportedAndKept) {
  const test::MatrixCase c = test::gradient_matrix()[9];
  Rnn rnn(c.model, Engine::cpu);
  const std::size_t need = rnn.workspace_bytes(c.steps, c.batch);
  EXPECT_GT(need, 0u);
  EXPECT_GT(rnn.workspace_bytes(10 * c.steps, c.batch), need);
  EXPECT_EQ(rnn.stats().workspace_bytes, 0u);  // nothing held before a call
  rnn.prepare(c.steps, c.batch);
  const test::Problem p = test::random_problem(c.model, c.steps, c.batch, c.lengths, 64);
  std::vector<double> y(std::size_t(c.steps) * c.batch * output_size(c.model));
  Forward f;
  f.steps = c.steps;
  f.batch = c.batch;
  f.x = p.x;
  f.weights = p.weights;
  f.lengths = c.lengths.empty() ? nullptr : c.lengths.data();
  f.y = y;
  rnn.forward(f);
  const PlanStats s = rnn.stats();
  EXPECT_GT(s.workspace_bytes, 0u);
  EXPECT_EQ(s.graphs, 0);
  rnn.forward(f);
  EXPECT_EQ(rnn.stats().workspace_bytes, s.workspace_bytes) << "a repeated call must not grow";
  EXPECT_THROW((void)rnn.workspace_bytes(0, 1), Error);
}

TEST(CpuEngine, AutoPicksCpuWithoutAGpu) {
  if (!gpus().devices.empty()) GTEST_SKIP() << "a GPU is present; auto prefers a GPU engine";
  const Rnn rnn(seed_model("gru"), Engine::automatic);
  EXPECT_EQ(rnn.engine(), Engine::cpu);
}

TEST(CpuEngine, RefusesTf32) {
  Options o;
  o.allow_tf32 = true;
  try {
    Rnn rnn(seed_model("gru"), Engine::cpu, o);
    ADD_FAILURE() << "allow_tf32 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::unsupported);
    EXPECT_NE(std::string(e.what()).find("allow_tf32"), std::string::npos);
  }
}

}  // namespace
}  // namespace rnnx
