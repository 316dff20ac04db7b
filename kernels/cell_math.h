// The cell math of LSTM, GRU and the vanilla RNN, once, for every fast engine: the cpu engine
// compiles it with the host compiler, the GPU engines with nvcc. DESIGN.md has the formulas; the
// reference engine (src/reference/) writes them out separately, so that the two check each other.
//
// Every function works on one hidden unit and is branch-free, so that loops over units
// vectorize on the CPU and map to threads on the GPU.
#pragma once

#include <math.h>

#if defined(__CUDACC__)
#define RNNX_HD __host__ __device__ __forceinline__
#else
#define RNNX_HD inline
#endif

namespace rnnx::cell {

// exp. float on the host uses a polynomial that the compiler can vectorize (glibc's expf is a
// scalar call, and the pointwise pass is mostly exp); its relative error is about 2e-7, well
// inside float32's tolerance, and it keeps expf's ends: +inf above ln(FLT_MAX), subnormals down
// to 2^-149, 0 below that, NaN for NaN (tests/test_hostile_values.cpp sweeps the whole range).
// src/cpu/lanes16.h takes the same steps with the same constants on 16 floats at once.
// float64 and the device use the math library.
RNNX_HD double exp_(double x) {
  return exp(x);
}

// The float exp's constants, shared with the 16-float version (src/cpu/lanes16.h).
namespace exp_float {
constexpr float kLowest = -104.0f;          // below: 0 (expf's smallest subnormal is 2^-149)
constexpr float kHighest = 89.0f;           // above: +inf (ln FLT_MAX is 88.72)
constexpr float kRoundMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2High = 0.693359375f;  // ln 2 = kLn2High - kLn2Low, kLn2High exact in 9 bits
constexpr float kLn2Low = 2.12194440e-4f;
// exp(r) on [-ln2/2, ln2/2], highest degree first: a degree-6 Taylor-like minimax polynomial
// whose last two terms (r and 1) are added apart.
constexpr float kPoly[5] = {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f, 1.6666665459e-1f,
                            5.0000001201e-1f};
}  // namespace exp_float

#if !defined(__CUDA_ARCH__)
// exp(c) = p * 2^k for c = x clamped to [lowest, kHighest] (a NaN passes the clamp and stays NaN
// through the polynomial): k = round(c / ln 2), r = c - k ln 2 in two parts (Cody and Waite),
// p = exp(r) by the polynomial; k as the bits of the rounded float minus the magic number's
// (unsigned: wraps where a NaN's bits give nonsense, which the NaN in p then overrides;
// converting a NaN to int would be undefined). Host only: the device takes expf.
struct ExpParts {
  float p;
  unsigned k_bits;
};
inline ExpParts exp_parts(float x, float lowest) {
  using namespace exp_float;
  const float c = x < lowest ? lowest : (x > kHighest ? kHighest : x);
  const float shifted = c * kLog2e + kRoundMagic;
  const float k = shifted - kRoundMagic;
  const float r = (c - k * kLn2High) + k * kLn2Low;
  float p = kPoly[0];
  p = p * r + kPoly[1];
  p = p * r + kPoly[2];
  p = p * r + kPoly[3];
  p = p * r + kPoly[4];
  p = p * r * r + r + 1.0f;
  return {p, __builtin_bit_cast(unsigned, shifted) - __builtin_bit_cast(unsigned, kRoundMagic)};
}
#endif

RNNX_HD float exp_(float x) {
#if defined(__CUDA_ARCH__)
  return expf(x);
#else
  // Beyond [-104, 89] the result is 0 or +inf anyway; the clamp keeps k in [-150, 128].
  const ExpParts e = exp_parts(x, exp_float::kLowest);
  // 2^k in two normal factors, 2^(k/2) and 2^(k - k/2), so that the product rounds once into the
  // subnormals at the low end and overflows to +inf at the high end, as expf does.
  const unsigned k_low = static_cast<unsigned>(static_cast<int>(e.k_bits) >> 1);
  const unsigned k_high = e.k_bits - k_low;
  const float scale_low = __builtin_bit_cast(float, (k_low + 127u) << 23);
  const float scale_high = __builtin_bit_cast(float, (k_high + 127u) << 23);
  return e.p * scale_low * scale_high;
#endif
}

// exp as the gate functions use it, only in 1 + exp(.) under a division: exp_'s bits wherever
// the result is a normal float (x in [-87, 88.37]), but 2^k applied as one factor, which saves
// the float version a fifth of its instructions (sigmoid 0.65 -> 0.51 ns a value on 8 AVX2 lanes,
// Zen 3). Outside, the ends are what the gates need, not what expf gives: below -87 exp(-87)
// (1 + it is 1, as 1 + exp(x) is), above 88.37 +inf (k = 128 makes 2^k's bits those of +inf;
// 1 / (1 + inf) is 0 where the true quotient is below 4e-39). NaN stays NaN.
RNNX_HD double gate_exp(double x) {
  return exp(x);
}
namespace exp_float {
constexpr float kGateLowest = -87.0f;  // exp(-87) = 1.6e-38, still normal: k >= -126
}  // namespace exp_float
RNNX_HD float gate_exp(float x) {
#if defined(__CUDA_ARCH__)
  return expf(x);
#else
  const ExpParts e = exp_parts(x, exp_float::kGateLowest);
  return e.p * __builtin_bit_cast(float, (e.k_bits + 127u) << 23);
#endif
}

template <class T>
RNNX_HD T sigmoid(T x) {
  return T(1) / (T(1) + gate_exp(-x));
}

// tanh(x) = 2 sigmoid(2x) - 1 in float (and in the cpu engine's 16-float vectors,
// src/cpu/lanes16.h); the library's tanh in float64, where accuracy rules.
template <class T>
RNNX_HD T tanh_from_exp(T x) {
  return T(2) / (T(1) + gate_exp(T(-2) * x)) - T(1);
}
RNNX_HD float tanh_(float x) {
  return tanh_from_exp(x);
}
RNNX_HD double tanh_(double x) {
  return tanh(x);
}

// ---------------------------------------------------------------------------------------------
// LSTM. z* are the gates' pre-activations: Wx x + bx + Wh h + bh for that gate and unit.

// The gates one at a time (the CPU computes each over a whole row before the next, which keeps
// its vector registers from spilling), then the state update.
template <class T>
RNNX_HD T lstm_input_gate(T zi) {
  return sigmoid(zi);
}
template <class T>
RNNX_HD T lstm_forget_gate(T zf, T forget_bias) {
  return sigmoid(zf + forget_bias);
}
template <class T>
RNNX_HD T lstm_cell_gate(T zg) {
  return tanh_(zg);
}
template <class T>
RNNX_HD T lstm_output_gate(T zo) {
  return sigmoid(zo);
}

template <class T>
struct LstmState {
  T c, h;
};

template <class T>
RNNX_HD LstmState<T> lstm_state(T i, T f, T g, T o, T c_prev) {
  const T c = f * c_prev + i * g;
  return LstmState<T>{c, o * tanh_(c)};
}

template <class T>
struct LstmUnit {
  T i, f, g, o;  // activated gates
  T c, h;        // new state
};

// All of one unit at once (the GPU's shape).
template <class T>
RNNX_HD LstmUnit<T> lstm_forward(T zi, T zf, T zg, T zo, T c_prev, T forget_bias) {
  LstmUnit<T> u;
  u.i = lstm_input_gate(zi);
  u.f = lstm_forget_gate(zf, forget_bias);
  u.g = lstm_cell_gate(zg);
  u.o = lstm_output_gate(zo);
  const LstmState<T> s = lstm_state(u.i, u.f, u.g, u.o, c_prev);
  u.c = s.c;
  u.h = s.h;
  return u;
}

template <class T>
struct LstmUnitGrad {
  T di, df, dg, do_;  // gradients of the pre-activations
  T dc_prev;
};

// dh, dc: gradients arriving at the step's h and c outputs.
template <class T>
RNNX_HD LstmUnitGrad<T> lstm_backward(T i, T f, T g, T o, T c_prev, T dh, T dc) {
  const T tc = tanh_(f * c_prev + i * g);
  const T dc_total = dc + dh * o * (T(1) - tc * tc);
  LstmUnitGrad<T> d;
  d.di = dc_total * g * i * (T(1) - i);
  d.df = dc_total * c_prev * f * (T(1) - f);
  d.dg = dc_total * i * (T(1) - g * g);
  d.do_ = dh * tc * o * (T(1) - o);
  d.dc_prev = dc_total * f;
  return d;
}

// ---------------------------------------------------------------------------------------------
// GRU. hn is the recurrent term of the candidate: Whn h + bhn (reset after the matmul) or
// Whn (r*h) + bhn (reset before); xn = Wxn x + bxn.

template <class T>
RNNX_HD T gru_candidate(T xn, T hn, T r, bool reset_after) {
  return tanh_(xn + (reset_after ? r * hn : hn));
}

template <class T>
RNNX_HD T gru_output(T z, T n, T h_prev) {
  return (T(1) - z) * n + z * h_prev;
}

template <class T>
struct GruUnitGrad {
  T dz;       // gradient of z's pre-activation
  T dn;       // gradient of n's pre-activation: the x side (Wxn, bxn)
  T dhn;      // gradient of hn: the h side of the n rows (Whn, bhn)
  T dr;       // gradient of r's pre-activation (reset after only; see gru_reset_before_backward)
  T dh_prev;  // the part of dh_prev that flows through z * h_prev
};

template <class T>
RNNX_HD GruUnitGrad<T> gru_backward(T r, T z, T n, T hn, T h_prev, T dh, bool reset_after) {
  GruUnitGrad<T> d;
  d.dn = dh * (T(1) - z) * (T(1) - n * n);
  d.dz = dh * (h_prev - n) * z * (T(1) - z);
  d.dhn = reset_after ? d.dn * r : d.dn;
  d.dr = reset_after ? d.dn * hn * r * (T(1) - r) : T(0);
  d.dh_prev = dh * z;
  return d;
}

// Reset before the matmul: d(r*h) = Whn^T dn arrives as drh once dn is known for every unit.
template <class T>
struct GruResetGrad {
  T dr;       // gradient of r's pre-activation
  T dh_prev;  // the part of dh_prev that flows through r * h_prev
};

template <class T>
RNNX_HD GruResetGrad<T> gru_reset_before_backward(T r, T h_prev, T drh) {
  return GruResetGrad<T>{drh * h_prev * r * (T(1) - r), drh * r};
}

// ---------------------------------------------------------------------------------------------
// Vanilla RNN: h = act(z), z = Wx x + bx + Wh h_prev + bh, act = tanh or relu (kRelu). Both
// derivatives are functions of h itself (tanh' = 1 - h^2; relu' = 1 where h > 0, which is
// where z > 0), so backward needs only the step's output, not z.

template <bool kRelu, class T>
RNNX_HD T rnn_forward(T z) {
  if constexpr (kRelu) {
    // A select, not a branch. NaN is kept, as PyTorch's relu keeps it: a NaN must not turn into
    // a valid-looking 0 (tests/test_hostile_values.cpp).
    return z < T(0) ? T(0) : z;
  } else {
    return tanh_(z);
  }
}

// dh: the gradient arriving at the step's h; returns that of z. relu'(0) = 0, as PyTorch has it.
template <bool kRelu, class T>
RNNX_HD T rnn_backward(T h, T dh) {
  if constexpr (kRelu) {
    return h > T(0) ? dh : T(0);
  } else {
    return dh * (T(1) - h * h);
  }
}

}  // namespace rnnx::cell
