// The capture gate's one instance (gpu/capture_gate.h), owned by librnnx in every build. The GPU
// module reaches it through gpu/module_gate.cpp.
#include "gpu/capture_gate.h"

namespace rnnx::gpu::detail {

std::shared_mutex& capture_gate() {
  static std::shared_mutex gate;
  return gate;
}

GateHold& this_thread_hold() {
  thread_local GateHold hold;
  return hold;
}

}  // namespace rnnx::gpu::detail
