#include "gpu/plan_support.h"

#include <algorithm>
#include <exception>
#include <string>

#include "gpu/capture_gate.h"
#include "gpu/cuda_check.h"
#include "rnnx/error.h"

namespace rnnx::gpu {

DeviceGuard::DeviceGuard(int device) : device_(device) {
  RNNX_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device) RNNX_CUDA_CHECK(cudaSetDevice(device));
}

DeviceGuard::~DeviceGuard() {
  if (previous_ != device_) cudaSetDevice(previous_);  // best effort in a destructor
}

void require_device_memory(const void* p, const char* name, int device, Engine engine) {
  if (p == nullptr) return;
  cudaPointerAttributes a{};
  RNNX_CUDA_CHECK(cudaPointerGetAttributes(&a, p));
  if (a.type != cudaMemoryTypeDevice && a.type != cudaMemoryTypeManaged) {
    throw Error(Status::invalid_argument,
                std::string(name) + ": host memory; the " + to_string(engine) +
                    " engine needs device memory (cudaMalloc) on device " + std::to_string(device));
  }
  if (a.type == cudaMemoryTypeDevice && a.device != device) {
    throw Error(Status::invalid_argument,
                std::string(name) + ": memory of device " + std::to_string(a.device) +
                    "; this plan runs on device " + std::to_string(device));
  }
}

void require_host_memory(const void* p, const char* name) {
  if (p == nullptr) return;
  cudaPointerAttributes a{};
  RNNX_CUDA_CHECK(cudaPointerGetAttributes(&a, p));
  if (a.type == cudaMemoryTypeDevice) {
    throw Error(Status::invalid_argument,
                std::string(name) + ": device memory; lengths are host memory for every engine");
  }
}

void check_call_memory(const Forward& args, const Backward* grads, const void* reserve, int device,
                       Engine engine) {
  require_host_memory(args.lengths, "Forward.lengths");
  require_device_memory(args.x.data, "Forward.x", device, engine);
  require_device_memory(args.weights.data, "Forward.weights", device, engine);
  require_device_memory(args.init.data, "Forward.init", device, engine);
  require_device_memory(args.y.data, "Forward.y", device, engine);
  require_device_memory(args.final_state.data, "Forward.final_state", device, engine);
  require_device_memory(reserve, "reserve.data", device, engine);
  if (grads != nullptr) {
    require_device_memory(grads->dy.data, "Backward.dy", device, engine);
    require_device_memory(grads->dfinal.data, "Backward.dfinal", device, engine);
    require_device_memory(grads->dx.data, "Backward.dx", device, engine);
    require_device_memory(grads->dinit.data, "Backward.dinit", device, engine);
    require_device_memory(grads->dweights.data, "Backward.dweights", device, engine);
  }
}

void DeviceWorkspace::grow(std::size_t need) {
  if (need <= bytes_) return;
  const SyncScope sync;
  void* old = block_;
  block_ = nullptr;
  bytes_ = 0;
  // The plan's calls grow it on the plan's device, where the old block lives.
  if (old != nullptr) RNNX_CUDA_CHECK(cudaFree(old));
  int device = 0;
  RNNX_CUDA_CHECK(cudaGetDevice(&device));
  void* block = nullptr;
  RNNX_CUDA_CHECK(cudaMalloc(&block, need));
  block_ = block;
  bytes_ = need;
  device_ = device;
}

void DeviceWorkspace::release() noexcept {
  if (block_ == nullptr) return;
  void* block = block_;
  block_ = nullptr;
  bytes_ = 0;
  const SyncScope sync;  // cudaFree synchronizes the device
  int previous = device_;
  cudaGetDevice(&previous);
  if (previous != device_) cudaSetDevice(device_);
  cudaFree(block);
  if (previous != device_) cudaSetDevice(previous);
}

LengthStager::LengthStager() {
  RNNX_CUDA_CHECK(cudaEventCreateWithFlags(&copied_, cudaEventDisableTiming));
}

