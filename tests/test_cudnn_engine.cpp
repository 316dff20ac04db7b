// Engine cudnn against cpu_reference (issue #5), for each of cuDNN's algorithms that accepts a
// model, and its refusals. GPU tests skip without a GPU and fail under RNNX_REQUIRE_GPU=1.
#include <gtest/gtest.h>

#include <string>

#include "support/gpu_support.h"

namespace rnnx {
namespace {

bool cudnn_expresses(const Model& m) {
  for (const Layer& layer : m.layers) {
    if (layer.cell == Cell::gru && layer.gru_reset == GruReset::before_matmul) return false;
  }
  return true;
}

struct CudnnCase {
  std::string name;
  test::MatrixCase matrix;
  CudnnAlgo algo;
};

void PrintTo(const CudnnCase& c, std::ostream* out) {
  *out << c.name;
}

std::vector<CudnnCase> cudnn_cases() {
  std::vector<CudnnCase> out;
  for (CudnnAlgo algo : {CudnnAlgo::standard, CudnnAlgo::persist_static, CudnnAlgo::persist_dynamic,
                         CudnnAlgo::persist_static_small_h}) {
    for (const test::MatrixCase& c : test::gradient_matrix()) {
      if (cudnn_expresses(c.model))
        out.push_back({std::string(to_string(algo)) + "/" + c.name, c, algo});
    }
  }
  return out;
}

// Runs the check if the algorithm accepts the model; an algorithm's refusal must be the
// documented kind (unsupported, naming cuDNN's algorithm), and then the case is skipped.
void check_with_algorithm(const test::Problem& p, CudnnAlgo algo, double bound) {
  Options o;
  o.cudnn_algo = algo;
  try {
    Rnn probe(p.model, Engine::cudnn, o);
  } catch (const Error& e) {
    ASSERT_EQ(e.status(), Status::unsupported) << e.what();
    GTEST_SKIP() << "cuDNN's " << to_string(algo) << " refuses this model: " << e.what();
  }
  try {
    test::expect_device_close(p, Engine::cudnn, bound, o);
  } catch (const Error& e) {
    ASSERT_EQ(e.status(), Status::unsupported) << e.what();
    GTEST_SKIP() << "cuDNN's " << to_string(algo) << " refuses this shape: " << e.what();
  }
}

class GpuCudnnMatrix : public ::testing::TestWithParam<CudnnCase> {};

TEST_P(GpuCudnnMatrix, Float64MatchesReference) {
  RNNX_GPU_TEST_OR_SKIP();
  const test::MatrixCase& c = GetParam().matrix;
  check_with_algorithm(test::random_problem(c.model, c.steps, c.batch, c.lengths, 101),
                       GetParam().algo, 1e-10);
}

TEST_P(GpuCudnnMatrix, Float32MatchesReference) {
  RNNX_GPU_TEST_OR_SKIP();
  test::MatrixCase c = GetParam().matrix;
  c.model.dtype = DType::f32;
  check_with_algorithm(test::random_problem(c.model, c.steps, c.batch, c.lengths, 102),
                       GetParam().algo, 1e-5);
}

TEST_P(GpuCudnnMatrix, BatchMajorWithoutInitialStates) {
  RNNX_GPU_TEST_OR_SKIP();
  test::MatrixCase c = GetParam().matrix;
  c.model.layout = Layout::batch_major;
  check_with_algorithm(
      test::random_problem(c.model, c.steps, c.batch, c.lengths, 103, false, false),
      GetParam().algo, 1e-10);
}

INSTANTIATE_TEST_SUITE_P(Matrix, GpuCudnnMatrix, ::testing::ValuesIn(cudnn_cases()),
                         test::ParamName());

class GpuCudnnSeedModels : public ::testing::TestWithParam<SeedModel> {};

// The notebook's networks at its sizes: the LSTM ones run; the GRU ones (TF's GRUCell resets
// before the matmul) are refused with the reason and the engines that can.
TEST_P(GpuCudnnSeedModels, AtTheSeedsSizes) {
  RNNX_GPU_TEST_OR_SKIP();
  const SeedModel& seed = GetParam();
  if (!cudnn_expresses(seed.model)) {
    try {
      Rnn rnn(seed.model, Engine::cudnn);
      ADD_FAILURE() << "cudnn accepted a GRU that resets before the matmul";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), Status::unsupported);
      EXPECT_NE(std::string(e.what()).find("gpu_dynamic"), std::string::npos) << e.what();
    }
    return;
  }
  std::vector<std::int32_t> lengths(128);
  for (int b = 0; b < 128; ++b) lengths[b] = (b * 3) % 29;
  test::expect_device_close(test::random_problem(seed.model, 28, 128, lengths, 104), Engine::cudnn,
                            1e-4);
  Model f64 = seed.model;
  f64.dtype = DType::f64;
  test::expect_device_close(test::random_problem(f64, 28, 128, lengths, 105), Engine::cudnn, 1e-10);
}

INSTANTIATE_TEST_SUITE_P(Notebook, GpuCudnnSeedModels, ::testing::ValuesIn(seed_models()),
                         [](const ::testing::TestParamInfo<SeedModel>& param_info) {
                           return param_info.param.function;
                         });

