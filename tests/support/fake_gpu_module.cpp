// A stand-in for the GPU module (src/gpu_module.h) that runs without a GPU, for
// tests/test_gpu_module.cpp: a fake device, fake library versions, and engines that report, by
// throwing, what they saw of librnnx's capture gate. Built four ways (tests/CMakeLists.txt):
// working, for another rnnx version (RNNX_FAKE_VERSION), without the entry point
// (RNNX_FAKE_NO_ENTRY), and linked to a library that cannot be found (RNNX_FAKE_NEEDS_MISSING).
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "engine.h"
#include "gpu/capture_gate.h"
#include "gpu_module.h"
#include "rnnx/error.h"
#include "rnnx/version.h"

#ifndef RNNX_FAKE_VERSION
#define RNNX_FAKE_VERSION RNNX_VERSION_STRING
#endif
#ifndef RNNX_FAKE_NO_ENTRY
#define RNNX_FAKE_NO_ENTRY 0
#endif
#ifndef RNNX_FAKE_NEEDS_MISSING
#define RNNX_FAKE_NEEDS_MISSING 0
#endif

#if RNNX_FAKE_NEEDS_MISSING
int rnnx_test_missing_dependency();  // tests/support/missing_dependency.cpp
#endif

namespace rnnx::gpu {

const rnnx_gpu_host* module_host = nullptr;

namespace {

// What this module sees of the gate: this thread's SyncScope depth (librnnx's thread-local), and
// whether another thread can take the gate shared (not while a SyncScope holds it). Had the
// module a gate of its own, both would read "0, free" inside librnnx's SyncScope.
std::string gate_report() {
  bool free = false;
  std::thread other([&free] {
    free = detail::capture_gate().try_lock_shared();
    if (free) detail::capture_gate().unlock_shared();
  });
  other.join();
  return "(sync depth " + std::to_string(detail::this_thread_hold().sync_depth) + ", gate " +
         (free ? "free" : "held") + ")";
}

class FakeEngine final : public EngineImpl {
 public:
  FakeEngine(const Model& model, Engine engine) : EngineImpl(model), engine_(engine) {}
  Engine kind() const noexcept override { return engine_; }
  std::size_t reserve_bytes(int, int) const override { return 0; }
  void forward(const Forward&, Stream) override { ran("forward"); }
  void forward_train(const Forward&, Reserve, Stream) override { ran("forward_train"); }
  void backward(const Forward&, const Backward&, Reserve, Stream) override { ran("backward"); }

 private:
  [[noreturn]] void ran(const char* call) const {
    throw Error(Status::unsupported, std::string("fake GPU module: ") + to_string(engine_) + " " +
                                         call + " ran " + gate_report());
  }
  Engine engine_;
};

EngineImpl* make_engine(const Model* model, Engine engine, const Options*, rnnx_gpu_error_fn error,
                        void* context) {
  switch (engine) {
    case Engine::gpu_dynamic:
    case Engine::gpu_static:
      return new FakeEngine(*model, engine);
    case Engine::cudnn:
      error(context, static_cast<int>(Status::unsupported),
            ("fake GPU module: cudnn refused inside librnnx's gate " + gate_report()).c_str());
      return nullptr;
    case Engine::gpu_persistent:
      error(context, RNNX_GPU_MODULE_STD_EXCEPTION,
            "fake GPU module: gpu_persistent raised a std::runtime_error");
      return nullptr;
    case Engine::cpu_reference:
    case Engine::cpu:
    case Engine::automatic:
      break;
  }
  error(context, static_cast<int>(Status::invalid_argument), "fake GPU module: not a GPU engine");
  return nullptr;
}

void query_devices(GpuReport* report) {
  DeviceInfo d;
  d.index = 0;
  d.name = "rnnx fake GPU";
  d.major = 9;
  d.minor = 0;
  d.memory_bytes = std::size_t(80) << 30;
  d.multiprocessors = 132;
  report->devices = {d};
}

void library_versions(BuildInfo* info) {
  info->cuda_runtime_version = 99000;
  info->cuda_driver_version = 98000;
  info->cublas_version = 970000;
  info->cudnn_version = 96000;
#if RNNX_FAKE_NEEDS_MISSING
  info->cudnn_version += rnnx_test_missing_dependency();
#endif
}

int max_hidden(Cell, GruReset, int, int, DType) {
  return 4242;
}

int max_batch(Cell, GruReset, int, int, DType) {
  return 77;
}

const rnnx_gpu_module* open_module(const rnnx_gpu_host* host) {
  static const rnnx_gpu_module table = {
      RNNX_GPU_MODULE_ABI, RNNX_FAKE_VERSION, current_gpu_layout(), &make_engine,
      &query_devices,      &library_versions, &max_hidden,          &max_batch};
  if (host != nullptr && host->abi == RNNX_GPU_MODULE_ABI &&
      std::string(host->rnnx_version) == RNNX_FAKE_VERSION) {
    module_host = host;
  }
  return &table;
}

}  // namespace

}  // namespace rnnx::gpu

#if RNNX_FAKE_NO_ENTRY
extern "C" __attribute__((visibility("default"))) const rnnx_gpu_module* rnnx_gpu_module_open_v0(
    const rnnx_gpu_host* host) {
  return rnnx::gpu::open_module(host);
}
#else
extern "C" __attribute__((visibility("default"))) const rnnx_gpu_module* rnnx_gpu_module_open_v2(
    const rnnx_gpu_host* host) {
  return rnnx::gpu::open_module(host);
}
#endif
