// The rnnx command-line tool: shared pieces of its subcommands.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/json.h"
#include "rnnx/rnnx.h"
#include "seed_models.h"

namespace rnnx::cli {

// Exit codes, documented in docs/CLI.md.
enum ExitCode : int {
  exit_ok = 0,
  exit_failure = 1,    // a runtime failure (a CUDA or BLAS call failed, anything unexpected)
  exit_bad_input = 2,  // bad arguments, files, model JSON or values
  exit_unavailable =
      3,  // the engine is not built, not implemented, finds no GPU or refuses the model
};

// A bad command line or input file: the message is one line, naming the file or option.
struct BadInput : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// --name value pairs and --flag switches; anything else is a BadInput.
class Args {
 public:
  Args(const std::vector<std::string>& argv, const std::vector<std::string>& value_options,
       const std::vector<std::string>& flags);
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  const std::string& get(const std::string& name) const;  // BadInput if absent
  std::string get_or(const std::string& name, const std::string& fallback) const;
  int get_int(const std::string& name, int fallback, int lo, int hi) const;

 private:
  std::map<std::string, std::string> values_;
};

// Model JSON (docs/CLI.md): {"input_size": 5, "dtype": "float64", "layout": "time_major",
// "layers": [{"cell": "lstm", "hidden": 3, "bidirectional": false, "forget_bias": 1.0}, ...]}.
// Unknown keys or values are a BadInput naming the file and the key.
Model model_from_json(const io::Json& json, const std::string& file);
io::Json model_to_json(const Model& model);

// "L{l}.{d}.{name}.npy"
std::string tensor_file(int layer, Dir dir, const std::string& name);

// The file of a weight tensor's gradient: "d" before its last name part (docs/INTEROP.md):
// "L0.fw.kernel" -> "L0.fw.dkernel.npy", "weight_ih_l0" -> "dweight_ih_l0.npy".
std::string gradient_file(const std::string& tensor);

// The options of `rnnx run` and `rnnx init` (docs/CLI.md), parsed from the arguments after the
// subcommand without touching the file system (fuzz/cli_args_fuzz.cpp): paths stay strings,
// checked by the command when it uses them. Errors are the commands' own: a BadInput naming the
// option, or parse_engine's Error(invalid_argument).
struct RunOptions {
  std::string model;  // --model M.json (required)
  std::string dir;    // --dir DIR (required)
  Engine engine = Engine::automatic;
  WeightFormat format = WeightFormat::rnnx;
  bool grad = false;
  int repeat = 1;  // in [1, 100000]
};
RunOptions parse_run_options(const std::vector<std::string>& args);

enum class LengthsMode { mixed, full };

struct InitOptions {
  std::optional<std::string> model;       // --model M.json: exactly one of model and
  std::optional<std::string> seed_model;  // --seed-model NAME
  std::string dir;                        // --dir DIR (required)
  int steps = 28;                         // T, in [1, 100000]
  int batch = 4;                          // B, in [1, 100000]
  int seed = 1;                           // in [0, 2^30]
  std::optional<DType> dtype;             // --dtype float32|float64 overrides the model's
  LengthsMode lengths = LengthsMode::mixed;
  WeightFormat format = WeightFormat::rnnx;
  bool grad = false;
};
InitOptions parse_init_options(const std::vector<std::string>& args);

int info_command(const std::vector<std::string>& args);
int run_command(const std::vector<std::string>& args);
int init_command(const std::vector<std::string>& args);

}  // namespace rnnx::cli