TEST(GpuCudnn, Refusals) {
  RNNX_GPU_TEST_OR_SKIP();
  auto refused = [](const Model& m, CudnnAlgo algo, const std::string& needle) {
    Options o;
    o.cudnn_algo = algo;
    try {
      Rnn rnn(m, Engine::cudnn, o);
      ADD_FAILURE() << "accepted; expected a refusal mentioning " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), Status::unsupported) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  refused(seed_model("gru"), CudnnAlgo::standard, "resets after the matmul");
  refused(seed_model("lstm", 28, 128, DType::f64), CudnnAlgo::persist_static, "no float64");
  refused(seed_model("lstm", 28, 193), CudnnAlgo::persist_static_small_h, "limit of 192");
}

// weights_unchanged skips the repacking only when it is true and the buffer is the same.
TEST(GpuCudnn, WeightsAreRepackedUnlessPromisedUnchanged) {
  RNNX_GPU_TEST_OR_SKIP();
  Model m = seed_model("multi_lstm", 5, 8, DType::f64);
  const test::Problem a = test::random_problem(m, 6, 3, {}, 106, false, false);
  test::Problem b = a;
  for (double& w : b.weights) w *= 0.5;
  const test::Result ra = test::run(a, Engine::cpu_reference, false);
  const test::Result rb = test::run(b, Engine::cpu_reference, false);

  Rnn rnn(m, Engine::cudnn);
  test::DeviceMemory x(a.x.size() * 8), w(a.weights.size() * 8), y(ra.y.size() * 8);
  ASSERT_EQ(cudaMemcpy(x.get(), a.x.data(), x.bytes(), cudaMemcpyHostToDevice), cudaSuccess);
  Forward f;
  f.steps = 6;
  f.batch = 3;
  f.x = ConstBuffer(x.get(), a.x.size(), DType::f64);
  f.weights = ConstBuffer(w.get(), a.weights.size(), DType::f64);
  f.y = Buffer(y.get(), ra.y.size(), DType::f64);
  auto run_with = [&](const std::vector<double>& weights, bool unchanged) {
    EXPECT_EQ(cudaMemcpy(w.get(), weights.data(), w.bytes(), cudaMemcpyHostToDevice), cudaSuccess);
    f.weights_unchanged = unchanged;
    rnn.forward(f);
    std::vector<double> out(ra.y.size());
    EXPECT_EQ(cudaMemcpy(out.data(), y.get(), y.bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    return out;
  };
  EXPECT_LT(test::max_rel_error(run_with(a.weights, false), ra.y), 1e-10);
  EXPECT_LT(test::max_rel_error(run_with(b.weights, false), rb.y), 1e-10);
  // A broken promise is visible: the old conversion is used.
  EXPECT_LT(test::max_rel_error(run_with(a.weights, true), rb.y), 1e-10);
  EXPECT_LT(test::max_rel_error(run_with(a.weights, false), ra.y), 1e-10);
}

// One plan across shapes, on a stream of its own, with the reserve size asked in between (the
// sizes are cuDNN's, computed per shape), and backward accumulating into dweights.
TEST(GpuCudnn, OnePlanManyShapes) {
  RNNX_GPU_TEST_OR_SKIP();
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  const Model m = seed_model("multi_bi_lstm", 5, 6, DType::f64);
  Rnn plan(m, Engine::cudnn);
  for (auto [T, B] : {std::pair<int, int>{5, 3}, {7, 2}, {5, 3}}) {
    std::vector<std::int32_t> lengths(B, T);
    lengths[0] = T - 1;
    const test::Problem p = test::random_problem(m, T, B, lengths, 107 + T);
    const test::Result ref = test::run(p, Engine::cpu_reference, true);
    EXPECT_GT(plan.reserve_bytes(T + 3, B + 1), plan.reserve_bytes(T, B));
    const test::Result got = test::run_on_device(plan, p, true, stream);
    EXPECT_LT(test::compare_results(got, ref, true).worst(), 1e-10) << "T=" << T << " B=" << B;
    const test::Result inference = test::run_on_device(plan, p, false, stream);
    EXPECT_LT(test::max_rel_error(inference.y, ref.y), 1e-10) << "T=" << T << " B=" << B;
  }
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}

// The option belongs to the cudnn engine; the others refuse it (this runs without a GPU).
TEST(CudnnOptions, OtherEnginesRefuseCudnnAlgorithms) {
  Options o;
  o.cudnn_algo = CudnnAlgo::persist_dynamic;
  try {
    Rnn rnn(seed_model("lstm"), Engine::cpu, o);
    ADD_FAILURE() << "cpu accepted Options.cudnn_algo";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::unsupported);
    EXPECT_NE(std::string(e.what()).find("Options.cudnn_algo = persist_dynamic"), std::string::npos)
        << e.what();
  }
  // `auto` treats it as a preference for cudnn, not a requirement.
  EXPECT_NO_THROW(Rnn(seed_model("lstm"), Engine::automatic, o));
}

}  // namespace
}  // namespace rnnx
