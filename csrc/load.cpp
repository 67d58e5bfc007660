// load.cpp — how many of the cores this process may use other processes leave free, so that a
// call runs on fewer threads when cores are taken. ISA-independent.
//
// Why: a parallel call forks a team, and a unit-split step waits at a barrier for the slowest
// thread. When another process keeps a core busy, the thread that lands on it runs only in
// its share of time slices, and every fork/join and barrier waits for it. Measured on a
// 2-core Zen 3 VM shared with other jobs (load average 15-25), a pinned Python busy loop
// beside, medians, 2 threads / 1 thread; before this probe (and the futex barrier):
//   RNNClassifier on the digits, 3 epochs: 20.1 s / 2.1 s (9.5x)
//   LSTM train (50, 1, 64, 128):           64 ms / 1.3 ms (49x); (100, 64, 128, 256) 0.79x
// and with it (benchmarks/load.py --only busy): fit 1 epoch 0.97x, (50, 1, 64, 128) x13
// 0.95x, (100, 64, 128, 256) 1.02x. Splitting onto a taken core does not pay, so the thread
// count a call is given is a maximum: the call uses at most as many threads as there are free
// cores (never fewer than one). Results do not change (same bits for any thread count).
//
// What is measured (Linux): the busy time of the allowed CPUs (/proc/stat, per-CPU lines,
// summed over the CPUs of sched_getaffinity) minus this process's own CPU time
// (CLOCK_PROCESS_CPUTIME_ID: our own threads, spinning or not, never count as load), over
// the window since the previous sample; that is how many cores others kept busy. With no
// recent sample (the first call, or a pause over 1 s) the window would be stale, so the
// instantaneous count of runnable threads (/proc/loadavg) minus our own runnable ones
// (/proc/self/task: a long call's OpenMP worker still spins when the next call looks)
// stands in.
// A sample is taken at most every 100 ms and cached in atomics: a call costs one read of the
// monotonic clock (vDSO, no system call) and, once per 100 ms, reading ~2 small proc files.
// libgomp's OMP_DYNAMIC does something similar from the 1-minute load average, which counts
// our own threads and reacts in minutes; its wait policy is left as the user set it.
// Elsewhere (no /proc) or with PYRNN_LOAD_PROBE=0, calls use the count they are given.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

#if defined(__linux__)
#include <dirent.h>
#include <sched.h>
#include <unistd.h>
#endif

#include "engine.h"

namespace pyrnn {

// A core counts as free when others keep it less than half busy. The /proc/stat ticks are
// 10 ms: over a 100 ms window on 2 CPUs the estimate is good to about +-0.2 core, so a
// threshold at 0.5 never takes an idle core for a busy one; a process that keeps a core half
// busy already costs a barrier partner many of its time slices.
int threads_under_load(int requested, double busy_cores, int cpus) {
  if (requested <= 1) return 1;
  if (cpus < 1) return requested;  // nothing known: the count as given
  if (busy_cores < 0) busy_cores = 0;
  const int free_cores = int(double(cpus) - busy_cores + 0.5);
  if (free_cores < 1) return 1;
  return free_cores < requested ? free_cores : requested;
}

namespace {

// A refresh reads /proc/stat (and /proc/loadavg): 0.10-0.15 ms each from Python on the
// loaded VM above, so at most ~0.1% of a busy caller's time; 100 ms reacts to a process that
// starts or stops well within a fit's first epoch, and is 10 ticks per CPU of window.
constexpr int64_t kRefreshNs = 100 * 1000 * 1000;    // sample at most every 100 ms
// Past 1 s the window would average over a past the caller did not run in (the load may have
// come or gone); the instantaneous runnable count is the better guess then.
constexpr int64_t kMaxWindowNs = 1000 * 1000 * 1000;

int64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return int64_t(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

bool probe_enabled() {
  const char* v = std::getenv("PYRNN_LOAD_PROBE");
  return !(v && (std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0));
}

#if defined(__linux__)
// Busy time (user+nice+system+irq+softirq+steal, in ticks) summed over the allowed CPUs.
bool read_busy_ticks(const cpu_set_t& allowed, int64_t& ticks) {
  FILE* f = std::fopen("/proc/stat", "r");
  if (!f) return false;
  char line[512];
  bool any = false;
  ticks = 0;
  while (std::fgets(line, sizeof line, f) && std::strncmp(line, "cpu", 3) == 0) {
    int cpu = -1;
    long long u = 0, n = 0, sy = 0, idle = 0, iow = 0, irq = 0, sirq = 0, steal = 0;
    if (std::sscanf(line, "cpu%d %lld %lld %lld %lld %lld %lld %lld %lld", &cpu, &u, &n, &sy, &idle,
                    &iow, &irq, &sirq, &steal) < 8)
      continue;  // the aggregate "cpu " line, or a malformed one
    if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed)) continue;
    ticks += u + n + sy + irq + sirq + steal;
    any = true;
  }
  std::fclose(f);
  return any;
}

// This process's threads that are running or runnable now (state R in
// /proc/self/task/*/stat), the caller included: our own spinning OpenMP workers (libgomp
// spins a while after a parallel region) or OpenBLAS threads are not others' load.
int read_own_runnable() {
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return 1;
  int n = 0;
  char path[64], buf[256];
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::snprintf(path, sizeof path, "/proc/self/task/%.20s/stat", e->d_name);
    FILE* f = std::fopen(path, "r");
    if (!f) continue;  // the thread has just ended
    if (std::fgets(buf, sizeof buf, f)) {
      const char* p = std::strrchr(buf, ')');  // after "tid (comm)": the state
      if (p && p[1] == ' ' && p[2] == 'R') ++n;
    }
    std::fclose(f);
  }
  closedir(dir);
  return n < 1 ? 1 : n;
}

