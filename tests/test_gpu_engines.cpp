// gpu_dynamic and gpu_static: TF32, the seed's networks, edge shapes, streams, threads and graph
// capture, against cpu_reference (the gradient matrix itself is tests/test_conformance.cpp).
// Every test skips without a GPU and fails instead under RNNX_REQUIRE_GPU=1.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gpu/plan_support.h"
#include "support/gpu_support.h"

namespace rnnx {
namespace {

// The gradient matrix, each engine one test that loops over it (a test is a process with its own
// CUDA context on the device, which costs seconds), each failure naming its model.
class GpuMatrix : public ::testing::TestWithParam<Engine> {};

// Whether a model has a relu layer: relu' jumps from 0 to 1 at 0, so an error e in a
// pre-activation within e of 0 flips that unit's gradient by all of dh.
bool has_relu(const Model& m) {
  for (const Layer& layer : m.layers) {
    switch (cell_kind(layer)) {
      case CellKind::rnn_relu:
        return true;
      case CellKind::lstm:
      case CellKind::gru_reset_after:
      case CellKind::gru_reset_before:
      case CellKind::rnn_tanh:
        break;
    }
  }
  return false;
}

TEST_P(GpuMatrix, BatchMajorTf32) {
  RNNX_GPU_TEST_OR_SKIP();
  Options o;
  o.allow_tf32 = true;
  for (const test::MatrixCase& c : test::gradient_matrix(DType::f32, Layout::batch_major)) {
    SCOPED_TRACE(c.name);
    const test::Problem p = test::random_problem(c.model, c.steps, c.batch, c.lengths, 73);
    if (!has_relu(c.model)) {
      test::expect_device_close(p, GetParam(), 3e-3, o);
      continue;
    }
    // TF32's error in a pre-activation (~1e-4 here) can put a relu unit-step near 0 on the other
    // side of it, a jump of dh in its gradient that no bound can take: the forward pass here, the
    // gradients in float32 (tests/test_conformance.cpp), where the error is ~1e-7.
    const test::Result ref = test::run(p, Engine::cpu_reference, false);
    const test::Result got = test::run_on_device(p, GetParam(), false, o);
    EXPECT_LT(test::max_rel_error(got.y, ref.y), 3e-3) << "y";
    EXPECT_LT(test::max_rel_error(got.final_state, ref.final_state), 3e-3) << "final_state";
  }
}

INSTANTIATE_TEST_SUITE_P(Matrix, GpuMatrix,
                         ::testing::Values(Engine::gpu_dynamic, Engine::gpu_static),
                         [](const ::testing::TestParamInfo<Engine>& e) {
                           return std::string(to_string(e.param));
                         });

class GpuSeedModels : public ::testing::TestWithParam<SeedModel> {};

TEST_P(GpuSeedModels, MatchReferenceAtTheSeedsSizes) {
  RNNX_GPU_TEST_OR_SKIP();
  Model m = GetParam().model;
  std::vector<std::int32_t> lengths(128);
  for (int b = 0; b < 128; ++b) lengths[b] = (b * 5) % 29;
  const Engine engine = GetParam().static_unroll ? Engine::gpu_static : Engine::gpu_dynamic;
  test::expect_device_close(test::random_problem(m, 28, 128, lengths, 74), engine,
                            1e-4);  // float32
  m.dtype = DType::f64;
  test::expect_device_close(test::random_problem(m, 28, 128, lengths, 75), engine, 1e-10);
}

INSTANTIATE_TEST_SUITE_P(Notebook, GpuSeedModels, ::testing::ValuesIn(seed_models()),
                         [](const ::testing::TestParamInfo<SeedModel>& param_info) {
                           return param_info.param.function;
                         });

Model small(CellKind kind, int hidden, bool bi, DType dtype = DType::f64) {
  Model m;
  m.input_size = 5;
  m.dtype = dtype;
  Layer layer = test::layer_of(kind, hidden);
  layer.bidirectional = bi;
  m.layers.push_back(layer);
  layer.hidden = hidden + 14;  // 47 for 33: not multiples of 32
  m.layers.push_back(layer);
  return m;
}

TEST(GpuEngines, EdgeShapes) {
  RNNX_GPU_TEST_OR_SKIP();
  for (Engine engine : {Engine::gpu_dynamic, Engine::gpu_static}) {
    for (CellKind kind : test::kCellKinds) {
      SCOPED_TRACE(std::string(to_string(engine)) + " " + to_string(kind));
      const Model m = small(kind, 33, true);
      ASSERT_EQ(cell_kind(m.layers[0]), kind);
      test::expect_device_close(test::random_problem(m, 1, 1, {}, 76), engine,
                                1e-10);  // T=1, B=1
      test::expect_device_close(test::random_problem(m, 6, 4, {0, 0, 0, 0}, 77), engine,
                                1e-10);  // all 0
      test::expect_device_close(test::random_problem(m, 9, 3, {9, 4, 0}, 78), engine, 1e-10);
    }
  }
}

// The RNN's kernels at a batch of many blocks' rows and a hidden size of several thread blocks
// (128 threads a block), in float32 as users run it.
TEST(GpuEngines, RnnAtSeedSize) {
  RNNX_GPU_TEST_OR_SKIP();
  std::vector<std::int32_t> lengths(128);
  for (int b = 0; b < 128; ++b) lengths[b] = (b * 5) % 29;
  for (Engine engine : {Engine::gpu_dynamic, Engine::gpu_static}) {
    for (CellKind kind : {CellKind::rnn_tanh, CellKind::rnn_relu}) {
      SCOPED_TRACE(std::string(to_string(engine)) + " " + to_string(kind));
      Model m = small(kind, 300, true);
      m.input_size = 28;
      test::expect_device_close(test::random_problem(m, 28, 128, lengths, 84), engine, 1e-10);
    }
  }
}

TEST(GpuEngines, TwoThousandSteps) {
  RNNX_GPU_TEST_OR_SKIP();
  for (Engine engine : {Engine::gpu_dynamic, Engine::gpu_static}) {
    const Model m = seed_model("mix", 16, 32, DType::f32);
    const double e = test::expect_device_close(
        test::random_problem(m, 2000, 4, {2000, 1500, 7, 0}, 79), engine, 1e-4);
    std::printf("%s: float32, T=2000: max relative error %.3e\n", to_string(engine), e);
  }
}

TEST(GpuEngines, NonDefaultStream) {
  RNNX_GPU_TEST_OR_SKIP();
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  const test::MatrixCase c = test::gradient_matrix()[15];
  for (Engine engine : {Engine::gpu_dynamic, Engine::gpu_static}) {
    test::expect_device_close(test::random_problem(c.model, c.steps, c.batch, c.lengths, 80),
                              engine, 1e-10, {}, stream);
  }
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}

TEST(GpuEngines, TwoPlansFromTwoThreads) {
  RNNX_GPU_TEST_OR_SKIP();
  const test::MatrixCase a = test::gradient_matrix()[7], b = test::gradient_matrix()[29];
  const test::Problem pa = test::random_problem(a.model, a.steps, a.batch, a.lengths, 81);
  const test::Problem pb = test::random_problem(b.model, b.steps, b.batch, b.lengths, 82);
  const test::Result ra = test::run(pa, Engine::cpu_reference, true);
  const test::Result rb = test::run(pb, Engine::cpu_reference, true);
  // Each thread on a non-blocking stream of its own, synchronizing only that stream, as README's
  // "Threads and graph capture" advises. The plans' own allocations are kept apart from captures
  // inside rnnx.
  test::Result ga, gb;
  std::string failure_a, failure_b;  // an exception must not escape a thread (terminate)
  auto on_own_stream = [](const test::Problem& p, Engine engine, test::Result& result,
                          std::string& failure) {
    cudaStream_t stream = nullptr;
    try {
      if (cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) != cudaSuccess) {
        throw std::runtime_error("cudaStreamCreateWithFlags failed");
      }
      result = test::run_on_device(p, engine, true, {}, stream);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (stream != nullptr && cudaStreamDestroy(stream) != cudaSuccess && failure.empty()) {
      failure = "cudaStreamDestroy failed";
    }
  };
  std::thread ta([&] { on_own_stream(pa, Engine::gpu_dynamic, ga, failure_a); });
  std::thread tb([&] { on_own_stream(pb, Engine::gpu_static, gb, failure_b); });
  ta.join();
  tb.join();
  ASSERT_EQ(failure_a, "");
  ASSERT_EQ(failure_b, "");
  EXPECT_LT(test::compare_results(ga, ra, true).worst(), 1e-10);
  EXPECT_LT(test::compare_results(gb, rb, true).worst(), 1e-10);
}

// Several gpu_static plans capturing on several threads at once while other threads create,
// grow and destroy plans (cudaMalloc, cudaFree, handle creation). Whether such calls could break
// a thread-local capture is what CUDA leaves undocumented; with rnnx's gate (gpu/capture_gate.h)
// and its one retry, every capture must succeed and every result be right. A stress test: it
// shows the combination works, not that the gate is needed.
TEST(GpuEngines, CapturesBesidePlansCreatedAndDestroyed) {
  RNNX_GPU_TEST_OR_SKIP();
  const test::MatrixCase c = test::gradient_matrix()[29];
  constexpr int kThreads = 4, kRounds = 3;
  std::vector<test::Problem> problems;
  std::vector<test::Result> references;
  for (int k = 0; k < kThreads; ++k) {
    problems.push_back(test::random_problem(c.model, c.steps, c.batch, c.lengths, 160 + k));
    references.push_back(test::run(problems.back(), Engine::cpu_reference, true));
  }
  std::vector<std::string> failures(kThreads);
  std::vector<double> errors(kThreads, 0.0);
  std::vector<std::thread> threads;
  for (int k = 0; k < kThreads; ++k) {
    threads.emplace_back([&, k] {
      cudaStream_t stream = nullptr;
      try {
        if (cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) != cudaSuccess) {
          throw std::runtime_error("cudaStreamCreateWithFlags failed");
        }
        // Even threads capture (a new gpu_static plan each round: every call captures), odd ones
        // create and destroy gpu_dynamic plans, which allocate and free.
        const Engine engine = k % 2 == 0 ? Engine::gpu_static : Engine::gpu_dynamic;
        for (int round = 0; round < kRounds; ++round) {
          const test::Result got = test::run_on_device(problems[k], engine, true, {}, stream);
          errors[k] = std::max(errors[k], test::compare_results(got, references[k], true).worst());
        }
      } catch (const std::exception& e) {
        failures[k] = e.what();
      }
      if (stream != nullptr) cudaStreamDestroy(stream);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int k = 0; k < kThreads; ++k) {
    EXPECT_EQ(failures[k], "") << "thread " << k;
    EXPECT_LT(errors[k], 1e-10) << "thread " << k;
  }
}

// A capture invalidated after it began is captured again, once, and the call's results are those
// of a clean capture; a second invalidation is an Error naming what to keep away.
TEST(GpuEngines, InvalidatedCaptureIsRetriedOnce) {
  RNNX_GPU_TEST_OR_SKIP();
  const test::MatrixCase c = test::gradient_matrix()[29];
  const test::Problem p = test::random_problem(c.model, c.steps, c.batch, c.lengths, 170);
  const test::Result ref = test::run(p, Engine::cpu_reference, true);
  // Querying a capturing stream is illegal and invalidates its capture (CUDA programming guide,
  // "Prohibited and unhandled operations").
  static std::atomic<int> invalidations{0};
  auto invalidate = [](cudaStream_t s) {
    if (invalidations.load() > 0) {
      --invalidations;
      (void)cudaStreamQuery(s);
    }
  };
  struct HookReset {
    ~HookReset() { gpu::testing::after_begin_capture = nullptr; }
  } reset;
  gpu::testing::after_begin_capture = +invalidate;

  invalidations = 1;  // the first attempt of the first capture only
  Rnn plan(p.model, Engine::gpu_static);
  const test::Result once = test::run_on_device(plan, p, false, nullptr);
  EXPECT_EQ(invalidations.load(), 0);
  EXPECT_EQ(plan.stats().graph.capture_retries, 1);
  EXPECT_LT(test::max_rel_error(once.y, ref.y), 1e-10);
  EXPECT_LT(test::max_rel_error(once.final_state, ref.final_state), 1e-10);

  invalidations = 2;  // both attempts of the training graph's capture
  try {
    test::run_on_device(plan, p, true, nullptr);
    ADD_FAILURE() << "a capture invalidated twice was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::backend_error);
    EXPECT_NE(std::string(e.what()).find("invalidated twice"), std::string::npos) << e.what();
  }
  EXPECT_EQ(invalidations.load(), 0);
  EXPECT_EQ(plan.stats().graph.capture_retries, 2);
  // The plan is still usable: the next capture succeeds and is right.
  const test::Result after = test::run_on_device(plan, p, true, nullptr);
  EXPECT_LT(test::compare_results(after, ref, true).worst(), 1e-10);
}

// One gpu_static plan replayed with new inputs, weights and lengths matches gpu_dynamic.
TEST(GpuEngines, StaticReplaysMatchDynamic) {
  RNNX_GPU_TEST_OR_SKIP();
  const Model m = seed_model("multi_bi_lstm", 7, 24, DType::f64);
  constexpr int T = 12, B = 6;
  Rnn plan(m, Engine::gpu_static);
  plan.prepare(T, B);
  const PlanStats built = plan.stats();
  EXPECT_EQ(built.graph.graphs, 1);
  EXPECT_GT(built.graph.nodes, std::size_t(T));
  EXPECT_GT(built.graph.build_ms, 0.0);
  EXPECT_GE(built.workspace_bytes, plan.workspace_bytes(T, B));
  for (int round = 0; round < 3; ++round) {
    std::vector<std::int32_t> lengths = {T, round, T - round, 3, 0, 7};
    // No init: the direct call below passes none either.
    const test::Problem p = test::random_problem(m, T, B, lengths, 90 + round, false, false);
    const test::Result dynamic = test::run_on_device(p, Engine::gpu_dynamic, false);
    // The same plan each round: run_on_device builds its own, so call this one directly.
    test::DeviceMemory x(p.x.size() * 8), w(p.weights.size() * 8), y(dynamic.y.size() * 8);
    ASSERT_EQ(cudaMemcpy(x.get(), p.x.data(), x.bytes(), cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(w.get(), p.weights.data(), w.bytes(), cudaMemcpyHostToDevice),
              cudaSuccess);
    Forward f;
    f.steps = T;
    f.batch = B;
    f.x = ConstBuffer(x.get(), p.x.size(), DType::f64);
    f.weights = ConstBuffer(w.get(), p.weights.size(), DType::f64);
    f.lengths = lengths.data();
    f.y = Buffer(y.get(), dynamic.y.size(), DType::f64);
    plan.forward(f);
    std::vector<double> got(dynamic.y.size());
    ASSERT_EQ(cudaMemcpy(got.data(), y.get(), y.bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_LT(test::max_rel_error(got, dynamic.y), 1e-12) << "round " << round;
  }
  EXPECT_EQ(plan.stats().graph.graphs, 1) << "replays must not capture again";
}

// gpu_static copies the weights into its graph's own buffer unless Forward::weights_unchanged
// promises the same buffer with the same values, the buffer is the one copied last, and the
// graph's pieces have not moved (a new shape moves them).
TEST(GpuEngines, StaticWeightsCopiedUnlessPromisedUnchanged) {
  RNNX_GPU_TEST_OR_SKIP();
  const Model m = seed_model("multi_lstm", 5, 8, DType::f64);
  const test::Problem a = test::random_problem(m, 6, 3, {}, 206, false, false);
  test::Problem b = a;
  for (double& w : b.weights) w *= 0.5;
  test::Problem b7 = test::random_problem(m, 7, 3, {}, 207, false, false);
  b7.weights = b.weights;
  const test::Result ra = test::run(a, Engine::cpu_reference, false);
  const test::Result rb = test::run(b, Engine::cpu_reference, false);
  const test::Result rb7 = test::run(b7, Engine::cpu_reference, false);

  Rnn plan(m, Engine::gpu_static);
  test::DeviceMemory x(b7.x.size() * 8), w(a.weights.size() * 8), w2(a.weights.size() * 8),
      y(rb7.y.size() * 8);
  Forward f;
  f.batch = 3;
  auto run_with = [&](const test::Problem& p, const std::vector<double>& weights, bool unchanged,
                      void* weight_buffer) {
    EXPECT_EQ(cudaMemcpy(x.get(), p.x.data(), p.x.size() * 8, cudaMemcpyHostToDevice), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(weight_buffer, weights.data(), w.bytes(), cudaMemcpyHostToDevice),
              cudaSuccess);
    f.steps = p.steps;
    f.x = ConstBuffer(x.get(), p.x.size(), DType::f64);
    f.weights = ConstBuffer(weight_buffer, weights.size(), DType::f64);
    const std::size_t ny = std::size_t(p.steps) * 3 * output_size(m);
    f.y = Buffer(y.get(), ny, DType::f64);
    f.weights_unchanged = unchanged;
    plan.forward(f);
    std::vector<double> out(ny);
    EXPECT_EQ(cudaMemcpy(out.data(), y.get(), ny * 8, cudaMemcpyDeviceToHost), cudaSuccess);
    return out;
  };
  EXPECT_LT(test::max_rel_error(run_with(a, a.weights, false, w.get()), ra.y), 1e-12);
  EXPECT_LT(test::max_rel_error(run_with(a, b.weights, false, w.get()), rb.y), 1e-12);
  // A broken promise is visible: the replay reads the weights copied by the previous call.
  EXPECT_LT(test::max_rel_error(run_with(a, a.weights, true, w.get()), rb.y), 1e-12);
  // Another buffer is copied, whatever the promise.
  EXPECT_LT(test::max_rel_error(run_with(a, a.weights, true, w2.get()), ra.y), 1e-12);
  // Another shape moves the graph's weight buffer: copied again, whatever the promise.
  EXPECT_LT(test::max_rel_error(run_with(b7, b.weights, true, w2.get()), rb7.y), 1e-12);
  // A kept promise skips the copy and is right.
  EXPECT_LT(test::max_rel_error(run_with(b7, b.weights, true, w2.get()), rb7.y), 1e-12);
}

// No init and no dfinal: zero states in, no final-state gradient.
TEST(GpuEngines, NoInitialStateNorFinalGradient) {
  RNNX_GPU_TEST_OR_SKIP();
  for (Engine engine : {Engine::gpu_dynamic, Engine::gpu_static}) {
    for (const test::MatrixCase& c : test::gradient_matrix()) {
      SCOPED_TRACE(std::string(to_string(engine)) + " " + c.name);
      test::expect_device_close(
          test::random_problem(c.model, c.steps, c.batch, c.lengths, 83, false, false), engine,
          1e-10);
    }
  }
}

// accumulate = true adds into dweights (a second backward doubles the gradient).
TEST(GpuEngines, AccumulateAddsToDweights) {
  RNNX_GPU_TEST_OR_SKIP();
  const test::MatrixCase c = test::gradient_matrix()[17];
  const test::Problem p = test::random_problem(c.model, c.steps, c.batch, c.lengths, 84);
  for (Engine engine : {Engine::gpu_dynamic, Engine::gpu_static}) {
    Rnn rnn(p.model, engine);
    const std::size_t n = p.weights.size(), bytes = n * sizeof(double);
    test::DeviceMemory x(p.x.size() * 8), w(bytes), dy(p.dy.size() * 8), dw(bytes),
        y(p.dy.size() * 8), reserve(rnn.reserve_bytes(p.steps, p.batch));
    ASSERT_EQ(cudaMemcpy(x.get(), p.x.data(), x.bytes(), cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(w.get(), p.weights.data(), bytes, cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(dy.get(), p.dy.data(), dy.bytes(), cudaMemcpyHostToDevice), cudaSuccess);
    ASSERT_EQ(cudaMemset(dw.get(), 0, bytes), cudaSuccess);
    Forward f;
    f.steps = p.steps;
    f.batch = p.batch;
    f.x = ConstBuffer(x.get(), p.x.size(), DType::f64);
    f.weights = ConstBuffer(w.get(), n, DType::f64);
    f.lengths = c.lengths.empty() ? nullptr : c.lengths.data();
    f.y = Buffer(y.get(), p.dy.size(), DType::f64);
    Backward b;
    b.dy = ConstBuffer(dy.get(), p.dy.size(), DType::f64);
    b.dweights = Buffer(dw.get(), n, DType::f64);
    b.accumulate = true;
    // init and dfinal as in the problem are left out: compare with a run that has none.
    test::Problem bare = p;
    bare.init.clear();
    bare.dfinal.clear();
    const test::Result expected = test::run_on_device(bare, engine, true);
    for (int k = 0; k < 2; ++k) {
      rnn.forward_train(f, {reserve.get(), reserve.bytes()});
      rnn.backward(f, b, {reserve.get(), reserve.bytes()});
    }
    std::vector<double> got(n);
    ASSERT_EQ(cudaMemcpy(got.data(), dw.get(), bytes, cudaMemcpyDeviceToHost), cudaSuccess);
    std::vector<double> twice(expected.dweights);
    for (double& g : twice) g *= 2;
    EXPECT_LT(test::max_rel_error(got, twice), 1e-12) << to_string(engine);
  }
}

TEST(GpuEngines, HostPointersAreRefused) {
  RNNX_GPU_TEST_OR_SKIP();
  const Model m = seed_model("gru", 4, 8, DType::f32);
  Rnn rnn(m, Engine::gpu_dynamic);
  std::vector<float> x(2 * 3 * 4), w(WeightLayout(m).size()), y(2 * 3 * 8);
  Forward f;
  f.steps = 2;
  f.batch = 3;
  f.x = x;
  f.weights = w;
  f.y = y;
  try {
    rnn.forward(f);
    ADD_FAILURE() << "host memory accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("Forward.x: host memory"), std::string::npos) << e.what();
  }
  // Lengths are the other way round: host memory always (they schedule the steps).
  test::DeviceMemory dx(x.size() * 4), dw(w.size() * 4), dy(y.size() * 4), dlen(3 * 4);
  f.x = ConstBuffer(dx.get(), x.size(), DType::f32);
  f.weights = ConstBuffer(dw.get(), w.size(), DType::f32);
  f.y = Buffer(dy.get(), y.size(), DType::f32);
  f.lengths = static_cast<const std::int32_t*>(dlen.get());
  try {
    rnn.forward(f);
    ADD_FAILURE() << "device lengths accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Forward.lengths: device memory"), std::string::npos)
        << e.what();
  }
}

TEST(GpuEngines, RefusedOptions) {
  RNNX_GPU_TEST_OR_SKIP();
  Options o;
  o.cpu.threads = 2;
  EXPECT_THROW(Rnn(seed_model("gru"), Engine::gpu_dynamic, o), Error);
  o.cpu.threads = 0;
  o.allow_tf32 = true;
  EXPECT_THROW(Rnn(seed_model("gru", 28, 128, DType::f64), Engine::gpu_static, o), Error);
}

}  // namespace
}  // namespace rnnx
