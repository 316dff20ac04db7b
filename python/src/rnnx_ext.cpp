// The Python module rnnx._rnnx, which python/rnnx/__init__.py re-exports: rnnx's API on numpy
// arrays and DLPack tensors, without copies, with the GIL released while rnnx computes.
// docs/PYTHON.md describes it.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "arrays.h"
#include "model_dict.h"
#include "rnnx/rnnx.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace rnnx::python {

namespace {

// ---- errors -----------------------------------------------------------------------------------

// rnnx.Error and its subclasses, one per Python category; each instance carries .status.
struct ErrorTypes {
  PyObject* base = nullptr;         // rnnx.Error(Exception)
  PyObject* invalid = nullptr;      // rnnx.InvalidArgumentError(Error, ValueError)
  PyObject* unavailable = nullptr;  // rnnx.UnavailableError(Error, NotImplementedError)
  PyObject* backend = nullptr;      // rnnx.BackendError(Error, RuntimeError)
};
ErrorTypes g_errors;  // references kept for the life of the process

PyObject* make_error_type(nb::module_& m, const char* name, nb::tuple bases, const char* doc) {
  nb::dict namespace_;
  namespace_["__module__"] = "rnnx";
  namespace_["__doc__"] = doc;
  nb::object type = nb::handle(reinterpret_cast<PyObject*>(&PyType_Type))(name, bases, namespace_);
  m.attr(name) = type;
  return type.release().ptr();
}

PyObject* error_type(Status status) {
  switch (status) {
    case Status::invalid_argument:
      return g_errors.invalid;
    case Status::unsupported:
    case Status::not_implemented:
    case Status::not_built:
      return g_errors.unavailable;
    case Status::no_device:
    case Status::backend_error:
    case Status::io_error:
      return g_errors.backend;
  }
  return g_errors.backend;
}

// The Status as its enumerator is spelled ("invalid_argument"), for .status.
const char* status_name(Status status) {
  switch (status) {
    case Status::invalid_argument:
      return "invalid_argument";
    case Status::unsupported:
      return "unsupported";
    case Status::not_implemented:
      return "not_implemented";
    case Status::not_built:
      return "not_built";
    case Status::no_device:
      return "no_device";
    case Status::backend_error:
      return "backend_error";
    case Status::io_error:
      return "io_error";
  }
  return "unknown";
}

void translate_error(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const Error& e) {
    PyObject* type = error_type(e.status());
    try {
      nb::object exception = nb::handle(type)(e.what());
      exception.attr("status") = status_name(e.status());
      PyErr_SetObject(type, exception.ptr());
    } catch (nb::python_error& raised) {
      raised.restore();
    }
  }
}

// ---- engine options and streams -----------------------------------------------------------------

Stream to_stream(nb::handle stream) {
  if (stream.is_none()) return nullptr;
  nb::object value = nb::borrow(stream);
  if (nb::hasattr(stream, "__cuda_stream__")) {  // the CUDA stream protocol: (version, handle)
    nb::object pair = stream.attr("__cuda_stream__")();
    if (!nb::isinstance<nb::tuple>(pair) || nb::len(pair) != 2) {
      fail("stream: __cuda_stream__() returned " + std::string(nb::repr(pair).c_str()) +
           ", expected (version, handle)");
    }
    value = pair[1];
  } else if (nb::hasattr(stream, "cuda_stream")) {  // torch.cuda.Stream
    value = stream.attr("cuda_stream");
  }
  if (!PyLong_Check(value.ptr()) || PyBool_Check(value.ptr())) {
    fail(
        "stream: expected None, an int (a cudaStream_t) or an object with __cuda_stream__ or "
        "cuda_stream (a torch.cuda.Stream), found " +
        type_of(stream));
  }
  const unsigned long long handle = PyLong_AsUnsignedLongLong(value.ptr());
  if (PyErr_Occurred() != nullptr) {
    PyErr_Clear();
    fail("stream: " + std::string(nb::repr(value).c_str()) + " is not a cudaStream_t");
  }
  return reinterpret_cast<Stream>(static_cast<std::uintptr_t>(handle));
}

Model to_model(nb::handle model) {
  if (nb::isinstance<Model>(model)) return nb::cast<const Model&>(model);
  return model_from_python(model, nb::handle());
}

Dir to_dir(const std::string& name) {
  if (name == "fw") return Dir::fw;
  if (name == "bw") return Dir::bw;
  fail("dir: \"" + name + "\" is unknown: use \"fw\" or \"bw\"");
}

Param to_param(const std::string& name) {
  for (const Param p : {Param::Wx, Param::Wh, Param::bx, Param::bh}) {
    if (name == to_string(p)) return p;
  }
  fail("param: \"" + name + "\" is unknown: use \"Wx\", \"Wh\", \"bx\" or \"bh\"");
}

// ---- outputs the binding allocates --------------------------------------------------------------

// numpy's empty and zeros, looked up once; torch only when the caller's x is a torch tensor (rnnx
// never imports torch itself).
struct Frameworks {
  PyObject* numpy_empty = nullptr;
  PyObject* numpy_zeros = nullptr;
  PyObject* torch = nullptr;         // the module, once seen in sys.modules
  PyObject* torch_tensor = nullptr;  // torch.Tensor
};
Frameworks g_frameworks;

PyObject* torch_tensor_type() {
  if (g_frameworks.torch_tensor == nullptr) {
    PyObject* torch = PyDict_GetItemString(PyImport_GetModuleDict(), "torch");  // borrowed
    if (torch == nullptr) return nullptr;
    PyObject* tensor = PyObject_GetAttrString(torch, "Tensor");
    if (tensor == nullptr) {
      PyErr_Clear();
      return nullptr;
    }
    Py_INCREF(torch);
    g_frameworks.torch = torch;
    g_frameworks.torch_tensor = tensor;
  }
  return g_frameworks.torch_tensor;
}

const char* numpy_name(DType dtype) {
  return to_string(dtype);  // "float32", "float64", "float16"; bfloat16 has no numpy type
}

