// Weights in other frameworks' layouts: TensorFlow 1.x cells, PyTorch's nn.LSTM/nn.GRU/nn.RNN
// state_dict, and the ONNX LSTM/GRU/RNN operators. Conversions are exact (elements are moved, never
// computed) except where a format has one tensor for two of rnnx's: see export_weights.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "rnnx/model.h"

namespace rnnx {

enum class WeightFormat {
  rnnx,   // L{l}.{fw|bw}.{Wx,Wh,bx,bh}: the canonical layout, one tensor each (layout.h)
  tf,     // LSTM: L{l}.{d}.kernel [I+H, 4H] (gates i, j, f, o) and L{l}.{d}.bias [4H];
          // GRU (reset before only): L{l}.{d}.gates_kernel [I+H, 2H] (r, u), gates_bias [2H],
          // candidate_kernel [I+H, H], candidate_bias [H]. forget_bias stays in the Model.
          // RNN (BasicRNNCell): L{l}.{d}.kernel [I+H, H] and L{l}.{d}.bias [H].
  torch,  // weight_ih_l{l}[_reverse] [G*H, I], weight_hh [G*H, H], bias_ih, bias_hh [G*H];
          // gates i, f, g, o and r, z, n; GRU reset after only; forget_bias must be 0
  onnx,   // L{l}.W [dirs, G*H, I], L{l}.R [dirs, G*H, H], L{l}.B [dirs, 2*G*H] (Wb then Rb);
          // gates i, o, f, c and z, r, h; linear_before_reset 1 = reset after, 0 = before;
          // forget_bias must be 0
};
// A vanilla RNN layer (G = 1) has the same tensors in every format as the format's LSTM with one
// gate in place of four; its activation is the Model's (Layer::activation), as no format's
// tensors carry it: see check_activation.

const char* to_string(WeightFormat format) noexcept;      // "rnnx", "tf", "torch", "onnx"
WeightFormat parse_weight_format(std::string_view name);  // throws Error(invalid_argument)

// One framework tensor, row-major, values in float64 (float32 values convert exactly).
struct NamedTensor {
  std::string name;
  std::vector<std::size_t> shape;
  std::vector<double> values;
};

// The tensors a format holds for a model, in a fixed order (layer by layer): the names
// import_weights expects and export_weights returns, with their shapes.
struct TensorSpec {
  std::string name;
  std::vector<std::size_t> shape;
  int layer = 0;
};
std::vector<TensorSpec> weight_tensors(const Model& model, WeightFormat format);

// Whether `name` has the form of one of the format's weight tensors for some layer and direction
// (e.g. "weight_hh_l3_reverse" for torch): how the CLI notices files meant for another model.
bool is_weight_tensor_name(WeightFormat format, std::string_view name);

// Tensors a framework can carry for this model's layers that rnnx cannot run, with the reason:
// ONNX peephole weights L{l}.P; PyTorch's LSTM projection weight_hr_l{l}[_reverse]; TF
// LSTMCell's peephole diagonals L{l}.{d}.w_i_diag, w_f_diag, w_o_diag and projection kernel
// L{l}.{d}.projection_kernel. import_weights refuses them with Error(unsupported).
struct RefusedTensor {
  std::string name;
  std::string reason;
};
std::vector<RefusedTensor> refused_tensors(const Model& model, WeightFormat format);

// Throws Error(unsupported) naming the layer when the format cannot hold the model: a forget_bias
// other than 0 in torch or onnx (they have none; folding it into a bias would not round-trip
// exactly), a GRU reset mode the format lacks (tf: before only; torch: after only).
void check_weight_format(const Model& model, WeightFormat format);

// A vanilla RNN's nonlinearity as the framework spells it: torch nn.RNN(nonlinearity=) "tanh",
// "relu"; onnx RNN `activations` "Tanh", "Relu"; tf BasicRNNCell(activation=) tf.tanh,
// tf.nn.relu as "tanh", "relu"; rnnx as to_string(Activation).
const char* activation_name(WeightFormat format, Activation activation) noexcept;
// The weights do not say which nonlinearity the framework's layer used (a state_dict has no
// `nonlinearity`): the model's Layer::activation (model JSON "activation") decides. Where the
// framework's own setting is known, this checks it against the model: Error(invalid_argument)
// naming the layer when `name` (spelled as activation_name spells it: ONNX Runtime, too,
// refuses an RNN's "tanh" for "Tanh") is not the model's activation, or when the layer is not an
// RNN layer, or `layer` is out of range; Error(unsupported) for a nonlinearity rnnx lacks (e.g.
// onnx "Sigmoid").
void check_activation(const Model& model, int layer, WeightFormat format, std::string_view name);

// The model's weights (WeightLayout(model).size() values) as the format's tensors. tf's single
// LSTM/GRU/RNN biases are bx + bh.
std::vector<NamedTensor> export_weights(const Model& model, WeightFormat format,
                                        const std::vector<double>& weights);
// Gradients with respect to the format's tensors, from rnnx's dweights: the adjoint of
// import_weights, so tf's bias gradients are d(bx) (which equals d(bh) for the cells tf has).
std::vector<NamedTensor> export_gradients(const Model& model, WeightFormat format,
                                          const std::vector<double>& dweights);
// The canonical weights from the format's tensors: every expected name exactly once, with its
// shape; anything else is refused by name (Error(invalid_argument), or Error(unsupported) for a
// refused_tensors name). tf's biases go to bx, and bh
// is zero. framework -> rnnx -> framework is the identity.
std::vector<double> import_weights(const Model& model, WeightFormat format,
                                   const std::vector<NamedTensor>& tensors);

}  // namespace rnnx
