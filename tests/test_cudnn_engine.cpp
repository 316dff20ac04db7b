// Engine cudnn against cpu_reference, for each of cuDNN's algorithms, and its
// refusals: which cuDNN statuses are refusals (on the CPU), and on a GPU how many
// matrix cases each algorithm runs and refuses, that a refusal writes nothing and leaves the plan
// usable. The vanilla RNN runs as CUDNN_RNN_TANH / CUDNN_RNN_RELU: its mapping is
// checked on the CPU, its results on a GPU through the matrix and a stack of mixed activations. GPU
// tests skip without a GPU and fail under RNNX_REQUIRE_GPU=1.
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

constexpr CudnnAlgo kAlgorithms[] = {CudnnAlgo::standard, CudnnAlgo::persist_static,
                                     CudnnAlgo::persist_dynamic, CudnnAlgo::persist_static_small_h};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// ---- CPU: what each cuDNN status means --------------------------------------------------------

using gpu::classify;
using gpu::CudnnCall;
using gpu::CudnnFailure;

constexpr CudnnAlgo kPersistent[] = {CudnnAlgo::persist_static, CudnnAlgo::persist_dynamic,
                                     CudnnAlgo::persist_static_small_h};

constexpr CudnnFailure X = CudnnFailure::error;
constexpr CudnnFailure R = CudnnFailure::refusal;
constexpr CudnnFailure E = CudnnFailure::environment;

// One status and what it must mean from each kind of call, for standard and for every
// persistent algorithm. Written out by hand from the rules in gpu/cudnn_support.h, not computed.
struct StatusRow {
  int code;
  const char* name;
  CudnnFailure plumbing, standard_configure, standard_execute, persist_configure, persist_execute;
};

// Every cudnnStatus_t of cuDNN 9's cudnn_graph.h but SUCCESS (deprecated names by their values),
// and codes a later cuDNN might add to each category.
const StatusRow kStatusTable[] = {
    {1001, "NOT_INITIALIZED", X, X, X, X, X},
    {1002, "SUBLIBRARY_VERSION_MISMATCH", X, X, X, X, X},
    {1003, "SERIALIZATION_VERSION_MISMATCH", X, X, X, X, X},
    {1004, "DEPRECATED", X, X, X, X, X},
    {1005, "LICENSE_ERROR", X, X, X, X, X},
    {1006, "RUNTIME_IN_PROGRESS", X, X, X, X, X},
    {1007, "RUNTIME_FP_OVERFLOW", X, X, X, X, X},
    {1008, "SUBLIBRARY_LOADING_FAILED", X, X, X, X, X},
    {2000, "BAD_PARAM", X, X, X, R, R},
    {2001, "INVALID_VALUE (deprecated)", X, X, X, R, R},
    {2002, "BAD_PARAM_NULL_POINTER", X, X, X, X, X},
    {2003, "BAD_PARAM_MISALIGNED_POINTER", X, X, X, X, X},
    {2004, "BAD_PARAM_NOT_FINALIZED", X, X, X, X, X},
    {2005, "BAD_PARAM_OUT_OF_BOUND", X, X, X, R, R},
    {2006, "BAD_PARAM_SIZE_INSUFFICIENT", X, X, X, X, X},
    {2007, "BAD_PARAM_STREAM_MISMATCH", X, X, X, X, X},
    {2008, "BAD_PARAM_SHAPE_MISMATCH", X, X, X, X, X},
    {2009, "BAD_PARAM_DUPLICATED_ENTRIES", X, X, X, X, X},
    {2010, "BAD_PARAM_ATTRIBUTE_TYPE", X, X, X, X, X},
    {2011, "BAD_PARAM_CUDA_GRAPH_MISMATCH", X, X, X, X, X},
    {2012, "BAD_PARAM_DESCRIPTOR_TYPE", X, X, X, X, X},
    {2099, "a later BAD_PARAM sub-code", X, X, X, X, X},
    {3000, "NOT_SUPPORTED", X, R, X, R, R},
    {3001, "NOT_SUPPORTED_GRAPH_PATTERN", X, R, X, R, R},
    {3002, "NOT_SUPPORTED_SHAPE", X, R, X, R, R},
    {3003, "NOT_SUPPORTED_DATA_TYPE", X, R, X, R, R},
    {3004, "NOT_SUPPORTED_LAYOUT", X, R, X, R, R},
    {3005, "NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER", E, E, E, E, E},
    {3006, "NOT_SUPPORTED_INCOMPATIBLE_CUDART", E, E, E, E, E},
    {3007, "NOT_SUPPORTED_ARCH_MISMATCH", E, E, E, E, E},
    {3008, "NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING", E, E, E, E, E},
    {3009, "NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE", E, E, E, E, E},
    {3010, "NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT", X, R, X, R, R},
    {3011, "NOT_SUPPORTED_PADDING", X, R, X, R, R},
    {3012, "NOT_SUPPORTED_BAD_LAUNCH_PARAM", X, R, X, R, R},
    {3013, "NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API", X, R, X, R, R},
    {3014, "NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE", X, R, X, R, R},
    {3099, "a later NOT_SUPPORTED sub-code", X, R, X, R, R},
    {4000, "INTERNAL_ERROR", X, X, X, X, X},
    {4001, "INTERNAL_ERROR_COMPILATION_FAILED", X, X, X, R, X},
    {4002, "INTERNAL_ERROR_UNEXPECTED_VALUE", X, X, X, X, X},
    {4003, "INTERNAL_ERROR_HOST_ALLOCATION_FAILED (ALLOC_FAILED)", X, X, X, X, X},
    {4004, "INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED", X, X, X, X, X},
    {4005, "INTERNAL_ERROR_BAD_LAUNCH_PARAM", X, X, X, X, X},
    {4006, "INTERNAL_ERROR_TEXTURE_CREATION_FAILED (MAPPING_ERROR)", X, X, X, X, X},
    {4099, "a later INTERNAL_ERROR sub-code", X, X, X, X, X},
    {5000, "EXECUTION_FAILED", X, X, X, X, X},
    {5001, "EXECUTION_FAILED_CUDA_DRIVER", X, X, X, X, X},
    {5002, "EXECUTION_FAILED_CUBLAS", X, X, X, X, X},
    {5003, "EXECUTION_FAILED_CUDART", X, X, X, X, X},
    {5004, "EXECUTION_FAILED_CURAND", X, X, X, X, X},
    {6000, "a later category", X, X, X, X, X},
};

