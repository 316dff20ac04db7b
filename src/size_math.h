// Overflow-checked size arithmetic for element counts built from user-supplied sizes.
#pragma once

#include <cstddef>
#include <limits>
#include <string>

#include "rnnx/error.h"

namespace rnnx {

inline std::size_t checked_mul(std::size_t a, std::size_t b, const char* what) {
  if (a != 0 && b > std::numeric_limits<std::size_t>::max() / a) {
    throw Error(Status::invalid_argument,
                std::string(what) + ": element count overflows size_t; reduce the sizes");
  }
  return a * b;
}

inline std::size_t checked_add(std::size_t a, std::size_t b, const char* what) {
  if (b > std::numeric_limits<std::size_t>::max() - a) {
    throw Error(Status::invalid_argument,
                std::string(what) + ": element count overflows size_t; reduce the sizes");
  }
  return a + b;
}

}  // namespace rnnx
