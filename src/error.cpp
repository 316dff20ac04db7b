#include "rnnx/error.h"

namespace rnnx {

const char* to_string(Status status) noexcept {
  switch (status) {
    case Status::invalid_argument:
      return "invalid argument";
    case Status::unsupported:
      return "unsupported";
    case Status::not_implemented:
      return "not implemented";
    case Status::not_built:
      return "not built";
    case Status::no_device:
      return "no device";
    case Status::backend_error:
      return "backend error";
    case Status::io_error:
      return "I/O error";
  }
  return "unknown status";
}

Error::Error(Status status, const std::string& message)
    : std::runtime_error(message), status_(status) {}

}  // namespace rnnx
