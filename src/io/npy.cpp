// NumPy .npy files. Format reference:
// https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
//
// A file is: the magic "\x93NUMPY", a major and minor version byte, the header length (uint16
// little-endian in version 1.0, uint32 in 2.0 and 3.0), the header (a Python dict literal with the
// keys 'descr', 'fortran_order' and 'shape', padded with spaces and ending in '\n'), then the raw
// element bytes. The reader treats every byte as untrusted: all sizes are checked before use.
#include "io/npy.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <string_view>

#include "rnnx/error.h"

namespace rnnx::io {
namespace {

constexpr std::string_view kMagic("\x93NUMPY", 6);
constexpr std::size_t kAlignment = 64;  // writers pad the header so the data starts aligned
constexpr std::size_t kMaxVersion1HeaderSize = 0xFFFF;
constexpr NpyType kTypes[] = {NpyType::f32, NpyType::f64, NpyType::i32, NpyType::i64};

[[noreturn]] void fail(Status status, const std::string& path, const std::string& what) {
  throw Error(status, path + ": " + what);
}

// A file that cannot be read, or whose content is not a .npy file rnnx accepts.
[[noreturn]] void bad_file(const std::string& path, const std::string& what) {
  throw Error(Status::io_error, path + ": " + what);
}

// The reason the last system call failed; iostreams leave it in errno on POSIX systems.
std::string system_reason() {
  const int code = errno;
  return code != 0 ? std::strerror(code) : "unknown reason";
}

// Bytes needed for `shape` elements of `element_size` bytes, or nothing if that overflows size_t.
std::optional<std::size_t> byte_count(const std::vector<std::size_t>& shape,
                                      std::size_t element_size) {
  for (std::size_t dim : shape) {
    if (dim == 0) return 0;  // a zero dimension makes the array empty, however large the others
  }
  std::size_t total = element_size;
  for (std::size_t dim : shape) {
    if (total > std::numeric_limits<std::size_t>::max() / dim) return std::nullopt;
    total *= dim;
  }
  return total;
}

// Parses the header's Python dict literal. Only the subset NumPy writes is accepted: quoted
// strings without escapes, True/False, and tuples of non-negative integers.
class HeaderParser {
 public:
  struct Fields {
    std::optional<std::string> descr;
    std::optional<bool> fortran_order;
    std::optional<std::vector<std::size_t>> shape;
  };

  HeaderParser(const std::string& path, std::string_view text) : path_(path), text_(text) {}

  Fields parse() {
    check_characters();
    skip_space();
    expect('{', "'{' at the start of the header");
    Fields fields;
    std::set<std::string> keys;
    skip_space();
    while (!accept('}')) {
      const std::size_t key_pos = pos_;
      const std::string key = string_literal("a quoted key");
      if (!keys.insert(key).second) fail_at(key_pos, "key '" + key + "' appears twice");
      skip_space();
      expect(':', "':' after key '" + key + "'");
      skip_space();
      if (key == "descr") {
        fields.descr = string_literal("a quoted element type for 'descr'");
      } else if (key == "fortran_order") {
        fields.fortran_order = boolean();
      } else if (key == "shape") {
        fields.shape = shape_tuple();
      } else {
        fail_at(key_pos, "unexpected key '" + key + "'");
      }
      skip_space();
      if (!accept(',')) {
        expect('}', "',' or '}' after the value of '" + key + "'");
        break;
      }
      skip_space();
    }
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the closing '}'");
    return fields;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  [[noreturn]] void fail_at(std::size_t pos, const std::string& what) const {
    bad_file(path_,
             "malformed header: " + what + " (at byte " + std::to_string(pos) + " of the header)");
  }

  // Rejecting control and non-ASCII bytes up front keeps every later message printable.
  void check_characters() {
    for (pos_ = 0; pos_ < text_.size(); ++pos_) {
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c > 0x7E) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned>(c));
        fail(std::string("unexpected byte ") + hex);
      }
    }
    pos_ = 0;
  }

