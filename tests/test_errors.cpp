// Every bad input is refused with an rnnx::Error that names the argument
// and its range, and the caller's outputs stay untouched.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace rnnx {
namespace {

// Runs `call`, which must throw Error with `status` and a message containing `needle`.
void expect_error(const std::function<void()>& call, Status status, const std::string& needle) {
  try {
    call();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), status) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message: " << e.what() << "\nexpected to mention: " << needle;
  }
}

// A float32 bidirectional LSTM -> GRU model and the buffers of one call, outputs NaN-poisoned.
class BadInput : public ::testing::Test {
 protected:
  static constexpr int T = 4, B = 3;
  BadInput() {
    model.input_size = 5;
    Layer lstm;
    lstm.cell = Cell::lstm;
    lstm.hidden = 4;
    lstm.bidirectional = true;
    Layer gru;
    gru.cell = Cell::gru;
    gru.hidden = 3;
    model.layers = std::vector<Layer>{lstm, gru};
    const std::size_t state = StateLayout(model, B).size();
    x = floats(std::size_t(T) * B * 5, 1);
    w = floats(WeightLayout(model).size(), 2);
    init = floats(state, 3);
    dy = floats(std::size_t(T) * B * 3, 4);
    y = nans(dy.size());
    final_state = nans(state);
    dx = nans(x.size());
    dinit = nans(state);
    dw = nans(w.size());
    f.steps = T;
    f.batch = B;
    f.x = x;
    f.weights = w;
    f.init = init;
    f.y = y;
    f.final_state = final_state;
    f.lengths = lengths.data();
    b.dy = dy;
    b.dx = dx;
    b.dinit = dinit;
    b.dweights = dw;
  }

  static std::vector<float> floats(std::size_t n, std::uint64_t seed) {
    const std::vector<double> v = test::random_values(n, seed);
    return std::vector<float>(v.begin(), v.end());
  }
  static std::vector<float> nans(std::size_t n) {
    return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN());
  }
  static bool untouched(const std::vector<float>& v) {
    for (float e : v) {
      if (!std::isnan(e)) return false;
    }
    return true;
  }
  void expect_outputs_untouched() {
    EXPECT_TRUE(untouched(y)) << "y was written";
    EXPECT_TRUE(untouched(final_state)) << "final_state was written";
    EXPECT_TRUE(untouched(dx)) << "dx was written";
    EXPECT_TRUE(untouched(dinit)) << "dinit was written";
    EXPECT_TRUE(untouched(dw)) << "dweights was written";
  }
  void expect_forward_error(Status status, const std::string& needle) {
    Rnn rnn(model, Engine::cpu_reference);
    expect_error([&] { rnn.forward(f); }, status, needle);
    std::vector<unsigned char> reserve(rnn.reserve_bytes(T, B));
    expect_error([&] { rnn.forward_train(f, {reserve.data(), reserve.size()}); }, status, needle);
    expect_outputs_untouched();
  }
  void expect_backward_error(Status status, const std::string& needle) {
    Rnn rnn(model, Engine::cpu_reference);
    std::vector<unsigned char> reserve(rnn.reserve_bytes(T, B));
    Forward clean = f;
    std::vector<float> y2(y.size()), final2(final_state.size());
    clean.y = y2;
    clean.final_state = final2;
    rnn.forward_train(clean, {reserve.data(), reserve.size()});
    expect_error([&] { rnn.backward(clean, b, {reserve.data(), reserve.size()}); }, status, needle);
    expect_outputs_untouched();
  }

  Model model;
  std::vector<std::int32_t> lengths = {4, 2, 0};
  std::vector<float> x, w, init, dy, y, final_state, dx, dinit, dw;
  Forward f;
  Backward b;
};

