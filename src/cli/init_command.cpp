// rnnx init: random inputs and weights for `rnnx run`, so a model can be tried without NumPy.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "io/npy.h"
#include "io/output_files.h"

namespace rnnx::cli {

namespace {

namespace fs = std::filesystem;
using Shape = std::vector<std::size_t>;

class Writer {
 public:
  Writer(fs::path dir, DType dtype, std::uint64_t seed)
      : files_(std::move(dir)), dtype_(dtype), rng_(seed) {}

  // n values uniform in [-scale, scale), rounded to the dtype: never all zeros, so a test of
  // them cannot pass by accident.
  std::vector<double> draw(std::size_t n, double scale) {
    std::uniform_real_distribution<double> u(-scale, scale);
    std::vector<double> v(n);
    for (double& e : v) e = dtype_ == DType::f64 ? u(rng_) : static_cast<float>(u(rng_));
    return v;
  }

  void random(const std::string& name, const Shape& shape, double scale) {
    std::size_t n = 1;
    for (std::size_t d : shape) n *= d;
    write_values(name, shape, draw(n, scale));
  }

  void write_values(const std::string& name, const Shape& shape, const std::vector<double>& v) {
    if (dtype_ == DType::f64) {
      write(name, io::make_npy(io::NpyType::f64, shape, v.data()));
    } else {
      const std::vector<float> f(v.begin(), v.end());
      write(name, io::make_npy(io::NpyType::f32, shape, f.data()));
    }
  }

  void write(const std::string& name, const io::NpyArray& a) { files_.add_npy(name, a); }
  void write_text(const std::string& name, std::string text) { files_.add(name, std::move(text)); }

  // Every file is written here, as one group: all replaced or, on any failure, none.
  void commit() const { files_.commit(); }

  std::mt19937_64& rng() { return rng_; }
  std::string written() const { return files_.names(); }

 private:
  io::OutputFiles files_;
  DType dtype_;
  std::mt19937_64 rng_;
};

}  // namespace

int init_command(const std::vector<std::string>& argv) {
  const InitOptions options = parse_init_options(argv);  // no file system before this
  const fs::path dir = options.dir;
  const int T = options.steps;
  const int B = options.batch;
  const int seed = options.seed;

  Model model;
  if (options.model) {
    io::Json json;
    try {
      json = io::read_json_file(*options.model);
    } catch (const Error& e) {
      throw BadInput(e.what());
    }
    model = model_from_json(json, *options.model);
  } else {
    model = seed_model(*options.seed_model);
  }
  if (options.dtype) model.dtype = *options.dtype;

  const WeightFormat format = options.format;
  try {
    check_weight_format(model, format);  // a model the format cannot hold: exit 3, as for run
  } catch (const Error& e) {
    throw Error(e.status(), std::string("--weights-format ") + to_string(format) + ": " + e.what());
  }

  std::error_code created;
  fs::create_directories(dir, created);
  if (created) throw BadInput(dir.string() + ": cannot create the folder: " + created.message());
  Writer w(dir, model.dtype, static_cast<std::uint64_t>(seed));
  const bool write_model = options.seed_model || options.dtype;
  if (write_model) {
    w.write_text("model.json", model_to_json(model).dump(2) + '\n');
  }

  const auto t = static_cast<std::size_t>(T), b = static_cast<std::size_t>(B);
  const bool tm = model.layout == Layout::time_major;
  const auto I = static_cast<std::size_t>(model.input_size);
  const auto D = static_cast<std::size_t>(output_size(model));
  w.random("x.npy", tm ? Shape{t, b, I} : Shape{b, t, I}, 1.0);
  if (options.lengths == LengthsMode::mixed) {
    // The first sequence is full length, the others anywhere in [0, T].
    std::uniform_int_distribution<int> len(0, T);
    std::vector<std::int32_t> lengths(B);
    for (int k = 0; k < B; ++k) lengths[k] = k == 0 ? T : len(w.rng());
    w.write("lengths.npy", io::make_npy(io::NpyType::i32, Shape{b}, lengths.data()));
  }
  // The canonical weights are drawn tensor by tensor, then written in the chosen format, so the
  // same seed gives the same model in every format.
  const WeightLayout wl(model);
  std::vector<double> weights(wl.size());
  for (int l = 0; l < static_cast<int>(model.layers.size()); ++l) {
    const Layer& layer = model.layers[l];
    const double scale = 1.0 / std::sqrt(static_cast<double>(layer.hidden));  // as frameworks do
    for (int d = 0; d < directions(layer); ++d) {
      const Dir dir_d = d == 0 ? Dir::fw : Dir::bw;
      for (Param p : {Param::Wx, Param::Wh, Param::bx, Param::bh}) {
        const std::vector<double> v = w.draw(wl.rows(l, p) * wl.cols(l, p), scale);
        std::copy(v.begin(), v.end(), weights.begin() + wl.offset(l, dir_d, p));
      }
    }
  }
  for (const NamedTensor& tensor : export_weights(model, format, weights)) {
    w.write_values(tensor.name + ".npy", tensor.shape, tensor.values);
  }
  if (options.grad) w.random("dy.npy", tm ? Shape{t, b, D} : Shape{b, t, D}, 1.0);
  w.commit();

  std::printf("rnnx init: %s, T=%d B=%d: wrote %s into %s\n", describe(model).c_str(), T, B,
              w.written().c_str(), dir.string().c_str());
  return exit_ok;
}

}  // namespace rnnx::cli
