// In the GPU module only (librnnx_gpu.so, and the test modules): the capture gate of
// gpu/capture_gate.h is librnnx's, reached through the host table librnnx opened the module with
// (gpu_module.h). A program that links the GPU code into itself (the GPU tests, the benchmarks)
// uses librnnx's definitions directly instead (gpu/capture_gate.cpp).
#include <cstdio>
#include <cstdlib>

#include "gpu/capture_gate.h"
#include "gpu_module.h"

namespace rnnx::gpu::detail {

namespace {

const rnnx_gpu_host& host() {
  const rnnx_gpu_host* h = module_host;
  if (h == nullptr) {
    // librnnx refuses a module whose entry point did not accept its host and then calls nothing
    // else in it: reaching this is a bug, and no gate must not mean no locking.
    std::fputs("rnnx GPU module: used before librnnx opened it\n", stderr);
    std::abort();
  }
  return *h;
}

}  // namespace

std::shared_mutex& capture_gate() {
  return *host().capture_gate();
}

GateHold& this_thread_hold() {
  return *host().this_thread_hold();
}

}  // namespace rnnx::gpu::detail
