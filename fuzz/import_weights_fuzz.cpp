// libFuzzer target for rnnx::import_weights (include/rnnx/interop.h): the input bytes choose a
// small model, a weight format and a list of framework tensors, partly the expected ones
// (export_weights' names and shapes), partly mutated, partly raw: names, shapes with any
// dimension up to 2^64 - 1, and values vectors whose length may disagree with the shape.
// rnnx::Error is the clean refusal; anything else (another exception, a crash, a sanitizer report,
// a leak, an allocation sized by a shape instead of by the values given) is a finding. An accepted
// import must be exactly the one the tensors describe, and must round-trip through
// export_weights.
//
// The input, read front to back (a read past the end gives 0; fuzz/make_import_weights_corpus.py
// writes the seed corpus from it):
//   byte format        % 4: rnnx, tf, torch, onnx
//   byte layers        1 + % 3
//   byte input size    1 + % 8
//   per layer: byte kind (% 5: lstm, gru_reset_after, gru_reset_before, rnn_tanh, rnn_relu),
//              byte hidden (1 + % 8), byte flags (bit 0 bidirectional, bit 1 LSTM forget_bias 1)
//   byte tensors       % 33
//   per tensor:
//     byte spec        k % (number of expected tensors): the tensor this one is based on
//     byte how         bits 0-1 name: 0 spec k's, 1 spec k's mutated (byte op, then op's bytes),
//                                     2 a refused_tensors name (byte index), 3 raw (byte length,
//                                     then the bytes)
//                      bits 2-3 shape: 0 spec k's, 1 spec k's with one dimension (byte index)
//                                      set to a u64, 2 ... set to a byte, 3 raw (byte rank % 5,
//                                      then per dimension a byte, 255 meaning a u64 follows)
//                      bits 4-5 values count: 0 the shape's element count (a byte when that is
//                                      over kMaxValues), 1 that count + an int8, 2 a byte,
//                                      3 a u16; always at most kMaxValues
//                      bit 6    values: 0 a sequence from a seed byte, 1 raw little-endian
//                                      doubles, 8 bytes each
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "rnnx/error.h"
#include "rnnx/interop.h"
#include "rnnx/layout.h"
#include "rnnx/model.h"

namespace {

using rnnx::NamedTensor;
using rnnx::WeightFormat;
using Shape = std::vector<std::size_t>;

// The fuzz target's own allocations stay small whatever a shape says: values vectors hold at most
// this many elements (the largest expected tensor here, onnx's W of a bidirectional LSTM layer
// with H = 8 after a bidirectional layer, has 2 * 32 * 16 = 1024).
constexpr std::size_t kMaxValues = 2048;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t u8() { return at_ < size_ ? data_[at_++] : 0; }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v |= std::uint64_t(u8()) << (8 * k);
    return v;
  }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
  bool done() const { return at_ >= size_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_, at_ = 0;
};

rnnx::Model read_model(Bytes& in) {
  rnnx::Model model;
  const int layers = 1 + in.u8() % 3;
  model.input_size = 1 + in.u8() % 8;
  for (int l = 0; l < layers; ++l) {
    rnnx::Layer layer;
    switch (in.u8() % 5) {
      case 0:
        layer.cell = rnnx::Cell::lstm;
        break;
      case 1:
        layer.cell = rnnx::Cell::gru;
        layer.gru_reset = rnnx::GruReset::after_matmul;
        break;
      case 2:
        layer.cell = rnnx::Cell::gru;
        layer.gru_reset = rnnx::GruReset::before_matmul;
        break;
      case 3:
        layer.cell = rnnx::Cell::rnn;
        layer.activation = rnnx::Activation::tanh;
        break;
      default:
        layer.cell = rnnx::Cell::rnn;
        layer.activation = rnnx::Activation::relu;
        break;
    }
    layer.hidden = 1 + in.u8() % 8;
    const std::uint8_t flags = in.u8();
    layer.bidirectional = (flags & 1) != 0;
    if (layer.cell == rnnx::Cell::lstm && (flags & 2) != 0) layer.forget_bias = 1.0;
    model.layers.push_back(layer);
  }
  return model;
}

