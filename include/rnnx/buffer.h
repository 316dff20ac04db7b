// Typed views of caller memory: a pointer, an element count and a dtype, so that rnnx can refuse
// a buffer of the wrong size or precision instead of reading past its end.
#pragma once

#include <cstddef>
#include <vector>

#include "rnnx/model.h"

namespace rnnx {

// Read-only view. Empty (data == nullptr, size == 0) means "not given" where a field is optional.
struct ConstBuffer {
  const void* data = nullptr;
  std::size_t size = 0;  // elements
  DType dtype = DType::f32;

  ConstBuffer() = default;
  ConstBuffer(const void* p, std::size_t n, DType t) : data(p), size(n), dtype(t) {}
  ConstBuffer(const float* p, std::size_t n) : data(p), size(n), dtype(DType::f32) {}
  ConstBuffer(const double* p, std::size_t n) : data(p), size(n), dtype(DType::f64) {}
  ConstBuffer(const std::vector<float>& v) : ConstBuffer(v.data(), v.size()) {}
  ConstBuffer(const std::vector<double>& v) : ConstBuffer(v.data(), v.size()) {}

  bool empty() const noexcept { return data == nullptr && size == 0; }
};

// Writable view.
struct Buffer {
  void* data = nullptr;
  std::size_t size = 0;  // elements
  DType dtype = DType::f32;

  Buffer() = default;
  Buffer(void* p, std::size_t n, DType t) : data(p), size(n), dtype(t) {}
  Buffer(float* p, std::size_t n) : data(p), size(n), dtype(DType::f32) {}
  Buffer(double* p, std::size_t n) : data(p), size(n), dtype(DType::f64) {}
  Buffer(std::vector<float>& v) : Buffer(v.data(), v.size()) {}
  Buffer(std::vector<double>& v) : Buffer(v.data(), v.size()) {}

  bool empty() const noexcept { return data == nullptr && size == 0; }
  operator ConstBuffer() const noexcept { return ConstBuffer(data, size, dtype); }
};

}  // namespace rnnx
