// `rnnx run --weights-format`: one model written in every framework's files gives one result; TF's
// cell formulas recomputed by hand from its own tensors; PyTorch's goldens (tests/data/torch,
// written by tests/interop/torch_goldens.py); and the files rnnx refuses.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "io/npy.h"
#include "support/test_support.h"

namespace rnnx {
namespace {

namespace fs = std::filesystem;
using Outcome = test::ProgramOutcome;

Outcome rnnx_cli(const std::string& arguments, const fs::path& scratch) {
  return test::run_program(std::string(RNNX_CLI_PATH) + " " + arguments, scratch);
}

Model read_model(const fs::path& path) {
  return cli::model_from_json(io::read_json_file(path.string()), path.string());
}

using cli::gradient_file;

// A model each format can hold: torch and onnx have no forget bias, tf's GRUCell resets before
// the matmul and PyTorch's after; onnx has both. With `rnn`, a stack with vanilla RNN layers of
// both activations behind the same bidirectional LSTM.
std::string model_json_for(WeightFormat format, bool rnn) {
  if (rnn) {
    return std::string(R"({"input_size": 3, "layers": [
        {"cell": "lstm", "hidden": 4, "bidirectional": true)") +
           (format == WeightFormat::tf ? R"(, "forget_bias": 1.0)" : "") + R"(},
        {"cell": "rnn", "hidden": 5, "activation": "relu"},
        {"cell": "rnn", "hidden": 3, "bidirectional": true, "activation": "tanh"}]})";
  }
  switch (format) {
    case WeightFormat::tf:
      return R"({"input_size": 3, "layers": [
        {"cell": "lstm", "hidden": 4, "bidirectional": true, "forget_bias": 1.0},
        {"cell": "gru", "hidden": 5, "gru_reset": "before"}]})";
    case WeightFormat::torch:
      return R"({"input_size": 3, "layers": [
        {"cell": "lstm", "hidden": 4, "bidirectional": true},
        {"cell": "gru", "hidden": 5, "bidirectional": true}]})";
    default:
      return R"({"input_size": 3, "layers": [
        {"cell": "lstm", "hidden": 4, "bidirectional": true},
        {"cell": "gru", "hidden": 5, "gru_reset": "before"},
        {"cell": "gru", "hidden": 3, "bidirectional": true, "gru_reset": "after"}]})";
  }
}

struct FormatParam {
  WeightFormat format;
  const char* dtype;
  bool rnn = false;  // the model of model_json_for(format, true)
};

class WeightFormatRun : public ::testing::TestWithParam<FormatParam> {
 protected:
  test::ScratchDir folder{"rnnx_test_cli_interop"};
  fs::path scratch = folder.path() / "scratch";

  // `rnnx init` then `rnnx run --grad` of the same seed in `format`, in folder/<format>.
  fs::path init_and_run(WeightFormat format) {
    const fs::path dir = folder.path() / to_string(format);
    fs::create_directories(dir);
    fs::create_directories(scratch);
    std::ofstream(folder.path() / "model.json")
        << model_json_for(GetParam().format, GetParam().rnn);
    const std::string f = std::string(" --weights-format ") + to_string(format);
    const Outcome init = rnnx_cli("init --model " + (folder.path() / "model.json").string() +
                                      " --dir " + dir.string() + " --dtype " + GetParam().dtype +
                                      " --steps 5 --batch 4 --seed 7 --grad" + f,
                                  scratch);
    EXPECT_EQ(init.code, 0) << init.err;
    const Outcome run = rnnx_cli("run --model " + (dir / "model.json").string() + " --dir " +
                                     dir.string() + " --engine cpu_reference --grad" + f,
                                 scratch);
    EXPECT_EQ(run.code, 0) << run.err;
    return dir;
  }
};

