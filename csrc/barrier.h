// barrier.h — the barrier between the steps of a parallel time loop.
// Spins briefly (a balanced step waits microseconds), then yields the core: when the machine
// is busy and the partner thread has been descheduled, spinning would hold the very core it
// needs to finish its share. Generation-counting, acquire/release: everything written before
// wait() by any thread is visible to every thread after it. Standard atomics (<atomic> and
// <thread> are included by kernels.cpp before the ISA namespace opens; their member functions
// are inlined at -O3, so no ISA-specific copy of them is shared between ISA levels).
#pragma once

class Barrier {
 public:
  // Called by one thread (under `omp single`) before first use.
  void reset(int n) {
    n_ = n;
    count_.store(0, std::memory_order_relaxed);
    gen_.store(0, std::memory_order_relaxed);
  }
  void wait() {
    if (n_ <= 1) return;
    const int gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
      count_.store(0, std::memory_order_relaxed);
      gen_.store(gen + 1, std::memory_order_release);
      return;
    }
    for (int spin = 0; gen_.load(std::memory_order_acquire) == gen; ++spin) {
      if (spin < kSpins) relax();
      else std::this_thread::yield();
    }
  }

 private:
  static constexpr int kSpins = 2000;  // ~50-200 us of pause, then yield
  static inline void relax() {
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
  }
  int n_ = 1;
  alignas(64) std::atomic<int> count_{0};
  alignas(64) std::atomic<int> gen_{0};
};

// Waits until *counter >= target (a pipeline's producer publishes with a release store):
// spins briefly, then yields the core like Barrier::wait.
static inline void wait_at_least(const int64_t* counter, int64_t target) {
  for (int spin = 0; __atomic_load_n(counter, __ATOMIC_ACQUIRE) < target; ++spin) {
    if (spin < 2000) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#elif defined(__aarch64__)
      __asm__ __volatile__("yield");
#endif
    } else {
      sched_yield();
    }
  }
}
