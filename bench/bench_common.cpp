#include "bench_common.h"

#include <random>

namespace rnnx::bench {

namespace {
bool g_quick = false;
}

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

void set_quick(bool quick) {
  g_quick = quick;
}
bool quick() {
  return g_quick;
}

benchmark::internal::Benchmark* configure(benchmark::internal::Benchmark* b, bool manual) {
  b->Unit(benchmark::kMillisecond);
  if (manual) {
    b->UseManualTime();
  } else {
    b->UseRealTime();
  }
  if (g_quick) {
    b->Iterations(1);
  } else if (manual) {
    // GPU: several repetitions, the median reported beside mean and spread.
    b->MinTime(0.2)->Repetitions(5)->ReportAggregatesOnly(true);
  } else {
    b->MinTime(0.5);
  }
  return b;
}

}  // namespace rnnx::bench
