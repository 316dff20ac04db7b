// Arrays from Python without a copy: any object with __dlpack__ or the buffer protocol (numpy
// arrays, torch tensors on the CPU or a GPU), checked for dtype, shape, contiguity and memory
// before rnnx runs, with messages naming the argument.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "rnnx/rnnx.h"

namespace rnnx::python {

namespace nb = nanobind;

// Throws Error(invalid_argument): the binding's own refusals read like rnnx's.
[[noreturn]] void fail(const std::string& message);

// The name of a Python object's type, e.g. "list".
std::string type_of(nb::handle object);

// Where an argument must live: host memory (CPU engines; lengths always) or CUDA device memory.
enum class Memory { host, device };

class Array {
 public:
  Array() = default;
  // `object` as the argument `name`, writable or read-only; fails naming it when `object` is not
  // an array (or is read-only where rnnx writes).
  Array(nb::handle object, const char* name, bool writable);

  const char* name() const noexcept { return name_; }
  nb::handle object() const noexcept { return object_; }
  bool given() const noexcept { return nd_.is_valid(); }
  bool writable() const noexcept { return writable_; }
  void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return nd_.size(); }  // elements
  std::size_t bytes() const noexcept { return nd_.nbytes(); }
  std::size_t ndim() const noexcept { return nd_.ndim(); }
  std::int64_t shape(std::size_t i) const noexcept { return nd_.shape_ptr()[i]; }
  std::string shape_text() const;
  nb::dlpack::dtype raw_dtype() const noexcept { return nd_.dtype(); }
  std::optional<DType> dtype() const noexcept;  // nullopt: not one of rnnx's float types
  std::string dtype_text() const;               // "float32", "int64", "bfloat16", ...
  bool on_device() const noexcept;              // CUDA device memory (managed included)
  int device_id() const noexcept { return nd_.device_id(); }
  std::string device_text() const;  // "cpu", "cuda:0", "cuda_host", ...

  // Each of these fails naming the argument.
  void require_c_contiguous() const;
  void require_memory(Memory memory, const char* why) const;
  void require_dtype(DType expected, const char* role) const;  // role: "the model's dtype", ...
  void require_shape(std::initializer_list<std::int64_t> expected, const char* meaning) const;
  void require_size(std::size_t expected, const char* meaning) const;

 private:
  const char* name_ = "";
  nb::handle object_;
  nb::ndarray<nb::ro> nd_;
  void* data_ = nullptr;
  bool writable_ = false;
};

// Fails when a written argument overlaps another argument's memory (arrays not given are skipped).
void require_disjoint(std::initializer_list<const Array*> arrays);

std::string shape_text(std::initializer_list<std::int64_t> shape);

}  // namespace rnnx::python
