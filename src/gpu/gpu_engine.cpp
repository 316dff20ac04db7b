#include "gpu/gpu_engine.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <list>

#include "fused/network.h"
#include "gpu/backend.h"
#include "gpu/capture_gate.h"
#include "gpu/cuda_check.h"
#include "gpu/plan_support.h"
#include "rnnx/error.h"
#include "rnnx/layout.h"
#include "validate.h"

namespace rnnx {

namespace {

using gpu::Carver;
using gpu::DeviceGuard;
using gpu::GpuBackend;
constexpr int kSlots = static_cast<int>(fused::Slot::count);
// Per cuBLAS handle: set explicitly so that stream capture never allocates; 32 MiB is NVIDIA's
// recommendation for Hopper.
constexpr std::size_t kCublasWorkspace = std::size_t(32) << 20;
// gpu_static keeps the graphs of the shape (T, B) it last ran: one per pass and reserve address,
// at most this many (the least recently used goes). Another shape moves every buffer the graphs
// point into, so it drops them and captures anew.
constexpr std::size_t kMaxGraphs = 8;

// The pieces of the workspace for one shape (T, B). All device memory.
template <class T>
struct Buffers {
  T* slots[2][kSlots] = {};  // scratch of the forward and backward directions' backends
  std::size_t capacity[2][kSlots] = {};
  void* cublas[2] = {};
  std::size_t cublas_bytes[2] = {};
  int* len = nullptr;                                                      // [B] lengths
  T *x_tm = nullptr, *y_tm = nullptr, *dy_tm = nullptr, *dx_tm = nullptr;  // time-major
  T *state = nullptr, *zeros = nullptr, *dinit = nullptr, *dW = nullptr;
  // gpu_static: what the graphs read and write, at fixed addresses.
  T *x_in = nullptr, *w_in = nullptr, *init_in = nullptr, *dy_in = nullptr, *dfinal_in = nullptr;
  T *y_out = nullptr, *dx_out = nullptr;

