#include "bench_common.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <utility>

namespace rnnx::bench {

namespace {

struct Settings {
  bool quick = false;
  std::optional<double> min_time;  // unset: each suite's default
  std::optional<int> repetitions;
  bool cold_l2 = true;
};
Settings g_settings;
std::set<std::string> g_names;

constexpr double kMinTimeLow = 0.001, kMinTimeHigh = 60;
constexpr int kRepetitionsLow = 1, kRepetitionsHigh = 100;

std::string text_of(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}
std::string text_of(int value) {
  return std::to_string(value);
}

// The variable's text, or nullptr when unset. Set but empty is an error rather than "unset": a
// script that meant to pass a value and passed none should hear of it.
const char* env(const char* name, const char* expected) {
  const char* text = std::getenv(name);
  if (text != nullptr && *text == '\0') {
    throw std::invalid_argument(std::string(name) + " is set but empty: expected " + expected +
                                " (unset it for the default)");
  }
  return text;
}

[[noreturn]] void bad_value(const char* name, const char* text, const std::string& expected) {
  throw std::invalid_argument(std::string(name) + "=\"" + text + "\": expected " + expected);
}

std::optional<double> env_seconds(const char* name, double low, double high) {
  const std::string expected = "seconds from " + text_of(low) + " to " + text_of(high);
  const char* text = env(name, expected.c_str());
  if (text == nullptr) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text, &end);
  // strtod skips leading blanks and reads "inf" and "nan"; none of them is a number of seconds.
  if (std::isspace(static_cast<unsigned char>(*text)) || *end != '\0' || errno != 0 ||
      !std::isfinite(value) || value < low || value > high) {
    bad_value(name, text, expected);
  }
  return value;
}

std::optional<int> env_int(const char* name, int low, int high) {
  const std::string expected =
      "an integer from " + std::to_string(low) + " to " + std::to_string(high);
  const char* text = env(name, expected.c_str());
  if (text == nullptr) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text, &end, 10);
  if (!std::isdigit(static_cast<unsigned char>(*text)) || *end != '\0' || errno != 0 ||
      value < low || value > high) {
    bad_value(name, text, expected);
  }
  return static_cast<int>(value);
}

}  // namespace

const char* to_string(Mode mode) {
  switch (mode) {
    case Mode::fwd:
      return "fwd";
    case Mode::train_fwd:
      return "train_fwd";
    case Mode::bwd:
      return "bwd";
    case Mode::train:
      return "train";
  }
  return "?";
}

double forward_flops(const Model& model, int steps, int batch) {
  double flops = 0;
  for (int l = 0; l < static_cast<int>(model.layers.size()); ++l) {
    const Layer& layer = model.layers[l];
    flops += 2.0 * gates(layer.cell) * layer.hidden * (layer_input_size(model, l) + layer.hidden) *
             batch * steps * directions(layer);
  }
  return flops;
}

double mode_flops(Mode mode, double forward) {
  return mode == Mode::bwd ? 2 * forward : mode == Mode::train ? 3 * forward : forward;
}

void set_counters(benchmark::State& state, double flops, int steps) {
  state.counters["FLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  // Inverted rate: seconds / (iterations * steps), shown as a time.
  state.counters["per_step"] = benchmark::Counter(
      steps, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

std::string case_name(const std::string& suite, const std::string& engine, const std::string& cell,
                      int H, int B, int T, const std::string& mode, const std::string& dtype) {
  return suite + "/" + engine + "/" + cell + "/H:" + std::to_string(H) + "/B:" + std::to_string(B) +
         "/T:" + std::to_string(T) + "/" + mode + "/" + dtype;
}

std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (float& e : v) e = u(rng);
  return v;
}

void load_settings(bool quick) {
  Settings settings;
  settings.quick = quick;
  settings.min_time = env_seconds("RNNX_BENCH_MIN_TIME", kMinTimeLow, kMinTimeHigh);
  settings.repetitions = env_int("RNNX_BENCH_REPETITIONS", kRepetitionsLow, kRepetitionsHigh);
  if (const char* l2 = env("RNNX_BENCH_L2", "cold or warm"); l2 != nullptr) {
    const std::string value = l2;
    if (value != "cold" && value != "warm") bad_value("RNNX_BENCH_L2", l2, "cold or warm");
    settings.cold_l2 = value == "cold";
  }
  if (quick && (settings.min_time || settings.repetitions)) {
    throw std::invalid_argument(
        "--rnnx_quick runs every case for one iteration, once: it cannot be combined with "
        "RNNX_BENCH_MIN_TIME or RNNX_BENCH_REPETITIONS (unset them, or drop --rnnx_quick)");
  }
  g_settings = settings;
  const auto describe = [&](auto value, const char* unset) {
    return quick   ? std::string("1 iteration (--rnnx_quick)")
           : value ? text_of(*value)
                   : std::string(unset);
  };
  benchmark::AddCustomContext("rnnx_min_time_s", describe(settings.min_time, "0.2 GPU, 0.5 CPU"));
  benchmark::AddCustomContext("rnnx_repetitions", describe(settings.repetitions, "5 GPU, 1 CPU"));
  benchmark::AddCustomContext("rnnx_l2", settings.cold_l2
                                             ? "cold (2 x L2 written before each timed GPU call)"
                                             : "warm (same operands call after call)");
}

bool quick() {
  return g_settings.quick;
}
bool cold_l2() {
  return g_settings.cold_l2;
}

benchmark::internal::Benchmark* add_case(const std::string& name,
                                         std::function<void(benchmark::State&)> run, bool manual) {
  if (!g_names.insert(name).second) {
    throw std::logic_error("benchmark case registered twice: " + name);
  }
  // A case that throws (an engine refusing the model or shape: a cuDNN algorithm's limits,
  // gpu_persistent's on-chip limit or training; a failed CUDA call) is reported with its
  // reason and the run goes on. The cases own what they allocate, so the unwinding frees it.
  auto guarded = [run = std::move(run)](benchmark::State& state) {
    try {
      run(state);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
    }
  };
  benchmark::internal::Benchmark* b = benchmark::RegisterBenchmark(name.c_str(), guarded);
  b->Unit(benchmark::kMillisecond);
  if (manual) {
    b->UseManualTime();
  } else {
    b->UseRealTime();
  }
  if (g_settings.quick) {
    b->Iterations(1);
    return b;
  }
  b->MinTime(g_settings.min_time.value_or(manual ? 0.2 : 0.5));
  // GPU: several repetitions, the median reported beside mean and spread. CPU cases are left
  // without a count unless one is set, which keeps their names (Google Benchmark appends
  // "repeats:N") as they were; with --benchmark_repetitions refused, they run once.
  if (manual || g_settings.repetitions) {
    const int repetitions = g_settings.repetitions.value_or(5);
    b->Repetitions(repetitions);
    if (repetitions > 1) b->ReportAggregatesOnly(true);
  }
  return b;
}

}  // namespace rnnx::bench