// Allocates a call's missing outputs as the caller's x is held: a torch tensor on x's device when
// x is a torch tensor, else a numpy array (host memory only).
class Allocator {
 public:
  explicit Allocator(const Array& x) : x_(&x) {
    PyObject* tensor = torch_tensor_type();
    torch_ = tensor != nullptr && PyObject_IsInstance(x.object().ptr(), tensor) == 1;
  }

  // dtype: one of rnnx's, or nullopt for bytes (uint8).
  nb::object make(const char* name, std::initializer_list<std::size_t> shape,
                  std::optional<DType> dtype, bool zeros = false) const {
    nb::list dims;
    for (const std::size_t n : shape) dims.append(n);
    nb::tuple dims_tuple = nb::tuple(dims);
    if (torch_) {
      nb::handle torch(g_frameworks.torch);
      nb::object type = torch.attr(dtype ? to_string(*dtype) : "uint8");
      return torch.attr(zeros ? "zeros" : "empty")(dims_tuple, "dtype"_a = type,
                                                   "device"_a = x_->object().attr("device"));
    }
    if (x_->on_device()) {
      fail(std::string(name) + ": x is " + x_->device_text() +
           " memory but not a torch tensor; rnnx allocates outputs as numpy arrays (host) or " +
           "torch tensors only: pass " + name);
    }
    if (dtype == DType::bf16) {
      fail(std::string(name) + ": numpy has no bfloat16, so rnnx cannot allocate it: pass " + name +
           " (e.g. a torch.bfloat16 tensor)");
    }
    nb::handle make(zeros ? g_frameworks.numpy_zeros : g_frameworks.numpy_empty);
    return make(dims_tuple, "dtype"_a = dtype ? numpy_name(*dtype) : "uint8");
  }

 private:
  const Array* x_;
  bool torch_ = false;
};

// ---- the plan -----------------------------------------------------------------------------------

struct Plan {
  Plan(const Model& model, Engine engine, const Options& given)
      : rnn(model, engine, given),
        options(given),
        weights_size(WeightLayout(model).size()),
        state_per_batch(StateLayout(model, 1).size()) {}

  Rnn rnn;
  Options options;
  std::size_t weights_size;     // WeightLayout(model).size()
  std::size_t state_per_batch;  // StateLayout(model, B).size() / B
  // One plan is not safe to call from two threads at once (rnn.h); Python threads run its calls
  // one after another. Taken with the GIL released.
  std::mutex mutex;
};

// Runs `work` on the plan with the GIL released and the plan's lock held.
template <class Work>
void locked(Plan& plan, Work&& work) {
  nb::gil_scoped_release release;
  const std::lock_guard<std::mutex> lock(plan.mutex);
  work();
}

// What every call shares: the engine's memory, the model's sizes, x and its shape.
class Call {
 public:
  Call(Plan& plan, nb::handle x_object)
      : plan_(plan),
        model_(plan.rnn.model()),
        engine_(plan.rnn.engine()),
        memory_(is_gpu(engine_) ? Memory::device : Memory::host),
        who_(std::string("the ") + to_string(engine_) + " engine") {
    x = input(x_object, "x", model_.dtype, "the model's dtype");
    if (x.ndim() != 3 || x.shape(2) != model_.input_size) {
      fail("x: shape " + x.shape_text() + ", expected " +
           (time_major() ? "[T, B, I=" : "[B, T, I=") + std::to_string(model_.input_size) + "] (" +
           to_string(model_.layout) + ")");
    }
    const std::int64_t t = time_major() ? x.shape(0) : x.shape(1);
    const std::int64_t b = time_major() ? x.shape(1) : x.shape(0);
    if (t < 1 || b < 1 || t > max_size || b > max_size) {
      fail("x: shape " + x.shape_text() + ": T and B must be in [1, " + std::to_string(max_size) +
           "]");
    }
    steps = static_cast<int>(t);
    batch = static_cast<int>(b);
  }

  bool time_major() const { return model_.layout == Layout::time_major; }
  std::size_t state_size() const { return plan_.state_per_batch * static_cast<std::size_t>(batch); }
  const Model& model() const { return model_; }

  // A read-only argument in the engine's memory, of `dtype`, C-contiguous.
  Array input(nb::handle object, const char* name, DType dtype, const char* role) {
    Array a(object, name, false);
    check(a, dtype, role);
    return a;
  }
  // A written argument: None (allocate), False (skip, where allowed) or an array.
  Array output(nb::handle object, const char* name, DType dtype, const char* role) {
    Array a(object, name, true);
    check(a, dtype, role);
    return a;
  }

  // The weights, the states and the sequences, each checked against the model.
  void check_weights(const Array& a) const {
    a.require_size(plan_.weights_size, "WeightLayout(model).size");
  }
  void check_state(const Array& a) const {
    a.require_size(state_size(), "StateLayout(model, B).size");
  }
  void check_sequence(const Array& a, int features, const char* meaning) const {
    const std::int64_t t = steps, b = batch, f = features;
    if (time_major()) {
      a.require_shape({t, b, f}, meaning);
    } else {
      a.require_shape({b, t, f}, meaning);
    }
  }

