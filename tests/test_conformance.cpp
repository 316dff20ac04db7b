// Every engine against cpu_reference on the gradient matrix (every cell kind, 1 and 3 layers, a
// mixed stack, uni- and bidirectional, full and mixed lengths) in float64, float32 and
// batch-major float64. Each engine's contract is declared once below: its tolerances, whether it
// trains, and what it refuses. Adding an engine is one line in contracts(), adding a cell kind one
// line in test::gradient_matrix(). Tests of one engine's own options (cuDNN's algorithms,
// gpu_persistent's barriers and tensor cores, the cpu engine's threads) stay in that engine's
// file. The GPU engines' tests are named GpuConformance, which scripts/gpu-check.sh selects.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "rnnx/version.h"
#include "support/test_support.h"
#if RNNX_WITH_CUDA
#include "support/gpu_support.h"
#endif

namespace rnnx {
namespace {

// What an engine promises: results within `f64`/`f32` of cpu_reference (relative to max(1, |ref|),
// test::max_rel_error), backward too where it `trains`, and Status::unsupported for what
// `refusal` names: the text its message must contain, or nullptr where the engine runs the model.
struct Contract {
  Engine engine;
  double f64, f32;
  bool trains;
  const char* (*refusal)(const Model&, DType);
};

const char* runs_everything(const Model&, DType) {
  return nullptr;
}

#if RNNX_WITH_CUDA
bool any_layer(const Model& m, CellKind kind) {
  for (const Layer& layer : m.layers) {
    if (cell_kind(layer) == kind) return true;
  }
  return false;
}

// cuDNN computes the GRU that resets after the matmul only.
const char* cudnn_refusal(const Model& m, DType) {
  return any_layer(m, CellKind::gru_reset_before) ? "resets before" : nullptr;
}

// gpu_persistent runs float32 (and 16-bit) inference.
const char* persistent_refusal(const Model&, DType dtype) {
  return dtype == DType::f64 ? "float64" : nullptr;
}
#endif

std::vector<Contract> contracts() {
  std::vector<Contract> c = {{Engine::cpu, 1e-12, 1e-5, true, runs_everything}};
#if RNNX_WITH_CUDA
  c.push_back({Engine::gpu_dynamic, 1e-10, 1e-5, true, runs_everything});
  c.push_back({Engine::gpu_static, 1e-10, 1e-5, true, runs_everything});
  c.push_back({Engine::cudnn, 1e-10, 1e-5, true, cudnn_refusal});
  c.push_back({Engine::gpu_persistent, 0, 1e-5, false, persistent_refusal});
#endif
  return c;
}

struct Variant {
  const char* name;
  DType dtype;
  Layout layout;
};
const Variant kVariants[] = {{"f64", DType::f64, Layout::time_major},
                             {"f32", DType::f32, Layout::time_major},
                             {"f64_batch_major", DType::f64, Layout::batch_major}};

struct ConformanceCase {
  std::string name;
  Contract contract;
  Variant variant;
  test::MatrixCase matrix;
};

void PrintTo(const ConformanceCase& c, std::ostream* out) {
  *out << c.name;
}

// One test per CPU engine, variant and model.
std::vector<ConformanceCase> cpu_conformance_cases() {
  std::vector<ConformanceCase> out;
  for (const Contract& contract : contracts()) {
    if (is_gpu(contract.engine)) continue;
    for (const Variant& v : kVariants) {
      for (const test::MatrixCase& m : test::gradient_matrix(v.dtype, v.layout)) {
        out.push_back({std::string(to_string(contract.engine)) + "/" + v.name + "/" + m.name,
                       contract, v, m});
      }
    }
  }
  return out;
}

test::Result run_engine(const test::Problem& p, Engine engine, bool backward,
                        const Options& options) {
  if (!is_gpu(engine)) return test::run(p, engine, backward, options);
#if RNNX_WITH_CUDA
  return test::run_on_device(p, engine, backward, options);
#else
  ADD_FAILURE() << to_string(engine) << " in a build without CUDA";
  return {};
#endif
}

void expect_conformance(const ConformanceCase& c) {
  const Model& m = c.matrix.model;
  const test::Problem p =
      test::random_problem(m, c.matrix.steps, c.matrix.batch, c.matrix.lengths, 401);
  Options options;
  options.inference_only = !c.contract.trains;

  if (const char* refusal = c.contract.refusal(m, c.variant.dtype)) {
    try {
      (void)run_engine(p, c.contract.engine, false, options);
      ADD_FAILURE() << to_string(c.contract.engine) << " ran a model it must refuse (" << refusal
                    << ")";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), Status::unsupported) << e.what();
      EXPECT_NE(std::string(e.what()).find(refusal), std::string::npos)
          << "the refusal must say why (\"" << refusal << "\"): " << e.what();
    }
    return;
  }

  const double bound = c.variant.dtype == DType::f64 ? c.contract.f64 : c.contract.f32;
  const test::Result ref = test::run(p, Engine::cpu_reference, c.contract.trains);
  const test::Errors inference =
      test::compare_results(run_engine(p, c.contract.engine, false, options), ref, false);
  EXPECT_LT(inference.y, bound) << "inference y";
  EXPECT_LT(inference.final_state, bound) << "inference final_state";
  double worst = inference.worst();
  if (c.contract.trains) {
    const test::Errors training =
        test::compare_results(run_engine(p, c.contract.engine, true, options), ref, true);
    EXPECT_LT(training.y, bound) << "training y";
    EXPECT_LT(training.final_state, bound) << "training final_state";
    EXPECT_LT(training.dx, bound) << "dx";
    EXPECT_LT(training.dinit, bound) << "dinit";
    EXPECT_LT(training.dweights, bound) << "dweights";
    worst = std::max(worst, training.worst());
  }
  ::testing::Test::RecordProperty("max_rel_error", test::scientific(worst));
}

class Conformance : public ::testing::TestWithParam<ConformanceCase> {};

TEST_P(Conformance, MatchesReference) {
  expect_conformance(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Engines, Conformance, ::testing::ValuesIn(cpu_conformance_cases()),
                         test::ParamName());

#if RNNX_WITH_CUDA
// On a GPU each test is a process with its own CUDA context (a second or so to start), and the
// device check has minutes: one test per engine and variant, the matrix's 60 models inside it,
// each failure naming its model.
struct GpuConformanceCase {
  std::string name;
  Contract contract;
  Variant variant;
};

void PrintTo(const GpuConformanceCase& c, std::ostream* out) {
  *out << c.name;
}

std::vector<GpuConformanceCase> gpu_conformance_cases() {
  std::vector<GpuConformanceCase> out;
  for (const Contract& contract : contracts()) {
    if (!is_gpu(contract.engine)) continue;
    for (const Variant& v : kVariants) {
      out.push_back({std::string(to_string(contract.engine)) + "/" + v.name, contract, v});
    }
  }
  return out;
}

class GpuConformance : public ::testing::TestWithParam<GpuConformanceCase> {};

TEST_P(GpuConformance, MatchesReference) {
  RNNX_GPU_TEST_OR_SKIP();
  const GpuConformanceCase& g = GetParam();
  for (const test::MatrixCase& m : test::gradient_matrix(g.variant.dtype, g.variant.layout)) {
    SCOPED_TRACE(m.name);
    expect_conformance({g.name + "/" + m.name, g.contract, g.variant, m});
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, GpuConformance, ::testing::ValuesIn(gpu_conformance_cases()),
                         test::ParamName());
#endif

}  // namespace
}  // namespace rnnx