TEST_P(WeightFormatRun, GivesTheResultsOfTheCanonicalFiles) {
  const WeightFormat format = GetParam().format;
  const fs::path canonical = init_and_run(WeightFormat::rnnx), other = init_and_run(format);
  const Model model = read_model(canonical / "model.json");
  // tf's one bias holds bx + bh, rounded once: everything else moves values without arithmetic.
  const bool f64 = model.dtype == DType::f64;
  const double bound = format != WeightFormat::tf ? 0.0 : f64 ? 1e-13 : 1e-5;
  double worst = 0;
  auto compare = [&](const std::vector<double>& got, const std::vector<double>& ref,
                     const std::string& what) {
    const double e = test::max_rel_error(got, ref);
    worst = std::max(worst, e);
    EXPECT_LE(e, bound) << what;
  };
  std::vector<std::string> files = {"y.npy",         "dx.npy",       "L0.fw.hn.npy", "L0.bw.cn.npy",
                                    "L0.bw.dh0.npy", "L1.fw.hn.npy", "L1.fw.dh0.npy"};
  if (GetParam().rnn) files.insert(files.end(), {"L2.bw.hn.npy", "L2.bw.dh0.npy"});
  for (const std::string& file : files) {
    compare(test::read_npy_values(other / file), test::read_npy_values(canonical / file), file);
  }
  // The format's gradient files are rnnx's gradients converted by export_gradients.
  std::vector<NamedTensor> dcanonical;
  for (const TensorSpec& spec : weight_tensors(model, WeightFormat::rnnx)) {
    dcanonical.push_back(
        {spec.name, spec.shape, test::read_npy_values(canonical / gradient_file(spec.name))});
  }
  const std::vector<double> dweights = import_weights(model, WeightFormat::rnnx, dcanonical);
  for (const NamedTensor& t : export_gradients(model, format, dweights)) {
    const fs::path file = other / gradient_file(t.name);
    ASSERT_TRUE(fs::exists(file)) << file;
    compare(test::read_npy_values(file), t.values, file.filename().string());
  }
  RecordProperty("max_rel_error", test::scientific(worst));
}

INSTANTIATE_TEST_SUITE_P(Cli, WeightFormatRun,
                         ::testing::Values(FormatParam{WeightFormat::tf, "float64"},
                                           FormatParam{WeightFormat::tf, "float32"},
                                           FormatParam{WeightFormat::torch, "float64"},
                                           FormatParam{WeightFormat::torch, "float32"},
                                           FormatParam{WeightFormat::onnx, "float64"},
                                           FormatParam{WeightFormat::onnx, "float32"},
                                           FormatParam{WeightFormat::tf, "float64", true},
                                           FormatParam{WeightFormat::tf, "float32", true},
                                           FormatParam{WeightFormat::torch, "float64", true},
                                           FormatParam{WeightFormat::torch, "float32", true},
                                           FormatParam{WeightFormat::onnx, "float64", true},
                                           FormatParam{WeightFormat::onnx, "float32", true}),
                         [](const ::testing::TestParamInfo<FormatParam>& p) {
                           return std::string(to_string(p.param.format)) + "_" + p.param.dtype +
                                  (p.param.rnn ? "_rnn" : "");
                         });

double sig(double v) {
  return 1.0 / (1.0 + std::exp(-v));
}

// out[n] = sum_k in[k] * kernel[k, n] + bias[n], kernel [in.size(), N] row-major.
std::vector<double> affine(const std::vector<double>& in, const std::vector<double>& kernel,
                           const std::vector<double>& bias) {
  const std::size_t N = bias.size();
  std::vector<double> out = bias;
  for (std::size_t k = 0; k < in.size(); ++k) {
    for (std::size_t n = 0; n < N; ++n) out[n] += in[k] * kernel[k * N + n];
  }
  return out;
}

// TF 1.x's cells written out from their documented formulas on TF's own tensors (kernels
// [I+H, n*H] applied to concat(x, h); LSTM gates i, j, f, o; GRU gates r, u and the candidate on
// concat(x, r*h)), one sequence after the other; rnnx must give the same outputs from the same
// files. This checks the meaning of the tf format, not only that it round-trips.
class TfCells : public ::testing::Test {
 protected:
  static constexpr int I = 2, H = 3, T = 3, B = 2;
  test::ScratchDir folder{"rnnx_test_tf_cells"};

  std::vector<double> write(const std::string& name, std::vector<std::size_t> shape,
                            std::uint64_t seed) {
    std::size_t n = 1;
    for (std::size_t d : shape) n *= d;
    std::vector<double> v = test::random_values(n, seed);
    io::write_npy((folder.path() / name).string(),
                  io::make_npy(io::NpyType::f64, std::move(shape), v.data()));
    return v;
  }