  // lengths: None, a list of ints, or a host int32 array of B.
  void set_lengths(nb::handle object) {
    if (object.is_none()) return;
    if (nb::isinstance<nb::list>(object) || nb::isinstance<nb::tuple>(object)) {
      const std::size_t n = nb::len(object);
      if (n != static_cast<std::size_t>(batch)) {
        fail("lengths: " + std::to_string(n) + " entries, expected B = " + std::to_string(batch));
      }
      lengths_copy_.resize(n);
      for (std::size_t b = 0; b < n; ++b) {
        nb::handle v = object[b];
        int overflow = 0;
        const long long len = PyLong_Check(v.ptr()) && !PyBool_Check(v.ptr())
                                  ? PyLong_AsLongLongAndOverflow(v.ptr(), &overflow)
                                  : -1;
        if (!PyLong_Check(v.ptr()) || PyBool_Check(v.ptr()) || overflow != 0 || len < 0 ||
            len > steps) {
          fail("lengths[" + std::to_string(b) + "] = " + std::string(nb::repr(v).c_str()) +
               ": must be an int in [0, steps=" + std::to_string(steps) + "]");
        }
        lengths_copy_[b] = static_cast<std::int32_t>(len);
      }
      lengths = lengths_copy_.data();
      return;
    }
    lengths_array_ = Array(object, "lengths", false);
    lengths_array_.require_memory(Memory::host, "rnnx reads lengths on the host: it");
    const nb::dlpack::dtype t = lengths_array_.raw_dtype();
    if (t.code != static_cast<std::uint8_t>(nb::dlpack::dtype_code::Int) || t.bits != 32) {
      fail("lengths: dtype " + lengths_array_.dtype_text() + ", expected int32");
    }
    lengths_array_.require_shape({batch}, "[B]");
    lengths_array_.require_c_contiguous();
    lengths = static_cast<const std::int32_t*>(lengths_array_.data());
  }

  Forward forward_args(const Array& weights, const Array& init, const Array& y,
                       const Array& final_state, bool weights_unchanged) const {
    const DType d = model_.dtype, s = state_dtype(model_.dtype);
    Forward f;
    f.steps = steps;
    f.batch = batch;
    f.x = ConstBuffer(x.data(), x.size(), d);
    f.lengths = lengths;
    f.weights = ConstBuffer(weights.data(), weights.size(), d);
    if (init.given()) f.init = ConstBuffer(init.data(), init.size(), s);
    f.y = Buffer(y.data(), y.size(), d);
    if (final_state.given()) f.final_state = Buffer(final_state.data(), final_state.size(), s);
    f.weights_unchanged = weights_unchanged;
    return f;
  }

  Array x;
  int steps = 0;
  int batch = 0;
  const std::int32_t* lengths = nullptr;

 private:
  void check(const Array& a, DType dtype, const char* role) const {
    a.require_memory(memory_, who_.c_str());
    if (memory_ == Memory::device && x.given() && a.device_id() != x.device_id()) {
      fail(std::string(a.name()) + ": on " + a.device_text() + " but x is on " + x.device_text() +
           "; a call's arrays must all be on the plan's device");
    }
    a.require_dtype(dtype, role);
    a.require_c_contiguous();
  }

  Plan& plan_;
  const Model& model_;
  Engine engine_;
  Memory memory_;
  std::string who_;
  Array lengths_array_;
  std::vector<std::int32_t> lengths_copy_;
};

constexpr const char* kModelDtype = "the model's dtype";
constexpr const char* kStateDtype = "the model's state dtype, rnnx.Model.state_dtype";

bool is_false(nb::handle h) {
  return h.is(Py_False);
}

// forward and forward_train: (y, final_state) or (y, final_state, reserve).
nb::object run_forward(Plan& plan, nb::handle x_obj, nb::handle weights_obj, nb::handle lengths_obj,
                       nb::handle init_obj, nb::handle y_obj, nb::handle final_obj,
                       nb::handle stream_obj, bool weights_unchanged, bool train,
                       nb::handle reserve_obj) {
  Call call(plan, x_obj);
  const Model& model = call.model();
  const DType s = state_dtype(model.dtype);
  const int out = output_size(model);
  const Array weights = call.input(weights_obj, "weights", model.dtype, kModelDtype);
  call.check_weights(weights);
  call.set_lengths(lengths_obj);
  Array init;
  if (!init_obj.is_none()) {
    init = call.input(init_obj, "init", s, kStateDtype);
    call.check_state(init);
  }
  Array y, final_state, reserve;
  if (!y_obj.is_none()) {
    y = call.output(y_obj, "y", model.dtype, kModelDtype);
    call.check_sequence(y, out, "[T, B, D] or [B, T, D] as the layout says, D = output_size");
  }
  if (!final_obj.is_none() && !is_false(final_obj)) {
    final_state = call.output(final_obj, "final_state", s, kStateDtype);
    call.check_state(final_state);
  }
  std::size_t reserve_bytes = 0;
  if (train) {
    locked(plan, [&] { reserve_bytes = plan.rnn.reserve_bytes(call.steps, call.batch); });
    if (!reserve_obj.is_none()) {
      reserve = Array(reserve_obj, "reserve", true);
      reserve.require_memory(
          is_gpu(plan.rnn.engine()) ? Memory::device : Memory::host,
          (std::string("the ") + to_string(plan.rnn.engine()) + " engine").c_str());
      reserve.require_c_contiguous();
      if (reserve.bytes() < reserve_bytes) {
        fail("reserve: " + std::to_string(reserve.bytes()) + " bytes, expected at least " +
             "Rnn.reserve_bytes(T, B) = " + std::to_string(reserve_bytes));
      }
    }
  }
  require_disjoint({&call.x, &weights, &init, &y, &final_state, &reserve});

  // Every given argument is good: allocate the missing outputs, then run.
  const Allocator allocate(call.x);
  const auto t = static_cast<std::size_t>(call.steps), b = static_cast<std::size_t>(call.batch);
  const auto d = static_cast<std::size_t>(out);
  nb::object y_result = nb::borrow(y_obj), final_result = nb::none(), reserve_result;
  if (!y.given()) {
    y_result = call.time_major() ? allocate.make("y", {t, b, d}, model.dtype)
                                 : allocate.make("y", {b, t, d}, model.dtype);
    y = Array(y_result, "y", true);
  }
  if (final_state.given()) {
    final_result = nb::borrow(final_obj);
  } else if (final_obj.is_none()) {
    final_result = allocate.make("final_state", {call.state_size()}, s);
    final_state = Array(final_result, "final_state", true);
  }
  if (train) {
    if (reserve.given()) {
      reserve_result = nb::borrow(reserve_obj);
    } else {
      reserve_result = allocate.make("reserve", {reserve_bytes}, std::nullopt);
      reserve = Array(reserve_result, "reserve", true);
    }
  }
  const Forward f = call.forward_args(weights, init, y, final_state, weights_unchanged);
  const Stream stream = to_stream(stream_obj);
  if (train) {
    const Reserve r{reserve.data(), reserve.bytes()};
    locked(plan, [&] { plan.rnn.forward_train(f, r, stream); });
    return nb::make_tuple(y_result, final_result, reserve_result);
  }
  locked(plan, [&] { plan.rnn.forward(f, stream); });
  return nb::make_tuple(y_result, final_result);
}

