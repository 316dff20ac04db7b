// libFuzzer target for the .npy reader (issue 16): every input is a candidate file's content.
// rnnx::Error is the reader's clean refusal of a damaged file; anything else (another exception,
// a crash, a sanitizer report, a leak) is a finding.
#include <cstddef>
#include <cstdint>

#include "io/npy.h"
#include "rnnx/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const rnnx::io::NpyArray array = rnnx::io::read_npy_bytes(data, size, "fuzz.npy");
    // An accepted file must hold exactly the bytes its shape needs.
    if (array.data.size() != array.count() * rnnx::io::npy_type_size(array.type)) __builtin_trap();
  } catch (const rnnx::Error&) {
  }
  return 0;
}
