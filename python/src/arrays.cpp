#include "arrays.h"

#include <nanobind/stl/string.h>

#include <cstdint>
#include <string>
#include <utility>

namespace rnnx::python {

namespace {

constexpr int kCpu = nb::device::cpu::value;
constexpr int kCuda = nb::device::cuda::value;
constexpr int kCudaHost = nb::device::cuda_host::value;
constexpr int kCudaManaged = nb::device::cuda_managed::value;

bool requires_grad(nb::handle object) {
  if (!nb::hasattr(object, "requires_grad")) return false;
  const nb::object flag = object.attr("requires_grad");
  return flag.is(Py_True);
}

}  // namespace

[[noreturn]] void fail(const std::string& message) {
  throw Error(Status::invalid_argument, message);
}

std::string type_of(nb::handle object) {
  return nb::cast<std::string>(object.type().attr("__name__"));
}

std::string shape_text(std::initializer_list<std::int64_t> shape) {
  std::string text = "(";
  std::size_t i = 0;
  for (const std::int64_t n : shape) {
    text += (i++ == 0 ? "" : ", ") + std::to_string(n);
  }
  return text + (shape.size() == 1 ? ",)" : ")");
}

Array::Array(nb::handle object, const char* name, bool writable)
    : name_(name), object_(object), writable_(writable) {
  bool ok = false;
  if (writable) {
    nb::ndarray<> out;
    ok = nb::try_cast(object, out, false);
    if (ok) nd_ = nb::ndarray<nb::ro>(out);
  } else {
    ok = nb::try_cast(object, nd_, false);
  }
  if (!ok) {
    if (writable && nb::try_cast(object, nd_, false)) {
      fail(std::string(name) + ": the array is read-only; rnnx writes this argument");
    }
    if (requires_grad(object)) {
      fail(std::string(name) +
           ": a torch tensor that requires grad exports no DLPack view; pass tensor.detach()");
    }
    fail(std::string(name) + ": expected an array (an object with __dlpack__ or the buffer " +
         "protocol: a numpy array, a torch tensor), found " + type_of(object));
  }
  data_ = static_cast<char*>(nd_.data_handle()) + nd_.byte_offset();
  if (nd_.dtype().lanes != 1) fail(std::string(name) + ": vector dtypes are not supported");
}

std::string Array::shape_text() const {
  std::string text = "(";
  for (std::size_t i = 0; i < ndim(); ++i) {
    text += (i == 0 ? "" : ", ") + std::to_string(shape(i));
  }
  return text + (ndim() == 1 ? ",)" : ")");
}

std::optional<DType> Array::dtype() const noexcept {
  const nb::dlpack::dtype t = nd_.dtype();
  if (t.lanes != 1) return std::nullopt;
  if (t.code == static_cast<std::uint8_t>(nb::dlpack::dtype_code::Float)) {
    if (t.bits == 32) return DType::f32;
    if (t.bits == 64) return DType::f64;
    if (t.bits == 16) return DType::f16;
  }
  if (t.code == static_cast<std::uint8_t>(nb::dlpack::dtype_code::Bfloat) && t.bits == 16) {
    return DType::bf16;
  }
  return std::nullopt;
}

std::string Array::dtype_text() const {
  if (const std::optional<DType> t = dtype()) return to_string(*t);
  // Codes as DLPack numbers them; nanobind's enum grows with DLPack's (float8, ...).
  const nb::dlpack::dtype t = nd_.dtype();
  using Code = nb::dlpack::dtype_code;
  const std::pair<Code, const char*> kinds[] = {
      {Code::Int, "int"},       {Code::UInt, "uint"},       {Code::Float, "float"},
      {Code::Bfloat, "bfloat"}, {Code::Complex, "complex"}, {Code::Bool, "bool"}};
  for (const auto& [code, kind] : kinds) {
    if (t.code == static_cast<std::uint8_t>(code)) {
      return code == Code::Bool ? std::string(kind) : kind + std::to_string(t.bits);
    }
  }
  return "DLPack type code " + std::to_string(t.code) + " of " + std::to_string(t.bits) + " bits";
}

bool Array::on_device() const noexcept {
  return nd_.device_type() == kCuda || nd_.device_type() == kCudaManaged;
}

std::string Array::device_text() const {
  switch (nd_.device_type()) {
    case kCpu:
      return "cpu";
    case kCuda:
      return "cuda:" + std::to_string(device_id());
    case kCudaHost:
      return "cuda_host (pinned host memory)";
    case kCudaManaged:
      return "cuda_managed";
    default:
      return "DLPack device type " + std::to_string(nd_.device_type());
  }
}

void Array::require_c_contiguous() const {
  if (size() == 0) return;  // no element to reach: any strides will do
  std::int64_t expected = 1;
  for (std::size_t i = ndim(); i-- > 0;) {
    if (shape(i) != 1 && nd_.stride(i) != expected) {
      fail(std::string(name_) + ": the array of shape " + shape_text() +
           " is not C-contiguous (row-major without gaps); pass a contiguous copy " +
           "(numpy.ascontiguousarray, tensor.contiguous())");
    }
    expected *= shape(i);
  }
}

void Array::require_memory(Memory memory, const char* why) const {
  const int type = nd_.device_type();
  if (memory == Memory::host) {
    if (type == kCpu || type == kCudaHost || type == kCudaManaged) return;
    fail(std::string(name_) + ": " + device_text() + " memory; " + why +
         " needs host memory (a numpy array, a CPU tensor)");
  }
  if (type == kCuda || type == kCudaManaged) return;
  fail(std::string(name_) + ": " + (type == kCpu || type == kCudaHost ? "host" : device_text()) +
       " memory; " + why + " needs CUDA device memory (e.g. a torch tensor on a cuda device)");
}

void Array::require_dtype(DType expected, const char* role) const {
  const std::optional<DType> t = dtype();
  if (t && *t == expected) return;
  fail(std::string(name_) + ": dtype " + dtype_text() + ", expected " + to_string(expected) + " (" +
       role + ")");
}

void Array::require_shape(std::initializer_list<std::int64_t> expected, const char* meaning) const {
  bool same = ndim() == expected.size();
  std::size_t i = 0;
  for (const std::int64_t n : expected) {
    same = same && shape(i++) == n;
  }
  if (!same) {
    fail(std::string(name_) + ": shape " + shape_text() + ", expected " +
         python::shape_text(expected) + " " + meaning);
  }
}

void Array::require_size(std::size_t expected, const char* meaning) const {
  if (size() != expected) {
    fail(std::string(name_) + ": " + std::to_string(size()) + " elements (shape " + shape_text() +
         "), expected " + meaning + " = " + std::to_string(expected));
  }
}

void require_disjoint(std::initializer_list<const Array*> arrays) {
  for (const Array* out : arrays) {
    if (!out->given() || !out->writable()) continue;
    const auto begin = reinterpret_cast<std::uintptr_t>(out->data());
    const std::uintptr_t end = begin + out->bytes();
    for (const Array* other : arrays) {
      if (other == out || !other->given()) continue;
      const auto other_begin = reinterpret_cast<std::uintptr_t>(other->data());
      const std::uintptr_t other_end = other_begin + other->bytes();
      if (begin < other_end && other_begin < end) {
        fail(std::string(out->name()) + ": its memory overlaps " + other->name() +
             "'s; rnnx writes " + out->name() + ", so it must be a separate array");
      }
    }
  }
}

}  // namespace rnnx::python