TEST_F(BadInput, ModelFields) {
  Model m = model;
  m.layers.clear();
  expect_error([&] { Rnn r(m, Engine::cpu_reference); }, Status::invalid_argument,
               "model.layers is empty");
  for (int bad : {0, -1, max_size + 1}) {
    m = model;
    m.input_size = bad;
    expect_error([&] { Rnn r(m, Engine::cpu_reference); }, Status::invalid_argument,
                 "model.input_size = " + std::to_string(bad) + ": must be in [1, 16777216]");
  }
  for (int bad : {0, -5}) {
    m = model;
    m.layers[1].hidden = bad;
    expect_error([&] { Rnn r(m, Engine::cpu_reference); }, Status::invalid_argument,
                 "model.layers[1].hidden = " + std::to_string(bad) + ": must be in [1,");
  }
  m = model;
  m.layers.assign(max_layers + 1, model.layers[1]);
  expect_error([&] { Rnn r(m, Engine::cpu_reference); }, Status::invalid_argument, "at most 1024");
  m = model;
  m.layers[0].forget_bias = std::nan("");
  expect_error([&] { Rnn r(m, Engine::cpu_reference); }, Status::invalid_argument,
               "model.layers[0].forget_bias");
  m = model;
  m.layers[0].cell = static_cast<Cell>(7);
  expect_error([&] { Rnn r(m, Engine::cpu_reference); }, Status::invalid_argument,
               "model.layers[0].cell");
  m = model;
  m.layers[1].activation = static_cast<Activation>(4);
  expect_error([&] { Rnn r(m, Engine::cpu_reference); }, Status::invalid_argument,
               "model.layers[1].activation: must be Activation::tanh or Activation::relu");
  m = model;
  m.layers[1].cell = Cell::rnn;
  m.layers[1].activation = static_cast<Activation>(-1);
  expect_error([&] { Rnn r(m, Engine::cpu_reference); }, Status::invalid_argument,
               "model.layers[1].activation");
  expect_error([&] { WeightLayout wl(m); }, Status::invalid_argument, "model.layers[1].activation");
  expect_error([&] { export_weights(m, WeightFormat::torch, {}); }, Status::invalid_argument,
               "model.layers[1].activation");
  m = model;
  m.dtype = static_cast<DType>(9);
  expect_error([&] { Rnn r(m, Engine::cpu_reference); }, Status::invalid_argument, "model.dtype");
  m = model;
  m.layout = static_cast<Layout>(9);
  expect_error([&] { Rnn r(m, Engine::cpu_reference); }, Status::invalid_argument, "model.layout");
  // Sizes whose products overflow are refused, not wrapped.
  m = model;
  m.input_size = max_size;
  m.layers.assign(1, model.layers[0]);
  m.layers[0].hidden = max_size;
  Rnn big(m, Engine::cpu_reference);  // the weight count fits in 64 bits
  f.steps = max_size;
  f.batch = max_size;
  expect_error([&] { big.forward(f); }, Status::invalid_argument, "overflows");
}

TEST_F(BadInput, StepsAndBatch) {
  for (int bad : {0, -1}) {
    f.steps = bad;
    expect_forward_error(Status::invalid_argument,
                         "Forward.steps = " + std::to_string(bad) + ": must be in [1,");
  }
  f.steps = T;
  f.batch = 0;
  expect_forward_error(Status::invalid_argument, "Forward.batch = 0: must be in [1,");
}

TEST_F(BadInput, InputSizeMismatch) {
  std::vector<float> x4(std::size_t(T) * B * 4, 1.0f);  // built for input size 4, the model has 5
  f.x = x4;
  expect_forward_error(Status::invalid_argument,
                       "Forward.x: 48 elements, expected [T=4, B=3, I=5] = 60");
}

TEST_F(BadInput, NullPointers) {
  f.x = ConstBuffer(static_cast<const float*>(nullptr), x.size());
  expect_forward_error(Status::invalid_argument, "Forward.x: null pointer with size 60");
  f.x = ConstBuffer();
  expect_forward_error(Status::invalid_argument, "Forward.x is required");
  f.x = x;
  f.weights = ConstBuffer();
  expect_forward_error(Status::invalid_argument, "Forward.weights is required");
  f.weights = w;
  f.y = Buffer();
  expect_forward_error(Status::invalid_argument, "Forward.y is required");
}

