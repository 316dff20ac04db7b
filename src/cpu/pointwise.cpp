// Compiled with -fno-trapping-math (src/CMakeLists.txt): without it GCC will not turn the
// clamps of the float exp into vector selects, and the pass would stay scalar.
#include "cpu/pointwise.h"

#include <algorithm>
#include <type_traits>

#include "cpu/gates16.h"
#include "kernels/cell_math.h"

// Each row function is built three times, for AVX-512 machines, AVX2+FMA machines and any x86-64,
// and the loader picks one for the machine it runs on. GCC only: Clang 14 refuses ("multiversioned
// functions do not yet support function templates"), so a Clang build (the ThreadSanitizer build of
// scripts/tsan.sh) has the x86-64 rows alone.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RNNX_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define RNNX_CLONES
#endif

namespace rnnx::cpu {

namespace {

// ---- rows: one sequence's units at one step ----

// The x side of entry j: the projection's and the biases (where !kProj, the biases alone: the
// recurrent term holds x Wx^T too).
template <bool kProj, class T>
inline T x_side(const T* __restrict p, const T* __restrict bias, int j) {
  if constexpr (kProj) {
    return p[j] + bias[j];
  } else {
    return bias[j];
  }
}

// The pre-activation of entry j: the x side and the recurrent term.
template <bool kProj, class T>
inline T preactivation(const T* __restrict p, const T* __restrict bias, const T* r, int j) {
  return x_side<kProj>(p, bias, j) + r[j];
}

// act: where the activated gates go, [4H]: the reserve's row when training, else the rec row
// itself (each entry is read once, just before it is overwritten). p: null where !kProj.
template <class T, bool kSave, bool kProj>
RNNX_CLONES void lstm_forward_row(int H, T forget_bias, const T* __restrict p,
                                  const T* __restrict bias, const T* r, T* act, T* __restrict h,
                                  T* __restrict c, T* __restrict y, T* __restrict hp,
                                  T* __restrict cp) {
  // One gate per loop: a loop holding all four exp's spills registers and runs 2x slower.
  for (int j = 0; j < H; ++j) act[j] = cell::lstm_input_gate(preactivation<kProj>(p, bias, r, j));
  for (int j = H; j < 2 * H; ++j) {
    act[j] = cell::lstm_forget_gate(preactivation<kProj>(p, bias, r, j), forget_bias);
  }
  for (int j = 2 * H; j < 3 * H; ++j) {
    act[j] = cell::lstm_cell_gate(preactivation<kProj>(p, bias, r, j));
  }
  for (int j = 3 * H; j < 4 * H; ++j) {
    act[j] = cell::lstm_output_gate(preactivation<kProj>(p, bias, r, j));
  }
  for (int j = 0; j < H; ++j) {
    if constexpr (kSave) {
      hp[j] = h[j];
      cp[j] = c[j];
    }
    const cell::LstmState<T> s =
        cell::lstm_state(act[j], act[H + j], act[2 * H + j], act[3 * H + j], c[j]);
    c[j] = s.c;
    h[j] = s.h;
    y[j] = s.h;
  }
}

// act: the activated gates r, z, n, in the reserve's row or in place of the rec row.
template <class T, bool kSave>
RNNX_CLONES void gru_after_forward_row(int H, const T* __restrict p, const T* __restrict bias,
                                       const T* r, const T* __restrict bhn, T* act, T* __restrict h,
                                       T* __restrict y, T* __restrict hp, T* __restrict hn_out) {
  for (int j = 0; j < 2 * H; ++j) act[j] = cell::sigmoid(p[j] + bias[j] + r[j]);  // r and z
  for (int j = 0; j < H; ++j) {
    const T hn = r[2 * H + j] + bhn[j];
    const T n = cell::gru_candidate(p[2 * H + j] + bias[2 * H + j], hn, act[j], true);
    const T out = cell::gru_output(act[H + j], n, h[j]);
    if constexpr (kSave) {
      hp[j] = h[j];
      hn_out[j] = hn;
    }
    act[2 * H + j] = n;
    h[j] = out;
    y[j] = out;
  }
}

// p: null where !kProj (r then holds x Wx^T too, in every gate's rows).
template <class T, bool kProj>
RNNX_CLONES void gru_before_reset_row(int H, const T* __restrict p, const T* __restrict bias,
                                      const T* __restrict r, const T* __restrict h,
                                      T* __restrict r_out, T* __restrict rh) {
  for (int j = 0; j < H; ++j) {
    r_out[j] = cell::sigmoid(preactivation<kProj>(p, bias, r, j));
    rh[j] = r_out[j] * h[j];
  }
}

template <class T, bool kSave, bool kProj>
RNNX_CLONES void gru_before_forward_row(int H, const T* __restrict p, const T* __restrict bias,
                                        const T* r, const T* __restrict reset, T* act,
                                        T* __restrict h, T* __restrict y, T* __restrict hp) {
  for (int j = H; j < 2 * H; ++j) act[j] = cell::sigmoid(preactivation<kProj>(p, bias, r, j));  // z
  for (int j = 0; j < H; ++j) {
    const T n =
        cell::gru_candidate(x_side<kProj>(p, bias, 2 * H + j), r[2 * H + j], reset[j], false);
    const T out = cell::gru_output(act[H + j], n, h[j]);
    if constexpr (kSave) hp[j] = h[j];
    act[j] = reset[j];
    act[2 * H + j] = n;
    h[j] = out;
    y[j] = out;
  }
}

// GCC does not vectorize this loop (it reports a load it has no vector type for), so float32 on
// an AVX-512 or AVX2 CPU runs it 16 units at a time through cpu/gates16.h: the same cell math.
template <class T>
RNNX_CLONES void lstm_backward_row(int H, const T* __restrict g, const T* __restrict cp,
                                   const T* __restrict dh, const T* __restrict dout,
                                   T* __restrict dc, T* __restrict dz, T* __restrict dz_step) {
  int j = 0;
  if constexpr (std::is_same_v<T, float>) {
    if (const VectorIsa isa = vector_isa(); isa != VectorIsa::none) {
      const auto backward = gates16(isa).lstm_backward;
      float dh_total[16];
      for (; j + 16 <= H; j += 16) {
        for (int l = 0; l < 16; ++l) dh_total[l] = dh[j + l] + dout[j + l];
        backward(g + j, H, cp + j, dh_total, dc + j, dz + j, dz_step + j);
      }
    }
  }
  for (; j < H; ++j) {
    const cell::LstmUnitGrad<T> d = cell::lstm_backward(g[j], g[H + j], g[2 * H + j], g[3 * H + j],
                                                        cp[j], dh[j] + dout[j], dc[j]);
    dz[j] = dz_step[j] = d.di;
    dz[H + j] = dz_step[H + j] = d.df;
    dz[2 * H + j] = dz_step[2 * H + j] = d.dg;
    dz[3 * H + j] = dz_step[3 * H + j] = d.do_;
    dc[j] = d.dc_prev;
  }
}

template <class T>
RNNX_CLONES void gru_after_backward_row(int H, const T* __restrict g, const T* __restrict hn,
                                        const T* __restrict hp, const T* __restrict dh,
                                        const T* __restrict dout, T* __restrict dzx,
                                        T* __restrict dzh, T* __restrict dz_step,
                                        T* __restrict dh_direct) {
  for (int j = 0; j < H; ++j) {
    const cell::GruUnitGrad<T> d =
        cell::gru_backward(g[j], g[H + j], g[2 * H + j], hn[j], hp[j], dh[j] + dout[j], true);
    dzx[j] = dzh[j] = dz_step[j] = d.dr;
    dzx[H + j] = dzh[H + j] = dz_step[H + j] = d.dz;
    dzx[2 * H + j] = d.dn;
    dzh[2 * H + j] = dz_step[2 * H + j] = d.dhn;
    dh_direct[j] = d.dh_prev;
  }
}

template <class T>
RNNX_CLONES void gru_before_backward_row(int H, const T* __restrict g, const T* __restrict hp,
                                         const T* __restrict dh, const T* __restrict dout,
                                         T* __restrict dz, T* __restrict dz_step,
                                         T* __restrict dh_direct) {
  for (int j = 0; j < H; ++j) {
    const cell::GruUnitGrad<T> d =
        cell::gru_backward(g[j], g[H + j], g[2 * H + j], T(0), hp[j], dh[j] + dout[j], false);
    dz[H + j] = dz_step[H + j] = d.dz;
    dz[2 * H + j] = dz_step[2 * H + j] = d.dn;  // d.dhn is d.dn: both sides agree
    dh_direct[j] = d.dh_prev;
  }
}

template <class T>
RNNX_CLONES void gru_before_reset_backward_row(int H, const T* __restrict g, const T* __restrict hp,
                                               const T* __restrict drh, T* __restrict dz,
                                               T* __restrict dz_step, T* __restrict dh_direct) {
  for (int j = 0; j < H; ++j) {
    const cell::GruResetGrad<T> d = cell::gru_reset_before_backward(g[j], hp[j], drh[j]);
    dz[j] = dz_step[j] = d.dr;
    dh_direct[j] += d.dh_prev;
  }
}

// g: where the output goes as the saved "gate" (the reserve's row) when kSave. p: null where
// !kProj.
template <class T, bool kRelu, bool kSave, bool kProj>
RNNX_CLONES void rnn_forward_row(int H, const T* __restrict p, const T* __restrict bias,
                                 const T* __restrict r, T* __restrict h, T* __restrict y,
                                 T* __restrict hp, T* __restrict g) {
  for (int j = 0; j < H; ++j) {
    const T out = cell::rnn_forward<kRelu>(preactivation<kProj>(p, bias, r, j));
    if constexpr (kSave) {
      hp[j] = h[j];
      g[j] = out;
    }
    h[j] = out;
    y[j] = out;
  }
}

template <class T, bool kRelu>
RNNX_CLONES void rnn_backward_row(int H, const T* __restrict g, const T* __restrict dh,
                                  const T* __restrict dout, T* __restrict dz,
                                  T* __restrict dz_step) {
  for (int j = 0; j < H; ++j) dz[j] = dz_step[j] = cell::rnn_backward<kRelu>(g[j], dh[j] + dout[j]);
}

// Runs `row(b, row_index)` for every active sequence in [first, last), in parallel when the call
// has threads of its own; `ended(b)` for the others.
template <class Row, class Ended>
void for_each_row(const StepRows& rows, Row row, Ended ended) {
#pragma omp parallel for num_threads(rows.threads) schedule(static) if (rows.threads > 1)
  for (int b = rows.first; b < rows.last; ++b) {
    const int t = rows.time(b);
    if (t < 0) {
      ended(b);
    } else {
      row(b, rows.row(t, b));
    }
  }
}

// Row `row` of the all-steps projection [rows][width], or null where the layer projects x in its
// steps (proj null).
template <class T>
const T* projection_row(const T* proj, std::size_t row, std::size_t width) {
  return proj == nullptr ? nullptr : proj + row * width;
}

// Calls f(save, project) with the two run-time choices of a forward row (whether it writes the
// reserve, whether it adds a projection) as compile-time constants (std::bool_constant).
template <class F>
void with_row_flags(bool save, bool project, F f) {
  using Yes = std::true_type;
  using No = std::false_type;
  if (save) {
    project ? f(Yes{}, Yes{}) : f(Yes{}, No{});
  } else {
    project ? f(No{}, Yes{}) : f(No{}, No{});
  }
}

}  // namespace

template <class T>
void lstm_forward_step(const StepRows& rows, int H, T forget_bias, const T* proj, const T* bias,
                       T* rec, T* h, T* c, T* y, int y_ld, const StepSave<T>& save) {
  const std::size_t G = 4 * std::size_t(H);
  for_each_row(
      rows,
      [&](int b, std::size_t row) {
        const T* p = projection_row(proj, row, G);
        T* r = rec + b * G;
        T* hb = h + std::size_t(b) * H;
        T* cb = c + std::size_t(b) * H;
        T* yb = y + row * y_ld;
        const bool saving = save.gates != nullptr;
        // Inference writes the activated gates over the rec row.
        T* act = saving ? save.gates + row * G : r;
        T* hp = saving ? save.h_prev + row * H : nullptr;
        T* cp = saving ? save.c_prev + row * H : nullptr;
        with_row_flags(saving, p != nullptr, [&](auto kSave, auto kProj) {
          lstm_forward_row<T, decltype(kSave)::value, decltype(kProj)::value>(
              H, forget_bias, p, bias, r, act, hb, cb, yb, hp, cp);
        });
      },
      [](int) {});
}

template <class T>
void gru_after_forward_step(const StepRows& rows, int H, const T* proj, const T* bias, const T* rec,
                            const T* bhn, T* h, T* y, int y_ld, const StepSave<T>& save) {
  const std::size_t G = 3 * std::size_t(H);
  for_each_row(
      rows,
      [&](int b, std::size_t row) {
        const T* p = proj + row * G;
        const T* r = rec + b * G;
        T* hb = h + std::size_t(b) * H;
        if (save.gates != nullptr) {
          gru_after_forward_row<T, true>(H, p, bias, r, bhn, save.gates + row * G, hb,
                                         y + row * y_ld, save.h_prev + row * H, save.hn + row * H);
        } else {
          gru_after_forward_row<T, false>(H, p, bias, r, bhn, const_cast<T*>(r), hb, y + row * y_ld,
                                          nullptr, nullptr);
        }
      },
      [](int) {});
}

template <class T>
void gru_before_reset_step(const StepRows& rows, int H, const T* proj, const T* bias, const T* rec,
                           const T* h, T* r_out, T* rh) {
  const std::size_t G = 3 * std::size_t(H);
  for_each_row(
      rows,
      [&](int b, std::size_t row) {
        const std::size_t s = std::size_t(b) * H;
        const T* p = projection_row(proj, row, G);
        if (p != nullptr) {
          gru_before_reset_row<T, true>(H, p, bias, rec + b * G, h + s, r_out + s, rh + s);
        } else {
          gru_before_reset_row<T, false>(H, p, bias, rec + b * G, h + s, r_out + s, rh + s);
        }
      },
      // An ended sequence's rh still feeds the GEMM; keep it finite.
      [&](int b) { std::fill(rh + std::size_t(b) * H, rh + std::size_t(b + 1) * H, T(0)); });
}

template <class T>
void gru_before_forward_step(const StepRows& rows, int H, const T* proj, const T* bias,
                             const T* rec, const T* r, T* h, T* y, int y_ld,
                             const StepSave<T>& save) {
  const std::size_t G = 3 * std::size_t(H);
  for_each_row(
      rows,
      [&](int b, std::size_t row) {
        const std::size_t s = std::size_t(b) * H;
        const T* p = projection_row(proj, row, G);
        const T* rr = rec + b * G;
        const bool saving = save.gates != nullptr;
        // Inference writes the activated gates over the rec row.
        T* act = saving ? save.gates + row * G : const_cast<T*>(rr);
        T* hp = saving ? save.h_prev + row * H : nullptr;
        with_row_flags(saving, p != nullptr, [&](auto kSave, auto kProj) {
          gru_before_forward_row<T, decltype(kSave)::value, decltype(kProj)::value>(
              H, p, bias, rr, r + s, act, h + s, y + row * y_ld, hp);
        });
      },
      [](int) {});
}

template <class T>
void lstm_backward_step(const StepRows& rows, int H, const StepSave<T>& saved, const T* dh,
                        const T* dout, int dout_ld, T* dc, T* dz, T* dz_step) {
  const std::size_t G = 4 * std::size_t(H);
  for_each_row(
      rows,
      [&](int b, std::size_t row) {
        const std::size_t s = std::size_t(b) * H;
        lstm_backward_row<T>(H, saved.gates + row * G, saved.c_prev + row * H, dh + s,
                             dout + row * dout_ld, dc + s, dz + row * G, dz_step + b * G);
      },
      [&](int b) { std::fill(dz_step + b * G, dz_step + (b + 1) * G, T(0)); });
}

template <class T>
void gru_after_backward_step(const StepRows& rows, int H, const StepSave<T>& saved, const T* dh,
                             const T* dout, int dout_ld, T* dzx, T* dzh, T* dz_step, T* dh_direct) {
  const std::size_t G = 3 * std::size_t(H);
  for_each_row(
      rows,
      [&](int b, std::size_t row) {
        const std::size_t s = std::size_t(b) * H;
        gru_after_backward_row<T>(H, saved.gates + row * G, saved.hn + row * H,
                                  saved.h_prev + row * H, dh + s, dout + row * dout_ld,
                                  dzx + row * G, dzh + row * G, dz_step + b * G, dh_direct + s);
      },
      [&](int b) { std::fill(dz_step + b * G, dz_step + (b + 1) * G, T(0)); });
}

template <class T>
void gru_before_backward_step(const StepRows& rows, int H, const StepSave<T>& saved, const T* dh,
                              const T* dout, int dout_ld, T* dz, T* dz_step, T* dh_direct) {
  const std::size_t G = 3 * std::size_t(H);
  for_each_row(
      rows,
      [&](int b, std::size_t row) {
        const std::size_t s = std::size_t(b) * H;
        gru_before_backward_row<T>(H, saved.gates + row * G, saved.h_prev + row * H, dh + s,
                                   dout + row * dout_ld, dz + row * G, dz_step + b * G,
                                   dh_direct + s);
      },
      [&](int b) { std::fill(dz_step + b * G, dz_step + (b + 1) * G, T(0)); });
}

template <class T>
void gru_before_reset_backward_step(const StepRows& rows, int H, const StepSave<T>& saved,
                                    const T* drh, T* dz, T* dz_step, T* dh_direct) {
  const std::size_t G = 3 * std::size_t(H);
  for_each_row(
      rows,
      [&](int b, std::size_t row) {
        const std::size_t s = std::size_t(b) * H;
        gru_before_reset_backward_row<T>(H, saved.gates + row * G, saved.h_prev + row * H, drh + s,
                                         dz + row * G, dz_step + b * G, dh_direct + s);
      },
      [](int) {});
}

namespace {

template <class T, bool kRelu>
void rnn_forward_pass(const StepRows& rows, int H, const T* proj, const T* bias, const T* rec, T* h,
                      T* y, int y_ld, const StepSave<T>& save) {
  for_each_row(
      rows,
      [&](int b, std::size_t row) {
        const std::size_t s = std::size_t(b) * H;
        const T* p = projection_row(proj, row, H);
        T* hp = save.gates != nullptr ? save.h_prev + row * H : nullptr;
        T* g = save.gates != nullptr ? save.gates + row * H : nullptr;
        T* yb = y + row * y_ld;
        with_row_flags(save.gates != nullptr, p != nullptr, [&](auto kSave, auto kProj) {
          rnn_forward_row<T, kRelu, decltype(kSave)::value, decltype(kProj)::value>(
              H, p, bias, rec + s, h + s, yb, hp, g);
        });
      },
      [](int) {});
}

template <class T, bool kRelu>
void rnn_backward_pass(const StepRows& rows, int H, const StepSave<T>& saved, const T* dh,
                       const T* dout, int dout_ld, T* dz, T* dz_step) {
  for_each_row(
      rows,
      [&](int b, std::size_t row) {
        const std::size_t s = std::size_t(b) * H;
        rnn_backward_row<T, kRelu>(H, saved.gates + row * H, dh + s, dout + row * dout_ld,
                                   dz + row * H, dz_step + s);
      },
      [&](int b) {
        std::fill(dz_step + std::size_t(b) * H, dz_step + std::size_t(b + 1) * H, T(0));
      });
}

}  // namespace

// The activation is chosen here, once per step, so that each row loop is one vectorized loop.
template <class T>
void rnn_forward_step(const StepRows& rows, int H, Activation act, const T* proj, const T* bias,
                      const T* rec, T* h, T* y, int y_ld, const StepSave<T>& save) {
  switch (act) {
    case Activation::tanh:
      rnn_forward_pass<T, false>(rows, H, proj, bias, rec, h, y, y_ld, save);
      return;
    case Activation::relu:
      rnn_forward_pass<T, true>(rows, H, proj, bias, rec, h, y, y_ld, save);
      return;
  }
}

template <class T>
void rnn_backward_step(const StepRows& rows, int H, Activation act, const StepSave<T>& saved,
                       const T* dh, const T* dout, int dout_ld, T* dz, T* dz_step) {
  switch (act) {
    case Activation::tanh:
      rnn_backward_pass<T, false>(rows, H, saved, dh, dout, dout_ld, dz, dz_step);
      return;
    case Activation::relu:
      rnn_backward_pass<T, true>(rows, H, saved, dh, dout, dout_ld, dz, dz_step);
      return;
  }
}

#define RNNX_INSTANTIATE(T)                                                                       \
  template void lstm_forward_step<T>(const StepRows&, int, T, const T*, const T*, T*, T*, T*, T*, \
                                     int, const StepSave<T>&);                                    \
  template void gru_after_forward_step<T>(const StepRows&, int, const T*, const T*, const T*,     \
                                          const T*, T*, T*, int, const StepSave<T>&);             \
  template void gru_before_reset_step<T>(const StepRows&, int, const T*, const T*, const T*,      \
                                         const T*, T*, T*);                                       \
  template void gru_before_forward_step<T>(const StepRows&, int, const T*, const T*, const T*,    \
                                           const T*, T*, T*, int, const StepSave<T>&);            \
  template void lstm_backward_step<T>(const StepRows&, int, const StepSave<T>&, const T*,         \
                                      const T*, int, T*, T*, T*);                                 \
  template void gru_after_backward_step<T>(const StepRows&, int, const StepSave<T>&, const T*,    \
                                           const T*, int, T*, T*, T*, T*);                        \
  template void gru_before_backward_step<T>(const StepRows&, int, const StepSave<T>&, const T*,   \
                                            const T*, int, T*, T*, T*);                           \
  template void gru_before_reset_backward_step<T>(const StepRows&, int, const StepSave<T>&,       \
                                                  const T*, T*, T*, T*);                          \
  template void rnn_forward_step<T>(const StepRows&, int, Activation, const T*, const T*,         \
                                    const T*, T*, T*, int, const StepSave<T>&);                   \
  template void rnn_backward_step<T>(const StepRows&, int, Activation, const StepSave<T>&,        \
                                     const T*, const T*, int, T*, T*);
RNNX_INSTANTIATE(float)
RNNX_INSTANTIATE(double)
#undef RNNX_INSTANTIATE

}  // namespace rnnx::cpu
