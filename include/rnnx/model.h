// The model: what an RNN computes. Plain data; validate() says whether it is well formed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rnnx {

// The cell of a layer. LSTM and GRU as in DESIGN.md; rnn is the vanilla (Elman) RNN,
// h' = act(Wx x + bx + Wh h + bh), cuDNN's RNN_TANH/RNN_RELU and PyTorch's nn.RNN.
enum class Cell { lstm, gru, rnn };

// The vanilla RNN's nonlinearity (Layer::activation).
enum class Activation { tanh, relu };

// Where a GRU applies its reset gate to the candidate's recurrent term.
//   after_matmul:  n = tanh(Wxn x + bxn + r * (Whn h + bhn))   (cuDNN, PyTorch, ONNX lbr=1)
//   before_matmul: n = tanh(Wxn x + bxn + Whn (r * h) + bhn)   (TF GRUCell, ONNX default)
enum class GruReset { after_matmul, before_matmul };

// Element types. bf16 and f16 (IEEE half) models take x, weights and y in that type and keep
// their states (init, final_state) in float32; they compute in float32 and run inference only
// (forward), on gpu_persistent and cpu_reference (include/rnnx/half.h converts values).
enum class DType { f32, f64, bf16, f16 };

// time_major: x is [T, B, I] and y is [T, B, D]; batch_major: [B, T, I] and [B, T, D].
enum class Layout { time_major, batch_major };

enum class Dir { fw, bw };

// The four tensors of one layer and direction: Wx [G*H, I], Wh [G*H, H], bx [G*H], bh [G*H].
enum class Param { Wx, Wh, bx, bh };

// Gate indices inside the G*H rows of every tensor (canonical order, DESIGN.md).
enum LstmGate : int { lstm_i = 0, lstm_f = 1, lstm_g = 2, lstm_o = 3 };
enum GruGate : int { gru_r = 0, gru_z = 1, gru_n = 2 };

struct Layer {
  Cell cell = Cell::lstm;
  int hidden = 0;              // H, in [1, max_size]
  bool bidirectional = false;  // output 2*H: concat(forward, backward)
  double forget_bias = 0.0;    // LSTM only: added to the forget gate (TF BasicLSTMCell: 1.0)
  GruReset gru_reset = GruReset::after_matmul;  // GRU only
  Activation activation = Activation::tanh;     // RNN only
};

// Every kind of cell rnnx computes: a Cell with the variant that changes its math. Code that
// depends on the cell switches over this with no default, so that -Wswitch (an error under
// -Werror) names each place a new kind must be handled.
enum class CellKind { lstm, gru_reset_after, gru_reset_before, rnn_tanh, rnn_relu };

// What the engines need to know of a kind without knowing the kind.
struct CellTraits {
  int gates;          // G: Wx, Wh, bx, bh hold G*H rows
  bool has_c;         // a second state c beside h (LSTM): StateLayout holds h and c
  bool saves_hn;      // backward needs the candidate's recurrent term Whn h + bhn of each step
  bool reset_before;  // the candidate's recurrent product waits for r (Whn (r*h)): two products
};

constexpr CellTraits cell_traits(CellKind kind) noexcept {
  switch (kind) {
    case CellKind::lstm:
      return CellTraits{4, true, false, false};
    case CellKind::gru_reset_after:
      return CellTraits{3, false, true, false};
    case CellKind::gru_reset_before:
      return CellTraits{3, false, false, true};
    case CellKind::rnn_tanh:
    case CellKind::rnn_relu:
      return CellTraits{1, false, false, false};
  }
  return CellTraits{0, false, false, false};
}

struct Model {
  int input_size = 0;  // I of the first layer, in [1, max_size]
  std::vector<Layer> layers;
  DType dtype = DType::f32;
  Layout layout = Layout::time_major;
};

// Upper bound for input_size, hidden, steps and batch; element counts are also overflow-checked.
inline constexpr int max_size = 1 << 24;
inline constexpr int max_layers = 1024;

// Throws Error(invalid_argument) naming the first field out of range.
void validate(const Model& model);

CellKind cell_kind(const Layer& layer) noexcept;  // from cell, gru_reset and activation
inline CellTraits cell_traits(const Layer& layer) noexcept {
  return cell_traits(cell_kind(layer));
}
int gates(Cell cell) noexcept;                        // 4 for LSTM, 3 for GRU, 1 for RNN
int directions(const Layer& layer) noexcept;          // 1 or 2
int output_size(const Layer& layer) noexcept;         // H * directions
int layer_input_size(const Model& model, int layer);  // I for layer 0, else previous output
int output_size(const Model& model);                  // of the last layer
std::size_t dtype_size(DType dtype) noexcept;         // bytes per element
bool is_half(DType dtype) noexcept;                   // bf16 or f16
DType state_dtype(DType dtype) noexcept;              // f32 for bf16/f16, else dtype

const char* to_string(Cell cell) noexcept;       // "lstm", "gru", "rnn"
const char* to_string(Activation act) noexcept;  // "tanh", "relu"
const char* to_string(CellKind kind) noexcept;   // "lstm", "gru_reset_after", ..., "rnn_relu"
const char* to_string(GruReset reset) noexcept;  // "after", "before"
const char* to_string(DType dtype) noexcept;     // "float32", "float64", "bfloat16", "float16"
const char* to_string(Layout layout) noexcept;   // "time_major", "batch_major"
const char* to_string(Dir dir) noexcept;         // "fw", "bw"
const char* to_string(Param param) noexcept;     // "Wx", "Wh", "bx", "bh"

// One line per layer, e.g.
// "float32 time_major I=28: lstm(128, fb=1) -> gru(256, reset before) -> rnn(64, relu)".
std::string describe(const Model& model);

}  // namespace rnnx
