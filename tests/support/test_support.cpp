#include "support/test_support.h"

#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <sstream>

#include "io/npy.h"

namespace rnnx::test {

bool gpu_required() {
  const char* value = std::getenv("RNNX_REQUIRE_GPU");
  return value != nullptr && std::string(value) == "1";
}

std::vector<double> random_values(std::size_t n, std::uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  for (double& e : v) e = u(rng);
  return v;
}

Problem random_problem(const Model& model, int steps, int batch, std::vector<std::int32_t> lengths,
                       std::uint64_t seed, bool with_init, bool with_dfinal) {
  Problem p;
  p.model = model;
  p.steps = steps;
  p.batch = batch;
  p.lengths = std::move(lengths);
  const std::size_t tb = std::size_t(steps) * batch;
  const std::size_t state = StateLayout(model, batch).size();
  p.x = random_values(tb * model.input_size, seed * 7 + 1);
  // Weights as frameworks initialise them: uniform in +-1/sqrt(H) of their layer.
  const WeightLayout wl(model);
  p.weights = random_values(wl.size(), seed * 7 + 2);
  for (int l = 0; l < static_cast<int>(model.layers.size()); ++l) {
    const Layer& layer = model.layers[l];
    const double scale = 1.0 / std::sqrt(static_cast<double>(layer.hidden));
    const std::size_t begin = wl.offset(l, Dir::fw, Param::Wx);
    const std::size_t end = l + 1 < static_cast<int>(model.layers.size())
                                ? wl.offset(l + 1, Dir::fw, Param::Wx)
                                : wl.size();
    for (std::size_t k = begin; k < end; ++k) p.weights[k] *= scale;
  }
  if (with_init) p.init = random_values(state, seed * 7 + 3);
  p.dy = random_values(tb * output_size(model), seed * 7 + 4);
  if (with_dfinal) p.dfinal = random_values(state, seed * 7 + 5);
  return p;
}

namespace {

// Host memory in a dtype, filled from or read back to float64 (bf16/f16 rounded on the way in).
class Typed {
 public:
  Typed(DType dtype, const std::vector<double>& values) : dtype_(dtype), size_(values.size()) {
    if (dtype == DType::f64) {
      f64_ = values;
    } else if (dtype == DType::f32) {
      f32_.assign(values.begin(), values.end());
    } else {
      for (double v : values) u16_.push_back(to_half(dtype, static_cast<float>(v)));
    }
  }
  Typed(DType dtype, std::size_t n)
      : Typed(dtype, std::vector<double>(n, std::numeric_limits<double>::quiet_NaN())) {}

  std::size_t size() const { return size_; }
  ConstBuffer in() const {
    if (size() == 0) return {};
    return ConstBuffer(data(), size_, dtype_);
  }
  Buffer out() { return Buffer(const_cast<void*>(data()), size_, dtype_); }
  std::vector<double> values() const {
    if (dtype_ == DType::f64) return f64_;
    if (dtype_ == DType::f32) return std::vector<double>(f32_.begin(), f32_.end());
    std::vector<double> v;
    for (std::uint16_t bits : u16_) v.push_back(from_half(dtype_, bits));
    return v;
  }

 private:
  const void* data() const {
    return dtype_ == DType::f64   ? static_cast<const void*>(f64_.data())
           : dtype_ == DType::f32 ? static_cast<const void*>(f32_.data())
                                  : static_cast<const void*>(u16_.data());
  }

