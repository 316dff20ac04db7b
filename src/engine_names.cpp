// The names of rnnx's engines (rnn.h) and of the engines' option values (engine_options.h).
// Apart from rnn.cpp because the GPU module (librnnx_gpu.so) compiles its own copy of the few
// pieces of librnnx it uses (src/CMakeLists.txt's rnnx_base), and these must not bring the plans'
// dispatch with them.
#include <cstddef>
#include <string>
#include <string_view>

#include "rnnx/engine_options.h"
#include "rnnx/error.h"
#include "rnnx/rnn.h"

namespace rnnx {

const char* to_string(Engine engine) noexcept {
  switch (engine) {
    case Engine::cpu_reference:
      return "cpu_reference";
    case Engine::cpu:
      return "cpu";
    case Engine::gpu_dynamic:
      return "gpu_dynamic";
    case Engine::gpu_static:
      return "gpu_static";
    case Engine::gpu_persistent:
      return "gpu_persistent";
    case Engine::cudnn:
      return "cudnn";
    case Engine::automatic:
      return "auto";
  }
  return "unknown";
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

const char* to_string(PersistentBarrier barrier) noexcept {
  switch (barrier) {
    case PersistentBarrier::automatic:
      return "auto";
    case PersistentBarrier::cooperative:
      return "cooperative";
    case PersistentBarrier::flags:
      return "flags";
  }
  return "unknown";
}

const char* to_string(PersistentTensorCores tensor_cores) noexcept {
  switch (tensor_cores) {
    case PersistentTensorCores::automatic:
      return "auto";
    case PersistentTensorCores::on:
      return "on";
    case PersistentTensorCores::off:
      return "off";
  }
  return "unknown";
}

const char* to_string(PersistentDirections directions) noexcept {
  switch (directions) {
    case PersistentDirections::paired:
      return "paired";
    case PersistentDirections::apart:
      return "apart";
  }
  return "unknown";
}

namespace {

// The value of `values` whose name is `name`, or Error(invalid_argument) naming `what` and every
// allowed name.
template <class E, std::size_t N>
E parse_name(std::string_view name, const E (&values)[N], const char* what) {
  std::string names;
  for (E value : values) {
    if (name == to_string(value)) return value;
    names += std::string(names.empty() ? "" : ", ") + to_string(value);
  }
  throw Error(Status::invalid_argument,
              std::string(what) + " '" + std::string(name) + "' is unknown: use one of " + names);
}

}  // namespace

Engine parse_engine(std::string_view name) {
  constexpr Engine kAll[] = {
      Engine::cpu_reference,  Engine::cpu,   Engine::gpu_dynamic, Engine::gpu_static,
      Engine::gpu_persistent, Engine::cudnn, Engine::automatic};
  return parse_name(name, kAll, "engine");
}

CudnnAlgo parse_cudnn_algo(std::string_view name) {
  constexpr CudnnAlgo kAll[] = {CudnnAlgo::standard, CudnnAlgo::persist_static,
                                CudnnAlgo::persist_dynamic, CudnnAlgo::persist_static_small_h};
  return parse_name(name, kAll, "cuDNN algorithm");
}

PersistentBarrier parse_persistent_barrier(std::string_view name) {
  constexpr PersistentBarrier kAll[] = {PersistentBarrier::automatic,
                                        PersistentBarrier::cooperative, PersistentBarrier::flags};
  return parse_name(name, kAll, "gpu_persistent barrier");
}

PersistentTensorCores parse_persistent_tensor_cores(std::string_view name) {
  constexpr PersistentTensorCores kAll[] = {PersistentTensorCores::automatic,
                                            PersistentTensorCores::on, PersistentTensorCores::off};
  return parse_name(name, kAll, "gpu_persistent tensor-core setting");
}

PersistentDirections parse_persistent_directions(std::string_view name) {
  constexpr PersistentDirections kAll[] = {PersistentDirections::paired,
                                           PersistentDirections::apart};
  return parse_name(name, kAll, "gpu_persistent directions setting");
}

bool is_gpu(Engine engine) noexcept {
  return engine == Engine::gpu_dynamic || engine == Engine::gpu_static ||
         engine == Engine::gpu_persistent || engine == Engine::cudnn;
}

}  // namespace rnnx
