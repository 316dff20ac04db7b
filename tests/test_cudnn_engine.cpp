// Engine cudnn on a GPU against cpu_reference, for each of cuDNN's algorithms: how many matrix
// cases each runs and refuses, that a refusal writes nothing and leaves the plan usable, the seed's
// models, a stack of mixed RNN activations, weight repacking and plan reuse. What cuDNN's statuses
// and cell modes mean is checked on the CPU in test_cudnn_mapping.cpp. GPU tests skip without a
// GPU and fail under RNNX_REQUIRE_GPU=1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/gpu_support.h"

#include "gpu/cudnn_support.h"

namespace rnnx {
namespace {

// ---- GPU: each algorithm on the matrix --------------------------------------------------------

bool cudnn_expresses(const Model& m) {
  for (const Layer& layer : m.layers) {
    switch (cell_kind(layer)) {
      case CellKind::lstm:
      case CellKind::gru_reset_after:
      case CellKind::rnn_tanh:
      case CellKind::rnn_relu:
        break;
      case CellKind::gru_reset_before:
        return false;
    }
  }
  return true;
}

// The matrix's cases of the vanilla RNN: they must all be among what cudnn runs.
bool has_rnn(const Model& m) {
  return std::any_of(m.layers.begin(), m.layers.end(),
                     [](const Layer& layer) { return layer.cell == Cell::rnn; });
}

// rnnx refuses these at plan creation, as documented (include/rnnx/rnn.h, README).
bool without_float64(CudnnAlgo algo) {
  switch (algo) {
    case CudnnAlgo::standard:
    case CudnnAlgo::persist_dynamic:
      return false;
    case CudnnAlgo::persist_static:
    case CudnnAlgo::persist_static_small_h:
      return true;
  }
  return false;
}

struct AlgoParam {
  std::string name;
  CudnnAlgo algo;
};

void PrintTo(const AlgoParam& p, std::ostream* out) {
  *out << p.name;
}

std::vector<AlgoParam> algo_params() {
  std::vector<AlgoParam> out;
  for (CudnnAlgo algo : test::kCudnnAlgorithms) out.push_back({to_string(algo), algo});
  return out;
}

struct Variant {
  const char* name;
  DType dtype;
  Layout layout;
  bool with_init;  // and dfinal
  double bound;
  std::uint64_t seed;
};

void expect_close(const test::Result& inference, const test::Result& training,
                  const test::Result& ref, double bound) {
  const test::Errors fwd = test::compare_results(inference, ref, false);
  const test::Errors all = test::compare_results(training, ref, true);
  EXPECT_LT(fwd.y, bound) << "forward y";
  EXPECT_LT(fwd.final_state, bound) << "forward final_state";
  EXPECT_LT(all.y, bound) << "training y";
  EXPECT_LT(all.final_state, bound) << "training final_state";
  EXPECT_LT(all.dx, bound) << "dx";
  EXPECT_LT(all.dinit, bound) << "dinit";
  EXPECT_LT(all.dweights, bound) << "dweights";
}

// Runs every matrix case cuDNN expresses with the algorithm, one plan per model (its cases
// differ only in lengths): each runs and matches the reference, or is refused with
// Status::unsupported naming the algorithm. Prints how many ran and were refused, and where. It
// fails if standard refuses any case, or if another algorithm refuses every case: then it proves
// nothing about that algorithm.
void check_matrix(CudnnAlgo algo, const Variant& v) {
  Options o;
  o.cudnn.algo = algo;
  const std::vector<test::MatrixCase> cases = test::gradient_matrix(v.dtype, v.layout);
  if (v.dtype == DType::f64 && without_float64(algo)) {
    try {
      Rnn plan(cases.front().model, Engine::cudnn, o);
      FAIL() << to_string(algo) << " accepted a float64 model";
    } catch (const Error& e) {
      ASSERT_EQ(e.status(), Status::unsupported) << e.what();
      ASSERT_TRUE(test::contains(e.what(), "no float64")) << e.what();
    }
    GTEST_SKIP() << to_string(algo) << " has no float64, refused at plan creation as documented "
                 << "(GpuCudnn.Refusals); its float32 variant runs the matrix";
  }
  int ran = 0, refused = 0, rnn_ran = 0, rnn_cases = 0;
  std::ostringstream where;
  std::set<std::string> reasons;
  std::map<std::string, std::unique_ptr<Rnn>> plans;
  for (const test::MatrixCase& c : cases) {
    if (!cudnn_expresses(c.model)) continue;
    SCOPED_TRACE(c.name);
    rnn_cases += has_rnn(c.model) ? 1 : 0;
    const test::Problem p = test::random_problem(c.model, c.steps, c.batch, c.lengths, v.seed,
                                                 v.with_init, v.with_init);
    const test::Result ref = test::run(p, Engine::cpu_reference, true);
    const std::string model_key = c.name.substr(0, c.name.rfind('/'));
    const char* stage = "plan creation";
    try {
      std::unique_ptr<Rnn>& plan = plans[model_key];
      if (plan == nullptr) plan = std::make_unique<Rnn>(c.model, Engine::cudnn, o);
      stage = "inference";
      const test::Result inference = test::run_on_device(*plan, p, false);
      stage = "training";
      const test::Result training = test::run_on_device(*plan, p, true);
      expect_close(inference, training, ref, v.bound);
      ++ran;
      rnn_ran += has_rnn(c.model) ? 1 : 0;
    } catch (const Error& e) {
      if (e.status() != Status::unsupported) {
        ADD_FAILURE() << stage << ": " << e.what();
        continue;
      }
      EXPECT_TRUE(test::contains(e.what(), to_string(algo)))
          << "a refusal must name the algorithm: " << e.what();
      ++refused;
      where << "\n  " << c.name << ": refused at " << stage;
      reasons.insert(e.what());
    }
  }
  std::ostringstream report;
  report << "[cudnn " << to_string(algo) << ", " << v.name << "] matrix cases: " << ran << " ran, "
         << refused << " refused (vanilla RNN: " << rnn_ran << " of " << rnn_cases << " ran)"
         << where.str();
  for (const std::string& r : reasons) report << "\n  reason: " << r;
  std::cout << report.str() << std::endl;
  ::testing::Test::RecordProperty("matrix_cases_run", ran);
  ::testing::Test::RecordProperty("matrix_cases_refused", refused);
  EXPECT_GE(rnn_cases, 24) << "the matrix lost its vanilla RNN cases";
  if (algo == CudnnAlgo::standard) {
    EXPECT_EQ(refused, 0) << "standard must run every case cuDNN expresses\n" << report.str();
    EXPECT_EQ(rnn_ran, rnn_cases) << report.str();
  } else {
    EXPECT_GT(ran, 0) << to_string(algo)
                      << " refused every case, so this test proves nothing about it\n"
                      << report.str();
  }
}

class GpuCudnnMatrix : public ::testing::TestWithParam<AlgoParam> {};

TEST_P(GpuCudnnMatrix, Float64MatchesReference) {
  RNNX_GPU_TEST_OR_SKIP();
  check_matrix(GetParam().algo,
               {"float64, time-major", DType::f64, Layout::time_major, true, 1e-10, 101});
}

TEST_P(GpuCudnnMatrix, Float32MatchesReference) {
  RNNX_GPU_TEST_OR_SKIP();
  check_matrix(GetParam().algo,
               {"float32, time-major", DType::f32, Layout::time_major, true, 1e-5, 102});
}

TEST_P(GpuCudnnMatrix, BatchMajorWithoutInitialStates) {
  RNNX_GPU_TEST_OR_SKIP();
  check_matrix(GetParam().algo, {"float64, batch-major, no initial states", DType::f64,
                                 Layout::batch_major, false, 1e-10, 103});
}

INSTANTIATE_TEST_SUITE_P(Matrix, GpuCudnnMatrix, ::testing::ValuesIn(algo_params()),
                         test::ParamName());

// ---- GPU: a refusal writes nothing, and the plan goes on --------------------------------------

constexpr unsigned char kUntouched = 0xA5;

// float32 values on the device; outputs are filled with kUntouched bytes.
class DeviceFloats {
 public:
  explicit DeviceFloats(std::size_t n) : n_(n), memory_(std::max<std::size_t>(n, 1) * 4) {}
  explicit DeviceFloats(const std::vector<double>& values) : DeviceFloats(values.size()) {
    const std::vector<float> f(values.begin(), values.end());
    EXPECT_EQ(cudaMemcpy(memory_.get(), f.data(), n_ * 4, cudaMemcpyHostToDevice), cudaSuccess);
  }
  void mark() { EXPECT_EQ(cudaMemset(memory_.get(), kUntouched, memory_.bytes()), cudaSuccess); }
  std::vector<double> values() const {
    std::vector<float> f(n_);
    EXPECT_EQ(cudaMemcpy(f.data(), memory_.get(), n_ * 4, cudaMemcpyDeviceToHost), cudaSuccess);
    return std::vector<double>(f.begin(), f.end());
  }
  bool untouched() const {
    std::vector<unsigned char> bytes(memory_.bytes());
    EXPECT_EQ(cudaMemcpy(bytes.data(), memory_.get(), bytes.size(), cudaMemcpyDeviceToHost),
              cudaSuccess);
    for (unsigned char b : bytes) {
      if (b != kUntouched) return false;
    }
    return true;
  }
  ConstBuffer in() const {
    return n_ == 0 ? ConstBuffer() : ConstBuffer(memory_.get(), n_, DType::f32);
  }
  Buffer out() { return Buffer(memory_.get(), n_, DType::f32); }