// Runnable threads on the whole machine right now (the 4th field of /proc/loadavg, "r/t").
int read_runnable() {
  FILE* f = std::fopen("/proc/loadavg", "r");
  if (!f) return -1;
  double a, b, c;
  int running = -1, total = 0;
  if (std::fscanf(f, "%lf %lf %lf %d/%d", &a, &b, &c, &running, &total) != 5) running = -1;
  std::fclose(f);
  return running;
}
#endif

class Probe {
 public:
  LoadInfo get() {
    if (!enabled_) return {0.0, 0, "off"};
    const int64_t now = clock_ns(CLOCK_MONOTONIC);
    if (now - stamp_.load(std::memory_order_acquire) >= kRefreshNs) {
      std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
      if (lock.owns_lock() && now - stamp_.load(std::memory_order_relaxed) >= kRefreshNs)
        refresh(now);
    }
    return {busy_milli_.load(std::memory_order_relaxed) / 1000.0,
            cpus_.load(std::memory_order_relaxed), source_.load(std::memory_order_relaxed)};
  }

 private:
  void publish(int64_t now, double busy, int cpus, const char* source) {
    busy_milli_.store(int(busy * 1000 + 0.5), std::memory_order_relaxed);
    cpus_.store(cpus, std::memory_order_relaxed);
    source_.store(source, std::memory_order_relaxed);
    stamp_.store(now, std::memory_order_release);
  }

  void refresh(int64_t now) {
#if defined(__linux__)
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
      return publish(now, 0, 0, "unavailable");
    const int cpus = CPU_COUNT(&allowed);
    int64_t ticks = 0;
    const int64_t own = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    if (!read_busy_ticks(allowed, ticks)) return publish(now, 0, 0, "unavailable");
    const bool fresh = prev_wall_ > 0 && now - prev_wall_ <= kMaxWindowNs;
    const int64_t d_wall = now - prev_wall_, d_ticks = ticks - prev_ticks_, d_own = own - prev_own_;
    prev_wall_ = now, prev_ticks_ = ticks, prev_own_ = own;
    if (fresh) {
      static const double ns_per_tick = 1e9 / double(sysconf(_SC_CLK_TCK));
      const double busy = (double(d_ticks) * ns_per_tick - double(d_own)) / double(d_wall);
      return publish(now, clamp(busy, cpus), cpus, "cpu time");
    }
    // Others runnable now, scaled to the allowed CPUs' share of the machine.
    const int runnable = read_runnable();
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (runnable < 1 || online < 1) return publish(now, 0, cpus, "unavailable");
    const int others = runnable - read_own_runnable();
    return publish(now, clamp(double(others) * cpus / double(online), cpus), cpus, "runnable");
#else
    publish(now, 0, 0, "unavailable");
#endif
  }

  static double clamp(double busy, int cpus) { return busy < 0 ? 0 : (busy > cpus ? cpus : busy); }

  const bool enabled_ = probe_enabled();
  std::mutex mu_;  // held by the one caller that refreshes; others read the cached sample
  int64_t prev_wall_ = 0, prev_ticks_ = 0, prev_own_ = 0;  // under mu_
  std::atomic<int64_t> stamp_{-kRefreshNs - 1};  // when the cached sample was taken
  std::atomic<int> busy_milli_{0};
  std::atomic<int> cpus_{0};
  std::atomic<const char*> source_{"not sampled"};
};

Probe& probe() {
  static Probe p;
  return p;
}

}  // namespace

LoadInfo load_info() {
  return probe().get();
}

int usable_threads(int requested) {
  if (requested <= 1) return 1;
  const LoadInfo l = load_info();
  return threads_under_load(requested, l.busy_cores, l.cpus);
}

}  // namespace pyrnn