nb::object run_backward(Plan& plan, nb::handle x_obj, nb::handle weights_obj, nb::handle y_obj,
                        nb::handle dy_obj, nb::handle reserve_obj, nb::handle lengths_obj,
                        nb::handle init_obj, nb::handle dfinal_obj, nb::handle dx_obj,
                        nb::handle dinit_obj, nb::handle dweights_obj, bool accumulate,
                        nb::handle stream_obj) {
  Call call(plan, x_obj);
  const Model& model = call.model();
  const DType s = state_dtype(model.dtype);
  const int out = output_size(model);
  const char* sequence = "[T, B, D] or [B, T, D] as the layout says, D = output_size";
  const Array weights = call.input(weights_obj, "weights", model.dtype, kModelDtype);
  call.check_weights(weights);
  const Array y = call.input(y_obj, "y", model.dtype, kModelDtype);
  call.check_sequence(y, out, sequence);
  const Array dy = call.input(dy_obj, "dy", model.dtype, kModelDtype);
  call.check_sequence(dy, out, sequence);
  Array reserve(reserve_obj, "reserve", true);
  reserve.require_memory(is_gpu(plan.rnn.engine()) ? Memory::device : Memory::host,
                         (std::string("the ") + to_string(plan.rnn.engine()) + " engine").c_str());
  reserve.require_c_contiguous();
  call.set_lengths(lengths_obj);
  Array init, dfinal, dx, dinit, dweights;
  if (!init_obj.is_none()) {
    init = call.input(init_obj, "init", s, kStateDtype);
    call.check_state(init);
  }
  if (!dfinal_obj.is_none()) {
    dfinal = call.input(dfinal_obj, "dfinal", s, kStateDtype);
    call.check_state(dfinal);
  }
  if (!dx_obj.is_none() && !is_false(dx_obj)) {
    dx = call.output(dx_obj, "dx", model.dtype, kModelDtype);
    call.check_sequence(dx, model.input_size, "[T, B, I] or [B, T, I], as x");
  }
  if (!dinit_obj.is_none() && !is_false(dinit_obj)) {
    dinit = call.output(dinit_obj, "dinit", s, kStateDtype);
    call.check_state(dinit);
  }
  if (!dweights_obj.is_none()) {
    dweights = call.output(dweights_obj, "dweights", model.dtype, kModelDtype);
    call.check_weights(dweights);
  }
  std::size_t needed = 0;
  locked(plan, [&] { needed = plan.rnn.reserve_bytes(call.steps, call.batch); });
  if (reserve.bytes() < needed) {
    fail("reserve: " + std::to_string(reserve.bytes()) + " bytes, expected at least " +
         "Rnn.reserve_bytes(T, B) = " + std::to_string(needed) +
         " (the reserve forward_train filled)");
  }
  require_disjoint({&call.x, &weights, &y, &dy, &reserve, &init, &dfinal, &dx, &dinit, &dweights});

  const Allocator allocate(call.x);
  const auto t = static_cast<std::size_t>(call.steps), b = static_cast<std::size_t>(call.batch);
  const auto in = static_cast<std::size_t>(model.input_size);
  nb::object dx_result = nb::none(), dinit_result = nb::none(), dweights_result;
  if (dx.given()) {
    dx_result = nb::borrow(dx_obj);
  } else if (dx_obj.is_none()) {
    dx_result = call.time_major() ? allocate.make("dx", {t, b, in}, model.dtype)
                                  : allocate.make("dx", {b, t, in}, model.dtype);
    dx = Array(dx_result, "dx", true);
  }
  if (dinit.given()) {
    dinit_result = nb::borrow(dinit_obj);
  } else if (dinit_obj.is_none()) {
    dinit_result = allocate.make("dinit", {call.state_size()}, s);
    dinit = Array(dinit_result, "dinit", true);
  }
  if (dweights.given()) {
    dweights_result = nb::borrow(dweights_obj);
  } else {
    dweights_result = allocate.make("dweights", {plan.weights_size}, model.dtype, accumulate);
    dweights = Array(dweights_result, "dweights", true);
  }

  const Array no_final;
  const Forward f = call.forward_args(weights, init, y, no_final, false);
  Backward g;
  g.dy = ConstBuffer(dy.data(), dy.size(), model.dtype);
  if (dfinal.given()) g.dfinal = ConstBuffer(dfinal.data(), dfinal.size(), s);
  if (dx.given()) g.dx = Buffer(dx.data(), dx.size(), model.dtype);
  if (dinit.given()) g.dinit = Buffer(dinit.data(), dinit.size(), s);
  g.dweights = Buffer(dweights.data(), dweights.size(), model.dtype);
  g.accumulate = accumulate;
  const Stream stream = to_stream(stream_obj);
  const Reserve r{reserve.data(), reserve.bytes()};
  locked(plan, [&] { plan.rnn.backward(f, g, r, stream); });
  return nb::make_tuple(dx_result, dweights_result, dinit_result);
}

nb::dict stats_dict(const PlanStats& s) {
  nb::dict graph;
  graph["graphs"] = s.graph.graphs;
  graph["nodes"] = s.graph.nodes;
  graph["build_ms"] = s.graph.build_ms;
  graph["capture_retries"] = s.graph.capture_retries;
  nb::dict persistent;
  persistent["grid_barrier"] = to_string(s.persistent.grid_barrier);
  persistent["tensor_core_layers"] = s.persistent.tensor_core_layers;
  persistent["paired_layers"] = s.persistent.paired_layers;
  persistent["layer_choices"] = s.persistent.layer_choices;
  nb::dict d;
  d["workspace_bytes"] = s.workspace_bytes;
  d["graph"] = graph;
  d["persistent"] = persistent;
  return d;
}

