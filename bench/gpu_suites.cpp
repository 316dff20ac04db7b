// The GPU suites (seed, latency, deepbench, unroll, floor): every GPU engine side by side on
// random data. Without a GPU (or without CUDA in the build) each case is skipped with the reason.
//
// What a GPU case measures: one call (a forward, a backward, or both, as the mode says), timed
// with CUDA events on a stream of its own after three warm-up calls; repetitions and minimum
// time as bench_common.h's settings say (by default 5 repetitions of at least 0.2 s, the median
// reported). The stream is idle when the start event is recorded, so the host's launch time is
// part of the call's.
//
// The L2 cache (RNNX_BENCH_L2, label "L2:cold" or "L2:warm"). cold, the default: before each
// timed call, untimed, twice the device's L2 size (cudaDevAttrL2CacheSize) is written, so the
// call starts with none of its operands in L2: inputs, weights, state, reserve, and the engine's
// own buffers. Rotating copies of the inputs and weights could not do that: cudnn and
// gpu_static copy x into buffers of their own and read their own copy of the weights (cuDNN's
// packed), which no rotation reaches, and a rotated weights pointer would defeat
// weights_unchanged and make them copy the weights inside every timed call. warm: the same
// inputs and weights call after call, the steady state of a loop serving one model, with
// whatever of them fits left in L2 by the previous call.
#include <cstdio>
#include <stdexcept>

#include "bench_common.h"

#if RNNX_WITH_CUDA
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <set>
#include <utility>

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

// For releases in destructors, which run while an exception unwinds and so must not throw: the
// failure is printed (a failed free mostly means an earlier error left the device unusable).
void report(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    std::fprintf(stderr, "rnnx_bench: %s: %s\n", what, cudaGetErrorString(status));
  }
}

const char* dtype_label(DType dtype) {
  return dtype == DType::bf16 ? "bf16" : dtype == DType::f16 ? "f16" : "f32";
}

// Every allocation and handle of a case is held by one of the owners below, so a case that
// fails part way (an exception, reported as SkipWithError by add_case) releases all of it.
class DeviceMemory {
 public:
  explicit DeviceMemory(std::size_t bytes) : bytes_(bytes) {
    check(cudaMalloc(&p_, std::max<std::size_t>(bytes, 1)), "cudaMalloc");
  }
  ~DeviceMemory() { report(cudaFree(p_), "cudaFree"); }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  void* get() const { return p_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  std::size_t bytes_ = 0;
};

// One array of float32, bfloat16 or float16 values, filled from the host (rounded to the dtype)
// or left as it is.
class DeviceArray {
 public:
  explicit DeviceArray(std::size_t n, DType dtype = DType::f32)
      : memory_(n * dtype_size(dtype)), n_(n), dtype_(dtype) {}
  DeviceArray(const std::vector<float>& v, DType dtype = DType::f32)
      : DeviceArray(v.size(), dtype) {
    if (dtype == DType::f32) {
      check(cudaMemcpy(memory_.get(), v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice),
            "upload");
      return;
    }
    std::vector<std::uint16_t> bits;
    for (float e : v) bits.push_back(dtype == DType::bf16 ? float_to_bf16(e) : float_to_f16(e));
    check(cudaMemcpy(memory_.get(), bits.data(), bits.size() * 2, cudaMemcpyHostToDevice),
          "upload");
  }
  std::size_t size() const { return n_; }
  Buffer out() const { return Buffer(memory_.get(), n_, dtype_); }
  ConstBuffer in() const { return ConstBuffer(memory_.get(), n_, dtype_); }

 private:
  DeviceMemory memory_;
  std::size_t n_ = 0;
  DType dtype_ = DType::f32;
};

class CudaStream {
 public:
  CudaStream() { check(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking), "cudaStreamCreate"); }
  ~CudaStream() { report(cudaStreamDestroy(s_), "cudaStreamDestroy"); }
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  cudaStream_t get() const { return s_; }
  void synchronize() const { check(cudaStreamSynchronize(s_), "cudaStreamSynchronize"); }

 private:
  cudaStream_t s_ = nullptr;
};

