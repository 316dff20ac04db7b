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
  if (options.threads < 0) {
    throw Error(Status::invalid_argument, "Options.threads = " + std::to_string(options.threads) +
                                              ": must be 0 (automatic) or a positive count");
  }
  if (engine == Engine::automatic) {
    std::string reasons;
    for (Engine candidate : kAutomaticOrder) {
      // gpu_persistent cannot train: only a plan promised to inference may get it.
      if (candidate == Engine::gpu_persistent && !options.inference_only) continue;
      // The reference is the oracle, not a fallback: it runs bf16/f16 models only when named.
      if (candidate == Engine::cpu_reference && is_half(model.dtype)) continue;
      // A permission such as allow_tf32 must not rule out an engine that cannot use it.
      Options relaxed = options;
      if (!is_gpu(candidate) || model.dtype != DType::f32) relaxed.allow_tf32 = false;
      if (candidate == Engine::cpu_reference || is_gpu(candidate)) relaxed.threads = 0;
      if (candidate != Engine::cudnn) relaxed.cudnn_algo = CudnnAlgo::standard;
      try {
        return make_engine(model, candidate, relaxed);
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
  Status status = Status::invalid_argument;
  const std::string reason = unavailable(engine, &status);
  if (!reason.empty()) throw Error(status, reason);
  if (engine != Engine::cudnn && options.cudnn_algo != CudnnAlgo::standard) {
    throw Error(Status::unsupported, std::string("Options.cudnn_algo = ") +
                                         to_string(options.cudnn_algo) +
                                         ": cuDNN's algorithms apply to the cudnn engine only, "
                                         "not to " +
                                         to_string(engine));
  }
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
