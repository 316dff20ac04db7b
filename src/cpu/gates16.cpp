// Compiled with -mavx512f (src/CMakeLists.txt) and nothing but the cell math on Lanes16 in it:
// see src/cpu/lanes16.h for why nothing else may be instantiated here.
#include "cpu/gates16.h"

#include "cpu/lanes16.h"

namespace rnnx::cpu {

void lstm_gates16(const float* sums, const float* p, const float* bias, int H, float forget_bias,
                  const float* c_prev, float* act, float* c, float* h) {
  Lanes16 z[4];
  for (int g = 0; g < 4; ++g) {
    const int at = g * H;
    z[g] = Lanes16::load(sums + 16 * g) + Lanes16::load(p + at) + Lanes16::load(bias + at);
  }
  const Lanes16 i = cell::lstm_input_gate(z[0]);
  const Lanes16 f = cell::lstm_forget_gate(z[1], Lanes16(forget_bias));
  const Lanes16 g = cell::lstm_cell_gate(z[2]);
  const Lanes16 o = cell::lstm_output_gate(z[3]);
  const cell::LstmState<Lanes16> s = cell::lstm_state(i, f, g, o, Lanes16::load(c_prev));
  i.store(act);
  f.store(act + 16);
  g.store(act + 32);
  o.store(act + 48);
  s.c.store(c);
  s.h.store(h);
}

void gru_after_gates16(const float* sums, const float* p, const float* bias, const float* bhn,
                       const float* h_prev, int H, float* act, float* hn, float* h) {
  const Lanes16 r = cell::sigmoid(Lanes16::load(sums) + Lanes16::load(p) + Lanes16::load(bias));
  const Lanes16 z =
      cell::sigmoid(Lanes16::load(sums + 16) + Lanes16::load(p + H) + Lanes16::load(bias + H));
  const Lanes16 recurrent = Lanes16::load(sums + 32) + Lanes16::load(bhn);
  const Lanes16 n = cell::gru_candidate(Lanes16::load(p + 2 * H) + Lanes16::load(bias + 2 * H),
                                        recurrent, r, true);
  const Lanes16 out = cell::gru_output(z, n, Lanes16::load(h_prev));
  r.store(act);
  z.store(act + 16);
  n.store(act + 32);
  recurrent.store(hn);
  out.store(h);
}

void lstm_backward_gates16(const float* g, int H, const float* c_prev, const float* dh, float* dc,
                           float* dz, float* dz_step) {
  const cell::LstmUnitGrad<Lanes16> d = cell::lstm_backward(
      Lanes16::load(g), Lanes16::load(g + H), Lanes16::load(g + 2 * H), Lanes16::load(g + 3 * H),
      Lanes16::load(c_prev), Lanes16::load(dh), Lanes16::load(dc));
  const Lanes16 gates[4] = {d.di, d.df, d.dg, d.do_};
  for (int k = 0; k < 4; ++k) {
    gates[k].store(dz + k * H);
    gates[k].store(dz_step + k * H);
  }
  d.dc_prev.store(dc);
}

}  // namespace rnnx::cpu
