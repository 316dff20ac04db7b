// rnnx: the command-line face of the library. `rnnx --help` lists the subcommands.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/cli.h"

namespace {

const char* kUsage =
    "usage: rnnx <command> [options]\n"
    "\n"
    "commands:\n"
    "  info                     version, build options, GPUs found, engines available here\n"
    "  run  --model M.json --dir DIR --engine E [--grad] [--weights-format rnnx|tf|torch|onnx]\n"
    "       [--repeat N]        read NPY inputs from DIR, run the model, write NPY outputs there;\n"
    "                           prints the prepare time, the first call's and (N > 1) the median\n"
    "                           of the later calls\n"
    "  init (--model M.json | --seed-model NAME) --dir DIR [--steps T] [--batch B]\n"
    "       [--seed S] [--dtype float32|float64] [--lengths full|mixed] [--grad]\n"
    "       [--weights-format rnnx|tf|torch|onnx]\n"
    "                           write random inputs and weights for `run` into DIR\n"
    "\n"
    "exit codes: 0 ok, 1 runtime failure, 2 bad input, 3 engine unavailable for this model or\n"
    "            a feature rnnx does not support (a weight format's peepholes, projections)\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace rnnx::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? exit_bad_input : exit_ok;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  try {
    if (command == "info") return info_command(args);
    if (command == "run") return run_command(args);
    if (command == "init") return init_command(args);
    throw BadInput("unknown command '" + command + "' (try rnnx --help)");
  } catch (const BadInput& e) {
    std::fprintf(stderr, "rnnx %s: %s\n", command.c_str(), e.what());
    return exit_bad_input;
  } catch (const rnnx::Error& e) {
    std::fprintf(stderr, "rnnx %s: %s\n", command.c_str(), e.what());
    switch (e.status()) {
      case rnnx::Status::invalid_argument:
      case rnnx::Status::io_error:
        return exit_bad_input;
      case rnnx::Status::unsupported:
      case rnnx::Status::not_implemented:
      case rnnx::Status::not_built:
      case rnnx::Status::no_device:
        return exit_unavailable;
      case rnnx::Status::backend_error:
        return exit_failure;
    }
    return exit_failure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rnnx %s: %s\n", command.c_str(), e.what());
    return exit_failure;
  }
}