  // x [T, B, I]; returns y [T, B, H] as rnnx computed it.
  std::vector<double> run_rnnx(const std::string& model_json, const char* engine = "cpu") {
    std::ofstream(folder.path() / "model.json") << model_json;
    const fs::path scratch = folder.path() / "scratch";
    fs::create_directories(scratch);
    const Outcome o =
        rnnx_cli("run --model " + (folder.path() / "model.json").string() + " --dir " +
                     folder.path().string() + " --engine " + engine + " --weights-format tf",
                 scratch);
    EXPECT_EQ(o.code, 0) << o.err;
    return test::read_npy_values(folder.path() / "y.npy");
  }

  static std::vector<double> concat(const double* x, const std::vector<double>& h) {
    std::vector<double> v(x, x + I);
    v.insert(v.end(), h.begin(), h.end());
    return v;
  }
};

TEST_F(TfCells, BasicLstmCell) {
  const double forget_bias = 1.0;
  const std::vector<double> x = write("x.npy", {T, B, I}, 1);
  const std::vector<double> kernel = write("L0.fw.kernel.npy", {I + H, 4 * H}, 2);
  const std::vector<double> bias = write("L0.fw.bias.npy", {4 * H}, 3);
  const std::vector<double> y = run_rnnx(R"({"input_size": 2, "dtype": "float64",
      "layers": [{"cell": "lstm", "hidden": 3, "forget_bias": 1.0}]})");
  ASSERT_EQ(y.size(), std::size_t(T * B * H));
  double worst = 0;
  for (int b = 0; b < B; ++b) {
    std::vector<double> h(H, 0.0), c(H, 0.0);
    for (int t = 0; t < T; ++t) {
      const std::vector<double> z = affine(concat(&x[(t * B + b) * I], h), kernel, bias);
      for (int u = 0; u < H; ++u) {
        const double i = z[u], j = z[H + u], f = z[2 * H + u], o = z[3 * H + u];
        c[u] = c[u] * sig(f + forget_bias) + sig(i) * std::tanh(j);
        h[u] = std::tanh(c[u]) * sig(o);
        worst = std::max(worst, std::abs(y[(t * B + b) * H + u] - h[u]));
      }
    }
  }
  EXPECT_LT(worst, 1e-14);
}

TEST_F(TfCells, GruCell) {
  const std::vector<double> x = write("x.npy", {T, B, I}, 4);
  const std::vector<double> gk = write("L0.fw.gates_kernel.npy", {I + H, 2 * H}, 5);
  const std::vector<double> gb = write("L0.fw.gates_bias.npy", {2 * H}, 6);
  const std::vector<double> ck = write("L0.fw.candidate_kernel.npy", {I + H, H}, 7);
  const std::vector<double> cb = write("L0.fw.candidate_bias.npy", {H}, 8);
  const std::vector<double> y = run_rnnx(R"({"input_size": 2, "dtype": "float64",
      "layers": [{"cell": "gru", "hidden": 3, "gru_reset": "before"}]})");
  ASSERT_EQ(y.size(), std::size_t(T * B * H));
  double worst = 0;
  for (int b = 0; b < B; ++b) {
    std::vector<double> h(H, 0.0);
    for (int t = 0; t < T; ++t) {
      const double* xt = &x[(t * B + b) * I];
      std::vector<double> gates = affine(concat(xt, h), gk, gb);
      for (double& g : gates) g = sig(g);  // r = gates[0:H], u = gates[H:2H]
      std::vector<double> rh(H);
      for (int u = 0; u < H; ++u) rh[u] = gates[u] * h[u];
      const std::vector<double> cand = affine(concat(xt, rh), ck, cb);
      for (int u = 0; u < H; ++u) {
        const double update = gates[H + u];
        h[u] = update * h[u] + (1 - update) * std::tanh(cand[u]);
        worst = std::max(worst, std::abs(y[(t * B + b) * H + u] - h[u]));
      }
    }
  }
  EXPECT_LT(worst, 1e-14);
}