// The element count of a shape, or kMaxValues + 1 when it is larger (or overflows).
std::size_t bounded_count(const Shape& shape) {
  std::size_t n = 1;
  for (std::size_t d : shape) {
    if (d == 0) return 0;
    if (__builtin_mul_overflow(n, d, &n) || n > kMaxValues) n = kMaxValues + 1;
  }
  return n;
}

std::string mutate_name(std::string name, Bytes& in) {
  switch (in.u8() % 4) {
    case 0:
      name += static_cast<char>(in.u8());
      break;
    case 1:
      if (!name.empty()) name.pop_back();
      break;
    case 2: {
      const std::size_t at = in.u8();
      const char c = static_cast<char>(in.u8());
      if (!name.empty()) name[at % name.size()] = c;
      break;
    }
    default: {  // the other direction
      const std::size_t fw = name.find(".fw."), bw = name.find(".bw."), rev = name.find("_reverse");
      if (fw != std::string::npos) {
        name.replace(fw, 4, ".bw.");
      } else if (bw != std::string::npos) {
        name.replace(bw, 4, ".fw.");
      } else if (rev != std::string::npos) {
        name.erase(rev);
      } else {
        name += "_reverse";
      }
      break;
    }
  }
  return name;
}

NamedTensor read_tensor(Bytes& in, const std::vector<rnnx::TensorSpec>& specs,
                        const std::vector<rnnx::RefusedTensor>& refused) {
  const rnnx::TensorSpec& spec = specs[in.u8() % specs.size()];
  const std::uint8_t how = in.u8();
  NamedTensor t;
  switch (how & 3) {
    case 0:
      t.name = spec.name;
      break;
    case 1:
      t.name = mutate_name(spec.name, in);
      break;
    case 2: {
      const std::uint8_t k = in.u8();
      t.name = refused.empty() ? spec.name : refused[k % refused.size()].name;
      break;
    }
    default: {
      const std::size_t length = in.u8();
      for (std::size_t k = 0; k < length && !in.done(); ++k) t.name += static_cast<char>(in.u8());
      break;
    }
  }
  t.shape = spec.shape;
  switch ((how >> 2) & 3) {
    case 0:
      break;
    case 1:
      t.shape[in.u8() % t.shape.size()] = in.u64();
      break;
    case 2:
      t.shape[in.u8() % t.shape.size()] = in.u8();
      break;
    default: {
      t.shape.resize(in.u8() % 5);
      for (std::size_t& d : t.shape) {
        d = in.u8();
        if (d == 255) d = in.u64();
      }
      break;
    }
  }
  std::size_t count = bounded_count(t.shape);
  switch ((how >> 4) & 3) {
    case 0:
      if (count > kMaxValues) count = in.u8();
      break;
    case 1: {
      if (count > kMaxValues) count = kMaxValues;
      const int delta = static_cast<std::int8_t>(in.u8());
      const auto magnitude = static_cast<std::size_t>(delta < 0 ? -delta : delta);
      count = delta >= 0 ? count + magnitude : count - (magnitude > count ? count : magnitude);
      break;
    }
    case 2:
      count = in.u8();
      break;
    default:
      count = in.u16();
      break;
  }
  if (count > kMaxValues) count = kMaxValues;
  t.values.resize(count);
  if ((how & 64) != 0) {
    for (double& v : t.values) {
      const std::uint64_t bits = in.u64();
      std::memcpy(&v, &bits, sizeof v);
    }
  } else {
    const int seed = in.u8();
    for (std::size_t k = 0; k < count; ++k) {
      t.values[k] = (seed - 128) * 0.25 + static_cast<double>(k % 64) * 0.0625;
    }
  }
  return t;
}

// Equal values: bit for bit when `exact`, else as numbers (tf's single biases are computed as
// bx + bh, which turns -0 into +0 and quiets a signalling NaN).
bool same(double a, double b, bool exact) {
  if (exact) return std::memcmp(&a, &b, sizeof a) == 0;
  return a == b || (a != a && b != b);
}