  DType dtype_;
  std::size_t size_;
  std::vector<double> f64_;
  std::vector<float> f32_;
  std::vector<std::uint16_t> u16_;
};

}  // namespace

Result run(const Problem& p, Engine engine, bool backward, const Options& options) {
  const DType dt = p.model.dtype, st = state_dtype(dt);
  const std::size_t state = StateLayout(p.model, p.batch).size();
  Rnn rnn(p.model, engine, options);
  const Typed x(dt, p.x), w(dt, p.weights), init(st, p.init), dy(dt, p.dy), dfinal(st, p.dfinal);
  Typed y(dt, std::size_t(p.steps) * p.batch * output_size(p.model)), final_state(st, state);

  Forward f;
  f.steps = p.steps;
  f.batch = p.batch;
  f.x = x.in();
  f.lengths = p.lengths.empty() ? nullptr : p.lengths.data();
  f.weights = w.in();
  f.init = init.in();
  f.y = y.out();
  f.final_state = final_state.out();

  Result r;
  if (!backward) {
    rnn.forward(f);
  } else {
    std::vector<unsigned char> reserve(rnn.reserve_bytes(p.steps, p.batch));
    Typed dx(dt, p.x.size()), dinit(st, state), dweights(dt, p.weights.size());
    Backward b;
    b.dy = dy.in();
    b.dfinal = dfinal.in();
    b.dx = dx.out();
    b.dinit = dinit.out();
    b.dweights = dweights.out();
    rnn.forward_train(f, Reserve{reserve.data(), reserve.size()});
    rnn.backward(f, b, Reserve{reserve.data(), reserve.size()});
    r.dx = dx.values();
    r.dinit = dinit.values();
    r.dweights = dweights.values();
  }
  r.y = y.values();
  r.final_state = final_state.values();
  return r;
}

std::uint16_t to_half(DType dtype, float value) {
  return dtype == DType::bf16 ? float_to_bf16(value) : float_to_f16(value);
}

double from_half(DType dtype, std::uint16_t bits) {
  return dtype == DType::bf16 ? bf16_to_float(bits) : f16_to_float(bits);
}

std::vector<double> rounded(DType dtype, std::vector<double> values) {
  for (double& v : values) {
    if (dtype == DType::f32) {
      v = static_cast<float>(v);
    } else if (is_half(dtype)) {
      v = from_half(dtype, to_half(dtype, static_cast<float>(v)));
    }
  }
  return values;
}

double max_rel_error(const std::vector<double>& got, const std::vector<double>& ref) {
  if (got.size() != ref.size()) return std::numeric_limits<double>::infinity();
  double worst = 0;
  for (std::size_t k = 0; k < got.size(); ++k) {
    const double e = std::abs(got[k] - ref[k]) / std::max(1.0, std::abs(ref[k]));
    if (std::isnan(e)) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, e);
  }
  return worst;
}

void PrintTo(const MatrixCase& c, std::ostream* out) {
  *out << c.name << ": " << describe(c.model) << ", T=" << c.steps << " B=" << c.batch;
}

Layer layer_of(CellKind kind, int hidden, double forget_bias) {
  Layer layer;
  layer.hidden = hidden;
  switch (kind) {
    case CellKind::lstm:
      layer.cell = Cell::lstm;
      layer.forget_bias = forget_bias;
      break;
    case CellKind::gru_reset_after:
      layer.cell = Cell::gru;
      layer.gru_reset = GruReset::after_matmul;
      break;
    case CellKind::gru_reset_before:
      layer.cell = Cell::gru;
      layer.gru_reset = GruReset::before_matmul;
      break;
    case CellKind::rnn_tanh:
      layer.cell = Cell::rnn;
      layer.activation = Activation::tanh;
      break;
    case CellKind::rnn_relu:
      layer.cell = Cell::rnn;
      layer.activation = Activation::relu;
      break;
  }
  return layer;
}

double Errors::worst() const {
  return std::max({y, final_state, dx, dinit, dweights});
}

Errors compare_results(const Result& got, const Result& ref, bool backward) {
  Errors e;
  e.y = max_rel_error(got.y, ref.y);
  e.final_state = max_rel_error(got.final_state, ref.final_state);
  if (backward) {
    e.dx = max_rel_error(got.dx, ref.dx);
    e.dinit = max_rel_error(got.dinit, ref.dinit);
    e.dweights = max_rel_error(got.dweights, ref.dweights);
  }
  return e;
}

