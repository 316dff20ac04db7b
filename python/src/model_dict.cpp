#include "model_dict.h"

#include <nanobind/stl/string.h>

#include <cmath>
#include <initializer_list>
#include <string>
#include <utility>

#include "arrays.h"

namespace rnnx::python {

namespace {

[[noreturn]] void bad(const std::string& key, const std::string& what) {
  fail("model: " + key + ": " + what);
}

std::string repr_of(nb::handle value) {
  return nb::repr(value).c_str();
}

// The dict at `where` ("" for the model itself) has only the allowed keys, all strings.
nb::dict keys_of(nb::handle object, const std::string& where,
                 std::initializer_list<const char*> allowed) {
  if (!nb::isinstance<nb::dict>(object)) {
    bad(where, "expected a dict, found " + type_of(object));
  }
  nb::dict dict = nb::borrow<nb::dict>(object);
  for (const auto& [key, value] : dict) {
    (void)value;
    if (!nb::isinstance<nb::str>(key)) {
      bad(where.empty() ? repr_of(key) : where + "." + repr_of(key), "keys must be strings");
    }
    const std::string name = nb::cast<std::string>(key);
    bool known = false;
    std::string list;
    for (const char* a : allowed) {
      known = known || name == a;
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    if (!known)
      bad(where.empty() ? name : where + "." + name, "unknown key (allowed: " + list + ")");
  }
  return dict;
}

nb::handle find(const nb::dict& dict, const char* key) {
  return PyDict_GetItemString(dict.ptr(), key);  // borrowed; null when absent
}

int integer(nb::handle value, const std::string& key, int lo, int hi) {
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  long long v = 0;
  if (PyFloat_Check(value.ptr())) {  // a JSON number such as 5.0, as the CLI takes it
    const double d = PyFloat_AS_DOUBLE(value.ptr());
    if (d != std::floor(d) || d < lo || d > hi) {
      bad(key, "expected an integer in " + range + ", found " + repr_of(value));
    }
    return static_cast<int>(d);
  }
  if (PyBool_Check(value.ptr()) || !PyIndex_Check(value.ptr())) {
    bad(key, "expected an integer, found " + type_of(value));
  }
  nb::object index = nb::steal(PyNumber_Index(value.ptr()));
  if (!index.is_valid()) throw nb::python_error();
  int overflow = 0;
  v = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
  if (overflow != 0 || v < lo || v > hi) {
    bad(key, "expected an integer in " + range + ", found " + repr_of(value));
  }
  return static_cast<int>(v);
}

bool boolean(nb::handle value, const std::string& key) {
  if (!PyBool_Check(value.ptr())) bad(key, "expected True or False, found " + type_of(value));
  return value.is(Py_True);
}

double number(nb::handle value, const std::string& key) {
  if (PyBool_Check(value.ptr()) || PyUnicode_Check(value.ptr()) || PyBytes_Check(value.ptr())) {
    bad(key, "expected a number, found " + type_of(value));
  }
  const double v = PyFloat_AsDouble(value.ptr());
  if (v == -1.0 && PyErr_Occurred() != nullptr) {
    PyErr_Clear();
    bad(key, "expected a number, found " + type_of(value));
  }
  return v;
}

template <class Enum>
Enum choice(nb::handle value, const std::string& key,
            std::initializer_list<std::pair<const char*, Enum>> options) {
  std::string list;
  for (const auto& [name, e] : options) {
    (void)e;
    list += std::string(list.empty() ? "" : ", ") + '"' + name + '"';
  }
  if (!nb::isinstance<nb::str>(value)) {
    bad(key, "expected a string (" + list + "), found " + type_of(value));
  }
  const std::string text = nb::cast<std::string>(value);
  for (const auto& [name, e] : options) {
    if (text == name) return e;
  }
  bad(key, "unknown value \"" + text + "\" (allowed: " + list + ")");
}

Layer layer_from_dict(nb::handle entry, const std::string& where) {
  const nb::dict d = keys_of(
      entry, where, {"cell", "hidden", "bidirectional", "forget_bias", "gru_reset", "activation"});
  Layer layer;
  const nb::handle cell = find(d, "cell");
  if (!cell.is_valid()) bad(where + ".cell", "missing (\"lstm\", \"gru\" or \"rnn\")");
  layer.cell = choice<Cell>(cell, where + ".cell",
                            {{"lstm", Cell::lstm}, {"gru", Cell::gru}, {"rnn", Cell::rnn}});
  const nb::handle hidden = find(d, "hidden");
  if (!hidden.is_valid()) bad(where + ".hidden", "missing (the layer's hidden size)");
  layer.hidden = integer(hidden, where + ".hidden", 1, max_size);
  if (const nb::handle v = find(d, "bidirectional"); v.is_valid()) {
    layer.bidirectional = boolean(v, where + ".bidirectional");
  }
  if (const nb::handle v = find(d, "forget_bias"); v.is_valid()) {
    if (layer.cell != Cell::lstm) bad(where + ".forget_bias", "applies to LSTM layers only");
    layer.forget_bias = number(v, where + ".forget_bias");
  }
  if (const nb::handle v = find(d, "gru_reset"); v.is_valid()) {
    if (layer.cell != Cell::gru) bad(where + ".gru_reset", "applies to GRU layers only");
    layer.gru_reset =
        choice<GruReset>(v, where + ".gru_reset",
                         {{"after", GruReset::after_matmul}, {"before", GruReset::before_matmul}});
  }
  if (const nb::handle v = find(d, "activation"); v.is_valid()) {
    if (layer.cell != Cell::rnn) bad(where + ".activation", "applies to RNN layers only");
    layer.activation = choice<Activation>(v, where + ".activation",
                                          {{"tanh", Activation::tanh}, {"relu", Activation::relu}});
  }
  return layer;
}

Model model_from_dict(const nb::dict& spec) {
  const nb::dict d = keys_of(spec, "", {"input_size", "dtype", "layout", "layers"});
  Model model;
  const nb::handle input = find(d, "input_size");
  if (!input.is_valid()) bad("input_size", "missing (the size of each input vector)");
  model.input_size = integer(input, "input_size", 1, max_size);
  if (const nb::handle v = find(d, "dtype"); v.is_valid()) {
    model.dtype = choice<DType>(v, "dtype",
                                {{"float32", DType::f32},
                                 {"float64", DType::f64},
                                 {"bfloat16", DType::bf16},
                                 {"float16", DType::f16}});
  }
  if (const nb::handle v = find(d, "layout"); v.is_valid()) {
    model.layout = choice<Layout>(
        v, "layout", {{"time_major", Layout::time_major}, {"batch_major", Layout::batch_major}});
  }
  const nb::handle layers = find(d, "layers");
  if (!layers.is_valid() ||
      !(nb::isinstance<nb::list>(layers) || nb::isinstance<nb::tuple>(layers)) ||
      nb::len(layers) == 0) {
    bad("layers", "expected a non-empty list of layer dicts");
  }
  const std::size_t count = nb::len(layers);
  if (count > static_cast<std::size_t>(max_layers)) {
    bad("layers", std::to_string(count) + " layers, at most " + std::to_string(max_layers));
  }
  for (std::size_t l = 0; l < count; ++l) {
    model.layers.push_back(layer_from_dict(layers[l], "layers[" + std::to_string(l) + "]"));
  }
  validate(model);
  return model;
}

}  // namespace

Model model_from_python(nb::handle spec, nb::handle fields) {
  nb::dict d;
  if (spec.is_none()) {
  } else if (nb::isinstance<Model>(spec)) {
    const Model& model = nb::cast<const Model&>(spec);
    if (!fields.is_valid() || nb::len(fields) == 0) return model;
    d = model_to_dict(model);
  } else if (nb::isinstance<nb::str>(spec)) {
    nb::object parsed;
    try {
      parsed = nb::module_::import_("json").attr("loads")(spec);
    } catch (const nb::python_error& e) {
      fail(std::string("model: the string is not JSON: ") + nb::str(e.value()).c_str());
    }
    if (!nb::isinstance<nb::dict>(parsed)) {
      fail("model: the JSON is a " + type_of(parsed) + ", expected an object");
    }
    d = nb::borrow<nb::dict>(parsed);
  } else if (nb::isinstance<nb::dict>(spec)) {
    d = nb::borrow<nb::dict>(nb::object(spec.attr("copy")()));
  } else {
    fail("model: expected a dict, a JSON string or an rnnx.Model, found " + type_of(spec));
  }
  if (fields.is_valid()) {
    for (const auto& [key, value] : nb::borrow<nb::dict>(fields)) d[key] = value;
  }
  return model_from_dict(d);
}

nb::dict model_to_dict(const Model& model) {
  nb::dict d;
  d["input_size"] = model.input_size;
  d["dtype"] = to_string(model.dtype);
  d["layout"] = to_string(model.layout);
  nb::list layers;
  for (const Layer& layer : model.layers) {
    nb::dict entry;
    entry["cell"] = to_string(layer.cell);
    entry["hidden"] = layer.hidden;
    entry["bidirectional"] = layer.bidirectional;
    switch (cell_kind(layer)) {
      case CellKind::lstm:
        entry["forget_bias"] = layer.forget_bias;
        break;
      case CellKind::gru_reset_after:
      case CellKind::gru_reset_before:
        entry["gru_reset"] = to_string(layer.gru_reset);
        break;
      case CellKind::rnn_tanh:
      case CellKind::rnn_relu:
        entry["activation"] = to_string(layer.activation);
        break;
    }
    layers.append(entry);
  }
  d["layers"] = layers;
  return d;
}

}  // namespace rnnx::python
