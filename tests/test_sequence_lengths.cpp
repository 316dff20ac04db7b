// The seed's first cell. B=2, T=4, input 5, hidden 3, lengths [4, 1],
// float64, like the notebook's X with X[1, 1:] = 0: the short sequence's outputs are exactly
// zero after step 0 and its final state is the state after step 0; LSTM, GRU (both modes), RNN
// (tanh, relu), one direction and bidirectional, both layouts.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/test_support.h"

namespace rnnx {
namespace {

constexpr int kT = 4, kB = 2, kI = 5, kH = 3;

struct Variant {
  std::string name;
  Layer layer;
  Layout layout;
};

std::vector<Variant> variants() {
  std::vector<Variant> out;
  for (Layout layout : {Layout::time_major, Layout::batch_major}) {
    for (bool bi : {false, true}) {
      Layer lstm;
      lstm.cell = Cell::lstm;
      lstm.forget_bias = 1.0;  // BasicLSTMCell, as in the notebook
      Layer after;
      after.cell = Cell::gru;
      Layer before = after;
      before.gru_reset = GruReset::before_matmul;  // GRUCell, as in the notebook
      Layer rnn_tanh;
      rnn_tanh.cell = Cell::rnn;
      Layer rnn_relu = rnn_tanh;
      rnn_relu.activation = Activation::relu;
      for (auto [name, layer] : {std::pair<std::string, Layer>{"lstm", lstm},
                                 {"gru_after", after},
                                 {"gru_before", before},
                                 {"rnn_tanh", rnn_tanh},
                                 {"rnn_relu", rnn_relu}}) {
        layer.hidden = kH;
        layer.bidirectional = bi;
        out.push_back({name + (bi ? "_bi" : "") + "_" + to_string(layout), layer, layout});
      }
    }
  }
  return out;
}

void PrintTo(const Variant& v, std::ostream* out) {
  *out << v.name;
}

class SeedFirstCell : public ::testing::TestWithParam<Variant> {};

// Index of y or x element (t, b, f) in the model's layout.
std::size_t index(Layout layout, int t, int b, int f, int width) {
  return layout == Layout::time_major ? (std::size_t(t) * kB + b) * width + f
                                      : (std::size_t(b) * kT + t) * width + f;
}

TEST_P(SeedFirstCell, ShortSequenceStopsAfterItsLength) {
  const Variant& v = GetParam();
  Model m;
  m.input_size = kI;
  m.dtype = DType::f64;
  m.layout = v.layout;
  m.layers.push_back(v.layer);
  const int D = output_size(m);
  const bool has_c = cell_traits(v.layer).has_c;
  const int dirs = directions(v.layer);

  test::Problem p = test::random_problem(m, kT, kB, {4, 1}, 11, /*with_init=*/false);
  for (int t = 1; t < kT; ++t)  // X[1, 1:] = 0, as in the notebook
    for (int f = 0; f < kI; ++f) p.x[index(v.layout, t, 1, f, kI)] = 0.0;
  const test::Result r = test::run(p, Engine::cpu_reference, false);

  // The short sequence: zeros after step 0, exactly.
  for (int t = 1; t < kT; ++t)
    for (int f = 0; f < D; ++f) EXPECT_EQ(r.y[index(v.layout, t, 1, f, D)], 0.0) << "t=" << t;
  // ... and not all zero at step 0, or the check above is empty (a relu unit may be 0 there).
  bool nonzero = false;
  for (int f = 0; f < D; ++f) nonzero = nonzero || r.y[index(v.layout, 0, 1, f, D)] != 0.0;
  EXPECT_TRUE(nonzero);

  // Its final state is the state after its single step: the same as a T=1 run of that sequence.
  Model one = m;
  test::Problem q = test::random_problem(one, 1, 1, {}, 12, false, false);
  for (int f = 0; f < kI; ++f) q.x[f] = p.x[index(v.layout, 0, 1, f, kI)];
  q.weights = p.weights;
  const test::Result single = test::run(q, Engine::cpu_reference, false);
  const StateLayout sl(m, kB), sl1(one, 1);
  for (int d = 0; d < dirs; ++d) {
    const Dir dir = d == 0 ? Dir::fw : Dir::bw;
    for (int j = 0; j < kH; ++j) {
      EXPECT_EQ(r.final_state[sl.h(0, dir) + kH + j], single.final_state[sl1.h(0, dir) + j])
          << "h, dir " << d << " unit " << j;
      if (has_c) {
        EXPECT_EQ(r.final_state[sl.c(0, dir) + kH + j], single.final_state[sl1.c(0, dir) + j])
            << "c, dir " << d << " unit " << j;
      }
      EXPECT_EQ(r.y[index(v.layout, 0, 1, d * kH + j, D)], single.y[d * kH + j]);
    }
  }

  // The full sequence: the forward final h is y at the last step, the backward one y at step 0.
  for (int j = 0; j < kH; ++j) {
    EXPECT_EQ(r.final_state[sl.h(0, Dir::fw) + j], r.y[index(v.layout, kT - 1, 0, j, D)]);
    if (dirs == 2) {
      EXPECT_EQ(r.final_state[sl.h(0, Dir::bw) + j], r.y[index(v.layout, 0, 0, kH + j, D)]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllCells, SeedFirstCell, ::testing::ValuesIn(variants()),
                         test::ParamName());

// The backward direction reads x[len-1 .. 0] of each sequence: reversing the valid prefix of
// the input and running forward gives the backward direction's outputs, reversed.
TEST(SequenceLengths, BackwardDirectionReadsTheValidPrefixReversed) {
  Model bi;
  bi.input_size = 2;
  bi.dtype = DType::f64;
  Layer layer;
  layer.cell = Cell::gru;
  layer.hidden = 3;
  layer.bidirectional = true;
  bi.layers.push_back(layer);
  const std::vector<std::int32_t> lengths = {5, 3};
  const test::Problem p = test::random_problem(bi, 5, 2, lengths, 5, false, false);
  const test::Result r = test::run(p, Engine::cpu_reference, false);

  // A one-direction model whose weights are the backward direction's, on reversed prefixes.
  Model uni = bi;
  uni.layers[0].bidirectional = false;
  const WeightLayout wl(bi);
  test::Problem q = test::random_problem(uni, 5, 2, lengths, 6, false, false);
  q.weights.assign(p.weights.begin() + wl.offset(0, Dir::bw, Param::Wx), p.weights.end());
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < lengths[b]; ++t)
      for (int f = 0; f < 2; ++f)
        q.x[(t * 2 + b) * 2 + f] = p.x[((lengths[b] - 1 - t) * 2 + b) * 2 + f];
  const test::Result fw = test::run(q, Engine::cpu_reference, false);
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < lengths[b]; ++t)
      for (int j = 0; j < 3; ++j)
        EXPECT_EQ(r.y[(t * 2 + b) * 6 + 3 + j], fw.y[((lengths[b] - 1 - t) * 2 + b) * 3 + j])
            << "b=" << b << " t=" << t;
}

// A sequence of length 0 writes zeros everywhere and returns its initial state unchanged.
TEST(SequenceLengths, LengthZeroKeepsTheInitialState) {
  Model m = seed_model("multi_lstm", 4, 5, DType::f64);
  const test::Problem p = test::random_problem(m, 3, 2, {3, 0}, 9);
  const test::Result r = test::run(p, Engine::cpu_reference, true);
  const StateLayout sl(m, 2);
  for (int t = 0; t < 3; ++t)
    for (int f = 0; f < 5; ++f) EXPECT_EQ(r.y[(t * 2 + 1) * 5 + f], 0.0);
  for (int l = 0; l < 3; ++l) {
    for (int j = 0; j < 5; ++j) {
      EXPECT_EQ(r.final_state[sl.h(l, Dir::fw) + 5 + j], p.init[sl.h(l, Dir::fw) + 5 + j]);
      EXPECT_EQ(r.final_state[sl.c(l, Dir::fw) + 5 + j], p.init[sl.c(l, Dir::fw) + 5 + j]);
      // Its gradient passes straight through: dinit = dfinal.
      EXPECT_EQ(r.dinit[sl.h(l, Dir::fw) + 5 + j], p.dfinal[sl.h(l, Dir::fw) + 5 + j]);
      EXPECT_EQ(r.dinit[sl.c(l, Dir::fw) + 5 + j], p.dfinal[sl.c(l, Dir::fw) + 5 + j]);
    }
  }
  // And its inputs get no gradient.
  for (int t = 0; t < 3; ++t)
    for (int f = 0; f < 4; ++f) EXPECT_EQ(r.dx[(t * 2 + 1) * 4 + f], 0.0);
}

}  // namespace
}  // namespace rnnx
