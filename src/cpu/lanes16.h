// 16 floats in one AVX-512 register, with the operators and functions the cell math
// (kernels/cell_math.h) uses, so that the cpu engine runs the same formulas a register at a time.
// Include it only in a file compiled for AVX-512 (-mavx512f) that instantiates nothing else from
// headers (src/cpu/gates16_avx512.cpp): its inline functions would otherwise be AVX-512 code that
// the linker may pick for the rest of the library. cpu/lanes8.h is its AVX2 twin.
#pragma once

#if !defined(__AVX512F__)
#error "src/cpu/lanes16.h needs -mavx512f"
#endif

#include <immintrin.h>

#include "kernels/cell_math.h"

namespace rnnx::cpu::avx512 {

struct Lanes16 {
  static constexpr int kWidth = 16;
  __m512 v;

  Lanes16() = default;
  explicit Lanes16(__m512 x) : v(x) {}
  explicit Lanes16(float x) : v(_mm512_set1_ps(x)) {}
  explicit Lanes16(int x) : v(_mm512_set1_ps(static_cast<float>(x))) {}

  static Lanes16 load(const float* p) { return Lanes16(_mm512_loadu_ps(p)); }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
};

inline Lanes16 operator+(Lanes16 a, Lanes16 b) {
  return Lanes16(_mm512_add_ps(a.v, b.v));
}
inline Lanes16 operator-(Lanes16 a, Lanes16 b) {
  return Lanes16(_mm512_sub_ps(a.v, b.v));
}
inline Lanes16 operator*(Lanes16 a, Lanes16 b) {
  return Lanes16(_mm512_mul_ps(a.v, b.v));
}
inline Lanes16 operator-(Lanes16 a) {  // the sign bit flipped, as the scalar -x
  return Lanes16(_mm512_castsi512_ps(
      _mm512_xor_si512(_mm512_castps_si512(a.v), _mm512_set1_epi32(int(0x80000000u)))));
}

// a / b as a times b's reciprocal: a 14-bit estimate and one Newton step (within about 1 ulp of
// the quotient), a third of vdivps's cost. b = +inf, where the Newton step would give NaN, gets
// the exact 0; b = 0 does not occur in the cell math (every divisor is 1 + exp(.)).
inline Lanes16 operator/(Lanes16 a, Lanes16 b) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 estimate = _mm512_maskz_rcp14_ps(0xFFFF, b.v);  // masked: as in exp_ below
  const __m512 error = _mm512_fnmadd_ps(b.v, estimate, one);
  __m512 reciprocal = _mm512_fmadd_ps(estimate, error, estimate);
  const __mmask16 infinite = _mm512_cmp_ps_mask(b.v, _mm512_set1_ps(__builtin_inff()), _CMP_EQ_OQ);
  reciprocal = _mm512_mask_mov_ps(reciprocal, infinite, _mm512_setzero_ps());
  return Lanes16(_mm512_mul_ps(a.v, reciprocal));
}

// cell_math.h's float exp, step for step: the clamp (NaN passes: max and min return their
// second operand when either is NaN), k and r, the polynomial, and 2^k applied by vscalefps,
// which rounds once into the subnormals and overflows to +inf as the two-factor product does.
inline Lanes16 exp_(Lanes16 x) {
  using namespace cell::exp_float;
  // The all-lanes masked forms: GCC 12's unmasked min, max and scalef warn of an uninitialized
  // pass-through operand they do not use.
  constexpr __mmask16 all = 0xFFFF;
  const __m512 c = _mm512_maskz_min_ps(all, _mm512_set1_ps(kHighest),
                                       _mm512_maskz_max_ps(all, _mm512_set1_ps(kLowest), x.v));
  const __m512 magic = _mm512_set1_ps(kRoundMagic);
  const __m512 k = _mm512_sub_ps(_mm512_fmadd_ps(c, _mm512_set1_ps(kLog2e), magic), magic);
  const __m512 r =
      _mm512_fmadd_ps(k, _mm512_set1_ps(kLn2Low), _mm512_fnmadd_ps(k, _mm512_set1_ps(kLn2High), c));
  __m512 p = _mm512_set1_ps(kPoly[0]);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kPoly[1]));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kPoly[2]));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kPoly[3]));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kPoly[4]));
  p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
  return Lanes16(_mm512_maskz_scalef_ps(all, p, k));
}

// kernels/cell_math.h's gate_exp: vscalefps already applies 2^k in one instruction, so the gates
// take exp_ itself here (the same values wherever gate_exp's result is a normal float).
inline Lanes16 gate_exp(Lanes16 x) {
  return exp_(x);
}

inline Lanes16 tanh_(Lanes16 x) {
  return cell::tanh_from_exp(x);
}

}  // namespace rnnx::cpu::avx512
