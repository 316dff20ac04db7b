// The CPU suites: `seed` for the CPU engines, and `cpu`: cpu vs cpu_reference vs oneDNN's RNN
// primitives (the CPU peer) vs the GEMMs alone (dnnl_sgemm), at the seed's size and at
// input = hidden = 512, B = 64, T = 100. They run without a GPU.
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <cmath>
#include <stdexcept>

#include "bench_common.h"
#include "onednn_peer.h"

namespace rnnx::bench {

namespace {

// OpenMP's thread count for oneDNN and the GEMMs while a case runs (0: leave it); the cpu engine
// takes its own from Options.
class OmpThreads {
 public:
  explicit OmpThreads(int threads) : previous_(omp_get_max_threads()) {
    if (threads > 0) omp_set_num_threads(threads);
  }
  ~OmpThreads() { omp_set_num_threads(previous_); }
  OmpThreads(const OmpThreads&) = delete;
  OmpThreads& operator=(const OmpThreads&) = delete;

 private:
  int previous_;
};

// A float32 model run by a CPU engine on host memory; threads 0: the engine's default.
void run_host(benchmark::State& state, const Model& model, Engine engine, int steps, int batch,
              Mode mode, int threads) {
  Options options;
  options.cpu.threads = engine == Engine::cpu ? threads : 0;
  const OmpThreads omp(threads);
  Rnn rnn(model, engine, options);
  const bool train = mode != Mode::fwd;
  const std::size_t state_size = StateLayout(model, batch).size();
  const float scale = 1.0f / std::sqrt(static_cast<float>(model.layers[0].hidden));
  const std::vector<float> x = random_floats(std::size_t(steps) * batch * model.input_size, 1, 1);
  const std::vector<float> w = random_floats(WeightLayout(model).size(), 2, scale);
  const std::vector<float> dy =
      random_floats(std::size_t(steps) * batch * output_size(model), 3, 1);
  std::vector<float> y(dy.size()), final_state(state_size), dx(x.size()), dw(w.size());
  std::vector<unsigned char> reserve(train ? rnn.reserve_bytes(steps, batch) : 0);
  Forward f;
  f.steps = steps;
  f.batch = batch;
  f.x = x;
  f.weights = w;
  f.y = y;
  f.final_state = final_state;
  Backward b;
  b.dy = dy;
  b.dx = dx;
  b.dweights = dw;
  // The peers allocate and set up in their constructors, outside the timed loop; rnnx does that
  // in prepare. Without it the first timed call pays for every buffer's first touch.
  rnn.prepare(steps, batch);
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
  set_counters(state, mode_flops(mode, forward_flops(model, steps, batch)), steps);
}

void run_onednn(benchmark::State& state, PeerCell cell, const Model& model, int steps, int batch,
                Mode mode, int threads) {
  const OmpThreads omp(threads);
  PeerPass pass = PeerPass::inference;
  switch (mode) {
    case Mode::fwd:
      break;
    case Mode::train_fwd:
      pass = PeerPass::training_forward;
      break;
    case Mode::train:
      pass = PeerPass::training_step;
      break;
    case Mode::bwd:
      throw std::invalid_argument("run_onednn: no backward-only case for oneDNN's primitive");
  }
  OnednnRnn rnn(cell, model.input_size, model.layers[0].hidden, batch, steps, pass);
  for (auto _ : state) rnn.run();
  set_counters(state, mode_flops(mode, forward_flops(model, steps, batch)), steps);
}

// The GEMMs of a one-layer forward alone (the projection and T recurrent products): the rate
// the fused algorithm could reach if its pointwise work were free.
void run_gemms(benchmark::State& state, const Model& model, int steps, int batch, int threads) {
  const OmpThreads omp(threads);
  const Layer& layer = model.layers[0];
  const int H = layer.hidden, GH = gates(layer.cell) * H, I = model.input_size;
  const std::vector<float> x = random_floats(std::size_t(steps) * batch * I, 4, 1);
  const std::vector<float> wx = random_floats(std::size_t(GH) * I, 5, 0.1f);
  const std::vector<float> wh = random_floats(std::size_t(GH) * H, 6, 0.1f);
  const std::vector<float> h = random_floats(std::size_t(batch) * H, 7, 1);
  std::vector<float> proj(std::size_t(steps) * batch * GH), rec(std::size_t(batch) * GH);
  for (auto _ : state) {
    dnnl_sgemm('N', 'T', steps * batch, GH, I, 1.0f, x.data(), I, wx.data(), I, 0.0f, proj.data(),
               GH);
    for (int t = 0; t < steps; ++t) {
      dnnl_sgemm('N', 'T', batch, GH, H, 1.0f, h.data(), H, wh.data(), H, 0.0f, rec.data(), GH);
    }
    benchmark::DoNotOptimize(rec.data());
  }
  set_counters(state, forward_flops(model, steps, batch), steps);
}

// The machine's float32 FMA peak on `threads` threads (every core for 0): each thread runs 12
// independent chains of 8-wide FMAs (16 of 16-wide ones with AVX-512), enough to keep two FMA
// ports busy through their latency.
// The cpu suites' figures are shown as a fraction of it (rnnx_bench.cpp).
#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) float fma_chains(long rounds) {
  __m256 acc[12];
  for (int j = 0; j < 12; ++j) acc[j] = _mm256_set1_ps(1.0f + 0.01f * float(j));
  const __m256 scale = _mm256_set1_ps(0.9999999f), add = _mm256_set1_ps(1e-7f);
  for (long r = 0; r < rounds; ++r) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) acc[j] = _mm256_fmadd_ps(acc[j], scale, add);
  }
  __m256 sum = acc[0];
  for (int j = 1; j < 12; ++j) sum = _mm256_add_ps(sum, acc[j]);
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  return lanes[0];
}

