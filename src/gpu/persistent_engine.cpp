#include "gpu/persistent_engine.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "fused/reserve.h"
#include "gpu/cublas_gemm.h"
#include "gpu/cuda_check.h"
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

// The kind whose limits info.h's queries report for (cell, reset). Both activations of the vanilla
// RNN have the same shared-memory layout and kernel shape, hence the same limits: tanh answers
// for both.
CellKind limit_kind(Cell cell, GruReset reset) {
  Layer layer;
  layer.cell = cell;
  layer.gru_reset = reset;
  layer.activation = Activation::tanh;
  return cell_kind(layer);
}

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

// Tensor cores for the recurrent product of bf16/f16 models (where persistent_mma_possible):
// RNNX_PERSISTENT_MMA=auto (default) uses them when a step has at least kPersistentMmaMinTiles
// 16x16 tiles of z per block, so that several warps share the work (one warp alone running H/16
// MMAs in a row is likely slower than eight warps of dot products: a guess until measured on a
// GPU); on uses them wherever possible and they fit, off never (both for measuring one path
// against the other).
PersistentMma mma_choice() {
  const char* v = std::getenv("RNNX_PERSISTENT_MMA");
  if (v == nullptr || std::string(v) == "auto") return PersistentMma::automatic;
  if (std::string(v) == "on") return PersistentMma::on;
  if (std::string(v) == "off") return PersistentMma::off;
  throw Error(Status::invalid_argument,
              std::string("RNNX_PERSISTENT_MMA = '") + v + "': must be auto, on or off");
}

// Both directions of a bidirectional layer in one grid where they fit (default), or
// RNNX_PERSISTENT_DIRECTIONS=apart for one launch each (for measuring one against the other).
bool pair_directions() {
  const char* v = std::getenv("RNNX_PERSISTENT_DIRECTIONS");
  if (v == nullptr || std::string(v) == "paired") return true;
  if (std::string(v) == "apart") return false;
  throw Error(Status::invalid_argument,
              std::string("RNNX_PERSISTENT_DIRECTIONS = '") + v + "': must be paired or apart");
}

// Why a layer's recurrent product cannot run on tensor cores at all; empty when it can.
std::string no_tensor_cores(CellKind cell, GridBarrier barrier, DType storage, int H) {
  if (storage == DType::f32) return "float32 weights";
  switch (cell) {
    case CellKind::lstm:
    case CellKind::gru_reset_after:
    case CellKind::rnn_tanh:
    case CellKind::rnn_relu:
      break;
    case CellKind::gru_reset_before:
      return "a GRU resetting before the matmul";
  }
  if (H % 16 != 0) return "hidden " + std::to_string(H) + " is not a multiple of 16";
  if (!gpu::persistent_mma_possible(cell, barrier, storage, H)) {
    return "the kernel was compiled for an architecture before sm_80";
  }
  return {};
}

struct Device {
  int index = 0, multiprocessors = 0;
  std::size_t shared_optin = 0;  // bytes of shared memory one block may ask for
  std::string name;
};

Device device_properties(int index) {
  Device d;
  d.index = index;
  cudaDeviceProp prop{};
  RNNX_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  d.multiprocessors = prop.multiProcessorCount;
  d.shared_optin = prop.sharedMemPerBlockOptin;
  d.name = prop.name;
  return d;
}

