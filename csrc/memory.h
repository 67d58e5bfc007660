// memory.h — how much memory the machine can still give, asked before allocating (bindings
// only). Linux: MemAvailable from /proc/meminfo, lowered to the cgroup v2 limit's headroom
// when the process runs under one; elsewhere the free physical pages (sysconf).
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

namespace pyrnn {

// A first line of a file read as an integer, or -1 (missing, "max", unreadable).
inline int64_t read_int_file(const char* path) {
  FILE* f = std::fopen(path, "r");
  if (!f) return -1;
  long long v = -1;
  if (std::fscanf(f, "%lld", &v) != 1) v = -1;
  std::fclose(f);
  return v;
}

inline int64_t mem_available_meminfo() {
  FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return -1;
  char line[256];
  int64_t kib = -1;
  while (std::fgets(line, sizeof line, f)) {
    long long v;
    if (std::sscanf(line, "MemAvailable: %lld kB", &v) == 1) {
      kib = v;
      break;
    }
  }
  std::fclose(f);
  return kib < 0 ? -1 : kib * 1024;
}

// Bytes this process can still allocate and touch without swapping or the OOM killer;
// int64 max when it cannot be told.
inline int64_t available_memory() {
  int64_t avail = mem_available_meminfo();
#if defined(_SC_AVPHYS_PAGES) && defined(_SC_PAGESIZE)
  if (avail < 0) {
    const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) avail = int64_t(pages) * page;
  }
#endif
  const int64_t limit = read_int_file("/sys/fs/cgroup/memory.max");
  const int64_t used = read_int_file("/sys/fs/cgroup/memory.current");
  if (limit > 0 && used >= 0) {
    const int64_t headroom = limit > used ? limit - used : 0;
    if (avail < 0 || headroom < avail) avail = headroom;
  }
  return avail < 0 ? std::numeric_limits<int64_t>::max() : avail;
}

inline std::string human_bytes(double b) {
  const char* unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (b >= 1024 && u < 6) {
    b /= 1024;
    ++u;
  }
  char s[32];
  std::snprintf(s, sizeof s, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
  return s;
}

}  // namespace pyrnn
