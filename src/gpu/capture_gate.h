// Keeps rnnx's own device-synchronizing calls out of gpu_static's graph captures.
//
// gpu_static captures in cudaStreamCaptureModeThreadLocal on non-blocking streams. CUDA documents
// that such a capture forbids unsafe calls (cudaMalloc, cudaFree, device synchronization, ...)
// only on the capturing thread, and ignores other threads, unless one of them captures in global
// mode. It does not document that another thread's device-wide synchronization (cudaFree,
// cudaDeviceSynchronize, cudaFreeHost, handle creation in cuBLAS/cuDNN, a kernel module loaded
// lazily) is harmless to a capture in flight, and no rnnx code has yet run on a GPU to show it.
// So, as a precaution that costs only waiting, rnnx keeps its own such calls apart from its
// captures: captures hold the gate shared (they may overlap one another), rnnx's synchronizing
// work holds it exclusively. What other code does on other threads is the caller's
// (docs/ENGINES.md, "Threads and graph capture"); gpu_static retries a capture that was invalidated
// anyway, once.
//
// Lock order: the gate first, then any lock taken inside a scope (a function-local static's
// initialization included), never the other way round.
//
// No CUDA here: rnn.cpp takes the gate around every plan's construction and destruction in every
// build (uncontended without CUDA).
#pragma once

#include <mutex>
#include <shared_mutex>

namespace rnnx::gpu {

namespace detail {

// This thread's hold on the gate: how many SyncScopes are open, and whether it captures.
struct GateHold {
  int sync_depth = 0;
  bool capturing = false;
};

// The one gate of the process and this thread's hold on it. Defined once, in librnnx
// (gpu/capture_gate.cpp); the GPU module (librnnx_gpu.so, a separate copy of the code it needs)
// forwards both to librnnx's through the table it is given at load (gpu/module_gate.cpp,
// docs/GPU_LIBRARIES.md), so that plans, captures and the device probe all share one gate.
std::shared_mutex& capture_gate();
GateHold& this_thread_hold();

}  // namespace detail

// Around rnnx's calls that synchronize the device: plan construction and destruction, workspace
// growth, pinned-buffer growth, the device probe. Nests within a thread (only the outermost scope
// locks). A thread that is capturing does not lock: its synchronizing call fails in CUDA anyway
// (cudaErrorStreamCaptureUnsupported), and waiting on itself would deadlock.
class SyncScope {
 public:
  SyncScope() {
    detail::GateHold& hold = detail::this_thread_hold();
    if (hold.sync_depth == 0 && !hold.capturing) {
      lock_ = std::unique_lock<std::shared_mutex>(detail::capture_gate());
    }
    ++hold.sync_depth;  // only once the lock is held: a throwing lock leaves the count as it was
  }
  ~SyncScope() { --detail::this_thread_hold().sync_depth; }
  SyncScope(const SyncScope&) = delete;
  SyncScope& operator=(const SyncScope&) = delete;

 private:
  std::unique_lock<std::shared_mutex> lock_;
};

// Around one graph capture, from cudaStreamBeginCapture to cudaStreamEndCapture. A thread inside a
// SyncScope already holds the gate exclusively and takes nothing more.
class CaptureScope {
 public:
  CaptureScope() {
    detail::GateHold& hold = detail::this_thread_hold();
    if (hold.sync_depth == 0 && !hold.capturing) {
      lock_ = std::shared_lock<std::shared_mutex>(detail::capture_gate());
    }
    was_capturing_ = hold.capturing;
    hold.capturing = true;
  }
  ~CaptureScope() { detail::this_thread_hold().capturing = was_capturing_; }
  CaptureScope(const CaptureScope&) = delete;
  CaptureScope& operator=(const CaptureScope&) = delete;

 private:
  std::shared_lock<std::shared_mutex> lock_;
  bool was_capturing_ = false;
};

}  // namespace rnnx::gpu
