// The rnnx command-line tool: `rnnx run` on hand-checkable values, the --grad outputs against the
// library, and every kind of bad file (exit code 2, a one-line message naming the file, nothing
// written).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "io/json.h"
#include "io/npy.h"
#include "support/test_support.h"

namespace rnnx {
namespace {

namespace fs = std::filesystem;

using Outcome = test::ProgramOutcome;

using test::slurp;

Outcome rnnx_cli(const std::string& arguments, const fs::path& scratch) {
  return test::run_program(std::string(RNNX_CLI_PATH) + " " + arguments, scratch);
}

void write_f64(const fs::path& path, std::vector<std::size_t> shape, const std::vector<double>& v) {
  io::write_npy(path.string(), io::make_npy(io::NpyType::f64, std::move(shape), v.data()));
}

std::vector<double> read_f64(const fs::path& path) {
  const io::NpyArray a = io::read_npy(path.string());
  EXPECT_EQ(a.type, io::NpyType::f64) << path;
  std::vector<double> v(a.count());
  std::memcpy(v.data(), a.data.data(), a.data.size());
  return v;
}

double sig(double v) {
  return 1.0 / (1.0 + std::exp(-v));
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir / "in");
    fs::create_directories(scratch);
  }

  void write_model(const std::string& json) { std::ofstream(dir / "model.json") << json; }

  // One LSTM unit (I=1, H=1, forget_bias 1), T=2, B=1, float64: every value chosen by hand.
  void write_tiny_lstm() {
    write_model(R"({"input_size": 1, "dtype": "float64",
                    "layers": [{"cell": "lstm", "hidden": 1, "forget_bias": 1.0}]})");
    write_f64(dir / "in/x.npy", {2, 1, 1}, {0.5, -0.25});
    write_f64(dir / "in/L0.fw.Wx.npy", {4, 1}, {0.3, -0.2, 0.7, 0.1});  // i, f, g, o
    write_f64(dir / "in/L0.fw.Wh.npy", {4, 1}, {0.4, 0.6, -0.5, 0.2});
    write_f64(dir / "in/L0.fw.bx.npy", {4}, {0.05, 0.0, -0.1, 0.2});
    write_f64(dir / "in/L0.fw.bh.npy", {4}, {0.0, 0.1, 0.0, -0.05});
  }

  Outcome run(const std::string& extra = "") {
    return rnnx_cli("run --model " + (dir / "model.json").string() + " --dir " +
                        (dir / "in").string() + " --engine cpu_reference " + extra,
                    scratch);
  }

  // A bad-file case: exit code 2, one line naming `file` and saying `what`, no output written.
  void expect_refused(const std::string& file, const std::string& what,
                      const std::string& extra = "") {
    const Outcome o = run(extra);
    EXPECT_EQ(o.code, 2) << o.err;
    EXPECT_NE(o.err.find(file), std::string::npos) << o.err;
    EXPECT_NE(o.err.find(what), std::string::npos) << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
    for (const auto& entry : fs::directory_iterator(dir / "in")) {
      const std::string name = entry.path().filename().string();
      EXPECT_TRUE(name != "y.npy" && name.find("hn") == std::string::npos &&
                  name.find(".tmp") == std::string::npos && name != "dx.npy")
          << "written despite the error: " << name;
    }
  }

  test::ScratchDir folder{"rnnx_test_cli"};
  fs::path dir = folder.path(), scratch = dir / "scratch";
};

