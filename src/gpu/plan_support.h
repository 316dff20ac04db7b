// Pieces every GPU plan needs (gpu_dynamic, gpu_static, gpu_persistent, cudnn): the device guard,
// checks of the caller's pointers, one workspace allocation and its carving, staging lengths to
// the device, and the ordering of one plan's calls across streams.
#pragma once

#include <cuda_runtime_api.h>

#include <atomic>
#include <cstddef>
#include <functional>

#include "rnnx/rnn.h"

namespace rnnx::gpu {

// Makes `device` current for a call and gives the caller's current device back.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0, device_ = 0;
};

// A buffer the caller passed must be device (or managed) memory of the plan's device; null is
// allowed (optional buffers). Throws Error(invalid_argument) naming the argument.
void require_device_memory(const void* p, const char* name, int device, Engine engine);
// The lengths are read on the host by every engine; a device pointer there would crash.
void require_host_memory(const void* p, const char* name);
// Both, for every pointer of a call.
void check_call_memory(const Forward& args, const Backward* grads, const void* reserve, int device,
                       Engine engine);

// Cuts one allocation into 256-byte aligned pieces; with a null base it only measures.
class Carver {
 public:
  explicit Carver(char* base) : base_(base) {}
  template <class U>
  U* take(std::size_t count) {
    const std::size_t at = (used_ + 255) / 256 * 256;
    used_ = at + count * sizeof(U);
    return base_ == nullptr ? nullptr : reinterpret_cast<U*>(base_ + at);
  }
  std::size_t used() const { return used_; }

 private:
  char* base_;
  std::size_t used_ = 0;
};

// A plan's one device allocation, which its engine carves into buffers (Carver), grown between
// calls when a shape needs more. Growing frees the old block and allocates the new one under the
// capture gate (cudaFree synchronizes the device; gpu/capture_gate.h); what was in it is not
// kept. The old block is forgotten before anything can fail, so a failed allocation leaves
// {nullptr, 0}, never a dangling pointer, and the next grow allocates afresh. Freed by release()
// or the destructor, on the device it was allocated on.
class DeviceWorkspace {
 public:
  DeviceWorkspace() = default;
  ~DeviceWorkspace() { release(); }
  DeviceWorkspace(const DeviceWorkspace&) = delete;
  DeviceWorkspace& operator=(const DeviceWorkspace&) = delete;

  // At least `need` bytes on the current device: a larger need replaces the block (moving
  // everything carved from it), a smaller or equal one keeps it. Throws Error on a CUDA failure.
  void grow(std::size_t need);
  // Frees the block (after the plan's last call has ended: CallOrder::wait). Best effort, on the
  // device it was allocated on; the caller's current device stays.
  void release() noexcept;

  char* data() const noexcept { return static_cast<char*>(block_); }
  std::size_t bytes() const noexcept { return bytes_; }  // held now (PlanStats::workspace_bytes)

 private:
  void* block_ = nullptr;
  std::size_t bytes_ = 0;
  int device_ = 0;  // where block_ lives
};

// The lengths of a call, copied to the device through pinned memory. The previous call's copy
// must have left the staging buffer before it is rewritten, which is the one wait on the host.
class LengthStager {
 public:
  LengthStager();
  ~LengthStager();
  LengthStager(const LengthStager&) = delete;
  LengthStager& operator=(const LengthStager&) = delete;

  // Writes args' lengths (steps for all when absent), each raised to at least `at_least`, into
  // the pinned buffer, once the previous copy out of it is done. Returns max(len) of the
  // unraised lengths.
  int fill(const Forward& args, int at_least = 0);
  // The filled lengths on the host.
  const int* host() const { return pinned_; }
  // Enqueues their copy into device[0..batch) on `stream`.
  void copy_to(int* device, int batch, cudaStream_t stream);
  // fill, then copy_to.
  int stage(const Forward& args, int* device, cudaStream_t stream, int at_least = 0) {
    const int max_len = fill(args, at_least);
    copy_to(device, args.batch, stream);
    return max_len;
  }

 private:
  int* pinned_ = nullptr;
  int capacity_ = 0;
  cudaEvent_t copied_ = nullptr;
};

// One plan's calls share its workspace: a call on another stream than the previous call's must
// start after that call ends. begin() waits for the last call's end; end() records it (run it on
// every way out, a throw included: see CallScope).
class CallOrder {
 public:
  CallOrder();
  ~CallOrder();
  CallOrder(const CallOrder&) = delete;
  CallOrder& operator=(const CallOrder&) = delete;
  void begin(cudaStream_t stream);
  void end(cudaStream_t stream) noexcept;
  // Blocks the host until the last call has ended (before freeing what it used).
  void wait() noexcept;

 private:
  cudaEvent_t done_ = nullptr;
};

class CallScope {
 public:
  CallScope(CallOrder& order, cudaStream_t stream) : order_(order), stream_(stream) {
    order_.begin(stream_);
  }
  ~CallScope() { order_.end(stream_); }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  CallOrder& order_;
  cudaStream_t stream_;
};

// Captures into a new graph what `enqueue` puts on `stream` (and the streams it forks), in
// cudaStreamCaptureModeThreadLocal, holding the capture gate (gpu/capture_gate.h). A capture that
// something else invalidated, such as another thread synchronizing the device, is captured again
// once (counted in `retries`); a second invalidation throws Error(backend_error) saying what must
// not run meanwhile. Any other failure of `enqueue` or of ending the capture is rethrown, with the
// stream left out of capture mode. The caller owns the returned graph.
cudaGraph_t capture_graph(cudaStream_t stream, const std::function<void()>& enqueue, int& retries);

namespace testing {
// Called right after each cudaStreamBeginCapture of capture_graph, on the capturing thread; null
// (the default) in the library. Tests set it to invalidate a capture at a known point.
extern std::atomic<void (*)(cudaStream_t)> after_begin_capture;
}  // namespace testing

}  // namespace rnnx::gpu
