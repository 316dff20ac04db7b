#include "io/read_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <system_error>

#include "rnnx/error.h"

namespace rnnx::io {

std::string read_file_bytes(const std::filesystem::path& path, const char* kind) {
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    throw Error(Status::io_error, path.string() + ": is a directory, not a " + kind);
  }
  errno = 0;
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    const int code = errno;
    throw Error(Status::io_error, path.string() + ": cannot open: " +
                                      (code != 0 ? std::strerror(code) : "unknown reason"));
  }
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) throw Error(Status::io_error, path.string() + ": read failed");
  return bytes;
}

}  // namespace rnnx::io
