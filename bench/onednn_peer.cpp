#include "onednn_peer.h"

#include <random>

namespace rnnx::bench {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

memory random_memory(const memory::desc& desc, const dnnl::engine& engine, unsigned seed) {
  memory m(desc, engine);
  auto* data = static_cast<float*>(m.get_data_handle());
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.1f, 0.1f);
  for (std::size_t k = 0; k < desc.get_size() / sizeof(float); ++k) data[k] = u(rng);
  return m;
}

// Random weights in oneDNN's plain ldigo layout, reordered into the layout the primitive chose.
memory weights(const memory::desc& plain, const memory::desc& chosen, const dnnl::engine& engine,
               dnnl::stream& stream, unsigned seed) {
  memory source = random_memory(plain, engine, seed);
  if (plain == chosen) return source;
  memory target(chosen, engine);
  dnnl::reorder(source, target).execute(stream, source, target);
  stream.wait();
  return target;
}

}  // namespace

OnednnRnn::OnednnRnn(PeerCell cell, int input, int hidden, int batch, int steps, bool training)
    : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
  int gates = 0, bias_gates = 0;
  switch (cell) {
    case PeerCell::lstm:
      gates = bias_gates = 4;
      break;
    case PeerCell::gru_before:
      gates = bias_gates = 3;
      break;
    case PeerCell::gru_after:
      gates = 3;
      bias_gates = 4;  // LBR-GRU: bhn apart
      break;
    case PeerCell::rnn_tanh:
    case PeerCell::rnn_relu:
      gates = bias_gates = 1;
      break;
  }
  const memory::desc src({steps, batch, input}, dt::f32, tag::tnc);
  const memory::desc dst({steps, batch, hidden}, dt::f32, tag::tnc);
  const memory::desc layer_plain({1, 1, input, gates, hidden}, dt::f32, tag::ldigo);
  const memory::desc iter_plain({1, 1, hidden, gates, hidden}, dt::f32, tag::ldigo);
  const memory::desc layer_any({1, 1, input, gates, hidden}, dt::f32, tag::any);
  const memory::desc iter_any({1, 1, hidden, gates, hidden}, dt::f32, tag::any);
  const memory::desc bias({1, 1, bias_gates, hidden}, dt::f32, tag::ldgo);
  const memory::desc none;
  const auto prop =
      training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  const auto direction = dnnl::rnn_direction::unidirectional_left2right;

  memory::desc chosen_layer, chosen_iter, workspace;
  switch (cell) {
    case PeerCell::lstm: {
      const dnnl::lstm_forward::desc d(prop, direction, src, none, none, layer_any, iter_any, bias,
                                       dst, none, none);
      const dnnl::lstm_forward::primitive_desc pd(d, engine_);
      primitive_ = dnnl::lstm_forward(pd);
      chosen_layer = pd.weights_layer_desc();
      chosen_iter = pd.weights_iter_desc();
      workspace = pd.workspace_desc();
      break;
    }
    case PeerCell::gru_before: {
      const dnnl::gru_forward::desc d(prop, direction, src, none, layer_any, iter_any, bias, dst,
                                      none);
      const dnnl::gru_forward::primitive_desc pd(d, engine_);
      primitive_ = dnnl::gru_forward(pd);
      chosen_layer = pd.weights_layer_desc();
      chosen_iter = pd.weights_iter_desc();
      workspace = pd.workspace_desc();
      break;
    }
    case PeerCell::gru_after: {
      const dnnl::lbr_gru_forward::desc d(prop, direction, src, none, layer_any, iter_any, bias,
                                          dst, none);
      const dnnl::lbr_gru_forward::primitive_desc pd(d, engine_);
      primitive_ = dnnl::lbr_gru_forward(pd);
      chosen_layer = pd.weights_layer_desc();
      chosen_iter = pd.weights_iter_desc();
      workspace = pd.workspace_desc();
      break;
    }
    case PeerCell::rnn_tanh:
    case PeerCell::rnn_relu: {
      const auto activation = cell == PeerCell::rnn_tanh ? dnnl::algorithm::eltwise_tanh
                                                         : dnnl::algorithm::eltwise_relu;
      const dnnl::vanilla_rnn_forward::desc d(prop, activation, direction, src, none, layer_any,
                                              iter_any, bias, dst, none);
      const dnnl::vanilla_rnn_forward::primitive_desc pd(d, engine_);
      primitive_ = dnnl::vanilla_rnn_forward(pd);
      chosen_layer = pd.weights_layer_desc();
      chosen_iter = pd.weights_iter_desc();
      workspace = pd.workspace_desc();
      break;
    }
  }
  args_[DNNL_ARG_SRC_LAYER] = random_memory(src, engine_, 1);
  args_[DNNL_ARG_WEIGHTS_LAYER] = weights(layer_plain, chosen_layer, engine_, stream_, 2);
  args_[DNNL_ARG_WEIGHTS_ITER] = weights(iter_plain, chosen_iter, engine_, stream_, 3);
  args_[DNNL_ARG_BIAS] = random_memory(bias, engine_, 4);
  args_[DNNL_ARG_DST_LAYER] = memory(dst, engine_);
  if (training) args_[DNNL_ARG_WORKSPACE] = memory(workspace, engine_);
}

void OnednnRnn::forward() {
  primitive_.execute(stream_, args_);
  stream_.wait();
}

}  // namespace rnnx::bench