 private:
  std::size_t n_;
  test::DeviceMemory memory_;
};

struct Passes {
  int ran = 0, refused = 0;
  std::vector<std::string> refusals;
};

// A refusal must be Status::unsupported naming the algorithm; anything else fails the test.
bool refusal(const Error& e, CudnnAlgo algo, const std::string& what, Passes* passes) {
  if (e.status() != Status::unsupported) {
    ADD_FAILURE() << what << ": " << e.what();
    return false;
  }
  EXPECT_TRUE(test::contains(e.what(), to_string(algo))) << e.what();
  ++passes->refused;
  passes->refusals.push_back(what + ": " + e.what());
  return true;
}

// Inference, then forward_train and backward, on a plan kept across calls (float32 model). What
// runs must match the reference; what is refused must leave its outputs as they were.
void run_passes(Rnn& plan, CudnnAlgo algo, const test::Problem& p, Passes* passes) {
  const test::Result ref = test::run(p, Engine::cpu_reference, true);
  const std::string shape = "T=" + std::to_string(p.steps) + " B=" + std::to_string(p.batch) +
                            (p.lengths.empty() ? " full lengths" : " lengths given");
  const std::size_t S = StateLayout(p.model, p.batch).size();
  DeviceFloats x(p.x), w(p.weights), init(p.init), dy(p.dy), dfinal(p.dfinal);
  DeviceFloats y(ref.y.size()), final_state(S), dx(p.x.size()), dinit(S), dw(p.weights.size());
  Forward f;
  f.steps = p.steps;
  f.batch = p.batch;
  f.x = x.in();
  f.lengths = p.lengths.empty() ? nullptr : p.lengths.data();
  f.weights = w.in();
  f.init = init.in();
  f.y = y.out();
  f.final_state = final_state.out();
  constexpr double kBound = 1e-5;

  y.mark();
  final_state.mark();
  try {
    plan.forward(f);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_LT(test::max_rel_error(y.values(), ref.y), kBound) << shape << " inference y";
    EXPECT_LT(test::max_rel_error(final_state.values(), ref.final_state), kBound)
        << shape << " inference final_state";
    ++passes->ran;
  } catch (const Error& e) {
    if (refusal(e, algo, shape + " inference", passes)) {
      EXPECT_TRUE(y.untouched()) << shape << ": a refused inference wrote y";
      EXPECT_TRUE(final_state.untouched()) << shape << ": a refused inference wrote final_state";
    }
  }

  for (DeviceFloats* out : {&y, &final_state, &dx, &dinit, &dw}) out->mark();
  const char* stage = "training reserve_bytes";
  try {
    test::DeviceMemory reserve(plan.reserve_bytes(p.steps, p.batch));
    stage = "forward_train";
    plan.forward_train(f, {reserve.get(), reserve.bytes()});
    stage = "backward";
    Backward b;
    b.dy = dy.in();
    b.dfinal = dfinal.in();
    b.dx = dx.out();
    b.dinit = dinit.out();
    b.dweights = dw.out();
    plan.backward(f, b, {reserve.get(), reserve.bytes()});
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_LT(test::max_rel_error(y.values(), ref.y), kBound) << shape << " training y";
    EXPECT_LT(test::max_rel_error(final_state.values(), ref.final_state), kBound)
        << shape << " training final_state";
    EXPECT_LT(test::max_rel_error(dx.values(), ref.dx), kBound) << shape << " dx";
    EXPECT_LT(test::max_rel_error(dinit.values(), ref.dinit), kBound) << shape << " dinit";
    EXPECT_LT(test::max_rel_error(dw.values(), ref.dweights), kBound) << shape << " dweights";
    ++passes->ran;
  } catch (const Error& e) {
    if (refusal(e, algo, shape + " " + stage, passes)) {
      const bool forward_ran = std::string(stage) == "backward";
      if (!forward_ran) {
        EXPECT_TRUE(y.untouched()) << shape << ": a refused " << stage << " wrote y";
        EXPECT_TRUE(final_state.untouched())
            << shape << ": a refused " << stage << " wrote final_state";
      }
      EXPECT_TRUE(dx.untouched()) << shape << ": a refused " << stage << " wrote dx";
      EXPECT_TRUE(dinit.untouched()) << shape << ": a refused " << stage << " wrote dinit";
      EXPECT_TRUE(dw.untouched()) << shape << ": a refused " << stage << " wrote dweights";
    }
  }
}

struct UsabilityCase {
  std::string name;
  CudnnAlgo algo;
  Model model;
};

void PrintTo(const UsabilityCase& c, std::ostream* out) {
  *out << c.name;
}

std::vector<UsabilityCase> usability_cases() {
  Model mix;  // two segments: a refusal could come after the first ran
  mix.input_size = 5;
  mix.dtype = DType::f32;
  Layer lstm;
  lstm.cell = Cell::lstm;
  lstm.hidden = 8;
  lstm.forget_bias = 1.0;
  Layer gru;
  gru.cell = Cell::gru;
  gru.hidden = 12;
  mix.layers = {lstm, gru};
  // Above persist_static_small_h's training limit (128) and within its inference one (192).
  Model wide = mix;
  lstm.hidden = 160;
  wide.layers = {lstm};
  std::vector<UsabilityCase> out;
  for (CudnnAlgo algo : test::kCudnnAlgorithms) {
    out.push_back({std::string(to_string(algo)) + "_lstm8_gru12", algo, mix});
    out.push_back({std::string(to_string(algo)) + "_lstm160", algo, wide});
  }
  return out;
}

class GpuCudnnAlgorithm : public ::testing::TestWithParam<UsabilityCase> {};

// One plan through shapes and lengths that the persistent algorithms may refuse (lengths that
// differ, the wider model's training) and ones they should take, in an order that puts accepted
// calls after refused ones. standard must run every pass; another algorithm must run at least
// one, and whatever it refuses must leave the call's outputs untouched.
TEST_P(GpuCudnnAlgorithm, RefusalsWriteNothingAndThePlanGoesOn) {
  RNNX_GPU_TEST_OR_SKIP();
  const UsabilityCase& c = GetParam();
  Options o;
  o.cudnn.algo = c.algo;
  Rnn plan(c.model, Engine::cudnn, o);
  struct Shape {
    int steps, batch;
    std::vector<std::int32_t> lengths;
  };
  const Shape shapes[] = {{5, 3, {5, 2, 0}}, {5, 3, {}}, {7, 2, {}}, {7, 2, {3, 7}}, {5, 3, {}}};
  Passes passes;
  std::uint64_t seed = 110;
  for (const Shape& s : shapes) {
    run_passes(plan, c.algo, test::random_problem(c.model, s.steps, s.batch, s.lengths, ++seed),
               &passes);
  }
  std::ostringstream report;
  report << "[cudnn " << c.name << "] passes: " << passes.ran << " ran, " << passes.refused
         << " refused";
  for (const std::string& r : passes.refusals) report << "\n  " << r;
  std::cout << report.str() << std::endl;
  if (c.algo == CudnnAlgo::standard) {
    EXPECT_EQ(passes.refused, 0) << report.str();
  } else {
    EXPECT_GT(passes.ran, 0) << "every pass refused: this proves nothing\n" << report.str();
  }
}

INSTANTIATE_TEST_SUITE_P(Algorithms, GpuCudnnAlgorithm, ::testing::ValuesIn(usability_cases()),
                         test::ParamName());

// ---- GPU: the seed's models, documented refusals, plan reuse ----------------------------------

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
    o.cudnn.algo = algo;
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
  refused(seed_model("lstm", 28, 128, DType::f64), CudnnAlgo::persist_static_small_h, "no float64");
  refused(seed_model("lstm", 28, 193), CudnnAlgo::persist_static_small_h, "limit of 192");
}

// Layers of equal hidden size and direction but different activations are different cuDNN RNNs:
// tanh, tanh, relu, tanh runs as three segments (the first two grouped). Inputs in (-3, 3) make
// relu's zeros and values past 1 common, so a relu run as tanh (or the reverse) is far off.
test::Problem activation_stack(DType dtype, Layout layout) {
  Model m;
  m.input_size = 5;
  m.dtype = dtype;
  m.layout = layout;
  Layer tanh;
  tanh.cell = Cell::rnn;
  tanh.activation = Activation::tanh;
  tanh.hidden = 7;
  tanh.bidirectional = true;
  Layer relu = tanh;
  relu.activation = Activation::relu;
  m.layers = {tanh, tanh, relu, tanh};
  test::Problem p = test::random_problem(m, 6, 4, {6, 0, 2, 5}, 108);
  for (double& v : p.x) v *= 3;
  return p;
}

// The stack with its relu read as tanh computes something else: the GPU test below can tell.
TEST(CudnnCells, ActivationStackTellsReluFromTanh) {
  const test::Problem p = activation_stack(DType::f64, Layout::time_major);
  test::Problem all_tanh = p;
  all_tanh.model.layers[2].activation = Activation::tanh;
  EXPECT_GT(test::max_rel_error(test::run(p, Engine::cpu_reference, false).y,
                                test::run(all_tanh, Engine::cpu_reference, false).y),
            1e-2);
}

TEST(GpuCudnn, ActivationsSplitSegments) {
  RNNX_GPU_TEST_OR_SKIP();
  for (Layout layout : {Layout::time_major, Layout::batch_major}) {
    SCOPED_TRACE(to_string(layout));
    test::expect_device_close(activation_stack(DType::f64, layout), Engine::cudnn, 1e-10);
    test::expect_device_close(activation_stack(DType::f32, layout), Engine::cudnn, 1e-5);
  }
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
  o.cudnn.algo = CudnnAlgo::persist_dynamic;
  try {
    Rnn rnn(seed_model("lstm"), Engine::cpu, o);
    ADD_FAILURE() << "cpu accepted Options.cudnn.algo";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::unsupported);
    EXPECT_NE(std::string(e.what()).find("Options.cudnn.algo = persist_dynamic"), std::string::npos)
        << e.what();
  }
  // `auto` treats it as a preference for cudnn, not a requirement.
  EXPECT_NO_THROW(Rnn(seed_model("lstm"), Engine::automatic, o));
}

}  // namespace
}  // namespace rnnx