TEST_F(Cli, RunReproducesHandComputedLstm) {
  write_tiny_lstm();
  const Outcome o = run();
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("engine cpu_reference"), std::string::npos) << o.out;
  double h = 0, c = 0;
  std::vector<double> expected;
  for (double x : {0.5, -0.25}) {
    const double i = sig(0.3 * x + 0.05 + 0.4 * h + 0.0);
    const double f = sig(-0.2 * x + 0.0 + 0.6 * h + 0.1 + 1.0);
    const double g = std::tanh(0.7 * x - 0.1 - 0.5 * h + 0.0);
    const double o_gate = sig(0.1 * x + 0.2 + 0.2 * h - 0.05);
    c = f * c + i * g;
    h = o_gate * std::tanh(c);
    expected.push_back(h);
  }
  const std::vector<double> y = read_f64(dir / "in/y.npy");
  ASSERT_EQ(y.size(), 2u);
  EXPECT_NEAR(y[0], expected[0], 1e-15);
  EXPECT_NEAR(y[1], expected[1], 1e-15);
  EXPECT_NEAR(read_f64(dir / "in/L0.fw.hn.npy")[0], h, 1e-15);
  EXPECT_NEAR(read_f64(dir / "in/L0.fw.cn.npy")[0], c, 1e-15);
}

TEST_F(Cli, GradMatchesTheLibrary) {
  write_model(R"({"input_size": 3, "dtype": "float64", "layout": "batch_major",
                  "layers": [{"cell": "gru", "hidden": 2, "bidirectional": true, "gru_reset": "before"},
                             {"cell": "lstm", "hidden": 3}]})");
  const Outcome init = rnnx_cli("init --model " + (dir / "model.json").string() + " --dir " +
                                    (dir / "in").string() + " --steps 4 --batch 3 --grad",
                                scratch);
  ASSERT_EQ(init.code, 0) << init.err;
  const Outcome o = run("--grad");
  ASSERT_EQ(o.code, 0) << o.err;

  // The same call through the library.
  Model m;
  m.input_size = 3;
  m.dtype = DType::f64;
  m.layout = Layout::batch_major;
  Layer gru;
  gru.cell = Cell::gru;
  gru.hidden = 2;
  gru.bidirectional = true;
  gru.gru_reset = GruReset::before_matmul;
  Layer lstm;
  lstm.cell = Cell::lstm;
  lstm.hidden = 3;
  m.layers = std::vector<Layer>{gru, lstm};
  test::Problem p;
  p.model = m;
  p.steps = 4;
  p.batch = 3;
  p.x = read_f64(dir / "in/x.npy");
  p.dy = read_f64(dir / "in/dy.npy");
  const io::NpyArray lengths = io::read_npy((dir / "in/lengths.npy").string());
  p.lengths.resize(3);
  std::memcpy(p.lengths.data(), lengths.data.data(), 12);
  const WeightLayout wl(m);
  p.weights.resize(wl.size());
  for (int l = 0; l < 2; ++l) {
    for (int d = 0; d < directions(m.layers[l]); ++d) {
      const Dir dir_d = d == 0 ? Dir::fw : Dir::bw;
      for (Param param : {Param::Wx, Param::Wh, Param::bx, Param::bh}) {
        const std::string name =
            "L" + std::to_string(l) + "." + to_string(dir_d) + "." + to_string(param);
        const std::vector<double> v = read_f64(dir / "in" / (name + ".npy"));
        std::copy(v.begin(), v.end(), p.weights.begin() + wl.offset(l, dir_d, param));
        const std::vector<double> g = read_f64(
            dir / "in" /
            ("L" + std::to_string(l) + "." + to_string(dir_d) + ".d" + to_string(param) + ".npy"));
        ASSERT_EQ(g.size(), v.size());
      }
    }
  }
  const test::Result r = test::run(p, Engine::cpu_reference, true);
  EXPECT_EQ(read_f64(dir / "in/y.npy"), r.y);
  EXPECT_EQ(read_f64(dir / "in/dx.npy"), r.dx);
  const std::vector<double> dwx = read_f64(dir / "in/L1.fw.dWh.npy");
  const std::size_t at = wl.offset(1, Dir::fw, Param::Wh);
  EXPECT_EQ(dwx, std::vector<double>(r.dweights.begin() + at, r.dweights.begin() + at + 36));
  const StateLayout sl(m, 3);
  const std::vector<double> dc0 = read_f64(dir / "in/L1.fw.dc0.npy");
  EXPECT_EQ(dc0, std::vector<double>(r.dinit.begin() + sl.c(1, Dir::fw),
                                     r.dinit.begin() + sl.c(1, Dir::fw) + 9));
}

