// libFuzzer target for the CLI's command lines (src/cli/options.cpp, src/cli/args.cpp): the input
// is split on '\0' into argument strings, the first being the subcommand. `run` and `init` go to
// parse_run_options and parse_init_options, anything else to the option-less parse of
// `rnnx info`. rnnx::cli::BadInput and rnnx::Error are clean refusals; anything else (another
// exception, a crash, a sanitizer report, a leak, parsed values out of their documented ranges or
// not read back the same) is a finding. Nothing here touches the file system: the parse
// functions get paths as strings (scripts/fuzz.sh checks that their objects call no file
// function).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "rnnx/error.h"

namespace {

using rnnx::cli::InitOptions;
using rnnx::cli::RunOptions;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

// The command line that says what `o` holds, every option spelled out.
std::vector<std::string> run_argv(const RunOptions& o) {
  std::vector<std::string> argv = {"--model",
                                   o.model,
                                   "--dir",
                                   o.dir,
                                   "--engine",
                                   rnnx::to_string(o.engine),
                                   "--weights-format",
                                   rnnx::to_string(o.format),
                                   "--repeat",
                                   std::to_string(o.repeat)};
  if (o.grad) argv.push_back("--grad");
  return argv;
}

std::vector<std::string> init_argv(const InitOptions& o) {
  std::vector<std::string> argv = {"--dir",
                                   o.dir,
                                   "--steps",
                                   std::to_string(o.steps),
                                   "--batch",
                                   std::to_string(o.batch),
                                   "--seed",
                                   std::to_string(o.seed),
                                   "--lengths",
                                   o.lengths == rnnx::cli::LengthsMode::full ? "full" : "mixed",
                                   "--weights-format",
                                   rnnx::to_string(o.format)};
  if (o.model) argv.insert(argv.end(), {"--model", *o.model});
  if (o.seed_model) argv.insert(argv.end(), {"--seed-model", *o.seed_model});
  if (o.dtype) argv.insert(argv.end(), {"--dtype", rnnx::to_string(*o.dtype)});
  if (o.grad) argv.push_back("--grad");
  return argv;
}

void check_run(const std::vector<std::string>& argv) {
  RunOptions o;
  try {
    o = rnnx::cli::parse_run_options(argv);
  } catch (const rnnx::cli::BadInput&) {
    return;
  } catch (const rnnx::Error&) {
    return;
  }
  require(o.repeat >= 1 && o.repeat <= 100000);
  const RunOptions again = rnnx::cli::parse_run_options(run_argv(o));
  require(again.model == o.model && again.dir == o.dir && again.engine == o.engine &&
          again.format == o.format && again.grad == o.grad && again.repeat == o.repeat);
}

void check_init(const std::vector<std::string>& argv) {
  InitOptions o;
  try {
    o = rnnx::cli::parse_init_options(argv);
  } catch (const rnnx::cli::BadInput&) {
    return;
  } catch (const rnnx::Error&) {
    return;
  }
  require(o.model.has_value() != o.seed_model.has_value());
  require(o.steps >= 1 && o.steps <= 100000 && o.batch >= 1 && o.batch <= 100000);
  require(o.seed >= 0 && o.seed <= (1 << 30));
  require(!o.dtype || *o.dtype == rnnx::DType::f32 || *o.dtype == rnnx::DType::f64);
  const InitOptions again = rnnx::cli::parse_init_options(init_argv(o));
  require(again.model == o.model && again.seed_model == o.seed_model && again.dir == o.dir &&
          again.steps == o.steps && again.batch == o.batch && again.seed == o.seed &&
          again.dtype == o.dtype && again.lengths == o.lengths && again.format == o.format &&
          again.grad == o.grad);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::vector<std::string> argv(1);
  for (std::size_t k = 0; k < size; ++k) {
    if (data[k] == 0) {
      argv.emplace_back();
    } else {
      argv.back() += static_cast<char>(data[k]);
    }
  }
  const std::string command = argv.front();
  argv.erase(argv.begin());
  if (command == "run") {
    check_run(argv);
  } else if (command == "init") {
    check_init(argv);
  } else {
    try {
      const rnnx::cli::Args args(argv, {}, {});  // `rnnx info` takes no options
      require(argv.empty());
    } catch (const rnnx::cli::BadInput&) {
    }
  }
  return 0;
}