const char* name(CudnnFailure f) {
  switch (f) {
    case CudnnFailure::refusal:
      return "refusal";
    case CudnnFailure::environment:
      return "environment";
    case CudnnFailure::error:
      return "error";
  }
  return "?";
}

// The table's numbers are cuDNN's: a renumbered header would make every row test something else.
TEST(CudnnStatus, TableUsesTheHeadersNumbers) {
  EXPECT_EQ(CUDNN_STATUS_NOT_INITIALIZED, 1001);
  EXPECT_EQ(CUDNN_STATUS_BAD_PARAM, 2000);
  EXPECT_EQ(CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND, 2005);
  EXPECT_EQ(CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE, 2012);
  EXPECT_EQ(CUDNN_STATUS_NOT_SUPPORTED, 3000);
  EXPECT_EQ(CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH, 3007);
  EXPECT_EQ(CUDNN_STATUS_NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE, 3014);
  EXPECT_EQ(CUDNN_STATUS_INTERNAL_ERROR, 4000);
  EXPECT_EQ(CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED, 4001);
  EXPECT_EQ(CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED, 4006);
  EXPECT_EQ(CUDNN_STATUS_EXECUTION_FAILED, 5000);
  EXPECT_EQ(CUDNN_STATUS_EXECUTION_FAILED_CURAND, 5004);
}

TEST(CudnnStatus, EveryStatusMapsAsDocumented) {
  for (const StatusRow& row : kStatusTable) {
    const auto status = static_cast<cudnnStatus_t>(row.code);
    SCOPED_TRACE(std::to_string(row.code) + " " + row.name);
    for (CudnnAlgo algo : kAlgorithms) {
      EXPECT_EQ(name(classify(status, CudnnCall::plumbing, algo)), std::string(name(row.plumbing)))
          << "plumbing, " << to_string(algo);
    }
    EXPECT_EQ(name(classify(status, CudnnCall::configure, CudnnAlgo::standard)),
              std::string(name(row.standard_configure)))
        << "configure, standard";
    EXPECT_EQ(name(classify(status, CudnnCall::execute, CudnnAlgo::standard)),
              std::string(name(row.standard_execute)))
        << "execute, standard";
    for (CudnnAlgo algo : kPersistent) {
      EXPECT_EQ(name(classify(status, CudnnCall::configure, algo)),
                std::string(name(row.persist_configure)))
          << "configure, " << to_string(algo);
      EXPECT_EQ(name(classify(status, CudnnCall::execute, algo)),
                std::string(name(row.persist_execute)))
          << "execute, " << to_string(algo);
    }
  }
}

gpu::CudnnContext shape_context(CudnnAlgo algo, bool varied, bool training) {
  gpu::CudnnContext c;
  c.algo = algo;
  c.dtype = DType::f32;
  c.steps = 5;
  c.batch = 3;
  c.varied_lengths = varied;
  c.training = training;
  return c;
}