// The faster of the two grid barriers on a device, measured once per device and process: a grid
// of one block per multiprocessor meets each barrier kProbeSteps times (as the engine's kernel
// does once or twice a step), best of three runs each, timed with CUDA events.
GridBarrier measured_barrier(const Device& d) {
  static std::mutex mutex;
  static std::map<int, GridBarrier> chosen;
  const std::lock_guard<std::mutex> lock(mutex);
  const auto known = chosen.find(d.index);
  if (known != chosen.end()) return known->second;
  constexpr int kProbeSteps = 200;
  const DeviceGuard guard(d.index);
  struct Probe {  // released on every path out
    cudaStream_t stream = nullptr;
    cudaEvent_t start = nullptr, stop = nullptr;
    unsigned* words = nullptr;
    ~Probe() {
      if (words != nullptr) cudaFree(words);
      if (start != nullptr) cudaEventDestroy(start);
      if (stop != nullptr) cudaEventDestroy(stop);
      if (stream != nullptr) cudaStreamDestroy(stream);
    }
  } p;
  RNNX_CUDA_CHECK(cudaStreamCreateWithFlags(&p.stream, cudaStreamNonBlocking));
  RNNX_CUDA_CHECK(cudaEventCreate(&p.start));
  RNNX_CUDA_CHECK(cudaEventCreate(&p.stop));
  RNNX_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p.words), 2 * sizeof(unsigned)));
  float best[2] = {std::numeric_limits<float>::max(), std::numeric_limits<float>::max()};
  for (int run = 0; run < 3; ++run) {
    for (int k = 0; k < 2; ++k) {
      const GridBarrier barrier = k == 0 ? GridBarrier::cooperative : GridBarrier::flags;
      RNNX_CUDA_CHECK(cudaMemsetAsync(p.words, 0, 2 * sizeof(unsigned), p.stream));
      RNNX_CUDA_CHECK(cudaEventRecord(p.start, p.stream));
      RNNX_CUDA_CHECK(
          gpu::launch_barrier_only(barrier, d.multiprocessors, kProbeSteps, p.words, p.stream));
      RNNX_CUDA_CHECK(cudaEventRecord(p.stop, p.stream));
      RNNX_CUDA_CHECK(cudaEventSynchronize(p.stop));
      float ms = 0;
      RNNX_CUDA_CHECK(cudaEventElapsedTime(&ms, p.start, p.stop));
      best[k] = std::min(best[k], ms);
    }
  }
  const GridBarrier faster = best[1] < best[0] ? GridBarrier::flags : GridBarrier::cooperative;
  chosen[d.index] = faster;
  return faster;
}

// The grid barrier: RNNX_PERSISTENT_BARRIER=cooperative or flags picks one (for measuring one
// against the other); otherwise the faster on the device, measured.
GridBarrier barrier_choice(const Device& d) {
  const char* v = std::getenv("RNNX_PERSISTENT_BARRIER");
  if (v == nullptr) return measured_barrier(d);
  if (std::string(v) == "cooperative") return GridBarrier::cooperative;
  if (std::string(v) == "flags") return GridBarrier::flags;
  throw Error(Status::invalid_argument,
              std::string("RNNX_PERSISTENT_BARRIER = '") + v + "': must be cooperative or flags");
}

// The units a block owns: H over the multiprocessors, half of them per direction when both
// directions share the grid.
int units_per_block(int H, int directions, const Device& d) {
  const int sms = std::max(1, d.multiprocessors / directions);
  return (H + sms - 1) / sms;
}

// How one layer of H units runs for a batch of B in one layout: one block per multiprocessor at
// most, each owning `units` units, for one direction per launch or both in one grid (each
// direction then gets half the multiprocessors), on tensor cores or not; or why it cannot. Its
// kernel must have been prepared on the device (gpu::prepare_persistent_kernel).
struct Fit {
  int directions = 1;  // directions per launch
  int units = 0, blocks = 0;
  bool mma = false;  // the recurrent product on tensor cores
  std::size_t shared = 0;
  std::string why;  // empty when it fits
};

Fit fit(CellKind cell, DType storage, GridBarrier barrier, int H, int B, const Device& d,
        int directions, bool mma) {
  Fit f;
  f.directions = directions;
  f.mma = mma;
  f.units = units_per_block(H, directions, d);
  f.blocks = directions * ((H + f.units - 1) / f.units);
  f.shared = gpu::persistent_shared_bytes(cell, storage, H, f.units, B, mma);
  if (f.shared > d.shared_optin) {
    f.why = "a block needs " + std::to_string((f.shared + 1023) / 1024) +
            " KB of shared memory for its " + std::to_string(f.units) +
            " units' W_h rows and the batch's h, the device allows " +
            std::to_string(d.shared_optin / 1024) + " KB";
    return f;
  }
  int per_sm = 0;
  RNNX_CUDA_CHECK(gpu::persistent_blocks_per_sm(cell, barrier, storage, f.shared, &per_sm));
  if (per_sm * d.multiprocessors < f.blocks) {
    f.why = std::to_string(f.blocks) + " blocks cannot all be resident (" + std::to_string(per_sm) +
            " per multiprocessor x " + std::to_string(d.multiprocessors) + ")";
  }
  return f;
}

