// A small strict JSON reader and writer (RFC 8259) for model files and result files.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rnnx::io {

class Json {
 public:
  enum class Kind { null, boolean, number, string, array, object };
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;  // keeps the file's key order

  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool b);
  Json(double number);
  Json(int number) : Json(static_cast<double>(number)) {}
  Json(const char* s) : Json(std::string(s)) {}
  Json(std::string s);
  Json(Array elements);
  Json(Object members);

  Kind kind() const noexcept { return kind_; }
  bool is_null() const noexcept { return kind_ == Kind::null; }
  bool is_bool() const noexcept { return kind_ == Kind::boolean; }
  bool is_number() const noexcept { return kind_ == Kind::number; }
  bool is_string() const noexcept { return kind_ == Kind::string; }
  bool is_array() const noexcept { return kind_ == Kind::array; }
  bool is_object() const noexcept { return kind_ == Kind::object; }

  // Typed access; each throws rnnx::Error(invalid_argument) "expected <kind>, found <kind>" when
  // the value is of another kind.
  bool as_bool() const;
  double as_number() const;
  const std::string& as_string() const;
  const Array& as_array() const;
  const Object& as_object() const;

  // Object member by key, or nullptr if absent (throws if this is not an object).
  const Json* find(std::string_view key) const;
  // Object: appends (or replaces) a member; turns a null into an empty object first.
  Json& set(std::string key, Json value);
  // Array: appends; turns a null into an empty array first.
  Json& push_back(Json value);

  // indent < 0: one line; otherwise pretty-printed with that many spaces per level. Numbers are
  // written so that they read back exactly (17 significant digits, integers without exponent);
  // NaN and infinity, which JSON lacks, are written as null.
  std::string dump(int indent = -1) const;

  static const char* kind_name(Kind kind) noexcept;  // "null", "boolean", ...

 private:
  Kind kind_ = Kind::null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  Array array_;
  Object object_;
};

// Throws rnnx::Error(invalid_argument) "line L, column C: <what>" for malformed text: trailing
// commas, comments, single quotes, bad escapes, unpaired surrogates, leading zeros, numbers out of
// double range, duplicate keys, nesting deeper than 256, and anything after the value.
Json parse_json(std::string_view text);

// Reads and parses a file; errors (missing file or malformed text) throw Error(io_error) whose
// message starts with the path.
Json read_json_file(const std::string& path);

}  // namespace rnnx::io
