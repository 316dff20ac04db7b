#include "cpu/cpu_engine.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "cpu/backend.h"
#include "cpu/blas.h"
#include "fused/network.h"
#include "rnnx/error.h"
#include "rnnx/layout.h"
#include "validate.h"

namespace rnnx {

namespace {

// The reserve starts with a header that identifies the call (checked by backward); the arrays
// of fused/reserve.h follow, 64 bytes in.
struct ReserveHeader {
  char magic[8];
  std::int64_t steps, batch;
  std::uint64_t weights;
  char padding[32];
};
static_assert(sizeof(ReserveHeader) == 64, "the reserve's arrays start 64 bytes in");
constexpr char kMagic[8] = {'r', 'n', 'n', 'x', 'c', 'p', 'u', '1'};

using cpu::sized;

// [n0][n1][F] -> [n1][n0][F] where `swap`, else a plain copy; on `threads` where there is enough
// to share (a serial copy of the seed's 1.8 MB outputs left the other core waiting).
template <class T>
void copy_sequence(const T* in, int n0, int n1, std::size_t F, bool swap, T* out, int threads) {
  const bool threaded = threads > 1 && std::size_t(n0) * n1 * F >= (std::size_t(1) << 16);
#pragma omp parallel for num_threads(threads) schedule(static) if (threaded)
  for (int i = 0; i < n0; ++i) {
    for (int j = 0; j < n1; ++j) {
      const T* from = in + (std::size_t(i) * n1 + j) * F;
      T* to = out + (swap ? std::size_t(j) * n0 + i : std::size_t(i) * n1 + j) * F;
      std::copy(from, from + F, to);
    }
  }
}

// The caller's sequence in time-major order (a copy either way).
template <class T>
void to_time_major(const T* in, int steps, int batch, std::size_t F, Layout layout, T* out,
                   int threads) {
  if (layout == Layout::time_major) {
    copy_sequence(in, steps, batch, F, false, out, threads);
  } else {
    copy_sequence(in, batch, steps, F, true, out, threads);
  }
}

template <class T>
void from_time_major(const T* in, int steps, int batch, std::size_t F, Layout layout, T* out,
                     int threads) {
  copy_sequence(in, steps, batch, F, layout != Layout::time_major, out, threads);
}

template <class T>
class CpuEngine final : public EngineImpl {
 public:
  CpuEngine(const Model& model, int threads)
      : EngineImpl(model), threads_(threads), fw_(threads), bw_(threads) {}

  Engine kind() const noexcept override { return Engine::cpu; }

  std::size_t reserve_bytes(int steps, int batch) const override {
    return sizeof(ReserveHeader) +
           fused::reserve_elements(model(), steps, batch, nullptr) * sizeof(T);
  }

  // Both directions' scratch and the engine's own arrays, at their sizes for this shape.
  std::size_t workspace_bytes(int steps, int batch) const override {
    fused::ScratchSizes sizes;
    fused::scratch_sizes(model(), steps, batch, sizes);
    std::size_t n = 0;
    for (std::size_t k : sizes) n += 2 * k;
    const std::size_t tb = std::size_t(steps) * batch;
    n += 2 * tb * (model().input_size + output_size(model()));  // x, dx, y, dy
    n += 3 * StateLayout(model(), batch).size() + WeightLayout(model()).size();
    return n * sizeof(T) + recurrence_path_bytes(batch);
  }

  PlanStats stats() const override {
    PlanStats s;
    s.workspace_bytes = fw_.held_bytes() + bw_.held_bytes();
    for (const std::vector<T>* v : {&x_, &y_, &state_, &zeros_, &dy_, &dx_, &dstate_, &dweights_}) {
      s.workspace_bytes += v->capacity() * sizeof(T);
    }
    return s;
  }

