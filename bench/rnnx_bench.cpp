// rnnx's benchmarks. Names: <suite>/<engine>/<cell>/H:<H>/B:<B>/T:<T>/<fwd|train>/<dtype>.
// Counters: FLOP/s (2*G*H*(I+H)*B*T per layer and direction for the forward; 3x that for
// forward+backward) and microseconds per step.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "rnnx/rnnx.h"

namespace {

using rnnx::Engine;

std::vector<float> random_floats(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::vector<float> v(n);
  for (float& e : v) e = u(rng);
  return v;
}

double forward_flops(const rnnx::Model& model, int steps, int batch) {
  double flops = 0;
  for (int l = 0; l < static_cast<int>(model.layers.size()); ++l) {
    const rnnx::Layer& layer = model.layers[l];
    flops += 2.0 * rnnx::gates(layer.cell) * layer.hidden *
             (rnnx::layer_input_size(model, l) + layer.hidden) * batch * steps *
             rnnx::directions(layer);
  }
  return flops;
}

// One case: a float32 model run by `engine`, forward only or forward_train + backward.
void run_case(benchmark::State& state, const rnnx::Model& model, Engine engine, int steps,
              int batch, bool train) {
  rnnx::Rnn rnn(model, engine);
  const std::size_t state_size = rnnx::StateLayout(model, batch).size();
  const std::vector<float> x = random_floats(std::size_t(steps) * batch * model.input_size, 1);
  const std::vector<float> w = random_floats(rnnx::WeightLayout(model).size(), 2);
  const std::vector<float> dy =
      random_floats(std::size_t(steps) * batch * rnnx::output_size(model), 3);
  std::vector<float> y(dy.size()), final_state(state_size), dx(x.size()), dw(w.size());
  std::vector<unsigned char> reserve(train ? rnn.reserve_bytes(steps, batch) : 0);

  rnnx::Forward f;
  f.steps = steps;
  f.batch = batch;
  f.x = x;
  f.weights = w;
  f.y = y;
  f.final_state = final_state;
  rnnx::Backward b;
  b.dy = dy;
  b.dx = dx;
  b.dweights = dw;
  for (auto _ : state) {
    if (train) {
      rnn.forward_train(f, {reserve.data(), reserve.size()});
      rnn.backward(f, b, {reserve.data(), reserve.size()});
    } else {
      rnn.forward(f);
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double flops = forward_flops(model, steps, batch) * (train ? 3.0 : 1.0);
  state.counters["FLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  // Inverted rate: seconds / (iterations * steps * 1e-6) = microseconds per step.
  state.counters["us/step"] = benchmark::Counter(
      steps * 1e-6, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// The seed's networks at the seed's sizes (input 28, T=28, B=128, H=128) on the CPU engines here.
void register_seed_suite() {
  constexpr int kSteps = 28, kBatch = 128;
  for (const rnnx::SeedModel& seed : rnnx::seed_models()) {
    if (seed.static_unroll) continue;  // static and dynamic twins are the same rnnx model
    for (Engine engine : {Engine::cpu_reference, Engine::cpu}) {
      if (!rnnx::engine_available(engine)) continue;
      for (bool train : {false, true}) {
        const std::string name = "seed/" + std::string(rnnx::to_string(engine)) + "/" + seed.name +
                                 "/H:128/B:128/T:28/" + (train ? "train" : "fwd") + "/f32";
        benchmark::RegisterBenchmark(
            name.c_str(),
            [=](benchmark::State& s) { run_case(s, seed.model, engine, kSteps, kBatch, train); })
            ->Unit(benchmark::kMillisecond)
            ->MinTime(0.5);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_seed_suite();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