TEST_F(Cli, MissingFile) {
  write_tiny_lstm();
  fs::remove(dir / "in/L0.fw.Wh.npy");
  expect_refused("L0.fw.Wh.npy", "");
}

TEST_F(Cli, TruncatedFile) {
  write_tiny_lstm();
  fs::resize_file(dir / "in/x.npy", fs::file_size(dir / "in/x.npy") - 4);
  expect_refused("x.npy", "truncated");
}

TEST_F(Cli, WrongShape) {
  write_tiny_lstm();
  write_f64(dir / "in/L0.fw.Wx.npy", {3, 1}, {0.3, -0.2, 0.7});
  expect_refused("L0.fw.Wx.npy", "shape (3, 1), expected (4, 1)");
}

TEST_F(Cli, WrongDtype) {
  write_tiny_lstm();
  const std::vector<float> x = {0.5f, -0.25f};
  io::write_npy((dir / "in/x.npy").string(), io::make_npy(io::NpyType::f32, {2, 1, 1}, x.data()));
  expect_refused("x.npy", "the model is float64");
}

TEST_F(Cli, FortranOrder) {
  write_tiny_lstm();
  // Flip the header's flag in place: 'False' and 'True ' have the same length.
  std::string bytes = slurp(dir / "in/L0.fw.Wh.npy");
  const std::size_t at = bytes.find("False");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 5, "True ");
  std::ofstream(dir / "in/L0.fw.Wh.npy", std::ios::binary) << bytes;
  expect_refused("L0.fw.Wh.npy", "fortran_order");
}

TEST_F(Cli, BadLengths) {
  write_tiny_lstm();
  const std::vector<std::int64_t> lengths = {3};
  io::write_npy((dir / "in/lengths.npy").string(),
                io::make_npy(io::NpyType::i64, {1}, lengths.data()));
  expect_refused("lengths.npy", "entry 0 = 3 is outside [0, T=2]");
}

TEST_F(Cli, StateForAGru) {
  write_model(R"({"input_size": 1, "dtype": "float64", "layers": [{"cell": "gru", "hidden": 1}]})");
  write_f64(dir / "in/x.npy", {2, 1, 1}, {0.5, -0.25});
  write_f64(dir / "in/L0.fw.Wx.npy", {3, 1}, {0.3, -0.2, 0.7});
  write_f64(dir / "in/L0.fw.Wh.npy", {3, 1}, {0.4, 0.6, -0.5});
  write_f64(dir / "in/L0.fw.bx.npy", {3}, {0.05, 0.0, -0.1});
  write_f64(dir / "in/L0.fw.bh.npy", {3}, {0.0, 0.1, 0.0});
  write_f64(dir / "in/L0.fw.c0.npy", {1, 1}, {0.5});
  expect_refused("L0.fw.c0.npy", "no c state");
}

TEST_F(Cli, UnknownJsonKey) {
  write_tiny_lstm();
  write_model(R"({"input_size": 1, "dtype": "float64", "colour": "red",
                  "layers": [{"cell": "lstm", "hidden": 1}]})");
  expect_refused("model.json", "colour: unknown key");
}