  // One training pass (forward_train and backward) on zeros of this shape, and an inference pass
  // where inference has a path of its own (cpu/small_batch.h, cpu/tiled_recurrence.h): they size
  // every buffer, start OpenMP's threads and let oneDNN generate its GEMM kernels for these
  // sizes, so that the first real call costs about what later calls do and no call allocates.
  void prepare(int steps, int batch) override {
    const Model& m = model();
    const std::size_t tb = std::size_t(steps) * batch, W = WeightLayout(m).size();
    const std::size_t I = m.input_size, D = output_size(m);
    std::vector<T> x(tb * I), weights(W), y(tb * D), dy(tb * D), dx(tb * I), dweights(W);
    // T-typed storage keeps the reserve aligned as backward reads it.
    std::vector<T> reserve((reserve_bytes(steps, batch) + sizeof(T) - 1) / sizeof(T));
    Forward f;
    f.steps = steps;
    f.batch = batch;
    f.x = ConstBuffer(x.data(), x.size(), m.dtype);
    f.weights = ConstBuffer(weights.data(), weights.size(), m.dtype);
    f.y = Buffer(y.data(), y.size(), m.dtype);
    Backward b;
    b.dy = ConstBuffer(dy.data(), dy.size(), m.dtype);
    b.dx = Buffer(dx.data(), dx.size(), m.dtype);
    b.dweights = Buffer(dweights.data(), dweights.size(), m.dtype);
    const Reserve r{reserve.data(), reserve.size() * sizeof(T)};
    forward_train(f, r, Stream{});
    backward(f, b, r, Stream{});
    if (inference_has_own_path(batch)) forward(f, Stream{});
    // The copies of x and dy that calls with lengths or in batch-major order make (these
    // full-length calls read them in place where the layout is time-major).
    sized(x_, tb * I);
    sized(dy_, tb * D);
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
  // Whether inference runs a layer on a path that training's forward pass does not take at this
  // batch size (cpu/small_batch.h, or cpu/tiled_recurrence.h where only inference takes it).
  bool inference_has_own_path(int batch) const {
    if constexpr (!std::is_same_v<T, float>) {
      return false;
    } else {
      for (const Layer& layer : model().layers) {
        if (cpu::small_batch_lstm_applies(layer, batch)) return true;
        if (cpu::tiled_recurrence_applies(layer, batch, false) &&
            !cpu::tiled_recurrence_applies(layer, batch, true)) {
          return true;
        }
      }
      return false;
    }
  }

  // What the float32 recurrence paths (cpu/small_batch.h, cpu/tiled_recurrence.h) keep beside
  // the slots, both directions: each array at the largest layer's size, since layers reuse them.
  std::size_t recurrence_path_bytes(int batch) const {
    if constexpr (!std::is_same_v<T, float>) {
      return 0;
    } else {
      std::size_t arrays[8] = {};
      auto grow = [&](int i, std::size_t n) { arrays[i] = std::max(arrays[i], n); };
      for (int l = 0; l < static_cast<int>(model().layers.size()); ++l) {
        const Layer& layer = model().layers[l];
        const std::size_t H = layer.hidden;
        if (cpu::small_batch_lstm_applies(layer, batch)) {
          grow(0, std::size_t(batch) * H);
          grow(1, 4 * H * H);
        }
        if (cpu::tiled_recurrence_applies(layer, batch, false) ||
            cpu::tiled_recurrence_applies(layer, batch, true)) {
          grow(2, cpu::tiled_recurrence_h_size(layer, batch));
          grow(3, cpu::tiled_recurrence_packed_size(layer));
          grow(4, cpu::tiled_recurrence_sums_size(layer, batch, threads_));
        }
        if (cpu::packed_step_gemm_applies()) {
          // The recurrent weights in panels, forward (Wh^T, with Wx^T above it where the layer
          // projects x in its steps) and backward (Wh); the second array holds a GRU's n rows
          // apart when it resets before the matmul (with Wxn^T above them where it projects x in
          // its steps); the third, the step's rows of x.
          const int h = layer.hidden, gh = cell_traits(cell_kind(layer)).gates * h;
          const int in = layer_input_size(model(), l);
          grow(5, std::max(cpu::packed_panels_size(gh, h + in), cpu::packed_panels_size(h, gh)));
          grow(6, cpu::packed_panels_size(h, h + in));
          grow(7, std::size_t(batch) * in);
        }
      }
      std::size_t n = 0;
      for (std::size_t a : arrays) n += a;
      return 2 * n * sizeof(float);
    }
  }

  T* arrays(Reserve reserve) const {
    return reinterpret_cast<T*>(static_cast<unsigned char*>(reserve.data) + sizeof(ReserveHeader));
  }

  fused::Sequences sequences(const Forward& args) {
    lengths_.assign(args.batch, args.steps);
    if (args.lengths != nullptr)
      std::copy(args.lengths, args.lengths + args.batch, lengths_.begin());
    fused::Sequences seq;
    seq.B = args.batch;
    seq.len = lengths_.data();
    seq.max_len = *std::max_element(lengths_.begin(), lengths_.end());
    return seq;
  }

  // Whether the caller's time-major sequences can be read where they are: every sequence runs
  // all the steps, so no row past a length needs zeroing.
  bool reads_in_place(const fused::Sequences& seq, int steps) const {
    return model().layout == Layout::time_major &&
           std::all_of(seq.len, seq.len + seq.B, [steps](int len) { return len == steps; });
  }

  // A sequence input of the caller's ([steps][batch][F] in its layout): time-major, rows past each
  // length zeroed so that nothing the caller left there (NaN included) reaches a GEMM; the
  // caller's own array where reads_in_place, else a copy into `copy`.
  const T* sequence_input(const void* data, int steps, const fused::Sequences& seq, std::size_t F,
                          std::vector<T>& copy) {
    const T* in = static_cast<const T*>(data);
    if (reads_in_place(seq, steps)) return in;
    T* t = sized(copy, std::size_t(steps) * seq.B * F);
    to_time_major(in, steps, seq.B, F, model().layout, t, threads_);
    fw_.zero_ended_rows(seq, steps, F, t);
    return t;
  }
  const T* input(const Forward& args, const fused::Sequences& seq) {
    return sequence_input(args.x.data, args.steps, seq, model().input_size, x_);
  }

  // A zero-filled array standing in for an optional buffer the caller left empty.
  const T* or_zeros(ConstBuffer b, std::size_t n) {
    if (!b.empty()) return static_cast<const T*>(b.data);
    T* zeros = sized(zeros_, n);
    std::fill(zeros, zeros + n, T(0));
    return zeros;
  }

  void run_forward(const Forward& args, T* reserve);

  int threads_;
  cpu::CpuBackend<T> fw_, bw_;  // one per direction: each keeps its own scratch
  std::vector<int> lengths_;
  std::vector<T> x_, y_, state_, zeros_, dy_, dx_, dstate_, dweights_;
};

template <class T>
void CpuEngine<T>::run_forward(const Forward& args, T* reserve) {
  fused::check_gemm_limits(args.steps, args.batch, Engine::cpu);
  const cpu::ThreadScope threads(threads_);
  const Model& m = model();
  const fused::Sequences seq = sequences(args);
  const std::size_t D = output_size(m), tb = std::size_t(args.steps) * args.batch;
  const std::size_t state = StateLayout(m, args.batch).size();
  const T* x = input(args, seq);
  const T* init = or_zeros(args.init, state);
  T* y = sized(y_, tb * D);
  T* final_state = sized(state_, state);
  fused::network_forward(m, seq, args.steps, x, static_cast<const T*>(args.weights.data), init, y,
                         final_state, reserve, fw_, bw_);

  // Everything is computed; only now write the caller's outputs.
  from_time_major(y, args.steps, args.batch, D, m.layout, static_cast<T*>(args.y.data), threads_);
  if (!args.final_state.empty()) {
    std::copy(final_state, final_state + state, static_cast<T*>(args.final_state.data));
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
  fused::check_gemm_limits(args.steps, args.batch, Engine::cpu);
  const cpu::ThreadScope threads(threads_);
  const Model& m = model();
  const fused::Sequences seq = sequences(args);
  const std::size_t D = output_size(m), I = m.input_size;
  const std::size_t tb = std::size_t(args.steps) * args.batch;
  const std::size_t state = StateLayout(m, args.batch).size(), weights = args.weights.size;

  const T* dy = sequence_input(grads.dy.data, args.steps, seq, D, dy_);
  const T* dfinal = or_zeros(grads.dfinal, state);
  const T* x = input(args, seq);
  // No dx asked for: its GEMM is skipped (a trainer's first layer rarely needs it).
  T* dx = grads.dx.empty() ? nullptr : sized(dx_, tb * I);
  T* dinit = sized(dstate_, state);
  T* dW = sized(dweights_, weights);
  std::fill(dW, dW + weights, T(0));
  fused::network_backward(m, seq, args.steps, x, static_cast<const T*>(args.weights.data),
                          arrays(reserve), dy, dfinal, dx, dinit, dW, fw_, bw_);

  // Everything is computed; only now write the caller's outputs.
  T* dweights = static_cast<T*>(grads.dweights.data);
  for (std::size_t k = 0; k < weights; ++k) {
    dweights[k] = grads.accumulate ? dweights[k] + dW[k] : dW[k];
  }
  if (!grads.dx.empty()) {
    from_time_major(dx, args.steps, args.batch, I, m.layout, static_cast<T*>(grads.dx.data),
                    threads_);
  }
  if (!grads.dinit.empty()) std::copy(dinit, dinit + state, static_cast<T*>(grads.dinit.data));
}

}  // namespace

std::unique_ptr<EngineImpl> make_cpu_engine(const Model& model, const Options& options) {
  if (options.allow_tf32) {
    throw Error(Status::unsupported,
                "Options.allow_tf32: the cpu engine has no TF32 mode; TF32 is for the GPU engines");
  }
  check_not_half(model, Engine::cpu);
  const int threads = cpu::resolve_threads(options.cpu.threads);
  if (model.dtype == DType::f64) return std::make_unique<CpuEngine<double>>(model, threads);
  return std::make_unique<CpuEngine<float>>(model, threads);
}

}  // namespace rnnx