// Whether the layer runs at all: one direction per launch without tensor cores is the most
// frugal layout (tensor cores' padding and 16-bit copy of h take more shared memory), and its
// "fits" is monotone in H and B, as the limit searches need.
Fit fit_frugal(CellKind cell, DType storage, GridBarrier barrier, int H, int B, const Device& d) {
  return fit(cell, storage, barrier, H, B, d, 1, false);
}

void prepare_kernel(CellKind cell, GridBarrier barrier, DType storage, const Device& d) {
  RNNX_CUDA_CHECK(gpu::prepare_persistent_kernel(cell, barrier, storage, d.shared_optin));
}

// The largest value in [1, hi] for which fits(v) holds, 0 if none (fits is monotone).
template <class Fits>
int largest(int hi, Fits fits) {
  int lo = 0;
  while (lo < hi) {
    const int mid = lo + (hi - lo + 1) / 2;
    if (fits(mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// The largest hidden size (batch) of a kind that runs at all on `device`, 0 if none or when
// nothing can be said (no device).
int limit_hidden(CellKind c, int batch, int device, DType dtype) {
  try {
    const Device d = device_properties(device);
    const DeviceGuard guard(device);
    const GridBarrier barrier = barrier_choice(d);
    prepare_kernel(c, barrier, dtype, d);
    return largest(1 << 16,
                   [&](int H) { return fit_frugal(c, dtype, barrier, H, batch, d).why.empty(); });
  } catch (const Error&) {
    return 0;  // documented: 0 when nothing can be said
  }
}

int limit_batch(CellKind c, int hidden, int device, DType dtype) {
  try {
    const Device d = device_properties(device);
    const DeviceGuard guard(device);
    const GridBarrier barrier = barrier_choice(d);
    prepare_kernel(c, barrier, dtype, d);
    return largest(1 << 20,
                   [&](int B) { return fit_frugal(c, dtype, barrier, hidden, B, d).why.empty(); });
  } catch (const Error&) {
    return 0;
  }
}

class PersistentEngine final : public EngineImpl {
 public:
  PersistentEngine(const Model& model, const Options& options) : EngineImpl(model) {
    RNNX_CUDA_CHECK(cudaGetDevice(&device_index_));
    device_ = device_properties(device_index_);
    barrier_ = barrier_choice(device_);
    // The kernels' shared-memory ceiling and what the layers' tensor cores depend on, once per
    // plan rather than per launch.
    std::set<CellKind> prepared;
    for (int l = 0; l < static_cast<int>(model.layers.size()); ++l) {
      const Layer& layer = model.layers[l];
      const CellKind cell = cell_kind(layer);
      if (prepared.insert(cell).second) prepare_kernel(cell, barrier_, model.dtype, device_);
      no_mma_.push_back(no_tensor_cores(cell, barrier_, model.dtype, layer.hidden));
      const Fit f = fit_frugal(cell, model.dtype, barrier_, layer.hidden, 1, device_);
      if (!f.why.empty()) {
        throw Error(Status::unsupported,
                    "engine gpu_persistent: model.layers[" + std::to_string(l) + "].hidden = " +
                        std::to_string(layer.hidden) + " does not fit on " + device_.name + ": " +
                        f.why + "; a " + cell_name(cell) + " layer fits hidden <= " +
                        std::to_string(limit_hidden(cell, 1, device_index_, model.dtype)) +
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
    if (workspace_ != nullptr) cudaFree(workspace_);
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
    s.workspace_bytes = workspace_bytes_;
    s.grid_barrier = barrier_ == GridBarrier::flags ? "flags" : "cooperative";
    s.tensor_core_layers = tensor_core_layers_;
    s.paired_layers = paired_layers_;
    s.layer_choices = layer_choices_;
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
    Carver c(buf == nullptr ? nullptr : static_cast<char*>(workspace_));
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
    if (need > workspace_bytes_) gpu::replace_device_block(workspace_, workspace_bytes_, need);
    carve(&buf_, steps, batch);
  }

  // How each layer runs at a batch size (choose_persistent_layout), computed once per batch size.
  const std::vector<Fit>& fits_for(int batch) {
    if (batch != fits_batch_) {
      fits_.clear();
      notes_.clear();
      fits_batch_ = 0;
      const PersistentMma mma = mma_choice();
      const bool pair = pair_directions();
      for (int l = 0; l < static_cast<int>(model().layers.size()); ++l) {
        const Layer& layer = model().layers[l];
        const CellKind cell = cell_kind(layer);
        PersistentLayerInputs in;
        in.mma = mma;
        in.bidirectional = layer.bidirectional;
        in.may_pair = pair;
        in.no_mma = no_mma_[l];
        Fit tried[2][2];  // [directions - 1][mma], as the choice asked
        for (int d = 1; d <= 2; ++d) {
          const int units = units_per_block(layer.hidden, d, device_);
          const int rows = (cell_traits(cell).gates * units + 15) / 16;
          in.few_tiles[d - 1] = rows * ((batch + 15) / 16) < kPersistentMmaMinTiles;
        }
        const PersistentLayerChoice choice = choose_persistent_layout(in, [&](int directions,
                                                                              bool use_mma) {
          Fit& f = tried[directions - 1][use_mma];
          f = fit(cell, model().dtype, barrier_, layer.hidden, batch, device_, directions, use_mma);
          return f.why;
        });
        // Nothing fits: the most frugal layout, whose `why` forward reports.
        fits_.push_back(choice.directions == 0 ? tried[0][0]
                                               : tried[choice.directions - 1][choice.mma]);
        notes_.push_back("layer " + std::to_string(l) + ": " + choice.note);
      }
      fits_batch_ = batch;
    }
    return fits_;
  }

  // What PlanStats reports of the layers' layouts.
  void record_choices(const std::vector<Fit>& fits) {
    tensor_core_layers_ = static_cast<int>(
        std::count_if(fits.begin(), fits.end(), [](const Fit& f) { return f.mma; }));
    paired_layers_ = static_cast<int>(
        std::count_if(fits.begin(), fits.end(), [](const Fit& f) { return f.directions == 2; }));
    layer_choices_.clear();
    for (const std::string& note : notes_) {
      layer_choices_ += (layer_choices_.empty() ? "" : "\n") + note;
    }
  }

  int device_index_ = 0;
  Device device_;
  std::vector<std::string> no_mma_;  // per layer: why tensor cores cannot run it at all
  std::vector<Fit> fits_;
  std::vector<std::string> notes_;  // per layer, for PlanStats::layer_choices
  int fits_batch_ = 0;
  GridBarrier barrier_ = GridBarrier::cooperative;
  int tensor_core_layers_ = 0;  // in the last call or prepare
  int paired_layers_ = 0;       // in the last call or prepare
  std::string layer_choices_;   // of the last call or prepare
  cublasHandle_t cublas_ = nullptr;
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
  Buffers buf_;
  gpu::LengthStager lengths_;
  gpu::CallOrder call_order_;
};

void PersistentEngine::forward(const Forward& args, Stream stream) {
  fused::check_gemm_limits(args.steps, args.batch, Engine::gpu_persistent);
  const DeviceGuard guard(device_index_);  // the fits below ask the plan's device
  const Model& m = model();
  const std::vector<Fit>& fits = fits_for(args.batch);
  for (int l = 0; l < static_cast<int>(m.layers.size()); ++l) {
    const Layer& layer = m.layers[l];
    if (!fits[l].why.empty()) {
      throw Error(
          Status::unsupported,
          "engine gpu_persistent: Forward.batch = " + std::to_string(args.batch) +
              " does not fit for model.layers[" + std::to_string(l) + "] on " + device_.name +
              ": " + fits[l].why + "; the largest batch is " +
              std::to_string(limit_batch(cell_kind(layer), layer.hidden, device_index_, m.dtype)));
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
    const Fit& f = fits[l];
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

PersistentLayerChoice choose_persistent_layout(const PersistentLayerInputs& in,
                                               const PersistentLayoutCheck& check) {
  const bool forced = in.mma == PersistentMma::on;
  const bool pair = in.bidirectional && in.may_pair;
  auto mma_allowed = [&](int directions) {
    return in.no_mma.empty() && in.mma != PersistentMma::off &&
           (forced || !in.few_tiles[directions - 1]);
  };
  std::string why[2][2];
  bool asked[2][2] = {};
  auto why_not = [&](int directions, bool mma) -> const std::string& {
    if (!asked[directions - 1][mma]) {
      why[directions - 1][mma] = check(directions, mma);
      asked[directions - 1][mma] = true;
    }
    return why[directions - 1][mma];
  };
  struct Candidate {
    int directions;
    bool mma;
  };
  const Candidate order[2][4] = {{{2, true}, {2, false}, {1, true}, {1, false}},
                                 {{2, true}, {1, true}, {2, false}, {1, false}}};
  PersistentLayerChoice c;
  for (const Candidate& layout : order[forced]) {
    if ((layout.directions == 2 && !pair) || (layout.mma && !mma_allowed(layout.directions))) {
      continue;
    }
    if (why_not(layout.directions, layout.mma).empty()) {
      c.directions = layout.directions;
      c.mma = layout.mma;
      break;
    }
  }
  if (c.directions == 0) {
    c.why = why_not(1, false);
    c.note = "does not fit: " + c.why;
    return c;
  }
  c.note = c.mma ? "tensor cores" : "warp dot products";
  if (in.bidirectional) {
    c.note += c.directions == 2 ? ", both directions in one grid" : ", one grid per direction";
  }
  std::string reasons;
  auto add = [&](const std::string& reason) { reasons += (reasons.empty() ? "" : "; ") + reason; };
  if (!c.mma) {
    if (!in.no_mma.empty()) {
      add("no tensor cores for " + in.no_mma);
    } else if (in.mma == PersistentMma::off) {
      add("RNNX_PERSISTENT_MMA=off");
    } else if (!mma_allowed(c.directions)) {
      add("fewer than " + std::to_string(kPersistentMmaMinTiles) +
          " tiles of 16x16 a block for tensor cores");
    } else {
      add("with tensor cores, " + why_not(c.directions, true));
    }
  }
  if (in.bidirectional && c.directions == 1) {
    if (!in.may_pair) {
      add("RNNX_PERSISTENT_DIRECTIONS=apart");
    } else if (forced && c.mma) {
      add("in one grid with tensor cores, " + why_not(2, true));
      add("RNNX_PERSISTENT_MMA=on puts tensor cores before pairing");
    } else {
      add("in one grid, " + why_not(2, false));
    }
  }
  if (!reasons.empty()) c.note += " (" + reasons + ")";
  return c;
}

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
  if (options.threads != 0) {
    throw Error(Status::unsupported, "Options.threads = " + std::to_string(options.threads) +
                                         ": the gpu_persistent engine has no CPU threads to set");
  }
  return std::make_unique<PersistentEngine>(model, options);
}

int persistent_limit_hidden(Cell cell, GruReset reset, int batch, int device, DType dtype) {
  return limit_hidden(limit_kind(cell, reset), batch, device, dtype);
}

int persistent_limit_batch(Cell cell, GruReset reset, int hidden, int device, DType dtype) {
  return limit_batch(limit_kind(cell, reset), hidden, device, dtype);
}

}  // namespace rnnx
