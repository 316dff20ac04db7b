// gpu_persistent's shared-memory arithmetic (kernels/persistent_kernels.h), which the host runs to
// size launches and to compute the engine's limits, and the engine's choice of a layer's layout
// and its options after the environment's overrides (src/gpu/persistent_setup.h): checked on the
// CPU, no GPU needed. The limit searches bisect over
// H and B, so the bytes must grow with both.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>

#include "gpu/persistent_setup.h"
#include "kernels/persistent_kernels.h"
#include "support/test_support.h"

namespace rnnx {
namespace {

using gpu::persistent_shared_bytes;

constexpr CellKind kCells[] = {CellKind::lstm, CellKind::gru_reset_after,
                               CellKind::gru_reset_before, CellKind::rnn_tanh, CellKind::rnn_relu};

TEST(PersistentLayout, BytesAddUpByHand) {
  // LSTM, float32, H = 256, 2 units, batch 1: W 8 rows x 256 x 4 = 8192 | h 1 x 256 x 4 = 1024 |
  // z 8 x 1 x 4 = 32 -> 128 | c 2 x 1 x 4 = 8 -> 128 (each part 128-byte aligned).
  EXPECT_EQ(persistent_shared_bytes(CellKind::lstm, DType::f32, 256, 2, 1, false),
            8192u + 1024u + 128u + 128u);
  // The same in bfloat16 with MMA: W 16 rows (padded) x (256 + 8) x 2 = 8448 | h 1024 | h16 16 x
  // (256 + 8) x 2 = 8448 | z 16 x 16 x 4 = 1024 | c 128.
  EXPECT_EQ(persistent_shared_bytes(CellKind::lstm, DType::bf16, 256, 2, 1, true),
            8448u + 1024u + 8448u + 1024u + 128u);
  // The reset-after GRU keeps no per-unit state: 3 x 2 rows x 256 x 2 = 3072 | h 1024 | z 128.
  EXPECT_EQ(persistent_shared_bytes(CellKind::gru_reset_after, DType::f16, 256, 2, 1, false),
            3072u + 1024u + 128u);
  // The reset-before GRU keeps r per unit: as the reset-after one, plus 2 x 1 x 4 = 8 -> 128.
  EXPECT_EQ(persistent_shared_bytes(CellKind::gru_reset_before, DType::f16, 256, 2, 1, false),
            3072u + 1024u + 128u + 128u);
  // The vanilla RNN: one gate, no per-unit state. float32: W 2 rows x 256 x 4 = 2048 | h 1024 |
  // z 2 x 1 x 4 = 8 -> 128.
  for (CellKind rnn : {CellKind::rnn_tanh, CellKind::rnn_relu}) {
    EXPECT_EQ(persistent_shared_bytes(rnn, DType::f32, 256, 2, 1, false), 2048u + 1024u + 128u);
    // bfloat16 with MMA: W 16 rows (2 padded to 16) x 264 x 2 = 8448 | h 1024 | h16 8448 | z 16 x
    // 16 x 4 = 1024.
    EXPECT_EQ(persistent_shared_bytes(rnn, DType::bf16, 256, 2, 1, true),
              8448u + 1024u + 8448u + 1024u);
    // 17 units: 17 rows x 100 x 2 = 3400 -> 3456 | h 3 x 100 x 4 = 1200 -> 1280 | z 17 x 3 x 4 =
    // 204 -> 256.
    EXPECT_EQ(persistent_shared_bytes(rnn, DType::f16, 100, 17, 3, false), 3456u + 1280u + 256u);
  }
}

TEST(PersistentLayout, GrowsWithHiddenAndBatch) {
  for (CellKind cell : kCells) {
    for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
      SCOPED_TRACE(std::string(to_string(cell)) + " " + to_string(dtype));
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
  for (CellKind cell : kCells) {
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

// The tensor-core path's tiles: load_matrix_sync wants ld a multiple of 8 (16-bit types) and
// every tile pointer 32-byte aligned; the padded rows spread a tile's 8 rows over the 8 16-byte
// groups of the 128-byte bank cycle; and the arrays do not overlap.
TEST(PersistentLayout, TensorCoreTilesAlignedAndSpreadOverBanks) {
  for (CellKind cell :
       {CellKind::lstm, CellKind::gru_reset_after, CellKind::rnn_tanh, CellKind::rnn_relu}) {
    for (DType dtype : {DType::bf16, DType::f16}) {
      for (int H = 16; H <= 2048; H += 16) {
        for (int B : {1, 5, 16, 20, 33}) {
          const int units = (H + 131) / 132;
          const gpu::PersistentSmem s = gpu::persistent_smem(cell, dtype, H, units, B, true);
          SCOPED_TRACE(std::string(to_string(cell)) + " H=" + std::to_string(H) +
                       " B=" + std::to_string(B));
          ASSERT_EQ(s.ld, H + gpu::kPersistentMmaPad);
          ASSERT_EQ(s.ld % 8, 0);
          ASSERT_EQ(s.rows % 16, 0);
          ASSERT_EQ(s.zld % 16, 0);
          ASSERT_GE(s.rows, cell_traits(cell).gates * units);
          ASSERT_LT(s.rows, cell_traits(cell).gates * units + 16);
          ASSERT_GE(s.zld, B);
          ASSERT_EQ(s.w % 128, 0u);
          ASSERT_EQ(s.h16 % 128, 0u);
          for (int tile = 0; tile < s.rows / 16; ++tile) {
            for (int k = 0; k < H; k += 16) {
              ASSERT_EQ((s.w + 2 * (std::size_t(tile) * 16 * s.ld + k)) % 32, 0u);
            }
          }
          for (int tile = 0; tile < s.zld / 16; ++tile) {
            for (int k = 0; k < H; k += 16) {
              ASSERT_EQ((s.h16 + 2 * (std::size_t(tile) * 16 * s.ld + k)) % 32, 0u);
            }
          }
          bool group_taken[8] = {};
          for (int r = 0; r < 8; ++r) {
            const std::size_t group = (std::size_t(r) * s.ld * 2) % 128 / 16;
            ASSERT_FALSE(group_taken[group]) << "row " << r;
            group_taken[group] = true;
          }
          ASSERT_LE(s.w + std::size_t(s.rows) * s.ld * 2, s.hc);
          ASSERT_LE(s.hc + std::size_t(B) * H * 4, s.h16);
          ASSERT_LE(s.h16 + std::size_t(s.zld) * s.ld * 2, s.z);
          ASSERT_LE(s.z + std::size_t(s.rows) * s.zld * 4, s.state);
          ASSERT_LE(s.state, s.total);
          ASSERT_EQ(s.total, persistent_shared_bytes(cell, dtype, H, units, B, true));
        }
      }
    }
  }
}

TEST(PersistentLayout, TensorCoresOnlyWhereTheKernelHasThem) {
  // float32, the reset-before GRU and H not a multiple of 16 never take the MMA path; where they
  // could, the answer needs the kernel's attributes (false without a usable GPU).
  for (gpu::GridBarrier barrier : {gpu::GridBarrier::cooperative, gpu::GridBarrier::flags}) {
    for (CellKind cell : kCells) {
      EXPECT_FALSE(gpu::persistent_mma_possible(cell, barrier, DType::f32, 256)) << to_string(cell);
      EXPECT_FALSE(gpu::persistent_mma_possible(cell, barrier, DType::f16, 264)) << to_string(cell);
    }
    EXPECT_FALSE(
        gpu::persistent_mma_possible(CellKind::gru_reset_before, barrier, DType::bf16, 256));
  }
}

// ---------------------------------------------------------------------------------------------
// The choice of a layer's layout (choose_persistent_layout)

// A device's answers for one layer, by hand: why each (directions, tensor cores) layout cannot run,
// and which the choice asked (each at most once).
struct Device {
  std::map<std::pair<int, bool>, std::string> why;
  std::map<std::pair<int, bool>, int> asked;

  PersistentLayoutCheck check() {
    return [this](int directions, bool mma) {
      ++asked[{directions, mma}];
      return why[{directions, mma}];
    };
  }
};

// The tensor-core setting as RNNX_PERSISTENT_MMA would set it.
PersistentSetting<PersistentTensorCores> mma_variable(PersistentTensorCores value) {
  return {value, std::string("RNNX_PERSISTENT_MMA=") + to_string(value)};
}

PersistentLayerInputs bidirectional(PersistentTensorCores mma) {
  PersistentLayerInputs in;
  in.tensor_cores = mma_variable(mma);
  in.bidirectional = true;
  return in;
}

// The case of a review: LSTM H = 1024, batch 20, bfloat16, on an H100 (132 multiprocessors, 227 KB
// a block). Both directions in one grid give each block 16 units: with tensor cores that needs 283
// KB, without 215 KB; one grid per direction, 8 units: 214 KB with tensor cores.
TEST(PersistentChoice, TheIssueCaseFromTheSharedMemoryArithmetic) {
  constexpr std::size_t kOptin = 227 * 1024;
  const auto bytes = [](int directions, bool mma) {
    const int units = (1024 + 132 / directions - 1) / (132 / directions);
    return persistent_shared_bytes(CellKind::lstm, DType::bf16, 1024, units, 20, mma);
  };
  EXPECT_EQ(bytes(2, true), 289536u);
  EXPECT_EQ(bytes(2, false), 219392u);
  EXPECT_EQ(bytes(1, true), 218752u);
  Device device;
  for (int d : {1, 2}) {
    for (bool m : {false, true}) {
      if (bytes(d, m) > kOptin) {
        device.why[{d, m}] = "a block needs " + std::to_string((bytes(d, m) + 1023) / 1024) +
                             " KB, the device allows 227 KB";
      }
    }
  }
  // Forced on: tensor cores before pairing, and the note says what pairing would have cost.
  PersistentLayerChoice c =
      choose_persistent_layout(bidirectional(PersistentTensorCores::on), device.check());
  EXPECT_EQ(c.directions, 1);
  EXPECT_TRUE(c.mma);
  EXPECT_EQ(c.note,
            "tensor cores, one grid per direction (in one grid with tensor cores, a block needs "
            "283 KB, the device allows 227 KB; RNNX_PERSISTENT_MMA=on puts tensor cores before "
            "pairing)");
  for (const auto& [layout, times] : device.asked) EXPECT_EQ(times, 1) << layout.first;
  // automatic pairs them and says what that cost: the tensor cores.
  device.asked.clear();
  c = choose_persistent_layout(bidirectional(PersistentTensorCores::automatic), device.check());
  EXPECT_EQ(c.directions, 2);
  EXPECT_FALSE(c.mma);
  EXPECT_EQ(c.note,
            "warp dot products, both directions in one grid (with tensor cores, a block needs "
            "283 KB, the device allows 227 KB)");
  for (const auto& [layout, times] : device.asked) EXPECT_EQ(times, 1) << layout.first;
}

TEST(PersistentChoice, PairedWithTensorCoresWhereTheyFit) {
  for (PersistentTensorCores mma : {PersistentTensorCores::automatic, PersistentTensorCores::on}) {
    Device device;
    const PersistentLayerChoice c = choose_persistent_layout(bidirectional(mma), device.check());
    EXPECT_EQ(c.directions, 2);
    EXPECT_TRUE(c.mma);
    EXPECT_EQ(c.note, "tensor cores, both directions in one grid");
    EXPECT_EQ(device.asked.size(), 1u);  // the first preference fits: nothing else asked
  }
}

TEST(PersistentChoice, OffAndImpossibleAndFewTilesSaySo) {
  Device device;
  PersistentLayerChoice c =
      choose_persistent_layout(bidirectional(PersistentTensorCores::off), device.check());
  EXPECT_EQ(c.directions, 2);
  EXPECT_FALSE(c.mma);
  EXPECT_EQ(c.note, "warp dot products, both directions in one grid (RNNX_PERSISTENT_MMA=off)");
  EXPECT_EQ(device.asked.count({2, true}), 0u);

  PersistentLayerInputs in = bidirectional(PersistentTensorCores::on);
  in.no_mma = "float32 weights";
  c = choose_persistent_layout(in, device.check());
  EXPECT_FALSE(c.mma);
  EXPECT_EQ(c.note,
            "warp dot products, both directions in one grid (no tensor cores for float32 weights)");

  // Too few tiles: automatic does not try tensor cores, on does.
  in = bidirectional(PersistentTensorCores::automatic);
  in.few_tiles[0] = in.few_tiles[1] = true;
  c = choose_persistent_layout(in, device.check());
  EXPECT_FALSE(c.mma);
  EXPECT_EQ(c.note,
            "warp dot products, both directions in one grid (fewer than 4 tiles of 16x16 a block "
            "for tensor cores)");
  in.tensor_cores = mma_variable(PersistentTensorCores::on);
  c = choose_persistent_layout(in, device.check());
  EXPECT_TRUE(c.mma);
}

TEST(PersistentChoice, DirectionsApartWhenAskedOrWhenPairingDoesNotFit) {
  Device device;
  PersistentLayerInputs in = bidirectional(PersistentTensorCores::automatic);
  in.directions = {PersistentDirections::apart, "RNNX_PERSISTENT_DIRECTIONS=apart"};
  PersistentLayerChoice c = choose_persistent_layout(in, device.check());
  EXPECT_EQ(c.directions, 1);
  EXPECT_TRUE(c.mma);
  EXPECT_EQ(c.note, "tensor cores, one grid per direction (RNNX_PERSISTENT_DIRECTIONS=apart)");
  EXPECT_EQ(device.asked.count({2, true}) + device.asked.count({2, false}), 0u);

  device.why[{2, true}] = "too big";
  device.why[{2, false}] = "too big as well";
  in.directions = {};  // paired
  c = choose_persistent_layout(in, device.check());
  EXPECT_EQ(c.directions, 1);
  EXPECT_TRUE(c.mma);
  EXPECT_EQ(c.note, "tensor cores, one grid per direction (in one grid, too big as well)");

  // One direction only: pairing is never asked about, nor mentioned.
  Device one;
  in.bidirectional = false;
  c = choose_persistent_layout(in, one.check());
  EXPECT_EQ(c.directions, 1);
  EXPECT_EQ(c.note, "tensor cores");
  EXPECT_EQ(one.asked.count({2, true}) + one.asked.count({2, false}), 0u);
}

TEST(PersistentChoice, NothingFitsSaysWhyOfTheMostFrugalLayout) {
  Device device;
  for (int d : {1, 2}) {
    for (bool m : {false, true})
      device.why[{d, m}] = "no room " + std::to_string(d) + std::to_string(m);
  }
  for (PersistentTensorCores mma :
       {PersistentTensorCores::automatic, PersistentTensorCores::on, PersistentTensorCores::off}) {
    const PersistentLayerChoice c = choose_persistent_layout(bidirectional(mma), device.check());
    EXPECT_EQ(c.directions, 0);
    EXPECT_EQ(c.why, "no room 10");
  }
  // Forced on, tensor cores fit nowhere: the warp path, saying why.
  device.why[{1, false}] = "";
  const PersistentLayerChoice c =
      choose_persistent_layout(bidirectional(PersistentTensorCores::on), device.check());
  EXPECT_EQ(c.directions, 1);
  EXPECT_FALSE(c.mma);
  EXPECT_EQ(c.note,
            "warp dot products, one grid per direction (with tensor cores, no room 11; in one "
            "grid, no room 20)");
}

// ---------------------------------------------------------------------------------------------
// The options and the environment variables that override them (persistent_settings)

using test::EnvSetting;

// The three variables unset for the scope of a test.
struct NoVariables {
  EnvSetting barrier{"RNNX_PERSISTENT_BARRIER", nullptr};
  EnvSetting mma{"RNNX_PERSISTENT_MMA", nullptr};
  EnvSetting directions{"RNNX_PERSISTENT_DIRECTIONS", nullptr};
};

PersistentOptions forced() {
  PersistentOptions o;
  o.barrier = PersistentBarrier::flags;
  o.tensor_cores = PersistentTensorCores::off;
  o.directions = PersistentDirections::apart;
  return o;
}

TEST(PersistentSettings, TheOptionsWhereNoVariableIsSet) {
  const NoVariables none;
  PersistentSettings s = persistent_settings({});
  EXPECT_EQ(s.barrier.value, PersistentBarrier::automatic);
  EXPECT_EQ(s.tensor_cores.value, PersistentTensorCores::automatic);
  EXPECT_EQ(s.directions.value, PersistentDirections::paired);
  EXPECT_EQ(s.tensor_cores.set_by, "Options.persistent.tensor_cores = auto");

  s = persistent_settings(forced());
  EXPECT_EQ(s.barrier.value, PersistentBarrier::flags);
  EXPECT_EQ(s.barrier.set_by, "Options.persistent.barrier = flags");
  EXPECT_EQ(s.tensor_cores.value, PersistentTensorCores::off);
  EXPECT_EQ(s.tensor_cores.set_by, "Options.persistent.tensor_cores = off");
  EXPECT_EQ(s.directions.value, PersistentDirections::apart);
  EXPECT_EQ(s.directions.set_by, "Options.persistent.directions = apart");

  // Set but empty counts as unset.
  const EnvSetting empty("RNNX_PERSISTENT_MMA", "");
  EXPECT_EQ(persistent_settings(forced()).tensor_cores.value, PersistentTensorCores::off);
}

// A variable that is set wins over the option, whatever the option says ("auto" included, which
// gives a forced option back to the automatic choice); the others keep their options.
TEST(PersistentSettings, AVariableOverridesItsOptionOnly) {
  const NoVariables none;
  for (const char* name : {"auto", "cooperative", "flags"}) {
    const EnvSetting variable("RNNX_PERSISTENT_BARRIER", name);
    for (PersistentBarrier option :
         {PersistentBarrier::automatic, PersistentBarrier::cooperative, PersistentBarrier::flags}) {
      PersistentOptions o = forced();
      o.barrier = option;
      const PersistentSettings s = persistent_settings(o);
      EXPECT_STREQ(to_string(s.barrier.value), name);
      EXPECT_EQ(s.barrier.set_by, std::string("RNNX_PERSISTENT_BARRIER=") + name);
      EXPECT_EQ(s.tensor_cores.value, PersistentTensorCores::off);
      EXPECT_EQ(s.directions.value, PersistentDirections::apart);
    }
  }
  for (const char* name : {"auto", "on", "off"}) {
    const EnvSetting variable("RNNX_PERSISTENT_MMA", name);
    const PersistentSettings s = persistent_settings(forced());
    EXPECT_STREQ(to_string(s.tensor_cores.value), name);
    EXPECT_EQ(s.tensor_cores.set_by, std::string("RNNX_PERSISTENT_MMA=") + name);
    EXPECT_EQ(s.barrier.value, PersistentBarrier::flags);
  }
  for (const char* name : {"paired", "apart"}) {
    const EnvSetting variable("RNNX_PERSISTENT_DIRECTIONS", name);
    const PersistentSettings s = persistent_settings({});
    EXPECT_STREQ(to_string(s.directions.value), name);
    EXPECT_EQ(s.directions.set_by, std::string("RNNX_PERSISTENT_DIRECTIONS=") + name);
    EXPECT_EQ(s.tensor_cores.value, PersistentTensorCores::automatic);
  }
}

TEST(PersistentSettings, ABadVariableIsAnErrorNamingItAndTheValues) {
  const NoVariables none;
  struct Case {
    const char* variable;
    const char* value;
    const char* names;
  };
  for (const Case& c : {Case{"RNNX_PERSISTENT_BARRIER", "grid", "auto, cooperative, flags"},
                        Case{"RNNX_PERSISTENT_MMA", "ON", "auto, on, off"},
                        Case{"RNNX_PERSISTENT_DIRECTIONS", "both", "paired, apart"}}) {
    const EnvSetting variable(c.variable, c.value);
    try {
      (void)persistent_settings({});
      ADD_FAILURE() << c.variable << "=" << c.value << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), Status::invalid_argument);
      const std::string what = e.what();
      EXPECT_NE(what.find(std::string(c.variable) + " = '" + c.value + "'"), std::string::npos)
          << what;
      EXPECT_NE(what.find(std::string("use one of ") + c.names), std::string::npos) << what;
    }
  }
}

// The notes of PlanStats name what set a choice: the option, or the variable that overrode it.
TEST(PersistentChoice, NotesNameTheOptionOrTheVariable) {
  const NoVariables none;
  Device device;
  PersistentLayerInputs in;
  in.bidirectional = true;
  PersistentSettings s = persistent_settings(forced());
  in.tensor_cores = s.tensor_cores;
  in.directions = s.directions;
  PersistentLayerChoice c = choose_persistent_layout(in, device.check());
  EXPECT_EQ(c.note,
            "warp dot products, one grid per direction (Options.persistent.tensor_cores = off; "
            "Options.persistent.directions = apart)");
  {
    const EnvSetting apart("RNNX_PERSISTENT_DIRECTIONS", "apart");
    s = persistent_settings({});
    in.tensor_cores = s.tensor_cores;
    in.directions = s.directions;
    c = choose_persistent_layout(in, device.check());
    EXPECT_EQ(c.note, "tensor cores, one grid per direction (RNNX_PERSISTENT_DIRECTIONS=apart)");
  }
  // Forced on by the option, tensor cores before pairing.
  device.why[{2, true}] = "too big";
  PersistentOptions on;
  on.tensor_cores = PersistentTensorCores::on;
  s = persistent_settings(on);
  in.tensor_cores = s.tensor_cores;
  in.directions = s.directions;
  c = choose_persistent_layout(in, device.check());
  EXPECT_EQ(c.note,
            "tensor cores, one grid per direction (in one grid with tensor cores, too big; "
            "Options.persistent.tensor_cores = on puts tensor cores before pairing)");
}

}  // namespace
}  // namespace rnnx
