// Where every tensor lives inside rnnx's flat weight and state buffers. Offsets and sizes are
// in elements of the model's dtype, not bytes.
#pragma once

#include <cstddef>
#include <vector>

#include "rnnx/model.h"

namespace rnnx {

// The canonical weight buffer: layers in order; inside a layer the forward direction, then the
// backward one; inside a direction Wx [G*H, I_l], Wh [G*H, H], bx [G*H], bh [G*H], each row-major
// (row = gate * H + unit), gates in canonical order (LSTM i, f, g, o; GRU r, z, n). I_l is the
// model's input size for layer 0 and the previous layer's output size (H or 2H) after it.
class WeightLayout {
 public:
  explicit WeightLayout(const Model& model);  // validates the model

  std::size_t size() const noexcept { return size_; }
  // Start of one tensor.
  std::size_t offset(int layer, Dir dir, Param param) const;
  // Start of one gate's block inside a tensor: rows [gate*H, (gate+1)*H) of Wx/Wh, or the
  // gate's H entries of bx/bh. gate in [0, G).
  std::size_t offset(int layer, Dir dir, Param param, int gate) const;
  std::size_t rows(int layer, Param param) const;  // G*H for every param
  std::size_t cols(int layer, Param param) const;  // I_l (Wx), H (Wh), 1 (biases)
  std::size_t count(int layer, Param param) const {
    return rows(layer, param) * cols(layer, param);
  }

 private:
  struct Entry {
    std::size_t base;  // first element of this layer's forward direction
    std::size_t per_direction;
    int gates, hidden, input, directions;
  };
  const Entry& entry(int layer, Dir dir) const;
  std::vector<Entry> layers_;
  std::size_t size_ = 0;
};

// The state buffer (initial and final states, and their gradients) for a batch of B:
// first h of every layer and direction, each [B, H], in layer order and fw before bw; then c of
// every LSTM layer and direction in the same order. For a stack of equal H this makes the h part
// exactly [layers*directions, B, H].
class StateLayout {
 public:
  StateLayout(const Model& model, int batch);  // validates the model and batch

  std::size_t size() const noexcept { return size_; }
  std::size_t h(int layer, Dir dir) const;
  std::size_t c(int layer, Dir dir) const;  // LSTM layers only
  std::size_t count(int layer) const;       // B*H: elements of one h or c block

 private:
  struct Entry {
    std::size_t h, c;
    int hidden, directions;
    bool has_c;
  };
  const Entry& entry(int layer, Dir dir) const;
  std::vector<Entry> layers_;
  int batch_ = 0;
  std::size_t size_ = 0;
};

}  // namespace rnnx
