#include "rnnx/interop.h"

#include <map>
#include <regex>

#include "rnnx/error.h"
#include "rnnx/layout.h"

namespace rnnx {

namespace {

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

// Where each element of a framework tensor lives in the canonical buffer: `from`, plus `also`
// for tf's single biases, which stand for bx + bh.
struct Source {
  std::size_t from = kNone, also = kNone;
};

struct TensorMap {
  std::string name;
  std::vector<std::size_t> shape;
  int layer = 0;
  std::vector<Source> sources;  // one per element, row-major
};

// The canonical gate of each of a format's gates, in the format's order. tf's GRUCell has two
// kernels: part 0 the gates (r, u), part 1 the candidate.
const std::vector<int>& gate_order(WeightFormat format, CellKind kind, int part = 0) {
  static const std::vector<int> identity_lstm = {0, 1, 2, 3}, identity_gru = {0, 1, 2};
  static const std::vector<int> tf_lstm = {lstm_i, lstm_g, lstm_f, lstm_o};  // i, j, f, o
  static const std::vector<int> tf_gru_gates = {gru_r, gru_z}, tf_gru_candidate = {gru_n};
  static const std::vector<int> onnx_lstm = {lstm_i, lstm_o, lstm_f, lstm_g};  // i, o, f, c
  static const std::vector<int> onnx_gru = {gru_z, gru_r, gru_n};              // z, r, h
  static const std::vector<int> one_gate = {0};  // the vanilla RNN in every format
  switch (kind) {
    case CellKind::lstm:
      switch (format) {
        case WeightFormat::tf:
          return tf_lstm;
        case WeightFormat::onnx:
          return onnx_lstm;
        case WeightFormat::rnnx:
        case WeightFormat::torch:
          return identity_lstm;
      }
      break;
    case CellKind::gru_reset_after:
    case CellKind::gru_reset_before:
      switch (format) {
        case WeightFormat::tf:
          return part == 0 ? tf_gru_gates : tf_gru_candidate;
        case WeightFormat::onnx:
          return onnx_gru;
        case WeightFormat::rnnx:
        case WeightFormat::torch:
          return identity_gru;
      }
      break;
    case CellKind::rnn_tanh:
    case CellKind::rnn_relu:
      return one_gate;
  }
  throw Error(Status::invalid_argument, "gate_order: unknown cell kind or weight format");
}

std::string layer_dir(int l, Dir d) {
  return "L" + std::to_string(l) + "." + to_string(d) + ".";
}

// The element sources of the maps are built only when asked: names and shapes alone
// (weight_tensors) need none of the per-element work.
struct Build {
  const WeightLayout& wl;
  bool sources;
};

// A [G*H, cols] tensor whose row blocks follow `gates`: row k*H+u is canonical row
// gates[k]*H+u of `param`.
void add_rows(TensorMap& t, const Build& b, int l, Dir d, Param param,
              const std::vector<int>& gates, int H, std::size_t cols, Param also = Param::Wx,
              bool with_also = false) {
  if (!b.sources) return;
  const WeightLayout& wl = b.wl;
  for (std::size_t k = 0; k < gates.size(); ++k) {
    for (int u = 0; u < H; ++u) {
      for (std::size_t c = 0; c < cols; ++c) {
        Source s;
        s.from = wl.offset(l, d, param, gates[k]) + std::size_t(u) * cols + c;
        if (with_also) s.also = wl.offset(l, d, also, gates[k]) + std::size_t(u) * cols + c;
        t.sources.push_back(s);
      }
    }
  }
}

// tf's kernel [I+H, n*H]: element (row, k*H+u) is Wx (row < I) or Wh of canonical gate gates[k].
TensorMap tf_kernel(const Build& b, int l, Dir d, const std::string& name,
                    const std::vector<int>& gates, int I, int H) {
  TensorMap t{layer_dir(l, d) + name, {std::size_t(I + H), gates.size() * H}, l, {}};
  const WeightLayout& wl = b.wl;
  for (int row = 0; b.sources && row < I + H; ++row) {
    for (std::size_t k = 0; k < gates.size(); ++k) {
      for (int u = 0; u < H; ++u) {
        const bool input = row < I;
        const std::size_t cols = input ? std::size_t(I) : std::size_t(H);
        Source s;
        s.from = wl.offset(l, d, input ? Param::Wx : Param::Wh, gates[k]) + std::size_t(u) * cols +
                 std::size_t(input ? row : row - I);
        t.sources.push_back(s);
      }
    }
  }
  return t;
}

TensorMap tf_bias(const Build& b, int l, Dir d, const std::string& name,
                  const std::vector<int>& gates, int H) {
  TensorMap t{layer_dir(l, d) + name, {gates.size() * H}, l, {}};
  add_rows(t, b, l, d, Param::bx, gates, H, 1, Param::bh, true);
  return t;
}

std::vector<TensorMap> tensor_maps(const Model& model, WeightFormat format, bool sources = true) {
  check_weight_format(model, format);
  const WeightLayout wl(model);
  const Build build{wl, sources};
  std::vector<TensorMap> maps;
  for (int l = 0; l < static_cast<int>(model.layers.size()); ++l) {
    const Layer& layer = model.layers[l];
    const int H = layer.hidden, I = layer_input_size(model, l), G = cell_traits(layer).gates;
    const int dirs = directions(layer);
    const CellKind kind = cell_kind(layer);
    const std::vector<int>& order = gate_order(format, kind);
    const std::size_t GH = std::size_t(G) * H;
    if (format == WeightFormat::onnx) {
      const std::string p = "L" + std::to_string(l) + ".";
      TensorMap W{p + "W", {std::size_t(dirs), GH, std::size_t(I)}, l, {}};
      TensorMap R{p + "R", {std::size_t(dirs), GH, std::size_t(H)}, l, {}};
      TensorMap B{p + "B", {std::size_t(dirs), 2 * GH}, l, {}};
      for (int di = 0; di < dirs; ++di) {
        const Dir d = di == 0 ? Dir::fw : Dir::bw;
        add_rows(W, build, l, d, Param::Wx, order, H, std::size_t(I));
        add_rows(R, build, l, d, Param::Wh, order, H, std::size_t(H));
        add_rows(B, build, l, d, Param::bx, order, H, 1);
        add_rows(B, build, l, d, Param::bh, order, H, 1);
      }
      maps.push_back(std::move(W));
      maps.push_back(std::move(R));
      maps.push_back(std::move(B));
      continue;
    }
    for (int di = 0; di < dirs; ++di) {
      const Dir d = di == 0 ? Dir::fw : Dir::bw;
      if (format == WeightFormat::rnnx || format == WeightFormat::torch) {
        const std::string sfx = d == Dir::bw ? "_reverse" : "";
        const bool torch = format == WeightFormat::torch;
        auto name = [&](const char* torch_name, Param p) {
          return torch ? std::string(torch_name) + "_l" + std::to_string(l) + sfx
                       : layer_dir(l, d) + to_string(p);
        };
        TensorMap Wx{name("weight_ih", Param::Wx), {GH, std::size_t(I)}, l, {}};
        TensorMap Wh{name("weight_hh", Param::Wh), {GH, std::size_t(H)}, l, {}};
        TensorMap bx{name("bias_ih", Param::bx), {GH}, l, {}};
        TensorMap bh{name("bias_hh", Param::bh), {GH}, l, {}};
        add_rows(Wx, build, l, d, Param::Wx, order, H, std::size_t(I));
        add_rows(Wh, build, l, d, Param::Wh, order, H, std::size_t(H));
        add_rows(bx, build, l, d, Param::bx, order, H, 1);
        add_rows(bh, build, l, d, Param::bh, order, H, 1);
        for (TensorMap* t : {&Wx, &Wh, &bx, &bh}) maps.push_back(std::move(*t));
        continue;
      }
      switch (kind) {             // tf
        case CellKind::lstm:      // BasicLSTMCell / LSTMCell: kernel [I+H, 4H] (i, j, f, o), bias
        case CellKind::rnn_tanh:  // BasicRNNCell: kernel [I+H, H], bias [H]
        case CellKind::rnn_relu:
          maps.push_back(tf_kernel(build, l, d, "kernel", order, I, H));
          maps.push_back(tf_bias(build, l, d, "bias", order, H));
          break;
        case CellKind::gru_reset_before:   // GRUCell
        case CellKind::gru_reset_after: {  // refused by check_weight_format
          const std::vector<int>& candidate = gate_order(format, kind, 1);
          maps.push_back(tf_kernel(build, l, d, "gates_kernel", order, I, H));
          maps.push_back(tf_bias(build, l, d, "gates_bias", order, H));
          maps.push_back(tf_kernel(build, l, d, "candidate_kernel", candidate, I, H));
          maps.push_back(tf_bias(build, l, d, "candidate_bias", candidate, H));
          break;
        }
      }
    }
  }
  return maps;
}

void check_size(const Model& model, const std::vector<double>& weights, const char* what) {
  const std::size_t expected = WeightLayout(model).size();
  if (weights.size() != expected) {
    throw Error(Status::invalid_argument,
                std::string(what) + " has " + std::to_string(weights.size()) +
                    " values; the model's WeightLayout needs " + std::to_string(expected));
  }
}

std::vector<NamedTensor> gather(const Model& model, WeightFormat format,
                                const std::vector<double>& canonical, bool add_also,
                                const char* what) {
  check_size(model, canonical, what);
  std::vector<NamedTensor> out;
  for (TensorMap& m : tensor_maps(model, format)) {
    NamedTensor t{std::move(m.name), std::move(m.shape), {}};
    t.values.reserve(m.sources.size());
    for (const Source& s : m.sources) {
      // Moved, not computed (x + 0 would turn -0 into +0 and quiet a signalling NaN), but for
      // tf's single biases, which stand for bx + bh.
      double v = canonical[s.from];
      if (add_also && s.also != kNone) v += canonical[s.also];
      t.values.push_back(v);
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::string shape_text(const std::vector<std::size_t>& shape) {
  std::string s = "[";
  for (std::size_t k = 0; k < shape.size(); ++k) s += (k ? ", " : "") + std::to_string(shape[k]);
  return s + "]";
}

}  // namespace

const char* to_string(WeightFormat format) noexcept {
  switch (format) {
    case WeightFormat::rnnx:
      return "rnnx";
    case WeightFormat::tf:
      return "tf";
    case WeightFormat::torch:
      return "torch";
    case WeightFormat::onnx:
      return "onnx";
  }
  return "?";
}

WeightFormat parse_weight_format(std::string_view name) {
  for (WeightFormat f :
       {WeightFormat::rnnx, WeightFormat::tf, WeightFormat::torch, WeightFormat::onnx}) {
    if (name == to_string(f)) return f;
  }
  throw Error(Status::invalid_argument,
              "weight format '" + std::string(name) + "' is unknown: use rnnx, tf, torch or onnx");
}

void check_weight_format(const Model& model, WeightFormat format) {
  validate(model);
  for (std::size_t l = 0; l < model.layers.size(); ++l) {
    const Layer& layer = model.layers[l];
    const std::string where = "layer " + std::to_string(l) + ": ";
    switch (cell_kind(layer)) {
      case CellKind::lstm:
        if ((format == WeightFormat::torch || format == WeightFormat::onnx) &&
            layer.forget_bias != 0.0) {
          throw Error(Status::unsupported,
                      where + "forget_bias = " + std::to_string(layer.forget_bias) + ", but " +
                          to_string(format) +
                          " has no forget bias (allowed: 0; add it to the forget gate's bias "
                          "instead)");
        }
        break;
      case CellKind::gru_reset_after:
        if (format == WeightFormat::tf) {
          throw Error(Status::unsupported,
                      where + "tf's GRUCell resets before the matmul; this GRU resets after it");
        }
        break;
      case CellKind::gru_reset_before:
        if (format == WeightFormat::torch) {
          throw Error(
              Status::unsupported,
              where + "PyTorch's nn.GRU resets after the matmul; this GRU resets before it");
        }
        break;
      case CellKind::rnn_tanh:
      case CellKind::rnn_relu:
        break;  // every format holds both: the activation is the model's, not a tensor
    }
  }
}

std::vector<TensorSpec> weight_tensors(const Model& model, WeightFormat format) {
  std::vector<TensorSpec> specs;
  for (TensorMap& m : tensor_maps(model, format, false)) {
    specs.push_back({std::move(m.name), std::move(m.shape), m.layer});
  }
  return specs;
}

bool is_weight_tensor_name(WeightFormat format, std::string_view name) {
  static const std::regex rnnx_names(R"(L[0-9]+\.(fw|bw)\.(Wx|Wh|bx|bh))");
  static const std::regex tf_names(
      R"(L[0-9]+\.(fw|bw)\.(kernel|bias|gates_kernel|gates_bias|candidate_kernel|candidate_bias))");
  static const std::regex torch_names(R"((weight|bias)_(ih|hh)_l[0-9]+(_reverse)?)");
  static const std::regex onnx_names(R"(L[0-9]+\.(W|R|B))");
  const std::string s(name);
  switch (format) {
    case WeightFormat::rnnx:
      return std::regex_match(s, rnnx_names);
    case WeightFormat::tf:
      return std::regex_match(s, tf_names);
    case WeightFormat::torch:
      return std::regex_match(s, torch_names);
    case WeightFormat::onnx:
      return std::regex_match(s, onnx_names);
  }
  return false;
}

std::vector<RefusedTensor> refused_tensors(const Model& model, WeightFormat format) {
  validate(model);
  std::vector<RefusedTensor> refused;
  for (int l = 0; l < static_cast<int>(model.layers.size()); ++l) {
    const Layer& layer = model.layers[l];
    const std::string where = "layer " + std::to_string(l) + ": ";
    switch (cell_kind(layer)) {
      case CellKind::lstm:
        break;  // peepholes and projections are LSTM features
      case CellKind::gru_reset_after:
      case CellKind::gru_reset_before:
      case CellKind::rnn_tanh:
      case CellKind::rnn_relu:
        continue;  // ONNX's GRU/RNN have no P; nn.GRU/nn.RNN no projection; nor TF's cells
    }
    if (format == WeightFormat::onnx) {
      refused.push_back({"L" + std::to_string(l) + ".P",
                         where + "ONNX peephole weights (input P) are not supported by rnnx"});
      continue;
    }
    for (Dir d : {Dir::fw, Dir::bw}) {
      if (d == Dir::bw && !layer.bidirectional) continue;
      if (format == WeightFormat::torch) {
        refused.push_back(
            {std::string("weight_hr_l") + std::to_string(l) + (d == Dir::bw ? "_reverse" : ""),
             where + "PyTorch's LSTM projection (proj_size > 0) is not supported by "
                     "rnnx (allowed: proj_size = 0)"});
      } else if (format == WeightFormat::tf) {
        for (const char* diag : {"w_i_diag", "w_f_diag", "w_o_diag"}) {
          refused.push_back(
              {layer_dir(l, d) + diag, where + "TF LSTMCell peepholes (use_peepholes=True) are not "
                                               "supported by rnnx"});
        }
        refused.push_back({layer_dir(l, d) + "projection_kernel",
                           where + "TF LSTMCell projection (num_proj) is not supported by rnnx"});
      }
    }
  }
  return refused;
}

const char* activation_name(WeightFormat format, Activation activation) noexcept {
  const bool onnx = format == WeightFormat::onnx;
  switch (activation) {
    case Activation::tanh:
      return onnx ? "Tanh" : "tanh";
    case Activation::relu:
      return onnx ? "Relu" : "relu";
  }
  return "?";
}

void check_activation(const Model& model, int layer, WeightFormat format, std::string_view name) {
  validate(model);
  const int layers = static_cast<int>(model.layers.size());
  if (layer < 0 || layer >= layers) {
    throw Error(Status::invalid_argument, "check_activation: layer = " + std::to_string(layer) +
                                              " is outside [0, " + std::to_string(layers) + ")");
  }
  const Layer& l = model.layers[layer];
  const std::string where = "layer " + std::to_string(layer) + ": ";
  const char* setting = format == WeightFormat::torch  ? "nonlinearity"
                        : format == WeightFormat::onnx ? "activations"
                                                       : "activation";
  const std::string given =
      std::string(to_string(format)) + " " + setting + " '" + std::string(name) + "'";
  bool known = false;
  Activation framework = Activation::tanh;
  for (Activation a : {Activation::tanh, Activation::relu}) {
    if (name == activation_name(format, a)) {
      known = true;
      framework = a;
    }
  }
  switch (cell_kind(l)) {
    case CellKind::lstm:
    case CellKind::gru_reset_after:
    case CellKind::gru_reset_before:
      throw Error(Status::invalid_argument,
                  where + given + " is for a vanilla RNN layer; this one is " + to_string(l.cell));
    case CellKind::rnn_tanh:
    case CellKind::rnn_relu:
      break;
  }
  if (!known) {
    throw Error(Status::unsupported, where + given + " is not supported by rnnx (allowed: " +
                                         activation_name(format, Activation::tanh) + ", " +
                                         activation_name(format, Activation::relu) + ")");
  }
  if (framework != l.activation) {
    throw Error(Status::invalid_argument,
                where + given + " does not match the model's activation " +
                    to_string(l.activation) + " (set \"activation\": \"" + to_string(framework) +
                    "\" in the model JSON, Layer::activation in C++)");
  }
}

std::vector<NamedTensor> export_weights(const Model& model, WeightFormat format,
                                        const std::vector<double>& weights) {
  return gather(model, format, weights, true, "weights");
}

std::vector<NamedTensor> export_gradients(const Model& model, WeightFormat format,
                                          const std::vector<double>& dweights) {
  return gather(model, format, dweights, false, "dweights");
}

std::vector<double> import_weights(const Model& model, WeightFormat format,
                                   const std::vector<NamedTensor>& tensors) {
  const std::vector<TensorMap> maps = tensor_maps(model, format);
  std::map<std::string, const NamedTensor*> given;
  for (const NamedTensor& t : tensors) {
    if (!given.emplace(t.name, &t).second) {
      throw Error(Status::invalid_argument, "tensor '" + t.name + "' is given twice");
    }
  }
  std::vector<double> weights(WeightLayout(model).size(), 0.0);
  for (const TensorMap& m : maps) {
    const auto it = given.find(m.name);
    if (it == given.end()) {
      throw Error(Status::invalid_argument, std::string(to_string(format)) + " tensor '" + m.name +
                                                "' " + shape_text(m.shape) + " is missing");
    }
    const NamedTensor& t = *it->second;
    if (t.shape != m.shape || t.values.size() != m.sources.size()) {
      throw Error(Status::invalid_argument, "tensor '" + m.name + "' has shape " +
                                                shape_text(t.shape) + " (" +
                                                std::to_string(t.values.size()) +
                                                " values); the model needs " + shape_text(m.shape));
    }
    for (std::size_t k = 0; k < m.sources.size(); ++k) weights[m.sources[k].from] = t.values[k];
    given.erase(it);
  }
  if (!given.empty()) {
    for (const RefusedTensor& r : refused_tensors(model, format)) {
      if (given.count(r.name) != 0) {
        throw Error(Status::unsupported, "tensor '" + r.name + "': " + r.reason);
      }
    }
    throw Error(Status::invalid_argument, "tensor '" + given.begin()->first + "' is not a " +
                                              to_string(format) + " tensor of this model");
  }
  return weights;
}

}  // namespace rnnx