TEST_F(BadInput, BufferSizes) {
  f.weights = ConstBuffer(w.data(), w.size() - 1);
  expect_forward_error(Status::invalid_argument,
                       "Forward.weights: " + std::to_string(w.size() - 1) + " elements");
  f.weights = w;
  f.y = Buffer(y.data(), y.size() - 3);
  expect_forward_error(Status::invalid_argument,
                       "Forward.y: 33 elements, expected [T=4, B=3, D=3]");
  f.y = y;
  f.init = ConstBuffer(init.data(), 7);
  expect_forward_error(Status::invalid_argument, "Forward.init: 7 elements");
  f.init = init;
  f.final_state = Buffer(final_state.data(), final_state.size() + 1);
  expect_forward_error(Status::invalid_argument, "Forward.final_state");
}

TEST_F(BadInput, DtypeMismatch) {
  std::vector<double> x64(x.begin(), x.end());
  f.x = x64;
  expect_forward_error(Status::invalid_argument,
                       "Forward.x: dtype float64 does not match the model's float32");
  f.x = x;
  std::vector<double> y64(y.size());
  f.y = y64;
  expect_forward_error(Status::invalid_argument, "Forward.y: dtype float64");
}

TEST_F(BadInput, Lengths) {
  lengths = {4, -1, 0};
  expect_forward_error(Status::invalid_argument,
                       "Forward.lengths[1] = -1: must be in [0, steps=4]");
  lengths = {4, 2, 5};
  expect_forward_error(Status::invalid_argument, "Forward.lengths[2] = 5: must be in [0, steps=4]");
}

TEST_F(BadInput, Stream) {
  Rnn rnn(model, Engine::cpu_reference);
  int fake = 0;
  expect_error([&] { rnn.forward(f, reinterpret_cast<Stream>(&fake)); }, Status::invalid_argument,
               "stream: the cpu_reference engine runs on the calling thread");
  expect_outputs_untouched();
}

TEST_F(BadInput, BackwardBuffers) {
  b.dy = ConstBuffer();
  expect_backward_error(Status::invalid_argument, "Backward.dy is required");
  b.dy = dy;
  b.dweights = Buffer();
  expect_backward_error(Status::invalid_argument, "Backward.dweights is required");
  b.dweights = dw;
  b.dx = Buffer(dx.data(), dx.size() - 1);
  expect_backward_error(Status::invalid_argument, "Backward.dx: 59 elements");
  b.dx = dx;
  std::vector<double> dfinal64(init.size());
  b.dfinal = dfinal64;
  expect_backward_error(Status::invalid_argument, "Backward.dfinal: dtype float64");
}

TEST_F(BadInput, Reserve) {
  Rnn rnn(model, Engine::cpu_reference);
  const std::size_t need = rnn.reserve_bytes(T, B);
  std::vector<unsigned char> reserve(need, 0);
  expect_error(
      [&] {
        rnn.forward_train(f, {nullptr, need});
      },
      Status::invalid_argument, "reserve.data is null");
  expect_error(
      [&] {
        rnn.forward_train(f, {reserve.data(), need - 1});
      },
      Status::invalid_argument,
      "reserve.bytes = " + std::to_string(need - 1) + ": must be at least");
  // A reserve that forward_train never filled, or filled for other sizes, is refused.
  expect_error(
      [&] {
        rnn.backward(f, b, {reserve.data(), need});
      },
      Status::invalid_argument, "reserve: was not filled by this plan's forward_train");
  Forward longer = f;
  std::vector<float> x5(std::size_t(5) * B * 5, 0.5f), y5(std::size_t(5) * B * 3);
  longer.steps = 5;
  longer.x = x5;
  longer.y = y5;
  longer.final_state = Buffer();
  std::vector<unsigned char> big(rnn.reserve_bytes(5, B));
  rnn.forward_train(longer, {big.data(), big.size()});
  expect_error(
      [&] {
        rnn.backward(f, b, {big.data(), big.size()});
      },
      Status::invalid_argument, "with steps = 4 and batch = 3");
  expect_error([&] { (void)rnn.reserve_bytes(0, B); }, Status::invalid_argument,
               "reserve_bytes(steps = 0, batch = 3)");
  expect_outputs_untouched();
}

