// plan.cpp — what the kernels derive from the machine: cache sizes read at run time, the
// tile sizes and thresholds that follow from them, and how a call's threads share its steps.
// ISA-independent (compiled once, without per-level flags) and free of mutable state: the
// cache sizes are read once, the rest are pure functions of them and of the shape.
#if !defined(_WIN32)
#include <unistd.h>  // sysconf (Windows has neither; the defaults below apply there)
#endif

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine.h"

namespace pyrnn {

namespace {

// "48K", "1024K", "32M" (sysfs size files) -> bytes; 0 if unreadable.
int64_t parse_size(const char* s) {
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  if (end == s || v <= 0) return 0;
  if (*end == 'K' || *end == 'k') return v << 10;
  if (*end == 'M' || *end == 'm') return v << 20;
  if (*end == 'G' || *end == 'g') return v << 30;
  return v;
}

std::string read_line(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return "";
  char buf[128] = {0};
  const bool ok = std::fgets(buf, sizeof buf, f) != nullptr;
  std::fclose(f);
  if (!ok) return "";
  std::string s(buf);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Linux: /sys/devices/system/cpu/cpu0/cache/index*/ (level, type, size), which also covers
// aarch64 where sysconf's cache queries return 0.
bool from_sysfs(CacheInfo& c) {
  bool any = false;
  for (int i = 0; i < 8; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    const std::string level = read_line(dir + "level"), type = read_line(dir + "type");
    const int64_t size = parse_size(read_line(dir + "size").c_str());
    if (level.empty() || size <= 0) continue;
    if (level == "1" && (type == "Data" || type == "Unified"))
      c.l1d = size, any = true;
    else if (level == "2" && type != "Instruction")
      c.l2 = size, any = true;
    else if (level == "3" && type != "Instruction")
      c.l3 = size, any = true;
  }
  return any;
}

bool from_sysconf(CacheInfo& c) {
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE)
  const long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (l1 > 0) c.l1d = l1;
  if (l2 > 0) c.l2 = l2;
#if defined(_SC_LEVEL3_CACHE_SIZE)
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (l3 > 0) c.l3 = l3;
#endif
  return l1 > 0 || l2 > 0;
#else
  (void)c;
  return false;
#endif
}

CacheInfo detect() {
  CacheInfo c{};
  if (from_sysfs(c))
    c.source = "sysfs";
  else if (from_sysconf(c))
    c.source = "sysconf";
  // What was not found: a small, common machine (a guess is safe: every size below only moves
  // a threshold, never the arithmetic).
  if (c.l1d <= 0) c.l1d = 32 << 10, c.source = c.source ? c.source : "default";
  if (c.l2 <= 0) c.l2 = 512 << 10, c.source = c.source ? c.source : "default";
  if (c.l3 < 0) c.l3 = 0;
  if (!c.source) c.source = "default";
  return c;
}

}  // namespace

const CacheInfo& cache_info() {
  static const CacheInfo c = detect();
  return c;
}

// Each size is a fraction of the cache it must fit, chosen where the fixed constants it
// replaces were measured (a 2-core Xeon with AVX-512, 32 KiB L1d and 2 MiB L2 per core:
// step tile 24 KiB, step slice 64 KiB "32 to 128 KiB alike", rows split up to 1.5 MiB of
// weights) and checked on a Zen 3 EPYC (32 KiB L1d, 512 KiB L2), where the 1.5 MiB rule had
// the two threads each streaming weights three times their L2.
Tuning tuning(const CacheInfo& c) {
  Tuning t{};
  t.step_tile_bytes = c.l1d * 3 / 4;  // the step's output tile, beside a slice of W_hh in L1
  t.step_slice_bytes = c.l2 / 8;      // a k-slice of a W_hh panel every row tile reuses
  if (t.step_slice_bytes < (16 << 10)) t.step_slice_bytes = 16 << 10;
  if (t.step_slice_bytes > (128 << 10)) t.step_slice_bytes = 128 << 10;
  t.row_split_bytes = c.l2 * 3 / 4;   // weights every thread streams when split by rows
  t.l2_fit_bytes = c.l2 / 2;          // a packed GEMM operand that stays in L2 between tiles
  // The big GEMMs' blocks. KC: a panel slice of twice the L1d (64 KiB, measured best on the
  // Xeon and on the Zen 3, where 16 KiB was 9% slower on a 6400 x 768 x 2048 product), the
  // micro-tile's rows streaming past it; MC: an A block of 3/8 of the L2 (96 rows of KC = 512
  // floats on the Zen 3, the value measured there). gemm.h bounds both (gemm_blocks).
  t.gemm_kc_bytes = c.l1d * 2;
  t.gemm_mc_bytes = c.l2 * 3 / 8;
  return t;
}

// Work too small to pay for its synchronization runs on one thread (same results: the
// partition never changes the arithmetic). Split by units that is a barrier per step (~1 us,
// far more when cores are shared): at least 2 MFLOP of recurrent work per step, or, given
// `stream_bytes` (the recurrent weights one step streams from L2; forward only), at least
// 128 KiB of them or 0.4 MFLOP. A small batch's forward step is bound by that stream rather
// than by its FLOPs, and two cores stream twice as fast: 2 threads vs 1 at B = 1, H = 128:
// LSTM +23..50%, GRU +12..36%; H = 256: +46..96%; B = 4, H = 256 RNN +10..26%; below that
// (H = 64, or the 64 KiB of an H = 128 RNN) the barrier costs as much or more (-3..-34%). The
// backward step keeps the FLOP rule (B = 1, H = 128 LSTM backward lost 15..25% split).
// Split by rows (each thread owns batch rows for every unit; no barrier at all, as rows never
// interact, but every thread streams all the weights): when the weights fit a core's L2
// (Tuning::row_split_bytes) and there are at least ~4 MFLOP per thread in all.
ThreadPlan plan_threads(int requested, const LayerShape& s, int64_t weight_bytes,
                        int64_t stream_bytes, const Tuning& tn) {
  const int64_t G = num_gates(s.cell);
  const int64_t step_flops = 2 * s.B * G * s.H * (s.H + s.I);
  const int nt = requested < 1 ? 1 : requested;
  if (nt == 1) return {1, false};
  constexpr int64_t kMinRows = 6;  // at least a micro-tile of rows per thread
  if (s.B >= nt * kMinRows && weight_bytes <= tn.row_split_bytes &&
      s.T * step_flops >= nt * 4000000LL)
    return {nt, true};
  const int64_t hh_flops = 2 * s.B * G * s.H * s.H;
  if (hh_flops >= 2000000) return {nt, false};
  if (stream_bytes > 0 && (stream_bytes >= (int64_t(128) << 10) || hh_flops >= 400000))
    return {nt, false};
  return {1, false};
}

// Several independent layer-directions (the directions of a bidirectional layer, or the layers
// of a stack as a wavefront), each whole on one thread, beat sharing every step of each when
// the steps are small: no barrier per step, no state crossing cores. Worth it when each step
// is below the FLOP rule that makes a units split pay for its barrier by itself, and the
// batch is too small to split by rows.
bool group_layers(int requested, int pieces, const LayerShape& s, int64_t weight_bytes,
                  const Tuning& tn) {
  if (requested < 2 || pieces < 2) return false;
  const ThreadPlan p = plan_threads(requested, s, weight_bytes, 0, tn);
  if (p.by_rows) return false;
  const int64_t hh_flops = 2 * s.B * num_gates(s.cell) * s.H * s.H;
  return hh_flops < 2000000;
}

// A stack run as a wavefront (layer k+1 one chunk behind layer k, each layer on one thread)
// finishes no sooner than its slowest layer on one thread. Where one layer's forward would
// share its steps by units (a small batch that streams >= 128 KiB of W_hh per step: each
// core's half of W_hh stays in its own L2, near 2x on 2 cores), layer by layer is faster:
// 2 layers of LSTM H = 128 at B = 1 on 2 threads: 0.66 ms layer by layer, 0.82 ms as a
// wavefront (AMD EPYC Zen 3, AVX2); a vanilla RNN (64 KiB, forward serial) 0.39 vs 0.23 ms.
bool chain_layers(int requested, const LayerShape& s, int64_t weight_bytes, int64_t stream_bytes,
                  const Tuning& tn) {
  return group_layers(requested, 2, s, weight_bytes, tn) &&
         plan_threads(requested, s, weight_bytes, stream_bytes, tn).nthreads == 1;
}

}  // namespace pyrnn