bool same(const std::vector<double>& a, const std::vector<double>& b, bool exact) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k) {
    if (!same(a[k], b[k], exact)) return false;
  }
  return true;
}

// Whether the tensors are exactly the format's tensors of the model: every expected name once,
// with its shape and as many values as the shape holds, and nothing else.
bool expected_set(const std::vector<rnnx::TensorSpec>& specs,
                  const std::vector<NamedTensor>& tensors) {
  if (tensors.size() != specs.size()) return false;
  std::map<std::string, const NamedTensor*> given;
  for (const NamedTensor& t : tensors) {
    if (!given.emplace(t.name, &t).second) return false;
  }
  for (const rnnx::TensorSpec& spec : specs) {
    const auto it = given.find(spec.name);
    if (it == given.end() || it->second->shape != spec.shape ||
        it->second->values.size() != bounded_count(spec.shape)) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  const auto format = static_cast<WeightFormat>(in.u8() % 4);
  const rnnx::Model model = read_model(in);
  bool format_holds_model = true;
  try {
    rnnx::check_weight_format(model, format);
  } catch (const rnnx::Error&) {
    format_holds_model = false;
  }
  // The names and shapes do not depend on whether the format holds the model's cells: build them
  // from a model the format holds, so that a refused model still meets realistic tensors.
  rnnx::Model named = model;
  for (rnnx::Layer& layer : named.layers) {
    layer.forget_bias = 0.0;
    if (layer.cell == rnnx::Cell::gru) {
      layer.gru_reset =
          format == WeightFormat::tf ? rnnx::GruReset::before_matmul : rnnx::GruReset::after_matmul;
    }
  }
  const std::vector<rnnx::TensorSpec> specs = rnnx::weight_tensors(named, format);
  const std::vector<rnnx::RefusedTensor> refused = rnnx::refused_tensors(model, format);
  require(!specs.empty());

  std::vector<NamedTensor> tensors;
  const int count = in.u8() % 33;
  for (int k = 0; k < count; ++k) tensors.push_back(read_tensor(in, specs, refused));
  for (const NamedTensor& t : tensors) {
    // How `rnnx run` spots another model's files; every expected name has that form.
    const bool weight_name = rnnx::is_weight_tensor_name(format, t.name);
    for (const rnnx::TensorSpec& spec : specs) require(t.name != spec.name || weight_name);
  }

  // RNNX_FUZZ_VERBOSE=1 says what became of each input (to check a corpus by hand).
  static const bool verbose = std::getenv("RNNX_FUZZ_VERBOSE") != nullptr;
  std::vector<double> weights;
  try {
    weights = rnnx::import_weights(model, format, tensors);
  } catch (const rnnx::Error& e) {
    if (verbose) std::fprintf(stderr, "refused: %s\n", e.what());
    require(!format_holds_model || !expected_set(specs, tensors));
    return 0;
  }
  if (verbose) {
    std::fprintf(stderr, "accepted: %s, %s, %zu tensors, %zu weights\n", rnnx::to_string(format),
                 rnnx::describe(model).c_str(), tensors.size(), weights.size());
  }
  // Accepted: exactly the expected tensors, for a model the format holds.
  require(format_holds_model && expected_set(specs, tensors));
  require(weights.size() == rnnx::WeightLayout(model).size());

  // framework -> rnnx -> framework is the identity (tf's biases as numbers, see same()) ...
  const std::vector<NamedTensor> exported = rnnx::export_weights(model, format, weights);
  require(exported.size() == specs.size());
  for (std::size_t k = 0; k < exported.size(); ++k) {
    const NamedTensor& e = exported[k];
    require(e.name == specs[k].name && e.shape == specs[k].shape);
    const bool tf_bias = format == WeightFormat::tf && e.shape.size() == 1;
    for (const NamedTensor& t : tensors) {
      if (t.name == e.name) require(same(t.values, e.values, !tf_bias));
    }
  }
  // ... and rnnx -> framework -> rnnx gives the same canonical weights.
  const std::vector<double> again = rnnx::import_weights(model, format, exported);
  require(same(again, weights, format != WeightFormat::tf));
  return 0;
}
