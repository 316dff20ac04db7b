// cpu_reference's backward against central finite differences of its own
// forward, in float64, for every gradient (dx, initial states, every weight) over the gradient
// matrix (60 models: 5 cell kinds). The loss is L = sum(dy * y) + sum(dfinal * final_state), so
// that dL/dy = dy and dL/dfinal = dfinal are the gradients given to backward.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace rnnx {
namespace {

double loss(const test::Problem& p) {
  const test::Result r = test::run(p, Engine::cpu_reference, false);
  double sum = 0;
  for (std::size_t k = 0; k < r.y.size(); ++k) sum += p.dy[k] * r.y[k];
  for (std::size_t k = 0; k < r.final_state.size(); ++k) sum += p.dfinal[k] * r.final_state[k];
  return sum;
}

// Central differences of `loss` over every element of `values` (a member of `p`).
std::vector<double> numeric_gradient(test::Problem& p, std::vector<double>& values) {
  constexpr double eps = 1e-6;
  std::vector<double> grad(values.size());
  for (std::size_t k = 0; k < values.size(); ++k) {
    const double keep = values[k];
    values[k] = keep + eps;
    const double up = loss(p);
    values[k] = keep - eps;
    const double down = loss(p);
    values[k] = keep;
    grad[k] = (up - down) / (2 * eps);
  }
  return grad;
}

class GradientCheck : public ::testing::TestWithParam<test::MatrixCase> {};

TEST_P(GradientCheck, BackwardMatchesFiniteDifferences) {
  const test::MatrixCase& c = GetParam();
  test::Problem p = test::random_problem(c.model, c.steps, c.batch, c.lengths, 31);
  const test::Result analytic = test::run(p, Engine::cpu_reference, true);

  const double dx_error = test::max_rel_error(analytic.dx, numeric_gradient(p, p.x));
  const double dinit_error = test::max_rel_error(analytic.dinit, numeric_gradient(p, p.init));
  EXPECT_LT(dx_error, 1e-6) << "dx";
  EXPECT_LT(dinit_error, 1e-6) << "dinit";
  double worst = std::max(dx_error, dinit_error);
  // Weights tensor by tensor, so that a failure names the layer, direction and tensor.
  const std::vector<double> numeric = numeric_gradient(p, p.weights);
  const WeightLayout wl(c.model);
  for (int l = 0; l < static_cast<int>(c.model.layers.size()); ++l) {
    for (int d = 0; d < directions(c.model.layers[l]); ++d) {
      const Dir dir = d == 0 ? Dir::fw : Dir::bw;
      for (Param param : {Param::Wx, Param::Wh, Param::bx, Param::bh}) {
        const auto at = static_cast<std::ptrdiff_t>(wl.offset(l, dir, param));
        const auto n = static_cast<std::ptrdiff_t>(wl.count(l, param));
        const std::vector<double> a(analytic.dweights.begin() + at,
                                    analytic.dweights.begin() + at + n);
        const std::vector<double> b(numeric.begin() + at, numeric.begin() + at + n);
        const double error = test::max_rel_error(a, b);
        worst = std::max(worst, error);
        EXPECT_LT(error, 1e-6) << "layer " << l << " " << to_string(dir) << " " << to_string(param);
        // A backward that returned zeros for a tensor would pass the bound above only if the
        // true gradient were ~0 too; require a real signal.
        double size = 0;
        for (double g : b) size += std::abs(g);
        EXPECT_GT(size, 1e-6) << "layer " << l << " " << to_string(dir) << " " << to_string(param);
      }
    }
  }
  RecordProperty("max_rel_error", test::scientific(worst));
}

INSTANTIATE_TEST_SUITE_P(Matrix, GradientCheck, ::testing::ValuesIn(test::gradient_matrix()),
                         test::ParamName());

// accumulate = true adds into dweights; dx and dinit are overwritten either way.
TEST(Backward, AccumulateAddsToDweights) {
  const test::MatrixCase c = test::gradient_matrix()[5];
  const test::Problem p = test::random_problem(c.model, c.steps, c.batch, c.lengths, 33);
  const test::Result once = test::run(p, Engine::cpu_reference, true);

  Rnn rnn(p.model, Engine::cpu_reference);
  std::vector<double> y(once.y.size()), dx(p.x.size()), dw(p.weights.size(), 0.5);
  std::vector<unsigned char> reserve(rnn.reserve_bytes(p.steps, p.batch));
  Forward f;
  f.steps = p.steps;
  f.batch = p.batch;
  f.x = p.x;
  f.lengths = p.lengths.empty() ? nullptr : p.lengths.data();
  f.weights = p.weights;
  f.init = p.init;
  f.y = y;
  Backward b;
  b.dy = p.dy;
  b.dfinal = p.dfinal;
  b.dx = dx;
  b.dweights = dw;
  b.accumulate = true;
  rnn.forward_train(f, {reserve.data(), reserve.size()});
  rnn.backward(f, b, {reserve.data(), reserve.size()});
  for (std::size_t k = 0; k < dw.size(); ++k) ASSERT_DOUBLE_EQ(dw[k], 0.5 + once.dweights[k]) << k;
  EXPECT_EQ(dx, once.dx);
}

}  // namespace
}  // namespace rnnx