// The same with 16-wide registers: on a CPU with AVX-512 the peak is this one (twice AVX2's where
// the core has two 512-bit FMA ports), and oneDNN's kernels and the cpu engine's tiled path use it.
__attribute__((target("avx512f"))) float fma_chains_512(long rounds) {
  __m512 acc[16];
  for (int j = 0; j < 16; ++j) acc[j] = _mm512_set1_ps(1.0f + 0.01f * float(j));
  const __m512 scale = _mm512_set1_ps(0.9999999f), add = _mm512_set1_ps(1e-7f);
  for (long r = 0; r < rounds; ++r) {
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) acc[j] = _mm512_fmadd_ps(acc[j], scale, add);
  }
  __m512 sum = acc[0];
  for (int j = 1; j < 16; ++j) sum = _mm512_add_ps(sum, acc[j]);
  float lanes[16];
  _mm512_storeu_ps(lanes, sum);
  return lanes[0];
}

void run_fma_peak(benchmark::State& state, int threads) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    state.SkipWithError("no AVX2/FMA on this CPU");
    return;
  }
  const bool wide = __builtin_cpu_supports("avx512f");
  const int n = threads > 0 ? threads : omp_get_num_procs();
  constexpr long kRounds = 1 << 20;
  for (auto _ : state) {
    float sink = 0;
#pragma omp parallel num_threads(n) reduction(+ : sink)
    sink += wide ? fma_chains_512(kRounds) : fma_chains(kRounds);
    benchmark::DoNotOptimize(sink);
  }
  const double flops = wide ? 16.0 * 16 * 2 : 12.0 * 8 * 2;
  state.SetLabel(wide ? "AVX-512" : "AVX2");
  state.counters["FLOP/s"] = benchmark::Counter(double(kRounds) * flops * n,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

// How fast `threads` threads (every core for 0) read a buffer of `bytes`, each its own share
// again and again without meeting: at B = 1 each step's product reads all of W_h once, so no
// engine that keeps W_h in float32 runs T steps faster than T such passes. A share that fits a
// core's own cache is read from there, as a thread that keeps its slice of W_h resident would.
__attribute__((target("avx2"))) float sum_of(const float* p, std::size_t n) {
  __m256 acc[4];
  for (__m256& a : acc) a = _mm256_setzero_ps();
  for (std::size_t i = 0; i + 32 <= n; i += 32) {
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) acc[j] = _mm256_add_ps(acc[j], _mm256_loadu_ps(p + i + 8 * j));
  }
  float lanes[8];
  _mm256_storeu_ps(lanes,
                   _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  return lanes[0] + lanes[7];
}

void run_read_rate(benchmark::State& state, std::size_t bytes, int threads) {
  if (!__builtin_cpu_supports("avx2")) {
    state.SkipWithError("no AVX2 on this CPU");
    return;
  }
  const int n = threads > 0 ? threads : omp_get_num_procs();
  const std::vector<float> buffer = random_floats(bytes / sizeof(float), 8, 1);
  constexpr int kPasses = 20;  // per iteration: the threads start once for many passes
  for (auto _ : state) {
    float sink = 0;
#pragma omp parallel num_threads(n) reduction(+ : sink)
    {
      const std::size_t count = buffer.size(), id = std::size_t(omp_get_thread_num());
      const std::size_t first = count * id / n, last = count * (id + 1) / n;
      for (int pass = 0; pass < kPasses; ++pass) {
        // Each pass reads the memory again: the compiler may not reuse the last pass's sum.
        const float* share = buffer.data() + first;
        benchmark::DoNotOptimize(share);
        sink += sum_of(share, last - first);
      }
    }
    benchmark::DoNotOptimize(sink);
  }
  state.counters["bytes/s"] =
      benchmark::Counter(double(bytes) * kPasses, benchmark::Counter::kIsIterationInvariantRate);
}
#endif

bool onednn_peer(const Model& model, PeerCell* cell) {
  if (model.layers.size() != 1 || model.layers[0].bidirectional) return false;
  switch (cell_kind(model.layers[0])) {
    case CellKind::lstm:
      *cell = PeerCell::lstm;
      return true;
    case CellKind::gru_reset_after:
      *cell = PeerCell::gru_after;
      return true;
    case CellKind::gru_reset_before:
      *cell = PeerCell::gru_before;
      return true;
    case CellKind::rnn_tanh:
      *cell = PeerCell::rnn_tanh;
      return true;
    case CellKind::rnn_relu:
      *cell = PeerCell::rnn_relu;
      return true;
  }
  return false;
}

void register_host(const std::string& suite, Engine engine, const std::string& cell, const Model& m,
                   int steps, int batch, Mode mode, int threads = 0) {
  const int H = m.layers[0].hidden;
  add_case(
      case_name(suite, to_string(engine), cell, H, batch, steps, to_string(mode)),
      [=](benchmark::State& s) { run_host(s, m, engine, steps, batch, mode, threads); }, false);
}

// A `cpu` suite case on one model: every CPU engine, oneDNN's primitive, the GEMMs alone, in
// `modes`; threads 0 is every core (suite "cpu"), 1 is suite "cpu1".
void register_cpu_case(const std::string& cell, const Model& m, int steps, int batch,
                       bool with_reference, int threads,
                       std::vector<Mode> modes = {Mode::fwd, Mode::train_fwd, Mode::train}) {
  const int H = m.layers[0].hidden;
  const std::string suite = threads == 1 ? "cpu1" : "cpu";
  for (Mode mode : modes) {
    for (Engine engine : {Engine::cpu_reference, Engine::cpu}) {
      if (engine == Engine::cpu_reference && !with_reference) continue;
      register_host(suite, engine, cell, m, steps, batch, mode, threads);
    }
    PeerCell peer;
    if (onednn_peer(m, &peer)) {
      add_case(
          case_name(suite, "onednn", cell, H, batch, steps, to_string(mode)),
          [=](benchmark::State& s) { run_onednn(s, peer, m, steps, batch, mode, threads); }, false);
    }
  }
  add_case(
      case_name(suite, "sgemm", cell, H, batch, steps, "fwd"),
      [=](benchmark::State& s) { run_gemms(s, m, steps, batch, threads); }, false);
}

}  // namespace