// Times what `work` enqueues on `stream` with a pair of CUDA events.
class EventTimer {
 public:
  EventTimer() {
    check(cudaEventCreate(&start_), "cudaEventCreate");
    try {
      check(cudaEventCreate(&stop_), "cudaEventCreate");
    } catch (...) {
      report(cudaEventDestroy(start_), "cudaEventDestroy");
      throw;
    }
  }
  ~EventTimer() {
    report(cudaEventDestroy(start_), "cudaEventDestroy");
    report(cudaEventDestroy(stop_), "cudaEventDestroy");
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
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

// Evicts the L2 cache (RNNX_BENCH_L2=cold) by writing a buffer of twice the device's L2 size.
// nvbench writes one L2's worth; twice leaves a margin, the L2's replacement policy being
// undocumented.
class L2Flush {
 public:
  L2Flush() : buffer_(2 * l2_bytes()) {}
  std::size_t bytes() const { return buffer_.bytes(); }
  void run(cudaStream_t stream) {
    check(cudaMemsetAsync(buffer_.get(), 0, buffer_.bytes(), stream), "cudaMemsetAsync (L2 flush)");
  }

 private:
  static std::size_t l2_bytes() {
    int device = 0, bytes = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    check(cudaDeviceGetAttribute(&bytes, cudaDevAttrL2CacheSize, device),
          "cudaDeviceGetAttribute(cudaDevAttrL2CacheSize)");
    // A device that reports no L2 would make every "cold" case warm without saying so.
    if (bytes <= 0) throw std::runtime_error("the device reports no L2 cache size");
    return static_cast<std::size_t>(bytes);
  }
  DeviceMemory buffer_;
};

void run_device(benchmark::State& state, Model m, const GpuEngine& which, int steps, int batch,
                Mode mode) {
  m.dtype = which.dtype;
  if (gpus().devices.empty()) {
    state.SkipWithError(("no usable GPU: " + gpus().why_none).c_str());
    return;
  }
  Options options;
  options.cudnn.algo = which.algo;
  options.inference_only = which.engine == Engine::gpu_persistent;
  Rnn rnn(m, which.engine, options);
  const bool train = mode != Mode::fwd;
  const std::size_t nx = std::size_t(steps) * batch * m.input_size;
  const std::size_t ny = std::size_t(steps) * batch * output_size(m);
  const float scale = 1.0f / std::sqrt(static_cast<float>(m.layers[0].hidden));
  const DeviceArray x(random_floats(nx, 1, 1), m.dtype);
  const DeviceArray w(random_floats(WeightLayout(m).size(), 2, scale), m.dtype);
  const DeviceArray dy(random_floats(ny, 3, 1), m.dtype);
  const DeviceArray y(ny, m.dtype), final_state(StateLayout(m, batch).size());
  std::optional<DeviceArray> dx, dw;
  std::optional<DeviceMemory> reserve;
  if (train) {
    dx.emplace(nx, m.dtype);
    dw.emplace(w.size(), m.dtype);
    reserve.emplace(rnn.reserve_bytes(steps, batch));
  }
  std::optional<L2Flush> flush;
  if (cold_l2()) flush.emplace();
  // The uploads above are synchronous copies on the legacy stream, which may return before the
  // data has landed, and the calls run on a non-blocking stream not ordered after it.
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  const CudaStream stream;
  EventTimer timer;
  Forward f;
  f.steps = steps;
  f.batch = batch;
  f.x = x.in();
  f.weights = w.in();
  f.y = y.out();
  f.final_state = final_state.out();
  f.weights_unchanged = true;  // the same weights every call, as in inference serving
  Backward b;
  b.dy = dy.in();
  Reserve r;
  if (train) {
    b.dx = dx->out();
    b.dweights = dw->out();
    r = Reserve{reserve->get(), reserve->bytes()};
  }
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
  rnn.prepare(steps, batch);
  for (int warm = 0; warm < 3; ++warm) {
    if (mode == Mode::bwd) rnn.forward_train(f, r, stream.get());
    call();
  }
  stream.synchronize();
  for (auto _ : state) {
    // Untimed: backward alone gets its forward_train (backward may use up the reserve), and a
    // cold case its L2 flush. Then the stream is left idle, so the start event is recorded at
    // once and the host's launch time is part of the call's, as for a caller that calls and
    // waits; otherwise the host would enqueue under the cover of the untimed work.
    if (mode == Mode::bwd) rnn.forward_train(f, r, stream.get());
    if (flush) flush->run(stream.get());
    stream.synchronize();
    state.SetIterationTime(timer.seconds(stream.get(), call));
  }
  set_counters(state, mode_flops(mode, forward_flops(m, steps, batch)), steps);
  const PlanStats stats = rnn.stats();
  state.counters["workspace_MB"] = static_cast<double>(stats.workspace_bytes) / (1 << 20);
  if (which.engine == Engine::gpu_static) {
    state.counters["graph_nodes"] = static_cast<double>(stats.graph.nodes);
    state.counters["graph_build_ms"] = stats.graph.build_ms;
  }
  if (flush) state.counters["l2_flush_MB"] = static_cast<double>(flush->bytes()) / (1 << 20);
  state.SetLabel(flush ? "L2:cold" : "L2:warm");
}

std::string cell_name(const Model& m) {
  switch (cell_kind(m.layers[0])) {
    case CellKind::lstm:
      return "lstm";
    case CellKind::gru_reset_after:
      return "gru";
    case CellKind::gru_reset_before:
      return "gru_before";
    case CellKind::rnn_tanh:
      return "rnn_tanh";
    case CellKind::rnn_relu:
      return "rnn_relu";
  }
  return "cell";
}

// One layer of `cell` (the RNN with tanh, the GRU resetting after the matmul).
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
  add_case(
      case_name(suite, which.name, cell, H, batch, steps, to_string(mode),
                dtype_label(which.dtype)),
      [=](benchmark::State& s) { run_device(s, m, which, steps, batch, mode); }, true);
}

// Owners of a CUDA Graph and its executable form.
struct GraphDeleter {
  void operator()(cudaGraph_t g) const { report(cudaGraphDestroy(g), "cudaGraphDestroy"); }
};
struct GraphExecDeleter {
  void operator()(cudaGraphExec_t e) const {
    report(cudaGraphExecDestroy(e), "cudaGraphExecDestroy");
  }
};
using Graph = std::unique_ptr<CUgraph_st, GraphDeleter>;
using GraphExec = std::unique_ptr<CUgraphExec_st, GraphExecDeleter>;

// A stream capture that ends however the capturing code exits. One left open by an exception
// would make this thread's later CUDA calls fail (cudaStreamCaptureModeThreadLocal forbids
// them during a capture), the frees of the case and the next cases included.
class Capture {
 public:
  explicit Capture(cudaStream_t stream) : stream_(stream) {
    check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal),
          "cudaStreamBeginCapture");
  }
  ~Capture() {
    if (stream_ == nullptr) return;
    cudaGraph_t graph = nullptr;
    const cudaError_t status = cudaStreamEndCapture(stream_, &graph);
    // Invalidated is what a failed launch inside the capture leaves; that failure is the one
    // reported.
    if (status != cudaErrorStreamCaptureInvalidated) report(status, "cudaStreamEndCapture");
    if (graph != nullptr) report(cudaGraphDestroy(graph), "cudaGraphDestroy");
  }
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;
  Graph end() {
    cudaGraph_t graph = nullptr;
    const cudaStream_t stream = stream_;
    stream_ = nullptr;
    check(cudaStreamEndCapture(stream, &graph), "cudaStreamEndCapture");
    return Graph{graph};
  }

 private:
  cudaStream_t stream_;
};

