#include "gpu/persistent_engine.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "fused/reserve.h"
#include "gpu/cublas_gemm.h"
#include "gpu/cuda_check.h"
#include "gpu/persistent_setup.h"
#include "gpu/plan_support.h"
#include "kernels/fused_kernels.h"
#include "kernels/persistent_kernels.h"
#include "rnnx/error.h"
#include "rnnx/layout.h"

namespace rnnx {

namespace {

using gpu::Carver;
using gpu::DeviceGuard;
using gpu::GridBarrier;

constexpr std::size_t kCublasWorkspace = std::size_t(32) << 20;

const char* cell_name(CellKind cell) {
  switch (cell) {
    case CellKind::lstm:
      return "LSTM";
    case CellKind::gru_reset_after:
      return "GRU (reset after)";
    case CellKind::gru_reset_before:
      return "GRU (reset before)";
    case CellKind::rnn_tanh:
      return "vanilla RNN (tanh)";
    case CellKind::rnn_relu:
      return "vanilla RNN (relu)";
  }
  return "cell";
}

class PersistentEngine final : public EngineImpl {
 public:
  PersistentEngine(const Model& model, const Options& options)
      : EngineImpl(model), settings_(persistent_settings(options.persistent)) {
    RNNX_CUDA_CHECK(cudaGetDevice(&device_index_));
    device_ = persistent_device(device_index_);
    barrier_ = persistent_grid_barrier(settings_.barrier.value, device_);
    switch (barrier_) {
      case GridBarrier::cooperative:
        stats_.grid_barrier = PersistentBarrier::cooperative;
        break;
      case GridBarrier::flags:
        stats_.grid_barrier = PersistentBarrier::flags;
        break;
    }
    // The kernels' shared-memory ceiling and what the layers' tensor cores depend on, once per
    // plan rather than per launch.
    std::set<CellKind> prepared;
    for (int l = 0; l < static_cast<int>(model.layers.size()); ++l) {
      const Layer& layer = model.layers[l];
      const CellKind cell = cell_kind(layer);
      if (prepared.insert(cell).second) {
        prepare_persistent_kernel_for(cell, barrier_, model.dtype, device_);
      }
      no_mma_.push_back(persistent_no_tensor_cores(cell, barrier_, model.dtype, layer.hidden));
      const PersistentFit f =
          persistent_fit_frugal(cell, model.dtype, barrier_, layer.hidden, 1, device_);
      if (!f.why.empty()) {
        throw Error(Status::unsupported,
                    "engine gpu_persistent: model.layers[" + std::to_string(l) + "].hidden = " +
                        std::to_string(layer.hidden) + " does not fit on " + device_.name + ": " +
                        f.why + "; a " + cell_name(cell) + " layer fits hidden <= " +
                        std::to_string(persistent_hidden_limit(cell, 1, device_index_, model.dtype,
                                                               barrier_)) +
                        " at batch 1 (use gpu_dynamic or cudnn beyond)");
      }
    }
    gpu::check_cublas(cublasCreate(&cublas_), "cublasCreate");
    const cublasStatus_t math = cublasSetMathMode(
        cublas_, options.allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    if (math != CUBLAS_STATUS_SUCCESS) {
      cublasDestroy(cublas_);
      gpu::check_cublas(math, "cublasSetMathMode");
    }
  }

  ~PersistentEngine() override {
    int previous = device_index_;
    cudaGetDevice(&previous);
    cudaSetDevice(device_index_);
    call_order_.wait();
    cublasDestroy(cublas_);
    workspace_.release();
    cudaSetDevice(previous);
  }

  Engine kind() const noexcept override { return Engine::gpu_persistent; }

  std::size_t reserve_bytes(int, int) const override { return 0; }

  std::size_t workspace_bytes(int steps, int batch) const override {
    return carve(nullptr, steps, batch);
  }

  void prepare(int steps, int batch) override {
    const DeviceGuard guard(device_index_);
    call_order_.wait();
    ensure_workspace(steps, batch);
    record_choices(fits_for(batch));
  }

  PlanStats stats() const override {
    PlanStats s;
    s.workspace_bytes = workspace_.bytes();
    s.persistent = stats_;
    return s;
  }

  void check_memory(const Forward& args, const Backward* grads,
                    const void* reserve) const override {
    gpu::check_call_memory(args, grads, reserve, device_index_, Engine::gpu_persistent);
  }

  void forward(const Forward& args, Stream stream) override;

  void forward_train(const Forward&, Reserve, Stream) override { refuse_training(); }
  void backward(const Forward&, const Backward&, Reserve, Stream) override { refuse_training(); }

 private:
  [[noreturn]] static void refuse_training() {
    throw Error(Status::unsupported,
                "engine gpu_persistent runs inference (forward) only; train with gpu_dynamic, "
                "gpu_static or cudnn");
  }

  // x, the layers' outputs and y hold the storage type (float32, bfloat16 or float16).
  struct Buffers {
    int* len = nullptr;
    char *x = nullptr, *out[2] = {}, *y = nullptr;
    // Per direction (both may run in one grid): projections, biases, states, r * h.
    float *proj[2] = {}, *bias[2] = {}, *wide_bias[2] = {}, *h[2][2] = {}, *rh[2] = {};
    float *zeros = nullptr, *state = nullptr;
    unsigned* barrier = nullptr;
    void* cublas = nullptr;
  };

  std::size_t carve(Buffers* buf, int steps, int batch) const {
    Carver c(buf == nullptr ? nullptr : workspace_.data());
    Buffers b;
    const std::size_t tb = std::size_t(steps) * batch;
    std::size_t gh = 0, h = 0, d = 0;
    for (const Layer& layer : model().layers) {
      gh = std::max<std::size_t>(gh, std::size_t(gates(layer.cell)) * layer.hidden);
      h = std::max<std::size_t>(h, layer.hidden);
      d = std::max<std::size_t>(d, output_size(layer));
    }
    const std::size_t es = dtype_size(model().dtype);
    b.len = c.take<int>(batch);
    b.x = c.take<char>(tb * model().input_size * es);
    for (char*& o : b.out) o = c.take<char>(tb * d * es);
    b.y = c.take<char>(tb * output_size(model()) * es);
    // The second direction's set only for a model with a bidirectional layer.
    const bool bidirectional = std::any_of(model().layers.begin(), model().layers.end(),
                                           [](const Layer& layer) { return layer.bidirectional; });
    for (int k = 0; k < (bidirectional ? 2 : 1); ++k) {
      b.proj[k] = c.take<float>(tb * gh);
      for (float*& v : b.h[k]) v = c.take<float>(std::size_t(batch) * h);
      b.rh[k] = c.take<float>(std::size_t(batch) * h);
      b.bias[k] = c.take<float>(gh);
      b.wide_bias[k] = c.take<float>(2 * gh);  // bx and bh in float32, for 16-bit models
    }
    b.zeros = c.take<float>(std::size_t(batch) * h);
    b.state = c.take<float>(StateLayout(model(), batch).size());
    b.barrier = c.take<unsigned>(2);
    b.cublas = c.take<char>(kCublasWorkspace);
    if (buf != nullptr) *buf = b;
    return c.used();
  }

  void ensure_workspace(int steps, int batch) {
    const std::size_t need = carve(nullptr, steps, batch);
    workspace_.grow(need);
    carve(&buf_, steps, batch);
  }

  // How each layer runs at a batch size (persistent_layouts), computed once per batch size.
  const std::vector<PersistentFit>& fits_for(int batch) {
    if (batch != layouts_batch_) {
      layouts_batch_ = 0;  // until the layouts below are complete
      layouts_ = persistent_layouts(model(), batch, settings_, no_mma_, barrier_, device_);
      layouts_batch_ = batch;
    }
    return layouts_.fits;
  }

  // What PlanStats reports of the layers' layouts.
  void record_choices(const std::vector<PersistentFit>& fits) {
    stats_.tensor_core_layers = static_cast<int>(
        std::count_if(fits.begin(), fits.end(), [](const PersistentFit& f) { return f.mma; }));
    stats_.paired_layers = static_cast<int>(std::count_if(
        fits.begin(), fits.end(), [](const PersistentFit& f) { return f.directions == 2; }));
    stats_.layer_choices.clear();
    for (const std::string& note : layouts_.notes) {
      stats_.layer_choices += (stats_.layer_choices.empty() ? "" : "\n") + note;
    }
  }

  const PersistentSettings settings_;  // the options, after the environment's overrides
  int device_index_ = 0;
  PersistentDevice device_;
  std::vector<std::string> no_mma_;  // per layer: why tensor cores cannot run it at all
  PersistentLayouts layouts_;        // at batch layouts_batch_ (0: none yet)
  int layouts_batch_ = 0;
  GridBarrier barrier_ = GridBarrier::cooperative;
  PersistentStats stats_;  // the layouts of the last call or prepare
  cublasHandle_t cublas_ = nullptr;
  gpu::DeviceWorkspace workspace_;
  Buffers buf_;
  gpu::LengthStager lengths_;
  gpu::CallOrder call_order_;
};

void PersistentEngine::forward(const Forward& args, Stream stream) {
  fused::check_gemm_limits(args.steps, args.batch, Engine::gpu_persistent);
  const DeviceGuard guard(device_index_);  // the fits below ask the plan's device
  const Model& m = model();
  const std::vector<PersistentFit>& fits = fits_for(args.batch);
  for (int l = 0; l < static_cast<int>(m.layers.size()); ++l) {
    const Layer& layer = m.layers[l];
    if (!fits[l].why.empty()) {
      throw Error(Status::unsupported,
                  "engine gpu_persistent: Forward.batch = " + std::to_string(args.batch) +
                      " does not fit for model.layers[" + std::to_string(l) + "] on " +
                      device_.name + ": " + fits[l].why + "; the largest batch is " +
                      std::to_string(persistent_batch_limit(cell_kind(layer), layer.hidden,
                                                            device_index_, m.dtype, barrier_)));
    }
  }
  record_choices(fits);
  const cudaStream_t s = stream;
  const gpu::CallScope scope(call_order_, s);
  ensure_workspace(args.steps, args.batch);
  gpu::check_cublas(cublasSetStream(cublas_, s), "cublasSetStream");
  gpu::check_cublas(cublasSetWorkspace(cublas_, buf_.cublas, kCublasWorkspace),
                    "cublasSetWorkspace");
  const int max_len = lengths_.stage(args, buf_.len, s);

  const WeightLayout wl(m);
  const StateLayout sl(m, args.batch);
  const int B = args.batch, T = args.steps, L = static_cast<int>(m.layers.size());
  const std::size_t tb = std::size_t(T) * B, es = dtype_size(m.dtype);
  const bool wide = m.dtype == DType::f32;
  // Weights, x and y in the storage type, addressed in bytes; init and final_state float32.
  const char* W = static_cast<const char*>(args.weights.data);
  auto weights_at = [&](int l, Dir dir, Param p) { return W + wl.offset(l, dir, p) * es; };
  const float* init = static_cast<const float*>(args.init.data);
  if (wide) {
    RNNX_CUDA_CHECK(gpu::to_time_major<float>(s, static_cast<const float*>(args.x.data), T, B,
                                              m.input_size, m.layout, buf_.len,
                                              reinterpret_cast<float*>(buf_.x)));
  } else {
    RNNX_CUDA_CHECK(gpu::to_time_major<std::uint16_t>(
        s, static_cast<const std::uint16_t*>(args.x.data), T, B, m.input_size, m.layout, buf_.len,
        reinterpret_cast<std::uint16_t*>(buf_.x)));
  }
  // c0 of an LSTM without initial states: zeros, read-only for the whole call.
  std::size_t widest = 0;
  for (const Layer& layer : m.layers) widest = std::max<std::size_t>(widest, layer.hidden);
  RNNX_CUDA_CHECK(cudaMemsetAsync(buf_.zeros, 0, std::size_t(B) * widest * sizeof(float), s));
  const char* in = buf_.x;
  for (int l = 0; l < L; ++l) {
    const Layer& layer = m.layers[l];
    const int H = layer.hidden, GH = gates(layer.cell) * H, I = layer_input_size(m, l);
    const int D = output_size(layer);
    const CellKind cell = cell_kind(layer);
    const PersistentFit& f = fits[l];
    char* out = l + 1 == L ? buf_.y : buf_.out[l % 2];
    RNNX_CUDA_CHECK(cudaMemsetAsync(out, 0, tb * D * es, s));  // zero past lengths (+0 bits)
    const std::size_t state = std::size_t(B) * H;
    const bool lstm = cell_traits(cell).has_c;
    // Only the reset-after GRU keeps bh's n rows apart, inside r * (Whn h + bhn).
    bool keep_bhn = false;
    switch (cell) {
      case CellKind::gru_reset_after:
        keep_bhn = true;
        break;
      case CellKind::lstm:
      case CellKind::gru_reset_before:
      case CellKind::rnn_tanh:
      case CellKind::rnn_relu:
        break;
    }
    // Each direction's inputs: its projections, biases and initial state in its own buffers, so
    // that both directions may then run in one grid.
    gpu::PersistentDirection dirs[2];
    for (int d = 0; d < directions(layer); ++d) {
      const Dir dir = d == 0 ? Dir::fw : Dir::bw;
      if (max_len > 0 && wide) {
        gpu::gemm(cublas_, false, true, max_len * B, GH, I, 1.0f,
                  reinterpret_cast<const float*>(in), I,
                  reinterpret_cast<const float*>(weights_at(l, dir, Param::Wx)), I, 0.0f,
                  buf_.proj[d], GH);
      } else if (max_len > 0) {
        gpu::gemm_16bit_inputs(cublas_, false, true, max_len * B, GH, I, m.dtype, in, I,
                               weights_at(l, dir, Param::Wx), I, buf_.proj[d], GH);
      }
      const float* bx = reinterpret_cast<const float*>(weights_at(l, dir, Param::bx));
      const float* bh = reinterpret_cast<const float*>(weights_at(l, dir, Param::bh));
      if (!wide) {  // the cell math adds biases in float32
        RNNX_CUDA_CHECK(gpu::widen_to_float(s, m.dtype, weights_at(l, dir, Param::bx),
                                            std::size_t(GH), buf_.wide_bias[d]));
        RNNX_CUDA_CHECK(gpu::widen_to_float(s, m.dtype, weights_at(l, dir, Param::bh),
                                            std::size_t(GH), buf_.wide_bias[d] + GH));
        bx = buf_.wide_bias[d];
        bh = buf_.wide_bias[d] + GH;
      }
      RNNX_CUDA_CHECK(gpu::projection_bias<float>(s, GH, H, keep_bhn, bx, bh, buf_.bias[d]));
      if (init != nullptr) {
        RNNX_CUDA_CHECK(cudaMemcpyAsync(buf_.h[d][0], init + sl.h(l, dir), state * sizeof(float),
                                        cudaMemcpyDeviceToDevice, s));
      } else {
        RNNX_CUDA_CHECK(cudaMemsetAsync(buf_.h[d][0], 0, state * sizeof(float), s));
      }
      gpu::PersistentDirection& pd = dirs[d];
      pd.dir = dir;
      pd.proj = buf_.proj[d];
      pd.bias = buf_.bias[d];
      pd.bhn = keep_bhn ? bh + 2 * H : nullptr;
      pd.Wh = weights_at(l, dir, Param::Wh);
      pd.h[0] = buf_.h[d][0];
      pd.h[1] = buf_.h[d][1];
      pd.c0 = lstm ? (init != nullptr ? init + sl.c(l, dir) : buf_.zeros) : nullptr;
      pd.hn = buf_.state + sl.h(l, dir);
      pd.cn = lstm ? buf_.state + sl.c(l, dir) : nullptr;
      pd.rh = buf_.rh[d];
      pd.y = out + std::size_t(d) * H * es;
    }
    gpu::PersistentLayerArgs a;
    a.H = H;
    a.B = B;
    a.steps = max_len;
    a.units = f.units;
    a.len = buf_.len;
    a.forget_bias = static_cast<float>(layer.forget_bias);
    a.y_ld = D;
    a.barrier = buf_.barrier;
    a.mma = f.mma;
    a.directions = f.directions;
    // One launch for both directions where they fit in one grid, else one per direction.
    for (int first = 0; first < directions(layer); first += f.directions) {
      a.d[0] = dirs[first];
      if (f.directions == 2) a.d[1] = dirs[1];
      RNNX_CUDA_CHECK(cudaMemsetAsync(buf_.barrier, 0, 2 * sizeof(unsigned), s));
      const cudaError_t launched = gpu::launch_persistent_layer(cell, barrier_, m.dtype, a, s);
      if (launched == cudaErrorCooperativeLaunchTooLarge) {
        throw Error(Status::unsupported, "engine gpu_persistent: the " + std::to_string(f.blocks) +
                                             "-block grid of model.layers[" + std::to_string(l) +
                                             "] cannot be resident at once on " + device_.name +
                                             " now (another kernel holds multiprocessors?)");
      }
      RNNX_CUDA_CHECK(launched);
    }
    in = out;
  }
  if (wide) {
    RNNX_CUDA_CHECK(gpu::from_time_major<float>(s, reinterpret_cast<const float*>(buf_.y), T, B,
                                                output_size(m), m.layout,
                                                static_cast<float*>(args.y.data)));
  } else {
    RNNX_CUDA_CHECK(gpu::from_time_major<std::uint16_t>(
        s, reinterpret_cast<const std::uint16_t*>(buf_.y), T, B, output_size(m), m.layout,
        static_cast<std::uint16_t*>(args.y.data)));
  }
  if (!args.final_state.empty()) {
    RNNX_CUDA_CHECK(cudaMemcpyAsync(args.final_state.data, buf_.state, sl.size() * sizeof(float),
                                    cudaMemcpyDeviceToDevice, s));
  }
}

}  // namespace

std::unique_ptr<EngineImpl> make_persistent_engine(const Model& model, const Options& options) {
  if (model.dtype == DType::f64) {
    throw Error(Status::unsupported,
                "engine gpu_persistent runs float32, bfloat16 and float16 models; this one is "
                "float64: use gpu_dynamic or cudnn");
  }
  if (options.allow_tf32 && model.dtype != DType::f32) {
    throw Error(Status::unsupported, std::string("Options.allow_tf32: TF32 applies to float32 "
                                                 "models; this model is ") +
                                         to_string(model.dtype));
  }
  return std::make_unique<PersistentEngine>(model, options);
}

}  // namespace rnnx
