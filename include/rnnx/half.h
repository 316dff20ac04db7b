// bfloat16 and IEEE float16 values as their 16-bit patterns, for the buffers of DType::bf16 and
// DType::f16 models. Rounding is to nearest, ties to even; NaN stays NaN (quiet); values beyond
// a type's range become infinities (float16) as the hardware conversions do.
#pragma once

#include <cstdint>

namespace rnnx {

std::uint16_t float_to_bf16(float value) noexcept;
float bf16_to_float(std::uint16_t bits) noexcept;

std::uint16_t float_to_f16(float value) noexcept;
float f16_to_float(std::uint16_t bits) noexcept;

}  // namespace rnnx
