#include "cpu/cpu_engine.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cpu/blas.h"
#include "cpu/layer.h"
#include "rnnx/error.h"
#include "rnnx/layout.h"

namespace rnnx {

namespace {

using cpu::LayerGrads;
using cpu::LayerWeights;
using cpu::Sequences;
using cpu::StepSave;

// The reserve: a header that identifies the call, then per layer its output (the next layer's
// input; not for the last layer) and per direction the per-time arrays of cpu::StepSave.
struct ReserveHeader {
  char magic[8];
  std::int64_t steps, batch;
  std::uint64_t weights;
  char padding[32];  // the arrays start 64 bytes in
};
static_assert(sizeof(ReserveHeader) == 64, "the reserve's arrays start 64 bytes in");
constexpr char kMagic[8] = {'r', 'n', 'n', 'x', 'c', 'p', 'u', '1'};

struct DirOffsets {
  std::size_t gates, h_prev, c_prev, hn;  // element offsets; c_prev/hn only where used
};
struct LayerOffsets {
  std::size_t out;  // the layer's output (not for the last layer)
  DirOffsets dir[2];
};

// Element offsets of every array for T steps and B sequences; returns the total.
std::size_t reserve_map(const Model& model, int T, int B, std::vector<LayerOffsets>* map) {
  const std::size_t tb = std::size_t(T) * B;
  std::size_t at = 0;
  const int L = static_cast<int>(model.layers.size());
  for (int l = 0; l < L; ++l) {
    const Layer& layer = model.layers[l];
    LayerOffsets o{};
    o.out = at;
    if (l + 1 < L) at += tb * output_size(layer);
    for (int d = 0; d < directions(layer); ++d) {
      DirOffsets& dir = o.dir[d];
      dir.gates = at;
      at += tb * gates(layer.cell) * layer.hidden;
      dir.h_prev = at;
      at += tb * layer.hidden;
      if (layer.cell == Cell::lstm) {
        dir.c_prev = at;
        at += tb * layer.hidden;
      } else if (layer.gru_reset == GruReset::after_matmul) {
        dir.hn = at;
        at += tb * layer.hidden;
      }
    }
    if (map != nullptr) map->push_back(o);
  }
  return at;
}

template <class T>
T* sized(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// [n0][n1][F] -> [n1][n0][F]
template <class T>
void swap_outer_axes(const T* in, int n0, int n1, std::size_t F, T* out) {
  for (int i = 0; i < n0; ++i)
    for (int j = 0; j < n1; ++j)
      std::copy(in + (std::size_t(i) * n1 + j) * F, in + (std::size_t(i) * n1 + j + 1) * F,
                out + (std::size_t(j) * n0 + i) * F);
}

template <class T>
class CpuEngine final : public EngineImpl {
 public:
  CpuEngine(const Model& model, int threads) : EngineImpl(model), threads_(threads) {}

  Engine kind() const noexcept override { return Engine::cpu; }

  std::size_t reserve_bytes(int steps, int batch) const override {
    return sizeof(ReserveHeader) + reserve_map(model(), steps, batch, nullptr) * sizeof(T);
  }

  void forward(const Forward& args, Stream) override { run_forward(args, nullptr); }

  void forward_train(const Forward& args, Reserve reserve, Stream) override {
    ReserveHeader header{};
    std::memcpy(header.magic, kMagic, sizeof kMagic);
    header.steps = args.steps;
    header.batch = args.batch;
    header.weights = args.weights.size;
    std::memcpy(reserve.data, &header, sizeof header);
    run_forward(args, arrays(reserve));
  }

  void backward(const Forward& args, const Backward& grads, Reserve reserve, Stream) override;

 private:
  T* arrays(Reserve reserve) const {
    return reinterpret_cast<T*>(static_cast<unsigned char*>(reserve.data) + sizeof(ReserveHeader));
  }

  // Lengths as ints, and the steps the longest sequence needs.
  Sequences sequences(const Forward& args) {
    lengths_.assign(args.batch, args.steps);
    if (args.lengths != nullptr)
      std::copy(args.lengths, args.lengths + args.batch, lengths_.begin());
    Sequences seq;
    seq.B = args.batch;
    seq.len = lengths_.data();
    seq.max_len = *std::max_element(lengths_.begin(), lengths_.end());
    seq.threads = threads_;
    return seq;
  }

  // The caller's x as time-major [T][B][I], rows past each length zeroed so that no value the
  // caller left there (NaN included) reaches a GEMM.
  const T* time_major_input(const Forward& args, const Sequences& seq) {
    const std::size_t I = model().input_size, n = std::size_t(args.steps) * args.batch * I;
    T* xt = sized(x_, n);
    const T* x = static_cast<const T*>(args.x.data);
    if (model().layout == Layout::time_major) {
      std::copy(x, x + n, xt);
    } else {
      swap_outer_axes(x, args.batch, args.steps, I, xt);
    }
    for (int t = 0; t < args.steps; ++t)
      for (int b = 0; b < args.batch; ++b)
        if (t >= seq.len[b]) std::fill_n(xt + (std::size_t(t) * args.batch + b) * I, I, T(0));
    return xt;
  }

  LayerWeights<T> weights(const WeightLayout& wl, const T* W, int l, Dir d) const {
    return LayerWeights<T>{&model().layers[l],
                           layer_input_size(model(), l),
                           W + wl.offset(l, d, Param::Wx),
                           W + wl.offset(l, d, Param::Wh),
                           W + wl.offset(l, d, Param::bx),
                           W + wl.offset(l, d, Param::bh)};
  }

  static StepSave<T> save_of(T* arrays, const DirOffsets& o, const Layer& layer) {
    if (arrays == nullptr) return {};
    StepSave<T> save;
    save.gates = arrays + o.gates;
    save.h_prev = arrays + o.h_prev;
    if (layer.cell == Cell::lstm) save.c_prev = arrays + o.c_prev;
    if (layer.cell == Cell::gru && layer.gru_reset == GruReset::after_matmul) {
      save.hn = arrays + o.hn;
    }
    return save;
  }

  void run_forward(const Forward& args, T* reserve);

  int threads_;
  std::vector<int> lengths_;
  std::vector<T> x_, layer_out_[2], state_, dweights_, dstate_, grad_[2];
  cpu::Scratch<T> scratch_;
};

template <class T>
void CpuEngine<T>::run_forward(const Forward& args, T* reserve) {
  const cpu::ThreadScope threads(threads_);
  const Model& m = model();
  const Sequences seq = sequences(args);
  const WeightLayout wl(m);
  const StateLayout sl(m, args.batch);
  const int L = static_cast<int>(m.layers.size());
  const std::size_t tb = std::size_t(args.steps) * args.batch;
  std::vector<LayerOffsets> map;
  if (reserve != nullptr) reserve_map(m, args.steps, args.batch, &map);

  const T* W = static_cast<const T*>(args.weights.data);
  T* state = sized(state_, sl.size());
  std::vector<T> zeros;
  const T* init = static_cast<const T*>(args.init.data);
  if (init == nullptr) {
    zeros.assign(sl.size(), T(0));
    init = zeros.data();
  }

  const T* in = time_major_input(args, seq);
  for (int l = 0; l < L; ++l) {
    const Layer& layer = m.layers[l];
    const int D = output_size(layer);
    // The last layer writes scratch (copied to y at the end); with a reserve the others write
    // into it, since backward needs them; otherwise they alternate between two buffers.
    T* out =
        reserve != nullptr && l + 1 < L ? reserve + map[l].out : sized(layer_out_[l % 2], tb * D);
    std::fill(out, out + tb * D, T(0));  // zero past each length
    for (int d = 0; d < directions(layer); ++d) {
      const Dir dir = d == 0 ? Dir::fw : Dir::bw;
      const StepSave<T> save = save_of(reserve, reserve ? map[l].dir[d] : DirOffsets{}, layer);
      if (reserve != nullptr) {
        // Rows of ended sequences are read by the weight GEMMs (times zero); keep them finite.
        const std::size_t rows = std::size_t(seq.max_len) * args.batch;
        std::fill_n(save.gates, rows * gates(layer.cell) * layer.hidden, T(0));
        std::fill_n(save.h_prev, rows * layer.hidden, T(0));
      }
      const bool lstm = layer.cell == Cell::lstm;
      cpu::layer_forward(weights(wl, W, l, dir), dir, seq, in, init + sl.h(l, dir),
                         lstm ? init + sl.c(l, dir) : nullptr, out + std::size_t(d) * layer.hidden,
                         D, state + sl.h(l, dir), lstm ? state + sl.c(l, dir) : nullptr, save,
                         scratch_);
    }
    in = out;
  }

  // Everything is computed; only now write the caller's outputs.
  T* y = static_cast<T*>(args.y.data);
  const std::size_t D = output_size(m);
  if (m.layout == Layout::time_major) {
    std::copy(in, in + tb * D, y);
  } else {
    swap_outer_axes(in, args.steps, args.batch, D, y);
  }
  if (!args.final_state.empty()) {
    std::copy(state, state + sl.size(), static_cast<T*>(args.final_state.data));
  }
}

template <class T>
void CpuEngine<T>::backward(const Forward& args, const Backward& grads, Reserve reserve, Stream) {
  ReserveHeader header{};
  std::memcpy(&header, reserve.data, sizeof header);
  if (std::memcmp(header.magic, kMagic, sizeof kMagic) != 0 || header.steps != args.steps ||
      header.batch != args.batch || header.weights != args.weights.size) {
    throw Error(Status::invalid_argument,
                "reserve: was not filled by this plan's forward_train with steps = " +
                    std::to_string(args.steps) + " and batch = " + std::to_string(args.batch));
  }
  const cpu::ThreadScope threads(threads_);
  const Model& m = model();
  const Sequences seq = sequences(args);
  const WeightLayout wl(m);
  const StateLayout sl(m, args.batch);
  const int L = static_cast<int>(m.layers.size());
  const std::size_t tb = std::size_t(args.steps) * args.batch;
  std::vector<LayerOffsets> map;
  reserve_map(m, args.steps, args.batch, &map);
  T* saved = arrays(reserve);
  const T* W = static_cast<const T*>(args.weights.data);

  T* dW = sized(dweights_, wl.size());
  std::fill(dW, dW + wl.size(), T(0));
  T* dinit = sized(dstate_, 2 * sl.size());  // dinit, then zeros when dfinal is absent
  T* zeros = dinit + sl.size();
  std::fill(zeros, zeros + sl.size(), T(0));
  const T* dfinal = grads.dfinal.empty() ? zeros : static_cast<const T*>(grads.dfinal.data);

  // dout: the gradient arriving at the current layer's output, time-major.
  const std::size_t D = output_size(m);
  T* dout = sized(grad_[0], tb * D);
  const T* dy = static_cast<const T*>(grads.dy.data);
  if (m.layout == Layout::time_major) {
    std::copy(dy, dy + tb * D, dout);
  } else {
    swap_outer_axes(dy, args.batch, args.steps, D, dout);
  }
  const T* x = time_major_input(args, seq);

  for (int l = L - 1; l >= 0; --l) {
    const Layer& layer = m.layers[l];
    const int I = layer_input_size(m, l), Dl = output_size(layer);
    const T* in = l == 0 ? x : saved + map[l - 1].out;
    T* din = sized(grad_[(L - l) % 2], tb * I);
    std::fill(din, din + tb * I, T(0));
    for (int d = 0; d < directions(layer); ++d) {
      const Dir dir = d == 0 ? Dir::fw : Dir::bw;
      const bool lstm = layer.cell == Cell::lstm;
      const LayerGrads<T> g{dW + wl.offset(l, dir, Param::Wx), dW + wl.offset(l, dir, Param::Wh),
                            dW + wl.offset(l, dir, Param::bx), dW + wl.offset(l, dir, Param::bh)};
      cpu::layer_backward(weights(wl, W, l, dir), dir, seq, in,
                          dout + std::size_t(d) * layer.hidden, Dl,
                          save_of(saved, map[l].dir[d], layer), dfinal + sl.h(l, dir),
                          lstm ? dfinal + sl.c(l, dir) : nullptr, dinit + sl.h(l, dir),
                          lstm ? dinit + sl.c(l, dir) : nullptr, din, g, scratch_);
    }
    dout = din;
  }

  // Everything is computed; only now write the caller's outputs.
  T* dweights = static_cast<T*>(grads.dweights.data);
  for (std::size_t k = 0; k < wl.size(); ++k)
    dweights[k] = grads.accumulate ? dweights[k] + dW[k] : dW[k];
  if (!grads.dx.empty()) {
    T* dx = static_cast<T*>(grads.dx.data);
    const std::size_t I = m.input_size;
    if (m.layout == Layout::time_major) {
      std::copy(dout, dout + tb * I, dx);
    } else {
      swap_outer_axes(dout, args.steps, args.batch, I, dx);
    }
  }
  if (!grads.dinit.empty()) std::copy(dinit, dinit + sl.size(), static_cast<T*>(grads.dinit.data));
}

}  // namespace

std::unique_ptr<EngineImpl> make_cpu_engine(const Model& model, const Options& options) {
  if (options.allow_tf32) {
    throw Error(Status::unsupported,
                "Options.allow_tf32: the cpu engine has no TF32 mode; TF32 is for the GPU engines");
  }
  const int threads = cpu::resolve_threads(options.threads);
  if (model.dtype == DType::f64) return std::make_unique<CpuEngine<double>>(model, threads);
  return std::make_unique<CpuEngine<float>>(model, threads);
}

}  // namespace rnnx