TEST(CudnnStatus, RefusalsNameTheAlgorithmTheCallAndTheReason) {
  const Error e =
      gpu::cudnn_error(CUDNN_STATUS_NOT_SUPPORTED, "cudnnRNNForward", CudnnCall::execute,
                       shape_context(CudnnAlgo::persist_static, true, true));
  EXPECT_EQ(e.status(), Status::unsupported);
  const std::string what = e.what();
  for (const char* part :
       {"Options.cudnn.algo = persist_static", "CUDNN_RNN_ALGO_PERSIST_STATIC", "cudnnRNNForward",
        "steps = 5, batch = 3, float32", "lengths that differ", "training", "Likely reason",
        "persistent algorithms typically do not take", "Options.cudnn.algo = standard",
        "gpu_dynamic"}) {
    EXPECT_TRUE(contains(what, part)) << "missing '" << part << "' in: " << what;
  }
  EXPECT_TRUE(contains(what, "returned CUDNN_STATUS_NOT_SUPPORTED")) << what;

  const Error build = gpu::cudnn_error(CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED,
                                       "cudnnBuildRNNDynamic", CudnnCall::configure,
                                       shape_context(CudnnAlgo::persist_dynamic, false, false));
  EXPECT_EQ(build.status(), Status::unsupported);
  const std::string build_what = build.what();
  for (const char* part : {"persist_dynamic", "cudnnBuildRNNDynamic", "could not compile"}) {
    EXPECT_TRUE(contains(build_what, part)) << "missing '" << part << "' in: " << build_what;
  }
  EXPECT_FALSE(contains(build_what, "lengths that differ")) << build_what;

  // The plan's own descriptors, before any shape: the model is what was refused.
  gpu::CudnnContext plan;
  plan.algo = CudnnAlgo::persist_static_small_h;
  plan.dtype = DType::f64;
  const Error at_plan = gpu::cudnn_error(CUDNN_STATUS_BAD_PARAM, "cudnnSetRNNDescriptor_v8",
                                         CudnnCall::configure, plan);
  EXPECT_EQ(at_plan.status(), Status::unsupported);
  EXPECT_TRUE(contains(at_plan.what(), "refuses this model (float64)")) << at_plan.what();
  EXPECT_TRUE(contains(at_plan.what(), "persist_static_small_h")) << at_plan.what();

  // standard's refusal has no other algorithm to offer.
  const Error standard =
      gpu::cudnn_error(CUDNN_STATUS_NOT_SUPPORTED_SHAPE, "cudnnGetRNNTempSpaceSizes",
                       CudnnCall::configure, shape_context(CudnnAlgo::standard, false, false));
  EXPECT_EQ(standard.status(), Status::unsupported);
  EXPECT_TRUE(contains(standard.what(), "gpu_dynamic")) << standard.what();
  EXPECT_FALSE(contains(standard.what(), "Options.cudnn.algo = standard runs")) << standard.what();
}

TEST(CudnnStatus, ErrorsNameTheCallAndStatus) {
  const Error e =
      gpu::cudnn_error(CUDNN_STATUS_EXECUTION_FAILED, "cudnnRNNBackwardData_v8", CudnnCall::execute,
                       shape_context(CudnnAlgo::persist_static, true, true));
  EXPECT_EQ(e.status(), Status::backend_error);
  EXPECT_TRUE(contains(e.what(), "cudnnRNNBackwardData_v8 failed: ")) << e.what();
  EXPECT_TRUE(contains(e.what(), "CUDNN_STATUS_EXECUTION_FAILED")) << e.what();
  EXPECT_TRUE(contains(e.what(), "persist_static")) << e.what();
  EXPECT_FALSE(contains(e.what(), "refuses")) << e.what();

  // standard accepted the configuration a moment before: a refusal now is an error.
  EXPECT_EQ(gpu::cudnn_error(CUDNN_STATUS_NOT_SUPPORTED, "cudnnRNNForward", CudnnCall::execute,
                             shape_context(CudnnAlgo::standard, true, false))
                .status(),
            Status::backend_error);
  // BAD_PARAM from standard is rnnx's mistake.
  EXPECT_EQ(gpu::cudnn_error(CUDNN_STATUS_BAD_PARAM, "cudnnGetRNNTempSpaceSizes",
                             CudnnCall::configure, shape_context(CudnnAlgo::standard, false, false))
                .status(),
            Status::backend_error);
  // A sequence-data descriptor knows no algorithm: its BAD_PARAM is rnnx's mistake for any.
  EXPECT_EQ(
      gpu::cudnn_error(CUDNN_STATUS_BAD_PARAM, "cudnnSetRNNDataDescriptor", CudnnCall::plumbing,
                       shape_context(CudnnAlgo::persist_dynamic, true, false))
          .status(),
      Status::backend_error);

  const Error machine = gpu::cudnn_error(CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH, "cudnnCreate",
                                         CudnnCall::plumbing, gpu::CudnnContext());
  EXPECT_EQ(machine.status(), Status::unsupported);
  EXPECT_TRUE(contains(machine.what(), "cannot run on this machine")) << machine.what();
  EXPECT_TRUE(contains(machine.what(), "cudnnCreate")) << machine.what();
}

