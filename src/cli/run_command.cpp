// rnnx run: NPY files in, the model run by an engine, NPY files out (docs/CLI.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cli/cli.h"
#include "io/npy.h"
#include "io/output_files.h"

namespace rnnx::cli {

namespace {

namespace fs = std::filesystem;
using Shape = std::vector<std::size_t>;

std::string shape_text(const Shape& shape) {
  io::NpyArray a;
  a.shape = shape;
  return a.shape_string();
}

io::NpyType npy_type(DType dtype) {
  return dtype == DType::f64 ? io::NpyType::f64 : io::NpyType::f32;
}

// Host memory of one tensor in the model's dtype.
struct HostTensor {
  DType dtype = DType::f32;
  std::size_t count = 0;
  std::vector<unsigned char> bytes;

  HostTensor() = default;
  HostTensor(DType t, std::size_t n) : dtype(t), count(n), bytes(n * dtype_size(t), 0) {}
  // float64 values in dtype t (exact for values that came from a tensor of dtype t).
  HostTensor(DType t, const std::vector<double>& values) : HostTensor(t, values.size()) {
    for (std::size_t k = 0; k < count; ++k) {
      if (dtype == DType::f64) {
        std::memcpy(at(k), &values[k], sizeof(double));
      } else {
        const auto v = static_cast<float>(values[k]);
        std::memcpy(at(k), &v, sizeof(float));
      }
    }
  }
  std::vector<double> values() const {
    std::vector<double> v(count);
    for (std::size_t k = 0; k < count; ++k) {
      if (dtype == DType::f64) {
        std::memcpy(&v[k], at(k), sizeof(double));
      } else {
        float f;
        std::memcpy(&f, at(k), sizeof(float));
        v[k] = f;
      }
    }
    return v;
  }
  ConstBuffer in() const { return ConstBuffer(bytes.data(), count, dtype); }
  Buffer out() { return Buffer(bytes.data(), count, dtype); }
  unsigned char* at(std::size_t element) { return bytes.data() + element * dtype_size(dtype); }
  const unsigned char* at(std::size_t element) const {
    return bytes.data() + element * dtype_size(dtype);
  }
};

// The input folder: every read names its file in errors.
class InputDir {
 public:
  InputDir(fs::path dir, DType dtype) : dir_(std::move(dir)), dtype_(dtype) {}

  bool exists(const std::string& name) const { return fs::exists(dir_ / name); }

  // The names of the folder's .npy files, without the extension.
  std::vector<std::string> npy_names() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      if (entry.path().extension() == ".npy") names.push_back(entry.path().stem().string());
    }
    return names;
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  io::NpyArray read(const std::string& name) const {
    try {
      return io::read_npy(path(name));
    } catch (const Error& e) {
      throw BadInput(e.what());
    }
  }

  // Reads `name`, which must hold `shape` in the model's dtype; `meaning` explains the shape.
  HostTensor tensor(const std::string& name, const Shape& shape, const std::string& meaning) const {
    io::NpyArray a = read(name);
    if (a.type != npy_type(dtype_)) {
      throw BadInput(path(name) + ": element type " + io::npy_descr(a.type) + ", the model is " +
                     to_string(dtype_) + " (" + io::npy_descr(npy_type(dtype_)) + ")");
    }
    if (a.shape != shape) {
      throw BadInput(path(name) + ": shape " + a.shape_string() + ", expected " +
                     shape_text(shape) + " = " + meaning);
    }
    HostTensor t(dtype_, a.count());
    t.bytes = std::move(a.data);
    return t;
  }

  // Copies the tensor into `dest` at element `offset`.
  void tensor_into(const std::string& name, const Shape& shape, const std::string& meaning,
                   HostTensor& dest, std::size_t offset) const {
    const HostTensor t = tensor(name, shape, meaning);
    std::memcpy(dest.at(offset), t.bytes.data(), t.bytes.size());
  }

