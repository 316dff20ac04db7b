// A whole model through the fused algorithm (fused/layer.h), for every backend: layer by layer,
// both directions of a layer on two backends that may run at once (GPU: two streams joined by
// events; CPU: the same backend, one direction after the other). All pointers are in the
// backend's memory; sequences are time-major [T][B][F].
//
// Beyond fused/layer.h's needs, a Backend provides fork(other) (other's later work starts after
// everything this one has enqueued) and join(other) (the reverse).
#pragma once

#include <vector>

#include "fused/layer.h"
#include "fused/reserve.h"
#include "rnnx/layout.h"

namespace rnnx::fused {

template <class T>
LayerWeights<T> layer_weights(const Model& m, const WeightLayout& wl, const T* W, int l, Dir d) {
  return LayerWeights<T>{&m.layers[l],
                         layer_input_size(m, l),
                         W + wl.offset(l, d, Param::Wx),
                         W + wl.offset(l, d, Param::Wh),
                         W + wl.offset(l, d, Param::bx),
                         W + wl.offset(l, d, Param::bh)};
}

inline Dir dir_of(int d) {
  return d == 0 ? Dir::fw : Dir::bw;
}

// x: the input with rows past each length zeroed; init: initial states (never null); y: the
// last layer's output; final_state: the states after each length; reserve: the arrays of
// fused/reserve.h, or null for inference.
template <class T, class Backend>
void network_forward(const Model& m, const Sequences& seq, int steps, const T* x, const T* W,
                     const T* init, T* y, T* final_state, T* reserve, Backend& fw, Backend& bw) {
  const WeightLayout wl(m);
  const StateLayout sl(m, seq.B);
  const int L = static_cast<int>(m.layers.size());
  const std::size_t tb = std::size_t(steps) * seq.B;
  std::vector<LayerOffsets> map;
  if (reserve != nullptr) reserve_elements(m, steps, seq.B, &map);

  const T* in = x;
  for (int l = 0; l < L; ++l) {
    const Layer& layer = m.layers[l];
    const int D = output_size(layer), H = layer.hidden;
    const CellTraits traits = cell_traits(layer);
    T* out = l + 1 == L ? y
             : reserve != nullptr
                 ? reserve + map[l].out
                 : fw.scratch(l % 2 ? Slot::layer_out_b : Slot::layer_out_a, tb * D);
    fw.zero_ended_rows(seq, steps, D, out);  // zero past each length
    if (layer.bidirectional) fw.fork(bw);
    for (int d = 0; d < directions(layer); ++d) {
      Backend& be = d == 0 ? fw : bw;
      const Dir dir = dir_of(d);
      const StepSave<T> save = save_of(reserve, reserve ? map[l].dir[d] : DirOffsets{}, layer);
      if (reserve != nullptr) {
        // Rows of ended sequences are read by the weight GEMMs (times zero); keep them finite.
        be.zero_ended_rows(seq, seq.max_len, traits.gates * H, save.gates);
        be.zero_ended_rows(seq, seq.max_len, H, save.h_prev);
      }
      layer_forward(be, layer_weights(m, wl, W, l, dir), dir, seq, in, init + sl.h(l, dir),
                    traits.has_c ? init + sl.c(l, dir) : nullptr, out + std::size_t(d) * H, D,
                    final_state + sl.h(l, dir), traits.has_c ? final_state + sl.c(l, dir) : nullptr,
                    save);
    }
    if (layer.bidirectional) fw.join(bw);
    in = out;
  }
}

// x: as in forward; reserve: what network_forward filled; dy: the gradient of y (rows past each
// length are never read); dfinal: of final_state (never null); writes dx and dinit, adds to dW.
// dx may be null: the input's gradient (a GEMM over all steps) is then not made at all.
template <class T, class Backend>
void network_backward(const Model& m, const Sequences& seq, int steps, const T* x, const T* W,
                      const T* reserve, const T* dy, const T* dfinal, T* dx, T* dinit, T* dW,
                      Backend& fw, Backend& bw) {
  const WeightLayout wl(m);
  const StateLayout sl(m, seq.B);
  const int L = static_cast<int>(m.layers.size());
  const std::size_t tb = std::size_t(steps) * seq.B, rows = std::size_t(seq.max_len) * seq.B;
  std::vector<LayerOffsets> map;
  reserve_elements(m, steps, seq.B, &map);
  T* arrays = const_cast<T*>(reserve);  // StepSave is shared with forward; backward only reads

  const T* dout = dy;
  for (int l = L - 1; l >= 0; --l) {
    const Layer& layer = m.layers[l];
    const int I = layer_input_size(m, l), D = output_size(layer), H = layer.hidden;
    const CellTraits traits = cell_traits(layer);
    const int GH = traits.gates * H;
    const T* in = l == 0 ? x : reserve + map[l - 1].out;
    T* din = l == 0 ? dx : fw.scratch(l % 2 ? Slot::grad_b : Slot::grad_a, tb * I);
    if (din != nullptr) fw.zero(din, tb * I);
    if (layer.bidirectional) fw.fork(bw);
    const T* dzx[2] = {nullptr, nullptr};
    for (int d = 0; d < directions(layer); ++d) {
      Backend& be = d == 0 ? fw : bw;
      const Dir dir = dir_of(d);
      const LayerGrads<T> g{dW + wl.offset(l, dir, Param::Wx), dW + wl.offset(l, dir, Param::Wh),
                            dW + wl.offset(l, dir, Param::bx), dW + wl.offset(l, dir, Param::bh)};
      dzx[d] =
          layer_backward(be, layer_weights(m, wl, W, l, dir), dir, seq, in,
                         dout + std::size_t(d) * H, D, save_of(arrays, map[l].dir[d], layer),
                         dfinal + sl.h(l, dir), traits.has_c ? dfinal + sl.c(l, dir) : nullptr,
                         dinit + sl.h(l, dir), traits.has_c ? dinit + sl.c(l, dir) : nullptr, g);
    }
    if (layer.bidirectional) fw.join(bw);
    // The input's gradient, from both directions, once both are done.
    for (int d = 0; d < directions(layer); ++d) {
      if (dzx[d] == nullptr || din == nullptr) continue;
      fw.gemm(false, false, int(rows), I, GH, T(1), dzx[d], GH,
              W + wl.offset(l, dir_of(d), Param::Wx), I, T(1), din, I);
    }
    dout = din;
  }
}

}  // namespace rnnx::fused
