// The cpu engine's vector gate math (src/cpu/gates16.h: kernels/cell_math.h's formulas on
// 16-float registers, built for AVX-512 and for AVX2) against the scalar cell math the other paths
// run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu/gates16.h"
#include "kernels/cell_math.h"

namespace rnnx {
namespace {

// got within 2^exponent of max(floor, |want|); NaN where want is NaN, an infinity where it is.
bool within(float got, float want, double floor, int exponent) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(double(got) - want) <=
         std::ldexp(std::max(floor, std::fabs(double(want))), exponent);
}

// One instruction set's gate math (the cell math on 16-float registers, its own exp and, on
// AVX-512, a reciprocal-based division; LSTM and GRU forward, LSTM backward) against
// the scalar cell math the other paths use, on pre-activations across the whole float range:
// within 2^-21 of max(1, |value|) (tanh as 2 sigmoid(2x) - 1 is only that close to 0 near 0, in
// either form), and the same ends (infinities, NaN) exactly.
void expect_gates16_match_the_scalar_cell_math(const cpu::Gates16& gates) {
  std::vector<float> values = {0.0f,
                               -0.0f,
                               1e-30f,
                               -1e-30f,
                               88.7f,
                               89.5f,
                               -87.0f,
                               -104.5f,
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::quiet_NaN(),
                               std::numeric_limits<float>::max(),
                               -std::numeric_limits<float>::max(),
                               std::numeric_limits<float>::denorm_min()};
  // Every 4099th bit pattern: about a million floats of both signs and all exponents.
  for (std::uint64_t bits = 0; bits < (std::uint64_t(1) << 32); bits += 4099) {
    values.push_back(__builtin_bit_cast(float, static_cast<std::uint32_t>(bits)));
  }
  while (values.size() % 16 != 0) values.push_back(0.5f);
  // Forward results within 2^-21 of max(1, |v|).
  auto close = [](float got, float want) { return within(got, want, 1.0, -21); };
  const int H = 16;
  const std::vector<float> zeros(4 * H, 0.0f);
  std::size_t checked = 0;
  for (std::size_t at = 0; at < values.size(); at += 16) {
    // Each gate of the block gets its own rotation of the values; c_prev the fourth.
    float sums[4][16], c_prev[16], h_prev[16];
    for (int l = 0; l < 16; ++l) {
      for (int g = 0; g < 4; ++g) sums[g][l] = values[(at + l + 4 * g) % values.size()];
      c_prev[l] = std::isfinite(values[at + l]) ? values[at + l] * 1e-3f : 0.5f;
      h_prev[l] = c_prev[l];
    }
    float act[4][16], c[16], h[16];
    gates.lstm(&sums[0][0], zeros.data(), zeros.data(), H, 1.0f, c_prev, &act[0][0], c, h);
    float gru_act[3][16], hn[16], gru_h[16];
    gates.gru_after(&sums[0][0], zeros.data(), zeros.data(), zeros.data(), h_prev, H,
                    &gru_act[0][0], hn, gru_h);
    for (int l = 0; l < 16; ++l) {
      // The scalar path adds p and bias first; here both are 0, as in the vector call.
      const float zi = sums[0][l] + 0.0f + 0.0f, zf = sums[1][l] + 0.0f + 0.0f;
      const float zg = sums[2][l] + 0.0f + 0.0f, zo = sums[3][l] + 0.0f + 0.0f;
      const cell::LstmUnit<float> u = cell::lstm_forward(zi, zf, zg, zo, c_prev[l], 1.0f);
      const float want[] = {u.i, u.f, u.g, u.o, u.c, u.h};
      const float got[] = {act[0][l], act[1][l], act[2][l], act[3][l], c[l], h[l]};
      for (int k = 0; k < 6; ++k) {
        ASSERT_TRUE(close(got[k], want[k]))
            << "LSTM output " << k << " at z = (" << zi << ", " << zf << ", " << zg << ", " << zo
            << "), c_prev = " << c_prev[l] << ": " << got[k] << " against " << want[k];
      }
      const float r = cell::sigmoid(zi), z = cell::sigmoid(zf), rec = sums[2][l] + 0.0f;
      const float n = cell::gru_candidate(0.0f + 0.0f, rec, r, true);
      const float out = cell::gru_output(z, n, h_prev[l]);
      const float gru_want[] = {r, z, n, out};
      const float gru_got[] = {gru_act[0][l], gru_act[1][l], gru_act[2][l], gru_h[l]};
      for (int k = 0; k < 4; ++k) {
        ASSERT_TRUE(close(gru_got[k], gru_want[k]))
            << "GRU output " << k << " at z = (" << zi << ", " << zf << "), hn = " << rec << ": "
            << gru_got[k] << " against " << gru_want[k];
      }
      EXPECT_TRUE(close(hn[l], rec)) << hn[l] << " against " << rec;
      ++checked;
    }
    // LSTM backward from the gates just made, with gradients from the values (finite ones).
    float dh[16], dc[16], dz[4][16], dz_step[4][16];
    for (int l = 0; l < 16; ++l) {
      dh[l] = std::isfinite(sums[1][l]) ? std::fmod(sums[1][l], 4.0f) : 1.0f;
      dc[l] = std::isfinite(sums[2][l]) ? std::fmod(sums[2][l], 4.0f) : -1.0f;
    }
    float dc_want[16];
    std::copy(dc, dc + 16, dc_want);
    gates.lstm_backward(&act[0][0], H, c_prev, dh, dc, &dz[0][0], &dz_step[0][0]);
    for (int l = 0; l < 16; ++l) {
      const cell::LstmUnitGrad<float> d = cell::lstm_backward(
          act[0][l], act[1][l], act[2][l], act[3][l], c_prev[l], dh[l], dc_want[l]);
      const float want[] = {d.di, d.df, d.dg, d.do_, d.dc_prev};
      const float got[] = {dz[0][l], dz[1][l], dz[2][l], dz[3][l], dc[l]};
      for (int k = 0; k < 5; ++k) {
        // Gradients up to 4 in size multiply tanh(c)'s last-bit differences: 2^-18 of max(4, |v|).
        ASSERT_TRUE(within(got[k], want[k], 4.0, -18))
            << "LSTM backward output " << k << ": " << got[k] << " against " << want[k];
        if (k < 4) {
          ASSERT_EQ(__builtin_bit_cast(std::uint32_t, dz_step[k][l]),
                    __builtin_bit_cast(std::uint32_t, dz[k][l]));
        }
      }
    }
  }
  EXPECT_GT(checked, 1000000u);
}

TEST(CpuTiledRecurrence, Gates16OnAvx512MatchTheScalarCellMath) {
  if (!__builtin_cpu_supports("avx512f")) {
    GTEST_SKIP() << "no AVX-512F on this CPU: cpu/gates16_avx512.cpp never runs here";
  }
  expect_gates16_match_the_scalar_cell_math(cpu::gates16(cpu::VectorIsa::avx512));
}

TEST(CpuTiledRecurrence, Gates16OnAvx2MatchTheScalarCellMath) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    GTEST_SKIP() << "no AVX2 with FMA on this CPU: cpu/gates16_avx2.cpp never runs here";
  }
  expect_gates16_match_the_scalar_cell_math(cpu::gates16(cpu::VectorIsa::avx2));
}

}  // namespace
}  // namespace rnnx
