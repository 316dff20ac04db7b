// A whole file's bytes, with the messages every rnnx reader gives for a file it cannot read.
#pragma once

#include <filesystem>
#include <string>

namespace rnnx::io {

// Throws Error(io_error): "PATH: is a directory, not a KIND", "PATH: cannot open: <reason>" or
// "PATH: read failed". An empty file is "".
std::string read_file_bytes(const std::filesystem::path& path, const char* kind = "file");

}  // namespace rnnx::io
