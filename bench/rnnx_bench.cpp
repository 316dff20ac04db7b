// rnnx's benchmarks: every engine side by side (bench_common.h for names and counters). After
// the runs, the ratios measured in the same run: each GPU engine against cudnn (cuDNN's standard
// algorithm), the cpu engine against oneDNN's RNN primitive, cpu_reference and the GEMMs alone.
//
//   rnnx_bench [--rnnx_quick] [Google Benchmark flags, e.g. --benchmark_filter=^latency/]
//
// Minimum time, repetitions and the L2 state of GPU cases come from RNNX_BENCH_MIN_TIME,
// RNNX_BENCH_REPETITIONS and RNNX_BENCH_L2 (bench_common.h), not from --benchmark_min_time or
// --benchmark_repetitions, which are refused.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bench_common.h"
#include "io/output_files.h"
#include "io/read_file.h"

namespace {

constexpr const char* kOutFlag = "--benchmark_out=";

// Collects each case's time (the median when repeated), then prints the ratios.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      const bool single = run.run_type == Run::RT_Iteration && run.repetitions <= 1;
      if ((median || single) && !run.error_occurred) {
        seconds_[run.run_name.function_name] =
            run.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(run.time_unit);
        const auto flops = run.counters.find("FLOP/s");
        if (flops != run.counters.end()) flops_[run.run_name.function_name] = flops->second;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    // The CPU cases against the machine's FMA peak measured in the same run (cpu_suites.cpp).
    bool peak_header = false;
    for (const auto& [name, flops] : flops_) {
      const std::string suite = name.substr(0, name.find('/'));
      const auto peak = flops_.find(suite + "/fma_peak");
      if (peak == flops_.end() || name == peak->first || peak->second <= 0) continue;
      if (!peak_header) {
        std::printf("\nFLOP/s as a fraction of the float32 FMA peak (%s %.1f GFLOP/s",
                    suite.c_str(), peak->second / 1e9);
        const auto one = flops_.find("cpu1/fma_peak");
        if (suite != "cpu1" && one != flops_.end()) {
          std::printf(", cpu1 %.1f GFLOP/s", one->second / 1e9);
        }
        std::printf("):\n");
        peak_header = true;
      }
      std::printf("  %-64s %.3f\n", name.c_str(), flops / peak->second);
    }
    std::printf("\nRatios, time of the first over time of the second (same run):\n");
    for (const auto& [name, seconds] : seconds_) {
      const std::size_t at = name.find('/') + 1, end = name.find('/', at);
      if (at == 0 || end == std::string::npos) continue;
      const std::string engine = name.substr(at, end - at);
      const bool gpu = engine.rfind("gpu_", 0) == 0 || engine.rfind("cudnn_", 0) == 0;
      const std::vector<std::string> peers =
          engine == "cpu" ? std::vector<std::string>{"onednn", "cpu_reference", "sgemm"}
          : gpu           ? std::vector<std::string>{"cudnn"}
                          : std::vector<std::string>{};
      for (const std::string& peer : peers) {
        std::string other = name;
        other.replace(at, engine.size(), peer);
        // A bf16/f16 case has no 16-bit cuDNN peer here: it is held against cuDNN's float32.
        const std::size_t dtype_at = other.rfind('/') + 1;
        const std::string dtype = other.substr(dtype_at);
        if (seconds_.count(other) == 0 && (dtype == "bf16" || dtype == "f16")) {
          other.replace(dtype_at, dtype.size(), "f32");
        }
        const auto it = seconds_.find(other);
        if (it == seconds_.end()) continue;
        const std::string label = other.substr(other.rfind('/') + 1) == dtype
                                      ? peer
                                      : peer + " (" + other.substr(other.rfind('/') + 1) + ")";
        std::printf("  %-64s %s / %s = %.3f\n", name.c_str(), engine.c_str(), label.c_str(),
                    seconds / it->second);
      }
    }
  }

 private:
  std::map<std::string, double> seconds_;
  std::map<std::string, double> flops_;  // FLOP/s of the cases that count them
};

// Google Benchmark's own flags for what the RNNX_BENCH_* settings decide: every case sets its
// own value, which overrides the flag, so the flag would do nothing. Returns the variable to use
// instead, or nullptr.
const char* overridden_flag(const char* arg) {
  const std::pair<const char*, const char*> flags[] = {
      {"--benchmark_min_time", "RNNX_BENCH_MIN_TIME"},
      {"--benchmark_repetitions", "RNNX_BENCH_REPETITIONS"}};
  for (const auto& [flag, variable] : flags) {
    const std::size_t n = std::strlen(flag);
    if (std::strncmp(arg, flag, n) == 0 && (arg[n] == '\0' || arg[n] == '=')) return variable;
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args;
  bool quick = false;
  std::string out_path, staged_out_flag;
  for (int k = 0; k < argc; ++k) {
    if (k > 0 && std::strcmp(argv[k], "--rnnx_quick") == 0) {
      quick = true;
    } else if (k > 0 && std::strncmp(argv[k], kOutFlag, std::strlen(kOutFlag)) == 0) {
      out_path = argv[k] + std::strlen(kOutFlag);
      if (out_path.empty() || out_path.back() == '/') {
        std::fprintf(stderr, "rnnx_bench: %s needs a file name\n", argv[k]);
        return 2;
      }
    } else if (const char* variable = k > 0 ? overridden_flag(argv[k]) : nullptr) {
      std::fprintf(stderr,
                   "rnnx_bench: %s would be ignored (each case sets its own); set %s instead "
                   "(bench/bench_common.h)\n",
                   argv[k], variable);
      return 2;
    } else {
      args.push_back(argv[k]);
    }
  }
  try {
    rnnx::bench::load_settings(quick);
    rnnx::bench::register_cpu_suites();
    rnnx::bench::register_gpu_suites();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rnnx_bench: %s\n", e.what());
    return 2;
  }
  // Google Benchmark writes its result file as it goes; it writes into a staging folder beside
  // the requested path instead, and the finished file replaces the old one whole
  // (io/output_files.h), so a failed or killed run leaves the previous results as they were.
  const std::filesystem::path out_file(out_path);
  const std::filesystem::path out_dir = rnnx::io::folder_of(out_file);
  std::optional<rnnx::io::StagingFolder> staging;
  try {
    if (!out_path.empty()) {
      staging.emplace(out_dir);
      staged_out_flag = kOutFlag + (staging->path() / out_file.filename()).string();
      args.push_back(staged_out_flag.data());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rnnx_bench: %s%s: %s\n", kOutFlag, out_path.c_str(), e.what());
    return 2;
  }
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  if (staging) {
    try {
      const std::filesystem::path staged = staging->path() / out_file.filename();
      if (!std::filesystem::exists(staged)) {
        std::fprintf(stderr, "rnnx_bench: no benchmark ran, %s was left as it was\n",
                     out_path.c_str());
        return 1;
      }
      rnnx::io::replace_file(out_file, rnnx::io::read_file_bytes(staged));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "rnnx_bench: %s\n", e.what());
      return 1;
    }
  }
  return 0;
}