  int peek() const { return pos_ < text_.size() ? text_[pos_] : -1; }
  bool accept(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c, const std::string& what) {
    if (!accept(c)) fail("expected " + what);
  }
  void skip_space() {
    while (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r') ++pos_;
  }
  static bool is_digit(int c) { return c >= '0' && c <= '9'; }

  std::string string_literal(const std::string& what) {
    const int quote = peek();
    if (quote != '\'' && quote != '"') fail("expected " + what);
    const std::size_t start = ++pos_;
    while (peek() != quote) {
      if (peek() == -1 || peek() == '\n') fail("unterminated string");
      if (peek() == '\\') fail("escape sequences in header strings are not supported");
      ++pos_;
    }
    ++pos_;
    return std::string(text_.substr(start, pos_ - 1 - start));
  }

  bool boolean() {
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail("expected True or False for 'fortran_order'");
  }

  std::vector<std::size_t> shape_tuple() {
    expect('(', "a tuple such as (3,) or (4, 2) for 'shape'");
    std::vector<std::size_t> dims;
    bool trailing_comma = false;
    skip_space();
    while (!accept(')')) {
      dims.push_back(dimension());
      skip_space();
      trailing_comma = accept(',');
      skip_space();
      if (!trailing_comma) {
        expect(')', "',' or ')' in the shape tuple");
        break;
      }
    }
    // In Python "(3)" is the integer 3, not a tuple; NumPy rejects it too.
    if (dims.size() == 1 && !trailing_comma) fail("shape (N) is not a tuple; write (N,)");
    return dims;
  }

  std::size_t dimension() {
    const std::size_t start = pos_;
    const bool negative = accept('-');
    if (!is_digit(peek())) fail("expected a non-negative integer in the shape tuple");
    while (is_digit(peek())) ++pos_;
    const std::string_view digits = text_.substr(start, pos_ - start);
    const std::string shown =
        digits.size() <= 40 ? std::string(digits) : std::string(digits.substr(0, 40)) + "...";
    if (negative) bad_file(path_, "shape has a negative dimension " + shown);
    std::size_t value = 0;
    if (std::from_chars(digits.data(), digits.data() + digits.size(), value).ec != std::errc()) {
      bad_file(path_, "shape dimension " + shown + " is too large");
    }
    return value;
  }

  const std::string& path_;
  std::string_view text_;
  std::size_t pos_ = 0;
};

NpyType type_from_descr(const std::string& path, const std::string& descr) {
  for (NpyType type : kTypes) {
    if (descr == npy_descr(type)) return type;
  }
  bad_file(path, "element type '" + descr + "' is not supported (use <f4, <f8, <i4 or <i8)");
}

// Where the header lies in the file, from the magic, version and header length fields.
struct Layout {
  std::size_t header_offset;
  std::size_t header_size;
};

Layout parse_preamble(const std::string& path, std::string_view prefix, std::size_t file_size) {
  if (prefix.substr(0, kMagic.size()) != kMagic.substr(0, prefix.size())) {
    bad_file(path, "not a .npy file (it does not start with \"\\x93NUMPY\")");
  }
  if (file_size < kMagic.size() + 2) {
    bad_file(path,
             "truncated: " + std::to_string(file_size) + " bytes is too short for a .npy file");
  }
  const auto major = static_cast<unsigned char>(prefix[6]);
  const auto minor = static_cast<unsigned char>(prefix[7]);
  if (major < 1 || major > 3 || minor != 0) {
    bad_file(path, "unsupported .npy format version " + std::to_string(major) + "." +
                       std::to_string(minor) + " (rnnx reads 1.0, 2.0 and 3.0)");
  }
  const std::size_t length_size = major == 1 ? 2 : 4;
  const std::size_t header_offset = 8 + length_size;
  if (file_size < header_offset) {
    bad_file(path,
             "truncated: " + std::to_string(file_size) + " bytes ends inside the header length");
  }
  std::size_t header_size = 0;  // little-endian, so the most significant byte comes last
  for (std::size_t i = length_size; i-- > 0;) {
    header_size = (header_size << 8) | static_cast<unsigned char>(prefix[8 + i]);
  }
  if (header_size > file_size - header_offset) {
    bad_file(path, "truncated: the header is declared as " + std::to_string(header_size) +
                       " bytes but only " + std::to_string(file_size - header_offset) + " follow");
  }
  return {header_offset, header_size};
}

std::ifstream open_for_reading(const std::string& path, std::size_t& file_size) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    bad_file(path, "is a directory, not a .npy file");
  }
  errno = 0;
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) bad_file(path, "cannot open: " + system_reason());
  const std::streamoff end = file.tellg();
  if (end < 0) bad_file(path, "cannot determine the file size");
  file_size = static_cast<std::size_t>(end);
  file.seekg(0);
  return file;
}

void read_exactly(std::ifstream& file, const std::string& path, void* buffer, std::size_t size) {
  if (size == 0) return;
  errno = 0;
  file.read(static_cast<char*>(buffer), static_cast<std::streamsize>(size));
  if (!file) bad_file(path, "read failed: " + system_reason());
}

// Where parse_npy reads its bytes from: an open file, or a buffer in memory. Both see only
// offsets and sizes that parse_npy has already checked against the total size.
struct FileSource {
  std::ifstream& file;
  const std::string& path;
  void read(std::size_t offset, void* buffer, std::size_t size) {
    if (size == 0) return;
    file.seekg(static_cast<std::streamoff>(offset));
    read_exactly(file, path, buffer, size);
  }
};

struct MemorySource {
  const unsigned char* bytes;
  std::size_t size;
  void read(std::size_t offset, void* buffer, std::size_t count) const {
    if (count > 0) std::memcpy(buffer, bytes + offset, count);
  }
};