std::vector<MatrixCase> gradient_matrix(DType dtype, Layout layout) {
  struct NamedCell {
    const char* name;
    Layer layer;
  };
  const Layer lstm = layer_of(CellKind::lstm), gru_after = layer_of(CellKind::gru_reset_after);
  const Layer gru_before = layer_of(CellKind::gru_reset_before);
  const Layer rnn_tanh = layer_of(CellKind::rnn_tanh), rnn_relu = layer_of(CellKind::rnn_relu);
  // New kinds go at the end: tests pick cases by index.
  const NamedCell kinds[] = {{"lstm", lstm},
                             {"gru_after", gru_after},
                             {"gru_before", gru_before},
                             {"rnn_tanh", rnn_tanh},
                             {"rnn_relu", rnn_relu}};

  constexpr int kInput = 3, kHidden = 3, kSteps = 5, kBatch = 3;
  std::vector<MatrixCase> cases;
  for (const NamedCell& kind : kinds) {
    const bool rnn = kind.layer.cell == Cell::rnn;
    for (const char* stack : {"1_layer", "3_layers", rnn ? "rnn4_lstm6" : "lstm4_gru6"}) {
      for (bool bi : {false, true}) {
        for (bool mixed : {false, true}) {
          Model m;
          m.input_size = kInput;
          m.dtype = dtype;
          m.layout = layout;
          Layer layer = kind.layer;
          layer.hidden = kHidden;
          layer.bidirectional = bi;
          if (std::string(stack) == "1_layer") {
            m.layers.push_back(layer);
          } else if (std::string(stack) == "3_layers") {
            m.layers.assign(3, layer);
          } else if (rnn) {
            // The mixed stack of an RNN kind: this RNN(4) into an LSTM(6).
            Layer first = kind.layer, second = lstm;
            first.hidden = 4;
            second.hidden = 6;
            first.bidirectional = second.bidirectional = bi;
            m.layers.push_back(first);
            m.layers.push_back(second);
          } else {
            // The mixed stack: an LSTM(4) into a GRU(6) with this kind's reset mode.
            Layer first = lstm, second = kind.layer.cell == Cell::gru ? kind.layer : gru_after;
            first.hidden = 4;
            second.hidden = 6;
            first.bidirectional = second.bidirectional = bi;
            m.layers.push_back(first);
            m.layers.push_back(second);
          }
          MatrixCase c;
          c.name = std::string(kind.name) + "/" + stack + "/" + (bi ? "bi" : "uni") + "/" +
                   (mixed ? "mixed_lengths" : "full_lengths");
          c.model = m;
          c.steps = kSteps;
          c.batch = kBatch;
          if (mixed) c.lengths = {kSteps, 2, 0};
          cases.push_back(c);
        }
      }
    }
  }
  return cases;
}

ScratchDir::ScratchDir(const std::string& prefix) {
  std::random_device random;
  path_ = std::filesystem::temp_directory_path() /
          (prefix + "_" + std::to_string(random()) + "_" + std::to_string(random()));
  std::filesystem::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

ProgramOutcome run_program(const std::string& command_line, const std::filesystem::path& scratch) {
  const std::filesystem::path out = scratch / "stdout.txt", err = scratch / "stderr.txt";
  const std::string command = command_line + " > " + out.string() + " 2> " + err.string();
  const int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

std::vector<std::string> leftover_files(const std::filesystem::path& dir) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const bool tmp = name.size() >= 4 && name.compare(name.size() - 4, 4, ".tmp") == 0;
    if (name.rfind(".rnnx-staging-", 0) == 0 || tmp) found.push_back(name);
  }
  return found;
}

std::vector<double> read_npy_values(const std::filesystem::path& path) {
  const io::NpyArray a = io::read_npy(path.string());
  std::vector<double> v(a.count());
  if (a.type == io::NpyType::f64) {
    std::memcpy(v.data(), a.data.data(), a.data.size());
  } else if (a.type == io::NpyType::f32) {
    std::vector<float> f(a.count());
    std::memcpy(f.data(), a.data.data(), a.data.size());
    std::copy(f.begin(), f.end(), v.begin());
  } else {
    ADD_FAILURE() << path << ": not a float32 or float64 array";
  }
  return v;
}

EnvSetting::EnvSetting(const char* name, const char* value) : name_(name) {
  if (const char* old = std::getenv(name)) {
    previous_ = old;
    was_set_ = true;
  }
  if (value == nullptr) {
    unsetenv(name);
  } else {
    setenv(name, value, 1);
  }
}

EnvSetting::~EnvSetting() {
  if (was_set_) {
    setenv(name_.c_str(), previous_.c_str(), 1);
  } else {
    unsetenv(name_.c_str());
  }
}

std::string scientific(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3e", value);
  return text;
}

std::string test_name(const std::string& name) {
  std::string out;
  for (char ch : name) out += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return out;
}

}  // namespace rnnx::test
