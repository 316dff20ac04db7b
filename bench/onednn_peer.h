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

class OnednnRnn {
 public:
  // training = forward_training (keeps a workspace for backward), else forward_inference.
  OnednnRnn(PeerCell cell, int input, int hidden, int batch, int steps, bool training);
  void forward();  // one pass; returns when it is done

 private:
  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::primitive primitive_;
  std::unordered_map<int, dnnl::memory> args_;
};

}  // namespace rnnx::bench
