#include <cmath>
#include <string>

#include "cli/cli.h"

namespace rnnx::cli {

namespace {

using io::Json;

// Reads one model file's values, every error naming the file and the key.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw BadInput(file_ + ": " + (key.empty() ? "the top level" : key) + ": " + what);
  }

  void only_keys(const Json& object, const std::string& where,
                 const std::vector<std::string>& allowed) const {
    if (!object.is_object())
      fail(where, std::string("expected an object, found ") + Json::kind_name(object.kind()));
    for (const auto& [key, value] : object.as_object()) {
      bool known = false;
      for (const std::string& a : allowed) known = known || key == a;
      if (!known) {
        std::string list;
        for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
        fail(where.empty() ? key : where + "." + key, "unknown key (allowed: " + list + ")");
      }
    }
  }

  int integer(const Json& value, const std::string& key, int lo, int hi) const {
    if (!value.is_number())
      fail(key, std::string("expected an integer, found ") + Json::kind_name(value.kind()));
    const double v = value.as_number();
    if (v != std::floor(v) || v < lo || v > hi) {
      fail(key, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                    "], found " + value.dump());
    }
    return static_cast<int>(v);
  }

  const std::string& text(const Json& value, const std::string& key) const {
    if (!value.is_string())
      fail(key, std::string("expected a string, found ") + Json::kind_name(value.kind()));
    return value.as_string();
  }

  template <class Enum>
  Enum choice(const Json& value, const std::string& key,
              const std::vector<std::pair<const char*, Enum>>& options) const {
    const std::string& v = text(value, key);
    std::string list;
    for (const auto& [name, e] : options) {
      if (v == name) return e;
      list += std::string(list.empty() ? "" : ", ") + '"' + name + '"';
    }
    fail(key, "unknown value \"" + v + "\" (allowed: " + list + ")");
  }

 private:
  std::string file_;
};

}  // namespace

Model model_from_json(const Json& json, const std::string& file) {
  const Reader r(file);
  r.only_keys(json, "", {"input_size", "dtype", "layout", "layers"});
  Model model;
  const Json* input = json.find("input_size");
  if (input == nullptr) r.fail("input_size", "missing (the size of each input vector)");
  model.input_size = r.integer(*input, "input_size", 1, max_size);
  if (const Json* v = json.find("dtype")) {
    model.dtype = r.choice<DType>(*v, "dtype", {{"float32", DType::f32}, {"float64", DType::f64}});
  }
  if (const Json* v = json.find("layout")) {
    model.layout = r.choice<Layout>(
        *v, "layout", {{"time_major", Layout::time_major}, {"batch_major", Layout::batch_major}});
  }
  const Json* layers = json.find("layers");
  if (layers == nullptr || !layers->is_array() || layers->as_array().empty()) {
    r.fail("layers", "expected a non-empty array of layer objects");
  }
  for (std::size_t l = 0; l < layers->as_array().size(); ++l) {
    const Json& entry = layers->as_array()[l];
    const std::string where = "layers[" + std::to_string(l) + "]";
    r.only_keys(entry, where,
                {"cell", "hidden", "bidirectional", "forget_bias", "gru_reset", "activation"});
    Layer layer;
    const Json* cell = entry.find("cell");
    if (cell == nullptr) r.fail(where + ".cell", "missing (\"lstm\", \"gru\" or \"rnn\")");
    layer.cell = r.choice<Cell>(*cell, where + ".cell",
                                {{"lstm", Cell::lstm}, {"gru", Cell::gru}, {"rnn", Cell::rnn}});
    const Json* hidden = entry.find("hidden");
    if (hidden == nullptr) r.fail(where + ".hidden", "missing (the layer's hidden size)");
    layer.hidden = r.integer(*hidden, where + ".hidden", 1, max_size);
    if (const Json* v = entry.find("bidirectional")) {
      if (!v->is_bool()) r.fail(where + ".bidirectional", "expected true or false");
      layer.bidirectional = v->as_bool();
    }
    if (const Json* v = entry.find("forget_bias")) {
      if (layer.cell != Cell::lstm) r.fail(where + ".forget_bias", "applies to LSTM layers only");
      if (!v->is_number()) r.fail(where + ".forget_bias", "expected a number");
      layer.forget_bias = v->as_number();
    }
    if (const Json* v = entry.find("gru_reset")) {
      if (layer.cell != Cell::gru) r.fail(where + ".gru_reset", "applies to GRU layers only");
      layer.gru_reset = r.choice<GruReset>(
          *v, where + ".gru_reset",
          {{"after", GruReset::after_matmul}, {"before", GruReset::before_matmul}});
    }
    if (const Json* v = entry.find("activation")) {
      if (layer.cell != Cell::rnn) r.fail(where + ".activation", "applies to RNN layers only");
      layer.activation = r.choice<Activation>(
          *v, where + ".activation", {{"tanh", Activation::tanh}, {"relu", Activation::relu}});
    }
    model.layers.push_back(layer);
  }
  validate(model);
  return model;
}

Json model_to_json(const Model& model) {
  Json json;
  json.set("input_size", model.input_size);
  json.set("dtype", to_string(model.dtype));
  json.set("layout", to_string(model.layout));
  Json layers = Json(Json::Array{});
  for (const Layer& layer : model.layers) {
    Json entry;
    entry.set("cell", to_string(layer.cell));
    entry.set("hidden", layer.hidden);
    entry.set("bidirectional", layer.bidirectional);
    switch (cell_kind(layer)) {
      case CellKind::lstm:
        entry.set("forget_bias", layer.forget_bias);
        break;
      case CellKind::gru_reset_after:
      case CellKind::gru_reset_before:
        entry.set("gru_reset", to_string(layer.gru_reset));
        break;
      case CellKind::rnn_tanh:
      case CellKind::rnn_relu:
        entry.set("activation", to_string(layer.activation));
        break;
    }
    layers.push_back(entry);
  }
  json.set("layers", layers);
  return json;
}

std::string tensor_file(int layer, Dir dir, const std::string& name) {
  return "L" + std::to_string(layer) + "." + to_string(dir) + "." + name + ".npy";
}

std::string gradient_file(const std::string& tensor) {
  const std::size_t dot = tensor.rfind('.');
  const std::size_t at = dot == std::string::npos ? 0 : dot + 1;
  return tensor.substr(0, at) + "d" + tensor.substr(at) + ".npy";
}

}  // namespace rnnx::cli
