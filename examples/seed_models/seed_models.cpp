#include "seed_models.h"

#include "rnnx/error.h"

namespace rnnx {

namespace {

// Every LSTM in the notebook is TF's BasicLSTMCell or LSTMCell, whose forget_bias is 1.0; every
// GRU is TF's GRUCell, which resets before the matmul.
Layer tf_lstm(int hidden, bool bidirectional = false) {
  Layer layer;
  layer.cell = Cell::lstm;
  layer.hidden = hidden;
  layer.bidirectional = bidirectional;
  layer.forget_bias = 1.0;
  return layer;
}

Layer tf_gru(int hidden) {
  Layer layer;
  layer.cell = Cell::gru;
  layer.hidden = hidden;
  layer.gru_reset = GruReset::before_matmul;
  return layer;
}

struct Shape {
  const char* name;
  std::vector<Layer> (*layers)(int hidden);
};

const Shape kShapes[] = {
    {"lstm", [](int h) { return std::vector<Layer>{tf_lstm(h)}; }},
    {"gru", [](int h) { return std::vector<Layer>{tf_gru(h)}; }},
    {"multi_lstm",
     [](int h) {
       return std::vector<Layer>{tf_lstm(h), tf_lstm(h), tf_lstm(h)};
     }},
    {"multi_gru",
     [](int h) {
       return std::vector<Layer>{tf_gru(h), tf_gru(h), tf_gru(h)};
     }},
    {"mix",
     [](int h) {
       return std::vector<Layer>{tf_lstm(h), tf_gru(2 * h)};
     }},
    {"bi_lstm", [](int h) { return std::vector<Layer>{tf_lstm(h, true)}; }},
    {"multi_bi_lstm",
     [](int h) {
       return std::vector<Layer>{tf_lstm(h, true), tf_lstm(h, true), tf_lstm(h, true)};
     }},
};

// The notebook's 14 functions in DESIGN.md's order: (function, shape, static unroll).
struct Entry {
  const char* function;
  const char* shape;
  bool static_unroll;
};
const Entry kFunctions[] = {
    {"single_layer_static_lstm", "lstm", true},
    {"single_layer_static_gru", "gru", true},
    {"single_layer_dynamic_lstm", "lstm", false},
    {"single_layer_dynamic_gru", "gru", false},
    {"multi_layer_static_lstm", "multi_lstm", true},
    {"multi_layer_static_gru", "multi_gru", true},
    {"multi_layer_static_mix", "mix", true},
    {"multi_layer_dynamic_lstm", "multi_lstm", false},
    {"multi_layer_dynamic_gru", "multi_gru", false},
    {"multi_layer_dynamic_mix", "mix", false},
    {"single_layer_static_bi_lstm", "bi_lstm", true},
    {"single_layer_dynamic_bi_lstm", "bi_lstm", false},
    {"multi_layer_static_bi_lstm", "multi_bi_lstm", true},
    {"multi_layer_dynamic_bi_lstm", "multi_bi_lstm", false},
};

const Shape* find_shape(const std::string& name) {
  for (const Shape& shape : kShapes) {
    if (name == shape.name) return &shape;
  }
  for (const Entry& entry : kFunctions) {
    if (name == entry.function) return find_shape(entry.shape);
  }
  return nullptr;
}

Model build(const Shape& shape, int input_size, int hidden, DType dtype, Layout layout) {
  Model model;
  model.input_size = input_size;
  model.layers = shape.layers(hidden);
  model.dtype = dtype;
  model.layout = layout;
  validate(model);
  return model;
}

}  // namespace

std::vector<SeedModel> seed_models(int input_size, int hidden, DType dtype, Layout layout) {
  std::vector<SeedModel> models;
  int number = 1;
  for (const Entry& entry : kFunctions) {
    models.push_back(SeedModel{number++, entry.function, entry.shape, entry.static_unroll,
                               build(*find_shape(entry.shape), input_size, hidden, dtype, layout)});
  }
  return models;
}

Model seed_model(const std::string& name, int input_size, int hidden, DType dtype, Layout layout) {
  const Shape* shape = find_shape(name);
  if (shape == nullptr) {
    std::string names;
    for (const Shape& s : kShapes) names += std::string(names.empty() ? "" : ", ") + s.name;
    throw Error(Status::invalid_argument,
                "seed model '" + name + "' is unknown: use one of " + names +
                    ", or a notebook function name such as multi_layer_dynamic_mix");
  }
  return build(*shape, input_size, hidden, dtype, layout);
}

}  // namespace rnnx
