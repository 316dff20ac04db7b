// The meeting point of the cpu engine's persistent recurrences (cpu/small_batch.h,
// cpu/tiled_recurrence.h): all threads of the region meet here once per step. Spinning (with a
// pause) costs far less than an OpenMP barrier's wake-up at this rate (one every few
// microseconds); a long wait yields, so that a machine with fewer free cores than threads still
// makes progress.
#pragma once

#include <atomic>
#include <thread>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace rnnx::cpu {

class SpinBarrier {
 public:
  explicit SpinBarrier(int count) : count_(count) {}
  SpinBarrier(const SpinBarrier&) = delete;
  SpinBarrier& operator=(const SpinBarrier&) = delete;

  void wait() {
    const int generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) == count_ - 1) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.store(generation + 1, std::memory_order_release);
      return;
    }
    for (int spins = 0; generation_.load(std::memory_order_acquire) == generation; ++spins) {
      if (spins < 4096) {
        pause();
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  static void pause() {
#if defined(__x86_64__)
    _mm_pause();
#endif
  }

  const int count_;
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<int> generation_{0};
};

}  // namespace rnnx::cpu