 private:
  fs::path dir_;
  DType dtype_;
};

// Outputs are collected first and written last, as one io::OutputFiles group (all replaced or,
// on any failure, none); this adds one of them from a host tensor.
void add_output(io::OutputFiles& out, const std::string& name, const Shape& shape,
                const HostTensor& t, std::size_t offset) {
  out.add_npy(name, io::make_npy(npy_type(t.dtype), shape, t.at(offset)));
}

struct Sizes {
  int T = 0, B = 0;
};

Sizes read_x_shape(const io::NpyArray& x, const Model& model, const std::string& path) {
  const bool tm = model.layout == Layout::time_major;
  const char* expect = tm ? "(T, B, I) for time_major" : "(B, T, I) for batch_major";
  if (x.shape.size() != 3) {
    throw BadInput(path + ": shape " + x.shape_string() + ", expected 3 dimensions " + expect);
  }
  if (x.shape[2] != static_cast<std::size_t>(model.input_size)) {
    throw BadInput(path + ": shape " + x.shape_string() + ": last dimension must be the model's " +
                   "input_size " + std::to_string(model.input_size) + ", " + expect);
  }
  Sizes s;
  const std::size_t T = tm ? x.shape[0] : x.shape[1], B = tm ? x.shape[1] : x.shape[0];
  if (T < 1 || T > static_cast<std::size_t>(max_size) || B < 1 ||
      B > static_cast<std::size_t>(max_size)) {
    throw BadInput(path + ": shape " + x.shape_string() + ": T and B must be in [1, " +
                   std::to_string(max_size) + "]");
  }
  s.T = static_cast<int>(T);
  s.B = static_cast<int>(B);
  return s;
}

std::vector<std::int32_t> read_lengths(const InputDir& in, const Sizes& s) {
  const std::string name = "lengths.npy";
  const io::NpyArray a = in.read(name);
  if (a.type != io::NpyType::i32 && a.type != io::NpyType::i64) {
    throw BadInput(in.path(name) + ": element type " + io::npy_descr(a.type) +
                   ", expected int32 or int64");
  }
  if (a.shape != Shape{static_cast<std::size_t>(s.B)}) {
    throw BadInput(in.path(name) + ": shape " + a.shape_string() + ", expected (" +
                   std::to_string(s.B) + ",) = (B,)");
  }
  std::vector<std::int32_t> lengths(s.B);
  for (int b = 0; b < s.B; ++b) {
    long long v = 0;
    if (a.type == io::NpyType::i32) {
      std::int32_t v32;
      std::memcpy(&v32, a.data.data() + 4 * b, 4);
      v = v32;
    } else {
      std::int64_t v64;
      std::memcpy(&v64, a.data.data() + 8 * b, 8);
      v = v64;
    }
    if (v < 0 || v > s.T) {
      throw BadInput(in.path(name) + ": entry " + std::to_string(b) + " = " + std::to_string(v) +
                     " is outside [0, T=" + std::to_string(s.T) + "]");
    }
    lengths[b] = static_cast<std::int32_t>(v);
  }
  return lengths;
}

std::vector<Dir> dirs_of(const Layer& layer) {
  return layer.bidirectional ? std::vector<Dir>{Dir::fw, Dir::bw} : std::vector<Dir>{Dir::fw};
}

std::string layer_text(const Model& model, int l) {
  const Layer& layer = model.layers[l];
  return "layer " + std::to_string(l) + " (" + to_string(layer.cell) +
         ", H=" + std::to_string(layer.hidden) +
         ", I=" + std::to_string(layer_input_size(model, l)) + ")";
}

// Weight files are refused, not ignored, when they hold what rnnx cannot run (exit 3) or belong
// to another model (a layer or direction this one lacks: exit 2).
void refuse_unexpected_tensors(const InputDir& in, const Model& model, WeightFormat format,
                               const std::vector<TensorSpec>& specs) {
  for (const RefusedTensor& r : refused_tensors(model, format)) {
    const std::string file = r.name + ".npy";
    if (in.exists(file)) throw Error(Status::unsupported, in.path(file) + ": " + r.reason);
  }
  std::set<std::string> expected;
  for (const TensorSpec& spec : specs) expected.insert(spec.name);
  for (const std::string& name : in.npy_names()) {
    if (is_weight_tensor_name(format, name) && expected.count(name) == 0) {
      throw BadInput(in.path(name + ".npy") + ": a " + to_string(format) +
                     " weight file for a layer or direction the model " +
                     "does not have (model: " + describe(model) + ")");
    }
  }
}

// Weights: one NPY per tensor of `format` (docs/INTEROP.md),
// converted into the canonical flat buffer.
HostTensor read_weights(const InputDir& in, const Model& model, WeightFormat format) {
  const std::vector<TensorSpec> specs = weight_tensors(model, format);
  refuse_unexpected_tensors(in, model, format, specs);
  std::vector<NamedTensor> tensors;
  for (const TensorSpec& spec : specs) {
    const HostTensor t =
        in.tensor(spec.name + ".npy", spec.shape,
                  std::string(to_string(format)) + " weights of " + layer_text(model, spec.layer));
    tensors.push_back({spec.name, spec.shape, t.values()});
  }
  return HostTensor(model.dtype, import_weights(model, format, tensors));
}

// Optional per-layer state files (h0/c0 or dhn/dcn) into a StateLayout buffer; empty when none
// of them exists.
HostTensor read_states(const InputDir& in, const Model& model, int batch, const char* h_name,
                       const char* c_name) {
  const StateLayout sl(model, batch);
  HostTensor state(model.dtype, sl.size());
  bool any = false;
  for (int l = 0; l < static_cast<int>(model.layers.size()); ++l) {
    const Layer& layer = model.layers[l];
    const Shape shape{static_cast<std::size_t>(batch), static_cast<std::size_t>(layer.hidden)};
    for (Dir d : dirs_of(layer)) {
      const std::string h = tensor_file(l, d, h_name), c = tensor_file(l, d, c_name);
      if (in.exists(h)) {
        in.tensor_into(h, shape, "[B, H] for " + layer_text(model, l), state, sl.h(l, d));
        any = true;
      }
      if (in.exists(c)) {
        if (!cell_traits(layer).has_c) {
          throw BadInput(in.path(c) + ": " + layer_text(model, l) + " is " +
                         to_string(cell_kind(layer)) + ", which has no c state (LSTM only)");
        }
        in.tensor_into(c, shape, "[B, H] for " + layer_text(model, l), state, sl.c(l, d));
        any = true;
      }
    }
  }
  return any ? state : HostTensor();
}

void add_states(io::OutputFiles& out, const Model& model, int batch, const HostTensor& state,
                const char* h_name, const char* c_name) {
  const StateLayout sl(model, batch);
  for (int l = 0; l < static_cast<int>(model.layers.size()); ++l) {
    const Layer& layer = model.layers[l];
    const Shape shape{static_cast<std::size_t>(batch), static_cast<std::size_t>(layer.hidden)};
    for (Dir d : dirs_of(layer)) {
      add_output(out, tensor_file(l, d, h_name), shape, state, sl.h(l, d));
      if (cell_traits(layer).has_c)
        add_output(out, tensor_file(l, d, c_name), shape, state, sl.c(l, d));
    }
  }
}

void add_weight_gradients(io::OutputFiles& out, const Model& model, WeightFormat format,
                          const HostTensor& dweights) {
  for (const NamedTensor& t : export_gradients(model, format, dweights.values())) {
    add_output(out, gradient_file(t.name), t.shape, HostTensor(model.dtype, t.values), 0);
  }
}

ConstBuffer optional(const HostTensor& t) {
  return t.count == 0 ? ConstBuffer() : t.in();
}

}  // namespace

