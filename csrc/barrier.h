// barrier.h — the barrier between the steps of a parallel time loop.
// Spins briefly (a balanced step waits microseconds), then sleeps on a futex until the last
// thread arrives (futex.h; elsewhere than Linux it yields the core in a loop). When the machine is
// busy and the partner thread has been descheduled, spinning would hold the very core it needs to
// finish its share; sleeping leaves the core idle, so the scheduler can move the partner
// onto it at once (a thread that only yields stays runnable and keeps its core). Measured
// on a 2-core Zen 3 VM shared with other jobs, a pinned busy loop beside, 2 threads forced
// (PYRNN_LOAD_PROBE=0; the load probe would have used one), A/B in one process, median of 5:
// LSTM train (50, 1, 64, 128) x13, a barrier per step: yield 2488 ms, futex 1057 ms (1 thread
// 144 ms); (100, 64, 128, 256): yield 1683 ms, futex 1571 ms (1 thread 1508 ms). The spin
// phase is unchanged, so a balanced step (waits well inside it) never reaches the futex.
// Generation-counting, acquire/release: everything written before wait() by any thread is
// visible to every thread after it. Standard atomics (<atomic> and <thread> are included by
// kernels.cpp before the ISA namespace opens; their member functions are inlined at -O3, so
// no ISA-specific copy of them is shared between ISA levels); the futex sleeps on the
// generation's int (std::atomic<int> is an int: checked below).
// The futex calls are futex.h's (included by kernels.cpp before the ISA namespace).
#pragma once

class Barrier {
 public:
  // Called by one thread (under `omp single`) before first use.
  void reset(int n) {
    n_ = n;
    count_.store(0, std::memory_order_relaxed);
    gen_.store(0, std::memory_order_relaxed);
    sleepers_.store(0, std::memory_order_relaxed);
  }
  void wait() {
    if (n_ <= 1) return;
    const int gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
      count_.store(0, std::memory_order_relaxed);
      // seq_cst store then load, against the sleeper's increment then futex check: either
      // the sleeper sees the new generation, or this thread sees the sleeper.
      gen_.store(gen + 1, std::memory_order_seq_cst);
      if (sleepers_.load(std::memory_order_seq_cst) > 0) futex_wake_all(gen_word());
      return;
    }
    for (int spin = 0; gen_.load(std::memory_order_acquire) == gen; ++spin) {
      if (spin < kSpins)
        relax();
      else
        park(gen);
    }
  }

 private:
  static constexpr int kSpins = 2000;  // ~50-200 us of pause, then sleep
  static inline void relax() {
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
  }
  void park(int gen) {
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    futex_wait(gen_word(), gen);  // returns at once if gen_ has moved on; the caller re-checks
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
  }
  static_assert(sizeof(std::atomic<int>) == sizeof(int) && std::atomic<int>::is_always_lock_free,
                "the futex waits on the generation's int");
  int* gen_word() { return reinterpret_cast<int*>(&gen_); }
  int n_ = 1;
  alignas(64) std::atomic<int> count_{0};
  alignas(64) std::atomic<int> gen_{0};
  alignas(64) std::atomic<int> sleepers_{0};
};

// Waits until *counter >= target (a pipeline's producer publishes with a release store):
// spins briefly, then yields the core. (The counters are plain int64_t in kernels.cpp, read
// and written with the __atomic builtins, which GCC, Clang and clang-cl all provide.)
static inline void wait_at_least(const int64_t* counter, int64_t target) {
  for (int spin = 0; __atomic_load_n(counter, __ATOMIC_ACQUIRE) < target; ++spin) {
    if (spin < 2000) {
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
      __builtin_ia32_pause();
#elif defined(__aarch64__)
      __asm__ __volatile__("yield");
#endif
    } else {
      std::this_thread::yield();
    }
  }
}

// A pipeline's producer that is stopped (interrupted) publishes INT64_MAX: what it had not
// written will never come. Waits as wait_at_least; true if the input stopped instead.
static inline bool chain_input_stopped(const int64_t* counter, int64_t target) {
  wait_at_least(counter, target);
  return __atomic_load_n(counter, __ATOMIC_ACQUIRE) == INT64_MAX;
}
