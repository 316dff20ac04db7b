// gpu_persistent's shared-memory arithmetic (kernels/persistent_kernels.h), which the host runs to
// size launches and to compute the engine's limits: checked on the CPU, no GPU needed. The limit
// searches bisect over H and B, so the bytes must grow with both.
#include <gtest/gtest.h>

#include <string>

#include "kernels/persistent_kernels.h"

namespace rnnx {
namespace {

using gpu::persistent_shared_bytes;
using gpu::PersistentCell;

constexpr PersistentCell kCells[] = {PersistentCell::lstm, PersistentCell::gru_after,
                                     PersistentCell::gru_before};

TEST(PersistentLayout, BytesAddUpByHand) {
  // LSTM, float32, H = 256, 2 units, batch 1: W 8 rows x 256 x 4 = 8192 | h 1 x 256 x 4 = 1024 |
  // z 8 x 1 x 4 = 32 -> 128 | c 2 x 1 x 4 = 8 -> 128 (each part 128-byte aligned).
  EXPECT_EQ(persistent_shared_bytes(PersistentCell::lstm, DType::f32, 256, 2, 1, false),
            8192u + 1024u + 128u + 128u);
  // The same in bfloat16 with MMA: W 16 rows (padded) x 256 x 2 = 8192 | h 1024 | h16 16 x 256
  // x 2 = 8192 | z 16 x 16 x 4 = 1024 | c 128.
  EXPECT_EQ(persistent_shared_bytes(PersistentCell::lstm, DType::bf16, 256, 2, 1, true),
            8192u + 1024u + 8192u + 1024u + 128u);
  // The reset-after GRU keeps no per-unit state: 3 x 2 rows x 256 x 2 = 3072 | h 1024 | z 128.
  EXPECT_EQ(persistent_shared_bytes(PersistentCell::gru_after, DType::f16, 256, 2, 1, false),
            3072u + 1024u + 128u);
}

TEST(PersistentLayout, GrowsWithHiddenAndBatch) {
  for (PersistentCell cell : kCells) {
    for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
      SCOPED_TRACE(std::to_string(static_cast<int>(cell)) + " " + to_string(dtype));
      std::size_t previous = 0;
      for (int H = 1; H <= 4096; ++H) {
        const int units = (H + 131) / 132;  // as the engine splits H over 132 multiprocessors
        const std::size_t bytes = persistent_shared_bytes(cell, dtype, H, units, 4, false);
        ASSERT_GE(bytes, previous) << "H=" << H;
        previous = bytes;
      }
      previous = 0;
      for (int B = 1; B <= 512; ++B) {
        const std::size_t bytes = persistent_shared_bytes(cell, dtype, 1024, 8, B, false);
        ASSERT_GE(bytes, previous) << "B=" << B;
        previous = bytes;
      }
    }
  }
}

TEST(PersistentLayout, SixteenBitRowsTakeLessAndMmaMore) {
  for (PersistentCell cell : kCells) {
    for (int H : {64, 256, 1024, 2048}) {
      for (int B : {1, 5, 16, 64}) {
        const int units = (H + 131) / 132;
        const std::size_t wide = persistent_shared_bytes(cell, DType::f32, H, units, B, false);
        const std::size_t narrow = persistent_shared_bytes(cell, DType::bf16, H, units, B, false);
        const std::size_t mma = persistent_shared_bytes(cell, DType::bf16, H, units, B, true);
        EXPECT_LT(narrow, wide) << H << " " << B;
        EXPECT_GT(mma, narrow) << H << " " << B;  // padding and the 16-bit copy of h
        EXPECT_EQ(mma % 128, 0u);
      }
    }
  }
}

TEST(PersistentLayout, TensorCoresOnlyWhereTheKernelHasThem) {
  // float32, the reset-before GRU and H not a multiple of 16 never take the MMA path; where they
  // could, the answer needs the kernel's attributes (false without a usable GPU).
  for (gpu::GridBarrier barrier : {gpu::GridBarrier::cooperative, gpu::GridBarrier::flags}) {
    EXPECT_FALSE(gpu::persistent_mma_possible(PersistentCell::lstm, barrier, DType::f32, 256));
    EXPECT_FALSE(
        gpu::persistent_mma_possible(PersistentCell::gru_before, barrier, DType::bf16, 256));
    EXPECT_FALSE(gpu::persistent_mma_possible(PersistentCell::lstm, barrier, DType::f16, 264));
  }
}

}  // namespace
}  // namespace rnnx