int run_command(const std::vector<std::string>& argv) {
  const RunOptions options = parse_run_options(argv);  // no file system before this
  const std::string& model_path = options.model;
  const fs::path dir = options.dir;
  const Engine engine = options.engine;
  const bool grad = options.grad;
  const int repeat = options.repeat;
  const WeightFormat format = options.format;

  if (!fs::is_directory(dir)) throw BadInput(dir.string() + ": not a directory");
  io::Json json;
  try {
    json = io::read_json_file(model_path);
  } catch (const Error& e) {
    throw BadInput(e.what());
  }
  const Model model = model_from_json(json, model_path);
  try {
    check_weight_format(model, format);
  } catch (const Error& e) {
    throw Error(e.status(),
                model_path + ": --weights-format " + to_string(format) + ": " + e.what());
  }
  Rnn rnn(model, engine);

  // Read and check every input before computing or writing anything.
  const InputDir in(dir, model.dtype);
  const io::NpyArray x_file = in.read("x.npy");
  const Sizes s = read_x_shape(x_file, model, in.path("x.npy"));
  const bool tm = model.layout == Layout::time_major;
  const auto T = static_cast<std::size_t>(s.T), B = static_cast<std::size_t>(s.B);
  const Shape x_shape = x_file.shape;
  const Shape y_shape = tm ? Shape{T, B, static_cast<std::size_t>(output_size(model))}
                           : Shape{B, T, static_cast<std::size_t>(output_size(model))};
  const std::string seq = tm ? "[T, B, " : "[B, T, ";
  const HostTensor x = in.tensor("x.npy", x_shape, seq + "I]");
  const std::vector<std::int32_t> lengths =
      in.exists("lengths.npy") ? read_lengths(in, s) : std::vector<std::int32_t>();
  const HostTensor weights = read_weights(in, model, format);
  const HostTensor init = read_states(in, model, s.B, "h0", "c0");
  HostTensor dy, dfinal;
  if (grad) {
    dy = in.tensor("dy.npy", y_shape, seq + "D] (the shape of y)");
    dfinal = read_states(in, model, s.B, "dhn", "dcn");
  }

  const std::size_t state_size = StateLayout(model, s.B).size();
  HostTensor y(model.dtype, T * B * output_size(model)), final_state(model.dtype, state_size);
  Forward f;
  f.steps = s.T;
  f.batch = s.B;
  f.x = x.in();
  f.lengths = lengths.empty() ? nullptr : lengths.data();
  f.weights = weights.in();
  f.init = optional(init);
  f.y = y.out();
  f.final_state = final_state.out();

  // The folder must take the outputs: found out now rather than after the computation.
  io::check_writable(dir);
  io::OutputFiles out(dir);
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  };
  // One-time costs (buffers, threads, JIT, graphs) go to prepare, so that the first call
  // measures the call itself; --repeat N times N calls and reports the later ones apart.
  auto start = Clock::now();
  rnn.prepare(s.T, s.B);
  const double prepare_ms = ms_since(start);
  std::vector<double> call_ms;
  if (grad) {
    std::vector<unsigned char> reserve(rnn.reserve_bytes(s.T, s.B));
    HostTensor dx(model.dtype, x.count), dinit(model.dtype, state_size),
        dweights(model.dtype, weights.count);
    Backward b;
    b.dy = dy.in();
    b.dfinal = optional(dfinal);
    b.dx = dx.out();
    b.dinit = dinit.out();
    b.dweights = dweights.out();
    for (int k = 0; k < repeat; ++k) {
      start = Clock::now();
      rnn.forward_train(f, Reserve{reserve.data(), reserve.size()});
      rnn.backward(f, b, Reserve{reserve.data(), reserve.size()});
      call_ms.push_back(ms_since(start));
    }
    add_output(out, "dx.npy", x_shape, dx, 0);
    add_states(out, model, s.B, dinit, "dh0", "dc0");
    add_weight_gradients(out, model, format, dweights);
  } else {
    for (int k = 0; k < repeat; ++k) {
      start = Clock::now();
      rnn.forward(f);
      call_ms.push_back(ms_since(start));
    }
  }
  add_output(out, "y.npy", y_shape, y, 0);
  add_states(out, model, s.B, final_state, "hn", "cn");
  out.commit();

  std::printf("rnnx run: engine %s, %s, T=%d B=%d%s: prepare %.3f ms, first call %.3f ms",
              to_string(rnn.engine()), describe(model).c_str(), s.T, s.B,
              grad ? ", forward+backward" : ", forward", prepare_ms, call_ms.front());
  if (repeat > 1) {
    std::vector<double> later(call_ms.begin() + 1, call_ms.end());
    std::sort(later.begin(), later.end());
    std::printf(", later calls median %.3f ms (min %.3f, max %.3f, %d calls)",
                later[later.size() / 2], later.front(), later.back(), repeat - 1);
  }
  std::printf("\n");
  std::printf("wrote %s into %s\n", out.names().c_str(), dir.string().c_str());
  return exit_ok;
}

}  // namespace rnnx::cli