TEST_F(Cli, UnknownJsonValue) {
  write_tiny_lstm();
  write_model(R"({"input_size": 1, "layers": [{"cell": "elman", "hidden": 1}]})");
  expect_refused("model.json",
                 "layers[0].cell: unknown value \"elman\" (allowed: \"lstm\", \"gru\", \"rnn\")");
  write_model(
      R"({"input_size": 1, "layers": [{"cell": "lstm", "hidden": 1, "gru_reset": "before"}]})");
  expect_refused("model.json", "layers[0].gru_reset: applies to GRU layers only");
  write_model(R"({"input_size": 1.5, "layers": [{"cell": "lstm", "hidden": 1}]})");
  expect_refused("model.json", "input_size: expected an integer");
  write_model(R"({"input_size": 1, "layers": [{"cell": "lstm", "hidden": 1},]})");
  expect_refused("model.json", "line 1");
}

// One vanilla RNN layer of two units (I=1, T=3, B=1, float64), every value chosen by hand so that
// relu clips some pre-activations and not others.
TEST_F(Cli, RunReproducesHandComputedRnn) {
  write_f64(dir / "in/x.npy", {3, 1, 1}, {0.5, -1.0, 2.0});
  write_f64(dir / "in/L0.fw.Wx.npy", {2, 1}, {0.8, -0.6});
  write_f64(dir / "in/L0.fw.Wh.npy", {2, 2}, {0.5, -0.3, 0.2, 0.4});
  write_f64(dir / "in/L0.fw.bx.npy", {2}, {0.1, -0.05});
  write_f64(dir / "in/L0.fw.bh.npy", {2}, {-0.2, 0.15});
  write_f64(dir / "in/L0.fw.h0.npy", {1, 2}, {0.3, -0.4});
  for (const char* activation : {"tanh", "relu"}) {
    SCOPED_TRACE(activation);
    const bool relu = std::string(activation) == "relu";
    write_model(std::string(R"({"input_size": 1, "dtype": "float64", "layers": [
                    {"cell": "rnn", "hidden": 2, "activation": ")") +
                activation + "\"}]}");
    const Outcome o = run();
    ASSERT_EQ(o.code, 0) << o.err;
    double h0 = 0.3, h1 = -0.4;
    std::vector<double> expected;
    int clipped = 0;
    for (double x : {0.5, -1.0, 2.0}) {
      const double z0 = 0.8 * x + 0.1 + 0.5 * h0 - 0.3 * h1 - 0.2;
      const double z1 = -0.6 * x - 0.05 + 0.2 * h0 + 0.4 * h1 + 0.15;
      clipped += (z0 < 0) + (z1 < 0);
      h0 = relu ? std::max(z0, 0.0) : std::tanh(z0);
      h1 = relu ? std::max(z1, 0.0) : std::tanh(z1);
      expected.insert(expected.end(), {h0, h1});
    }
    EXPECT_GT(clipped, 0);
    EXPECT_LT(clipped, 6);
    const std::vector<double> y = read_f64(dir / "in/y.npy");
    ASSERT_EQ(y.size(), 6u);
    for (std::size_t k = 0; k < 6; ++k) EXPECT_NEAR(y[k], expected[k], 1e-15) << k;
    EXPECT_EQ(read_f64(dir / "in/L0.fw.hn.npy"), (std::vector<double>{y[4], y[5]}));
    EXPECT_FALSE(fs::exists(dir / "in/L0.fw.cn.npy"));
  }
}

TEST_F(Cli, RnnModelJson) {
  const Model m = cli::model_from_json(io::parse_json(R"({"input_size": 2, "layers": [
      {"cell": "rnn", "hidden": 3, "bidirectional": true, "activation": "relu"},
      {"cell": "rnn", "hidden": 2}]})"),
                                       "model.json");
  ASSERT_EQ(m.layers.size(), 2u);
  EXPECT_EQ(m.layers[0].cell, Cell::rnn);
  EXPECT_EQ(m.layers[0].activation, Activation::relu);
  EXPECT_TRUE(m.layers[0].bidirectional);
  EXPECT_EQ(m.layers[1].activation, Activation::tanh);  // the default
  EXPECT_EQ(cell_kind(m.layers[1]), CellKind::rnn_tanh);
  // Written back with its activation and nothing that belongs to other cells.
  const std::string written = cli::model_to_json(m).dump();
  EXPECT_NE(written.find(R"("activation":"relu")"), std::string::npos) << written;
  EXPECT_NE(written.find(R"("activation":"tanh")"), std::string::npos) << written;
  EXPECT_EQ(written.find("forget_bias"), std::string::npos) << written;
  EXPECT_EQ(written.find("gru_reset"), std::string::npos) << written;
  const Model back = cli::model_from_json(io::parse_json(written), "written");
  EXPECT_EQ(describe(back), describe(m));
  EXPECT_EQ(describe(m), "float32 time_major I=2: bi_rnn(3, relu) -> rnn(2, tanh)");

  // `rnnx init` writes one-gate weights: Wh [H, H], and layer 1 reads both directions.
  write_model(written);
  const Outcome init = rnnx_cli("init --model " + (dir / "model.json").string() + " --dir " +
                                    (dir / "in").string() + " --steps 2 --batch 1",
                                scratch);
  ASSERT_EQ(init.code, 0) << init.err;
  EXPECT_EQ(io::read_npy((dir / "in/L0.bw.Wh.npy").string()).shape,
            (std::vector<std::size_t>{3, 3}));
  EXPECT_EQ(io::read_npy((dir / "in/L1.fw.Wx.npy").string()).shape,
            (std::vector<std::size_t>{2, 6}));

  write_model(
      R"({"input_size": 1, "layers": [{"cell": "rnn", "hidden": 1, "activation": "sigmoid"}]})");
  expect_refused("model.json",
                 "layers[0].activation: unknown value \"sigmoid\" (allowed: \"tanh\", \"relu\")");
  write_model(R"({"input_size": 1, "layers": [{"cell": "rnn", "hidden": 1, "activation": 1}]})");
  expect_refused("model.json", "layers[0].activation");
  write_model(
      R"({"input_size": 1, "layers": [{"cell": "lstm", "hidden": 1, "activation": "relu"}]})");
  expect_refused("model.json", "layers[0].activation: applies to RNN layers only");
  write_model(
      R"({"input_size": 1, "layers": [{"cell": "gru", "hidden": 1, "activation": "tanh"}]})");
  expect_refused("model.json", "layers[0].activation: applies to RNN layers only");
  write_model(R"({"input_size": 1, "layers": [{"cell": "rnn", "hidden": 1, "forget_bias": 1.0}]})");
  expect_refused("model.json", "layers[0].forget_bias: applies to LSTM layers only");
  write_model(
      R"({"input_size": 1, "layers": [{"cell": "rnn", "hidden": 1, "gru_reset": "after"}]})");
  expect_refused("model.json", "layers[0].gru_reset: applies to GRU layers only");
}

