// 8 floats in one AVX2 register: cpu/lanes16.h's Lanes16 for CPUs without AVX-512, with the same
// operators and functions, so that the same cell math runs on them. Its exp takes the scalar
// exp's steps one for one (2^k in two factors, as kernels/cell_math.h does) and its division is
// vdivps, so each lane gets the scalar formula's result up to fused multiply-adds.
// Include it only in a file compiled for AVX2 and FMA (-mavx2 -mfma) that instantiates nothing
// else from headers (src/cpu/gates16_avx2.cpp), for cpu/lanes16.h's reason.
#pragma once

#if !defined(__AVX2__) || !defined(__FMA__)
#error "src/cpu/lanes8.h needs -mavx2 -mfma"
#endif

#include <immintrin.h>

#include "kernels/cell_math.h"

namespace rnnx::cpu::avx2 {

struct Lanes8 {
  static constexpr int kWidth = 8;
  __m256 v;

  Lanes8() = default;
  explicit Lanes8(__m256 x) : v(x) {}
  explicit Lanes8(float x) : v(_mm256_set1_ps(x)) {}
  explicit Lanes8(int x) : v(_mm256_set1_ps(static_cast<float>(x))) {}

  static Lanes8 load(const float* p) { return Lanes8(_mm256_loadu_ps(p)); }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
};

inline Lanes8 operator+(Lanes8 a, Lanes8 b) {
  return Lanes8(_mm256_add_ps(a.v, b.v));
}
inline Lanes8 operator-(Lanes8 a, Lanes8 b) {
  return Lanes8(_mm256_sub_ps(a.v, b.v));
}
inline Lanes8 operator*(Lanes8 a, Lanes8 b) {
  return Lanes8(_mm256_mul_ps(a.v, b.v));
}
inline Lanes8 operator-(Lanes8 a) {  // the sign bit flipped, as the scalar -x
  return Lanes8(_mm256_xor_ps(a.v, _mm256_set1_ps(-0.0f)));
}
inline Lanes8 operator/(Lanes8 a, Lanes8 b) {
  return Lanes8(_mm256_div_ps(a.v, b.v));
}

// kernels/cell_math.h's exp_parts on 8 lanes: p = exp(r) and k's bits for c already clamped
// (wrapping in 32-bit lanes where a NaN's bits give nonsense; the NaN in p wins).
struct ExpParts8 {
  __m256 p;
  __m256i k_bits;
};
inline ExpParts8 exp_parts(__m256 c) {
  using namespace cell::exp_float;
  const __m256 magic = _mm256_set1_ps(kRoundMagic);
  const __m256 shifted = _mm256_fmadd_ps(c, _mm256_set1_ps(kLog2e), magic);
  const __m256 k = _mm256_sub_ps(shifted, magic);
  const __m256 r =
      _mm256_fmadd_ps(k, _mm256_set1_ps(kLn2Low), _mm256_fnmadd_ps(k, _mm256_set1_ps(kLn2High), c));
  __m256 p = _mm256_set1_ps(kPoly[0]);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kPoly[1]));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kPoly[2]));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kPoly[3]));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kPoly[4]));
  p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
  return {p, _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_castps_si256(magic))};
}

// 2^k as a float, for k in [-126, 128] (128: the bits of +inf).
inline __m256 power_of_two(__m256i k) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
}

// x clamped to [lowest, kHighest]; NaN passes (max and min return their second operand when
// either is NaN).
inline __m256 clamped(__m256 x, float lowest) {
  return _mm256_min_ps(_mm256_set1_ps(cell::exp_float::kHighest),
                       _mm256_max_ps(_mm256_set1_ps(lowest), x));
}

// kernels/cell_math.h's float exp on 8 lanes: 2^k as two normal factors.
inline Lanes8 exp_(Lanes8 x) {
  const ExpParts8 e = exp_parts(clamped(x.v, cell::exp_float::kLowest));
  const __m256i k_low = _mm256_srai_epi32(e.k_bits, 1);
  const __m256i k_high = _mm256_sub_epi32(e.k_bits, k_low);
  return Lanes8(_mm256_mul_ps(_mm256_mul_ps(e.p, power_of_two(k_low)), power_of_two(k_high)));
}

// kernels/cell_math.h's gate_exp on 8 lanes: its own low clamp and 2^k as one factor.
inline Lanes8 gate_exp(Lanes8 x) {
  const ExpParts8 e = exp_parts(clamped(x.v, cell::exp_float::kGateLowest));
  return Lanes8(_mm256_mul_ps(e.p, power_of_two(e.k_bits)));
}

inline Lanes8 tanh_(Lanes8 x) {
  return cell::tanh_from_exp(x);
}

}  // namespace rnnx::cpu::avx2
