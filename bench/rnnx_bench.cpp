// rnnx's benchmarks. Names: <suite>/<engine>/<cell>/H:<H>/B:<B>/T:<T>/<fwd|train>/<dtype>.
// Counters: FLOP/s, counting 2*G*H*(I+H)*B*T per layer and direction for a forward pass and 3x
// that for forward+backward ("train"), and the time per step. After the runs, a table of ratios
// measured in the same run: each engine against oneDNN's RNN primitive (the CPU peer) and
// against cpu_reference.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "onednn_peer.h"
#include "rnnx/rnnx.h"

namespace {

using rnnx::Engine;

std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
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

void set_counters(benchmark::State& state, double flops, int steps) {
  state.counters["FLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  // Inverted rate: seconds / (iterations * steps), shown as a time.
  state.counters["per_step"] = benchmark::Counter(
      steps, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// fwd: inference; train_fwd: forward_train alone (what oneDNN's forward_training compares
// with); train: forward_train + backward.
enum class Mode { fwd, train_fwd, train };
const char* to_string(Mode mode) {
  return mode == Mode::fwd ? "fwd" : mode == Mode::train_fwd ? "train_fwd" : "train";
}

// One case: a float32 model run by an rnnx engine.
void run_rnnx(benchmark::State& state, const rnnx::Model& model, Engine engine, int steps,
              int batch, Mode mode) {
  const bool train = mode != Mode::fwd;
  rnnx::Rnn rnn(model, engine);
  const std::size_t state_size = rnnx::StateLayout(model, batch).size();
  const float scale = 1.0f / static_cast<float>(std::sqrt(model.layers[0].hidden));
  const std::vector<float> x = random_floats(std::size_t(steps) * batch * model.input_size, 1, 1);
  const std::vector<float> w = random_floats(rnnx::WeightLayout(model).size(), 2, scale);
  const std::vector<float> dy =
      random_floats(std::size_t(steps) * batch * rnnx::output_size(model), 3, 1);
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
      if (mode == Mode::train) rnn.backward(f, b, {reserve.data(), reserve.size()});
    } else {
      rnn.forward(f);
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, forward_flops(model, steps, batch) * (mode == Mode::train ? 3.0 : 1.0),
               steps);
}

void run_onednn(benchmark::State& state, rnnx::bench::PeerCell cell, const rnnx::Model& model,
                int steps, int batch, bool training) {
  rnnx::bench::OnednnRnn rnn(cell, model.input_size, model.layers[0].hidden, batch, steps,
                             training);
  for (auto _ : state) rnn.forward();
  set_counters(state, forward_flops(model, steps, batch), steps);
}

std::string case_name(const std::string& suite, const std::string& engine, const std::string& cell,
                      int H, int B, int T, const std::string& mode) {
  return suite + "/" + engine + "/" + cell + "/H:" + std::to_string(H) + "/B:" + std::to_string(B) +
         "/T:" + std::to_string(T) + "/" + mode + "/f32";
}

// The peer primitive for a one-layer, one-direction model, if oneDNN has one.
bool onednn_peer(const rnnx::Model& model, rnnx::bench::PeerCell* cell) {
  if (model.layers.size() != 1 || model.layers[0].bidirectional) return false;
  const rnnx::Layer& layer = model.layers[0];
  if (layer.cell == rnnx::Cell::lstm) {
    *cell = rnnx::bench::PeerCell::lstm;
  } else {
    *cell = layer.gru_reset == rnnx::GruReset::before_matmul ? rnnx::bench::PeerCell::gru_before
                                                             : rnnx::bench::PeerCell::gru_after;
  }
  return true;
}

// Registers every engine available here (and oneDNN's primitive where it has one, for fwd and
// train_fwd: it has no backward here) on one model.
void register_model(const std::string& suite, const std::string& cell_name,
                    const rnnx::Model& model, int steps, int batch, bool with_reference) {
  const int H = model.layers[0].hidden;
  for (Mode mode : {Mode::fwd, Mode::train_fwd, Mode::train}) {
    for (Engine engine : {Engine::cpu_reference, Engine::cpu}) {
      if (engine == Engine::cpu_reference && !with_reference) continue;
      if (!rnnx::engine_available(engine)) continue;
      benchmark::RegisterBenchmark(
          case_name(suite, rnnx::to_string(engine), cell_name, H, batch, steps, to_string(mode))
              .c_str(),
          [=](benchmark::State& s) { run_rnnx(s, model, engine, steps, batch, mode); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->MinTime(0.5);
    }
    rnnx::bench::PeerCell peer;
    if (mode != Mode::train && onednn_peer(model, &peer)) {
      benchmark::RegisterBenchmark(
          case_name(suite, "onednn", cell_name, H, batch, steps, to_string(mode)).c_str(),
          [=](benchmark::State& s) {
            run_onednn(s, peer, model, steps, batch, mode == Mode::train_fwd);
          })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->MinTime(0.5);
    }
  }
}

// Collects each case's time per iteration, then prints the ratios of engines measured side by
// side in this run.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Iteration && !run.error_occurred) {
        seconds_[run.run_name.function_name] =
            run.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(run.time_unit);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\nRatios (time of the first / time of the second, same run):\n");
    for (const auto& [name, seconds] : seconds_) {
      const std::size_t engine_at = name.find('/') + 1;
      const std::size_t engine_end = name.find('/', engine_at);
      const std::string engine = name.substr(engine_at, engine_end - engine_at);
      if (engine != "cpu") continue;
      auto with = [&](const std::string& other) {
        std::string peer = name;
        peer.replace(engine_at, engine.size(), other);
        const auto it = seconds_.find(peer);
        if (it == seconds_.end()) return;
        if (other == "cpu_reference") {
          std::printf("  %-60s cpu_reference / cpu = %7.1fx faster\n", name.c_str(),
                      it->second / seconds);
        } else {
          std::printf("  %-60s cpu / %s = %.2f\n", name.c_str(), other.c_str(),
                      seconds / it->second);
        }
      };
      with("cpu_reference");
      with("onednn");
    }
  }

 private:
  std::map<std::string, double> seconds_;
};

void register_cases() {
  // seed: the notebook's networks at its sizes (input 28, T=28, B=128, H=128).
  for (const rnnx::SeedModel& seed : rnnx::seed_models()) {
    if (seed.static_unroll) continue;  // the same rnnx model as its dynamic twin
    register_model("seed", seed.name, seed.model, 28, 128, true);
  }
  // The seed's GRU resets before the matmul (TF); the other mode too, for oneDNN's LBR-GRU.
  rnnx::Model gru_after = rnnx::seed_model("gru");
  gru_after.layers[0].gru_reset = rnnx::GruReset::after_matmul;
  register_model("seed", "gru_after", gru_after, 28, 128, true);
  // cpu_large: input 512, hidden 512, B=64, T=100 (cpu_reference takes ~10 s a pass there).
  rnnx::Model large = rnnx::seed_model("lstm", 512, 512);
  large.layers[0].forget_bias = 0.0;
  register_model("cpu_large", "lstm", large, 100, 64, false);
}

}  // namespace

int main(int argc, char** argv) {
  register_cases();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
