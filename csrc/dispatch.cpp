// dispatch.cpp — picks the best kernel table the CPU supports, once, at import.
#include <cstdlib>
#include <cstring>

#include "engine.h"

namespace pyrnn {

bool isa_supported(const char* name) {
  if (std::strcmp(name, "baseline") == 0) return true;
#if defined(PYRNN_HAVE_AVX2)
  if (std::strcmp(name, "avx2") == 0)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
#if defined(PYRNN_HAVE_AVX512)
  if (std::strcmp(name, "avx512") == 0)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
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
