// One LSTM step, one GRU step (both reset modes) and one vanilla RNN step
// (tanh and relu) with small literal weights; the expected numbers are worked out here from
// DESIGN.md's formulas, gate by gate, without calling rnnx.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "support/test_support.h"

namespace rnnx {
namespace {

double sig(double v) {
  return 1.0 / (1.0 + std::exp(-v));
}

// I = 2, H = 2, one step, one sequence. Row r of every tensor is gate r / H, unit r % H.
constexpr int kI = 2, kH = 2;
const std::vector<double> kX = {0.5, -1.0};
const std::vector<double> kH0 = {0.2, -0.4};
const std::vector<double> kC0 = {-0.3, 0.6};

Model one_layer(Cell cell, GruReset reset = GruReset::after_matmul, double forget_bias = 0.0,
                Activation activation = Activation::tanh) {
  Model m;
  m.input_size = kI;
  m.dtype = DType::f64;
  Layer layer;
  layer.cell = cell;
  layer.hidden = kH;
  layer.forget_bias = forget_bias;
  layer.gru_reset = reset;
  layer.activation = activation;
  m.layers.push_back(layer);
  return m;
}

// Literal weights: Wx[r][k] = 0.1 * (r + 1) * (k == 0 ? 1 : -0.5), Wh[r][k] = 0.05 * (r - k),
// bx[r] = 0.01 * r, bh[r] = -0.02 * r. Written into the canonical buffer by hand.
struct Literal {
  std::vector<double> Wx, Wh, bx, bh, flat;
};
// Canonical order inside a direction: Wx, Wh, bx, bh.
void flatten(Literal& w) {
  w.flat.clear();
  for (auto* part : {&w.Wx, &w.Wh, &w.bx, &w.bh})
    w.flat.insert(w.flat.end(), part->begin(), part->end());
}
Literal literal_weights(int gates) {
  Literal w;
  for (int r = 0; r < gates * kH; ++r) {
    for (int k = 0; k < kI; ++k) w.Wx.push_back(0.1 * (r + 1) * (k == 0 ? 1.0 : -0.5));
    for (int k = 0; k < kH; ++k) w.Wh.push_back(0.05 * (r - k));
  }
  for (int r = 0; r < gates * kH; ++r) w.bx.push_back(0.01 * r);
  for (int r = 0; r < gates * kH; ++r) w.bh.push_back(-0.02 * r);
  flatten(w);
  return w;
}

// Wx[row] . x + bx[row], and Wh[row] . h + bh[row].
double x_term(const Literal& w, int row) {
  return w.Wx[row * kI] * kX[0] + w.Wx[row * kI + 1] * kX[1] + w.bx[row];
}
double h_term(const Literal& w, int row, const std::vector<double>& h) {
  return w.Wh[row * kH] * h[0] + w.Wh[row * kH + 1] * h[1] + w.bh[row];
}

test::Result run_one_step(const Model& m, const Literal& w, bool with_c) {
  test::Problem p;
  p.model = m;
  p.steps = 1;
  p.batch = 1;
  p.x = kX;
  p.weights = w.flat;
  p.init = kH0;
  if (with_c) p.init.insert(p.init.end(), kC0.begin(), kC0.end());
  return test::run(p, Engine::cpu_reference, false);
}

TEST(CellStep, LstmMatchesHandComputation) {
  const double forget_bias = 1.0;
  const Literal w = literal_weights(4);
  const test::Result r = run_one_step(one_layer(Cell::lstm, {}, forget_bias), w, true);
  for (int j = 0; j < kH; ++j) {
    const double i = sig(x_term(w, 0 * kH + j) + h_term(w, 0 * kH + j, kH0));
    const double f = sig(x_term(w, 1 * kH + j) + h_term(w, 1 * kH + j, kH0) + forget_bias);
    const double g = std::tanh(x_term(w, 2 * kH + j) + h_term(w, 2 * kH + j, kH0));
    const double o = sig(x_term(w, 3 * kH + j) + h_term(w, 3 * kH + j, kH0));
    const double c = f * kC0[j] + i * g;
    const double h = o * std::tanh(c);
    EXPECT_NEAR(r.y[j], h, 1e-15) << "unit " << j;
    EXPECT_NEAR(r.final_state[j], h, 1e-15) << "final h, unit " << j;
    EXPECT_NEAR(r.final_state[kH + j], c, 1e-15) << "final c, unit " << j;
  }
}

TEST(CellStep, GruResetAfterMatmulMatchesHandComputation) {
  const Literal w = literal_weights(3);
  const test::Result r = run_one_step(one_layer(Cell::gru, GruReset::after_matmul), w, false);
  for (int j = 0; j < kH; ++j) {
    const double rg = sig(x_term(w, 0 * kH + j) + h_term(w, 0 * kH + j, kH0));
    const double z = sig(x_term(w, 1 * kH + j) + h_term(w, 1 * kH + j, kH0));
    const double n = std::tanh(x_term(w, 2 * kH + j) + rg * h_term(w, 2 * kH + j, kH0));
    const double h = (1 - z) * n + z * kH0[j];
    EXPECT_NEAR(r.y[j], h, 1e-15) << "unit " << j;
    EXPECT_NEAR(r.final_state[j], h, 1e-15) << "unit " << j;
  }
}

TEST(CellStep, GruResetBeforeMatmulMatchesHandComputation) {
  const Literal w = literal_weights(3);
  const test::Result r = run_one_step(one_layer(Cell::gru, GruReset::before_matmul), w, false);
  std::vector<double> rg(kH), rh(kH);
  for (int j = 0; j < kH; ++j) {
    rg[j] = sig(x_term(w, 0 * kH + j) + h_term(w, 0 * kH + j, kH0));
    rh[j] = rg[j] * kH0[j];
  }
  for (int j = 0; j < kH; ++j) {
    const double z = sig(x_term(w, 1 * kH + j) + h_term(w, 1 * kH + j, kH0));
    const double n = std::tanh(x_term(w, 2 * kH + j) + h_term(w, 2 * kH + j, rh));
    const double h = (1 - z) * n + z * kH0[j];
    EXPECT_NEAR(r.y[j], h, 1e-15) << "unit " << j;
  }
  // The two modes must differ on these weights, or the test above proves nothing about them.
  const test::Result after = run_one_step(one_layer(Cell::gru, GruReset::after_matmul), w, false);
  EXPECT_GT(std::abs(after.y[0] - r.y[0]) + std::abs(after.y[1] - r.y[1]), 1e-6);
}

// h = act(Wx x + bx + Wh h0 + bh), one gate (G = 1).
TEST(CellStep, RnnTanhMatchesHandComputation) {
  const Literal w = literal_weights(1);
  const test::Result r = run_one_step(one_layer(Cell::rnn, {}, 0.0, Activation::tanh), w, false);
  for (int j = 0; j < kH; ++j) {
    const double h = std::tanh(x_term(w, j) + h_term(w, j, kH0));
    EXPECT_NEAR(r.y[j], h, 1e-15) << "unit " << j;
    EXPECT_NEAR(r.final_state[j], h, 1e-15) << "unit " << j;
  }
  EXPECT_EQ(r.final_state.size(), std::size_t(kH)) << "an RNN has no c state";
}

TEST(CellStep, RnnReluMatchesHandComputation) {
  Literal w = literal_weights(1);
  // Unit 1's x side negated, so that its pre-activation is negative (-0.22) and relu cuts it,
  // while unit 0's (0.12) passes.
  for (int k = 0; k < kI; ++k) w.Wx[kI + k] = -w.Wx[kI + k];
  w.bx[1] = -w.bx[1];
  flatten(w);
  const double pre0 = x_term(w, 0) + h_term(w, 0, kH0), pre1 = x_term(w, 1) + h_term(w, 1, kH0);
  ASSERT_GT(pre0, 0.05);
  ASSERT_LT(pre1, -0.05);
  const test::Result r = run_one_step(one_layer(Cell::rnn, {}, 0.0, Activation::relu), w, false);
  EXPECT_NEAR(r.y[0], pre0, 1e-15);
  EXPECT_EQ(r.y[1], 0.0);
  // tanh on the same weights differs, or the activation was ignored.
  const test::Result t = run_one_step(one_layer(Cell::rnn, {}, 0.0, Activation::tanh), w, false);
  EXPECT_NEAR(t.y[1], std::tanh(pre1), 1e-15);
}

}  // namespace
}  // namespace rnnx
