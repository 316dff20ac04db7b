#include "rnnx/layout.h"

#include <string>

#include "rnnx/error.h"
#include "size_math.h"

namespace rnnx {

namespace {

void check_layer(int layer, std::size_t count) {
  if (layer < 0 || static_cast<std::size_t>(layer) >= count) {
    throw Error(Status::invalid_argument, "layer = " + std::to_string(layer) + ": must be in [0, " +
                                              std::to_string(count) + ")");
  }
}

int direction_index(Dir dir, int directions) {
  const int d = dir == Dir::bw ? 1 : 0;
  if (dir != Dir::fw && dir != Dir::bw) {
    throw Error(Status::invalid_argument, "dir: must be Dir::fw or Dir::bw");
  }
  if (d >= directions) {
    throw Error(Status::invalid_argument,
                "dir = bw: the layer is not bidirectional (only Dir::fw exists)");
  }
  return d;
}

}  // namespace

WeightLayout::WeightLayout(const Model& model) {
  validate(model);
  std::size_t base = 0;
  for (std::size_t l = 0; l < model.layers.size(); ++l) {
    const Layer& layer = model.layers[l];
    Entry e;
    e.base = base;
    e.gates = cell_traits(layer).gates;
    e.hidden = layer.hidden;
    e.input = layer_input_size(model, static_cast<int>(l));
    e.directions = directions(layer);
    const std::size_t rows = checked_mul(e.gates, e.hidden, "weights");
    // Wx + Wh + bx + bh
    e.per_direction = checked_mul(rows, checked_add(e.input, e.hidden + 2, "weights"), "weights");
    base = checked_add(base, checked_mul(e.per_direction, e.directions, "weights"), "weights");
    layers_.push_back(e);
  }
  size_ = base;
}

const WeightLayout::Entry& WeightLayout::entry(int layer, Dir dir) const {
  check_layer(layer, layers_.size());
  direction_index(dir, layers_[layer].directions);
  return layers_[layer];
}

std::size_t WeightLayout::offset(int layer, Dir dir, Param param) const {
  const Entry& e = entry(layer, dir);
  const std::size_t rows = static_cast<std::size_t>(e.gates) * e.hidden;
  const std::size_t wx = e.base + e.per_direction * direction_index(dir, e.directions);
  const std::size_t wh = wx + rows * e.input;
  const std::size_t bx = wh + rows * e.hidden;
  const std::size_t bh = bx + rows;
  switch (param) {
    case Param::Wx:
      return wx;
    case Param::Wh:
      return wh;
    case Param::bx:
      return bx;
    case Param::bh:
      return bh;
  }
  throw Error(Status::invalid_argument, "param: must be Param::Wx, Wh, bx or bh");
}

std::size_t WeightLayout::offset(int layer, Dir dir, Param param, int gate) const {
  const std::size_t start = offset(layer, dir, param);
  const Entry& e = layers_[layer];
  if (gate < 0 || gate >= e.gates) {
    throw Error(Status::invalid_argument, "gate = " + std::to_string(gate) + ": must be in [0, " +
                                              std::to_string(e.gates) + ")");
  }
  return start + static_cast<std::size_t>(gate) * e.hidden * cols(layer, param);
}

std::size_t WeightLayout::rows(int layer, Param) const {
  check_layer(layer, layers_.size());
  return static_cast<std::size_t>(layers_[layer].gates) * layers_[layer].hidden;
}

std::size_t WeightLayout::cols(int layer, Param param) const {
  check_layer(layer, layers_.size());
  switch (param) {
    case Param::Wx:
      return layers_[layer].input;
    case Param::Wh:
      return layers_[layer].hidden;
    case Param::bx:
    case Param::bh:
      return 1;
  }
  throw Error(Status::invalid_argument, "param: must be Param::Wx, Wh, bx or bh");
}

StateLayout::StateLayout(const Model& model, int batch) : batch_(batch) {
  validate(model);
  if (batch < 1 || batch > max_size) {
    throw Error(Status::invalid_argument, "batch = " + std::to_string(batch) + ": must be in [1, " +
                                              std::to_string(max_size) + "]");
  }
  std::size_t at = 0;
  for (const Layer& layer : model.layers) {
    Entry e{};
    e.h = at;
    e.hidden = layer.hidden;
    e.directions = directions(layer);
    e.has_c = cell_traits(layer).has_c;
    at = checked_add(
        at, checked_mul(checked_mul(batch, layer.hidden, "state"), e.directions, "state"), "state");
    layers_.push_back(e);
  }
  for (Entry& e : layers_) {
    if (!e.has_c) continue;
    e.c = at;
    at = checked_add(at, checked_mul(checked_mul(batch, e.hidden, "state"), e.directions, "state"),
                     "state");
  }
  size_ = at;
}

const StateLayout::Entry& StateLayout::entry(int layer, Dir dir) const {
  check_layer(layer, layers_.size());
  direction_index(dir, layers_[layer].directions);
  return layers_[layer];
}

std::size_t StateLayout::count(int layer) const {
  check_layer(layer, layers_.size());
  return static_cast<std::size_t>(batch_) * layers_[layer].hidden;
}

std::size_t StateLayout::h(int layer, Dir dir) const {
  const Entry& e = entry(layer, dir);
  return e.h + count(layer) * direction_index(dir, e.directions);
}

std::size_t StateLayout::c(int layer, Dir dir) const {
  const Entry& e = entry(layer, dir);
  if (!e.has_c) {
    throw Error(Status::invalid_argument,
                "layer = " + std::to_string(layer) + ": only LSTM layers have a c state");
  }
  return e.c + count(layer) * direction_index(dir, e.directions);
}

}  // namespace rnnx
