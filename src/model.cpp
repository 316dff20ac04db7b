#include "rnnx/model.h"

#include <cmath>
#include <sstream>

#include "rnnx/error.h"

namespace rnnx {

namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw Error(Status::invalid_argument, message);
}

std::string layer_name(int index) {
  return "model.layers[" + std::to_string(index) + "]";
}

}  // namespace

void validate(const Model& model) {
  require(model.input_size >= 1 && model.input_size <= max_size,
          "model.input_size = " + std::to_string(model.input_size) + ": must be in [1, " +
              std::to_string(max_size) + "]");
  require(!model.layers.empty(), "model.layers is empty: a model needs at least one layer");
  require(model.layers.size() <= static_cast<std::size_t>(max_layers),
          "model.layers has " + std::to_string(model.layers.size()) + " layers: at most " +
              std::to_string(max_layers));
  require(model.dtype == DType::f32 || model.dtype == DType::f64 || is_half(model.dtype),
          "model.dtype: must be DType::f32, f64, bf16 or f16");
  require(model.layout == Layout::time_major || model.layout == Layout::batch_major,
          "model.layout: must be Layout::time_major or Layout::batch_major");
  for (std::size_t l = 0; l < model.layers.size(); ++l) {
    const Layer& layer = model.layers[l];
    const std::string name = layer_name(static_cast<int>(l));
    require(layer.cell == Cell::lstm || layer.cell == Cell::gru || layer.cell == Cell::rnn,
            name + ".cell: must be Cell::lstm, Cell::gru or Cell::rnn");
    require(layer.hidden >= 1 && layer.hidden <= max_size,
            name + ".hidden = " + std::to_string(layer.hidden) + ": must be in [1, " +
                std::to_string(max_size) + "]");
    require(std::isfinite(layer.forget_bias), name + ".forget_bias: must be a finite number");
    require(layer.gru_reset == GruReset::after_matmul || layer.gru_reset == GruReset::before_matmul,
            name + ".gru_reset: must be GruReset::after_matmul or GruReset::before_matmul");
    require(layer.activation == Activation::tanh || layer.activation == Activation::relu,
            name + ".activation: must be Activation::tanh or Activation::relu");
  }
}

CellKind cell_kind(const Layer& layer) noexcept {
  switch (layer.cell) {
    case Cell::lstm:
      return CellKind::lstm;
    case Cell::gru:
      switch (layer.gru_reset) {
        case GruReset::after_matmul:
          return CellKind::gru_reset_after;
        case GruReset::before_matmul:
          return CellKind::gru_reset_before;
      }
      break;
    case Cell::rnn:
      switch (layer.activation) {
        case Activation::tanh:
          return CellKind::rnn_tanh;
        case Activation::relu:
          return CellKind::rnn_relu;
      }
      break;
  }
  return CellKind::lstm;  // not reached for a validated model
}

int gates(Cell cell) noexcept {
  switch (cell) {
    case Cell::lstm:
      return cell_traits(CellKind::lstm).gates;
    case Cell::gru:
      return cell_traits(CellKind::gru_reset_after).gates;
    case Cell::rnn:
      return cell_traits(CellKind::rnn_tanh).gates;
  }
  return 0;
}
int directions(const Layer& layer) noexcept {
  return layer.bidirectional ? 2 : 1;
}
int output_size(const Layer& layer) noexcept {
  return layer.hidden * directions(layer);
}

int layer_input_size(const Model& model, int layer) {
  if (layer < 0 || layer >= static_cast<int>(model.layers.size())) {
    throw Error(Status::invalid_argument, "layer = " + std::to_string(layer) + ": must be in [0, " +
                                              std::to_string(model.layers.size()) + ")");
  }
  return layer == 0 ? model.input_size : output_size(model.layers[layer - 1]);
}

int output_size(const Model& model) {
  require(!model.layers.empty(), "model.layers is empty: a model needs at least one layer");
  return output_size(model.layers.back());
}

std::size_t dtype_size(DType dtype) noexcept {
  return dtype == DType::f64 ? 8 : is_half(dtype) ? 2 : 4;
}

bool is_half(DType dtype) noexcept {
  return dtype == DType::bf16 || dtype == DType::f16;
}

DType state_dtype(DType dtype) noexcept {
  return is_half(dtype) ? DType::f32 : dtype;
}

const char* to_string(Cell cell) noexcept {
  switch (cell) {
    case Cell::lstm:
      return "lstm";
    case Cell::gru:
      return "gru";
    case Cell::rnn:
      return "rnn";
  }
  return "unknown";
}
const char* to_string(Activation act) noexcept {
  switch (act) {
    case Activation::tanh:
      return "tanh";
    case Activation::relu:
      return "relu";
  }
  return "unknown";
}
const char* to_string(CellKind kind) noexcept {
  switch (kind) {
    case CellKind::lstm:
      return "lstm";
    case CellKind::gru_reset_after:
      return "gru_reset_after";
    case CellKind::gru_reset_before:
      return "gru_reset_before";
    case CellKind::rnn_tanh:
      return "rnn_tanh";
    case CellKind::rnn_relu:
      return "rnn_relu";
  }
  return "unknown";
}
const char* to_string(GruReset reset) noexcept {
  return reset == GruReset::after_matmul ? "after" : "before";
}
const char* to_string(DType dtype) noexcept {
  switch (dtype) {
    case DType::f32:
      return "float32";
    case DType::f64:
      return "float64";
    case DType::bf16:
      return "bfloat16";
    case DType::f16:
      return "float16";
  }
  return "unknown";
}
const char* to_string(Layout layout) noexcept {
  return layout == Layout::time_major ? "time_major" : "batch_major";
}
const char* to_string(Dir dir) noexcept {
  return dir == Dir::fw ? "fw" : "bw";
}
const char* to_string(Param param) noexcept {
  switch (param) {
    case Param::Wx:
      return "Wx";
    case Param::Wh:
      return "Wh";
    case Param::bx:
      return "bx";
    case Param::bh:
      return "bh";
  }
  return "?";
}

std::string describe(const Model& model) {
  std::ostringstream out;
  out << to_string(model.dtype) << ' ' << to_string(model.layout) << " I=" << model.input_size
      << ':';
  for (std::size_t l = 0; l < model.layers.size(); ++l) {
    const Layer& layer = model.layers[l];
    out << (l == 0 ? " " : " -> ") << (layer.bidirectional ? "bi_" : "") << to_string(layer.cell)
        << '(' << layer.hidden;
    switch (cell_kind(layer)) {
      case CellKind::lstm:
        out << ", fb=" << layer.forget_bias;
        break;
      case CellKind::gru_reset_after:
      case CellKind::gru_reset_before:
        out << ", reset " << to_string(layer.gru_reset);
        break;
      case CellKind::rnn_tanh:
      case CellKind::rnn_relu:
        out << ", " << to_string(layer.activation);
        break;
    }
    out << ')';
  }
  return out.str();
}

}  // namespace rnnx
