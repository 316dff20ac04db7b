// Shared pieces of rnnx's tests: random problems, running an engine, error measures, the model
// matrices every engine is checked on.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "rnnx/rnnx.h"
#include "seed_models.h"

namespace rnnx::test {

// RNNX_REQUIRE_GPU=1 turns a GPU test's skip into a failure.
bool gpu_required();

// In a GPU test body: skips (or fails under RNNX_REQUIRE_GPU=1) when no usable GPU is here.
#define RNNX_GPU_TEST_OR_SKIP()                                                      \
  do {                                                                               \
    const ::rnnx::GpuReport rnnx_report_ = ::rnnx::gpus();                           \
    if (rnnx_report_.devices.empty()) {                                              \
      if (::rnnx::test::gpu_required()) {                                            \
        FAIL() << "RNNX_REQUIRE_GPU=1 but no usable GPU: " << rnnx_report_.why_none; \
      }                                                                              \
      GTEST_SKIP() << "no usable GPU: " << rnnx_report_.why_none;                    \
    }                                                                                \
  } while (0)

// Uniform in [lo, hi), deterministic for a seed; never all zeros.
std::vector<double> random_values(std::size_t n, std::uint64_t seed, double lo = -1.0,
                                  double hi = 1.0);

// Everything one call needs, in float64 on the host; run() converts to the model's dtype.
struct Problem {
  Model model;
  int steps = 0, batch = 0;
  std::vector<std::int32_t> lengths;                 // empty: every sequence has `steps` steps
  std::vector<double> x, weights, init, dy, dfinal;  // init/dfinal empty: not given
};

// Random inputs, initial states and gradients in [-1, 1); weights uniform in +-1/sqrt(H) of
// their layer, as frameworks initialise them.
Problem random_problem(const Model& model, int steps, int batch, std::vector<std::int32_t> lengths,
                       std::uint64_t seed, bool with_init = true, bool with_dfinal = true);

struct Result {
  std::vector<double> y, final_state;       // forward
  std::vector<double> dx, dinit, dweights;  // backward
};

// Runs a plan of `engine` on the problem, outputs poisoned with NaN beforehand. x, weights and y
// are in the model's dtype, states in state_dtype (float32 for bf16/f16 models). With `backward`,
// runs forward_train then backward (dweights overwritten, not accumulated).
Result run(const Problem& problem, Engine engine, bool backward, const Options& options = {});

// How far an engine's results are from the reference's, field by field (max_rel_error).
struct Errors {
  double y = 0, final_state = 0, dx = 0, dinit = 0, dweights = 0;
  double worst() const;
};
// The gradients are compared only when `backward`.
Errors compare_results(const Result& got, const Result& ref, bool backward);

// bf16/f16 bits of a value and back (dtype bf16 or f16).
std::uint16_t to_half(DType dtype, float value);
double from_half(DType dtype, std::uint16_t bits);
// The values as `dtype` holds them (float64 through float32 for bf16/f16, as Typed buffers
// round them): the inputs a float64 run must get to be compared with a run in `dtype`.
std::vector<double> rounded(DType dtype, std::vector<double> values);

// max |got - ref| / max(1, |ref|); infinity if any value is NaN or the sizes differ.
double max_rel_error(const std::vector<double>& got, const std::vector<double>& ref);

// Every cell kind, in CellKind's order (a new kind goes here and in cell_kind()).
inline constexpr CellKind kCellKinds[] = {CellKind::lstm, CellKind::gru_reset_after,
                                          CellKind::gru_reset_before, CellKind::rnn_tanh,
                                          CellKind::rnn_relu};

// cuDNN's algorithms, in CudnnAlgo's order.
inline constexpr CudnnAlgo kCudnnAlgorithms[] = {CudnnAlgo::standard, CudnnAlgo::persist_static,
                                                 CudnnAlgo::persist_dynamic,
                                                 CudnnAlgo::persist_static_small_h};

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A layer of `kind` with `hidden` units; an LSTM gets `forget_bias`.
Layer layer_of(CellKind kind, int hidden = 0, double forget_bias = 1.0);

// One entry of the gradient matrix: every engine's tests run it.
struct MatrixCase {
  std::string name;  // e.g. "gru_before/3_layers/bi/mixed_lengths"
  Model model;
  int steps, batch;
  std::vector<std::int32_t> lengths;
};

// GoogleTest prints a failing case by its name and model.
void PrintTo(const MatrixCase& c, std::ostream* out);

// {LSTM forget_bias 1, GRU reset after, GRU reset before} x {1 layer, 3 layers, LSTM(4)->GRU(6)}
// x {one direction, bidirectional} x {full lengths, mixed lengths including 0}: 36 cases, small
// sizes (input 3, hidden 3, T 5, B 3) so that finite differences stay cheap.
std::vector<MatrixCase> gradient_matrix(DType dtype = DType::f64,
                                        Layout layout = Layout::time_major);

// A fresh folder under the system's temporary directory, removed with the object.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A file's bytes ("" for a missing or empty file).
std::string slurp(const std::filesystem::path& path);

// A program run through the shell: its exit code (-1 if it did not exit normally) and what it
// printed, captured in files under `scratch`.
struct ProgramOutcome {
  int code;
  std::string out, err;
};
ProgramOutcome run_program(const std::string& command_line, const std::filesystem::path& scratch);

#ifdef RNNX_FAULT_INJECTION_PATH
// The start of a command line for run_program that loads tests/support/fault_injection.cpp into
// the program, with its settings, e.g. "RNNX_FAULT_FAIL_FILE=3". (ASan's runtime must come first
// among the libraries unless told otherwise; the injector only wraps a few libc calls.)
inline std::string with_faults(const std::string& settings) {
  return "ASAN_OPTIONS=\"$ASAN_OPTIONS:verify_asan_link_order=0\" LD_PRELOAD=" +
         std::string(RNNX_FAULT_INJECTION_PATH) + " " + settings + " ";
}
#endif

// The names in `dir` that an interrupted or failed write could leave: rnnx's staging folders
// (io/output_files.h) and "*.tmp" files.
std::vector<std::string> leftover_files(const std::filesystem::path& dir);

// The values of a float32 or float64 NPY file as float64 (exact); fails the test otherwise.
std::vector<double> read_npy_values(const std::filesystem::path& path);

// Sets an environment variable (RNNX_PERSISTENT_BARRIER, ...) for its lifetime, or unsets it
// (value nullptr), then gives back what was there, set or not.
class EnvSetting {
 public:
  EnvSetting(const char* name, const char* value);
  ~EnvSetting();
  EnvSetting(const EnvSetting&) = delete;
  EnvSetting& operator=(const EnvSetting&) = delete;

 private:
  std::string name_, previous_;
  bool was_set_ = false;
};

// "1.234e-07": errors for RecordProperty and messages.
std::string scientific(double value);

// Name for GoogleTest parameters: letters, digits and underscores only.
std::string test_name(const std::string& name);

// For INSTANTIATE_TEST_SUITE_P over parameters that have a `name` member.
struct ParamName {
  template <class P>
  std::string operator()(const ::testing::TestParamInfo<P>& param_info) const {
    return test_name(param_info.param.name);
  }
};

}  // namespace rnnx::test