TEST_F(BadInput, Engines) {
  expect_error([&] { (void)parse_engine("gpu"); }, Status::invalid_argument,
               "engine 'gpu' is unknown: use one of cpu_reference, cpu, gpu_dynamic");
  expect_error([&] { Rnn r(model, static_cast<Engine>(42)); }, Status::invalid_argument,
               "engine = 42");
  for (Engine e :
       {Engine::gpu_dynamic, Engine::gpu_static, Engine::gpu_persistent, Engine::cudnn}) {
    // Without CUDA in the build or without a GPU, each GPU engine names itself and the reason.
    const std::string name = to_string(e);
    if (!build_info().cuda) {
      expect_error([&] { Rnn r(model, e); }, Status::not_built, "engine " + name + " is not built");
    } else if (gpus().devices.empty()) {
      expect_error([&] { Rnn r(model, e); }, Status::no_device,
                   "engine " + name + " finds no GPU: " + gpus().why_none);
    }
  }
}

// The fused engines' GEMMs take int sizes: a call beyond 2^31 - 1 rows is refused before any
// memory is touched (the buffers here are never read).
TEST_F(BadInput, GemmSizeLimit) {
  Model m = model;
  m.input_size = 1;
  m.layers.assign(1, model.layers[1]);
  m.layers[0].hidden = 1;
  Rnn rnn(m, Engine::cpu);
  const int steps = 1 << 16, batch = (1 << 15) + 1;
  const std::size_t n = std::size_t(steps) * batch;
  std::vector<float> weights(WeightLayout(m).size());
  float never_read = 0;
  Forward huge;
  huge.steps = steps;
  huge.batch = batch;
  huge.x = ConstBuffer(&never_read, n);
  huge.weights = weights;
  huge.y = Buffer(&never_read, n);
  expect_error([&] { rnn.forward(huge); }, Status::unsupported,
               "Forward.steps * Forward.batch = 2147549184: the cpu engine's GEMMs take at most");
}

TEST_F(BadInput, Options) {
  Options o;
  o.cpu.threads = -1;
  expect_error([&] { Rnn r(model, Engine::cpu_reference, o); }, Status::invalid_argument,
               "Options.cpu.threads = -1");
  o.cpu.threads = 4;
  expect_error([&] { Rnn r(model, Engine::cpu_reference, o); }, Status::unsupported,
               "cpu_reference is single-threaded");
  o.cpu.threads = 0;
  o.allow_tf32 = true;
  expect_error([&] { Rnn r(model, Engine::cpu_reference, o); }, Status::unsupported,
               "Options.allow_tf32");
  // `auto` treats these as permissions: it drops what its choice cannot use.
  o.cpu.threads = 4;
  EXPECT_NO_THROW(Rnn(model, Engine::automatic, o));
}

TEST_F(BadInput, LayoutAccessors) {
  const WeightLayout wl(model);
  expect_error([&] { (void)wl.offset(2, Dir::fw, Param::Wx); }, Status::invalid_argument,
               "layer = 2: must be in [0, 2)");
  expect_error([&] { (void)wl.offset(1, Dir::bw, Param::Wx); }, Status::invalid_argument,
               "not bidirectional");
  expect_error([&] { (void)wl.offset(0, Dir::fw, Param::Wx, 4); }, Status::invalid_argument,
               "gate = 4: must be in [0, 4)");
  const StateLayout sl(model, B);
  expect_error([&] { (void)sl.c(1, Dir::fw); }, Status::invalid_argument,
               "only LSTM layers have a c state");
  expect_error([&] { StateLayout s(model, 0); }, Status::invalid_argument, "batch = 0");
}

}  // namespace
}  // namespace rnnx
