// The per-step product of the cpu engine on AVX2-only CPUs (src/cpu/packed_gemm.h): weights
// packed into panels of 16 columns, then C = A op(B) from a register-blocked kernel, against a
// float64 product, on shapes that reach every remainder (rows past a block of 6, columns past a
// panel of 16) and both loop orders (A within 64 KB and beyond).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "cpu/gates16.h"
#include "cpu/packed_gemm.h"

namespace rnnx {
namespace {

struct Shape {
  int M, N, K;
};

// C = A op(B) for one shape, A, B and C each with rows longer than they need (lda > K and so on),
// C's extra columns NaN: they must stay so. Checked against a float64 sum within
// 2 K eps sum_k |a_k b_k| (the bound of any order of K float additions), and on 1, 2 and 3
// threads to the same bits.
void expect_packed_product_matches(Shape s, bool transposed, std::mt19937& rng) {
  const int lda = s.K + 3, ldc = s.N + 5;
  const int b_rows = transposed ? s.N : s.K, b_cols = transposed ? s.K : s.N, ldb = b_cols + 2;
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> A(std::size_t(s.M) * lda), B(std::size_t(b_rows) * ldb);
  for (float& v : A) v = u(rng);
  for (float& v : B) v = u(rng);
  auto b_at = [&](int k, int n) {  // op(B)[k][n]
    return transposed ? B[std::size_t(n) * ldb + k] : B[std::size_t(k) * ldb + n];
  };

  std::vector<float> packed(cpu::packed_panels_size(s.N, s.K), std::nanf(""));
  cpu::pack_panels(transposed, s.N, s.K, B.data(), ldb, packed.data(), 2);
  std::vector<float> first;
  for (int threads : {1, 2, 3}) {
    std::vector<float> C(std::size_t(s.M) * ldc, std::numeric_limits<float>::quiet_NaN());
    cpu::packed_gemm(s.M, s.N, cpu::Factors{{A.data(), lda, s.K}, {}}, packed.data(), C.data(), ldc,
                     threads);
    for (int i = 0; i < s.M; ++i) {
      for (int n = 0; n < ldc; ++n) {
        const float got = C[std::size_t(i) * ldc + n];
        if (n >= s.N) {
          ASSERT_TRUE(std::isnan(got)) << "column " << n << " past N = " << s.N << " was written";
          continue;
        }
        double want = 0, magnitude = 0;
        for (int k = 0; k < s.K; ++k) {
          const double term = double(A[std::size_t(i) * lda + k]) * b_at(k, n);
          want += term;
          magnitude += std::fabs(term);
        }
        ASSERT_NEAR(got, want, 2.0 * s.K * FLT_EPSILON * magnitude)
            << "M,N,K = " << s.M << "," << s.N << "," << s.K << " transposed " << transposed
            << " at " << i << "," << n << " on " << threads << " threads";
      }
    }
    if (first.empty()) {
      first = C;
    } else {
      // NaN != NaN: compare the bits.
      ASSERT_EQ(std::memcmp(first.data(), C.data(), C.size() * sizeof(float)), 0)
          << "thread count " << threads << " changed the bits";
    }
  }
}

TEST(CpuPackedGemm, MatchesAFloat64ProductOnEveryRemainder) {
  if (cpu::vector_isa() == cpu::VectorIsa::none) {
    GTEST_SKIP() << "this CPU has no AVX2 with FMA: the packed product never runs here";
  }
  std::mt19937 rng(17);
  int shapes = 0;
  for (int M : {1, 2, 5, 6, 7, 13, 64}) {
    for (int N : {1, 15, 16, 17, 40, 512}) {
      for (int K : {1, 3, 128}) {
        for (bool transposed : {false, true}) {
          expect_packed_product_matches({M, N, K}, transposed, rng);
          if (HasFatalFailure()) return;
          ++shapes;
        }
      }
    }
  }
  // A beyond 64 KB: row blocks outer (the seed LSTM's backward product is 64 x 128 over 512).
  for (Shape s : {Shape{70, 33, 300}, Shape{64, 128, 512}}) {
    for (bool transposed : {false, true}) {
      expect_packed_product_matches(s, transposed, rng);
      if (HasFatalFailure()) return;
      ++shapes;
    }
  }
  EXPECT_EQ(shapes, 7 * 6 * 3 * 2 + 4);
}

// [x | h] times [Wx | Wh]^T, the two operands packed one above the other along K (the steps that
// project x themselves), against a float64 sum; row counts past a block of 6, columns past a
// panel, on 1 and 2 threads.
TEST(CpuPackedGemm, TwoPartsAlongKMatchAFloat64Product) {
  if (cpu::vector_isa() == cpu::VectorIsa::none) {
    GTEST_SKIP() << "this CPU has no AVX2 with FMA: the packed product never runs here";
  }
  std::mt19937 rng(23);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int M : {1, 7, 64}) {
    const int N = 40, I = 5, H = 24, ldx = I + 1, ldh = H + 3;
    std::vector<float> x(std::size_t(M) * ldx), h(std::size_t(M) * ldh), Wx(std::size_t(N) * I),
        Wh(std::size_t(N) * H);
    for (std::vector<float>* v : {&x, &h, &Wx, &Wh}) {
      for (float& e : *v) e = u(rng);
    }
    std::vector<float> packed(cpu::packed_panels_size(N, I + H), std::nanf(""));
    cpu::pack_panel_rows(true, N, I, Wx.data(), I, I + H, 0, packed.data(), 1);
    cpu::pack_panel_rows(true, N, H, Wh.data(), H, I + H, I, packed.data(), 1);
    for (int threads : {1, 2}) {
      std::vector<float> C(std::size_t(M) * N);
      const cpu::Factors factors{{x.data(), ldx, I}, {h.data(), ldh, H}};
      cpu::packed_gemm(M, N, factors, packed.data(), C.data(), N, threads);
      for (int i = 0; i < M; ++i) {
        for (int n = 0; n < N; ++n) {
          double want = 0, magnitude = 0;
          for (int k = 0; k < I; ++k) {
            const double term = double(x[std::size_t(i) * ldx + k]) * Wx[std::size_t(n) * I + k];
            want += term;
            magnitude += std::fabs(term);
          }
          for (int k = 0; k < H; ++k) {
            const double term = double(h[std::size_t(i) * ldh + k]) * Wh[std::size_t(n) * H + k];
            want += term;
            magnitude += std::fabs(term);
          }
          ASSERT_NEAR(C[std::size_t(i) * N + n], want, 2.0 * (I + H) * FLT_EPSILON * magnitude)
              << "M = " << M << " at " << i << "," << n << " on " << threads << " threads";
        }
      }
    }
  }
}

TEST(CpuPackedGemm, PanelsHoldTheOperandThenZeros) {
  // op(B) [K = 3][N = 18] from B^T [18][3]: panel 0 holds columns 0-15, panel 1 columns 16-17
  // and 14 zeros in each of its 3 rows.
  const int N = 18, K = 3;
  std::vector<float> Bt(std::size_t(N) * K);
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < K; ++k) Bt[std::size_t(n) * K + k] = float(100 * k + n + 1);
  ASSERT_EQ(cpu::packed_panels_size(N, K), std::size_t(2 * 16 * K));
  std::vector<float> packed(cpu::packed_panels_size(N, K), -1.0f);
  cpu::pack_panels(true, N, K, Bt.data(), K, packed.data(), 1);
  for (int p = 0; p < 2; ++p) {
    for (int k = 0; k < K; ++k) {
      for (int l = 0; l < 16; ++l) {
        const int n = 16 * p + l;
        EXPECT_EQ(packed[(std::size_t(p) * K + k) * 16 + l], n < N ? float(100 * k + n + 1) : 0.0f)
            << "panel " << p << " row " << k << " lane " << l;
      }
    }
  }
}

}  // namespace
}  // namespace rnnx
