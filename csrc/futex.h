// futex.h — sleep until an int changes, and wake whoever sleeps on it: what barrier.h does
// once its spin is over. Linux futexes (private to the process); elsewhere, waiting yields
// the core once per call and waking is a no-op (the waiter polls). Included outside the
// per-ISA namespaces: nothing here depends on the ISA level.
#pragma once
#include <thread>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace pyrnn {

// Returns when *addr may no longer equal `expected` (at once if it already differs; a
// spurious return is possible: callers re-check in a loop).
inline void futex_wait(int* addr, int expected) {
#if defined(__linux__)
  syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
#else
  (void)addr, (void)expected;
  std::this_thread::yield();
#endif
}

inline void futex_wake_all(int* addr) {
#if defined(__linux__)
  syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 0x7fffffff, nullptr, nullptr, 0);
#else
  (void)addr;
#endif
}

}  // namespace pyrnn