// BasicRNNCell: h = act(concat(x, h) kernel + bias), kernel [I+H, H], with tanh and with relu
// (tf.nn.relu), on both CPU engines.
TEST_F(TfCells, BasicRnnCell) {
  const std::vector<double> x = write("x.npy", {T, B, I}, 9);
  const std::vector<double> kernel = write("L0.fw.kernel.npy", {I + H, H}, 10);
  const std::vector<double> bias = write("L0.fw.bias.npy", {H}, 11);
  for (const char* activation : {"tanh", "relu"}) {
    const bool relu = std::string(activation) == "relu";
    std::vector<double> expected(std::size_t(T * B * H));
    int zeros = 0;
    for (int b = 0; b < B; ++b) {
      std::vector<double> h(H, 0.0);
      for (int t = 0; t < T; ++t) {
        const std::vector<double> z = affine(concat(&x[(t * B + b) * I], h), kernel, bias);
        for (int u = 0; u < H; ++u) {
          h[u] = relu ? std::max(z[u], 0.0) : std::tanh(z[u]);
          zeros += h[u] == 0.0;
          expected[(t * B + b) * H + u] = h[u];
        }
      }
    }
    if (relu) {
      EXPECT_GT(zeros, 0) << "the inputs never reach relu's flat half";
    }
    for (const char* engine : {"cpu_reference", "cpu"}) {
      SCOPED_TRACE(std::string(activation) + " on " + engine);
      const std::vector<double> y = run_rnnx(std::string(R"({"input_size": 2, "dtype": "float64",
          "layers": [{"cell": "rnn", "hidden": 3, "activation": ")") +
                                                 activation + R"("}]})",
                                             engine);
      ASSERT_EQ(y.size(), expected.size());
      EXPECT_LT(test::max_rel_error(y, expected), 1e-14);
    }
  }
}

// PyTorch's float64 forward outputs and autograd gradients, committed under tests/data/torch:
// every file under <case>/expected must be what `rnnx run --weights-format torch --grad` writes.
struct GoldenParam {
  std::string golden;
  Engine engine;
};

class TorchGolden : public ::testing::TestWithParam<GoldenParam> {};

TEST_P(TorchGolden, MatchesPyTorch) {
  const fs::path source = fs::path(RNNX_TORCH_GOLDENS_DIR) / GetParam().golden;
  test::ScratchDir folder("rnnx_test_torch_golden");
  const fs::path dir = folder.path() / "case", scratch = folder.path() / "scratch";
  fs::create_directories(scratch);
  fs::copy(source, dir, fs::copy_options::recursive);
  const Outcome o =
      rnnx_cli("run --model " + (dir / "model.json").string() + " --dir " + dir.string() +
                   " --grad --weights-format torch --engine " + to_string(GetParam().engine),
               scratch);
  ASSERT_EQ(o.code, 0) << o.err;
  double worst = 0;
  int files = 0;
  for (const auto& entry : fs::directory_iterator(source / "expected")) {
    const std::string name = entry.path().filename().string();
    const double e =
        test::max_rel_error(test::read_npy_values(dir / name), test::read_npy_values(entry.path()));
    EXPECT_LT(e, 1e-12) << name;
    worst = std::max(worst, e);
    ++files;
  }
  EXPECT_GE(files, 8);  // y, final states, dx and at least four weight gradients
  RecordProperty("max_rel_error", test::scientific(worst));
}

std::vector<GoldenParam> torch_goldens() {
  std::vector<GoldenParam> params;
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(RNNX_TORCH_GOLDENS_DIR)) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    for (Engine e : {Engine::cpu_reference, Engine::cpu}) params.push_back({name, e});
  }
  return params;
}

INSTANTIATE_TEST_SUITE_P(Cli, TorchGolden, ::testing::ValuesIn(torch_goldens()),
                         [](const ::testing::TestParamInfo<GoldenParam>& p) {
                           return test::test_name(p.param.golden + "_" + to_string(p.param.engine));
                         });

TEST(CliWeightFormats, GoldensAreThere) {
  // A goldens folder lost in a move must fail, not leave TorchGolden with nothing to run.
  EXPECT_GE(torch_goldens().size(), 16u);
  std::size_t rnn = 0;
  for (const GoldenParam& p : torch_goldens()) rnn += p.golden.find("rnn_") != std::string::npos;
  EXPECT_GE(rnn, 6u);  // three nn.RNN goldens (tanh, relu, mixed stack) on two engines
}