void register_cpu_suites() {
#if defined(__x86_64__)
  for (int threads : {0, 1}) {
    add_case(
        std::string(threads == 1 ? "cpu1" : "cpu") + "/fma_peak",
        [=](benchmark::State& s) { run_fma_peak(s, threads); }, false);
  }
#endif
  // seed: the notebook's networks at its sizes on the CPU engines.
  for (const SeedModel& seed : seed_models()) {
    if (seed.static_unroll) continue;  // the same rnnx model as its dynamic twin
    for (Mode mode : {Mode::fwd, Mode::train}) {
      for (Engine engine : {Engine::cpu_reference, Engine::cpu}) {
        register_host("seed", engine, seed.name, seed.model, 28, 128, mode);
      }
    }
  }
  // cpu: the seed's LSTM and GRUs (both reset modes), the vanilla RNN at the seed's size (both
  // activations), and the larger LSTM.
  Model gru_after = seed_model("gru");
  gru_after.layers[0].gru_reset = GruReset::after_matmul;
  for (int threads : {0, 1}) {
    register_cpu_case("lstm", seed_model("lstm"), 28, 128, true, threads);
    register_cpu_case("gru", seed_model("gru"), 28, 128, true, threads);
    register_cpu_case("gru_after", gru_after, 28, 128, true, threads);
    for (Activation act : {Activation::tanh, Activation::relu}) {
      Model rnn = seed_model("lstm");
      rnn.layers[0].cell = Cell::rnn;
      rnn.layers[0].activation = act;
      rnn.layers[0].forget_bias = 0.0;  // as a fresh Layer has it: an RNN ignores it
      register_cpu_case(std::string("rnn_") + to_string(act), rnn, 28, 128, true, threads);
    }
    Model large = seed_model("lstm", 512, 512);
    large.layers[0].forget_bias = 0.0;
    register_cpu_case("lstm", large, 100, 64, false, threads);  // cpu_reference: ~10 s a pass
    Model large_gru = seed_model("gru", 512, 512);
    register_cpu_case("gru", large_gru, 100, 64, false, threads, {Mode::fwd, Mode::train});
    large_gru.layers[0].gru_reset = GruReset::after_matmul;
    register_cpu_case("gru_after", large_gru, 100, 64, false, threads, {Mode::fwd, Mode::train});
    // Latency: one sequence, inference, I = H; and how fast W_h (4 H x H floats) can be read.
    for (int hidden : {256, 512, 1024}) {
      Model one = seed_model("lstm", hidden, hidden);
      one.layers[0].forget_bias = 0.0;
      register_cpu_case("lstm", one, 100, 1, false, threads, {Mode::fwd});
#if defined(__x86_64__)
      const std::size_t wh_bytes = std::size_t(4) * hidden * hidden * sizeof(float);
      add_case(
          std::string(threads == 1 ? "cpu1" : "cpu") +
              "/read_rate/KB:" + std::to_string(wh_bytes >> 10),
          [=](benchmark::State& s) { run_read_rate(s, wh_bytes, threads); }, false);
#endif
    }
  }
}

}  // namespace rnnx::bench
