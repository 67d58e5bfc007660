// barrier.h — the barrier between the steps of a parallel time loop.
// Spins briefly (a balanced step waits microseconds), then sleeps on a futex until the last
// thread arrives (futex.h; elsewhere than Linux it yields the core in a loop). When the machine is busy
// and the partner thread has been descheduled, spinning would hold the very core it needs to
// finish its share; sleeping leaves the core idle, so the scheduler can move the partner
// onto it at once (a thread that only yields stays runnable and keeps its core). Measured
// on a 2-core Zen 3 VM shared with other jobs, a pinned busy loop beside, 2 threads forced
// (PYRNN_LOAD_PROBE=0; the load probe would have used one), A/B in one process, median of 5:
// LSTM train (50, 1, 64, 128) x13, a barrier per step: yield 2488 ms, futex 1057 ms (1 thread
// 144 ms); (100, 64, 128, 256): yield 1683 ms, futex 1571 ms (1 thread 1508 ms). The spin
// phase is unchanged, so a balanced step (waits well inside it) never reaches the futex.
// Generation-counting, acquire/release: everything written before wait() by any thread is
// visible to every thread after it. No std templates (this header is compiled once per ISA
// level inside its namespace).
// The futex calls are futex.h's (included by kernels.cpp before the ISA namespace).
#pragma once

class Barrier {
 public:
  // Called by one thread (under `omp single`) before first use.
  void reset(int n) {
    n_ = n;
    count_ = 0;
    gen_ = 0;
    sleepers_ = 0;
  }
  void wait() {
    if (n_ <= 1) return;
    const int gen = __atomic_load_n(&gen_, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&count_, 1, __ATOMIC_ACQ_REL) == n_) {
      __atomic_store_n(&count_, 0, __ATOMIC_RELAXED);
      // seq_cst store then load, against the sleeper's increment then futex check: either
      // the sleeper sees the new generation, or this thread sees the sleeper.
      __atomic_store_n(&gen_, gen + 1, __ATOMIC_SEQ_CST);
      if (__atomic_load_n(&sleepers_, __ATOMIC_SEQ_CST) > 0) futex_wake_all(&gen_);
      return;
    }
    for (int spin = 0; __atomic_load_n(&gen_, __ATOMIC_ACQUIRE) == gen; ++spin) {
      if (spin < kSpins) relax();
      else park(gen);
    }
  }

 private:
  static constexpr int kSpins = 2000;  // ~50-200 us of pause, then sleep
  static inline void relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
  }
  void park(int gen) {
    __atomic_add_fetch(&sleepers_, 1, __ATOMIC_SEQ_CST);
    futex_wait(&gen_, gen);  // returns at once if gen_ has moved on; the caller re-checks
    __atomic_sub_fetch(&sleepers_, 1, __ATOMIC_SEQ_CST);
  }
  int n_ = 1;
  alignas(64) int count_ = 0;
  alignas(64) int gen_ = 0;
  alignas(64) int sleepers_ = 0;
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
