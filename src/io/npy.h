// NumPy .npy files: the CLI's exchange format. Reads and writes versions 1.0-3.0, little-endian,
// C order, for the four element types rnnx needs.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace rnnx::io {

enum class NpyType { f32, f64, i32, i64 };  // "<f4", "<f8", "<i4", "<i8"

std::size_t npy_type_size(NpyType type) noexcept;
const char* npy_descr(NpyType type) noexcept;  // "<f4", ...

struct NpyArray {
  NpyType type = NpyType::f64;
  std::vector<std::size_t> shape;   // () for a scalar
  std::vector<unsigned char> data;  // count() * npy_type_size(type) bytes, little-endian

  std::size_t count() const noexcept;  // product of shape (1 for a scalar)
  std::string shape_string() const;    // "(4, 2, 5)", "(3,)", "()"
};

// Throws rnnx::Error(Status::io_error) whose one-line message starts with the path and says what
// is wrong: missing or unreadable file, bad magic, unknown version, malformed header, an element
// type other than the four above (big-endian and float16 included), fortran_order True, fewer
// data bytes than the shape needs, or bytes left over after the data.
NpyArray read_npy(const std::string& path);

// The same reader over `size` bytes in memory (a whole .npy file's content): the same checks and
// messages, with `name` in the place of the path (read_npy shares its parser).
NpyArray read_npy_bytes(const void* bytes, std::size_t size, const std::string& name);

// The bytes of a version 1.0 file (2.0 if the header does not fit). Throws
// Error(invalid_argument) naming `name` if data.size() does not match the shape.
std::string npy_file_bytes(const NpyArray& array, const std::string& name);

// Writes npy_file_bytes to `path` through OutputFiles (io/output_files.h, where it is defined):
// the file is replaced whole or not at all. Throws Error(io_error) naming the folder if it cannot
// be written.
void write_npy(const std::string& path, const NpyArray& array);

// Convenience: copy `count` elements into a new array of the given shape.
NpyArray make_npy(NpyType type, std::vector<std::size_t> shape, const void* elements);

}  // namespace rnnx::io