TEST_F(Cli, CpuEngineMatchesTheReference) {
  const Outcome init = rnnx_cli("init --seed-model mix --dir " + (dir / "in").string() +
                                    " --steps 9 --batch 5 --dtype float64 --grad",
                                scratch);
  ASSERT_EQ(init.code, 0) << init.err;
  const std::string args = "run --model " + (dir / "in/model.json").string() + " --dir " +
                           (dir / "in").string() + " --grad --engine ";
  ASSERT_EQ(rnnx_cli(args + "cpu_reference", scratch).code, 0);
  const std::vector<double> y = read_f64(dir / "in/y.npy");
  const std::vector<double> dwx = read_f64(dir / "in/L1.fw.dWx.npy");
  const Outcome o = rnnx_cli(args + "cpu", scratch);
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("engine cpu,"), std::string::npos) << o.out;
  EXPECT_LT(test::max_rel_error(read_f64(dir / "in/y.npy"), y), 1e-12);
  EXPECT_LT(test::max_rel_error(read_f64(dir / "in/L1.fw.dWx.npy"), dwx), 1e-12);
}

TEST_F(Cli, EngineNotAvailableExitsWith3) {
  write_tiny_lstm();
  const Outcome o = rnnx_cli("run --model " + (dir / "model.json").string() + " --dir " +
                                 (dir / "in").string() + " --engine gpu_persistent",
                             scratch);
  EXPECT_EQ(o.code, 3) << o.err;
  EXPECT_NE(o.err.find("engine gpu_persistent"), std::string::npos) << o.err;
}