// floor: what the engines are held against. A grid of one block per multiprocessor meeting the
// persistent engine's barrier T times (both barriers), and T empty launches, plain and replayed
// from a CUDA Graph. No data, so no L2 flush.
void run_floor(benchmark::State& state, const std::string& kind, int steps) {
  if (gpus().devices.empty()) {
    state.SkipWithError(("no usable GPU: " + gpus().why_none).c_str());
    return;
  }
  const CudaStream stream;
  EventTimer timer;
  const int blocks = gpus().devices.front().multiprocessors;
  const DeviceMemory words(2 * sizeof(unsigned));
  Graph graph;
  GraphExec exec;
  if (kind == "graph") {
    {
      Capture capture(stream.get());
      for (int t = 0; t < steps; ++t) check(gpu::launch_empty(stream.get()), "empty kernel");
      graph = capture.end();
    }
    cudaGraphExec_t instantiated = nullptr;
    check(cudaGraphInstantiate(&instantiated, graph.get(), 0), "cudaGraphInstantiate");
    exec.reset(instantiated);
  }
  auto work = [&] {
    if (kind == "launches") {
      for (int t = 0; t < steps; ++t) check(gpu::launch_empty(stream.get()), "empty kernel");
    } else if (kind == "graph") {
      check(cudaGraphLaunch(exec.get(), stream.get()), "cudaGraphLaunch");
    } else {
      check(cudaMemsetAsync(words.get(), 0, words.bytes(), stream.get()), "cudaMemsetAsync");
      const gpu::GridBarrier barrier =
          kind == "barrier_flags" ? gpu::GridBarrier::flags : gpu::GridBarrier::cooperative;
      check(gpu::launch_barrier_only(barrier, blocks, steps, static_cast<unsigned*>(words.get()),
                                     stream.get()),
            "barrier");
    }
  };
  for (int k = 0; k < 3; ++k) timer.seconds(stream.get(), work);  // warm-up
  for (auto _ : state) state.SetIterationTime(timer.seconds(stream.get(), work));
  state.counters["per_step"] = benchmark::Counter(
      steps, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
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
  // latency: one layer, T = 100, forward, every engine and cuDNN algorithm; the vanilla RNN
  // (tanh) at two sizes, where its one gate makes the recurrence nearly all barrier and launch.
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
  for (int H : {256, 1024}) {
    const Model m = one_layer(Cell::rnn, H, H);
    for (const GpuEngine& e : kGpuEngines) {
      register_device("latency", cell_name(m), m, e, 100, 16, Mode::fwd);
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
  // Inference at B in {1, 2, 4} once per (H, T) of the LSTM rows, which share an (H, T) across
  // their batch sizes.
  std::set<std::pair<int, int>> inference;
  for (const Row& row : rows) {
    if (row.cell == Cell::lstm) inference.insert({row.H, row.T});
  }
  for (auto [H, T] : inference) {
    const Model m = one_layer(Cell::lstm, H, H);
    for (int B : {1, 2, 4}) {
      for (const GpuEngine& e : kGpuEngines) {
        if (e.algo != CudnnAlgo::standard) continue;
        register_device("deepbench", "lstm", m, e, T, B, Mode::fwd);
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
      add_case(
          "floor/" + std::string(kind) + "/T:" + std::to_string(T),
          [=](benchmark::State& s) { run_floor(s, kind, T); }, true);
    }
  }
}

#else

void register_gpu_suites() {
  std::fprintf(stderr, "rnnx_bench: GPU suites not built (RNNX_CUDA=OFF)\n");
}

#endif

}  // namespace rnnx::bench
