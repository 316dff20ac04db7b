// Engine cpu against cpu_reference beyond the gradient matrix (tests/test_conformance.cpp): the
// seed's 14 networks at the seed's sizes, edge shapes, thread counts, bitwise repeatability, what
// earlier calls leave behind, and the plan's memory. Its threaded paths, which scripts/tsan.sh
// runs under ThreadSanitizer, are tests/test_cpu_threads.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "cpu/blas.h"
#include "cpu_engine_checks.h"
#include "support/test_support.h"

namespace rnnx {
namespace {

using test::expect_matches;
using test::threads_option;

void expect_close(const test::Problem& p, double bound, const Options& options = {}) {
  expect_matches(p, test::run(p, Engine::cpu_reference, true), bound, options);
}

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

Model small(CellKind kind, int hidden, bool bi) {
  Model m;
  m.input_size = 7;
  m.dtype = DType::f64;
  // The LSTM's forget bias not TF's 1, so that it is seen to be used.
  Layer layer = test::layer_of(kind, hidden, 0.5);
  layer.bidirectional = bi;
  m.layers.push_back(layer);
  layer.hidden = hidden + 2;
  m.layers.push_back(layer);
  return m;
}

TEST(CpuEngine, EdgeShapes) {
  for (CellKind kind : test::kCellKinds) {
    SCOPED_TRACE(to_string(kind));
    ASSERT_EQ(cell_kind(test::layer_of(kind)), kind);
    // T = 1, B = 1, and hidden sizes that are not multiples of 4 or 8.
    expect_close(test::random_problem(small(kind, 5, true), 1, 1, {}, 56), 1e-12);
    expect_close(test::random_problem(small(kind, 13, false), 4, 1, {3}, 57), 1e-12);
    // Every length 0: zeros out, initial states through, gradients straight back.
    expect_close(test::random_problem(small(kind, 3, true), 6, 4, {0, 0, 0, 0}, 58), 1e-12);
  }
}

// The RNN on both threading paths: 40 sequences are blocks of their own for 2 threads (16 a
// thread at least) and threaded passes for 3; both activations, float32 (the vectorized rows) and
// float64.
TEST(CpuEngine, RnnThreadedMatchesReference) {
  std::vector<std::int32_t> lengths(40);
  for (int b = 0; b < 40; ++b) lengths[b] = (b * 5) % 12;
  for (CellKind kind : {CellKind::rnn_tanh, CellKind::rnn_relu}) {
    for (int threads : {1, 2, 3}) {
      for (DType dtype : {DType::f64, DType::f32}) {
        SCOPED_TRACE(std::string(to_string(kind)) + ", " + std::to_string(threads) + " threads, " +
                     to_string(dtype));
        Model m = small(kind, 37, true);
        m.dtype = dtype;
        Options o;
        o.cpu.threads = threads;
        expect_close(test::random_problem(m, 11, 40, lengths, 65),
                     dtype == DType::f64 ? 1e-12 : 1e-5, o);
      }
    }
  }
}

// relu's dead units: with every pre-activation below 0 the outputs are exactly 0 and no gradient
// reaches the inputs or any weight (relu'(z) = 0 for z <= 0, exactly).
TEST(CpuEngine, RnnReluDeadUnitsPassNoGradient) {
  Model m;
  m.input_size = 4;
  m.dtype = DType::f64;
  Layer layer = test::layer_of(CellKind::rnn_relu);
  layer.hidden = 6;
  m.layers.push_back(layer);
  test::Problem p = test::random_problem(m, 5, 3, {5, 2, 0}, 66, false, false);
  const WeightLayout wl(m);
  // bx = -10 outweighs |Wx x| <= 4 / sqrt(6) with x in [-1, 1) and h = 0 throughout.
  for (int j = 0; j < 6; ++j) p.weights[wl.offset(0, Dir::fw, Param::bx) + j] = -10.0;
  for (DType dtype : {DType::f64, DType::f32}) {
    SCOPED_TRACE(to_string(dtype));
    test::Problem q = p;
    q.model.dtype = dtype;
    const test::Result r = test::run(q, Engine::cpu, true);
    for (double v : r.y) ASSERT_EQ(v, 0.0);
    for (double v : r.dx) ASSERT_EQ(v, 0.0);
    for (double v : r.dweights) ASSERT_EQ(v, 0.0);
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
    o.cpu.threads = threads;
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
    o.cpu.threads = threads;
    SCOPED_TRACE(std::to_string(threads) + " threads");
    expect_close(test::random_problem(m, 7, 5, {7, 1, 0, 4, 6}, 61), 1e-12, o);
  }
}

// The weight gradients' A^T B made as its transpose B^T A where that measured faster
// (cpu::transposed_product_is_faster), here at the seed LSTM's dWx shape: the same product as a
// plain float64 sum, accumulated onto C (beta 1) or replacing it (beta 0, C full of NaN).
// Float32SeedMixWithinTolerance runs it inside the engine where the CPU takes it (AVX2 alone).
TEST(CpuEngine, TransposedWeightGradientProductMatches) {
  const int M = 512, N = 28, K = 3584;
  std::mt19937 generator(65);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  auto next = [&] { return uniform(generator); };
  std::vector<float> A(std::size_t(K) * M), B(std::size_t(K) * N), C(std::size_t(M) * N);
  for (float& v : A) v = next();
  for (float& v : B) v = next();
  for (float& v : C) v = next();
  const std::vector<float> C0 = C;
  std::vector<float> transposed(std::size_t(M) * N);
  for (float beta : {1.0f, 0.0f}) {
    SCOPED_TRACE("beta = " + std::to_string(beta));
    if (beta == 0.0f) std::fill(C.begin(), C.end(), std::numeric_limits<float>::quiet_NaN());
    cpu::gemm_through_transpose(M, N, K, 1.0f, A.data(), M, B.data(), N, beta, C.data(), N,
                                transposed.data());
    double worst = 0;
    for (int i = 0; i < M; ++i) {
      for (int j = 0; j < N; ++j) {
        double want = beta == 0.0f ? 0.0 : double(C0[std::size_t(i) * N + j]);
        for (int k = 0; k < K; ++k) {
          want += double(A[std::size_t(k) * M + i]) * double(B[std::size_t(k) * N + j]);
        }
        worst = std::max(worst, std::fabs(C[std::size_t(i) * N + j] - want));
      }
    }
    // Sums of 3584 products of numbers in [-1, 1): float32 rounding stays far below 1e-3.
    EXPECT_LT(worst, 1e-3);
    C = C0;
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

// A problem's arrays in the model's type T (states too: float32 for a float32 model), its outputs
// NaN, and a Forward and Backward naming them all (every sequence at full length).
template <class T>
struct TypedCall {
  static std::vector<T> typed(const std::vector<double>& v) { return {v.begin(), v.end()}; }
  static std::vector<double> doubles(const std::vector<T>& v) { return {v.begin(), v.end()}; }

  TypedCall(const test::MatrixCase& c, const test::Problem& p)
      : x(typed(p.x)),
        w(typed(p.weights)),
        dy(typed(p.dy)),
        init(typed(p.init)),
        dfinal(typed(p.dfinal)),
        y(std::size_t(c.steps) * c.batch * output_size(c.model)),
        final_state(StateLayout(c.model, c.batch).size()),
        dx(x.size()),
        dinit(final_state.size()),
        dweights(w.size()) {
    poison();
    f.steps = c.steps;
    f.batch = c.batch;
    f.x = x;
    f.weights = w;
    f.init = init;
    f.y = y;
    f.final_state = final_state;
    b.dy = dy;
    b.dfinal = dfinal;
    b.dx = dx;
    b.dinit = dinit;
    b.dweights = dweights;
  }
  TypedCall(const TypedCall&) = delete;
  TypedCall& operator=(const TypedCall&) = delete;

  void poison() {
    for (std::vector<T>* v : {&y, &final_state, &dx, &dinit, &dweights}) {
      std::fill(v->begin(), v->end(), std::numeric_limits<T>::quiet_NaN());
    }
  }

  std::vector<T> x, w, dy, init, dfinal;               // inputs
  std::vector<T> y, final_state, dx, dinit, dweights;  // outputs
  Forward f;
  Backward b;
};

// Rows past each sequence's length are zeroed only where no step writes them, the others written
// without being zeroed first: what an earlier call left in the plan's arrays and in the reserve
// (every row written at full length, then NaN over the reserve) must not reach the results.
template <class T>
void expect_leftovers_never_read(const test::MatrixCase& c) {
  SCOPED_TRACE(c.name);
  const test::Problem p = test::random_problem(c.model, c.steps, c.batch, c.lengths, 63);
  const test::Result fresh = test::run(p, Engine::cpu, true);
  TypedCall<T> call(c, p);
  Rnn rnn(c.model, Engine::cpu);
  std::vector<unsigned char> reserve(rnn.reserve_bytes(c.steps, c.batch));
  const Reserve r{reserve.data(), reserve.size()};
  rnn.forward_train(call.f, r);  // every sequence at full length: every row written
  rnn.backward(call.f, call.b, r);
  std::fill(reserve.begin(), reserve.end(), static_cast<unsigned char>(0xFF));  // NaN bits
  call.poison();
  call.f.lengths = c.lengths.data();
  rnn.forward_train(call.f, r);
  rnn.backward(call.f, call.b, r);
  EXPECT_EQ(call.doubles(call.y), fresh.y);
  EXPECT_EQ(call.doubles(call.final_state), fresh.final_state);
  EXPECT_EQ(call.doubles(call.dx), fresh.dx);
  EXPECT_EQ(call.doubles(call.dinit), fresh.dinit);
  EXPECT_EQ(call.doubles(call.dweights), fresh.dweights);
}

// Every case of the gradient matrix with mixed lengths (LSTM, both GRUs, stacks, LSTM then GRU,
// one direction and two), float64 and float32.
TEST(CpuEngine, LeftoversOfEarlierCallsAreNeverRead) {
  int cases = 0;
  for (const test::MatrixCase& c : test::gradient_matrix(DType::f64)) {
    if (c.lengths.empty()) continue;
    expect_leftovers_never_read<double>(c);
    ++cases;
  }
  for (const test::MatrixCase& c : test::gradient_matrix(DType::f32)) {
    if (c.lengths.empty()) continue;
    expect_leftovers_never_read<float>(c);
    ++cases;
  }
  EXPECT_GE(cases, 2 * 18) << "the matrix lost its mixed-length cases";
}

// Backward without dx skips the first layer's input gradient; every other result keeps its bits.
template <class T>
void expect_the_same_gradients_without_dx(const test::MatrixCase& c) {
  SCOPED_TRACE(c.name);
  const test::Problem p = test::random_problem(c.model, c.steps, c.batch, c.lengths, 65);
  const test::Result with_dx = test::run(p, Engine::cpu, true);
  TypedCall<T> call(c, p);
  call.f.lengths = c.lengths.empty() ? nullptr : c.lengths.data();
  call.b.dx = Buffer();
  Rnn rnn(c.model, Engine::cpu);
  std::vector<unsigned char> reserve(rnn.reserve_bytes(c.steps, c.batch));
  const Reserve r{reserve.data(), reserve.size()};
  rnn.forward_train(call.f, r);
  rnn.backward(call.f, call.b, r);
  EXPECT_EQ(call.doubles(call.dinit), with_dx.dinit);
  EXPECT_EQ(call.doubles(call.dweights), with_dx.dweights);
}

// Stacks (whose upper layers still need their inputs' gradients) and both directions included.
TEST(CpuEngine, GradientsWithoutDxAreTheSame) {
  int cases = 0;
  for (const test::MatrixCase& c : test::gradient_matrix(DType::f64)) {
    expect_the_same_gradients_without_dx<double>(c);
    ++cases;
  }
  for (const test::MatrixCase& c : test::gradient_matrix(DType::f32)) {
    expect_the_same_gradients_without_dx<float>(c);
    ++cases;
  }
  EXPECT_GE(cases, 2 * 18) << "the matrix lost its cases";
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
  EXPECT_EQ(s.graph.graphs, 0);
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

// prepare() takes the plan's one-time costs: after it, neither inference nor training grows the
// plan's memory, and the results are those of a plan that was never prepared.
TEST(CpuEngine, PrepareSizesEverythingAhead) {
  const test::MatrixCase c = test::gradient_matrix(DType::f32)[27];
  const test::Problem p =
      test::random_problem(c.model, c.steps, c.batch, c.lengths, 66, false, false);
  Rnn rnn(c.model, Engine::cpu);
  rnn.prepare(c.steps, c.batch);
  const std::size_t held = rnn.stats().workspace_bytes;
  EXPECT_GE(held, rnn.workspace_bytes(c.steps, c.batch) / 2) << "prepare sized nothing";
  std::vector<float> x(p.x.begin(), p.x.end()), w(p.weights.begin(), p.weights.end());
  std::vector<float> dy(p.dy.begin(), p.dy.end());
  std::vector<float> y(std::size_t(c.steps) * c.batch * output_size(c.model));
  std::vector<float> dx(x.size()), dw(w.size());
  std::vector<float> reserve(rnn.reserve_bytes(c.steps, c.batch) / sizeof(float) + 1);
  Forward f;
  f.steps = c.steps;
  f.batch = c.batch;
  f.x = x;
  f.weights = w;
  f.lengths = c.lengths.empty() ? nullptr : c.lengths.data();
  f.y = y;
  rnn.forward(f);
  Backward b;
  b.dy = dy;
  b.dx = dx;
  b.dweights = dw;
  const Reserve r{reserve.data(), reserve.size() * sizeof(float)};
  rnn.forward_train(f, r);
  rnn.backward(f, b, r);
  EXPECT_EQ(rnn.stats().workspace_bytes, held) << "a call after prepare grew the plan";
  const test::Result unprepared = test::run(p, Engine::cpu, true);
  EXPECT_EQ(std::vector<double>(y.begin(), y.end()), unprepared.y);
  EXPECT_EQ(std::vector<double>(dw.begin(), dw.end()), unprepared.dweights);
}

}  // namespace
}  // namespace rnnx
