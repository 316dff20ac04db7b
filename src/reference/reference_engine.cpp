#include "reference/reference_engine.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "rnnx/error.h"
#include "rnnx/half.h"
#include "rnnx/layout.h"

namespace rnnx {

namespace {

using Vec = std::vector<double>;

double sigmoid(double v) {
  return 1.0 / (1.0 + std::exp(-v));
}

// ---------------------------------------------------------------------------------------------
// Caller buffers <-> float64

double element(ConstBuffer b, std::size_t k) {
  switch (b.dtype) {
    case DType::f64:
      return static_cast<const double*>(b.data)[k];
    case DType::bf16:
      return bf16_to_float(static_cast<const std::uint16_t*>(b.data)[k]);
    case DType::f16:
      return f16_to_float(static_cast<const std::uint16_t*>(b.data)[k]);
    case DType::f32:
      break;
  }
  return static_cast<const float*>(b.data)[k];
}

// bf16/f16 values are exact in float64: the reference computes on the same rounded values as a
// bf16/f16 engine, and rounds what such an engine stores in 16 bits (below).
Vec read(ConstBuffer b) {
  Vec v(b.size);
  for (std::size_t k = 0; k < b.size; ++k) v[k] = element(b, k);
  return v;
}

Vec read_or_zeros(ConstBuffer b, std::size_t size) {
  return b.empty() ? Vec(size, 0.0) : read(b);
}

// The value a bf16/f16 buffer holds for v: float64 -> float32 -> 16 bits, as write() stores it.
double round_to(DType dtype, double v) {
  const auto f = static_cast<float>(v);
  switch (dtype) {
    case DType::bf16:
      return bf16_to_float(float_to_bf16(f));
    case DType::f16:
      return f16_to_float(float_to_f16(f));
    case DType::f32:
    case DType::f64:
      break;
  }
  return v;
}

void write(const Vec& v, Buffer b) {
  for (std::size_t k = 0; k < v.size(); ++k) {
    const auto f = static_cast<float>(v[k]);  // bf16/f16: float64 -> float32 -> 16 bits
    switch (b.dtype) {
      case DType::f64:
        static_cast<double*>(b.data)[k] = v[k];
        break;
      case DType::f32:
        static_cast<float*>(b.data)[k] = f;
        break;
      case DType::bf16:
        static_cast<std::uint16_t*>(b.data)[k] = float_to_bf16(f);
        break;
      case DType::f16:
        static_cast<std::uint16_t*>(b.data)[k] = float_to_f16(f);
        break;
    }
  }
}

// [n0][n1][F] -> [n1][n0][F]: between the caller's batch-major and the engine's time-major.
Vec swap_outer_axes(const Vec& v, int n0, int n1, int F) {
  Vec out(v.size());
  for (int i = 0; i < n0; ++i)
    for (int j = 0; j < n1; ++j)
      for (int f = 0; f < F; ++f)
        out[(std::size_t(j) * n0 + i) * F + f] = v[(std::size_t(i) * n1 + j) * F + f];
  return out;
}

// The engine works on time-major sequences [T][B][F]; the caller's may be batch-major.
Vec to_time_major(const Vec& v, int T, int B, int F, Layout layout) {
  return layout == Layout::time_major ? v : swap_outer_axes(v, B, T, F);
}

Vec from_time_major(const Vec& v, int T, int B, int F, Layout layout) {
  return layout == Layout::time_major ? v : swap_outer_axes(v, T, B, F);
}

// ---------------------------------------------------------------------------------------------
// Dense algebra, one row at a time

// out[r] = b[r] + sum_k W[r][k] v[k]
void affine(const double* W, const double* b, int rows, int cols, const double* v, double* out) {
  for (int r = 0; r < rows; ++r) {
    double sum = b[r];
    for (int k = 0; k < cols; ++k) sum += W[std::size_t(r) * cols + k] * v[k];
    out[r] = sum;
  }
}

// out[k] += sum_r W[r][k] d[r]
void add_transposed(const double* W, int rows, int cols, const double* d, double* out) {
  for (int r = 0; r < rows; ++r)
    for (int k = 0; k < cols; ++k) out[k] += W[std::size_t(r) * cols + k] * d[r];
}

// gW[r][k] += d[r] v[k], gb[r] += d[r]
void add_outer(double* gW, double* gb, int rows, int cols, const double* d, const double* v) {
  for (int r = 0; r < rows; ++r) {
    gb[r] += d[r];
    for (int k = 0; k < cols; ++k) gW[std::size_t(r) * cols + k] += d[r] * v[k];
  }
}

// ---------------------------------------------------------------------------------------------
// One cell step, forward and backward

struct CellWeights {
  const Layer* layer;
  int input;
  const double* Wx;  // [G*H, input]
  const double* Wh;  // [G*H, H]
  const double* bx;  // [G*H]
  const double* bh;  // [G*H]
};

struct CellGrads {
  double* Wx;
  double* Wh;
  double* bx;
  double* bh;
};

void lstm_step(const CellWeights& w, const double* x, const double* hp, const double* cp, double* h,
               double* c) {
  const int H = w.layer->hidden;
  Vec ax(4 * H), ah(4 * H);
  affine(w.Wx, w.bx, 4 * H, w.input, x, ax.data());
  affine(w.Wh, w.bh, 4 * H, H, hp, ah.data());
  for (int j = 0; j < H; ++j) {
    const double i = sigmoid(ax[j] + ah[j]);
    const double f = sigmoid(ax[H + j] + ah[H + j] + w.layer->forget_bias);
    const double g = std::tanh(ax[2 * H + j] + ah[2 * H + j]);
    const double o = sigmoid(ax[3 * H + j] + ah[3 * H + j]);
    c[j] = f * cp[j] + i * g;
    h[j] = o * std::tanh(c[j]);
  }
}

// Given dh, dc at the step's output: adds to the weight gradients and dx, writes dhp, dcp.
void lstm_step_backward(const CellWeights& w, const CellGrads& grad, const double* x,
                        const double* hp, const double* cp, const double* dh, const double* dc,
                        double* dx, double* dhp, double* dcp) {
  const int H = w.layer->hidden;
  Vec ax(4 * H), ah(4 * H), dz(4 * H);
  affine(w.Wx, w.bx, 4 * H, w.input, x, ax.data());
  affine(w.Wh, w.bh, 4 * H, H, hp, ah.data());
  for (int j = 0; j < H; ++j) {
    const double i = sigmoid(ax[j] + ah[j]);
    const double f = sigmoid(ax[H + j] + ah[H + j] + w.layer->forget_bias);
    const double g = std::tanh(ax[2 * H + j] + ah[2 * H + j]);
    const double o = sigmoid(ax[3 * H + j] + ah[3 * H + j]);
    const double tc = std::tanh(f * cp[j] + i * g);
    const double dc_total = dc[j] + dh[j] * o * (1 - tc * tc);
    dz[j] = dc_total * g * i * (1 - i);
    dz[H + j] = dc_total * cp[j] * f * (1 - f);
    dz[2 * H + j] = dc_total * i * (1 - g * g);
    dz[3 * H + j] = dh[j] * tc * o * (1 - o);
    dcp[j] = dc_total * f;
  }
  add_outer(grad.Wx, grad.bx, 4 * H, w.input, dz.data(), x);
  add_outer(grad.Wh, grad.bh, 4 * H, H, dz.data(), hp);
  add_transposed(w.Wx, 4 * H, w.input, dz.data(), dx);
  for (int j = 0; j < H; ++j) dhp[j] = 0;
  add_transposed(w.Wh, 4 * H, H, dz.data(), dhp);
}

// What a GRU step computes on the way to h, kept for its backward.
struct GruGates {
  Vec r, z, n;
  Vec rh;  // r * h_prev (reset before the matmul)
  Vec hn;  // the recurrent term of n: Whn h + bhn (after) or Whn (r*h) + bhn (before)
};

GruGates gru_gates(const CellWeights& w, const double* x, const double* hp) {
  const int H = w.layer->hidden;
  const bool before = cell_kind(*w.layer) == CellKind::gru_reset_before;
  Vec ax(3 * H), ah(3 * H);
  affine(w.Wx, w.bx, 3 * H, w.input, x, ax.data());
  affine(w.Wh, w.bh, 3 * H, H, hp, ah.data());
  GruGates gates{Vec(H), Vec(H), Vec(H), Vec(H), Vec(H)};
  for (int j = 0; j < H; ++j) {
    gates.r[j] = sigmoid(ax[j] + ah[j]);
    gates.z[j] = sigmoid(ax[H + j] + ah[H + j]);
    gates.rh[j] = gates.r[j] * hp[j];
  }
  if (before) {
    affine(w.Wh + std::size_t(2) * H * H, w.bh + 2 * H, H, H, gates.rh.data(), gates.hn.data());
  } else {
    for (int j = 0; j < H; ++j) gates.hn[j] = ah[2 * H + j];
  }
  for (int j = 0; j < H; ++j) {
    const double recurrent = before ? gates.hn[j] : gates.r[j] * gates.hn[j];
    gates.n[j] = std::tanh(ax[2 * H + j] + recurrent);
  }
  return gates;
}

void gru_step(const CellWeights& w, const double* x, const double* hp, double* h) {
  const GruGates g = gru_gates(w, x, hp);
  for (int j = 0; j < w.layer->hidden; ++j) h[j] = (1 - g.z[j]) * g.n[j] + g.z[j] * hp[j];
}

void gru_step_backward(const CellWeights& w, const CellGrads& grad, const double* x,
                       const double* hp, const double* dh, double* dx, double* dhp) {
  const int H = w.layer->hidden;
  const bool before = cell_kind(*w.layer) == CellKind::gru_reset_before;
  const GruGates g = gru_gates(w, x, hp);
  Vec dax(3 * H), dah(3 * H), dr(H);
  for (int j = 0; j < H; ++j) {
    const double dn_pre = dh[j] * (1 - g.z[j]) * (1 - g.n[j] * g.n[j]);
    const double dz_pre = dh[j] * (hp[j] - g.n[j]) * g.z[j] * (1 - g.z[j]);
    dhp[j] = dh[j] * g.z[j];
    dax[2 * H + j] = dn_pre;
    dah[2 * H + j] = before ? dn_pre : dn_pre * g.r[j];
    if (!before) dr[j] = dn_pre * g.hn[j];
    dax[H + j] = dah[H + j] = dz_pre;
  }
  if (before) {
    // n depends on h_prev through Whn (r*h): d(r*h) = Whn^T dn_pre.
    Vec drh(H, 0.0);
    add_transposed(w.Wh + std::size_t(2) * H * H, H, H, dah.data() + 2 * H, drh.data());
    for (int j = 0; j < H; ++j) {
      dr[j] = drh[j] * hp[j];
      dhp[j] += drh[j] * g.r[j];
    }
  }
  for (int j = 0; j < H; ++j) dax[j] = dah[j] = dr[j] * g.r[j] * (1 - g.r[j]);

  add_outer(grad.Wx, grad.bx, 3 * H, w.input, dax.data(), x);
  add_transposed(w.Wx, 3 * H, w.input, dax.data(), dx);
  if (before) {
    add_outer(grad.Wh, grad.bh, 2 * H, H, dah.data(), hp);
    add_outer(grad.Wh + std::size_t(2) * H * H, grad.bh + 2 * H, H, H, dah.data() + 2 * H,
              g.rh.data());
    add_transposed(w.Wh, 2 * H, H, dah.data(), dhp);
  } else {
    add_outer(grad.Wh, grad.bh, 3 * H, H, dah.data(), hp);
    add_transposed(w.Wh, 3 * H, H, dah.data(), dhp);
  }
}

// The vanilla RNN: h = act(Wx x + bx + Wh h_prev + bh), act = tanh or relu.
double rnn_activation(CellKind kind, double v) {
  return kind == CellKind::rnn_relu ? (v < 0 ? 0.0 : v) : std::tanh(v);  // relu(NaN) = NaN
}

// act'(v) at the pre-activation v (relu's derivative at 0 taken as 0, as PyTorch does).
double rnn_activation_slope(CellKind kind, double v) {
  if (kind == CellKind::rnn_relu) return v > 0 ? 1.0 : 0.0;
  const double t = std::tanh(v);
  return 1 - t * t;
}

Vec rnn_preactivation(const CellWeights& w, const double* x, const double* hp) {
  const int H = w.layer->hidden;
  Vec ax(H), ah(H);
  affine(w.Wx, w.bx, H, w.input, x, ax.data());
  affine(w.Wh, w.bh, H, H, hp, ah.data());
  for (int j = 0; j < H; ++j) ax[j] += ah[j];
  return ax;
}

void rnn_step(const CellWeights& w, CellKind kind, const double* x, const double* hp, double* h) {
  const Vec pre = rnn_preactivation(w, x, hp);
  for (int j = 0; j < w.layer->hidden; ++j) h[j] = rnn_activation(kind, pre[j]);
}

void rnn_step_backward(const CellWeights& w, CellKind kind, const CellGrads& grad, const double* x,
                       const double* hp, const double* dh, double* dx, double* dhp) {
  const int H = w.layer->hidden;
  const Vec pre = rnn_preactivation(w, x, hp);
  Vec dz(H);
  for (int j = 0; j < H; ++j) dz[j] = dh[j] * rnn_activation_slope(kind, pre[j]);
  add_outer(grad.Wx, grad.bx, H, w.input, dz.data(), x);
  add_outer(grad.Wh, grad.bh, H, H, dz.data(), hp);
  add_transposed(w.Wx, H, w.input, dz.data(), dx);
  for (int j = 0; j < H; ++j) dhp[j] = 0;
  add_transposed(w.Wh, H, H, dz.data(), dhp);
}

// One step of any cell: h (and c, LSTM only) from x and the previous state.
void cell_step(CellKind kind, const CellWeights& w, const double* x, const double* hp,
               const double* cp, double* h, double* c) {
  switch (kind) {
    case CellKind::lstm:
      lstm_step(w, x, hp, cp, h, c);
      return;
    case CellKind::gru_reset_after:
    case CellKind::gru_reset_before:
      gru_step(w, x, hp, h);
      return;
    case CellKind::rnn_tanh:
    case CellKind::rnn_relu:
      rnn_step(w, kind, x, hp, h);
      return;
  }
}

// Its backward: dh (and dc) at the step's output in, dhp (and dcp) out; adds to the weight
// gradients and dx.
void cell_step_backward(CellKind kind, const CellWeights& w, const CellGrads& grad, const double* x,
                        const double* hp, const double* cp, const double* dh, const double* dc,
                        double* dx, double* dhp, double* dcp) {
  switch (kind) {
    case CellKind::lstm:
      lstm_step_backward(w, grad, x, hp, cp, dh, dc, dx, dhp, dcp);
      return;
    case CellKind::gru_reset_after:
    case CellKind::gru_reset_before:
      gru_step_backward(w, grad, x, hp, dh, dx, dhp);
      return;
    case CellKind::rnn_tanh:
    case CellKind::rnn_relu:
      rnn_step_backward(w, kind, grad, x, hp, dh, dx, dhp);
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// The whole network

struct Problem {
  int T, B;
  std::vector<int> lengths;
};

Problem problem_of(const Forward& args) {
  Problem p{args.steps, args.batch, std::vector<int>(args.batch, args.steps)};
  if (args.lengths != nullptr) {
    for (int b = 0; b < args.batch; ++b) p.lengths[b] = args.lengths[b];
  }
  return p;
}

// Step s of a sequence of length len reads and writes time t: forward s, backward len-1-s.
int time_of(Dir dir, int s, int len) {
  return dir == Dir::fw ? s : len - 1 - s;
}

std::size_t at(const Problem& p, int t, int b, int width) {
  return (std::size_t(t) * p.B + b) * width;
}

// Everything the forward pass computes, in float64. inputs[l] is layer l's input sequence
// (time-major [T][B][I_l]); inputs.back() is the network's output. h_prev/c_prev[l*2+d] hold the
// state each step of layer l, direction d started from, at [t][b][H].
struct Pass {
  std::vector<Vec> inputs;
  std::vector<Vec> h_prev, c_prev;
  Vec final_state;
};

CellWeights cell_weights(const Model& model, const WeightLayout& layout, const Vec& W, int l,
                         Dir d) {
  return CellWeights{&model.layers[l],
                     layer_input_size(model, l),
                     W.data() + layout.offset(l, d, Param::Wx),
                     W.data() + layout.offset(l, d, Param::Wh),
                     W.data() + layout.offset(l, d, Param::bx),
                     W.data() + layout.offset(l, d, Param::bh)};
}

Pass run_forward(const Model& model, const Forward& args) {
  const Problem p = problem_of(args);
  const WeightLayout wl(model);
  const StateLayout sl(model, p.B);
  const Vec W = read(args.weights);
  const Vec init = read_or_zeros(args.init, sl.size());
  const int L = static_cast<int>(model.layers.size());

  Pass pass;
  pass.inputs.push_back(to_time_major(read(args.x), p.T, p.B, model.input_size, model.layout));
  pass.h_prev.resize(2 * L);
  pass.c_prev.resize(2 * L);
  pass.final_state.assign(sl.size(), 0.0);

  for (int l = 0; l < L; ++l) {
    const Layer& layer = model.layers[l];
    const int H = layer.hidden, I = layer_input_size(model, l), D = output_size(layer);
    const CellKind kind = cell_kind(layer);
    const bool lstm = cell_traits(kind).has_c;
    const Vec& in = pass.inputs[l];
    Vec out(std::size_t(p.T) * p.B * D, 0.0);  // zero past each length
    for (int di = 0; di < directions(layer); ++di) {
      const Dir dir = di == 0 ? Dir::fw : Dir::bw;
      const CellWeights w = cell_weights(model, wl, W, l, dir);
      Vec& hps = pass.h_prev[2 * l + di];
      Vec& cps = pass.c_prev[2 * l + di];
      hps.assign(std::size_t(p.T) * p.B * H, 0.0);
      if (lstm) cps.assign(hps.size(), 0.0);
      for (int b = 0; b < p.B; ++b) {
        Vec h(init.begin() + sl.h(l, dir) + std::size_t(b) * H,
              init.begin() + sl.h(l, dir) + std::size_t(b + 1) * H);
        Vec c = lstm ? Vec(init.begin() + sl.c(l, dir) + std::size_t(b) * H,
                           init.begin() + sl.c(l, dir) + std::size_t(b + 1) * H)
                     : Vec();
        for (int s = 0; s < p.lengths[b]; ++s) {
          const int t = time_of(dir, s, p.lengths[b]);
          std::copy(h.begin(), h.end(), hps.begin() + at(p, t, b, H));
          if (lstm) std::copy(c.begin(), c.end(), cps.begin() + at(p, t, b, H));
          const double* x = in.data() + at(p, t, b, I);
          cell_step(kind, w, x, &hps[at(p, t, b, H)], lstm ? &cps[at(p, t, b, H)] : nullptr,
                    h.data(), c.data());
          std::copy(h.begin(), h.end(), out.begin() + at(p, t, b, D) + std::size_t(di) * H);
        }
        std::copy(h.begin(), h.end(), pass.final_state.begin() + sl.h(l, dir) + std::size_t(b) * H);
        if (lstm) {
          std::copy(c.begin(), c.end(),
                    pass.final_state.begin() + sl.c(l, dir) + std::size_t(b) * H);
        }
      }
    }
    // A bf16/f16 model's layer output is the next layer's input in the model's dtype (as y is):
    // rounded here as gpu_persistent stores it, so that the two differ only in arithmetic.
    if (is_half(model.dtype) && l + 1 < L) {
      for (double& v : out) v = round_to(model.dtype, v);
    }
    pass.inputs.push_back(std::move(out));
  }
  return pass;
}

// ---------------------------------------------------------------------------------------------
// The reserve: a header that identifies the call, then the Pass's layer inputs and states.

struct ReserveHeader {
  char magic[8];
  std::int64_t steps, batch;
  std::uint64_t weights;
};
constexpr char kMagic[8] = {'r', 'n', 'n', 'x', 'r', 'e', 'f', '1'};

// The float64 arrays the reserve holds, in order: per layer its input, then h_prev (and c_prev)
// of each direction.
std::vector<std::size_t> reserve_arrays(const Model& model, int T, int B) {
  std::vector<std::size_t> sizes;
  const std::size_t tb = std::size_t(T) * B;
  for (int l = 0; l < static_cast<int>(model.layers.size()); ++l) {
    const Layer& layer = model.layers[l];
    sizes.push_back(tb * layer_input_size(model, l));
    for (int d = 0; d < directions(layer); ++d) {
      sizes.push_back(tb * layer.hidden);
      if (cell_traits(layer).has_c) sizes.push_back(tb * layer.hidden);
    }
  }
  return sizes;
}

template <class Visit>
void for_each_reserved(const Model& model, Pass& pass, Visit visit) {
  for (int l = 0; l < static_cast<int>(model.layers.size()); ++l) {
    const Layer& layer = model.layers[l];
    visit(pass.inputs[l]);
    for (int d = 0; d < directions(layer); ++d) {
      visit(pass.h_prev[2 * l + d]);
      if (cell_traits(layer).has_c) visit(pass.c_prev[2 * l + d]);
    }
  }
}

class ReferenceEngine final : public EngineImpl {
 public:
  using EngineImpl::EngineImpl;

  Engine kind() const noexcept override { return Engine::cpu_reference; }

  std::size_t reserve_bytes(int steps, int batch) const override {
    std::size_t doubles = 0;
    for (std::size_t n : reserve_arrays(model(), steps, batch)) doubles += n;
    return sizeof(ReserveHeader) + doubles * sizeof(double);
  }

  void forward(const Forward& args, Stream) override {
    Pass pass = run_forward(model(), args);
    write_outputs(args, pass);
  }

  void forward_train(const Forward& args, Reserve reserve, Stream) override {
    Pass pass = run_forward(model(), args);
    // Memory is copied byte-wise: the caller's reserve need not be aligned for double.
    ReserveHeader header{};
    std::memcpy(header.magic, kMagic, sizeof kMagic);
    header.steps = args.steps;
    header.batch = args.batch;
    header.weights = args.weights.size;
    auto* bytes = static_cast<unsigned char*>(reserve.data);
    std::memcpy(bytes, &header, sizeof header);
    bytes += sizeof header;
    for_each_reserved(model(), pass, [&](const Vec& v) {
      std::memcpy(bytes, v.data(), v.size() * sizeof(double));
      bytes += v.size() * sizeof(double);
    });
    write_outputs(args, pass);
  }

  void backward(const Forward& args, const Backward& grads, Reserve reserve, Stream) override {
    const Model& m = model();
    const Problem p = problem_of(args);
    Pass pass = load_reserve(args, reserve);
    const WeightLayout wl(m);
    const StateLayout sl(m, p.B);
    const Vec W = read(args.weights);
    const int L = static_cast<int>(m.layers.size());

    Vec dW(W.size(), 0.0);
    Vec dinit(sl.size(), 0.0);
    const Vec dfinal = read_or_zeros(grads.dfinal, sl.size());
    Vec dout = to_time_major(read(grads.dy), p.T, p.B, output_size(m), m.layout);

    for (int l = L - 1; l >= 0; --l) {
      const Layer& layer = m.layers[l];
      const int H = layer.hidden, I = layer_input_size(m, l), D = output_size(layer);
      const CellKind kind = cell_kind(layer);
      const bool lstm = cell_traits(kind).has_c;
      const Vec& in = pass.inputs[l];
      Vec din(std::size_t(p.T) * p.B * I, 0.0);
      for (int di = 0; di < directions(layer); ++di) {
        const Dir dir = di == 0 ? Dir::fw : Dir::bw;
        const CellWeights w = cell_weights(m, wl, W, l, dir);
        const CellGrads g{
            dW.data() + wl.offset(l, dir, Param::Wx), dW.data() + wl.offset(l, dir, Param::Wh),
            dW.data() + wl.offset(l, dir, Param::bx), dW.data() + wl.offset(l, dir, Param::bh)};
        const Vec& hps = pass.h_prev[2 * l + di];
        const Vec& cps = pass.c_prev[2 * l + di];
        for (int b = 0; b < p.B; ++b) {
          const std::size_t h_at = sl.h(l, dir) + std::size_t(b) * H;
          Vec dh(dfinal.begin() + h_at, dfinal.begin() + h_at + H);
          Vec dc(H, 0.0), dhp(H), dcp(H, 0.0);
          if (lstm) {
            const std::size_t c_at = sl.c(l, dir) + std::size_t(b) * H;
            dc.assign(dfinal.begin() + c_at, dfinal.begin() + c_at + H);
          }
          for (int s = p.lengths[b] - 1; s >= 0; --s) {
            const int t = time_of(dir, s, p.lengths[b]);
            for (int j = 0; j < H; ++j) dh[j] += dout[at(p, t, b, D) + std::size_t(di) * H + j];
            const double* x = in.data() + at(p, t, b, I);
            double* dx = din.data() + at(p, t, b, I);
            cell_step_backward(kind, w, g, x, &hps[at(p, t, b, H)],
                               lstm ? &cps[at(p, t, b, H)] : nullptr, dh.data(), dc.data(), dx,
                               dhp.data(), dcp.data());
            if (lstm) dc = dcp;
            dh = dhp;
          }
          std::copy(dh.begin(), dh.end(), dinit.begin() + h_at);
          if (lstm)
            std::copy(dc.begin(), dc.end(), dinit.begin() + sl.c(l, dir) + std::size_t(b) * H);
        }
      }
      dout = std::move(din);
    }

    // Every result is computed; only now touch the caller's outputs.
    if (grads.accumulate) {
      const Vec previous = read(grads.dweights);
      for (std::size_t k = 0; k < dW.size(); ++k) dW[k] += previous[k];
    }
    write(dW, grads.dweights);
    if (!grads.dx.empty()) write(from_time_major(dout, p.T, p.B, m.input_size, m.layout), grads.dx);
    if (!grads.dinit.empty()) write(dinit, grads.dinit);
  }

 private:
  void write_outputs(const Forward& args, const Pass& pass) const {
    write(from_time_major(pass.inputs.back(), args.steps, args.batch, output_size(model()),
                          model().layout),
          args.y);
    if (!args.final_state.empty()) write(pass.final_state, args.final_state);
  }

  Pass load_reserve(const Forward& args, Reserve reserve) const {
    ReserveHeader header{};
    const auto* bytes = static_cast<const unsigned char*>(reserve.data);
    std::memcpy(&header, bytes, sizeof header);
    if (std::memcmp(header.magic, kMagic, sizeof kMagic) != 0 || header.steps != args.steps ||
        header.batch != args.batch || header.weights != args.weights.size) {
      throw Error(Status::invalid_argument,
                  "reserve: was not filled by this plan's forward_train with steps = " +
                      std::to_string(args.steps) + " and batch = " + std::to_string(args.batch));
    }
    bytes += sizeof header;
    Pass pass;
    const int L = static_cast<int>(model().layers.size());
    pass.inputs.resize(L);
    pass.h_prev.resize(2 * L);
    pass.c_prev.resize(2 * L);
    const std::vector<std::size_t> sizes = reserve_arrays(model(), args.steps, args.batch);
    std::size_t k = 0;
    for_each_reserved(model(), pass, [&](Vec& v) {
      v.resize(sizes[k++]);
      std::memcpy(v.data(), bytes, v.size() * sizeof(double));
      bytes += v.size() * sizeof(double);
    });
    return pass;
  }
};

}  // namespace

std::unique_ptr<EngineImpl> make_reference_engine(const Model& model, const Options& options) {
  if (options.cpu.threads > 1) {
    throw Error(Status::unsupported,
                "Options.cpu.threads = " + std::to_string(options.cpu.threads) +
                    ": cpu_reference is single-threaded and accepts 0 or 1; the cpu engine "
                    "uses threads");
  }
  if (options.allow_tf32) {
    throw Error(Status::unsupported,
                "Options.allow_tf32: cpu_reference computes in float64 and has no TF32 mode; "
                "TF32 is for the GPU engines");
  }
  return std::make_unique<ReferenceEngine>(model);
}

}  // namespace rnnx