// nn.RNN's nonlinearity is not in its state_dict, so the golden's model.json carries it: the same
// files with the other activation must not pass, or the goldens would not pin it down.
TEST(CliWeightFormats, RnnGoldensDependOnTheModelsActivation) {
  for (const char* golden :
       {"rnn_tanh_1_layer_mixed_lengths", "rnn_relu_2_layers_bi_mixed_lengths"}) {
    SCOPED_TRACE(golden);
    const fs::path source = fs::path(RNNX_TORCH_GOLDENS_DIR) / golden;
    test::ScratchDir folder("rnnx_test_torch_activation");
    const fs::path dir = folder.path() / "case", scratch = folder.path() / "scratch";
    fs::create_directories(scratch);
    fs::copy(source, dir, fs::copy_options::recursive);
    Model model = read_model(dir / "model.json");
    for (Layer& layer : model.layers) {
      ASSERT_EQ(layer.cell, Cell::rnn);
      layer.activation = layer.activation == Activation::tanh ? Activation::relu : Activation::tanh;
    }
    std::ofstream(dir / "model.json") << cli::model_to_json(model).dump();
    const Outcome o = rnnx_cli("run --model " + (dir / "model.json").string() + " --dir " +
                                   dir.string() + " --weights-format torch --engine cpu_reference",
                               scratch);
    ASSERT_EQ(o.code, 0) << o.err;
    EXPECT_GT(test::max_rel_error(test::read_npy_values(dir / "y.npy"),
                                  test::read_npy_values(source / "expected" / "y.npy")),
              0.01);
  }
}

// Files rnnx cannot use are refused before anything is computed: exit 3 for what rnnx lacks
// (peepholes, projections, a forget bias the format cannot hold), 2 for a missing or misshapen
// file or an unknown format, with one line naming the file; no output is written.
class WeightFormatRefusal : public ::testing::Test {
 protected:
  test::ScratchDir folder{"rnnx_test_cli_refusal"};
  fs::path dir = folder.path() / "in", scratch = folder.path() / "scratch";

  void init(const std::string& model_json, const std::string& format) {
    fs::create_directories(dir);
    fs::create_directories(scratch);
    std::ofstream(dir / "model.json") << model_json;
    const Outcome o = rnnx_cli("init --model " + (dir / "model.json").string() + " --dir " +
                                   dir.string() + " --steps 3 --batch 2 --weights-format " + format,
                               scratch);
    ASSERT_EQ(o.code, 0) << o.err;
  }

  void expect_refused(const std::string& format, int code, const std::string& what1,
                      const std::string& what2, const std::string& engine = "cpu") {
    const Outcome o =
        rnnx_cli("run --model " + (dir / "model.json").string() + " --dir " + dir.string() +
                     " --engine " + engine + " --weights-format " + format,
                 scratch);
    EXPECT_EQ(o.code, code) << o.err;
    EXPECT_NE(o.err.find(what1), std::string::npos) << o.err;
    EXPECT_NE(o.err.find(what2), std::string::npos) << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
    EXPECT_FALSE(fs::exists(dir / "y.npy"));
  }

  static void write_zeros(const fs::path& path, std::vector<std::size_t> shape) {
    std::size_t n = 1;
    for (std::size_t d : shape) n *= d;
    const std::vector<float> v(n, 0.0f);
    io::write_npy(path.string(), io::make_npy(io::NpyType::f32, std::move(shape), v.data()));
  }
};

const char* kLstm = R"({"input_size": 2, "layers": [{"cell": "lstm", "hidden": 3}]})";

TEST_F(WeightFormatRefusal, OnnxPeepholes) {
  init(kLstm, "onnx");
  write_zeros(dir / "L0.P.npy", {1, 9});
  expect_refused("onnx", 3, "L0.P.npy", "peephole");
}

TEST_F(WeightFormatRefusal, TorchProjection) {
  init(kLstm, "torch");
  write_zeros(dir / "weight_hr_l0.npy", {2, 3});
  expect_refused("torch", 3, "weight_hr_l0.npy", "proj_size");
}

TEST_F(WeightFormatRefusal, TfPeepholes) {
  init(kLstm, "tf");
  write_zeros(dir / "L0.fw.w_i_diag.npy", {3});
  expect_refused("tf", 3, "L0.fw.w_i_diag.npy", "use_peepholes");
}

TEST_F(WeightFormatRefusal, ForgetBiasInTorch) {
  init(R"({"input_size": 2, "layers": [{"cell": "lstm", "hidden": 3, "forget_bias": 1.0}]})", "tf");
  expect_refused("torch", 3, "--weights-format torch", "forget_bias = 1.000000");
}

TEST_F(WeightFormatRefusal, FilesOfAnotherModel) {
  // Weights of a bidirectional two-layer model, run with a one-direction one-layer model: the
  // files it has no tensor for are refused, not ignored.
  init(R"({"input_size": 2, "layers": [{"cell": "lstm", "hidden": 3, "bidirectional": true},
                                      {"cell": "lstm", "hidden": 3}]})",
       "torch");
  std::ofstream(dir / "model.json") << kLstm;
  expect_refused("torch", 2, "_reverse.npy", "a torch weight file for a layer or direction");
  for (const char* file : {"weight_ih_l0_reverse.npy", "weight_hh_l0_reverse.npy",
                           "bias_ih_l0_reverse.npy", "bias_hh_l0_reverse.npy"}) {
    fs::remove(dir / file);
  }
  expect_refused("torch", 2, "_l1.npy", "the model does not have");
}

