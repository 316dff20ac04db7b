// oneDNN's own RNN primitives: the CPU peer the cpu engine is measured against (PyTorch's CPU
// LSTM builds on them). One layer, one direction, float32, random weights and inputs.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <unordered_map>

namespace rnnx::bench {

enum class PeerCell {
  lstm,        // lstm_forward
  gru_before,  // gru_forward: reset before the matmul, as TF's GRUCell
  gru_after,   // lbr_gru_forward: "linear before reset", as cuDNN and PyTorch
  rnn_tanh,    // vanilla_rnn_forward with eltwise_tanh
  rnn_relu,    // vanilla_rnn_forward with eltwise_relu (alpha 0: no leak)
};

// What one run() does: forward_inference; forward_training (which keeps a workspace for
// backward); or a training step, forward_training and then the backward primitive (the input's
// gradient, the weights' and the bias's, from a random output gradient).
enum class PeerPass { inference, training_forward, training_step };

class OnednnRnn {
 public:
  OnednnRnn(PeerCell cell, int input, int hidden, int batch, int steps, PeerPass pass);
  void run();  // one pass; returns when it is done

 private:
  // The primitives from their descriptors (Fwd, Bwd: e.g. lstm_forward, lstm_backward); the
  // backward one only where `backward` is not null. Fills the arguments of both.
  template <class Fwd, class Bwd>
  void build(const typename Fwd::desc& forward, const typename Bwd::desc* backward);

  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::primitive forward_, backward_;
  // The primitives' arguments; backward's stay empty where run() makes no backward pass.
  std::unordered_map<int, dnnl::memory> forward_args_, backward_args_;
  // Sizes the weights are drawn at, in oneDNN's plain ldigo layout.
  dnnl::memory::desc layer_plain_, iter_plain_, src_, dst_, bias_;
};

}  // namespace rnnx::bench
