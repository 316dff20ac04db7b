// Which engine runs: availability in this build and on this machine, and `automatic`'s choice.
#include <string>

#include "cpu/cpu_engine.h"
#include "engine.h"
#include "reference/reference_engine.h"
#include "rnnx/error.h"
#include "rnnx/info.h"
#include "rnnx/version.h"

#if RNNX_WITH_CUDA
#include "gpu/cudnn_engine.h"
#include "gpu/gpu_engine.h"
#include "gpu/persistent_engine.h"
#endif

namespace rnnx {

namespace {

// Why `engine` cannot run here (a GPU engine without CUDA in the build, or without a GPU), or an
// empty message when it can.
std::string unavailable(Engine engine, Status* status) {
  if (!is_gpu(engine)) return "";
  const std::string name = to_string(engine);
  if (!RNNX_WITH_CUDA) {
    *status = Status::not_built;
    return "engine " + name +
           " is not built: this rnnx was configured with RNNX_CUDA=OFF; rebuild with "
           "-DRNNX_CUDA=ON, or use cpu";
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
  // unavailable() has ruled out every engine but the implemented ones.
  switch (engine) {
    case Engine::cpu:
      return make_cpu_engine(model, options);
    case Engine::cpu_reference:
      return make_reference_engine(model, options);
    default:
      break;
  }
#if RNNX_WITH_CUDA
  if (engine == Engine::cudnn) return make_cudnn_engine(model, options);
  if (engine == Engine::gpu_persistent) return make_persistent_engine(model, options);
  return make_gpu_engine(model, engine, options);
#else
  throw Error(Status::not_built, std::string("engine ") + to_string(engine) + " is not built");
#endif
}

}  // namespace rnnx