TEST_F(WeightFormatRefusal, OnnxGruHasNoPeepholesToRefuse) {
  init(R"({"input_size": 2, "layers": [{"cell": "gru", "hidden": 3}]})", "onnx");
  write_zeros(dir / "L0.P.npy", {1, 9});  // not an input of ONNX's GRU: an unrelated file
  const Outcome o = rnnx_cli("run --model " + (dir / "model.json").string() + " --dir " +
                                 dir.string() + " --engine cpu --weights-format onnx",
                             scratch);
  EXPECT_EQ(o.code, 0) << o.err;
}

TEST_F(WeightFormatRefusal, WrongDtype) {
  init(kLstm, "onnx");
  const std::vector<double> v(24, 0.5);
  io::write_npy((dir / "L0.B.npy").string(), io::make_npy(io::NpyType::f64, {1, 24}, v.data()));
  expect_refused("onnx", 2, "L0.B.npy", "element type <f8, the model is float32");
}

TEST_F(WeightFormatRefusal, InitRefusesWhatTheFormatCannotHoldAsRunDoes) {
  fs::create_directories(dir);
  fs::create_directories(scratch);
  std::ofstream(dir / "model.json")
      << R"({"input_size": 2, "layers": [{"cell": "lstm", "hidden": 3, "forget_bias": 1.0}]})";
  const Outcome o = rnnx_cli("init --model " + (dir / "model.json").string() + " --dir " +
                                 (dir / "out").string() + " --weights-format onnx",
                             scratch);
  EXPECT_EQ(o.code, 3) << o.err;
  EXPECT_NE(o.err.find("--weights-format onnx: layer 0: forget_bias"), std::string::npos) << o.err;
  EXPECT_FALSE(fs::exists(dir / "out"));
}

const char* kRnn =
    R"({"input_size": 2, "layers": [{"cell": "rnn", "hidden": 3, "activation": "relu"}]})";

TEST_F(WeightFormatRefusal, TfRnnKernelOfTheWrongShape) {
  init(kRnn, "tf");
  write_zeros(dir / "L0.fw.kernel.npy", {5, 12});  // an LSTM's [I+H, 4H]
  expect_refused("tf", 2, "L0.fw.kernel.npy", "expected (5, 3) = tf weights of layer 0",
                 "cpu_reference");
  write_zeros(dir / "L0.fw.kernel.npy", {2, 3});  // Wx alone, without the H rows of Wh
  expect_refused("tf", 2, "L0.fw.kernel.npy", "expected (5, 3)", "cpu_reference");
}

TEST_F(WeightFormatRefusal, LstmFilesForAnRnn) {
  // An LSTM's state_dict has the RNN's names with four times the rows: refused by shape.
  init(kLstm, "torch");
  std::ofstream(dir / "model.json") << kRnn;
  expect_refused("torch", 2, "weight_ih_l0.npy", "expected (3, 2) = torch weights of layer 0",
                 "cpu_reference");
  init(kLstm, "onnx");
  std::ofstream(dir / "model.json") << kRnn;
  expect_refused("onnx", 2, "L0.W.npy", "expected (1, 3, 2)", "cpu_reference");
}

TEST_F(WeightFormatRefusal, CStateForAnRnn) {
  init(kRnn, "torch");
  write_zeros(dir / "L0.fw.c0.npy", {2, 3});
  expect_refused("torch", 2, "L0.fw.c0.npy", "no c state", "cpu_reference");
}

TEST_F(WeightFormatRefusal, MissingAndMisshapenFiles) {
  init(kLstm, "tf");
  fs::remove(dir / "L0.fw.bias.npy");
  expect_refused("tf", 2, "L0.fw.bias.npy", "No such file");
  write_zeros(dir / "L0.fw.bias.npy", {3, 4});
  expect_refused("tf", 2, "L0.fw.bias.npy", "expected (12,) = tf weights of layer 0");
  expect_refused("keras", 2, "--weights-format", "'keras' is unknown");
}

}  // namespace
}  // namespace rnnx