nb::dict options_dict(const Options& o) {
  nb::dict d;
  d["allow_tf32"] = o.allow_tf32;
  d["inference_only"] = o.inference_only;
  d["threads"] = o.cpu.threads;
  d["cudnn_algo"] = to_string(o.cudnn.algo);
  d["persistent_barrier"] = to_string(o.persistent.barrier);
  d["persistent_tensor_cores"] = to_string(o.persistent.tensor_cores);
  d["persistent_directions"] = to_string(o.persistent.directions);
  return d;
}

// ---- layouts ------------------------------------------------------------------------------------

struct PyWeightLayout {
  explicit PyWeightLayout(const Model& m) : model(m), layout(m) {}
  Model model;
  WeightLayout layout;
};

struct PyStateLayout {
  PyStateLayout(const Model& m, int b) : model(m), layout(m, b), batch(b) {}
  Model model;
  StateLayout layout;
  int batch;
};

// A view of a flat, C-contiguous array of `size` elements: rows x cols elements from `offset`,
// shaped [rows, cols] ([rows] when cols is 0); a numpy or torch view sharing the caller's memory.
nb::object view_of(nb::handle array, const char* name, std::size_t size, std::size_t offset,
                   std::size_t rows, std::size_t cols) {
  const Array a(array, name, false);
  a.require_c_contiguous();
  a.require_size(size, "the layout's size");
  nb::object flat = array.attr("reshape")(-1);
  nb::object part = flat[nb::slice(offset, offset + rows * (cols == 0 ? 1 : cols))];
  return cols == 0 ? part : part.attr("reshape")(rows, cols);
}

std::size_t hidden_of(const Model& model, int layer) {
  if (layer < 0 || static_cast<std::size_t>(layer) >= model.layers.size()) {
    fail("layer = " + std::to_string(layer) + ": must be in [0, " +
         std::to_string(model.layers.size()) + ")");
  }
  return static_cast<std::size_t>(model.layers[static_cast<std::size_t>(layer)].hidden);
}

// ---- interop ------------------------------------------------------------------------------------

// The values of a host array of rnnx's float types, as float64.
std::vector<double> host_values(nb::handle object, const char* name, std::size_t expected) {
  const Array a(object, name, false);
  a.require_memory(Memory::host, "rnnx's weight conversion");
  a.require_c_contiguous();
  a.require_size(expected, "WeightLayout(model).size");
  const std::optional<DType> t = a.dtype();
  if (!t) fail(std::string(name) + ": dtype " + a.dtype_text() + ", expected a float type");
  std::vector<double> values(a.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    switch (*t) {
      case DType::f32:
        values[i] = static_cast<const float*>(a.data())[i];
        break;
      case DType::f64:
        values[i] = static_cast<const double*>(a.data())[i];
        break;
      case DType::bf16:
        values[i] = bf16_to_float(static_cast<const std::uint16_t*>(a.data())[i]);
        break;
      case DType::f16:
        values[i] = f16_to_float(static_cast<const std::uint16_t*>(a.data())[i]);
        break;
    }
  }
  return values;
}

// A new numpy array of `values`: float64 for float64 models, float32 otherwise.
nb::object numpy_array(const std::vector<double>& values, const std::vector<std::size_t>& shape,
                       DType model_dtype) {
  nb::list dims;
  for (const std::size_t n : shape) dims.append(n);
  const bool f64 = model_dtype == DType::f64;
  nb::object array = nb::handle(g_frameworks.numpy_empty)(nb::tuple(dims),
                                                          "dtype"_a = f64 ? "float64" : "float32");
  const Array a(array, "result", true);
  if (f64) {
    std::memcpy(a.data(), values.data(), values.size() * sizeof(double));
  } else {
    auto* out = static_cast<float*>(a.data());
    for (std::size_t i = 0; i < values.size(); ++i) out[i] = static_cast<float>(values[i]);
  }
  return array;
}

nb::dict tensors_dict(const Model& model, const std::vector<NamedTensor>& tensors) {
  nb::dict d;
  for (const NamedTensor& t : tensors)
    d[t.name.c_str()] = numpy_array(t.values, t.shape, model.dtype);
  return d;
}

nb::object import_weights_py(nb::handle model_obj, const std::string& format, nb::handle tensors) {
  const Model model = to_model(model_obj);
  const WeightFormat f = parse_weight_format(format);
  if (!nb::isinstance<nb::dict>(tensors)) {
    fail("tensors: expected a dict of name -> array, found " + type_of(tensors));
  }
  nb::module_ numpy = nb::module_::import_("numpy");
  std::vector<NamedTensor> named;
  for (const auto& [key, value] : nb::borrow<nb::dict>(tensors)) {
    if (!nb::isinstance<nb::str>(key)) fail("tensors: names must be strings");
    NamedTensor t;
    t.name = nb::cast<std::string>(key);
    nb::object array;
    try {
      array = numpy.attr("ascontiguousarray")(value, "dtype"_a = "float64");
    } catch (const nb::python_error& e) {
      fail("tensors[\"" + t.name +
           "\"]: not convertible to a float64 host array: " + nb::str(e.value()).c_str());
    }
    const Array a(array, "tensor", false);
    for (std::size_t i = 0; i < a.ndim(); ++i)
      t.shape.push_back(static_cast<std::size_t>(a.shape(i)));
    const auto* p = static_cast<const double*>(a.data());
    t.values.assign(p, p + a.size());
    named.push_back(std::move(t));
  }
  std::vector<double> weights;
  {
    nb::gil_scoped_release release;
    weights = import_weights(model, f, named);
  }
  return numpy_array(weights, {weights.size()}, model.dtype);
}

// ---- info ---------------------------------------------------------------------------------------