LengthStager::~LengthStager() {
  const SyncScope sync;  // cudaFreeHost synchronizes the device
  if (copied_ != nullptr) {
    cudaEventSynchronize(copied_);
    cudaEventDestroy(copied_);
  }
  if (pinned_ != nullptr) cudaFreeHost(pinned_);
}

int LengthStager::fill(const Forward& args, int at_least) {
  RNNX_CUDA_CHECK(cudaEventSynchronize(copied_));
  if (capacity_ < args.batch) {
    const SyncScope sync;
    if (pinned_ != nullptr) RNNX_CUDA_CHECK(cudaFreeHost(pinned_));
    pinned_ = nullptr;
    capacity_ = 0;
    RNNX_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&pinned_),
                                  std::size_t(args.batch) * sizeof(int), cudaHostAllocDefault));
    capacity_ = args.batch;
  }
  int max_len = 0;
  for (int b = 0; b < args.batch; ++b) {
    const int len = args.lengths != nullptr ? args.lengths[b] : args.steps;
    max_len = std::max(max_len, len);
    pinned_[b] = std::max(len, at_least);
  }
  return max_len;
}

void LengthStager::copy_to(int* device, int batch, cudaStream_t stream) {
  RNNX_CUDA_CHECK(cudaMemcpyAsync(device, pinned_, std::size_t(batch) * sizeof(int),
                                  cudaMemcpyHostToDevice, stream));
  RNNX_CUDA_CHECK(cudaEventRecord(copied_, stream));
}

CallOrder::CallOrder() {
  RNNX_CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
}

CallOrder::~CallOrder() {
  if (done_ != nullptr) {
    cudaEventSynchronize(done_);
    cudaEventDestroy(done_);
  }
}

void CallOrder::begin(cudaStream_t stream) {
  RNNX_CUDA_CHECK(cudaStreamWaitEvent(stream, done_, 0));
}

void CallOrder::end(cudaStream_t stream) noexcept {
  cudaEventRecord(done_, stream);
}

void CallOrder::wait() noexcept {
  cudaEventSynchronize(done_);
}

namespace testing {
std::atomic<void (*)(cudaStream_t)> after_begin_capture{nullptr};
}  // namespace testing

cudaGraph_t capture_graph(cudaStream_t stream, const std::function<void()>& enqueue, int& retries) {
  const CaptureScope gate;
  for (int attempt = 1;; ++attempt) {
    RNNX_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    std::exception_ptr failure;
    try {
      if (void (*hook)(cudaStream_t) = testing::after_begin_capture.load()) hook(stream);
      enqueue();
    } catch (...) {
      failure = std::current_exception();
    }
    // Asked before ending: an invalidated capture is what a retry can mend; any other failure is
    // rethrown as it came.
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    const bool asked = cudaStreamIsCapturing(stream, &status) == cudaSuccess;
    cudaGraph_t graph = nullptr;
    const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
    const bool invalidated = (asked && status == cudaStreamCaptureStatusInvalidated) ||
                             ended == cudaErrorStreamCaptureInvalidated;
    if (!invalidated && failure == nullptr && ended == cudaSuccess) return graph;
    if (graph != nullptr) cudaGraphDestroy(graph);
    // The failed calls left their error as this thread's last error; the next launch check must
    // not report it again.
    (void)cudaGetLastError();
    if (invalidated && attempt == 1) {
      ++retries;
      continue;
    }
    if (invalidated) {
      throw Error(
          Status::backend_error,
          "gpu_static: the CUDA Graph capture of this shape was invalidated twice (a "
          "global-mode capture on another thread, or a device-wide synchronization while this "
          "one captured); keep such work away from a shape's first call, or capture ahead with "
          "Rnn::prepare");
    }
    if (failure != nullptr) std::rethrow_exception(failure);
    RNNX_CUDA_CHECK(ended);
  }
}

}  // namespace rnnx::gpu
