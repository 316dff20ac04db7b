// rnnx info: what this build holds and what it finds here.
#include <cstdio>
#include <string>

#include "cli/cli.h"

namespace rnnx::cli {

namespace {

std::string version_text(int v, int major_div, int minor_div) {
  if (v == 0) return "unknown";
  return std::to_string(v / major_div) + "." + std::to_string(v % major_div / minor_div) + "." +
         std::to_string(v % minor_div);
}

}  // namespace

int info_command(const std::vector<std::string>& argv) {
  Args args(argv, {}, {});
  const BuildInfo build = build_info();
  std::printf("rnnx %s\n", build.version.c_str());
  if (build.cuda) {
    std::printf("build: CUDA on (architectures %s), CUDA runtime %s, cuBLAS %s, cuDNN %s\n",
                build.cuda_architectures.c_str(),
                version_text(build.cuda_runtime_version, 1000, 10).c_str(),
                version_text(build.cublas_version, 10000, 100).c_str(),
                version_text(build.cudnn_version, 10000, 100).c_str());
    // The GPU module and the libraries it brought (docs/GPU_LIBRARIES.md); build_info() loaded it.
    if (build.gpu_module.empty()) {
      std::printf("GPU module: not loaded: %s\n", build.gpu_module_problem.c_str());
    } else {
      const int driver = build.cuda_driver_version;
      const std::string driver_text = driver == 0 ? std::string("no CUDA driver")
                                                  : "CUDA driver " + std::to_string(driver / 1000) +
                                                        "." + std::to_string(driver % 1000 / 10);
      std::printf("GPU module: %s (%s)\n", build.gpu_module.c_str(), driver_text.c_str());
    }
    if (!build.gpu_libraries.empty()) std::printf("GPU libraries:\n");
    for (const GpuLibrary& library : build.gpu_libraries) {
      std::printf("  %-15s %s\n", library.name.c_str(), library.path.c_str());
    }
  } else {
    std::printf("build: CUDA off (RNNX_CUDA=OFF): CPU engines only\n");
  }

  const GpuReport report = gpus();
  if (report.devices.empty()) {
    std::printf("GPUs: none (%s)\n", report.why_none.c_str());
  } else {
    std::printf("GPUs:\n");
    for (const DeviceInfo& d : report.devices) {
      std::printf("  %d: %s, compute capability %d.%d, %.1f GiB, %d multiprocessors\n", d.index,
                  d.name.c_str(), d.major, d.minor,
                  static_cast<double>(d.memory_bytes) / (1024.0 * 1024.0 * 1024.0),
                  d.multiprocessors);
    }
  }
  for (const std::string& problem : report.problems)
    std::printf("  problem: %s\n", problem.c_str());

  std::printf("engines:\n");
  for (Engine e : {Engine::cpu_reference, Engine::cpu, Engine::gpu_dynamic, Engine::gpu_static,
                   Engine::gpu_persistent, Engine::cudnn}) {
    std::string why;
    const bool ok = engine_available(e, &why);
    std::printf("  %-15s %s\n", to_string(e), ok ? "available" : why.c_str());
  }
  // What `auto` picks for the seed's first model on this machine.
  const Rnn probe(seed_model("lstm"), Engine::automatic);
  std::printf("  %-15s picks %s (for the seed's LSTM)\n", "auto", to_string(probe.engine()));
  return exit_ok;
}

}  // namespace rnnx::cli