std::string version_text(int v, int major_div, int minor_div) {
  if (v == 0) return "";
  return std::to_string(v / major_div) + "." + std::to_string(v % major_div / minor_div) + "." +
         std::to_string(v % minor_div);
}

nb::dict info_dict() {
  BuildInfo build;
  GpuReport report;
  {
    nb::gil_scoped_release release;
    build = build_info();
    report = gpus();
  }
  nb::dict d;
  d["version"] = build.version;
  d["cuda"] = build.cuda;
  d["cuda_architectures"] = build.cuda_architectures;
  d["cuda_runtime_version"] = version_text(build.cuda_runtime_version, 1000, 10);
  d["cuda_driver_version"] = build.cuda_driver_version == 0
                                 ? std::string()
                                 : std::to_string(build.cuda_driver_version / 1000) + "." +
                                       std::to_string(build.cuda_driver_version % 1000 / 10);
  d["cublas_version"] = version_text(build.cublas_version, 10000, 100);
  d["cudnn_version"] = version_text(build.cudnn_version, 10000, 100);
  d["gpu_module"] = build.gpu_module;
  d["gpu_module_problem"] = build.gpu_module_problem;
  nb::list libraries;
  for (const GpuLibrary& l : build.gpu_libraries) {
    nb::dict entry;
    entry["name"] = l.name;
    entry["path"] = l.path;
    libraries.append(entry);
  }
  d["gpu_libraries"] = libraries;
  nb::list devices;
  for (const DeviceInfo& dev : report.devices) {
    nb::dict entry;
    entry["index"] = dev.index;
    entry["name"] = dev.name;
    entry["compute_capability"] = nb::make_tuple(dev.major, dev.minor);
    entry["memory_bytes"] = dev.memory_bytes;
    entry["multiprocessors"] = dev.multiprocessors;
    devices.append(entry);
  }
  d["gpus"] = devices;
  d["gpus_why_none"] = report.why_none;
  nb::list problems;
  for (const std::string& p : report.problems) problems.append(p);
  d["gpu_problems"] = problems;
  nb::dict engines;
  for (const Engine e : {Engine::cpu_reference, Engine::cpu, Engine::gpu_dynamic,
                         Engine::gpu_static, Engine::gpu_persistent, Engine::cudnn}) {
    std::string why;
    bool ok = false;
    {
      nb::gil_scoped_release release;
      ok = engine_available(e, &why);
    }
    engines[to_string(e)] = ok ? std::string("available") : why;
  }
  d["engines"] = engines;
  // What `auto` picks for the seed's LSTM (I=28, LSTM(128), forget bias 1), as `rnnx info` says.
  Model probe;
  probe.input_size = 28;
  Layer lstm;
  lstm.hidden = 128;
  lstm.forget_bias = 1.0;
  probe.layers = {lstm};
  Engine picked = Engine::automatic;
  {
    nb::gil_scoped_release release;
    picked = Rnn(probe, Engine::automatic).engine();
  }
  d["auto"] = to_string(picked);
  return d;
}

}  // namespace

}  // namespace rnnx::python

