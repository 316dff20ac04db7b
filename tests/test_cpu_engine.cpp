// Engine cpu against cpu_reference beyond the gradient matrix (tests/test_conformance.cpp): the
// seed's 14 networks at the seed's sizes, edge shapes, threads, and bitwise repeatability.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <random>
#include <thread>

#include "cpu/blas.h"
#include "cpu/tiled_recurrence.h"
#include "support/test_support.h"

namespace rnnx {
namespace {

// The cpu engine's inference and training results on `p` within `bound` of cpu_reference's
// `ref`; returns the training results.
test::Result expect_matches(const test::Problem& p, const test::Result& ref, double bound,
                            const Options& options) {
  const test::Result fwd = test::run(p, Engine::cpu, false, options);
  EXPECT_LT(test::max_rel_error(fwd.y, ref.y), bound) << "forward (inference) y";
  EXPECT_LT(test::max_rel_error(fwd.final_state, ref.final_state), bound) << "forward final";
  const test::Result got = test::run(p, Engine::cpu, true, options);
  const test::Errors e = test::compare_results(got, ref, true);
  EXPECT_LT(e.y, bound) << "y";
  EXPECT_LT(e.final_state, bound) << "final_state";
  EXPECT_LT(e.dx, bound) << "dx";
  EXPECT_LT(e.dinit, bound) << "dinit";
  EXPECT_LT(e.dweights, bound) << "dweights";
  ::testing::Test::RecordProperty("max_rel_error", test::scientific(e.worst()));
  return got;
}

Options threads_option(int threads) {
  Options o;
  o.cpu.threads = threads;
  return o;
}

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

// Rows past each sequence's length are zeroed only where no step writes them, the others written
// without being zeroed first: what an earlier call left in the plan's arrays and in the reserve
// (every row written at full length, then NaN over the reserve) must not reach the results.
template <class T>
void expect_leftovers_never_read(const test::MatrixCase& c) {
  SCOPED_TRACE(c.name);
  const test::Problem p = test::random_problem(c.model, c.steps, c.batch, c.lengths, 63);
  const test::Result fresh = test::run(p, Engine::cpu, true);

  auto typed = [](const std::vector<double>& v) { return std::vector<T>(v.begin(), v.end()); };
  // States are float32 for a float32 model, float64 for a float64 one: T either way.
  const std::vector<T> x = typed(p.x), w = typed(p.weights), dy = typed(p.dy);
  const std::vector<T> init = typed(p.init), dfinal = typed(p.dfinal);
  const std::size_t state = StateLayout(c.model, c.batch).size();
  const T nan = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> y(fresh.y.size(), nan), dx(x.size(), nan), dweights(w.size(), nan);
  std::vector<T> final_state(state, nan), dinit(state, nan);
  Rnn rnn(c.model, Engine::cpu);
  std::vector<unsigned char> reserve(rnn.reserve_bytes(c.steps, c.batch));
  Forward f;
  f.steps = c.steps;
  f.batch = c.batch;
  f.x = x;
  f.weights = w;
  f.init = init;
  f.y = y;
  f.final_state = final_state;
  Backward b;
  b.dy = dy;
  b.dfinal = dfinal;
  b.dx = dx;
  b.dinit = dinit;
  b.dweights = dweights;
  const Reserve r{reserve.data(), reserve.size()};
  rnn.forward_train(f, r);  // every sequence at full length: every row written
  rnn.backward(f, b, r);
  std::fill(reserve.begin(), reserve.end(), static_cast<unsigned char>(0xFF));  // NaN bits
  for (std::vector<T>* v : {&y, &dx, &dweights, &final_state, &dinit}) {
    std::fill(v->begin(), v->end(), nan);
  }
  f.lengths = c.lengths.data();
  rnn.forward_train(f, r);
  rnn.backward(f, b, r);
  auto doubles = [](const std::vector<T>& v) { return std::vector<double>(v.begin(), v.end()); };
  EXPECT_EQ(doubles(y), fresh.y);
  EXPECT_EQ(doubles(final_state), fresh.final_state);
  EXPECT_EQ(doubles(dx), fresh.dx);
  EXPECT_EQ(doubles(dinit), fresh.dinit);
  EXPECT_EQ(doubles(dweights), fresh.dweights);
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

// ---- CpuEngineThreads: the threaded paths, run under ThreadSanitizer by scripts/tsan.sh ----
// (ctest -R '^CpuEngineThreads\.' selects exactly these.)

// Two layers (the first bidirectional, hidden 32; the second hidden 20, not a multiple of 8),
// input 16, T = 8, B = 48, every length from 0 to 8. B = 48 puts the work on both of the
// engine's threaded paths (src/cpu/backend.h, over_sequence_blocks): with 2 threads each takes a
// block of 24 sequences (48 >= 16 * 2), with 4 threads the passes run on all 48 rows in parallel
// and the GEMMs get 4 threads (48 < 16 * 4). In float32 the second layer's input projection and
// weight gradients (384 rows x G * 20 x 64, at least 4.9e5 multiply-adds) and the first layer's
// for LSTM and GRU are above 64^3, so oneDNN's sgemm and its OpenMP threads run too
// (cpu/blas.cpp); the smaller products go to OpenBLAS.
constexpr int kThreadsSteps = 8, kThreadsBatch = 48;

Model threads_model(CellKind kind, DType dtype) {
  Model m;
  m.input_size = 16;
  m.dtype = dtype;
  Layer layer = test::layer_of(kind, 32, 0.5);
  layer.bidirectional = true;
  m.layers.push_back(layer);
  layer.hidden = 20;
  layer.bidirectional = false;
  m.layers.push_back(layer);
  return m;
}

test::Problem threads_problem(CellKind kind, DType dtype, int batch, std::uint64_t seed) {
  std::vector<std::int32_t> lengths(batch);
  for (int b = 0; b < batch; ++b) lengths[b] = (b * 5) % (kThreadsSteps + 1);
  return test::random_problem(threads_model(kind, dtype), kThreadsSteps, batch, lengths, seed);
}

// Inference and training (forward_train + backward) with 1, 2 and 4 threads against
// cpu_reference, and a second plan's training results bitwise equal to the first's.
void expect_threads_match_reference(CellKind kind) {
  for (DType dtype : {DType::f64, DType::f32}) {
    const test::Problem p = threads_problem(kind, dtype, kThreadsBatch, 70);
    const test::Result ref = test::run(p, Engine::cpu_reference, true);
    const double bound = dtype == DType::f64 ? 1e-12 : 1e-5;
    for (int threads : {1, 2, 4}) {
      SCOPED_TRACE(std::string(to_string(kind)) + ", " + to_string(dtype) + ", " +
                   std::to_string(threads) + " threads");
      const Options o = threads_option(threads);
      const test::Result got = expect_matches(p, ref, bound, o);
      const test::Result again = test::run(p, Engine::cpu, true, o);
      EXPECT_EQ(again.y, got.y) << "not repeatable";
      EXPECT_EQ(again.final_state, got.final_state) << "not repeatable";
      EXPECT_EQ(again.dx, got.dx) << "not repeatable";
      EXPECT_EQ(again.dinit, got.dinit) << "not repeatable";
      EXPECT_EQ(again.dweights, got.dweights) << "not repeatable";
    }
  }
}

TEST(CpuEngineThreads, LstmMatchesReference) {
  expect_threads_match_reference(CellKind::lstm);
}
TEST(CpuEngineThreads, GruResetAfterMatchesReference) {
  expect_threads_match_reference(CellKind::gru_reset_after);
}
TEST(CpuEngineThreads, GruResetBeforeMatchesReference) {
  expect_threads_match_reference(CellKind::gru_reset_before);
}
TEST(CpuEngineThreads, RnnTanhMatchesReference) {
  expect_threads_match_reference(CellKind::rnn_tanh);
}
TEST(CpuEngineThreads, RnnReluMatchesReference) {
  expect_threads_match_reference(CellKind::rnn_relu);
}

// Runs `rounds` times inference, then training, on a plan made by the caller, with buffers of
// its own, and returns the first round's training results. Clears `repeatable` when a later round
// differs from the first in any bit, or inference from training's forward by more than float32's
// bound (they may take different paths: cpu/tiled_recurrence.h runs inference at any batch,
// training's forward only up to 16 sequences).
template <class T>
test::Result run_plan(Rnn& rnn, const test::Problem& p, int rounds, bool& repeatable) {
  const std::size_t state = StateLayout(p.model, p.batch).size();
  const std::vector<T> x(p.x.begin(), p.x.end()), w(p.weights.begin(), p.weights.end());
  const std::vector<T> init(p.init.begin(), p.init.end()), dy(p.dy.begin(), p.dy.end());
  const std::vector<T> dfinal(p.dfinal.begin(), p.dfinal.end());
  std::vector<T> y(std::size_t(p.steps) * p.batch * output_size(p.model)), final_state(state);
  std::vector<T> y_train(y.size()), final_train(state), dx(x.size()), dinit(state), dw(w.size());
  std::vector<unsigned char> reserve(rnn.reserve_bytes(p.steps, p.batch));
  Forward f;
  f.steps = p.steps;
  f.batch = p.batch;
  f.x = x;
  f.lengths = p.lengths.empty() ? nullptr : p.lengths.data();
  f.weights = w;
  f.init = init;
  Backward b;
  b.dy = dy;
  b.dfinal = dfinal;
  b.dx = dx;
  b.dinit = dinit;
  b.dweights = dw;
  const Reserve r{reserve.data(), reserve.size()};
  test::Result first;
  std::vector<double> first_inference_y, first_inference_final;
  for (int round = 0; round < rounds; ++round) {
    f.y = y;
    f.final_state = final_state;
    rnn.forward(f);
    f.y = y_train;
    f.final_state = final_train;
    rnn.forward_train(f, r);
    rnn.backward(f, b, r);
    test::Result got;
    got.y.assign(y_train.begin(), y_train.end());
    got.final_state.assign(final_train.begin(), final_train.end());
    got.dx.assign(dx.begin(), dx.end());
    got.dinit.assign(dinit.begin(), dinit.end());
    got.dweights.assign(dw.begin(), dw.end());
    const std::vector<double> inference_y(y.begin(), y.end());
    const std::vector<double> inference_final(final_state.begin(), final_state.end());
    if (round == 0) {
      first = got;
      first_inference_y = inference_y;
      first_inference_final = inference_final;
    } else if (got.y != first.y || got.final_state != first.final_state || got.dx != first.dx ||
               got.dinit != first.dinit || got.dweights != first.dweights ||
               inference_y != first_inference_y || inference_final != first_inference_final) {
      repeatable = false;
    }
    if (test::max_rel_error(inference_y, got.y) > 1e-5 ||
        test::max_rel_error(inference_final, got.final_state) > 1e-5) {
      repeatable = false;
    }
  }
  return first;
}

test::Result run_plan(Rnn& rnn, const test::Problem& p, int rounds, bool& repeatable) {
  return p.model.dtype == DType::f64 ? run_plan<double>(rnn, p, rounds, repeatable)
                                     : run_plan<float>(rnn, p, rounds, repeatable);
}

// Separate plans are safe to call from separate threads at once (include/rnnx/rnn.h): two plans
// of 2 threads each, one on the blocks path (LSTM, B = 48) and one on the threaded passes (GRU
// resetting before the matmul, B = 24 < 16 * 2), run inference and training three times each from
// two std::threads started together, their first calls (workspace growth, OpenMP's teams) at
// once too. Each must give, bitwise, what a plan of the same model and options gave running
// alone beforehand, and that must match cpu_reference.
TEST(CpuEngineThreads, TwoPlansFromTwoThreads) {
  for (DType dtype : {DType::f32, DType::f64}) {
    SCOPED_TRACE(to_string(dtype));
    const double bound = dtype == DType::f64 ? 1e-12 : 1e-5;
    const test::Problem problems[2] = {threads_problem(CellKind::lstm, dtype, kThreadsBatch, 71),
                                       threads_problem(CellKind::gru_reset_before, dtype, 24, 72)};
    test::Result alone[2], together[2];
    bool repeatable[2] = {true, true};
    for (int k = 0; k < 2; ++k) {
      Rnn rnn(problems[k].model, Engine::cpu, threads_option(2));
      alone[k] = run_plan(rnn, problems[k], 1, repeatable[k]);
      const test::Errors e = test::compare_results(
          alone[k], test::run(problems[k], Engine::cpu_reference, true), true);
      EXPECT_LT(e.worst(), bound) << "plan " << k << " alone against cpu_reference";
    }

    Rnn plans[2] = {Rnn(problems[0].model, Engine::cpu, threads_option(2)),
                    Rnn(problems[1].model, Engine::cpu, threads_option(2))};
    std::atomic<int> ready{0};
    std::exception_ptr failure[2];
    auto body = [&](int k) {
      // Start together, so that the two plans' calls overlap.
      ready.fetch_add(1);
      while (ready.load() < 2) std::this_thread::yield();
      try {
        together[k] = run_plan(plans[k], problems[k], 3, repeatable[k]);
      } catch (...) {
        failure[k] = std::current_exception();
      }
    };
    std::thread first(body, 0), second(body, 1);
    first.join();
    second.join();
    for (int k = 0; k < 2; ++k) {
      SCOPED_TRACE("plan " + std::to_string(k));
      if (failure[k]) {
        try {
          std::rethrow_exception(failure[k]);
        } catch (const std::exception& e) {
          ADD_FAILURE() << "threw: " << e.what();
        } catch (...) {
          ADD_FAILURE() << "threw something other than a std::exception";
        }
        continue;
      }
      EXPECT_TRUE(repeatable[k]) << "rounds or inference and training disagree";
      EXPECT_EQ(together[k].y, alone[k].y);
      EXPECT_EQ(together[k].final_state, alone[k].final_state);
      EXPECT_EQ(together[k].dx, alone[k].dx);
      EXPECT_EQ(together[k].dinit, alone[k].dinit);
      EXPECT_EQ(together[k].dweights, alone[k].dweights);
    }
  }
}

// The small-batch path (cpu/small_batch.h: LSTM inference, float32, B <= 4, H % 16 == 0), whose
// threads meet at a spin barrier every step.
// Two LSTM layers (bidirectional 64, then 48), B = 1 to 4 with mixed lengths (0 included), on 1,
// 2 and 4 threads: inference on the small-batch path within float32's bound of cpu_reference,
// bitwise the same on every thread count (a unit's sums are one thread's), and within the bound
// of the GEMM path the training forward takes.
TEST(CpuEngineThreads, SmallBatchLstmInferenceMatchesReferenceOnEveryThreadCount) {
  Model m;
  m.input_size = 24;
  m.dtype = DType::f32;
  Layer bi = test::layer_of(CellKind::lstm, 64, 1.0);
  bi.bidirectional = true;
  m.layers = {bi, test::layer_of(CellKind::lstm, 48, 0.5)};
  const std::vector<std::int32_t> lengths[] = {{9}, {9, 4}, {0, 9, 5}, {3, 9, 0, 7}};
  // H = 192 on one thread reads W_h where it is (a slice over 512 KiB); on 4 threads each
  // slice is packed first (cpu/small_batch.cpp): the same sums in the same order either way.
  Model wide = m;
  wide.layers = {test::layer_of(CellKind::lstm, 192, 1.0)};
  {
    const test::Problem p = test::random_problem(wide, 5, 2, {5, 3}, 79);
    const test::Result ref = test::run(p, Engine::cpu_reference, false);
    const test::Result direct = test::run(p, Engine::cpu, false, threads_option(1));
    const test::Result packed = test::run(p, Engine::cpu, false, threads_option(4));
    EXPECT_LT(test::max_rel_error(direct.y, ref.y), 1e-5);
    EXPECT_EQ(direct.y, packed.y);
    EXPECT_EQ(direct.final_state, packed.final_state);
  }
  for (const std::vector<std::int32_t>& len : lengths) {
    const int B = static_cast<int>(len.size());
    SCOPED_TRACE("B = " + std::to_string(B));
    const test::Problem p = test::random_problem(m, 9, B, len, 80 + B);
    const test::Result ref = test::run(p, Engine::cpu_reference, true);
    test::Result first;
    for (int threads : {1, 2, 4}) {
      SCOPED_TRACE(std::to_string(threads) + " threads");
      const test::Result got = test::run(p, Engine::cpu, false, threads_option(threads));
      EXPECT_LT(test::max_rel_error(got.y, ref.y), 1e-5);
      EXPECT_LT(test::max_rel_error(got.final_state, ref.final_state), 1e-5);
      if (threads == 1) {
        first = got;
      } else {
        EXPECT_EQ(got.y, first.y) << "depends on the thread count";
        EXPECT_EQ(got.final_state, first.final_state) << "depends on the thread count";
      }
    }
    // Training's forward pass: the tiled path on AVX-512 machines, else the GEMM path.
    const test::Result train = test::run(p, Engine::cpu, true);
    EXPECT_LT(test::max_rel_error(first.y, train.y), 1e-5);
    EXPECT_NE(first.y, train.y) << "the same sums: did the small-batch path run at all?";
  }
}

// The tiled path (cpu/tiled_recurrence.h: float32 on AVX-512), whose threads either own runs of
// panels of W_h and meet at a spin barrier every step, or, with 16 or more sequences each, own
// sequences and never meet. Every cell it takes, two layers (bidirectional H = 40, which leaves a
// block of 8 units, then H = 64), on 1, 2 and 4 threads, mixed lengths (0 included):
// - B = 12 (panels on every thread count): inference and training's forward within float32's
//   bound of cpu_reference, bitwise the same on every thread count (a unit's sums are one
//   thread's, in one order); backward, which reads what the tiled forward saved, within the
//   bound too.
// - B = 40 (sequences on 2 threads, panels on 4): inference within the bound and bitwise the same
//   on every thread count, so the two ways of sharing give the same sums.
TEST(CpuEngineThreads, TiledRecurrenceMatchesReferenceOnEveryThreadCount) {
  if (!__builtin_cpu_supports("avx512f")) {
    GTEST_SKIP() << "no AVX-512F on this CPU: the tiled path does not run here";
  }
  std::vector<std::int32_t> wide(40);
  for (int b = 0; b < 40; ++b) wide[b] = (b * 7) % 10;  // 0 to 9
  const std::vector<std::int32_t> batches[] = {{9, 4, 0, 9, 5, 1, 9, 7, 3, 9, 2, 8}, wide};
  for (CellKind kind :
       {CellKind::lstm, CellKind::gru_reset_after, CellKind::rnn_tanh, CellKind::rnn_relu}) {
    for (const std::vector<std::int32_t>& len : batches) {
      const int B = static_cast<int>(len.size());
      const bool trains_tiled = B <= 16;
      SCOPED_TRACE(std::string(to_string(kind)) + ", B = " + std::to_string(B));
      Model m;
      m.input_size = 24;
      m.dtype = DType::f32;
      Layer bi = test::layer_of(kind, 40, 1.0);
      bi.bidirectional = true;
      m.layers = {bi, test::layer_of(kind, 64, 0.5)};
      for (const Layer& layer : m.layers) {
        ASSERT_TRUE(cpu::tiled_recurrence_applies(layer, B, false));
        ASSERT_EQ(cpu::tiled_recurrence_applies(layer, B, true), trains_tiled);
      }
      const test::Problem p = test::random_problem(m, 9, B, len, 90 + B + static_cast<int>(kind));
      const test::Result ref = test::run(p, Engine::cpu_reference, trains_tiled);
      test::Result first_inference, first_training;
      for (int threads : {1, 2, 4}) {
        SCOPED_TRACE(std::to_string(threads) + " threads");
        const test::Result inference = test::run(p, Engine::cpu, false, threads_option(threads));
        EXPECT_LT(test::max_rel_error(inference.y, ref.y), 1e-5);
        EXPECT_LT(test::max_rel_error(inference.final_state, ref.final_state), 1e-5);
        test::Result training;
        if (trains_tiled) {
          training = test::run(p, Engine::cpu, true, threads_option(threads));
          EXPECT_LT(test::compare_results(training, ref, true).worst(), 1e-5);
          EXPECT_EQ(inference.y, training.y) << "inference and training's forward differ";
        }
        if (threads == 1) {
          first_inference = inference;
          first_training = training;
        } else {
          EXPECT_EQ(inference.y, first_inference.y) << "depends on the thread count";
          EXPECT_EQ(inference.final_state, first_inference.final_state);
          EXPECT_EQ(training.y, first_training.y) << "depends on the thread count";
        }
      }
    }
  }
}

// Where the tiled path stays out: a GRU that resets before the matmul, and training past 16
// sequences; inference takes it at any batch.
TEST(CpuTiledRecurrence, TakesOnlyTheBatchesWhereItMeasuredFaster) {
  if (!__builtin_cpu_supports("avx512f")) {
    GTEST_SKIP() << "no AVX-512F on this CPU: the tiled path never applies here";
  }
  const Layer lstm = test::layer_of(CellKind::lstm, 128, 1.0);
  EXPECT_FALSE(cpu::tiled_recurrence_applies(test::layer_of(CellKind::gru_reset_before, 128, 1.0),
                                             8, false));
  EXPECT_TRUE(cpu::tiled_recurrence_applies(lstm, 16, true));
  EXPECT_FALSE(cpu::tiled_recurrence_applies(lstm, 17, true));
  EXPECT_TRUE(cpu::tiled_recurrence_applies(lstm, 4096, false));
  EXPECT_TRUE(cpu::tiled_recurrence_applies(lstm, 128, false));
  EXPECT_FALSE(cpu::tiled_recurrence_applies(lstm, 0, false));
}

}  // namespace
}  // namespace rnnx
