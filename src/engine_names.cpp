// The names of rnnx's engines and cuDNN algorithms (rnn.h). Apart from rnn.cpp because the GPU
// module (librnnx_gpu.so) compiles its own copy of the few pieces of librnnx it uses
// (src/CMakeLists.txt's rnnx_base), and these must not bring the plans' dispatch with them.
#include <string>
#include <string_view>

#include "rnnx/error.h"
#include "rnnx/rnn.h"

namespace rnnx {

namespace {

struct EngineName {
  Engine engine;
  const char* name;
};
const EngineName kEngineNames[] = {
    {Engine::cpu_reference, "cpu_reference"},
    {Engine::cpu, "cpu"},
    {Engine::gpu_dynamic, "gpu_dynamic"},
    {Engine::gpu_static, "gpu_static"},
    {Engine::gpu_persistent, "gpu_persistent"},
    {Engine::cudnn, "cudnn"},
    {Engine::automatic, "auto"},
};

}  // namespace

const char* to_string(Engine engine) noexcept {
  for (const EngineName& e : kEngineNames) {
    if (e.engine == engine) return e.name;
  }
  return "unknown";
}

Engine parse_engine(std::string_view name) {
  std::string names;
  for (const EngineName& e : kEngineNames) {
    if (name == e.name) return e.engine;
    names += std::string(names.empty() ? "" : ", ") + e.name;
  }
  throw Error(Status::invalid_argument,
              "engine '" + std::string(name) + "' is unknown: use one of " + names);
}

const char* to_string(CudnnAlgo algo) noexcept {
  switch (algo) {
    case CudnnAlgo::standard:
      return "standard";
    case CudnnAlgo::persist_static:
      return "persist_static";
    case CudnnAlgo::persist_dynamic:
      return "persist_dynamic";
    case CudnnAlgo::persist_static_small_h:
      return "persist_static_small_h";
  }
  return "unknown";
}

bool is_gpu(Engine engine) noexcept {
  return engine == Engine::gpu_dynamic || engine == Engine::gpu_static ||
         engine == Engine::gpu_persistent || engine == Engine::cudnn;
}

}  // namespace rnnx