// The reader proper: `total_size` bytes reachable through `source`, named `path` in messages.
template <typename Source>
NpyArray parse_npy(const std::string& path, std::size_t total_size, Source& source) {
  std::string prefix(std::min<std::size_t>(total_size, 12), '\0');
  source.read(0, prefix.data(), prefix.size());
  const Layout layout = parse_preamble(path, prefix, total_size);

  std::string header_text(layout.header_size, '\0');
  source.read(layout.header_offset, header_text.data(), header_text.size());
  const HeaderParser::Fields fields = HeaderParser(path, header_text).parse();
  if (!fields.descr) bad_file(path, "the header has no 'descr' key");
  if (!fields.fortran_order) bad_file(path, "the header has no 'fortran_order' key");
  if (!fields.shape) bad_file(path, "the header has no 'shape' key");

  NpyArray array;
  array.type = type_from_descr(path, *fields.descr);
  array.shape = *fields.shape;
  if (*fields.fortran_order) {
    bad_file(path, "fortran_order is True; rnnx reads C-order arrays only");
  }
  const std::string what = "shape " + array.shape_string() + " of " + *fields.descr;
  const std::optional<std::size_t> needed = byte_count(array.shape, npy_type_size(array.type));
  if (!needed) bad_file(path, what + " is too large to address in memory");

  const std::size_t data_offset = layout.header_offset + layout.header_size;
  const std::size_t available = total_size - data_offset;
  if (available < *needed) {
    bad_file(path, "truncated: " + what + " needs " + std::to_string(*needed) +
                       " data bytes, the file has " + std::to_string(available));
  }
  if (available > *needed) {
    bad_file(path, std::to_string(available - *needed) + " bytes left over after the data: " +
                       what + " needs " + std::to_string(*needed) + " data bytes, the file has " +
                       std::to_string(available));
  }
  array.data.resize(*needed);
  source.read(data_offset, array.data.data(), array.data.size());
  return array;
}

// The header text: the dict, padded with spaces and a final '\n' so that the data starts at a
// multiple of 64 bytes from the start of the file.
std::string padded_header(const NpyArray& array, std::size_t preamble_size) {
  std::string header = std::string("{'descr': '") + npy_descr(array.type) +
                       "', 'fortran_order': False, 'shape': " + array.shape_string() + ", }";
  const std::size_t unpadded = preamble_size + header.size() + 1;
  header.append((kAlignment - unpadded % kAlignment) % kAlignment, ' ');
  header += '\n';
  return header;
}

}  // namespace

std::size_t npy_type_size(NpyType type) noexcept {
  return type == NpyType::f32 || type == NpyType::i32 ? 4 : 8;
}

const char* npy_descr(NpyType type) noexcept {
  static const char* const descrs[] = {"<f4", "<f8", "<i4", "<i8"};  // in NpyType's order
  return descrs[static_cast<int>(type)];
}

std::size_t NpyArray::count() const noexcept {
  std::size_t total = 1;
  for (std::size_t dim : shape) total *= dim;
  return total;
}

std::string NpyArray::shape_string() const {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  if (shape.size() == 1) text += ',';  // Python's spelling of a one-element tuple
  return text + ")";
}

NpyArray read_npy(const std::string& path) {
  std::size_t file_size = 0;
  std::ifstream file = open_for_reading(path, file_size);
  FileSource source{file, path};
  return parse_npy(path, file_size, source);
}

NpyArray read_npy_bytes(const void* bytes, std::size_t size, const std::string& name) {
  MemorySource source{static_cast<const unsigned char*>(bytes), size};
  return parse_npy(name, size, source);
}

std::string npy_file_bytes(const NpyArray& array, const std::string& name) {
  const std::string what = "shape " + array.shape_string() + " of " + npy_descr(array.type);
  const std::optional<std::size_t> needed = byte_count(array.shape, npy_type_size(array.type));
  if (!needed) fail(Status::invalid_argument, name, what + " is too large to address in memory");
  if (array.data.size() != *needed) {
    fail(Status::invalid_argument, name,
         what + " needs " + std::to_string(*needed) + " data bytes, the array has " +
             std::to_string(array.data.size()));
  }

  // Version 1.0 unless the header overflows its 16-bit length field.
  std::string header = padded_header(array, kMagic.size() + 4);
  unsigned char major = 1;
  if (header.size() > kMaxVersion1HeaderSize) {
    header = padded_header(array, kMagic.size() + 6);
    major = 2;
  }
  std::string bytes = std::string(kMagic) + static_cast<char>(major) + '\0';
  const std::size_t length_size = major == 1 ? 2 : 4;
  for (std::size_t i = 0; i < length_size; ++i) {
    bytes += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  }
  bytes += header;
  bytes.append(reinterpret_cast<const char*>(array.data.data()), array.data.size());
  return bytes;
}

NpyArray make_npy(NpyType type, std::vector<std::size_t> shape, const void* elements) {
  NpyArray array;
  array.type = type;
  array.shape = std::move(shape);
  const std::optional<std::size_t> size = byte_count(array.shape, npy_type_size(type));
  if (!size) {
    throw Error(Status::invalid_argument,
                "make_npy: shape " + array.shape_string() + " is too large to address in memory");
  }
  // The elements are in host order; rnnx targets little-endian hosts only, like the file format.
  array.data.resize(*size);
  if (*size > 0) std::memcpy(array.data.data(), elements, *size);
  return array;
}

}  // namespace rnnx::io