TEST(CudnnStatus, CheckThrowsOnlyOnFailure) {
  const gpu::CudnnContext c = shape_context(CudnnAlgo::persist_static, false, false);
  EXPECT_NO_THROW(gpu::check(CUDNN_STATUS_SUCCESS, "cudnnRNNForward", CudnnCall::execute, c));
  try {
    gpu::check(CUDNN_STATUS_NOT_SUPPORTED, "cudnnGetRNNTempSpaceSizes", CudnnCall::configure, c);
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::unsupported) << e.what();
  }
}

// ---- CPU: how each kind of cell maps onto cuDNN ------------------------------------------------

TEST(CudnnCells, EveryKindHasItsModeOrIsRefused) {
  EXPECT_EQ(gpu::cudnn_cell_mode(CellKind::lstm), CUDNN_LSTM);
  EXPECT_EQ(gpu::cudnn_cell_mode(CellKind::gru_reset_after), CUDNN_GRU);
  EXPECT_EQ(gpu::cudnn_cell_mode(CellKind::rnn_tanh), CUDNN_RNN_TANH);
  EXPECT_EQ(gpu::cudnn_cell_mode(CellKind::rnn_relu), CUDNN_RNN_RELU);
  try {
    (void)gpu::cudnn_cell_mode(CellKind::gru_reset_before);
    ADD_FAILURE() << "a GRU resetting before the matmul was given a cuDNN mode";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::unsupported);
    for (const char* part : {"engine cudnn", "resets after the matmul", "gpu_dynamic"}) {
      EXPECT_TRUE(contains(e.what(), part)) << "missing '" << part << "' in: " << e.what();
    }
  }
}

// linLayerID: the input side's G ids first, then the recurrent side's, gates in rnnx's order; the
// vanilla RNN has one of each (0: W_x and b_x, 1: W_h and b_h).
TEST(CudnnCells, LinearLayersAndTheForgetBias) {
  for (CellKind rnn : {CellKind::rnn_tanh, CellKind::rnn_relu}) {
    EXPECT_FALSE(gpu::linear_layer(rnn, 0).recurrent);
    EXPECT_EQ(gpu::linear_layer(rnn, 0).gate, 0);
    EXPECT_TRUE(gpu::linear_layer(rnn, 1).recurrent);
    EXPECT_EQ(gpu::linear_layer(rnn, 1).gate, 0);
  }
  EXPECT_FALSE(gpu::linear_layer(CellKind::lstm, 3).recurrent);
  EXPECT_EQ(gpu::linear_layer(CellKind::lstm, 3).gate, lstm_o);
  EXPECT_TRUE(gpu::linear_layer(CellKind::lstm, 5).recurrent);
  EXPECT_EQ(gpu::linear_layer(CellKind::lstm, 5).gate, lstm_f);
  EXPECT_FALSE(gpu::linear_layer(CellKind::gru_reset_after, 2).recurrent);
  EXPECT_EQ(gpu::linear_layer(CellKind::gru_reset_after, 2).gate, gru_n);
  EXPECT_TRUE(gpu::linear_layer(CellKind::gru_reset_after, 3).recurrent);
  EXPECT_EQ(gpu::linear_layer(CellKind::gru_reset_after, 3).gate, gru_r);

  Layer layer;
  layer.forget_bias = 0.75;
  EXPECT_EQ(gpu::packed_bias_add(CellKind::lstm, layer, {false, lstm_f}), 0.75);
  EXPECT_EQ(gpu::packed_bias_add(CellKind::lstm, layer, {true, lstm_f}), 0.0);
  EXPECT_EQ(gpu::packed_bias_add(CellKind::lstm, layer, {false, lstm_i}), 0.0);
  for (CellKind kind : {CellKind::gru_reset_after, CellKind::rnn_tanh, CellKind::rnn_relu}) {
    EXPECT_EQ(gpu::packed_bias_add(kind, layer, {false, 0}), 0.0) << to_string(kind);
    EXPECT_EQ(gpu::packed_bias_add(kind, layer, {false, 1}), 0.0) << to_string(kind);
  }
}

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
  for (CudnnAlgo algo : kAlgorithms) out.push_back({to_string(algo), algo});
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
      ASSERT_TRUE(contains(e.what(), "no float64")) << e.what();
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
      EXPECT_TRUE(contains(e.what(), to_string(algo)))
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
  EXPECT_TRUE(contains(e.what(), to_string(algo))) << e.what();
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
  for (CudnnAlgo algo : kAlgorithms) {
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
