// Which engine runs: availability in this build and on this machine, and `automatic`'s choice.
#include <string>

#include "cpu/cpu_engine.h"
#include "engine.h"
#include "gpu_loader.h"
#include "reference/reference_engine.h"
#include "rnnx/error.h"
#include "rnnx/info.h"
#include "rnnx/version.h"

namespace rnnx {

namespace {

// Why `engine` cannot run here (a GPU engine without CUDA in the build, without the GPU module or
// its libraries, or without a GPU), or an empty message when it can. Loads the GPU module for a
// GPU engine, and only for one.
std::string unavailable(Engine engine, Status* status) {
  if (!is_gpu(engine)) return "";
  const std::string name = to_string(engine);
  if (!RNNX_WITH_CUDA) {
    *status = Status::not_built;
    return "engine " + name +
           " is not built: this rnnx was configured with RNNX_CUDA=OFF; rebuild with "
           "-DRNNX_CUDA=ON, or use cpu";
  }
  if (const gpu_loader::Loaded& module = gpu_loader::module(); module.table == nullptr) {
    // Built, but not loadable in this process: as good as not built (docs/GPU_LIBRARIES.md).
    *status = Status::not_built;
    return "engine " + name +
           " cannot run: rnnx's GPU module could not be loaded: " + module.problem + "; use cpu";
  }
  const GpuReport report = gpus();
  if (report.devices.empty()) {
    *status = Status::no_device;
    return "engine " + name + " finds no GPU: " + report.why_none + "; use cpu";
  }
  return "";
}

// DESIGN.md's preference for `automatic`: the fastest engine first.
const Engine kAutomaticOrder[] = {Engine::gpu_persistent, Engine::cudnn, Engine::gpu_dynamic,
                                  Engine::cpu, Engine::cpu_reference};

bool skippable(Status status) {
  return status == Status::not_built || status == Status::not_implemented ||
         status == Status::no_device || status == Status::unsupported;
}

// The most threads Options::cpu.threads may ask for (as RNNX_NUM_THREADS, cpu/blas.cpp).
constexpr int kMaxThreads = 4096;

// An enum member that holds no value of its type (a cast from an int): invalid_argument.
template <class E>
void check_enum(E value, const char* option, const char* values) {
  if (std::string(to_string(value)) == "unknown") {
    throw Error(Status::invalid_argument, std::string(option) + " = " +
                                              std::to_string(static_cast<int>(value)) +
                                              ": not one of " + values);
  }
}

// Options that hold no allowed value, whichever engine they are for: invalid_argument.
void check_option_values(const Options& options) {
  if (options.cpu.threads < 0 || options.cpu.threads > kMaxThreads) {
    throw Error(Status::invalid_argument,
                "Options.cpu.threads = " + std::to_string(options.cpu.threads) +
                    ": must be 0 (automatic) or a count in [1, " + std::to_string(kMaxThreads) +
                    "]");
  }
  check_enum(options.cudnn.algo, "Options.cudnn.algo",
             "standard, persist_static, persist_dynamic, persist_static_small_h");
  check_enum(options.persistent.barrier, "Options.persistent.barrier", "auto, cooperative, flags");
  check_enum(options.persistent.tensor_cores, "Options.persistent.tensor_cores", "auto, on, off");
  check_enum(options.persistent.directions, "Options.persistent.directions", "paired, apart");
}

// One engine's option, set to other than its default, handed to another engine: unsupported.
[[noreturn]] void refuse_foreign(const std::string& option, const std::string& value,
                                 const char* owner, Engine engine) {
  throw Error(Status::unsupported, "Options." + option + " = " + value + ": an option of the " +
                                       owner + " engine, not of " + to_string(engine) +
                                       "; leave it at its default for other engines");
}

// Refuses the options of engines other than `engine` that differ from their defaults.
void refuse_foreign_options(Engine engine, const Options& options) {
  const bool cpu = engine == Engine::cpu || engine == Engine::cpu_reference;
  if (!cpu && options.cpu.threads != CpuOptions{}.threads) {
    refuse_foreign("cpu.threads", std::to_string(options.cpu.threads), "cpu", engine);
  }
  if (engine != Engine::cudnn && options.cudnn.algo != CudnnOptions{}.algo) {
    refuse_foreign("cudnn.algo", to_string(options.cudnn.algo), "cudnn", engine);
  }
  if (engine != Engine::gpu_persistent) {
    const PersistentOptions defaults;
    const PersistentOptions& p = options.persistent;
    if (p.barrier != defaults.barrier) {
      refuse_foreign("persistent.barrier", to_string(p.barrier), "gpu_persistent", engine);
    }
    if (p.tensor_cores != defaults.tensor_cores) {
      refuse_foreign("persistent.tensor_cores", to_string(p.tensor_cores), "gpu_persistent",
                     engine);
    }
    if (p.directions != defaults.directions) {
      refuse_foreign("persistent.directions", to_string(p.directions), "gpu_persistent", engine);
    }
  }
}

// What `auto` hands a candidate: options as permissions and preferences, so that none rules out
// an engine that cannot use it. The other engines' options go back to their defaults, and TF32
// stays only for a GPU engine running float32.
Options relaxed_for(Engine candidate, const Model& model, const Options& options) {
  Options relaxed = options;
  if (!is_gpu(candidate) || model.dtype != DType::f32) relaxed.allow_tf32 = false;
  if (candidate != Engine::cpu && candidate != Engine::cpu_reference) relaxed.cpu = {};
  if (candidate == Engine::cpu_reference) relaxed.cpu.threads = 0;  // single-threaded
  if (candidate != Engine::cudnn) relaxed.cudnn = {};
  if (candidate != Engine::gpu_persistent) relaxed.persistent = {};
  return relaxed;
}

}  // namespace

bool engine_available(Engine engine, std::string* why) {
  Status status = Status::invalid_argument;
  const std::string reason = unavailable(engine, &status);
  if (why != nullptr) *why = reason;
  return reason.empty();
}

std::unique_ptr<EngineImpl> make_engine(const Model& model, Engine engine, const Options& options) {
  if (std::string(to_string(engine)) == "unknown") {
    throw Error(Status::invalid_argument,
                "engine = " + std::to_string(static_cast<int>(engine)) +
                    ": not an rnnx::Engine value (cpu_reference ... automatic)");
  }
  check_option_values(options);
  if (engine == Engine::automatic) {
    std::string reasons;
    for (Engine candidate : kAutomaticOrder) {
      // gpu_persistent cannot train: only a plan promised to inference may get it.
      if (candidate == Engine::gpu_persistent && !options.inference_only) continue;
      // The reference is the oracle, not a fallback: it runs bf16/f16 models only when named.
      if (candidate == Engine::cpu_reference && is_half(model.dtype)) continue;
      try {
        return make_engine(model, candidate, relaxed_for(candidate, model, options));
      } catch (const Error& e) {
        if (!skippable(e.status())) throw;
        reasons += std::string("\n  ") + e.what();
      }
    }
    if (is_half(model.dtype)) {
      reasons += std::string("\n  ") + to_string(model.dtype) +
                 " models run on gpu_persistent (with Options::inference_only) or, by name, on "
                 "cpu_reference";
    }
    throw Error(Status::unsupported,
                "engine auto: no engine here accepts the model " + describe(model) + ":" + reasons);
  }
  // What the request asks is refused before what the machine lacks: the same answer everywhere.
  refuse_foreign_options(engine, options);
  Status status = Status::invalid_argument;
  const std::string reason = unavailable(engine, &status);
  if (!reason.empty()) throw Error(status, reason);
  switch (engine) {
    case Engine::cpu:
      return make_cpu_engine(model, options);
    case Engine::cpu_reference:
      return make_reference_engine(model, options);
    case Engine::gpu_dynamic:
    case Engine::gpu_static:
    case Engine::gpu_persistent:
    case Engine::cudnn:
      // unavailable() has checked the build and loaded the GPU module.
      return gpu_loader::make_engine(model, engine, options);
    case Engine::automatic:
      break;
  }
  throw Error(Status::invalid_argument, "engine auto was handled above");  // unreachable
}

}  // namespace rnnx