NB_MODULE(_rnnx, m) {
  using namespace rnnx;
  using namespace rnnx::python;

  m.doc() = "rnnx's LSTM, GRU and vanilla RNN layers (the C++ extension; import rnnx).";
  m.attr("__version__") = RNNX_VERSION_STRING;

  nb::module_ numpy = nb::module_::import_("numpy");
  g_frameworks.numpy_empty = nb::object(numpy.attr("empty")).release().ptr();
  g_frameworks.numpy_zeros = nb::object(numpy.attr("zeros")).release().ptr();

  g_errors.base = make_error_type(
      m, "Error", nb::make_tuple(nb::handle(PyExc_Exception)),
      "An rnnx::Error: its message, and .status, the rnnx::Status name (\"invalid_argument\", "
      "\"unsupported\", \"not_implemented\", \"not_built\", \"no_device\", \"backend_error\", "
      "\"io_error\").");
  g_errors.invalid = make_error_type(
      m, "InvalidArgumentError",
      nb::make_tuple(nb::handle(g_errors.base), nb::handle(PyExc_ValueError)),
      "A value or array outside its allowed range (status invalid_argument); nothing was written.");
  g_errors.unavailable = make_error_type(
      m, "UnavailableError",
      nb::make_tuple(nb::handle(g_errors.base), nb::handle(PyExc_NotImplementedError)),
      "The engine cannot run this (status unsupported, not_implemented or not_built); the "
      "message names the engines that can.");
  g_errors.backend = make_error_type(
      m, "BackendError", nb::make_tuple(nb::handle(g_errors.base), nb::handle(PyExc_RuntimeError)),
      "No usable GPU (status no_device), a failed CUDA/cuBLAS/cuDNN/oneDNN/BLAS call "
      "(backend_error) or a file problem (io_error).");
  nb::register_exception_translator(&translate_error);

  // ---- Model
  nb::class_<Model>(m, "Model",
                    "What an RNN computes: the fields of the CLI's model JSON (docs/CLI.md), from "
                    "a dict, a JSON string or keyword arguments.")
      .def(
          "__init__",
          [](Model* self, nb::handle spec, nb::kwargs fields) {
            new (self) Model(model_from_python(spec, fields));
          },
          "spec"_a = nb::none(), "fields"_a)
      .def_prop_ro("input_size", [](const Model& model) { return model.input_size; })
      .def_prop_ro("dtype", [](const Model& model) { return to_string(model.dtype); })
      .def_prop_ro("state_dtype",
                   [](const Model& model) { return to_string(state_dtype(model.dtype)); })
      .def_prop_ro("layout", [](const Model& model) { return to_string(model.layout); })
      .def_prop_ro("layers",
                   [](const Model& model) { return nb::object(model_to_dict(model)["layers"]); })
      .def_prop_ro("output_size", [](const Model& model) { return output_size(model); })
      .def("to_dict", &model_to_dict)
      .def("to_json",
           [](const Model& model) {
             return nb::module_::import_("json").attr("dumps")(model_to_dict(model));
           })
      .def("describe", [](const Model& model) { return describe(model); })
      .def("__repr__", [](const Model& model) { return "rnnx.Model(" + describe(model) + ")"; })
      .def("__eq__",
           [](const Model& a, nb::handle b) {
             return nb::isinstance<Model>(b) &&
                    model_to_dict(a).equal(model_to_dict(nb::cast<const Model&>(b)));
           })
      .def("__getstate__", &model_to_dict)
      .def("__setstate__", [](Model* self, nb::handle state) {
        new (self) Model(model_from_python(state, nb::handle()));
      });

  // ---- Rnn
  nb::class_<Plan>(m, "Rnn",
                   "A plan: a model bound to an engine (rnnx::Rnn). One plan runs one call at a "
                   "time; calls from several threads wait for each other.")
      .def(
          "__init__",
          [](Plan* self, nb::handle model_obj, const std::string& engine, int threads,
             bool allow_tf32, bool inference_only, const std::string& cudnn_algo,
             const std::string& persistent_barrier, const std::string& persistent_tensor_cores,
             const std::string& persistent_directions) {
            const Model model = to_model(model_obj);
            const Engine e = parse_engine(engine);
            Options o;
            o.allow_tf32 = allow_tf32;
            o.inference_only = inference_only;
            o.cpu.threads = threads;
            o.cudnn.algo = parse_cudnn_algo(cudnn_algo);
            o.persistent.barrier = parse_persistent_barrier(persistent_barrier);
            o.persistent.tensor_cores = parse_persistent_tensor_cores(persistent_tensor_cores);
            o.persistent.directions = parse_persistent_directions(persistent_directions);
            nb::gil_scoped_release release;
            new (self) Plan(model, e, o);
          },
          "model"_a, "engine"_a = "auto", nb::kw_only(), "threads"_a = 0, "allow_tf32"_a = false,
          "inference_only"_a = false, "cudnn_algo"_a = "standard", "persistent_barrier"_a = "auto",
          "persistent_tensor_cores"_a = "auto", "persistent_directions"_a = "paired",
          "A plan of `model` (an rnnx.Model, a dict or JSON) on `engine`; the keywords are "
          "rnnx::Options. Raises rnnx.Error when the engine cannot run the model here.")
      .def_prop_ro("engine", [](const Plan& p) { return to_string(p.rnn.engine()); })
      .def_prop_ro("model", [](const Plan& p) { return p.rnn.model(); })
      .def_prop_ro("options", [](const Plan& p) { return options_dict(p.options); })
      .def("__repr__",
           [](const Plan& p) {
             return std::string("rnnx.Rnn(engine=") + to_string(p.rnn.engine()) +
                    ", model=" + describe(p.rnn.model()) + ")";
           })
      .def(
          "reserve_bytes",
          [](Plan& p, int steps, int batch) {
            std::size_t n = 0;
            locked(p, [&] { n = p.rnn.reserve_bytes(steps, batch); });
            return n;
          },
          "steps"_a, "batch"_a)
      .def(
          "workspace_bytes",
          [](Plan& p, int steps, int batch) {
            std::size_t n = 0;
            locked(p, [&] { n = p.rnn.workspace_bytes(steps, batch); });
            return n;
          },
          "steps"_a, "batch"_a)
      .def(
          "prepare",
          [](Plan& p, int steps, int batch) { locked(p, [&] { p.rnn.prepare(steps, batch); }); },
          "steps"_a, "batch"_a)
      .def("stats",
           [](Plan& p) {
             PlanStats s;
             locked(p, [&] { s = p.rnn.stats(); });
             return stats_dict(s);
           })
      .def(
          "forward",
          [](Plan& p, nb::handle x, nb::handle weights, nb::handle lengths, nb::handle init,
             nb::handle y, nb::handle final_state, nb::handle stream, bool weights_unchanged) {
            return run_forward(p, x, weights, lengths, init, y, final_state, stream,
                               weights_unchanged, false, nb::none());
          },
          "x"_a, "weights"_a, nb::kw_only(), "lengths"_a = nb::none(), "init"_a = nb::none(),
          "y"_a = nb::none(), "final_state"_a = nb::none(), "stream"_a = nb::none(),
          "weights_unchanged"_a = false,
          "Inference: returns (y, final_state). Outputs passed in are written in place; None "
          "allocates them as x is held (numpy, or torch on x's device); final_state=False skips "
          "it.")
      .def(
          "forward_train",
          [](Plan& p, nb::handle x, nb::handle weights, nb::handle reserve, nb::handle lengths,
             nb::handle init, nb::handle y, nb::handle final_state, nb::handle stream,
             bool weights_unchanged) {
            return run_forward(p, x, weights, lengths, init, y, final_state, stream,
                               weights_unchanged, true, reserve);
          },
          "x"_a, "weights"_a, nb::kw_only(), "reserve"_a = nb::none(), "lengths"_a = nb::none(),
          "init"_a = nb::none(), "y"_a = nb::none(), "final_state"_a = nb::none(),
          "stream"_a = nb::none(), "weights_unchanged"_a = false,
          "forward, keeping what backward needs in `reserve` (allocated when None): returns "
          "(y, final_state, reserve).")
      .def("backward", &run_backward, "x"_a, "weights"_a, "y"_a, "dy"_a, "reserve"_a, nb::kw_only(),
           "lengths"_a = nb::none(), "init"_a = nb::none(), "dfinal"_a = nb::none(),
           "dx"_a = nb::none(), "dinit"_a = nb::none(), "dweights"_a = nb::none(),
           "accumulate"_a = false, "stream"_a = nb::none(),
           "Backpropagation through time from forward_train's x, weights, y and reserve: returns "
           "(dx, dweights, dinit); dx=False or dinit=False skips them.");

  // ---- layouts
  nb::class_<PyWeightLayout>(m, "WeightLayout",
                             "Where each tensor lives in the flat weight buffer (rnnx/layout.h).")
      .def(
          "__init__",
          [](PyWeightLayout* self, nb::handle model) {
            new (self) PyWeightLayout(to_model(model));
          },
          "model"_a)
      .def_prop_ro("size", [](const PyWeightLayout& w) { return w.layout.size(); })
      .def(
          "offset",
          [](const PyWeightLayout& w, int layer, const std::string& dir, const std::string& param,
             std::optional<int> gate) {
            return gate ? w.layout.offset(layer, to_dir(dir), to_param(param), *gate)
                        : w.layout.offset(layer, to_dir(dir), to_param(param));
          },
          "layer"_a, "dir"_a, "param"_a, "gate"_a = nb::none())
      .def(
          "shape",
          [](const PyWeightLayout& w, int layer, const std::string& param) {
            const Param p = to_param(param);
            const std::size_t rows = w.layout.rows(layer, p);
            return p == Param::bx || p == Param::bh
                       ? nb::tuple(nb::make_tuple(rows))
                       : nb::tuple(nb::make_tuple(rows, w.layout.cols(layer, p)));
          },
          "layer"_a, "param"_a)
      .def(
          "view",
          [](const PyWeightLayout& w, nb::handle weights, int layer, const std::string& dir,
             const std::string& param, std::optional<int> gate) {
            const Param p = to_param(param);
            const Dir d = to_dir(dir);
            const bool bias = p == Param::bx || p == Param::bh;
            const std::size_t cols = w.layout.cols(layer, p);
            const std::size_t rows = gate ? hidden_of(w.model, layer) : w.layout.rows(layer, p);
            const std::size_t offset =
                gate ? w.layout.offset(layer, d, p, *gate) : w.layout.offset(layer, d, p);
            return view_of(weights, "weights", w.layout.size(), offset, rows, bias ? 0 : cols);
          },
          "weights"_a, "layer"_a, "dir"_a, "param"_a, "gate"_a = nb::none());

  nb::class_<PyStateLayout>(m, "StateLayout",
                            "Where each layer's h and c live in a state buffer of a batch.")
      .def(
          "__init__",
          [](PyStateLayout* self, nb::handle model, int batch) {
            new (self) PyStateLayout(to_model(model), batch);
          },
          "model"_a, "batch"_a)
      .def_prop_ro("size", [](const PyStateLayout& s) { return s.layout.size(); })
      .def_prop_ro("batch", [](const PyStateLayout& s) { return s.batch; })
      .def(
          "h",
          [](const PyStateLayout& s, int layer, const std::string& dir) {
            return s.layout.h(layer, to_dir(dir));
          },
          "layer"_a, "dir"_a = "fw")
      .def(
          "c",
          [](const PyStateLayout& s, int layer, const std::string& dir) {
            return s.layout.c(layer, to_dir(dir));
          },
          "layer"_a, "dir"_a = "fw")
      .def(
          "count", [](const PyStateLayout& s, int layer) { return s.layout.count(layer); },
          "layer"_a)
      .def(
          "h_view",
          [](const PyStateLayout& s, nb::handle state, int layer, const std::string& dir) {
            const std::size_t offset = s.layout.h(layer, to_dir(dir));
            return view_of(state, "state", s.layout.size(), offset,
                           static_cast<std::size_t>(s.batch), hidden_of(s.model, layer));
          },
          "state"_a, "layer"_a, "dir"_a = "fw")
      .def(
          "c_view",
          [](const PyStateLayout& s, nb::handle state, int layer, const std::string& dir) {
            const std::size_t offset = s.layout.c(layer, to_dir(dir));
            return view_of(state, "state", s.layout.size(), offset,
                           static_cast<std::size_t>(s.batch), hidden_of(s.model, layer));
          },
          "state"_a, "layer"_a, "dir"_a = "fw");

  // ---- interop
  m.def(
      "weight_tensors",
      [](nb::handle model, const std::string& format) {
        nb::list out;
        for (const TensorSpec& t : weight_tensors(to_model(model), parse_weight_format(format))) {
          nb::list shape;
          for (const std::size_t n : t.shape) shape.append(n);
          out.append(nb::make_tuple(t.name, nb::tuple(shape)));
        }
        return out;
      },
      "model"_a, "format"_a, "The (name, shape) of each tensor the format holds for the model.");
  m.def(
      "export_weights",
      [](nb::handle model_obj, const std::string& format, nb::handle weights) {
        const Model model = to_model(model_obj);
        const WeightFormat f = parse_weight_format(format);
        const std::vector<double> values =
            host_values(weights, "weights", WeightLayout(model).size());
        std::vector<NamedTensor> tensors;
        {
          nb::gil_scoped_release release;
          tensors = export_weights(model, f, values);
        }
        return tensors_dict(model, tensors);
      },
      "model"_a, "format"_a, "weights"_a,
      "The flat weights as the format's tensors: a dict of name -> numpy array.");
  m.def(
      "export_gradients",
      [](nb::handle model_obj, const std::string& format, nb::handle dweights) {
        const Model model = to_model(model_obj);
        const WeightFormat f = parse_weight_format(format);
        const std::vector<double> values =
            host_values(dweights, "dweights", WeightLayout(model).size());
        std::vector<NamedTensor> tensors;
        {
          nb::gil_scoped_release release;
          tensors = export_gradients(model, f, values);
        }
        return tensors_dict(model, tensors);
      },
      "model"_a, "format"_a, "dweights"_a,
      "Gradients with respect to the format's tensors, from rnnx's dweights.");
  m.def("import_weights", &import_weights_py, "model"_a, "format"_a, "tensors"_a,
        "The flat weights (a numpy array) from a dict of the format's tensors.");

  // ---- info
  m.def("info", &info_dict, "What `rnnx info` prints, as a dict (loads the GPU module).");
  m.def(
      "engine_available",
      [](const std::string& engine) {
        const Engine e = parse_engine(engine);
        std::string why;
        bool ok = false;
        {
          nb::gil_scoped_release release;
          ok = engine_available(e, &why);
        }
        return nb::make_tuple(ok, why);
      },
      "engine"_a, "(available, why not): a GPU engine's check loads the GPU module.");
}
