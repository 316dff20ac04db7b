// Prints what librnnx finds of its GPU module, for tests/test_gpu_module.cpp. Built without a run
// path, so that a copy of it elsewhere sees only the search that docs/GPU_LIBRARIES.md describes.
#include <cstdio>
#include <string>

#include "rnnx/rnnx.h"

int main() {
  const rnnx::BuildInfo info = rnnx::build_info();
  std::printf("module: %s\n", info.gpu_module.c_str());
  std::printf("problem: %s\n", info.gpu_module_problem.c_str());
  std::string why;
  const bool ok = rnnx::engine_available(rnnx::Engine::gpu_dynamic, &why);
  std::printf("gpu_dynamic: %s\n", ok ? "available" : why.c_str());
  rnnx::Model model;
  model.input_size = 3;
  model.layers.resize(1);
  model.layers[0].hidden = 4;
  try {
    const rnnx::Rnn plan(model, rnnx::Engine::gpu_static);
    std::printf("gpu_static plan: made\n");
  } catch (const rnnx::Error& e) {
    std::printf("gpu_static plan: %s: %s\n", rnnx::to_string(e.status()), e.what());
  }
  return 0;
}
