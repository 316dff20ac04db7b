// rnnx::Error: the one way rnnx reports a problem.
#pragma once

#include <stdexcept>
#include <string>

namespace rnnx {

// What kind of problem an Error reports. Callers branch on this; the message is for people.
enum class Status {
  invalid_argument,  // a value or buffer outside its allowed range; the message names it
  unsupported,       // a valid model or option that this engine cannot run; names who can
  not_implemented,   // an engine whose implementation has not landed yet
  not_built,         // an engine left out of this build (e.g. RNNX_CUDA=OFF)
  no_device,         // a GPU engine, but no usable CUDA device on this machine
  backend_error,     // a CUDA, cuBLAS, cuDNN, oneDNN or BLAS call failed; names the call and code
  io_error,          // a file could not be read or written (the CLI's NPY/JSON files)
};

const char* to_string(Status status) noexcept;

// Every public function reports bad input by throwing Error before it writes anything to the
// caller's outputs.
class Error : public std::runtime_error {
 public:
  Error(Status status, const std::string& message);
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

}  // namespace rnnx