  void carve(Carver& c, const Model& m, int steps, int batch, bool graph_io) {
    fused::ScratchSizes sizes;
    fused::scratch_sizes(m, steps, batch, sizes);
    // The backward direction's backend exists only for bidirectional models, and never holds
    // the layer outputs or input gradients (fused/network.h asks the forward one for those).
    bool bidirectional = false;
    for (const Layer& layer : m.layers) bidirectional = bidirectional || layer.bidirectional;
    for (int d = 0; d < 2; ++d) {
      for (int k = 0; k < kSlots; ++k) {
        const auto slot = static_cast<fused::Slot>(k);
        const bool network_only = slot == fused::Slot::layer_out_a ||
                                  slot == fused::Slot::layer_out_b || slot == fused::Slot::grad_a ||
                                  slot == fused::Slot::grad_b;
        capacity[d][k] = d == 0 || (bidirectional && !network_only) ? sizes[k] : 0;
        slots[d][k] = c.take<T>(capacity[d][k]);
      }
    }
    for (int d = 0; d < 2; ++d) {
      cublas_bytes[d] = d == 0 || bidirectional ? kCublasWorkspace : 0;
      cublas[d] = c.take<char>(cublas_bytes[d]);
    }
    len = c.take<int>(batch);
    const std::size_t tb = std::size_t(steps) * batch, I = m.input_size, D = output_size(m);
    const std::size_t S = StateLayout(m, batch).size(), W = WeightLayout(m).size();
    x_tm = c.take<T>(tb * I);
    y_tm = c.take<T>(tb * D);
    dy_tm = c.take<T>(tb * D);
    dx_tm = c.take<T>(tb * I);
    state = c.take<T>(S);
    zeros = c.take<T>(S);
    dinit = c.take<T>(S);
    dW = c.take<T>(W);
    if (graph_io) {
      x_in = c.take<T>(tb * I);
      w_in = c.take<T>(W);
      init_in = c.take<T>(S);
      dy_in = c.take<T>(tb * D);
      dfinal_in = c.take<T>(S);
      y_out = c.take<T>(tb * D);
      dx_out = c.take<T>(tb * I);
    }
  }
};

// Sources and destinations of one pass; null destinations are skipped.
template <class T>
struct PassIo {
  const T* x = nullptr;  // in the model's layout
  const T* weights = nullptr;
  const T* init = nullptr;    // null: zeros
  const T* dy = nullptr;      // in the model's layout
  const T* dfinal = nullptr;  // null: zeros
  T* y = nullptr;             // in the model's layout
  T* final_state = nullptr;
  T* dx = nullptr;  // in the model's layout
  T* dinit = nullptr;
  T* dweights = nullptr;
  bool accumulate = false;
  T* reserve = nullptr;
};

enum class Pass { inference, training, backward };

struct GraphEntry {
  Pass pass;
  int steps, batch;
  const void* reserve;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
};

template <class T>
class GpuEngine final : public EngineImpl {
 public:
  GpuEngine(const Model& model, Engine kind, bool tf32) : EngineImpl(model), kind_(kind) {
    RNNX_CUDA_CHECK(cudaGetDevice(&device_));
    try {
      RNNX_CUDA_CHECK(cudaStreamCreateWithFlags(&second_, cudaStreamNonBlocking));
      RNNX_CUDA_CHECK(cudaStreamCreateWithFlags(&capture_, cudaStreamNonBlocking));
      for (int d = 0; d < 2; ++d) {
        gpu::check_cublas(cublasCreate(&cublas_[d]), "cublasCreate");
        gpu::check_cublas(
            cublasSetMathMode(cublas_[d], tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
            "cublasSetMathMode");
        RNNX_CUDA_CHECK(cudaEventCreateWithFlags(&events_[d], cudaEventDisableTiming));
      }
    } catch (...) {
      release();
      throw;
    }
  }

  ~GpuEngine() override { release(); }

  Engine kind() const noexcept override { return kind_; }

  std::size_t reserve_bytes(int steps, int batch) const override {
    return fused::reserve_elements(model(), steps, batch, nullptr) * sizeof(T);
  }

  std::size_t workspace_bytes(int steps, int batch) const override {
    Carver measure(nullptr);
    Buffers<T>().carve(measure, model(), steps, batch, graphs_enabled());
    return measure.used();
  }

  void prepare(int steps, int batch) override {
    fused::check_gemm_limits(steps, batch, kind_);
    const DeviceGuard guard(device_);
    call_order_.wait();
    ensure_workspace(steps, batch);
    if (graphs_enabled()) graph_for(Pass::inference, steps, batch, nullptr);
  }

  PlanStats stats() const override {
    PlanStats s;
    s.workspace_bytes = workspace_.bytes();
    s.graph.graphs = static_cast<int>(graphs_.size());
    s.graph.nodes = last_graph_nodes_;
    s.graph.build_ms = last_graph_build_ms_;
    s.graph.capture_retries = capture_retries_;
    return s;
  }

  void forward(const Forward& args, Stream stream) override {
    run(Pass::inference, args, nullptr, nullptr, stream);
  }
  void forward_train(const Forward& args, Reserve reserve, Stream stream) override {
    run(Pass::training, args, nullptr, static_cast<T*>(reserve.data), stream);
  }
  void backward(const Forward& args, const Backward& grads, Reserve reserve,
                Stream stream) override {
    run(Pass::backward, args, &grads, static_cast<T*>(reserve.data), stream);
  }

 private:
  bool graphs_enabled() const { return kind_ == Engine::gpu_static; }

  void check_memory(const Forward& args, const Backward* grads,
                    const void* reserve) const override {
    gpu::check_call_memory(args, grads, reserve, device_, kind_);
  }

  // Grows the workspace for this shape if needed (between calls, never inside a pass), and
  // carves it into buf_.
  void ensure_workspace(int steps, int batch) {
    Carver measure(nullptr);
    Buffers<T>().carve(measure, model(), steps, batch, graphs_enabled());
    if (measure.used() > workspace_.bytes()) {
      // Forget what points into the old block first (graphs and carved pieces), so that a
      // failure below leaves a plan that allocates afresh next time.
      drop_graphs();
      carved_steps_ = carved_batch_ = 0;
      weights_in_from_ = nullptr;
      buf_ = Buffers<T>{};
      workspace_.grow(measure.used());
    }
    if (steps != carved_steps_ || batch != carved_batch_) {
      // Another shape moves the pieces, and graphs of other shapes with them.
      if (carved_steps_ != 0) drop_graphs();
      weights_in_from_ = nullptr;  // w_in moves with the other pieces
      Carver carver(workspace_.data());
      buf_.carve(carver, model(), steps, batch, graphs_enabled());
      carved_steps_ = steps;
      carved_batch_ = batch;
    }
  }

  void bind(cudaStream_t main) {
    fw_.bind(main, cublas_[0], events_[0], buf_.slots[0], buf_.capacity[0]);
    bw_.bind(second_, cublas_[1], events_[1], buf_.slots[1], buf_.capacity[1]);
    for (int d = 0; d < 2; ++d) {
      gpu::check_cublas(cublasSetWorkspace(cublas_[d], buf_.cublas[d], buf_.cublas_bytes[d]),
                        "cublasSetWorkspace");
    }
  }

  // Enqueues one pass on fw_'s stream (and bw_'s, joined back).
  void enqueue(Pass pass, const PassIo<T>& io, int steps, int batch, int max_len) {
    const Model& m = model();
    const std::size_t S = StateLayout(m, batch).size(), W = WeightLayout(m).size();
    const int I = m.input_size, D = output_size(m);
    const cudaStream_t s = fw_.stream();
    const fused::Sequences seq{batch, max_len, buf_.len};
    RNNX_CUDA_CHECK(gpu::to_time_major<T>(s, io.x, steps, batch, I, m.layout, buf_.len, buf_.x_tm));
    if (pass != Pass::backward) {
      const T* init = io.init;
      if (init == nullptr) {
        fw_.zero(buf_.zeros, S);
        init = buf_.zeros;
      }
      fused::network_forward(m, seq, steps, buf_.x_tm, io.weights, init, buf_.y_tm, buf_.state,
                             pass == Pass::training ? io.reserve : nullptr, fw_, bw_);
      RNNX_CUDA_CHECK(gpu::from_time_major<T>(s, buf_.y_tm, steps, batch, D, m.layout, io.y));
      if (io.final_state != nullptr) fw_.copy(buf_.state, S, io.final_state);
      return;
    }
    RNNX_CUDA_CHECK(
        gpu::to_time_major<T>(s, io.dy, steps, batch, D, m.layout, buf_.len, buf_.dy_tm));
    const std::size_t tb = std::size_t(steps) * batch;
    for (int d = 0; d < 2; ++d) {
      if (buf_.capacity[d][static_cast<int>(fused::Slot::ones)] == 0) continue;
      RNNX_CUDA_CHECK(
          gpu::fill<T>(s, buf_.slots[d][static_cast<int>(fused::Slot::ones)], tb, T(1)));
    }
    const T* dfinal = io.dfinal;
    if (dfinal == nullptr) {
      fw_.zero(buf_.zeros, S);
      dfinal = buf_.zeros;
    }
    fw_.zero(buf_.dW, W);
    fused::network_backward(m, seq, steps, buf_.x_tm, io.weights, io.reserve, buf_.dy_tm, dfinal,
                            buf_.dx_tm, buf_.dinit, buf_.dW, fw_, bw_);
    if (io.dx != nullptr) {
      RNNX_CUDA_CHECK(gpu::from_time_major<T>(s, buf_.dx_tm, steps, batch, I, m.layout, io.dx));
    }
    if (io.dinit != nullptr) fw_.copy(buf_.dinit, S, io.dinit);
    if (io.dweights != nullptr) {
      RNNX_CUDA_CHECK(gpu::write_or_add<T>(s, buf_.dW, W, io.accumulate, io.dweights));
    }
  }

  void run(Pass pass, const Forward& args, const Backward* grads, T* reserve, Stream stream) {
    fused::check_gemm_limits(args.steps, args.batch, kind_);
    const DeviceGuard guard(device_);
    const cudaStream_t s = stream;
    const gpu::CallScope scope(call_order_, s);
    ensure_workspace(args.steps, args.batch);
    const int max_len = lengths_.stage(args, buf_.len, s);

    PassIo<T> io;
    io.reserve = reserve;
    auto in = [](ConstBuffer b) { return static_cast<const T*>(b.data); };
    auto out = [](Buffer b) { return static_cast<T*>(b.data); };
    if (!graphs_enabled()) {
      bind(s);
      io.x = in(args.x);
      io.weights = in(args.weights);
      io.init = in(args.init);
      io.y = out(args.y);
      io.final_state = out(args.final_state);
      if (grads != nullptr) {
        io.dy = in(grads->dy);
        io.dfinal = in(grads->dfinal);
        io.dx = out(grads->dx);
        io.dinit = out(grads->dinit);
        io.dweights = out(grads->dweights);
        io.accumulate = grads->accumulate;
      }
      enqueue(pass, io, args.steps, args.batch, max_len);
      return;
    }

    // gpu_static: inputs to the graph's fixed addresses, replay, results out.
    const Model& m = model();
    const std::size_t tb = std::size_t(args.steps) * args.batch;
    const std::size_t S = StateLayout(m, args.batch).size(), W = WeightLayout(m).size();
    const std::size_t I = m.input_size, D = output_size(m);
    auto to = [&](const void* from, T* dst, std::size_t n) {
      if (from == nullptr) {
        RNNX_CUDA_CHECK(cudaMemsetAsync(dst, 0, n * sizeof(T), s));
      } else {
        RNNX_CUDA_CHECK(cudaMemcpyAsync(dst, from, n * sizeof(T), cudaMemcpyDeviceToDevice, s));
      }
    };
    to(args.x.data, buf_.x_in, tb * I);
    // The caller's promise (Forward::weights_unchanged) lets a replay read the weights the
    // previous call copied, if they are still there: same source buffer, w_in not moved since.
    if (!args.weights_unchanged || weights_in_from_ != args.weights.data) {
      weights_in_from_ = nullptr;  // until the copy below is enqueued
      to(args.weights.data, buf_.w_in, W);
      weights_in_from_ = args.weights.data;
    }
    if (pass != Pass::backward) to(args.init.data, buf_.init_in, S);
    if (grads != nullptr) {
      to(grads->dy.data, buf_.dy_in, tb * D);
      to(grads->dfinal.data, buf_.dfinal_in, S);
    }
    const GraphEntry& graph = graph_for(pass, args.steps, args.batch, reserve);
    RNNX_CUDA_CHECK(cudaGraphLaunch(graph.exec, s));
    auto back = [&](const T* from, Buffer dst, std::size_t n) {
      if (dst.empty()) return;
      RNNX_CUDA_CHECK(cudaMemcpyAsync(dst.data, from, n * sizeof(T), cudaMemcpyDeviceToDevice, s));
    };
    if (pass != Pass::backward) {
      back(buf_.y_out, args.y, tb * D);
      back(buf_.state, args.final_state, S);
    } else {
      back(buf_.dx_out, grads->dx, tb * I);
      back(buf_.dinit, grads->dinit, S);
      RNNX_CUDA_CHECK(gpu::write_or_add<T>(s, buf_.dW, W, grads->accumulate,
                                           static_cast<T*>(grads->dweights.data)));
    }
  }

  // The graph of one pass over the fixed buffers, captured on first use. It runs every step
  // (the static unroll): sequences past their length are skipped inside the kernels.
  const GraphEntry& graph_for(Pass pass, int steps, int batch, const void* reserve) {
    for (auto it = graphs_.begin(); it != graphs_.end(); ++it) {
      if (it->pass == pass && it->steps == steps && it->batch == batch && it->reserve == reserve) {
        graphs_.splice(graphs_.begin(), graphs_, it);  // most recently used first
        return graphs_.front();
      }
    }
    const auto start = std::chrono::steady_clock::now();
    GraphEntry entry{pass, steps, batch, reserve};
    PassIo<T> io;
    io.x = buf_.x_in;
    io.weights = buf_.w_in;
    io.init = buf_.init_in;
    io.y = buf_.y_out;
    io.dy = buf_.dy_in;
    io.dfinal = buf_.dfinal_in;
    io.dx = buf_.dx_out;
    io.reserve = static_cast<T*>(const_cast<void*>(reserve));
    bind(capture_);
    entry.graph = gpu::capture_graph(
        capture_, [&] { enqueue(pass, io, steps, batch, steps); }, capture_retries_);
    std::size_t nodes = 0;
    try {
      RNNX_CUDA_CHECK(cudaGraphInstantiate(&entry.exec, entry.graph, 0));
      RNNX_CUDA_CHECK(cudaGraphGetNodes(entry.graph, nullptr, &nodes));
    } catch (...) {
      destroy(entry);
      throw;
    }
    last_graph_nodes_ = nodes;
    last_graph_build_ms_ =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (graphs_.size() >= kMaxGraphs) {
      destroy(graphs_.back());
      graphs_.pop_back();
    }
    graphs_.push_front(entry);
    return graphs_.front();
  }

  static void destroy(GraphEntry& g) {
    if (g.exec != nullptr) cudaGraphExecDestroy(g.exec);
    if (g.graph != nullptr) cudaGraphDestroy(g.graph);
  }

  void drop_graphs() {
    for (GraphEntry& g : graphs_) destroy(g);
    graphs_.clear();
  }

  // Gives back everything the plan holds, on its device, leaving the caller's device current.
  // Best effort: it runs in the destructor, which cannot report.
  void release() noexcept {
    int previous = device_;
    cudaGetDevice(&previous);
    cudaSetDevice(device_);
    call_order_.wait();
    drop_graphs();
    for (int d = 0; d < 2; ++d) {
      if (cublas_[d] != nullptr) cublasDestroy(cublas_[d]);
      if (events_[d] != nullptr) cudaEventDestroy(events_[d]);
      cublas_[d] = nullptr;
      events_[d] = nullptr;
    }
    workspace_.release();
    for (cudaStream_t* st : {&second_, &capture_}) {
      if (*st != nullptr) cudaStreamDestroy(*st);
      *st = nullptr;
    }
    cudaSetDevice(previous);
  }

  Engine kind_;
  int device_ = 0;
  cudaStream_t second_ = nullptr, capture_ = nullptr;
  cublasHandle_t cublas_[2] = {};
  cudaEvent_t events_[2] = {};
  gpu::LengthStager lengths_;
  gpu::CallOrder call_order_;
  gpu::DeviceWorkspace workspace_;
  int carved_steps_ = 0, carved_batch_ = 0;
  Buffers<T> buf_;
  GpuBackend<T> fw_, bw_;
  std::list<GraphEntry> graphs_;
  std::size_t last_graph_nodes_ = 0;
  double last_graph_build_ms_ = 0;
  int capture_retries_ = 0;
  // gpu_static: the caller's weights buffer that w_in holds a copy of (null: none, or unknown).
  const void* weights_in_from_ = nullptr;
};

}  // namespace

std::unique_ptr<EngineImpl> make_gpu_engine(const Model& model, Engine engine,
                                            const Options& options) {
  check_not_half(model, engine);
  if (options.allow_tf32 && model.dtype != DType::f32) {
    throw Error(Status::unsupported,
                "Options.allow_tf32: TF32 applies to float32 models; this "
                "model is float64");
  }
  if (model.dtype == DType::f64) {
    return std::make_unique<GpuEngine<double>>(model, engine, false);
  }
  return std::make_unique<GpuEngine<float>>(model, engine, options.allow_tf32);
}

}  // namespace rnnx
