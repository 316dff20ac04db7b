// The canonical weight and state layouts (DESIGN.md), offsets worked out by hand.
#include <gtest/gtest.h>

#include "support/test_support.h"

namespace rnnx {
namespace {

// I=3: bidirectional LSTM(4) -> GRU(6) reading the 8-wide concatenated output.
Model mixed() {
  Model m;
  m.input_size = 3;
  Layer lstm;
  lstm.cell = Cell::lstm;
  lstm.hidden = 4;
  lstm.bidirectional = true;
  Layer gru;
  gru.cell = Cell::gru;
  gru.hidden = 6;
  m.layers = std::vector<Layer>{lstm, gru};
  return m;
}

TEST(WeightLayout, OffsetsFollowTheDocumentedOrder) {
  const WeightLayout wl(mixed());
  // Layer 0, each direction: Wx 16x3 = 48, Wh 16x4 = 64, bx 16, bh 16 -> 144.
  EXPECT_EQ(wl.offset(0, Dir::fw, Param::Wx), 0u);
  EXPECT_EQ(wl.offset(0, Dir::fw, Param::Wh), 48u);
  EXPECT_EQ(wl.offset(0, Dir::fw, Param::bx), 112u);
  EXPECT_EQ(wl.offset(0, Dir::fw, Param::bh), 128u);
  EXPECT_EQ(wl.offset(0, Dir::bw, Param::Wx), 144u);
  EXPECT_EQ(wl.offset(0, Dir::bw, Param::bh), 144u + 128u);
  // Layer 1: Wx 18x8 = 144, Wh 18x6 = 108, bx 18, bh 18 -> 288.
  EXPECT_EQ(wl.offset(1, Dir::fw, Param::Wx), 288u);
  EXPECT_EQ(wl.offset(1, Dir::fw, Param::Wh), 288u + 144u);
  EXPECT_EQ(wl.size(), 288u + 288u);
  // Gates: rows [g*H, (g+1)*H) of a matrix, H entries of a bias.
  EXPECT_EQ(wl.offset(0, Dir::fw, Param::Wx, lstm_f), 0u + 4 * 3);
  EXPECT_EQ(wl.offset(0, Dir::bw, Param::Wh, lstm_o), 144u + 48u + 3 * 4 * 4);
  EXPECT_EQ(wl.offset(1, Dir::fw, Param::Wx, gru_n), 288u + 2 * 6 * 8);
  EXPECT_EQ(wl.offset(1, Dir::fw, Param::bh, gru_z), 288u + 144u + 108u + 18u + 6u);
  EXPECT_EQ(wl.rows(1, Param::Wx), 18u);
  EXPECT_EQ(wl.cols(1, Param::Wx), 8u);
  EXPECT_EQ(wl.cols(1, Param::Wh), 6u);
  EXPECT_EQ(wl.count(0, Param::bx), 16u);
}

TEST(StateLayout, HOfEveryLayerFirstThenC) {
  const StateLayout sl(mixed(), 2);
  EXPECT_EQ(sl.h(0, Dir::fw), 0u);
  EXPECT_EQ(sl.h(0, Dir::bw), 8u);
  EXPECT_EQ(sl.h(1, Dir::fw), 16u);
  EXPECT_EQ(sl.c(0, Dir::fw), 28u);
  EXPECT_EQ(sl.c(0, Dir::bw), 36u);
  EXPECT_EQ(sl.size(), 44u);
  EXPECT_EQ(sl.count(1), 12u);
}

TEST(StateLayout, EqualStacksAreOneLayersByBatchByHiddenBlock) {
  // For cuDNN's hx/cx: h of a uniform stack is [layers*directions, B, H], c likewise after it.
  const Model m = seed_model("multi_bi_lstm", 28, 16);
  const StateLayout sl(m, 5);
  for (int l = 0; l < 3; ++l) {
    EXPECT_EQ(sl.h(l, Dir::fw), std::size_t(2 * l) * 5 * 16);
    EXPECT_EQ(sl.h(l, Dir::bw), std::size_t(2 * l + 1) * 5 * 16);
    EXPECT_EQ(sl.c(l, Dir::fw), std::size_t(6 + 2 * l) * 5 * 16);
  }
}

TEST(Model, SizesAndNames) {
  const Model m = mixed();
  EXPECT_EQ(layer_input_size(m, 0), 3);
  EXPECT_EQ(layer_input_size(m, 1), 8);
  EXPECT_EQ(output_size(m), 6);
  EXPECT_EQ(gates(Cell::lstm), 4);
  EXPECT_EQ(gates(Cell::gru), 3);
  EXPECT_EQ(describe(m), "float32 time_major I=3: bi_lstm(4, fb=0) -> gru(6, reset after)");
  for (Engine e : {Engine::cpu_reference, Engine::cpu, Engine::gpu_dynamic, Engine::gpu_static,
                   Engine::gpu_persistent, Engine::cudnn, Engine::automatic}) {
    EXPECT_EQ(parse_engine(to_string(e)), e);
  }
}

// I=3: bidirectional RNN(4, relu) -> LSTM(2): one gate, so each matrix has H rows.
Model rnn_then_lstm() {
  Model m;
  m.input_size = 3;
  Layer rnn;
  rnn.cell = Cell::rnn;
  rnn.hidden = 4;
  rnn.bidirectional = true;
  rnn.activation = Activation::relu;
  Layer lstm;
  lstm.cell = Cell::lstm;
  lstm.hidden = 2;
  m.layers = std::vector<Layer>{rnn, lstm};
  return m;
}

TEST(WeightLayout, RnnLayersHaveOneGate) {
  const Model m = rnn_then_lstm();
  const WeightLayout wl(m);
  // Layer 0, each direction: Wx 4x3 = 12, Wh 4x4 = 16, bx 4, bh 4 -> 36.
  EXPECT_EQ(wl.offset(0, Dir::fw, Param::Wh), 12u);
  EXPECT_EQ(wl.offset(0, Dir::fw, Param::bx), 28u);
  EXPECT_EQ(wl.offset(0, Dir::fw, Param::bh), 32u);
  EXPECT_EQ(wl.offset(0, Dir::bw, Param::Wx), 36u);
  EXPECT_EQ(wl.offset(0, Dir::bw, Param::Wx, 0), 36u);
  EXPECT_EQ(wl.rows(0, Param::Wx), 4u);
  EXPECT_EQ(wl.cols(0, Param::Wh), 4u);
  // Layer 1 reads the 8-wide output: Wx 8x8 = 64, Wh 8x2 = 16, bx 8, bh 8 -> 96.
  EXPECT_EQ(wl.offset(1, Dir::fw, Param::Wx), 72u);
  EXPECT_EQ(wl.cols(1, Param::Wx), 8u);
  EXPECT_EQ(wl.size(), 72u + 96u);
  // State, B = 2: h of L0 fw, L0 bw, L1; then c of the LSTM only.
  const StateLayout sl(m, 2);
  EXPECT_EQ(sl.h(0, Dir::bw), 8u);
  EXPECT_EQ(sl.h(1, Dir::fw), 16u);
  EXPECT_EQ(sl.c(1, Dir::fw), 20u);
  EXPECT_EQ(sl.size(), 24u);
  EXPECT_EQ(describe(m), "float32 time_major I=3: bi_rnn(4, relu) -> lstm(2, fb=0)");
}

TEST(Model, CellKindsAndTraits) {
  EXPECT_EQ(gates(Cell::rnn), 1);
  Layer l;
  struct Expect {
    Cell cell;
    GruReset reset;
    Activation activation;
    CellKind kind;
    const char* name;
    int gates;
    bool has_c;
  };
  for (const Expect& e : {Expect{Cell::lstm, GruReset::after_matmul, Activation::tanh,
                                 CellKind::lstm, "lstm", 4, true},
                          Expect{Cell::gru, GruReset::after_matmul, Activation::tanh,
                                 CellKind::gru_reset_after, "gru_reset_after", 3, false},
                          Expect{Cell::gru, GruReset::before_matmul, Activation::relu,
                                 CellKind::gru_reset_before, "gru_reset_before", 3, false},
                          Expect{Cell::rnn, GruReset::before_matmul, Activation::tanh,
                                 CellKind::rnn_tanh, "rnn_tanh", 1, false},
                          Expect{Cell::rnn, GruReset::after_matmul, Activation::relu,
                                 CellKind::rnn_relu, "rnn_relu", 1, false}}) {
    l.cell = e.cell;
    l.gru_reset = e.reset;
    l.activation = e.activation;
    EXPECT_EQ(cell_kind(l), e.kind) << e.name;
    EXPECT_STREQ(to_string(cell_kind(l)), e.name);
    EXPECT_EQ(cell_traits(l).gates, e.gates) << e.name;
    EXPECT_EQ(cell_traits(l).has_c, e.has_c) << e.name;
  }
  EXPECT_STREQ(to_string(Cell::rnn), "rnn");
  EXPECT_STREQ(to_string(Activation::tanh), "tanh");
  EXPECT_STREQ(to_string(Activation::relu), "relu");
}

TEST(Engines, CpuEnginesAreAlwaysAvailable) {
  EXPECT_TRUE(engine_available(Engine::cpu_reference));
  EXPECT_TRUE(engine_available(Engine::cpu));
  EXPECT_TRUE(engine_available(Engine::automatic));
  std::string why;
  if (gpus().devices.empty()) {
    EXPECT_FALSE(engine_available(Engine::gpu_persistent, &why));
    EXPECT_NE(why.find("gpu_persistent"), std::string::npos) << why;
  } else {
    EXPECT_TRUE(engine_available(Engine::gpu_persistent, &why)) << why;
  }
}

TEST(Engines, BuildInfoAndGpuReportAgree) {
  const BuildInfo info = build_info();
  EXPECT_EQ(info.version, RNNX_VERSION_STRING);
  EXPECT_EQ(info.cuda, RNNX_WITH_CUDA != 0);
  const GpuReport report = gpus();
  if (report.devices.empty()) {
    EXPECT_FALSE(report.why_none.empty());
  }
  if (info.cuda) {
    EXPECT_GE(info.cudnn_version, 90000);
    EXPECT_GE(info.cuda_runtime_version, 12000);
    EXPECT_FALSE(info.cuda_architectures.empty());
  }
}

// A plan is reusable and movable; a moved-to plan keeps its engine.
TEST(Engines, PlansMove) {
  Rnn a(mixed(), Engine::cpu_reference);
  Rnn b = std::move(a);
  EXPECT_EQ(b.engine(), Engine::cpu_reference);
  EXPECT_EQ(b.model().layers.size(), 2u);
}

}  // namespace
}  // namespace rnnx
