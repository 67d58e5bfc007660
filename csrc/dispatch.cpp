// dispatch.cpp — picks the best kernel table the CPU supports, once, at import.
#include <cstdlib>
#include <cstring>

#include "engine.h"

#if defined(_MSC_VER) && !defined(__GNUC__)
#include <intrin.h>
#endif

namespace pyrnn {

#if defined(_MSC_VER) && !defined(__GNUC__)
// clang-cl / MSVC: no __builtin_cpu_supports without compiler-rt, so ask CPUID directly.
// A feature counts only if the OS saves its registers too (XGETBV: YMM for AVX2, and
// opmask + ZMM for AVX-512).
static bool cpuid_supports(const char* name) {
  int r1[4], r7[4];
  __cpuidex(r1, 1, 0);
  __cpuidex(r7, 7, 0);
  const bool osxsave = (r1[2] >> 27) & 1;
  const unsigned long long xcr0 = osxsave ? _xgetbv(0) : 0;
  const bool ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6;
  const auto bit = [](int reg, int b) { return ((reg >> b) & 1) != 0; };
  if (std::strcmp(name, "fma") == 0) return ymm && bit(r1[2], 12);
  if (std::strcmp(name, "avx2") == 0) return ymm && bit(r7[1], 5);
  if (std::strcmp(name, "avx512f") == 0) return zmm && bit(r7[1], 16);
  if (std::strcmp(name, "avx512dq") == 0) return zmm && bit(r7[1], 17);
  if (std::strcmp(name, "avx512bw") == 0) return zmm && bit(r7[1], 30);
  if (std::strcmp(name, "avx512vl") == 0) return zmm && bit(r7[1], 31);
  return false;
}
#define PYRNN_CPU_SUPPORTS(feature) cpuid_supports(feature)
#else
#define PYRNN_CPU_SUPPORTS(feature) __builtin_cpu_supports(feature)  // needs a literal
#endif

bool isa_supported(const char* name) {
  if (std::strcmp(name, "baseline") == 0) return true;
#if defined(PYRNN_HAVE_AVX2)
  if (std::strcmp(name, "avx2") == 0)
    return PYRNN_CPU_SUPPORTS("avx2") && PYRNN_CPU_SUPPORTS("fma");
#endif
#if defined(PYRNN_HAVE_AVX512)
  if (std::strcmp(name, "avx512") == 0)
    return PYRNN_CPU_SUPPORTS("avx512f") && PYRNN_CPU_SUPPORTS("avx512dq") &&
           PYRNN_CPU_SUPPORTS("avx512vl") && PYRNN_CPU_SUPPORTS("avx512bw") &&
           PYRNN_CPU_SUPPORTS("avx2") && PYRNN_CPU_SUPPORTS("fma");
#endif
  return false;
}

const char* best_isa() {
  if (isa_supported("avx512")) return "avx512";
  if (isa_supported("avx2")) return "avx2";
  return "baseline";
}

static const KernelTable* table_for(const char* name) {
#if defined(PYRNN_HAVE_AVX512)
  if (std::strcmp(name, "avx512") == 0) return &avx512::table();
#endif
#if defined(PYRNN_HAVE_AVX2)
  if (std::strcmp(name, "avx2") == 0) return &avx2::table();
#endif
  return &baseline::table();
}

static const KernelTable* g_active = nullptr;

const char* select_isa(const char* name) {
  if (!isa_supported(name)) return nullptr;
  g_active = table_for(name);
  return g_active->isa;
}

const KernelTable& active_table() {
  if (!g_active) g_active = table_for(best_isa());
  return *g_active;
}

}  // namespace pyrnn
