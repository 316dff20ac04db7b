#include "rnnx/half.h"

#include <cstring>

namespace rnnx {

namespace {

std::uint32_t bits_of(float v) {
  std::uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}

float float_of(std::uint32_t u) {
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

// x >> shift rounded to nearest, ties to even (shift in [1, 31]).
std::uint32_t shift_round_even(std::uint32_t x, int shift) {
  const std::uint32_t half = 1u << (shift - 1), rest = x & ((1u << shift) - 1);
  std::uint32_t q = x >> shift;
  if (rest > half || (rest == half && (q & 1u) != 0)) ++q;
  return q;
}

}  // namespace

std::uint16_t float_to_bf16(float value) noexcept {
  const std::uint32_t u = bits_of(value);
  if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep the sign and make it quiet
    return static_cast<std::uint16_t>((u >> 16) | 0x0040u);
  }
  // bfloat16 is float32's upper half: round the lower 16 bits away (a carry into the exponent
  // is the right result, up to infinity).
  return static_cast<std::uint16_t>(shift_round_even(u, 16));
}

float bf16_to_float(std::uint16_t bits) noexcept {
  return float_of(std::uint32_t(bits) << 16);
}

std::uint16_t float_to_f16(float value) noexcept {
  const std::uint32_t u = bits_of(value);
  const std::uint32_t sign = (u >> 16) & 0x8000u;
  const std::uint32_t magnitude = u & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u);   // NaN
  if (magnitude >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // >= 65520
  const int exponent = static_cast<int>(magnitude >> 23) - 127;
  if (exponent >= -14) {
    // Normal in float16: rebias the exponent, round 13 mantissa bits away (a carry into the
    // exponent is right, and cannot reach infinity below 65520).
    const std::uint32_t rebiased = magnitude - ((127u - 15u) << 23);
    return static_cast<std::uint16_t>(sign | shift_round_even(rebiased, 13));
  }
  if (exponent < -25) return static_cast<std::uint16_t>(sign);  // below half the least subnormal
  // Subnormal in float16: value = m * 2^-24 with m = mantissa (implicit 1 included) shifted.
  const std::uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
  const int shift = -exponent - 1;  // 2^exponent * mantissa/2^23 = m * 2^-24
  return static_cast<std::uint16_t>(sign | shift_round_even(mantissa, shift));
}

float f16_to_float(std::uint16_t bits) noexcept {
  const std::uint32_t sign = std::uint32_t(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu, mantissa = bits & 0x3ffu;
  if (exponent == 0x1fu) return float_of(sign | 0x7f800000u | (mantissa << 13));  // inf, NaN
  if (exponent != 0) return float_of(sign | ((exponent + 127u - 15u) << 23) | (mantissa << 13));
  // Zero or subnormal: mantissa * 2^-24, exact in float32.
  const float v = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
  return sign != 0 ? -v : v;
}

}  // namespace rnnx