TEST_F(Cli, BadCommandLine) {
  EXPECT_EQ(rnnx_cli("run --model", scratch).code, 2);
  EXPECT_EQ(rnnx_cli("frobnicate", scratch).code, 2);
  const Outcome o = rnnx_cli("run --dir /nonexistent --model x.json --engine warp", scratch);
  EXPECT_EQ(o.code, 2);
  EXPECT_NE(o.err.find("engine 'warp' is unknown"), std::string::npos) << o.err;
}

TEST_F(Cli, InfoListsEngines) {
  const Outcome o = rnnx_cli("info", scratch);
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("rnnx " RNNX_VERSION_STRING), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("cpu_reference   available"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("auto            picks"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("GPUs:"), std::string::npos) << o.out;
}

TEST_F(Cli, InitThenRunASeedModel) {
  const Outcome init = rnnx_cli("init --seed-model bi_lstm --dir " + (dir / "in").string() +
                                    " --steps 6 --batch 3 --dtype float64",
                                scratch);
  ASSERT_EQ(init.code, 0) << init.err;
  const Outcome o = rnnx_cli("run --model " + (dir / "in/model.json").string() + " --dir " +
                                 (dir / "in").string() + " --engine auto",
                             scratch);
  ASSERT_EQ(o.code, 0) << o.err;
  const io::NpyArray y = io::read_npy((dir / "in/y.npy").string());
  EXPECT_EQ(y.shape, (std::vector<std::size_t>{6, 3, 256}));
  EXPECT_TRUE(fs::exists(dir / "in/L0.bw.cn.npy"));
}

// The option parsing of run and init, apart from the commands (cli::parse_run_options,
// parse_init_options): what fuzz/cli_args_fuzz runs on arbitrary arguments. Paths stay strings:
// nothing here exists, and nothing is created.
std::string option_error(const std::vector<std::string>& command) {
  try {
    if (command.front() == "run") {
      cli::parse_run_options({command.begin() + 1, command.end()});
    } else {
      cli::parse_init_options({command.begin() + 1, command.end()});
    }
  } catch (const cli::BadInput& e) {
    return e.what();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CliOptions, RunOptionsAreParsedWithoutTheFileSystem) {
  const cli::RunOptions o = cli::parse_run_options(
      {"--dir", "/nonexistent/in", "--model", "/nonexistent/m.json", "--engine", "cpu", "--grad",
       "--weights-format", "torch", "--repeat", "7"});
  EXPECT_EQ(o.model, "/nonexistent/m.json");
  EXPECT_EQ(o.dir, "/nonexistent/in");
  EXPECT_EQ(o.engine, Engine::cpu);
  EXPECT_EQ(o.format, WeightFormat::torch);
  EXPECT_TRUE(o.grad);
  EXPECT_EQ(o.repeat, 7);
  const cli::RunOptions defaults = cli::parse_run_options({"--model", "m", "--dir", "d"});
  EXPECT_EQ(defaults.engine, Engine::automatic);
  EXPECT_EQ(defaults.format, WeightFormat::rnnx);
  EXPECT_FALSE(defaults.grad);
  EXPECT_EQ(defaults.repeat, 1);
  EXPECT_FALSE(fs::exists("/nonexistent"));
}

TEST(CliOptions, InitOptionsAreParsedWithoutTheFileSystem) {
  const cli::InitOptions o =
      cli::parse_init_options({"--seed-model", "bi_lstm", "--dir", "/nonexistent/out", "--steps",
                               "6", "--batch", "3", "--seed", "9", "--dtype", "float64",
                               "--lengths", "full", "--weights-format", "onnx", "--grad"});
  EXPECT_FALSE(o.model);
  EXPECT_EQ(o.seed_model, "bi_lstm");
  EXPECT_EQ(o.dir, "/nonexistent/out");
  EXPECT_EQ(o.steps, 6);
  EXPECT_EQ(o.batch, 3);
  EXPECT_EQ(o.seed, 9);
  EXPECT_EQ(o.dtype, DType::f64);
  EXPECT_EQ(o.lengths, cli::LengthsMode::full);
  EXPECT_EQ(o.format, WeightFormat::onnx);
  EXPECT_TRUE(o.grad);
  const cli::InitOptions defaults = cli::parse_init_options({"--model", "m.json", "--dir", "d"});
  EXPECT_EQ(defaults.model, "m.json");
  EXPECT_FALSE(defaults.seed_model);
  EXPECT_EQ(defaults.steps, 28);
  EXPECT_EQ(defaults.batch, 4);
  EXPECT_EQ(defaults.seed, 1);
  EXPECT_FALSE(defaults.dtype);
  EXPECT_EQ(defaults.lengths, cli::LengthsMode::mixed);
  EXPECT_EQ(defaults.format, WeightFormat::rnnx);
  EXPECT_FALSE(defaults.grad);
  EXPECT_FALSE(fs::exists("/nonexistent"));
}

TEST(CliOptions, RefusalsNameTheOption) {
  const struct {
    std::vector<std::string> command;
    std::string message;
  } cases[] = {
      {{"run", "--model"}, "option --model needs a value"},
      {{"run", "--model", "a", "--model", "b"}, "option --model given twice"},
      {{"run", "model.json"}, "unexpected argument 'model.json'"},
      {{"run", "--bogus"}, "unknown option --bogus (try rnnx --help)"},
      {{"run", "--dir", "d"}, "option --model is required"},
      {{"run", "--model", "m"}, "option --dir is required"},
      {{"run", "--model", "m", "--dir", "d", "--engine", "warp"}, "engine 'warp' is unknown"},
      {{"run", "--model", "m", "--dir", "d", "--repeat", "0"},
       "option --repeat = '0': expected an integer in [1, 100000]"},
      {{"run", "--model", "m", "--dir", "d", "--repeat", "1x"},
       "option --repeat = '1x': expected an integer in [1, 100000]"},
      {{"run", "--model", "m", "--dir", "d", "--weights-format", "keras"},
       "option --weights-format: weight format 'keras' is unknown"},
      {{"init", "--dir", "d"}, "give exactly one of --model M.json and --seed-model NAME"},
      {{"init", "--model", "m", "--seed-model", "lstm", "--dir", "d"},
       "give exactly one of --model M.json and --seed-model NAME"},
      {{"init", "--seed-model", "lstm"}, "option --dir is required"},
      {{"init", "--seed-model", "lstm", "--dir", "d", "--steps", "100001"},
       "option --steps = '100001': expected an integer in [1, 100000]"},
      {{"init", "--seed-model", "lstm", "--dir", "d", "--seed", "-1"},
       "option --seed = '-1': expected an integer in [0, 1073741824]"},
      {{"init", "--seed-model", "lstm", "--dir", "d", "--lengths", "some"},
       "option --lengths = 'some': expected full or mixed"},
      {{"init", "--seed-model", "lstm", "--dir", "d", "--dtype", "float16"},
       "option --dtype = 'float16': expected float32 or float64"},
      {{"init", "--seed-model", "lstm", "--dir", "d", "--weights-format", "tflite"},
       "option --weights-format: weight format 'tflite' is unknown"},
  };
  for (const auto& c : cases) {
    const std::string message = option_error(c.command);
    EXPECT_NE(message.find(c.message), std::string::npos) << c.command.back() << ": " << message;
  }
}

}  // namespace
}  // namespace rnnx
