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

OnednnRnn::OnednnRnn(PeerCell cell, int input, int hidden, int batch, int steps, PeerPass pass)
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
  src_ = memory::desc({steps, batch, input}, dt::f32, tag::tnc);
  dst_ = memory::desc({steps, batch, hidden}, dt::f32, tag::tnc);
  layer_plain_ = memory::desc({1, 1, input, gates, hidden}, dt::f32, tag::ldigo);
  iter_plain_ = memory::desc({1, 1, hidden, gates, hidden}, dt::f32, tag::ldigo);
  bias_ = memory::desc({1, 1, bias_gates, hidden}, dt::f32, tag::ldgo);
  const memory::desc layer_any({1, 1, input, gates, hidden}, dt::f32, tag::any);
  const memory::desc iter_any({1, 1, hidden, gates, hidden}, dt::f32, tag::any);
  const memory::desc none;
  const auto prop = pass == PeerPass::inference ? dnnl::prop_kind::forward_inference
                                                : dnnl::prop_kind::forward_training;
  const auto back = dnnl::prop_kind::backward;
  const auto direction = dnnl::rnn_direction::unidirectional_left2right;
  const bool step = pass == PeerPass::training_step;

  switch (cell) {
    case PeerCell::lstm: {
      const dnnl::lstm_forward::desc f(prop, direction, src_, none, none, layer_any, iter_any,
                                       bias_, dst_, none, none);
      const dnnl::lstm_backward::desc b(back, direction, src_, none, none, layer_any, iter_any,
                                        bias_, dst_, none, none, src_, none, none, layer_any,
                                        iter_any, bias_, dst_, none, none);
      build<dnnl::lstm_forward, dnnl::lstm_backward>(f, step ? &b : nullptr);
      break;
    }
    case PeerCell::gru_before: {
      const dnnl::gru_forward::desc f(prop, direction, src_, none, layer_any, iter_any, bias_, dst_,
                                      none);
      const dnnl::gru_backward::desc b(back, direction, src_, none, layer_any, iter_any, bias_,
                                       dst_, none, src_, none, layer_any, iter_any, bias_, dst_,
                                       none);
      build<dnnl::gru_forward, dnnl::gru_backward>(f, step ? &b : nullptr);
      break;
    }
    case PeerCell::gru_after: {
      const dnnl::lbr_gru_forward::desc f(prop, direction, src_, none, layer_any, iter_any, bias_,
                                          dst_, none);
      const dnnl::lbr_gru_backward::desc b(back, direction, src_, none, layer_any, iter_any, bias_,
                                           dst_, none, src_, none, layer_any, iter_any, bias_, dst_,
                                           none);
      build<dnnl::lbr_gru_forward, dnnl::lbr_gru_backward>(f, step ? &b : nullptr);
      break;
    }
    case PeerCell::rnn_tanh:
    case PeerCell::rnn_relu: {
      const auto activation = cell == PeerCell::rnn_tanh ? dnnl::algorithm::eltwise_tanh
                                                         : dnnl::algorithm::eltwise_relu;
      const dnnl::vanilla_rnn_forward::desc f(prop, activation, direction, src_, none, layer_any,
                                              iter_any, bias_, dst_, none);
      const dnnl::vanilla_rnn_backward::desc b(back, activation, direction, src_, none, layer_any,
                                               iter_any, bias_, dst_, none, src_, none, layer_any,
                                               iter_any, bias_, dst_, none);
      build<dnnl::vanilla_rnn_forward, dnnl::vanilla_rnn_backward>(f, step ? &b : nullptr);
      break;
    }
  }
}

template <class Fwd, class Bwd>
void OnednnRnn::build(const typename Fwd::desc& forward, const typename Bwd::desc* backward) {
  const typename Fwd::primitive_desc fpd(forward, engine_);
  forward_ = Fwd(fpd);
  // What both passes read: x, the weights (each in the layout its primitive chose, reordered
  // once from the same random values), the bias and y.
  const memory src = random_memory(src_, engine_, 1);
  const memory bias = random_memory(bias_, engine_, 4);
  const memory dst(dst_, engine_);
  auto set_inputs = [&](std::unordered_map<int, memory>& args, const auto& pd) {
    args[DNNL_ARG_SRC_LAYER] = src;
    args[DNNL_ARG_WEIGHTS_LAYER] =
        weights(layer_plain_, pd.weights_layer_desc(), engine_, stream_, 2);
    args[DNNL_ARG_WEIGHTS_ITER] = weights(iter_plain_, pd.weights_iter_desc(), engine_, stream_, 3);
    args[DNNL_ARG_BIAS] = bias;
    args[DNNL_ARG_DST_LAYER] = dst;
  };
  set_inputs(forward_args_, fpd);
  if (fpd.workspace_desc().get_size() > 0) {
    forward_args_[DNNL_ARG_WORKSPACE] = memory(fpd.workspace_desc(), engine_);
  }
  if (backward == nullptr) return;
  // The backward primitive may want the weights in another layout than the forward one (a
  // framework would pay for that reorder at every step; here it is paid once).
  const typename Bwd::primitive_desc bpd(*backward, engine_, fpd);
  backward_ = Bwd(bpd);
  set_inputs(backward_args_, bpd);
  backward_args_[DNNL_ARG_WORKSPACE] = forward_args_.at(DNNL_ARG_WORKSPACE);
  backward_args_[DNNL_ARG_DIFF_DST_LAYER] = random_memory(bpd.diff_dst_layer_desc(), engine_, 5);
  backward_args_[DNNL_ARG_DIFF_SRC_LAYER] = memory(bpd.diff_src_layer_desc(), engine_);
  backward_args_[DNNL_ARG_DIFF_WEIGHTS_LAYER] = memory(bpd.diff_weights_layer_desc(), engine_);
  backward_args_[DNNL_ARG_DIFF_WEIGHTS_ITER] = memory(bpd.diff_weights_iter_desc(), engine_);
  backward_args_[DNNL_ARG_DIFF_BIAS] = memory(bpd.diff_bias_desc(), engine_);
}

void OnednnRnn::run() {
  forward_.execute(stream_, forward_args_);
  if (!backward_args_.empty()) backward_.execute(stream_, backward_args_);
  stream_.wait();
}

}  // namespace rnnx::bench
