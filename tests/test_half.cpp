// bfloat16 and float16 models: the conversions of include/rnnx/half.h (against hand-picked
// values, every 16-bit pattern, and CUDA's own host conversions where the toolkit is there),
// cpu_reference on bf16/f16 buffers, and the refusals of everything bf16/f16 models cannot do.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "rnnx/rnnx.h"
#include "support/test_support.h"

#if __has_include(<cuda_bf16.h>) && __has_include(<cuda_fp16.h>)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#define RNNX_HAVE_CUDA_HALF_HEADERS 1
#endif

namespace rnnx {
namespace {

float float_of(std::uint32_t u) {
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

TEST(Half, Bf16HandPickedValues) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(float_to_bf16(0.0f), 0x0000);
  EXPECT_EQ(float_to_bf16(-0.0f), 0x8000);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
  EXPECT_EQ(float_to_bf16(1.0f + 0x1p-8f), 0x3f80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: to the even one, 1 + 2^-6.
  EXPECT_EQ(float_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
  EXPECT_EQ(float_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);          // above half: up
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds to infinity
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  const std::uint16_t nan = float_to_bf16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(std::isnan(bf16_to_float(nan)));
  // A NaN whose payload lives only in the low 16 bits must not become infinity.
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(float_of(0x7f800001u)))));
  EXPECT_EQ(bf16_to_float(0x3fc0), 1.5f);
}

TEST(Half, F16HandPickedValues) {
  EXPECT_EQ(float_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(float_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(float_to_f16(65504.0f), 0x7bff);             // the largest finite float16
  EXPECT_EQ(float_to_f16(65519.0f), 0x7bff);             // below the midpoint to 65536
  EXPECT_EQ(float_to_f16(65520.0f), 0x7c00);             // the midpoint rounds to even: infinity
  EXPECT_EQ(float_to_f16(0x1p-24f), 0x0001);             // the least subnormal
  EXPECT_EQ(float_to_f16(0x1p-25f), 0x0000);             // half of it: ties to even, zero
  EXPECT_EQ(float_to_f16(0x1.8p-25f), 0x0001);           // above half: up
  EXPECT_EQ(float_to_f16(0x1.ff8p-15f), 0x03ff);         // the largest subnormal, exact
  EXPECT_EQ(float_to_f16(0x1.ffcp-15f), 0x0400);         // halfway above it: up to the least normal
  EXPECT_EQ(float_to_f16(1.0f + 0x1p-11f), 0x3c00);      // tie, even
  EXPECT_EQ(float_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);  // tie, even (up)
  EXPECT_EQ(float_to_f16(-0.0f), 0x8000);
  EXPECT_TRUE(std::isnan(f16_to_float(float_to_f16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(f16_to_float(0x0001), 0x1p-24f);
  EXPECT_EQ(f16_to_float(0x83ff), -0x1.ff8p-15f);
  EXPECT_EQ(f16_to_float(0x7c00), std::numeric_limits<float>::infinity());
}

TEST(Half, EveryPatternRoundTrips) {
  for (std::uint32_t bits = 0; bits <= 0xffffu; ++bits) {
    const auto b = static_cast<std::uint16_t>(bits);
    const float bf = bf16_to_float(b), f = f16_to_float(b);
    if (!std::isnan(bf)) {
      ASSERT_EQ(float_to_bf16(bf), b) << std::hex << bits;
    }
    if (!std::isnan(f)) {
      ASSERT_EQ(float_to_f16(f), b) << std::hex << bits;
    }
  }
}

#ifdef RNNX_HAVE_CUDA_HALF_HEADERS
// CUDA's host-side conversions are an independent implementation of the same rounding.
TEST(Half, AgreesWithCudaHostConversions) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::uint32_t> any;
  int checked = 0;
  for (int k = 0; k < 2000000; ++k) {
    // Random bit patterns cover every exponent, including subnormals and overflow.
    const float v = float_of(any(rng));
    if (std::isnan(v)) continue;
    const __nv_bfloat16 b = __float2bfloat16_rn(v);
    const __half h = __float2half_rn(v);
    std::uint16_t bb, hb;
    std::memcpy(&bb, &b, 2);
    std::memcpy(&hb, &h, 2);
    ASSERT_EQ(float_to_bf16(v), bb) << v;
    ASSERT_EQ(float_to_f16(v), hb) << v;
    ++checked;
  }
  EXPECT_GT(checked, 1900000);
}
#endif

Model small_model(DType dtype) {
  Model m;
  m.input_size = 3;
  m.dtype = dtype;
  Layer lstm;
  lstm.cell = Cell::lstm;
  lstm.hidden = 4;
  lstm.bidirectional = true;
  lstm.forget_bias = 1.0;
  Layer gru;
  gru.cell = Cell::gru;
  gru.hidden = 5;
  gru.gru_reset = GruReset::before_matmul;
  m.layers = {lstm, gru};
  return m;
}

class HalfModels : public ::testing::TestWithParam<DType> {};

// Layer l of `problem` alone, as a float64 model on `x` (its input sequence, already rounded):
// its weights and initial states taken from the whole model's, rounded as the 16-bit run gets them.
test::Problem layer_alone(const test::Problem& problem, int l, std::vector<double> x) {
  const Model& m = problem.model;
  const DType dtype = m.dtype;
  test::Problem p = problem;
  p.model.dtype = DType::f64;
  p.model.input_size = layer_input_size(m, l);
  p.model.layers = {m.layers[l]};
  p.x = std::move(x);
  const WeightLayout whole(m), alone(p.model);
  const std::vector<double> weights = test::rounded(dtype, problem.weights);
  p.weights.assign(alone.size(), 0.0);
  const StateLayout whole_state(m, p.batch), alone_state(p.model, p.batch);
  const std::vector<double> init = test::rounded(DType::f32, problem.init);
  p.init.assign(alone_state.size(), 0.0);
  const std::size_t state = alone_state.count(0);
  for (int d = 0; d < directions(m.layers[l]); ++d) {
    const Dir dir = d == 0 ? Dir::fw : Dir::bw;
    for (Param param : {Param::Wx, Param::Wh, Param::bx, Param::bh}) {
      std::copy_n(weights.begin() + whole.offset(l, dir, param), alone.count(0, param),
                  p.weights.begin() + alone.offset(0, dir, param));
    }
    std::copy_n(init.begin() + whole_state.h(l, dir), state,
                p.init.begin() + alone_state.h(0, dir));
    if (cell_traits(m.layers[l]).has_c) {
      std::copy_n(init.begin() + whole_state.c(l, dir), state,
                  p.init.begin() + alone_state.c(0, dir));
    }
  }
  return p;
}

// cpu_reference on a bf16/f16 model is the float64 reference on the same rounded inputs, with
// each layer's output rounded to the dtype (the next layer reads it so, as gpu_persistent stores
// it; y is the last layer's) and the final states in float32: exactly two float64 runs of one
// layer each, with the rounding between them.
TEST_P(HalfModels, ReferenceComputesOnTheRoundedValues) {
  const DType dtype = GetParam();
  const test::Problem half = test::random_problem(small_model(dtype), 6, 4, {6, 0, 3, 5}, 11);
  const test::Result h = test::run(half, Engine::cpu_reference, false);
  const test::Problem first = layer_alone(half, 0, test::rounded(dtype, half.x));
  const test::Result one = test::run(first, Engine::cpu_reference, false);
  const test::Problem second = layer_alone(half, 1, test::rounded(dtype, one.y));
  const test::Result two = test::run(second, Engine::cpu_reference, false);
  EXPECT_EQ(h.y, test::rounded(dtype, two.y));
  // The final states, put together: the bidirectional LSTM's h and c from the first run, the
  // GRU's h from the second.
  const StateLayout sl(half.model, half.batch), sl_first(first.model, half.batch);
  std::vector<double> composed(sl.size());
  for (Dir dir : {Dir::fw, Dir::bw}) {
    std::copy_n(one.final_state.begin() + sl_first.h(0, dir), sl.count(0),
                composed.begin() + sl.h(0, dir));
    std::copy_n(one.final_state.begin() + sl_first.c(0, dir), sl.count(0),
                composed.begin() + sl.c(0, dir));
  }
  std::copy_n(two.final_state.begin(), sl.count(1), composed.begin() + sl.h(1, Dir::fw));
  EXPECT_EQ(h.final_state, test::rounded(DType::f32, composed));

  // The rounding between the layers is real: float64 on the same rounded inputs, rounding only
  // at the end, gives the same first layer and a different second one.
  test::Problem wide = half;
  wide.model.dtype = DType::f64;
  wide.x = test::rounded(dtype, half.x);
  wide.weights = test::rounded(dtype, half.weights);
  wide.init = test::rounded(DType::f32, half.init);
  const test::Result w = test::run(wide, Engine::cpu_reference, false);
  const std::vector<double> w_state = test::rounded(DType::f32, w.final_state);
  auto same = [&](std::size_t at, std::size_t n) {
    return std::equal(w_state.begin() + at, w_state.begin() + at + n, h.final_state.begin() + at);
  };
  for (Dir dir : {Dir::fw, Dir::bw}) {
    EXPECT_TRUE(same(sl.h(0, dir), sl.count(0)));
    EXPECT_TRUE(same(sl.c(0, dir), sl.count(0)));
  }
  EXPECT_FALSE(same(sl.h(1, Dir::fw), sl.count(1)));
  // The rounding of the inputs is real too: float64 on the unrounded inputs differs.
  test::Problem exact = half;
  exact.model.dtype = DType::f64;
  EXPECT_GT(test::max_rel_error(h.y, test::run(exact, Engine::cpu_reference, false).y), 1e-4);
}

// The same for any stack, layer by layer: each layer alone in float64 on the previous one's
// output rounded to the dtype; y is the last one's output rounded, the final states are the
// layers' own in float32.
void expect_layers_chained(const test::Problem& half) {
  const DType dtype = half.model.dtype;
  const test::Result whole = test::run(half, Engine::cpu_reference, false);
  const StateLayout sl(half.model, half.batch);
  std::vector<double> composed(sl.size(), 0.0);
  std::vector<double> x = test::rounded(dtype, half.x);
  for (int l = 0; l < static_cast<int>(half.model.layers.size()); ++l) {
    const test::Problem alone = layer_alone(half, l, x);
    const test::Result r = test::run(alone, Engine::cpu_reference, false);
    const StateLayout al(alone.model, half.batch);
    for (int d = 0; d < directions(half.model.layers[l]); ++d) {
      const Dir dir = d == 0 ? Dir::fw : Dir::bw;
      std::copy_n(r.final_state.begin() + al.h(0, dir), sl.count(l),
                  composed.begin() + sl.h(l, dir));
      if (cell_traits(half.model.layers[l]).has_c) {
        std::copy_n(r.final_state.begin() + al.c(0, dir), sl.count(l),
                    composed.begin() + sl.c(l, dir));
      }
    }
    x = test::rounded(dtype, r.y);
  }
  EXPECT_EQ(whole.y, x);
  EXPECT_EQ(whole.final_state, test::rounded(DType::f32, composed));
}

// The vanilla RNN in 16 bits, both activations and a cell with c after them; relu's
// outputs grow past 1, where the 16-bit grid is coarser.
TEST_P(HalfModels, RnnReferenceComputesOnTheRoundedValues) {
  Model m;
  m.input_size = 3;
  m.dtype = GetParam();
  Layer relu;
  relu.cell = Cell::rnn;
  relu.activation = Activation::relu;
  relu.hidden = 4;
  relu.bidirectional = true;
  Layer tanh = relu;
  tanh.activation = Activation::tanh;
  tanh.hidden = 5;
  tanh.bidirectional = false;
  Layer lstm;
  lstm.cell = Cell::lstm;
  lstm.hidden = 3;
  lstm.forget_bias = 1.0;
  m.layers = {relu, tanh, lstm};
  test::Problem p = test::random_problem(m, 6, 4, {6, 0, 3, 5}, 12);
  // Inputs in (-4, 4): the relu layer's outputs then pass 1.
  for (double& v : p.x) v *= 4;
  expect_layers_chained(p);
  // A relu output past 1 is there, and relu's zeros.
  test::Problem first = layer_alone(p, 0, test::rounded(GetParam(), p.x));
  const test::Result r = test::run(first, Engine::cpu_reference, false);
  EXPECT_GT(*std::max_element(r.y.begin(), r.y.end()), 1.0);
  EXPECT_GT(std::count(r.y.begin(), r.y.end(), 0.0), 0);
  // And the LSTM-GRU model of the test above, chained the same way.
  expect_layers_chained(test::random_problem(small_model(GetParam()), 6, 4, {6, 0, 3, 5}, 11));
}

TEST_P(HalfModels, StatesAreFloat32) {
  const Model model = small_model(GetParam());
  Rnn rnn(model, Engine::cpu_reference);
  const int T = 2, B = 1;
  const std::size_t state = StateLayout(model, B).size();
  std::vector<std::uint16_t> x(std::size_t(T) * B * 3, 0), w(WeightLayout(model).size(), 0),
      y(std::size_t(T) * B * output_size(model));
  std::vector<std::uint16_t> wrong_state(state);
  std::vector<float> final_state(state);
  Forward f;
  f.steps = T;
  f.batch = B;
  f.x = ConstBuffer(x.data(), x.size(), GetParam());
  f.weights = ConstBuffer(w.data(), w.size(), GetParam());
  f.y = Buffer(y.data(), y.size(), GetParam());
  f.final_state = Buffer(final_state);
  EXPECT_NO_THROW(rnn.forward(f));
  f.final_state = Buffer(wrong_state.data(), wrong_state.size(), GetParam());
  try {
    rnn.forward(f);
    ADD_FAILURE() << "a 16-bit final_state was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("Forward.final_state: dtype"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("state dtype (rnnx::state_dtype) float32"),
              std::string::npos)
        << e.what();
  }
}

TEST_P(HalfModels, TrainingAndOtherEnginesAreRefused) {
  const Model model = small_model(GetParam());
  const std::string name = to_string(GetParam());
  for (Engine e : {Engine::cpu, Engine::gpu_dynamic, Engine::gpu_static, Engine::cudnn}) {
    try {
      Rnn rnn(model, e);
      ADD_FAILURE() << to_string(e) << " accepted a " << name << " model";
    } catch (const Error& error) {
      // GPU engines may first say that no GPU or no CUDA is here; with one, the dtype.
      if (error.status() == Status::unsupported) {
        EXPECT_NE(std::string(error.what())
                      .find("use gpu_persistent (inference) or "
                            "cpu_reference"),
                  std::string::npos)
            << error.what();
      } else {
        EXPECT_TRUE(error.status() == Status::no_device || error.status() == Status::not_built)
            << error.what();
      }
    }
  }
  // auto never falls back to the reference for them.
  try {
    Rnn rnn(model, Engine::automatic);
    EXPECT_EQ(rnn.engine(), Engine::gpu_persistent);
  } catch (const Error& error) {
    EXPECT_EQ(error.status(), Status::unsupported);
    EXPECT_NE(std::string(error.what()).find(name + " models run on gpu_persistent"),
              std::string::npos)
        << error.what();
  }
  const test::Problem p = test::random_problem(model, 3, 2, {}, 5);
  try {
    test::run(p, Engine::cpu_reference, true);
    ADD_FAILURE() << "training a " << name << " model was accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.status(), Status::unsupported);
    EXPECT_NE(std::string(error.what()).find("inference (forward) only"), std::string::npos)
        << error.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Half, HalfModels, ::testing::Values(DType::bf16, DType::f16),
                         [](const ::testing::TestParamInfo<DType>& p) {
                           return std::string(to_string(p.param));
                         });

TEST(Half, NamesAndSizes) {
  EXPECT_STREQ(to_string(DType::bf16), "bfloat16");
  EXPECT_STREQ(to_string(DType::f16), "float16");
  EXPECT_EQ(dtype_size(DType::bf16), 2u);
  EXPECT_EQ(dtype_size(DType::f16), 2u);
  EXPECT_EQ(state_dtype(DType::bf16), DType::f32);
  EXPECT_EQ(state_dtype(DType::f64), DType::f64);
  EXPECT_TRUE(is_half(DType::f16));
  EXPECT_FALSE(is_half(DType::f32));
}

}  // namespace
}  // namespace rnnx
