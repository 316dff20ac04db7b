// The bodies of cpu/gates16.h's functions, on a register type L of L::kWidth floats (16:
// cpu/lanes16.h, 8: cpu/lanes8.h) that the including file defines: a block's 16 units in
// 16 / kWidth rounds of one register per gate. Each instruction set's file instantiates them on
// its own L, so no instantiation is shared between files built for different processors.
#pragma once

#include "cpu/gates16.h"
#include "kernels/cell_math.h"

namespace rnnx::cpu::gates_math {

template <class L>
void lstm_lanes(const float* sums, const float* p, const float* bias, int H, float forget_bias,
                const float* c_prev, float* act, float* c, float* h) {
  L z[4];
  for (int g = 0; g < 4; ++g) {
    const int at = g * H;
    z[g] = L::load(sums + 16 * g) + L::load(p + at) + L::load(bias + at);
  }
  const L i = cell::lstm_input_gate(z[0]);
  const L f = cell::lstm_forget_gate(z[1], L(forget_bias));
  const L g = cell::lstm_cell_gate(z[2]);
  const L o = cell::lstm_output_gate(z[3]);
  const cell::LstmState<L> s = cell::lstm_state(i, f, g, o, L::load(c_prev));
  i.store(act);
  f.store(act + 16);
  g.store(act + 32);
  o.store(act + 48);
  s.c.store(c);
  s.h.store(h);
}

template <class L>
void gru_after_lanes(const float* sums, const float* p, const float* bias, const float* bhn,
                     const float* h_prev, int H, float* act, float* hn, float* h) {
  const L r = cell::sigmoid(L::load(sums) + L::load(p) + L::load(bias));
  const L z = cell::sigmoid(L::load(sums + 16) + L::load(p + H) + L::load(bias + H));
  const L recurrent = L::load(sums + 32) + L::load(bhn);
  const L n = cell::gru_candidate(L::load(p + 2 * H) + L::load(bias + 2 * H), recurrent, r, true);
  const L out = cell::gru_output(z, n, L::load(h_prev));
  r.store(act);
  z.store(act + 16);
  n.store(act + 32);
  recurrent.store(hn);
  out.store(h);
}

template <class L>
void lstm_backward_lanes(const float* g, int H, const float* c_prev, const float* dh, float* dc,
                         float* dz, float* dz_step) {
  const cell::LstmUnitGrad<L> d =
      cell::lstm_backward(L::load(g), L::load(g + H), L::load(g + 2 * H), L::load(g + 3 * H),
                          L::load(c_prev), L::load(dh), L::load(dc));
  const L gates[4] = {d.di, d.df, d.dg, d.do_};
  for (int k = 0; k < 4; ++k) {
    gates[k].store(dz + k * H);
    gates[k].store(dz_step + k * H);
  }
  d.dc_prev.store(dc);
}

template <class L>
void lstm(const float* sums, const float* p, const float* bias, int H, float forget_bias,
          const float* c_prev, float* act, float* c, float* h) {
  for (int at = 0; at < 16; at += L::kWidth) {
    lstm_lanes<L>(sums + at, p + at, bias + at, H, forget_bias, c_prev + at, act + at, c + at,
                  h + at);
  }
}

template <class L>
void gru_after(const float* sums, const float* p, const float* bias, const float* bhn,
               const float* h_prev, int H, float* act, float* hn, float* h) {
  for (int at = 0; at < 16; at += L::kWidth) {
    gru_after_lanes<L>(sums + at, p + at, bias + at, bhn + at, h_prev + at, H, act + at, hn + at,
                       h + at);
  }
}

template <class L>
void lstm_backward(const float* g, int H, const float* c_prev, const float* dh, float* dc,
                   float* dz, float* dz_step) {
  for (int at = 0; at < 16; at += L::kWidth) {
    lstm_backward_lanes<L>(g + at, H, c_prev + at, dh + at, dc + at, dz + at, dz_step + at);
  }
}

template <class L>
constexpr Gates16 gates16() {
  return {&lstm<L>, &gru_after<L>, &lstm_backward<L>};
}

}  // namespace rnnx::cpu::gates_math
