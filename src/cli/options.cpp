// The command lines of `rnnx run` and `rnnx init`: pure parsing, no file system (fuzz/cli_args_fuzz
// runs it on arbitrary argument lists).
#include <string>
#include <vector>

#include "cli/cli.h"

namespace rnnx::cli {

namespace {

WeightFormat weight_format_option(const Args& args) {
  try {
    return parse_weight_format(args.get_or("weights-format", "rnnx"));
  } catch (const Error& e) {
    throw BadInput(std::string("option --weights-format: ") + e.what());
  }
}

}  // namespace

RunOptions parse_run_options(const std::vector<std::string>& argv) {
  const Args args(argv, {"model", "dir", "engine", "weights-format", "repeat"}, {"grad"});
  RunOptions o;
  o.model = args.get("model");
  o.dir = args.get("dir");
  o.engine = parse_engine(args.get_or("engine", "auto"));
  o.grad = args.has("grad");
  o.repeat = args.get_int("repeat", 1, 1, 100000);
  o.format = weight_format_option(args);
  return o;
}

InitOptions parse_init_options(const std::vector<std::string>& argv) {
  const Args args(argv,
                  {"model", "seed-model", "dir", "steps", "batch", "seed", "dtype", "lengths",
                   "weights-format"},
                  {"grad"});
  if (args.has("model") == args.has("seed-model")) {
    throw BadInput("give exactly one of --model M.json and --seed-model NAME");
  }
  InitOptions o;
  if (args.has("model")) o.model = args.get("model");
  if (args.has("seed-model")) o.seed_model = args.get("seed-model");
  o.dir = args.get("dir");
  o.steps = args.get_int("steps", 28, 1, 100000);
  o.batch = args.get_int("batch", 4, 1, 100000);
  o.seed = args.get_int("seed", 1, 0, 1 << 30);
  const std::string lengths_mode = args.get_or("lengths", "mixed");
  if (lengths_mode != "mixed" && lengths_mode != "full") {
    throw BadInput("option --lengths = '" + lengths_mode + "': expected full or mixed");
  }
  o.lengths = lengths_mode == "full" ? LengthsMode::full : LengthsMode::mixed;
  if (args.has("dtype")) {
    const std::string d = args.get("dtype");
    if (d != "float32" && d != "float64") {
      throw BadInput("option --dtype = '" + d + "': expected float32 or float64");
    }
    o.dtype = d == "float64" ? DType::f64 : DType::f32;
  }
  o.format = weight_format_option(args);
  o.grad = args.has("grad");
  return o;
}

}  // namespace rnnx::cli
