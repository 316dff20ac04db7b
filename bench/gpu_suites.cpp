// The GPU suites (seed, latency, deepbench, unroll, floor): every GPU engine side by side, timed
// with CUDA events on a stream of their own after a warm-up, five repetitions with the median
// reported, inputs rotated among enough copies that their working set exceeds the L2 cache,
// random data. Without a GPU (or without CUDA in the build) each case is skipped with the reason.
#include <cstdio>
#include <stdexcept>

#include "bench_common.h"

#if RNNX_WITH_CUDA
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "kernels/persistent_kernels.h"
#endif

namespace rnnx::bench {

#if RNNX_WITH_CUDA

namespace {

// The GPU engines and cuDNN's algorithms, as benchmark names; gpu_persistent also with 16-bit
// weights and inputs (the case name's last part says the dtype).
struct GpuEngine {
  const char* name;
  Engine engine;
  CudnnAlgo algo = CudnnAlgo::standard;
  DType dtype = DType::f32;
};
const GpuEngine kGpuEngines[] = {
    {"gpu_dynamic", Engine::gpu_dynamic},
    {"gpu_static", Engine::gpu_static},
    {"gpu_persistent", Engine::gpu_persistent},
    {"gpu_persistent", Engine::gpu_persistent, CudnnAlgo::standard, DType::bf16},
    {"gpu_persistent", Engine::gpu_persistent, CudnnAlgo::standard, DType::f16},
    {"cudnn", Engine::cudnn},
    {"cudnn_persist_static", Engine::cudnn, CudnnAlgo::persist_static},
    {"cudnn_persist_dynamic", Engine::cudnn, CudnnAlgo::persist_dynamic},
    {"cudnn_persist_static_small_h", Engine::cudnn, CudnnAlgo::persist_static_small_h},
};

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

const char* dtype_label(DType dtype) {
  return dtype == DType::bf16 ? "bf16" : dtype == DType::f16 ? "f16" : "f32";
}

// Device memory for one array of float32, bfloat16 or float16 values, filled from the host
// (rounded to the dtype) or left as it is.
class DeviceArray {
 public:
  explicit DeviceArray(std::size_t n, DType dtype = DType::f32) : n_(n), dtype_(dtype) {
    check(cudaMalloc(&p_, std::max<std::size_t>(n, 1) * dtype_size(dtype)), "cudaMalloc");
  }
  DeviceArray(const std::vector<float>& v, DType dtype = DType::f32)
      : DeviceArray(v.size(), dtype) {
    if (dtype == DType::f32) {
      check(cudaMemcpy(p_, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice), "upload");
      return;
    }
    std::vector<std::uint16_t> bits;
    for (float e : v) bits.push_back(dtype == DType::bf16 ? float_to_bf16(e) : float_to_f16(e));
    check(cudaMemcpy(p_, bits.data(), bits.size() * 2, cudaMemcpyHostToDevice), "upload");
  }
  ~DeviceArray() { cudaFree(p_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  std::size_t size() const { return n_; }
  Buffer out() const { return Buffer(p_, n_, dtype_); }
  ConstBuffer in() const { return ConstBuffer(p_, n_, dtype_); }

 private:
  void* p_ = nullptr;
  std::size_t n_ = 0;
  DType dtype_ = DType::f32;
};

class Stream {
 public:
  Stream() { check(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking), "cudaStreamCreate"); }
  ~Stream() { cudaStreamDestroy(s_); }
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

// Times what `work` enqueues on `stream` with a pair of CUDA events.
class EventTimer {
 public:
  EventTimer() {
    check(cudaEventCreate(&start_), "cudaEventCreate");
    check(cudaEventCreate(&stop_), "cudaEventCreate");
  }
  ~EventTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  template <class Work>
  double seconds(cudaStream_t stream, Work work) {
    check(cudaEventRecord(start_, stream), "cudaEventRecord");
    work();
    check(cudaEventRecord(stop_, stream), "cudaEventRecord");
    check(cudaEventSynchronize(stop_), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start_, stop_), "cudaEventElapsedTime");
    return ms * 1e-3;
  }

 private:
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

std::size_t l2_bytes() {
  int device = 0, bytes = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&bytes, cudaDevAttrL2CacheSize, device), "cudaDeviceGetAttribute");
  return static_cast<std::size_t>(bytes);
}

void run_device(benchmark::State& state, Model m, const GpuEngine& which, int steps, int batch,
                Mode mode) {
  m.dtype = which.dtype;
  if (gpus().devices.empty()) {
    state.SkipWithError(("no usable GPU: " + gpus().why_none).c_str());
    return;
  }
  try {
    Options options;
    options.cudnn_algo = which.algo;
    options.inference_only = which.engine == Engine::gpu_persistent;
    Rnn rnn(m, which.engine, options);
    const bool train = mode != Mode::fwd;
    const std::size_t nx = std::size_t(steps) * batch * m.input_size;
    const std::size_t ny = std::size_t(steps) * batch * output_size(m);
    // Enough copies of x that cycling through them (and y) does not stay in L2.
    const std::size_t copies = std::clamp<std::size_t>(
        2 * l2_bytes() / std::max<std::size_t>((nx + ny) * dtype_size(m.dtype), 1) + 1, 1, 16);
    std::vector<std::unique_ptr<DeviceArray>> xs;
    for (std::size_t k = 0; k < copies; ++k) {
      xs.push_back(std::make_unique<DeviceArray>(random_floats(nx, 10 + k, 1), m.dtype));
    }
    const float scale = 1.0f / std::sqrt(static_cast<float>(m.layers[0].hidden));
    const DeviceArray w(random_floats(WeightLayout(m).size(), 2, scale), m.dtype);
    const DeviceArray dy(random_floats(ny, 3, 1), m.dtype);
    const DeviceArray y(ny, m.dtype), final_state(StateLayout(m, batch).size());
    std::unique_ptr<DeviceArray> dx, dw;
    void* reserve = nullptr;
    std::size_t reserve_bytes = 0;
    if (train) {
      dx = std::make_unique<DeviceArray>(nx, m.dtype);
      dw = std::make_unique<DeviceArray>(w.size(), m.dtype);
      reserve_bytes = rnn.reserve_bytes(steps, batch);
      check(cudaMalloc(&reserve, std::max<std::size_t>(reserve_bytes, 1)), "cudaMalloc");
    }
    const Stream stream;
    EventTimer timer;
    Forward f;
    f.steps = steps;
    f.batch = batch;
    f.weights = w.in();
    f.y = y.out();
    f.final_state = final_state.out();
    f.weights_unchanged = true;  // the same weights every call, as in inference serving
    Backward b;
    b.dy = dy.in();
    if (train) {
      b.dx = dx->out();
      b.dweights = dw->out();
    }
    const Reserve r{reserve, reserve_bytes};
    auto call = [&] {
      switch (mode) {
        case Mode::fwd:
          rnn.forward(f, stream.get());
          break;
        case Mode::train_fwd:
          rnn.forward_train(f, r, stream.get());
          break;
        case Mode::bwd:
          rnn.backward(f, b, r, stream.get());
          break;
        case Mode::train:
          rnn.forward_train(f, r, stream.get());
          rnn.backward(f, b, r, stream.get());
          break;
      }
    };
    // The next input copy; backward alone gets its forward_train first, untimed.
    std::size_t k = 0;
    auto next = [&] {
      f.x = xs[k++ % copies]->in();
      if (mode == Mode::bwd) rnn.forward_train(f, r, stream.get());
    };
    rnn.prepare(steps, batch);
    for (int warm = 0; warm < 3; ++warm) {
      next();
      call();
    }
    check(cudaStreamSynchronize(stream.get()), "cudaStreamSynchronize");
    for (auto _ : state) {
      next();
      state.SetIterationTime(timer.seconds(stream.get(), call));
    }
    set_counters(state, mode_flops(mode, forward_flops(m, steps, batch)), steps);
    const PlanStats stats = rnn.stats();
    state.counters["workspace_MB"] = static_cast<double>(stats.workspace_bytes) / (1 << 20);
    if (which.engine == Engine::gpu_static) {
      state.counters["graph_nodes"] = static_cast<double>(stats.graph_nodes);
      state.counters["graph_build_ms"] = stats.graph_build_ms;
    }
    if (reserve != nullptr) cudaFree(reserve);
  } catch (const std::exception& e) {
    // An engine that refuses the model or shape (a cuDNN algorithm's limits, gpu_persistent's
    // on-chip limit, training on gpu_persistent) is reported, not fatal.
    state.SkipWithError(e.what());
  }
}

std::string cell_name(const Model& m) {
  const Layer& layer = m.layers[0];
  if (layer.cell == Cell::lstm) return "lstm";
  return layer.gru_reset == GruReset::after_matmul ? "gru" : "gru_before";
}

Model one_layer(Cell cell, int input, int hidden) {
  Model m;
  m.input_size = input;
  Layer layer;
  layer.cell = cell;
  layer.hidden = hidden;
  m.layers.push_back(layer);
  return m;
}

void register_device(const std::string& suite, const std::string& cell, const Model& m,
                     const GpuEngine& which, int steps, int batch, Mode mode) {
  const int H = m.layers[0].hidden;
  configure(benchmark::RegisterBenchmark(
                case_name(suite, which.name, cell, H, batch, steps, to_string(mode),
                          dtype_label(which.dtype))
                    .c_str(),
                [=](benchmark::State& s) { run_device(s, m, which, steps, batch, mode); }),
            true);
}

// floor: what the engines are held against. A grid of one block per multiprocessor meeting the
// persistent engine's barrier T times (both barriers), and T empty launches, plain and replayed
// from a CUDA Graph.
void run_floor(benchmark::State& state, const std::string& kind, int steps) {
  if (gpus().devices.empty()) {
    state.SkipWithError(("no usable GPU: " + gpus().why_none).c_str());
    return;
  }
  try {
    const Stream stream;
    EventTimer timer;
    const int blocks = gpus().devices.front().multiprocessors;
    unsigned* words = nullptr;
    check(cudaMalloc(reinterpret_cast<void**>(&words), 2 * sizeof(unsigned)), "cudaMalloc");
    cudaGraphExec_t exec = nullptr;
    cudaGraph_t graph = nullptr;
    if (kind == "graph") {
      check(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeThreadLocal), "capture");
      for (int t = 0; t < steps; ++t) check(gpu::launch_empty(stream.get()), "empty kernel");
      check(cudaStreamEndCapture(stream.get(), &graph), "capture");
      check(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
    }
    auto work = [&] {
      if (kind == "launches") {
        for (int t = 0; t < steps; ++t) check(gpu::launch_empty(stream.get()), "empty kernel");
      } else if (kind == "graph") {
        check(cudaGraphLaunch(exec, stream.get()), "cudaGraphLaunch");
      } else {
        check(cudaMemsetAsync(words, 0, 2 * sizeof(unsigned), stream.get()), "cudaMemsetAsync");
        const gpu::GridBarrier barrier =
            kind == "barrier_flags" ? gpu::GridBarrier::flags : gpu::GridBarrier::cooperative;
        check(gpu::launch_barrier_only(barrier, blocks, steps, words, stream.get()), "barrier");
      }
    };
    for (int k = 0; k < 3; ++k) timer.seconds(stream.get(), work);  // warm-up
    for (auto _ : state) state.SetIterationTime(timer.seconds(stream.get(), work));
    state.counters["per_step"] = benchmark::Counter(
        steps, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    if (exec != nullptr) cudaGraphExecDestroy(exec);
    if (graph != nullptr) cudaGraphDestroy(graph);
    cudaFree(words);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

}  // namespace

void register_gpu_suites() {
  // seed: the notebook's networks at its sizes, forward and training, every GPU engine.
  for (const SeedModel& seed : seed_models()) {
    if (seed.static_unroll) continue;
    for (const GpuEngine& e : kGpuEngines) {
      for (Mode mode : {Mode::fwd, Mode::train}) {
        if (mode == Mode::train && e.engine == Engine::gpu_persistent) continue;  // inference only
        if (e.dtype != DType::f32) continue;  // 16-bit cases: latency and unroll only
        register_device("seed", seed.name, seed.model, e, 28, 128, mode);
      }
    }
  }
  // latency: one layer, T = 100, forward, every engine and cuDNN algorithm.
  for (Cell cell : {Cell::lstm, Cell::gru}) {
    for (int H : {256, 512, 1024, 2048}) {
      for (int B : {1, 4, 16, 64}) {
        const Model m = one_layer(cell, H, H);
        for (const GpuEngine& e : kGpuEngines) {
          register_device("latency", cell_name(m), m, e, 100, B, Mode::fwd);
        }
      }
    }
  }
  // deepbench: baidu-research/DeepBench's RNN problems (input = hidden); forward, backward and
  // both, for the engines that train; the LSTM rows' inference sizes too.
  struct Row {
    Cell cell;
    int H, B, T;
  };
  std::vector<Row> rows;
  for (int H : {512, 1024, 2048, 4096})
    for (int B : {16, 32, 64, 128}) rows.push_back({Cell::lstm, H, B, 25});
  for (int B : {8, 16, 32}) rows.push_back({Cell::lstm, 1536, B, 50});
  for (int B : {16, 32, 64}) rows.push_back({Cell::lstm, 256, B, 150});
  for (auto [H, T] : {std::pair<int, int>{1536, 375}, {2048, 750}, {2560, 187}, {2816, 1500}}) {
    rows.push_back({Cell::gru, H, 32, T});
  }
  rows.push_back({Cell::gru, 512, 32, 1});
  for (int B : {32, 64}) rows.push_back({Cell::gru, 1024, B, 1500});
  for (const Row& row : rows) {
    const Model m = one_layer(row.cell, row.H, row.H);
    for (const GpuEngine& e : kGpuEngines) {
      if (e.engine == Engine::gpu_persistent || e.algo != CudnnAlgo::standard) continue;
      for (Mode mode : {Mode::fwd, Mode::bwd, Mode::train}) {
        register_device("deepbench", cell_name(m), m, e, row.T, row.B, mode);
      }
    }
  }
  for (const Row& row : rows) {
    if (row.cell != Cell::lstm) continue;
    for (int B : {1, 2, 4}) {
      const Model m = one_layer(row.cell, row.H, row.H);
      for (const GpuEngine& e : kGpuEngines) {
        if (e.algo != CudnnAlgo::standard) continue;
        register_device("deepbench", "lstm", m, e, row.T, B, Mode::fwd);
      }
    }
  }
  // unroll: the seed's question, static vs dynamic (and persistent) as T grows.
  for (int T : {8, 28, 100, 500, 2000}) {
    for (int H : {128, 1024}) {
      for (int B : {1, 128}) {
        const Model m = one_layer(Cell::lstm, 28, H);
        for (const GpuEngine& e : kGpuEngines) {
          if (e.engine == Engine::cudnn) continue;
          register_device("unroll", "lstm", m, e, T, B, Mode::fwd);
        }
      }
    }
  }
  // floor: launch and barrier floors.
  for (int T : {100, 1000}) {
    for (const char* kind : {"barrier_cooperative", "barrier_flags", "launches", "graph"}) {
      configure(benchmark::RegisterBenchmark(
                    ("floor/" + std::string(kind) + "/T:" + std::to_string(T)).c_str(),
                    [=](benchmark::State& s) { run_floor(s, kind, T); }),
                true);
    }
  }
}

#else

void register_gpu_suites() {
  std::fprintf(stderr, "rnnx_bench: GPU suites not built (RNNX_CUDA=OFF)\n");
}

#endif

}  // namespace rnnx::bench
