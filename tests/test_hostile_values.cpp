// Hostile values on every CPU engine and cell: huge magnitudes saturate the gates without NaN,
// the float exp is right from -inf to +inf, a NaN or Inf reaches exactly the sequences it should,
// and T = 100,000 runs in memory linear in T with the result of two chained calls.
#include <gtest/gtest.h>
#include <pthread.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cell_math.h"
#include "rnnx/rnnx.h"
#include "support/test_support.h"

namespace rnnx {
namespace {

constexpr Engine kCpuEngines[] = {Engine::cpu_reference, Engine::cpu};
constexpr DType kDtypes[] = {DType::f64, DType::f32};
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// ReLU does not saturate: its state grows with its inputs and may overflow, so the tests that
// promise bounded outputs leave it out (docs/INPUTS.md).
bool saturates(CellKind kind) {
  switch (kind) {
    case CellKind::lstm:
    case CellKind::gru_reset_after:
    case CellKind::gru_reset_before:
    case CellKind::rnn_tanh:
      return true;
    case CellKind::rnn_relu:
      return false;
  }
  return false;
}

double huge(DType dtype) {
  return dtype == DType::f32 ? 1e30 : 1e300;
}

Model model_of(CellKind kind, DType dtype, std::vector<Layer> layers = {}) {
  Model m;
  m.input_size = 3;
  m.dtype = dtype;
  m.layers = layers.empty() ? std::vector<Layer>{test::layer_of(kind, 4)} : std::move(layers);
  return m;
}

std::string name_of(Engine engine, DType dtype, CellKind kind) {
  return std::string(to_string(engine)) + ", " + to_string(dtype) + ", " + to_string(kind);
}

bool all_finite(const std::vector<double>& v) {
  for (double e : v) {
    if (!std::isfinite(e)) return false;
  }
  return true;
}

// --- the float exp ---------------------------------------------------------------------------

// Every 509th float bit pattern from -inf to +inf (about 8.4 million values), and the ends.
TEST(HostileValues, FloatExpIsRightFromMinusInfinityToInfinity) {
  auto check = [](float x) {
    const float got = cell::exp_(x);
    const double ref = std::exp(static_cast<double>(x));
    if (std::isnan(x)) return std::isnan(got);
    if (ref > FLT_MAX) return std::isinf(got) && got > 0;
    if (ref > FLT_MAX * (1 - 1e-6)) return std::isinf(got) || std::abs(got - ref) <= 4e-7 * ref;
    if (ref >= FLT_MIN) return std::abs(got - ref) <= 4e-7 * ref;
    // Subnormal or zero: one rounding of the scaled polynomial.
    return got >= 0 && std::abs(got - ref) <= 4e-7 * ref + std::ldexp(1.0, -149);
  };
  std::uint64_t checked = 0, wrong = 0;
  float first_wrong = 0;
  for (std::uint64_t bits = 0; bits <= 0xFFFFFFFFu; bits += 509) {
    float x;
    const auto b = static_cast<std::uint32_t>(bits);
    std::memcpy(&x, &b, sizeof x);
    ++checked;
    if (!check(x) && wrong++ == 0) first_wrong = x;
  }
  EXPECT_EQ(wrong, 0u) << "of " << checked << "; first at x = " << first_wrong << ": got "
                       << cell::exp_(first_wrong) << ", expf " << std::exp(first_wrong);
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(cell::exp_(-inf), 0.0f);
  EXPECT_EQ(cell::exp_(inf), inf);
  EXPECT_EQ(cell::exp_(-1e30f), 0.0f);
  EXPECT_EQ(cell::exp_(1e30f), inf);
  EXPECT_EQ(cell::exp_(89.0f), inf);
  EXPECT_EQ(cell::exp_(0.0f), 1.0f);
  EXPECT_GT(cell::exp_(-100.0f), 0.0f);  // a subnormal, as expf gives
  EXPECT_LT(cell::exp_(-100.0f), FLT_MIN);
  EXPECT_EQ(cell::exp_(-104.0f), 0.0f);
  EXPECT_TRUE(std::isnan(cell::exp_(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(cell::exp_(-kInf), 0.0);
  EXPECT_EQ(cell::exp_(kInf), kInf);
}

// The gates' exp: exp_'s very bits wherever exp_'s result is a normal float (x from -87 to
// 88.37), exp(-87) below, +inf from 88.38 (where 2^128's bits are +inf's), NaN for NaN; every
// 509th bit pattern.
TEST(HostileValues, GateExpIsExpWhereverTheResultIsNormal) {
  const float floor = cell::gate_exp(-87.0f);
  EXPECT_GE(floor, FLT_MIN);
  EXPECT_LT(floor, 2e-38f);
  auto check = [floor](float x) {
    const float got = cell::gate_exp(x);
    if (std::isnan(x)) return std::isnan(got);
    if (x < -87.0f) return got == floor;
    if (x <= 88.37f)
      return __builtin_bit_cast(std::uint32_t, got) ==
             __builtin_bit_cast(std::uint32_t, cell::exp_(x));
    if (x >= 88.38f) return std::isinf(got) && got > 0;
    return std::isinf(got) || got == cell::exp_(x);
  };
  std::uint64_t checked = 0, wrong = 0;
  float first_wrong = 0;
  for (std::uint64_t bits = 0; bits <= 0xFFFFFFFFu; bits += 509) {
    const float x = __builtin_bit_cast(float, static_cast<std::uint32_t>(bits));
    ++checked;
    if (!check(x) && wrong++ == 0) first_wrong = x;
  }
  EXPECT_EQ(wrong, 0u) << "of " << checked << "; first at x = " << first_wrong << ": got "
                       << cell::gate_exp(first_wrong) << ", exp_ " << cell::exp_(first_wrong);
  EXPECT_EQ(cell::gate_exp(0.0f), 1.0f);
  EXPECT_EQ(cell::gate_exp(-std::numeric_limits<float>::infinity()), floor);
  EXPECT_EQ(cell::gate_exp(std::numeric_limits<float>::infinity()),
            std::numeric_limits<float>::infinity());
}

TEST(HostileValues, SigmoidAndTanhSaturateExactlyAtTheEnds) {
  for (float big : {1e30f, std::numeric_limits<float>::infinity(), 200.0f}) {
    EXPECT_EQ(cell::sigmoid(big), 1.0f) << big;
    EXPECT_EQ(cell::sigmoid(-big), 0.0f) << big;
    EXPECT_EQ(cell::tanh_(big), 1.0f) << big;
    EXPECT_EQ(cell::tanh_(-big), -1.0f) << big;
  }
  for (double big : {1e300, kInf}) {
    EXPECT_EQ(cell::sigmoid(big), 1.0) << big;
    EXPECT_EQ(cell::sigmoid(-big), 0.0) << big;
    EXPECT_EQ(cell::tanh_(big), 1.0) << big;
    EXPECT_EQ(cell::tanh_(-big), -1.0) << big;
  }
}

// --- huge magnitudes -----------------------------------------------------------------------

// Forward and backward with every x (or every weight) scaled by 1e30 (float32) or 1e300 (float64):
// finite everywhere, states within [-1, 1] for the saturating cells, and the engines agree.
void expect_saturation(bool huge_weights) {
  for (DType dtype : kDtypes) {
    for (CellKind kind : test::kCellKinds) {
      if (huge_weights && !saturates(kind)) continue;
      const Model model = model_of(kind, dtype, {test::layer_of(kind, 4), test::layer_of(kind, 3)});
      test::Problem p = test::random_problem(model, 6, 3, {6, 2, 4}, 11);
      // Scaled rather than set to +-huge: with equal magnitudes, saturated states (exact 0, 1,
      // tanh(1), ...) make exact cancellations whose rounding differs between engines.
      for (double& v : huge_weights ? p.weights : p.x) v *= huge(dtype);
      test::Result reference;
      for (Engine engine : kCpuEngines) {
        SCOPED_TRACE(name_of(engine, dtype, kind));
        const test::Result r = test::run(p, engine, true);
        for (const auto* v : {&r.y, &r.final_state, &r.dx, &r.dinit, &r.dweights}) {
          EXPECT_TRUE(all_finite(*v)) << "a NaN or infinity in an output";
        }
        if (saturates(kind)) {  // h; an LSTM's c is not bounded by 1
          for (double h : r.y) EXPECT_LE(std::abs(h), 1.0);
        }
        if (engine == Engine::cpu_reference) {
          reference = r;
        } else {
          const test::Errors e = test::compare_results(r, reference, true);
          EXPECT_LE(e.worst(), dtype == DType::f32 ? 1e-4 : 1e-12)
              << "y " << e.y << ", final state " << e.final_state << ", dx " << e.dx << ", dinit "
              << e.dinit << ", dweights " << e.dweights;
        }
      }
    }
  }
}

TEST(HostileValues, HugeInputsSaturateWithoutNaN) {
  expect_saturation(false);
}

TEST(HostileValues, HugeWeightsSaturateWithoutNaN) {
  expect_saturation(true);
}

// --- NaN and Inf reach exactly the sequences they should -----------------------------------

struct Runs {
  test::Result clean, poisoned;
};

Runs run_both(const test::Problem& clean, const std::function<void(test::Problem&)>& poison,
              Engine engine) {
  test::Problem p = clean;
  poison(p);
  return {test::run(clean, engine, true), test::run(p, engine, true)};
}

// y, dx ([T, B, n] time-major) of sequence b at step t.
std::vector<double> at(const std::vector<double>& v, int steps, int batch, int t, int b) {
  const std::size_t n = v.size() / (static_cast<std::size_t>(steps) * batch);
  const auto begin = v.begin() + static_cast<std::ptrdiff_t>((std::size_t(t) * batch + b) * n);
  return {begin, begin + static_cast<std::ptrdiff_t>(n)};
}

// The final state or dinit entries of sequence b, every layer and direction.
std::vector<double> state_of(const Model& model, int batch, const std::vector<double>& state,
                             int b) {
  const StateLayout layout(model, batch);
  std::vector<double> out;
  for (int l = 0; l < static_cast<int>(model.layers.size()); ++l) {
    const std::size_t hidden = static_cast<std::size_t>(model.layers[l].hidden);
    for (int d = 0; d < directions(model.layers[l]); ++d) {
      const Dir dir = d == 0 ? Dir::fw : Dir::bw;
      std::vector<std::size_t> blocks = {layout.h(l, dir)};
      if (cell_traits(model.layers[l]).has_c) blocks.push_back(layout.c(l, dir));
      for (std::size_t start : blocks) {
        const auto first = state.begin() + static_cast<std::ptrdiff_t>(start + b * hidden);
        out.insert(out.end(), first, first + static_cast<std::ptrdiff_t>(hidden));
      }
    }
  }
  return out;
}

bool any_nan(const std::vector<double>& v) {
  for (double e : v) {
    if (std::isnan(e)) return true;
  }
  return false;
}

bool all_nan(const std::vector<double>& v) {
  for (double e : v) {
    if (!std::isnan(e)) return false;
  }
  return !v.empty();
}

// Bitwise: a NaN elsewhere must not change a single bit of another sequence's results.
void expect_sequence_untouched(const test::Problem& p, const Runs& runs, int b) {
  SCOPED_TRACE("sequence " + std::to_string(b));
  for (int t = 0; t < p.steps; ++t) {
    EXPECT_EQ(at(runs.poisoned.y, p.steps, p.batch, t, b), at(runs.clean.y, p.steps, p.batch, t, b))
        << "y at step " << t;
    EXPECT_EQ(at(runs.poisoned.dx, p.steps, p.batch, t, b),
              at(runs.clean.dx, p.steps, p.batch, t, b))
        << "dx at step " << t;
  }
  EXPECT_EQ(state_of(p.model, p.batch, runs.poisoned.final_state, b),
            state_of(p.model, p.batch, runs.clean.final_state, b));
  EXPECT_EQ(state_of(p.model, p.batch, runs.poisoned.dinit, b),
            state_of(p.model, p.batch, runs.clean.dinit, b));
}

// One value of x (sequence 1, step 2) is NaN or +Inf: in a one-direction layer, sequence 1's
// outputs before step 2 and every other sequence are unchanged; from step 2 on a NaN is in every
// unit, and an Inf saturates the gates of the cells that saturate, leaving everything finite.
TEST(HostileValues, NaNOrInfInXReachesOnlyItsSequenceFromItsStepOn) {
  for (double poison : {kNaN, kInf}) {
    for (DType dtype : kDtypes) {
      for (CellKind kind : test::kCellKinds) {
        const test::Problem p = test::random_problem(model_of(kind, dtype), 6, 4, {6, 6, 4, 0}, 5);
        const std::size_t at_1_2 = (2 * 4 + 1) * 3;  // x[t=2, b=1, 0]
        for (Engine engine : kCpuEngines) {
          SCOPED_TRACE(name_of(engine, dtype, kind) + (std::isnan(poison) ? ", NaN" : ", Inf"));
          const Runs runs = run_both(
              p, [&](test::Problem& q) { q.x[at_1_2] = poison; }, engine);
          for (int b : {0, 2, 3}) expect_sequence_untouched(p, runs, b);
          for (int t = 0; t < 2; ++t) {
            EXPECT_EQ(at(runs.poisoned.y, 6, 4, t, 1), at(runs.clean.y, 6, 4, t, 1));
          }
          const std::vector<double> final_1 = state_of(p.model, 4, runs.poisoned.final_state, 1);
          if (std::isnan(poison)) {
            for (int t = 2; t < 6; ++t) EXPECT_TRUE(all_nan(at(runs.poisoned.y, 6, 4, t, 1))) << t;
            EXPECT_TRUE(all_nan(final_1));
          } else if (saturates(kind)) {
            for (int t = 2; t < 6; ++t) EXPECT_TRUE(all_finite(at(runs.poisoned.y, 6, 4, t, 1)));
            EXPECT_TRUE(all_finite(final_1));
          } else {
            EXPECT_FALSE(all_finite(final_1)) << "ReLU carries the infinity on";
          }
        }
      }
    }
  }
}

// The same through a bidirectional layer and a second layer: all of sequence 1 is reached (the
// backward direction carries the NaN to the earlier steps), nothing of the others.
TEST(HostileValues, NaNInXStaysInItsSequenceThroughABidirectionalStack) {
  for (DType dtype : kDtypes) {
    for (CellKind kind : test::kCellKinds) {
      Layer bi = test::layer_of(kind, 4);
      bi.bidirectional = true;
      const Model model = model_of(kind, dtype, {bi, test::layer_of(kind, 3)});
      const test::Problem p = test::random_problem(model, 6, 3, {6, 5, 3}, 9);
      for (Engine engine : kCpuEngines) {
        SCOPED_TRACE(name_of(engine, dtype, kind));
        const Runs runs = run_both(
            p, [](test::Problem& q) { q.x[(2 * 3 + 1) * 3 + 2] = kNaN; }, engine);
        expect_sequence_untouched(p, runs, 0);
        expect_sequence_untouched(p, runs, 2);
        for (int t = 0; t < 5; ++t) EXPECT_TRUE(all_nan(at(runs.poisoned.y, 6, 3, t, 1))) << t;
        EXPECT_EQ(at(runs.poisoned.y, 6, 3, 5, 1), std::vector<double>(3, 0.0)) << "past length";
      }
    }
  }
}

// A NaN weight reaches every sequence that runs a step, and none that does not: a length-0
// sequence keeps its initial state, and y past every length stays exactly 0.
TEST(HostileValues, NaNInAWeightSparesLengthZeroAndThePadding) {
  for (DType dtype : kDtypes) {
    for (CellKind kind : test::kCellKinds) {
      const test::Problem p = test::random_problem(model_of(kind, dtype), 6, 3, {6, 0, 3}, 13);
      const std::size_t wh = WeightLayout(p.model).offset(0, Dir::fw, Param::Wh);
      for (Engine engine : kCpuEngines) {
        SCOPED_TRACE(name_of(engine, dtype, kind));
        const Runs runs = run_both(
            p, [&](test::Problem& q) { q.weights[wh] = kNaN; }, engine);
        EXPECT_TRUE(any_nan(state_of(p.model, 3, runs.poisoned.final_state, 0)));
        EXPECT_TRUE(any_nan(state_of(p.model, 3, runs.poisoned.final_state, 2)));
        EXPECT_EQ(state_of(p.model, 3, runs.poisoned.final_state, 1),
                  state_of(p.model, 3, test::rounded(dtype, p.init), 1));
        for (int t = 0; t < 6; ++t) {
          EXPECT_EQ(at(runs.poisoned.y, 6, 3, t, 1), std::vector<double>(4, 0.0)) << t;
          if (t >= 3) {
            EXPECT_EQ(at(runs.poisoned.y, 6, 3, t, 2), std::vector<double>(4, 0.0)) << t;
          }
        }
      }
    }
  }
}

// A NaN or Inf in one sequence's initial state stays in that sequence.
TEST(HostileValues, NaNOrInfInAnInitialStateStaysInItsSequence) {
  for (double poison : {kNaN, -kInf}) {
    for (DType dtype : kDtypes) {
      for (CellKind kind : test::kCellKinds) {
        const test::Problem p = test::random_problem(model_of(kind, dtype), 5, 3, {}, 17);
        const std::size_t h_of_1 = StateLayout(p.model, 3).h(0, Dir::fw) + 4;  // b = 1, unit 0
        for (Engine engine : kCpuEngines) {
          SCOPED_TRACE(name_of(engine, dtype, kind) + (std::isnan(poison) ? ", NaN" : ", -Inf"));
          const Runs runs = run_both(
              p, [&](test::Problem& q) { q.init[h_of_1] = poison; }, engine);
          expect_sequence_untouched(p, runs, 0);
          expect_sequence_untouched(p, runs, 2);
          if (std::isnan(poison)) {
            EXPECT_TRUE(all_nan(state_of(p.model, 3, runs.poisoned.final_state, 1)));
          }
        }
      }
    }
  }
}

// --- long sequences ------------------------------------------------------------------------

// Runs `body` on a thread with a 512 KiB stack: a recursion or a stack array that grows with T
// would overflow it at T = 100,000.
void on_small_stack(const std::function<void()>& body) {
  pthread_attr_t attributes;
  ASSERT_EQ(pthread_attr_init(&attributes), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attributes, 512 * 1024), 0);
  pthread_t thread;
  auto* task = new std::function<void()>(body);
  auto start = [](void* arg) -> void* {
    auto* f = static_cast<std::function<void()>*>(arg);
    (*f)();
    delete f;
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attributes, start, task), 0);
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
  pthread_attr_destroy(&attributes);
}

TEST(HostileValues, HundredThousandStepsMatchTwoChainedCallsInLinearMemory) {
  constexpr int kSteps = 100000, kHalf = kSteps / 2;
  for (Engine engine : kCpuEngines) {
    for (DType dtype : kDtypes) {
      SCOPED_TRACE(std::string(to_string(engine)) + ", " + to_string(dtype));
      const Model model = model_of(CellKind::lstm, dtype);
      const test::Problem whole = test::random_problem(model, kSteps, 1, {}, 23, true, false);
      test::Result full, first, second;
      on_small_stack([&] { full = test::run(whole, engine, false); });

      test::Problem a = whole, b = whole;
      a.steps = b.steps = kHalf;
      a.x.assign(whole.x.begin(), whole.x.begin() + kHalf * 3);
      b.x.assign(whole.x.begin() + kHalf * 3, whole.x.end());
      on_small_stack([&] { first = test::run(a, engine, false); });
      b.init = first.final_state;
      on_small_stack([&] { second = test::run(b, engine, false); });
      std::vector<double> chained = first.y;
      chained.insert(chained.end(), second.y.begin(), second.y.end());
      const double tolerance = dtype == DType::f32 ? 1e-5 : 1e-13;
      EXPECT_LE(test::max_rel_error(chained, full.y), tolerance);
      EXPECT_LE(test::max_rel_error(second.final_state, full.final_state), tolerance);
      EXPECT_TRUE(all_finite(full.y));

      // The memory a plan asks for grows linearly in T: what T = 100,000 needs is what the
      // first half needs and the second half's share again.
      const Rnn rnn(model, engine);
      for (auto bytes : {&Rnn::reserve_bytes, &Rnn::workspace_bytes}) {
        const std::size_t one = (rnn.*bytes)(1, 1), half = (rnn.*bytes)(kHalf, 1),
                          all = (rnn.*bytes)(kSteps, 1);
        EXPECT_LE(all, 2 * half + one) << "reserve or workspace grows faster than T";
        EXPECT_LE(all, std::size_t(kSteps) * 4 * 1024) << "more than 4 KiB a step";
      }
    }
  }
}

// Training at T = 100,000 on the small stack: forward_train and backward run through.
TEST(HostileValues, HundredThousandStepsTrainOnASmallStack) {
  for (Engine engine : kCpuEngines) {
    SCOPED_TRACE(to_string(engine));
    const test::Problem p =
        test::random_problem(model_of(CellKind::gru_reset_after, DType::f32), 100000, 1, {}, 29);
    test::Result r;
    on_small_stack([&] { r = test::run(p, engine, true); });
    EXPECT_TRUE(all_finite(r.dweights));
    EXPECT_TRUE(all_finite(r.dx));
  }
}

}  // namespace
}  // namespace rnnx
