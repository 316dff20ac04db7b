// Weight formats of other frameworks (interop.h): exact round trips, hand-made tensors landing
// where DESIGN.md's gate orders say, and refusals by name.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "rnnx/rnnx.h"
#include "support/test_support.h"

namespace rnnx {
namespace {

Layer lstm(int H, bool bi = false, double forget_bias = 0.0) {
  Layer l;
  l.cell = Cell::lstm;
  l.hidden = H;
  l.bidirectional = bi;
  l.forget_bias = forget_bias;
  return l;
}

Layer gru(int H, GruReset reset, bool bi = false) {
  Layer l;
  l.cell = Cell::gru;
  l.hidden = H;
  l.bidirectional = bi;
  l.gru_reset = reset;
  return l;
}

Layer rnn(int H, Activation activation, bool bi = false) {
  Layer l;
  l.cell = Cell::rnn;
  l.hidden = H;
  l.bidirectional = bi;
  l.activation = activation;
  return l;
}

Model model_of(int I, std::vector<Layer> layers) {
  Model m;
  m.input_size = I;
  m.layers = std::move(layers);
  m.dtype = DType::f64;
  return m;
}

// Models each format can hold: stacked, bidirectional, mixed sizes, every cell.
std::vector<Model> models_for(WeightFormat format) {
  const GruReset reset =
      format == WeightFormat::tf ? GruReset::before_matmul : GruReset::after_matmul;
  const double fb = format == WeightFormat::tf || format == WeightFormat::rnnx ? 1.0 : 0.0;
  std::vector<Model> models = {
      model_of(3, {lstm(4, false, fb)}),
      model_of(3, {gru(5, reset)}),
      model_of(2, {lstm(3, true, fb), lstm(4, true, fb)}),
      model_of(3, {lstm(4, false, fb), gru(6, reset, true), gru(2, reset)}),
      model_of(3, {rnn(4, Activation::tanh)}),
      model_of(2, {rnn(3, Activation::relu, true), lstm(4, false, fb),
                   rnn(2, Activation::tanh, true), gru(3, reset)}),
  };
  if (format == WeightFormat::onnx || format == WeightFormat::rnnx) {
    models.push_back(model_of(3, {gru(4, GruReset::before_matmul, true)}));
  }
  return models;
}

class Formats : public ::testing::TestWithParam<WeightFormat> {};

TEST_P(Formats, FrameworkToRnnxAndBackIsTheIdentity) {
  for (const Model& model : models_for(GetParam())) {
    SCOPED_TRACE(describe(model));
    // Framework tensors with distinct random values, in the shapes the format expects.
    std::vector<NamedTensor> tensors =
        export_weights(model, GetParam(), std::vector<double>(WeightLayout(model).size(), 0.0));
    std::uint64_t seed = 5;
    for (NamedTensor& t : tensors) t.values = test::random_values(t.values.size(), seed++);
    const std::vector<double> w = import_weights(model, GetParam(), tensors);
    const std::vector<NamedTensor> back = export_weights(model, GetParam(), w);
    ASSERT_EQ(back.size(), tensors.size());
    for (std::size_t k = 0; k < back.size(); ++k) {
      EXPECT_EQ(back[k].name, tensors[k].name);
      EXPECT_EQ(back[k].shape, tensors[k].shape) << back[k].name;
      EXPECT_EQ(back[k].values, tensors[k].values) << back[k].name;  // exact
    }
  }
}

// Formats with a tensor for each of rnnx's (not tf, which has one bias where rnnx has bx and bh).
class ExactFormats : public Formats {};

TEST_P(ExactFormats, EveryCanonicalWeightHasOnePlace) {
  // rnnx -> framework -> rnnx is the identity too, and the tensors hold every weight once.
  for (const Model& model : models_for(GetParam())) {
    SCOPED_TRACE(describe(model));
    const std::vector<double> w = test::random_values(WeightLayout(model).size(), 17);
    const std::vector<NamedTensor> tensors = export_weights(model, GetParam(), w);
    std::size_t total = 0;
    for (const NamedTensor& t : tensors) total += t.values.size();
    EXPECT_EQ(total, w.size());
    EXPECT_EQ(import_weights(model, GetParam(), tensors), w);
  }
}

std::vector<std::uint64_t> bits_of(const std::vector<double>& values) {
  std::vector<std::uint64_t> bits(values.size());
  if (!values.empty()) std::memcpy(bits.data(), values.data(), values.size() * sizeof(double));
  return bits;
}

// Conversions move elements bit for bit: -0 stays -0, and a NaN keeps its payload and stays
// signalling, in both directions; only tf's single biases are computed (bx + bh). Found by
// fuzz/import_weights_fuzz: export added 0 to every moved element, which made -0 into +0
// (fuzz/regressions/import_weights/onnx_negative_zero).
TEST_P(Formats, ConversionsKeepEveryBitOfMovedValues) {
  const double values[] = {-0.0, std::numeric_limits<double>::signaling_NaN(),
                           -1.5, std::numeric_limits<double>::denorm_min(),
                           -0.0, -std::numeric_limits<double>::quiet_NaN()};
  for (const Model& model : models_for(GetParam())) {
    SCOPED_TRACE(describe(model));
    std::vector<NamedTensor> tensors =
        export_weights(model, GetParam(), std::vector<double>(WeightLayout(model).size(), 0.0));
    std::size_t n = 0;
    for (NamedTensor& t : tensors) {
      for (double& v : t.values) v = values[n++ % std::size(values)];
    }
    const std::vector<double> w = import_weights(model, GetParam(), tensors);
    const std::vector<NamedTensor> back = export_weights(model, GetParam(), w);
    ASSERT_EQ(back.size(), tensors.size());
    for (std::size_t k = 0; k < back.size(); ++k) {
      if (GetParam() == WeightFormat::tf && back[k].shape.size() == 1) continue;  // bx + bh
      EXPECT_EQ(bits_of(back[k].values), bits_of(tensors[k].values)) << back[k].name;
    }
    if (GetParam() != WeightFormat::tf) {
      EXPECT_EQ(bits_of(import_weights(model, GetParam(), back)), bits_of(w));
    }
  }
}

std::string format_name(const ::testing::TestParamInfo<WeightFormat>& format_info) {
  return to_string(format_info.param);
}

INSTANTIATE_TEST_SUITE_P(Interop, Formats,
                         ::testing::Values(WeightFormat::rnnx, WeightFormat::tf,
                                           WeightFormat::torch, WeightFormat::onnx),
                         format_name);
INSTANTIATE_TEST_SUITE_P(Interop, ExactFormats,
                         ::testing::Values(WeightFormat::rnnx, WeightFormat::torch,
                                           WeightFormat::onnx),
                         format_name);

// One unit, one input: each gate's value says where it came from.
TEST(Interop, TfLstmKernelLandsInCanonicalGateOrder) {
  const Model model = model_of(1, {lstm(1, false, 1.0)});
  const std::vector<NamedTensor> tf = {
      {"L0.fw.kernel", {2, 4}, {10, 11, 12, 13, 20, 21, 22, 23}},  // rows x, h; columns i, j, f, o
      {"L0.fw.bias", {4}, {30, 31, 32, 33}},
  };
  const std::vector<double> w = import_weights(model, WeightFormat::tf, tf);
  const WeightLayout wl(model);
  auto at = [&](Param p, int gate) { return w[wl.offset(0, Dir::fw, p, gate)]; };
  // Canonical order i, f, g, o: tf's j is g.
  EXPECT_EQ((std::vector<double>{at(Param::Wx, lstm_i), at(Param::Wx, lstm_f),
                                 at(Param::Wx, lstm_g), at(Param::Wx, lstm_o)}),
            (std::vector<double>{10, 12, 11, 13}));
  EXPECT_EQ((std::vector<double>{at(Param::Wh, lstm_i), at(Param::Wh, lstm_f),
                                 at(Param::Wh, lstm_g), at(Param::Wh, lstm_o)}),
            (std::vector<double>{20, 22, 21, 23}));
  EXPECT_EQ((std::vector<double>{at(Param::bx, lstm_i), at(Param::bx, lstm_f),
                                 at(Param::bx, lstm_g), at(Param::bx, lstm_o)}),
            (std::vector<double>{30, 32, 31, 33}));
  for (int g = 0; g < 4; ++g) EXPECT_EQ(at(Param::bh, g), 0.0);
}

TEST(Interop, TfGruKernelsSplitIntoGatesAndCandidate) {
  // I = 1, H = 2: gates_kernel [3, 4] columns r0 r1 u0 u1; candidate_kernel [3, 2].
  const Model model = model_of(1, {gru(2, GruReset::before_matmul)});
  const std::vector<NamedTensor> tf = {
      {"L0.fw.gates_kernel", {3, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
      {"L0.fw.gates_bias", {4}, {13, 14, 15, 16}},
      {"L0.fw.candidate_kernel", {3, 2}, {17, 18, 19, 20, 21, 22}},
      {"L0.fw.candidate_bias", {2}, {23, 24}},
  };
  const std::vector<double> w = import_weights(model, WeightFormat::tf, tf);
  const WeightLayout wl(model);
  const std::size_t Wx = wl.offset(0, Dir::fw, Param::Wx), Wh = wl.offset(0, Dir::fw, Param::Wh);
  const std::size_t bx = wl.offset(0, Dir::fw, Param::bx);
  // Wx rows r0 r1 z0 z1 n0 n1 (one column): the kernel's input row.
  EXPECT_EQ(std::vector<double>(w.begin() + Wx, w.begin() + Wx + 6),
            (std::vector<double>{1, 2, 3, 4, 17, 18}));
  // Wh [6, 2]: row gate*H + u holds the kernel's hidden rows 1 and 2 at column gate*H + u.
  EXPECT_EQ(std::vector<double>(w.begin() + Wh, w.begin() + Wh + 12),
            (std::vector<double>{5, 9, 6, 10, 7, 11, 8, 12, 19, 21, 20, 22}));
  EXPECT_EQ(std::vector<double>(w.begin() + bx, w.begin() + bx + 6),
            (std::vector<double>{13, 14, 15, 16, 23, 24}));
}

TEST(Interop, OnnxGateOrdersAndDirections) {
  // LSTM, I = H = 1, bidirectional: W [2, 4, 1] rows i, o, f, c per direction.
  const Model model = model_of(1, {lstm(1, true)});
  std::vector<NamedTensor> onnx =
      export_weights(model, WeightFormat::onnx, std::vector<double>(WeightLayout(model).size()));
  ASSERT_EQ(onnx[0].name, "L0.W");
  ASSERT_EQ(onnx[0].shape, (std::vector<std::size_t>{2, 4, 1}));
  onnx[0].values = {1, 2, 3, 4, 5, 6, 7, 8};
  const std::vector<double> w = import_weights(model, WeightFormat::onnx, onnx);
  const WeightLayout wl(model);
  const std::size_t fw = wl.offset(0, Dir::fw, Param::Wx), bw = wl.offset(0, Dir::bw, Param::Wx);
  EXPECT_EQ(std::vector<double>(w.begin() + fw, w.begin() + fw + 4),
            (std::vector<double>{1, 3, 4, 2}));
  EXPECT_EQ(std::vector<double>(w.begin() + bw, w.begin() + bw + 4),
            (std::vector<double>{5, 7, 8, 6}));
}

TEST(Interop, TfBiasGradientIsTheInputBiasGradient) {
  const Model model = model_of(2, {lstm(3, false, 1.0)});
  const WeightLayout wl(model);
  std::vector<double> w = test::random_values(wl.size(), 3), dw = test::random_values(wl.size(), 4);
  const std::size_t bx = wl.offset(0, Dir::fw, Param::bx), bh = wl.offset(0, Dir::fw, Param::bh);
  const NamedTensor weights_bias = export_weights(model, WeightFormat::tf, w)[1];
  const NamedTensor grad_bias = export_gradients(model, WeightFormat::tf, dw)[1];
  ASSERT_EQ(weights_bias.name, "L0.fw.bias");
  // Gate j (tf's second block) is canonical g (the third).
  EXPECT_EQ(weights_bias.values[3], w[bx + 2 * 3] + w[bh + 2 * 3]);
  EXPECT_EQ(grad_bias.values[3], dw[bx + 2 * 3]);
}

// A vanilla RNN: tf's kernel [I+H, H] is Wx on top of Wh, transposed; I = 1, H = 2.
TEST(Interop, TfRnnKernelIsInputRowsThenHiddenRows) {
  const Model model = model_of(1, {rnn(2, Activation::relu)});
  const std::vector<TensorSpec> specs = weight_tensors(model, WeightFormat::tf);
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].name, "L0.fw.kernel");
  EXPECT_EQ(specs[0].shape, (std::vector<std::size_t>{3, 2}));
  EXPECT_EQ(specs[1].name, "L0.fw.bias");
  EXPECT_EQ(specs[1].shape, (std::vector<std::size_t>{2}));
  const std::vector<NamedTensor> tf = {
      {"L0.fw.kernel", {3, 2}, {1, 2, 3, 4, 5, 6}},  // rows x, h0, h1; columns units 0, 1
      {"L0.fw.bias", {2}, {7, 8}},
  };
  const std::vector<double> w = import_weights(model, WeightFormat::tf, tf);
  const WeightLayout wl(model);
  ASSERT_EQ(w.size(), 2u + 4u + 2u + 2u);
  auto block = [&](Param p) {
    const std::size_t at = wl.offset(0, Dir::fw, p);
    return std::vector<double>(w.begin() + at, w.begin() + at + wl.count(0, p));
  };
  EXPECT_EQ(block(Param::Wx), (std::vector<double>{1, 2}));
  EXPECT_EQ(block(Param::Wh), (std::vector<double>{3, 5, 4, 6}));  // Wh[u][k] = kernel[1 + k][u]
  EXPECT_EQ(block(Param::bx), (std::vector<double>{7, 8}));
  EXPECT_EQ(block(Param::bh), (std::vector<double>{0, 0}));
  // Exported, the one bias is bx + bh again; its gradient is d(bx).
  std::vector<double> w2 = w;
  w2[wl.offset(0, Dir::fw, Param::bh) + 1] = 0.5;
  EXPECT_EQ(export_weights(model, WeightFormat::tf, w2)[1].values, (std::vector<double>{7, 8.5}));
  std::vector<double> dw(w.size(), 0.0);
  dw[wl.offset(0, Dir::fw, Param::bx)] = 0.25;
  dw[wl.offset(0, Dir::fw, Param::bh)] = 9.0;
  EXPECT_EQ(export_gradients(model, WeightFormat::tf, dw)[1].values,
            (std::vector<double>{0.25, 0}));
}

TEST(Interop, TorchAndOnnxRnnTensors) {
  // Bidirectional RNN, I = 2, H = 1: one gate, so every format holds rnnx's rows as they are.
  const Model model = model_of(2, {rnn(1, Activation::tanh, true)});
  const WeightLayout wl(model);
  std::vector<double> w(wl.size());
  for (std::size_t k = 0; k < w.size(); ++k) w[k] = double(k + 1);
  // rnnx: fw Wx {1, 2}, Wh {3}, bx {4}, bh {5}; bw Wx {6, 7}, Wh {8}, bx {9}, bh {10}.
  const std::vector<NamedTensor> torch = export_weights(model, WeightFormat::torch, w);
  ASSERT_EQ(torch.size(), 8u);
  const std::vector<std::string> names = {
      "weight_ih_l0",         "weight_hh_l0",         "bias_ih_l0",         "bias_hh_l0",
      "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse"};
  const std::vector<std::vector<double>> values = {{1, 2}, {3}, {4}, {5}, {6, 7}, {8}, {9}, {10}};
  for (std::size_t k = 0; k < torch.size(); ++k) {
    EXPECT_EQ(torch[k].name, names[k]);
    EXPECT_EQ(torch[k].values, values[k]) << names[k];
  }
  EXPECT_EQ(torch[0].shape, (std::vector<std::size_t>{1, 2}));
  const std::vector<NamedTensor> onnx = export_weights(model, WeightFormat::onnx, w);
  ASSERT_EQ(onnx.size(), 3u);
  EXPECT_EQ(onnx[0].shape, (std::vector<std::size_t>{2, 1, 2}));  // W [dirs, H, I]
  EXPECT_EQ(onnx[0].values, (std::vector<double>{1, 2, 6, 7}));
  EXPECT_EQ(onnx[1].shape, (std::vector<std::size_t>{2, 1, 1}));  // R [dirs, H, H]
  EXPECT_EQ(onnx[1].values, (std::vector<double>{3, 8}));
  EXPECT_EQ(onnx[2].shape, (std::vector<std::size_t>{2, 2}));  // B [dirs, 2H]: Wb then Rb
  EXPECT_EQ(onnx[2].values, (std::vector<double>{4, 5, 9, 10}));
  EXPECT_EQ(import_weights(model, WeightFormat::onnx, onnx), w);
  EXPECT_EQ(import_weights(model, WeightFormat::torch, torch), w);
  // The activation is the model's: the same tensors serve tanh and relu.
  Model relu = model;
  relu.layers[0].activation = Activation::relu;
  EXPECT_EQ(import_weights(relu, WeightFormat::torch, torch), w);
  // Nothing an RNN layer carries is refused apart: no peepholes, no projection.
  for (WeightFormat f :
       {WeightFormat::rnnx, WeightFormat::tf, WeightFormat::torch, WeightFormat::onnx}) {
    EXPECT_TRUE(refused_tensors(model, f).empty()) << to_string(f);
  }
}

std::string refusal(const Model& model, WeightFormat format,
                    const std::vector<NamedTensor>& tensors = {}) {
  try {
    import_weights(model, format, tensors);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Interop, RefusalsNameTheProblem) {
  EXPECT_NE(refusal(model_of(2, {lstm(3, false, 1.0)}), WeightFormat::torch)
                .find("layer 0: forget_bias = 1.000000, but torch has no forget bias"),
            std::string::npos);
  EXPECT_NE(refusal(model_of(2, {gru(3, GruReset::after_matmul)}), WeightFormat::tf)
                .find("tf's GRUCell resets before the matmul"),
            std::string::npos);
  EXPECT_NE(refusal(model_of(2, {gru(3, GruReset::before_matmul)}), WeightFormat::torch)
                .find("nn.GRU resets after the matmul"),
            std::string::npos);

  const Model model = model_of(2, {lstm(3)});
  std::vector<NamedTensor> torch =
      export_weights(model, WeightFormat::torch, std::vector<double>(WeightLayout(model).size()));
  EXPECT_NE(refusal(model, WeightFormat::torch, {torch[0], torch[1], torch[2]})
                .find("torch tensor 'bias_hh_l0' [12] is missing"),
            std::string::npos);
  std::vector<NamedTensor> bad = torch;
  bad[1].shape = {3, 12};
  EXPECT_NE(
      refusal(model, WeightFormat::torch, bad)
          .find("tensor 'weight_hh_l0' has shape [3, 12] (36 values); the model needs [12, 3]"),
      std::string::npos);
  bad = torch;
  bad.push_back({"weight_ih_l1", {1}, {0}});
  EXPECT_NE(refusal(model, WeightFormat::torch, bad)
                .find("tensor 'weight_ih_l1' is not a torch tensor of this model"),
            std::string::npos);
  bad = torch;
  bad.push_back(torch[0]);
  EXPECT_NE(refusal(model, WeightFormat::torch, bad).find("tensor 'weight_ih_l0' is given twice"),
            std::string::npos);
  EXPECT_THROW(parse_weight_format("keras"), Error);
  EXPECT_EQ(parse_weight_format("onnx"), WeightFormat::onnx);
}

TEST(Interop, RnnTensorsOfTheWrongShapeAreRefusedByName) {
  // LSTM-shaped tensors for an RNN layer (G = 4 where the RNN has 1), I = 2, H = 3.
  const Model rnn_model = model_of(2, {rnn(3, Activation::tanh)});
  const Model lstm_model = model_of(2, {lstm(3)});
  const std::vector<double> zeros(WeightLayout(lstm_model).size(), 0.0);
  EXPECT_NE(
      refusal(rnn_model, WeightFormat::tf, export_weights(lstm_model, WeightFormat::tf, zeros))
          .find("tensor 'L0.fw.kernel' has shape [5, 12] (60 values); the model needs [5, 3]"),
      std::string::npos);
  EXPECT_NE(
      refusal(rnn_model, WeightFormat::torch,
              export_weights(lstm_model, WeightFormat::torch, zeros))
          .find("tensor 'weight_ih_l0' has shape [12, 2] (24 values); the model needs [3, 2]"),
      std::string::npos);
  EXPECT_NE(
      refusal(rnn_model, WeightFormat::onnx, export_weights(lstm_model, WeightFormat::onnx, zeros))
          .find("tensor 'L0.W' has shape [1, 12, 2] (24 values); the model needs [1, 3, 2]"),
      std::string::npos);
  // A tf GRU's kernels are not an RNN's.
  const Model gru_model = model_of(2, {gru(3, GruReset::before_matmul)});
  EXPECT_NE(refusal(rnn_model, WeightFormat::tf,
                    export_weights(gru_model, WeightFormat::tf,
                                   std::vector<double>(WeightLayout(gru_model).size())))
                .find("tf tensor 'L0.fw.kernel' [5, 3] is missing"),
            std::string::npos);
}

std::string activation_refusal(const Model& model, int layer, WeightFormat format,
                               const std::string& name, Status expected) {
  try {
    check_activation(model, layer, format, name);
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), expected) << e.what();
    return e.what();
  }
  return "";
}

TEST(Interop, ActivationsAreTheModelsAndCheckedByName) {
  EXPECT_STREQ(activation_name(WeightFormat::torch, Activation::relu), "relu");
  EXPECT_STREQ(activation_name(WeightFormat::tf, Activation::tanh), "tanh");
  EXPECT_STREQ(activation_name(WeightFormat::onnx, Activation::relu), "Relu");
  EXPECT_STREQ(activation_name(WeightFormat::onnx, Activation::tanh), "Tanh");
  const Model model =
      model_of(2, {rnn(3, Activation::tanh, true), lstm(2), rnn(2, Activation::relu)});
  EXPECT_NO_THROW(check_activation(model, 0, WeightFormat::torch, "tanh"));
  EXPECT_NO_THROW(check_activation(model, 2, WeightFormat::torch, "relu"));
  EXPECT_NO_THROW(check_activation(model, 2, WeightFormat::onnx, "Relu"));
  EXPECT_NO_THROW(check_activation(model, 0, WeightFormat::tf, "tanh"));
  EXPECT_EQ(activation_refusal(model, 0, WeightFormat::torch, "relu", Status::invalid_argument),
            "layer 0: torch nonlinearity 'relu' does not match the model's activation tanh (set "
            "\"activation\": \"relu\" in the model JSON, Layer::activation in C++)");
  EXPECT_NE(
      activation_refusal(model, 2, WeightFormat::onnx, "Tanh", Status::invalid_argument)
          .find("layer 2: onnx activations 'Tanh' does not match the model's activation relu"),
      std::string::npos);
  EXPECT_NE(activation_refusal(model, 0, WeightFormat::torch, "Tanh", Status::unsupported)
                .find("torch nonlinearity 'Tanh' is not supported by rnnx (allowed: tanh, relu)"),
            std::string::npos);
  EXPECT_NE(activation_refusal(model, 2, WeightFormat::onnx, "Sigmoid", Status::unsupported)
                .find("(allowed: Tanh, Relu)"),
            std::string::npos);
  // Spelled as the framework spells it: ONNX Runtime refuses an RNN's "relu" too.
  EXPECT_NE(activation_refusal(model, 2, WeightFormat::onnx, "relu", Status::unsupported)
                .find("onnx activations 'relu' is not supported by rnnx (allowed: Tanh, Relu)"),
            std::string::npos);
  EXPECT_NE(activation_refusal(model, 1, WeightFormat::torch, "tanh", Status::invalid_argument)
                .find("layer 1: torch nonlinearity 'tanh' is for a vanilla RNN layer; this one is "
                      "lstm"),
            std::string::npos);
  EXPECT_NE(activation_refusal(model, 3, WeightFormat::tf, "tanh", Status::invalid_argument)
                .find("check_activation: layer = 3 is outside [0, 3)"),
            std::string::npos);
}

TEST(Interop, UnsupportedFrameworkTensorsAreRefusedAsUnsupported) {
  const Model model = model_of(2, {lstm(3, true)});
  struct Extra {
    WeightFormat format;
    const char *name, *why;
  };
  for (const Extra& e : {Extra{WeightFormat::onnx, "L0.P", "peephole weights (input P)"},
                         Extra{WeightFormat::torch, "weight_hr_l0_reverse", "projection"},
                         Extra{WeightFormat::tf, "L0.bw.w_f_diag", "peepholes"},
                         Extra{WeightFormat::tf, "L0.fw.projection_kernel", "num_proj"}}) {
    SCOPED_TRACE(e.name);
    std::vector<NamedTensor> tensors =
        export_weights(model, e.format, std::vector<double>(WeightLayout(model).size(), 0.5));
    tensors.push_back({e.name, {3}, {0.1, 0.2, 0.3}});
    try {
      import_weights(model, e.format, tensors);
      ADD_FAILURE() << "accepted";
    } catch (const Error& error) {
      EXPECT_EQ(error.status(), Status::unsupported);
      EXPECT_NE(std::string(error.what()).find(e.name), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find(e.why), std::string::npos) << error.what();
    }
  }
  // A GRU has no peepholes or projection to refuse (ONNX's GRU operator has no P input).
  EXPECT_TRUE(
      refused_tensors(model_of(2, {gru(3, GruReset::after_matmul)}), WeightFormat::torch).empty());
  EXPECT_TRUE(
      refused_tensors(model_of(2, {gru(3, GruReset::after_matmul)}), WeightFormat::onnx).empty());
}

TEST(Interop, WeightTensorNamesAreRecognisedPerFormat) {
  EXPECT_TRUE(is_weight_tensor_name(WeightFormat::torch, "weight_hh_l12_reverse"));
  EXPECT_TRUE(is_weight_tensor_name(WeightFormat::torch, "bias_ih_l0"));
  EXPECT_FALSE(is_weight_tensor_name(WeightFormat::torch, "dweight_hh_l0"));  // a gradient file
  EXPECT_FALSE(is_weight_tensor_name(WeightFormat::torch, "weight_hr_l0"));   // refused apart
  EXPECT_TRUE(is_weight_tensor_name(WeightFormat::onnx, "L3.R"));
  EXPECT_FALSE(is_weight_tensor_name(WeightFormat::onnx, "L3.dR"));
  EXPECT_TRUE(is_weight_tensor_name(WeightFormat::tf, "L1.bw.candidate_kernel"));
  EXPECT_FALSE(is_weight_tensor_name(WeightFormat::tf, "L1.bw.kernel.npy"));
  EXPECT_TRUE(is_weight_tensor_name(WeightFormat::rnnx, "L0.fw.Wx"));
  EXPECT_FALSE(is_weight_tensor_name(WeightFormat::rnnx, "L0.fw.h0"));
  // Every name a format exports is recognised as that format's.
  for (WeightFormat f :
       {WeightFormat::rnnx, WeightFormat::tf, WeightFormat::torch, WeightFormat::onnx}) {
    for (const Model& model : models_for(f)) {
      for (const TensorSpec& spec : weight_tensors(model, f)) {
        EXPECT_TRUE(is_weight_tensor_name(f, spec.name)) << to_string(f) << " " << spec.name;
      }
    }
  }
}

TEST_P(Formats, WeightTensorsListWhatExportWrites) {
  for (const Model& model : models_for(GetParam())) {
    SCOPED_TRACE(describe(model));
    const std::vector<TensorSpec> specs = weight_tensors(model, GetParam());
    const std::vector<NamedTensor> tensors =
        export_weights(model, GetParam(), std::vector<double>(WeightLayout(model).size(), 0.0));
    ASSERT_EQ(specs.size(), tensors.size());
    for (std::size_t k = 0; k < specs.size(); ++k) {
      EXPECT_EQ(specs[k].name, tensors[k].name);
      EXPECT_EQ(specs[k].shape, tensors[k].shape) << specs[k].name;
      // Each tensor belongs to the layer its name says: "L1.", "_l1" or "_l1_reverse".
      const std::string l = std::to_string(specs[k].layer);
      const std::string& n = specs[k].name;
      EXPECT_TRUE(n.rfind("L" + l + ".", 0) == 0 || n.find("_l" + l) + 3 == n.size() ||
                  n.find("_l" + l + "_reverse") != std::string::npos)
          << n << " in layer " << l;
    }
  }
}

}  // namespace
}  // namespace rnnx
