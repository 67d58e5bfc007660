// barrier.h — the barrier between the steps of a parallel time loop.
// Spins briefly (a balanced step waits microseconds), then yields the core: when the machine
// is busy and the partner thread has been descheduled, spinning would hold the very core it
// needs to finish its share. Generation-counting, acquire/release: everything written before
// wait() by any thread is visible to every thread after it. No std templates (this header is
// compiled once per ISA level inside its namespace).
#pragma once

class Barrier {
 public:
  // Called by one thread (under `omp single`) before first use.
  void reset(int n) {
    n_ = n;
    count_ = 0;
    gen_ = 0;
  }
  void wait() {
    if (n_ <= 1) return;
    const int gen = __atomic_load_n(&gen_, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&count_, 1, __ATOMIC_ACQ_REL) == n_) {
      __atomic_store_n(&count_, 0, __ATOMIC_RELAXED);
      __atomic_store_n(&gen_, gen + 1, __ATOMIC_RELEASE);
      return;
    }
    for (int spin = 0; __atomic_load_n(&gen_, __ATOMIC_ACQUIRE) == gen; ++spin) {
      if (spin < kSpins) relax();
      else sched_yield();
    }
  }

 private:
  static constexpr int kSpins = 2000;  // ~50-200 us of pause, then yield
  static inline void relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
  }
  int n_ = 1;
  alignas(64) int count_ = 0;
  alignas(64) int gen_ = 0;
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
