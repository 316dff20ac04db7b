// Runs a model through an installed rnnx and checks the result is sane. Exit 0 on success.
#include <rnnx/rnnx.h>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  // The seed notebook's "mix" (LSTM then GRU of twice the size), built by hand: the seed models
  // are not part of the installed library.
  rnnx::Model model;
  model.input_size = 28;
  model.dtype = rnnx::DType::f64;
  model.layers.resize(2);
  model.layers[0].cell = rnnx::Cell::lstm;
  model.layers[0].hidden = 16;
  model.layers[0].forget_bias = 1.0;
  model.layers[1].cell = rnnx::Cell::gru;
  model.layers[1].hidden = 32;
  model.layers[1].gru_reset = rnnx::GruReset::before_matmul;
  rnnx::Rnn rnn(model, rnnx::Engine::automatic);
  const int steps = 28, batch = 4;
  std::vector<double> x(std::size_t(steps) * batch * model.input_size, 0.25);
  std::vector<double> w(rnnx::WeightLayout(model).size(), 0.05);
  std::vector<double> y(std::size_t(steps) * batch * rnnx::output_size(model), std::nan(""));
  const std::vector<std::int32_t> lengths = {28, 3, 0, 17};
  rnnx::Forward f;
  f.steps = steps;
  f.batch = batch;
  f.x = x;
  f.weights = w;
  f.lengths = lengths.data();
  f.y = y;
  rnn.forward(f);
  for (double v : y) {
    if (!std::isfinite(v)) {
      std::fprintf(stderr, "consumer: non-finite output\n");
      return 1;
    }
  }
  std::printf("consumer: rnnx %s (CUDA %d), engine %s, y[0] = %.6f\n", RNNX_VERSION_STRING,
              RNNX_WITH_CUDA, rnnx::to_string(rnn.engine()), y[0]);
  // `auto` asked for the GPU engines first, which loaded the GPU module (CUDA builds).
  const rnnx::BuildInfo info = rnnx::build_info();
  std::printf("consumer: GPU module [%s] problem [%s]\n", info.gpu_module.c_str(),
              info.gpu_module_problem.c_str());
  return y[0] != 0.0 ? 0 : 1;
}
