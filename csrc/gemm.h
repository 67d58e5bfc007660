// gemm.h — the one file that tiles. Register-blocked micro-kernel over packed B panels.
//
// C (M, N) (+)= A (M, K) * B (K, N). A is read in place through strides (a_rs, a_cs), so a
// transposed A costs nothing; B is packed into panels of NR columns: panel p holds
// B[k, p*NR + n] at Bp[p*Kp*NR + k*NR + n] (Kp = the K extent of the packed buffer).
// Every element of C is one fixed-order sum over k (k-blocks of KC in order, FMA per k), so
// results do not depend on how tiles are shared among threads: bitwise-identical output for
// any thread count. Threads split M and N, never K.
#pragma once

// Micro-tile MR x (NV vectors). Overridable (-DPYRNN_GEMM_MR=...) for tuning experiments.
#if defined(__AVX512F__)
#define PYRNN_GEMM_MR_DEFAULT 6  // 6 x 4 zmm: 24 accumulators of 32 registers
#define PYRNN_GEMM_NV_DEFAULT 4
#elif defined(__aarch64__)
#define PYRNN_GEMM_MR_DEFAULT 8  // 8 x 2 q-registers: 16 accumulators of 32
#define PYRNN_GEMM_NV_DEFAULT 2
#else
#define PYRNN_GEMM_MR_DEFAULT 6  // 6 x 2 ymm/xmm: 12 accumulators of 16 registers
#define PYRNN_GEMM_NV_DEFAULT 2
#endif
#ifndef PYRNN_GEMM_NV
#define PYRNN_GEMM_NV PYRNN_GEMM_NV_DEFAULT
#endif
#ifndef PYRNN_GEMM_MR
#define PYRNN_GEMM_MR PYRNN_GEMM_MR_DEFAULT
#endif
#ifndef PYRNN_GEMM_NCP
#define PYRNN_GEMM_NCP 4
#endif

template <typename T>
struct GemmCfg {
  static constexpr int VL = Vec<T>::width;
  static constexpr int NV = PYRNN_GEMM_NV;         // vectors per micro-tile row
  static constexpr int NR = NV * VL;               // micro-tile columns
  static constexpr int MR = PYRNN_GEMM_MR;         // micro-tile rows
  static constexpr int64_t NCP = PYRNN_GEMM_NCP;   // panels per tile
};

// The big GEMMs' blocking, from the caches (Tuning::gemm_kc_bytes, gemm_mc_bytes): kc, the
// k-block (64..512), and mc, the rows of A per tile (a multiple of MR, 4 MR..192). Neither
// changes a result: each element of C is the same FMA sequence over k whatever the blocks.
struct GemmBlocks {
  int64_t kc, mc;
};
template <typename T>
static inline GemmBlocks gemm_blocks(const Tuning& tn) {
  constexpr int64_t NR = GemmCfg<T>::NR, MR = GemmCfg<T>::MR, sz = int64_t(sizeof(T));
  const int64_t kc = min_<int64_t>(512, max_<int64_t>(64, tn.gemm_kc_bytes / (NR * sz)));
  const int64_t mc = min_<int64_t>(192, max_<int64_t>(4 * MR, tn.gemm_mc_bytes / (kc * sz)));
  return {kc, mc / MR * MR};
}

// k-block of the recurrent step's GEMM: a slice of a W_hh panel (Tuning::step_slice_bytes,
// from the L2 size) that every row tile of the step reuses from cache.
template <typename T>
static inline int64_t step_slice(const Tuning& tn) {
  const int64_t k = tn.step_slice_bytes / (GemmCfg<T>::NR * int64_t(sizeof(T)));
  return k < 8 ? 8 : k;
}

template <typename T>
static inline int64_t num_panels(int64_t N) {
  return (N + GemmCfg<T>::NR - 1) / GemmCfg<T>::NR;
}

// C[0:M, 0:ncols] (+)= A[0:M, 0:kc] * Bp[0:kc, 0:NR]. `init` selects the start value of the
// accumulators: 0 = zero, 1 = C itself, 2 = `bias` broadcast down the rows. FULL: ncols == NR,
// so C is loaded and stored directly (the partial-width path goes through a small buffer,
// and sharing one body made the compiler spill every accumulator to the stack on the way out).
// Never inlined: inlined into the time loops, GCC 12 ran out of registers around it (the medium
// LSTM forward went 75 -> 118 ms when the step code grew).
template <typename T, int M, bool FULL>
__attribute__((noinline)) static void micro_kernel(int64_t kc, const T* A, int64_t a_rs,
                                                   int64_t a_cs, const T* Bp, T* C, int64_t ldc,
                                                   int ncols, int init, const T* bias) {
  using V = vec_t<T>;
  constexpr int VL = GemmCfg<T>::VL, NV = GemmCfg<T>::NV, NR = GemmCfg<T>::NR;
  V c[M][NV];
  if (init == 0) {
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[i][v] = V{};
  } else if (FULL) {
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const T* src = init == 1 ? C + i * ldc : bias;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[i][v] = loadu(src + v * VL);
    }
  } else {
    T tmp[NR];
    for (int i = 0; i < M; ++i) {
      const T* src = init == 1 ? C + i * ldc : bias;
      for (int n = 0; n < NR; ++n) tmp[n] = n < ncols ? src[n] : T(0);
      for (int v = 0; v < NV; ++v) c[i][v] = loadu(tmp + v * VL);
    }
  }
  for (int64_t k = 0; k < kc; ++k) {
    V b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = loadu(Bp + k * NR + v * VL);
    const T* a = A + k * a_cs;
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const T ai = a[i * a_rs];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[i][v] += ai * b[v];
    }
  }
  if (FULL) {
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) storeu(C + i * ldc + v * VL, c[i][v]);
  } else {
    T tmp[NR];
    for (int i = 0; i < M; ++i) {
      for (int v = 0; v < NV; ++v) storeu(tmp + v * VL, c[i][v]);
      for (int n = 0; n < ncols; ++n) C[i * ldc + n] = tmp[n];
    }
  }
}

// One micro-tile of r <= MR rows, r known only at run time.
template <typename T>
static inline void micro_rows(int64_t r, int64_t kc, const T* A, int64_t a_rs, int64_t a_cs,
                              const T* Bp, T* C, int64_t ldc, int ncols, int init, const T* bias) {
  constexpr int MR = GemmCfg<T>::MR;
  static_assert(MR <= 14, "micro-tiles are instantiated up to 14 rows");
#define PYRNN_MICRO(R)                                                                             \
  case R:                                                                                          \
    if (ncols == GemmCfg<T>::NR)                                                                   \
      micro_kernel<T, (R <= MR ? R : 1), true>(kc, A, a_rs, a_cs, Bp, C, ldc, ncols, init, bias);  \
    else                                                                                           \
      micro_kernel<T, (R <= MR ? R : 1), false>(kc, A, a_rs, a_cs, Bp, C, ldc, ncols, init, bias); \
    break;
  // clang-format off
  switch (r) {
    PYRNN_MICRO(1) PYRNN_MICRO(2) PYRNN_MICRO(3) PYRNN_MICRO(4) PYRNN_MICRO(5)
    PYRNN_MICRO(6) PYRNN_MICRO(7) PYRNN_MICRO(8) PYRNN_MICRO(9) PYRNN_MICRO(10)
    PYRNN_MICRO(11) PYRNN_MICRO(12) PYRNN_MICRO(13) PYRNN_MICRO(14)
    default: break;
  }
  // clang-format on
#undef PYRNN_MICRO
}

// Rows [i, i + r) of the next micro-tile out of m: MR rows, except that a tail of 1 or 2 rows
// (half or a third of the accumulators busy) is shared with the tile before it (32 rows: 6, 6,
// 6, 6, 4, 4 rather than 6, 6, 6, 6, 6, 2). Each element's FMA sequence does not depend on the
// tiling, so neither does the result.
template <typename T>
static inline int64_t tile_rows(int64_t i, int64_t m) {
  constexpr int MR = GemmCfg<T>::MR;
  const int64_t left = m - i;
  if (left > MR && left < MR + MR / 2) return left / 2;
  return min_<int64_t>(MR, left);
}

// Rows [0, m) of one panel, A read in place: the recurrent step's GEMM, whose A (B rows of
// h or dG) is small and hot in cache.
template <typename T>
static inline void panel_rows(int64_t m, int64_t kc, const T* A, int64_t a_rs, int64_t a_cs,
                              const T* Bp, T* C, int64_t ldc, int ncols, int init, const T* bias) {
  for (int64_t i = 0, r; i < m; i += r) {
    r = tile_rows<T>(i, m);
    micro_rows<T>(r, kc, A + i * a_rs, a_rs, a_cs, Bp, C + i * ldc, ldc, ncols, init, bias);
  }
}

// M (1 or 2) rows against P full-width panels at once. One row times one panel has only NV
// independent FMA chains (2 at AVX2), so the FMA latency (4 cycles), not the loads, bounds
// it: a B = 1 step ran at a quarter of the FMA rate. P panels give M * P * NV chains. Every
// element of C still sees the same FMA sequence (k in order from the same start value: 0 or
// C itself), so the result is bitwise that of micro_rows, row by row and panel by panel.
template <typename T, int M, int P>
__attribute__((noinline)) static void micro_panels(int64_t kc, const T* A, int64_t a_rs,
                                                   const T* const* Bp, T* const* C, int64_t ldc,
                                                   int init) {
  using V = vec_t<T>;
  constexpr int VL = GemmCfg<T>::VL, NV = GemmCfg<T>::NV, NR = GemmCfg<T>::NR;
  V c[M][P][NV];
  const T* b[P];
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p) b[p] = Bp[p];
#pragma GCC unroll 2
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) c[i][p][v] = init ? loadu(C[p] + i * ldc + v * VL) : V{};
  for (int64_t k = 0; k < kc; ++k) {
    T ai[M];
#pragma GCC unroll 2
    for (int i = 0; i < M; ++i) ai[i] = A[i * a_rs + k];
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const V bv = loadu(b[p] + k * NR + v * VL);
#pragma GCC unroll 2
        for (int i = 0; i < M; ++i) c[i][p][v] += ai[i] * bv;
      }
  }
#pragma GCC unroll 2
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) storeu(C[p] + i * ldc + v * VL, c[i][p][v]);
}

// C_p[0:m, 0:NR] (+)= A[0:m, 0:kc] * Bp_p for n full-width panels (init: 0 = C is zeroed
// first, 1 = accumulate onto C), m <= 2 rows of A (row stride a_rs, contiguous k): the step
// GEMM of a batch of one or two, where several panels share each A element. Bitwise the
// result of panel_rows on each panel.
template <typename T>
static inline void few_rows_panels(int64_t m, int64_t kc, const T* A, int64_t a_rs,
                                   const T* const* Bp, T* const* C, int64_t ldc, int n, int init) {
  int p = 0;
  if (m == 1) {
    for (; p + 4 <= n; p += 4) micro_panels<T, 1, 4>(kc, A, a_rs, Bp + p, C + p, ldc, init);
    for (; p + 2 <= n; p += 2) micro_panels<T, 1, 2>(kc, A, a_rs, Bp + p, C + p, ldc, init);
    for (; p < n; ++p) micro_panels<T, 1, 1>(kc, A, a_rs, Bp + p, C + p, ldc, init);
  } else {
    for (; p + 2 <= n; p += 2) micro_panels<T, 2, 2>(kc, A, a_rs, Bp + p, C + p, ldc, init);
    for (; p < n; ++p) micro_panels<T, 2, 1>(kc, A, a_rs, Bp + p, C + p, ldc, init);
  }
}

// C[0:M, 0:ncols] = A (M, K) * Bp + bias for one panel Bp packed over the full K (K x NR),
// A read in place (rows of lda). k-blocked by KC (gemm_blocks: a slice of the panel stays in
// L1 while every row of A passes over it), so each element of C sees the same FMA sequence as
// in gemm_par.
template <typename T>
static inline void panel_gemm(int64_t M, int64_t K, const T* A, int64_t lda, const T* Bp, T* C,
                              int64_t ldc, int ncols, const T* bias, int64_t KC) {
  constexpr int NR = GemmCfg<T>::NR;
  for (int64_t k0 = 0; k0 < K; k0 += KC)
    panel_rows<T>(M, min_(KC, K - k0), A + k0, lda, 1, Bp + k0 * NR, C, ldc, ncols,
                  k0 > 0 ? 1 : (bias ? 2 : 0), bias);
}

// B = [P | Q] or [P | Q | 1]: the rows of two row-major matrices side by side (P with np
// columns, Q with nq), and, with `one`, a last column of ones, as the weight gradient reads
// [X | H_prev] (the ones give the bias gradient, the column sums of dG, in the same product).
// Elementwise access, plus the row stride of a run of columns that lies within P or within Q
// (null when it straddles them or reaches the ones).
template <typename T>
struct RowsCat {
  const T* p;
  int64_t np;
  const T* q;
  int64_t nq;
  bool one = false;
  T operator()(int64_t k, int64_t n) const {
    return n < np ? p[k * np + n] : n < np + nq ? q[k * nq + n - np] : T(1);
  }
  const T* run(int64_t n, int64_t len, int64_t& ld) const {
    if (n + len <= np) {
      ld = np;
      return p + n;
    }
    if (n >= np && n + len <= np + nq) {
      ld = nq;
      return q + (n - np);
    }
    ld = 0;
    return nullptr;
  }
};
template <typename G>
struct IsRowsCat : std::false_type {};
template <typename T>
struct IsRowsCat<RowsCat<T>> : std::true_type {};

// Pack rows [k0, k0+kc) of B (given by get(k, n)) for panels [p0, p1) into dst, which holds
// panels of kc x NR (dst + p * kc * NR). Columns past N are zero. The full panels are filled
// row by row, so each row of B is read once, in order: panel by panel, every row read NR
// columns of a wide B (dG: 256 floats a row at H = 64), a new cache line at each k, and the
// slab's packing stalled on those reads (5% of a training step at T = 150, B = 32, H = 64).
template <typename T, typename GetB>
static void pack_panels(const GetB& get, int64_t N, int64_t k0, int64_t kc, int64_t p0, int64_t p1,
                        T* dst) {
  constexpr int NR = GemmCfg<T>::NR;
  const int64_t pf = min_(p1, max_(p0, N / NR));  // [p0, pf): full panels
  for (int64_t k = 0; k < kc && p0 < pf; ++k)
    for (int64_t p = p0; p < pf; ++p) {
      T* d = dst + p * kc * NR + k * NR;
      const int64_t c0 = p * NR;
      if constexpr (IsRowsCat<GetB>::value) {  // a panel within X or within H: copy a row run
        int64_t ld;  // (the select in get() keeps GCC from vectorizing)
        if (const T* src = get.run(c0, NR, ld)) {
          std::memcpy(d, src + (k0 + k) * ld, sizeof(T) * NR);
          continue;
        }
      }
#pragma omp simd
      for (int n = 0; n < NR; ++n) d[n] = get(k0 + k, c0 + n);
    }
  for (int64_t p = pf; p < p1; ++p) {  // the partial last panel
    T* d = dst + p * kc * NR;
    const int64_t c0 = p * NR;
    for (int64_t k = 0; k < kc; ++k)
      for (int n = 0; n < NR; ++n) d[k * NR + n] = c0 + n < N ? get(k0 + k, c0 + n) : T(0);
  }
}

// Square blocks of float32 transposed in registers: rows r[0..n) in, columns out (r[j][i] =
// old r[i][j]). The classic sequence of interleaves (unpcklps/unpckhps, shufps, and for 8 lanes
// vperm2f128; zip1/zip2 on NEON), written as __builtin_shufflevector so that each ISA level
// gets its own instructions and the block stays in registers.
typedef float f32x4 __attribute__((vector_size(16)));
typedef float f32x8 __attribute__((vector_size(32)));
static PYRNN_INLINE void transpose_block(f32x4 (&r)[4]) {
  const f32x4 t0 = __builtin_shufflevector(r[0], r[1], 0, 4, 1, 5);
  const f32x4 t1 = __builtin_shufflevector(r[0], r[1], 2, 6, 3, 7);
  const f32x4 t2 = __builtin_shufflevector(r[2], r[3], 0, 4, 1, 5);
  const f32x4 t3 = __builtin_shufflevector(r[2], r[3], 2, 6, 3, 7);
  r[0] = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
  r[1] = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
  r[2] = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
  r[3] = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
}
static PYRNN_INLINE void transpose_block(f32x8 (&r)[8]) {
  f32x8 t[8], u[8];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {  // pairs of rows interleaved within each 128-bit half
    t[2 * i] = __builtin_shufflevector(r[2 * i], r[2 * i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[2 * i + 1] = __builtin_shufflevector(r[2 * i], r[2 * i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {  // rows 4h..4h+3: 4 rows of each column, per half
    const f32x8 a = t[4 * h], b = t[4 * h + 1], c = t[4 * h + 2], d = t[4 * h + 3];
    u[4 * h] = __builtin_shufflevector(a, c, 0, 1, 8, 9, 4, 5, 12, 13);
    u[4 * h + 1] = __builtin_shufflevector(a, c, 2, 3, 10, 11, 6, 7, 14, 15);
    u[4 * h + 2] = __builtin_shufflevector(b, d, 0, 1, 8, 9, 4, 5, 12, 13);
    u[4 * h + 3] = __builtin_shufflevector(b, d, 2, 3, 10, 11, 6, 7, 14, 15);
  }
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {  // the two halves: columns j and j + 4
    r[j] = __builtin_shufflevector(u[j], u[j + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    r[j + 4] = __builtin_shufflevector(u[j], u[j + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

// Pack one panel of B = W^T from W's rows: dst[k * NR + n] = W[n, k] for n < rows (zero
// beyond). W is row-major with leading dimension ldw. float32 goes through square blocks
// transposed in registers (8 x 8 where vectors are 256 bits or wider, 4 x 4 below), stored a
// block row at a time. Training repacks the weights every call: with the block kept in
// registers (the three rounds of element-wise zips before went through the stack), packing an
// LSTM's weights at I = 64, H = 128 went from 32 to 15 us, and a B = 1, T = 50 LSTM training
// call x0.94 (Zen 3, AVX2, paired).
template <typename T>
static void pack_transposed_panel(const T* W, int64_t ldw, int64_t rows, int64_t K, T* dst) {
  constexpr int NR = GemmCfg<T>::NR;
  int64_t k0 = 0;
  if constexpr (sizeof(T) == 4) {  // float32 (the float64 path keeps the plain loop)
#if defined(__AVX2__) || defined(__AVX512F__)
    using VB = f32x8;
#else
    using VB = f32x4;
#endif
    constexpr int S = int(sizeof(VB) / sizeof(T));
    static_assert(NR % S == 0, "panels are whole blocks");
    for (; k0 + S <= K; k0 += S)
#pragma GCC unroll 1
      for (int64_t n0 = 0; n0 < NR; n0 += S) {
        VB r[S];
        if (n0 + S <= rows) {
#pragma GCC unroll 8
          for (int i = 0; i < S; ++i) std::memcpy(&r[i], W + (n0 + i) * ldw + k0, sizeof(VB));
        } else {  // the panel's last rows: zero past `rows`
#pragma GCC unroll 8
          for (int i = 0; i < S; ++i) {
            r[i] = VB{};
            if (n0 + i < rows) std::memcpy(&r[i], W + (n0 + i) * ldw + k0, sizeof(VB));
          }
        }
        transpose_block(r);
#pragma GCC unroll 8
        for (int j = 0; j < S; ++j) std::memcpy(dst + (k0 + j) * NR + n0, &r[j], sizeof(VB));
      }
  }
  for (int64_t n = 0; n < NR; ++n) {  // the remaining k (all of them for float64)
    const T* w = W + n * ldw;
    if (n < rows)
      for (int64_t k = k0; k < K; ++k) dst[k * NR + n] = w[k];
    else
      for (int64_t k = k0; k < K; ++k) dst[k * NR + n] = T(0);
  }
}

struct Range {
  int64_t begin, end;
};
// Contiguous share `tid` of n items over nt workers.
static inline Range split(int64_t n, int tid, int nt) {
  const int64_t q = n / nt, r = n % nt;
  const int64_t b = tid * q + (tid < r ? tid : r);
  return {b, b + q + (tid < r ? 1 : 0)};
}

// Pack A[0:m, 0:kc] (strides a_rs, a_cs) into micro-panels of MR rows: dst[(ip*kc + k)*MR + r].
// Rows past m are zero. Makes every A access of the micro-kernel sequential, whatever A's
// strides were (a transposed A would otherwise touch a new page at every k).
template <typename T>
static void pack_a(int64_t m, int64_t kc, const T* A, int64_t a_rs, int64_t a_cs, T* dst) {
  constexpr int MR = GemmCfg<T>::MR;
  const int64_t mp = (m + MR - 1) / MR * MR;
  if (a_rs == 1) {  // transposed A (columns contiguous): read each k-row once, in order
    constexpr int64_t kAhead = 8, kLine = 64 / int64_t(sizeof(T));
    for (int64_t k = 0; k < kc; ++k) {
      const T* a = A + k * a_cs;
      // Rows are a page or more apart, too far for the hardware prefetcher: ask for the
      // row kAhead ahead now, so the misses overlap instead of queueing one row at a time.
      if (k + kAhead < kc)
        for (int64_t e = 0; e < m; e += kLine) __builtin_prefetch(a + kAhead * a_cs + e, 0, 3);
      for (int64_t i0 = 0; i0 < mp; i0 += MR) {
        T* d = dst + i0 * kc + k * MR;
        if (i0 + MR <= m)
          for (int r = 0; r < MR; ++r) d[r] = a[i0 + r];
        else
          for (int r = 0; r < MR; ++r) d[r] = i0 + r < m ? a[i0 + r] : T(0);
      }
    }
    return;
  }
  for (int64_t i0 = 0; i0 < m; i0 += MR) {  // rows read in order (a_cs == 1 in practice)
    T* d = dst + i0 * kc;
    for (int64_t r = 0; r < MR; ++r) {
      const T* a = A + (i0 + r) * a_rs;
      if (i0 + r < m)
        for (int64_t k = 0; k < kc; ++k) d[k * MR + r] = a[k * a_cs];
      else
        for (int64_t k = 0; k < kc; ++k) d[k * MR + r] = T(0);
    }
  }
}

// Pack A = S^T, rows [m0, m0 + m) by k in [k0, k0 + kc), where S is read by rows (A[i, k] =
// S(k, i)): the transposed operand of a weight gradient, [X | H_prev]^T. S's rows are read
// in order (they lie one after another in memory), into pack_a's layout.
template <typename T>
static void pack_a_rows(const RowsCat<T>& S, int64_t m0, int64_t m, int64_t k0, int64_t kc,
                        T* dst) {
  constexpr int MR = GemmCfg<T>::MR;
  const int64_t mp = (m + MR - 1) / MR * MR;
  for (int64_t k = 0; k < kc; ++k) {
    const T* sp = S.p + (k0 + k) * S.np;
    const T* sq = S.q ? S.q + (k0 + k) * S.nq : nullptr;  // (Q may be absent: nq = 0)
    for (int64_t i0 = 0; i0 < mp; i0 += MR) {
      T* d = dst + i0 * kc + k * MR;
      const int64_t n0 = m0 + i0;
      if (i0 + MR <= m && (n0 + MR <= S.np || (n0 >= S.np && n0 + MR <= S.np + S.nq))) {
        std::memcpy(d, n0 < S.np ? sp + n0 : sq + (n0 - S.np), sizeof(T) * MR);  // in X or H
        continue;
      }
      for (int r = 0; r < MR; ++r)  // straddling X and H, reaching the ones, or past m
        d[r] = i0 + r >= m ? T(0) : S(k0 + k, n0 + r);
    }
  }
}

// A product with at most a quarter of a micro-tile's NR columns (dX of a layer with few input
// features: N <= 2, 4, 16 at 128-, 256-, 512-bit vectors) would waste most of each tile: 1/16
// of the FMA work useful at AVX2 for a univariate series, 8% of a whole training step
// (T = 150, B = 32, H = 64, I = 1). Such C is computed as dot
// products along K instead, each row's A read contiguously (a_cs == 1) against a contiguous
// copy of each B column (in this thread's `buf`, N * K elements): lane-strided partial sums
// and one fixed reduction, so each element's value depends on neither M nor the thread count.
template <typename T, typename GetB>
static void dot_rows(int64_t M, int64_t N, int64_t K, const T* A, int64_t a_rs, const GetB& get,
                     T* buf, T* C, int64_t ldc, bool accumulate, const T* bias, int tid, int nt) {
  using V = vec_t<T>;
  constexpr int VL = GemmCfg<T>::VL;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) buf[n * K + k] = get(k, n);
  const Range rows = split(M, tid, nt);
  for (int64_t m = rows.begin; m < rows.end; ++m) {
    const T* a = A + m * a_rs;
    for (int64_t n = 0; n < N; ++n) {
      const T* b = buf + n * K;
      V acc[2] = {V{}, V{}};  // two chains: the loads, not the FMA latency, bound the loop
      int64_t k = 0;
      for (; k + 2 * VL <= K; k += 2 * VL) {
        acc[0] += loadu(a + k) * loadu(b + k);
        acc[1] += loadu(a + k + VL) * loadu(b + k + VL);
      }
      acc[0] += acc[1];
      T s = accumulate ? C[m * ldc + n] : (bias ? bias[n] : T(0));
      T part = T(0);
      for (int i = 0; i < VL; ++i) part += acc[0][i];
      for (; k < K; ++k) part += a[k] * b[k];
      C[m * ldc + n] = s + part;
    }
  }
}

// C (M, N) (+)= A (M, K) * B (K, N), called by every thread of a parallel region (the
// function contains barriers: `bar`, shared by the region's threads). B comes either pre-packed
// over the full K (`packed`, panels of K x NR), or through get(k, n), packed one k-block at a time
// into `slab` (shared, num_panels(N) * KC * NR elements). A is read through strides (a_rs, a_cs)
// or, given `a_rows`, is a_rows^T (A[i, k] = (*a_rows)(k, i); A is then null); it is packed per
// tile into `apack`, this thread's buffer of MC * KC elements (KC, MC: gemm_blocks), unless its
// rows are contiguous. accumulate: C += A B; else C = A B (+ bias[n] if given).
template <typename T, typename GetB>
static void gemm_par(int64_t M, int64_t N, int64_t K, const T* A, int64_t a_rs, int64_t a_cs,
                     const T* packed, const GetB& get, T* slab, T* apack, T* C, int64_t ldc,
                     bool accumulate, const T* bias, int tid, int nt, Barrier& bar,
                     const RowsCat<T>* a_rows = nullptr) {
  constexpr int NR = GemmCfg<T>::NR, MR = GemmCfg<T>::MR;
  constexpr int64_t NCP = GemmCfg<T>::NCP;
  const Tuning tn = tuning(cache_info());
  const GemmBlocks gb = gemm_blocks<T>(tn);
  const int64_t KC = gb.kc, MC = gb.mc;
  if (4 * N <= NR && !a_rows && a_cs == 1 && N * K <= MC * KC) {
    dot_rows<T>(M, N, K, A, a_rs, get, apack, C, ldc, accumulate, bias, tid, nt);
    if (!packed) bar.wait();  // as the tiled path below: C complete when every thread returns
    return;
  }
  const int64_t np = num_panels<T>(N);
  const int64_t ntiles = (np + NCP - 1) / NCP;
  const int64_t ncp =
      (np + ntiles - 1) / ntiles;  // panels per column tile, balanced (6 = 3+3, not 4+2)
  // Row tiles of equal size (<= MC rows, a multiple of MR); when there are few tiles their
  // count is a multiple of the thread count, so that small GEMMs (the input projection of a
  // 128-row chunk, say) are shared evenly instead of one thread taking 96 rows and the other
  // 32. Arithmetic per element of C does not depend on the tiling.
  int64_t mtiles = (M + MC - 1) / MC;
  if (mtiles * ntiles < 8 * nt && (mtiles * ntiles) % nt != 0)
    mtiles = min_<int64_t>((mtiles + nt - 1) / nt * nt, (M + MR - 1) / MR);
  const int64_t mc = min_<int64_t>(MC, ((M + mtiles - 1) / mtiles + MR - 1) / MR * MR);
  mtiles = (M + mc - 1) / mc;
  // One tile over k-block [k0, k0 + kc); B panel p of that block starts at bp + p * bstride.
  // A with contiguous rows is read in place (packing it costs as much as it saves when N is a
  // couple of panels); a transposed A is packed, or every k would touch a new page.
  const bool pack = a_rows || a_cs != 1;
  int64_t packed_key = -1;  // (m-tile, k-block) whose A block sits in apack
  auto run_tile = [&](int64_t tile, int64_t k0, int64_t kc, const T* bp, int64_t bstride) {
    const int64_t mt = tile / ntiles, nt_ = tile % ntiles;
    const int64_t m0 = mt * mc, m = min_(mc, M - m0);
    const int init = (accumulate || k0 > 0) ? 1 : (bias ? 2 : 0);
    if (pack && mt * K + k0 != packed_key) {
      if (a_rows)
        pack_a_rows<T>(*a_rows, m0, m, k0, kc, apack);
      else
        pack_a<T>(m, kc, A + m0 * a_rs + k0 * a_cs, a_rs, a_cs, apack);
      packed_key = mt * K + k0;
    }
    // (A is null when given as a_rows: no arithmetic on it unless it is read in place)
    const T* a0 = pack ? apack : A + m0 * a_rs + k0 * a_cs;
    for (int64_t p = nt_ * ncp; p < min_(np, (nt_ + 1) * ncp); ++p) {
      const int ncols = int(min_<int64_t>(NR, N - p * NR));
      for (int64_t i0 = 0; i0 < m; i0 += MR)
        micro_rows<T>(min_<int64_t>(MR, m - i0), kc, pack ? a0 + i0 * kc : a0 + i0 * a_rs,
                      pack ? 1 : a_rs, pack ? MR : 1, bp + p * bstride,
                      C + (m0 + i0) * ldc + p * NR, ldc, ncols, init,
                      bias ? bias + p * NR : nullptr);
    }
  };
  if (packed) {
    // B packed over the full K, and a tile always belongs to the same thread: no barrier.
    // Each tile runs all its k-blocks at once, so its block of C stays in cache between them
    // instead of making K / KC passes over all of C (dX of the medium LSTM: 30.4 -> 24.8 ms,
    // B in L2). Where B does not fit in L2, that re-reads B from L3 once per row tile, and
    // k-blocks outermost (each k-slice of B shared by all row tiles) re-read and re-write C
    // once per extra k-block instead: the order moving fewer bytes is taken, a C element
    // counted 4 times (a read and a write, and its reload stalls a micro-tile's start where B
    // streams through the prefetchers). That is KC > 4 MC, give or take the tiles' rounding:
    // k-blocks outermost on the Zen 3 at AVX2 (KC 512, MC 96: 6% faster on the large
    // configuration's dX), each tile whole on the Zen 4 at AVX-512 and AVX2 (KC 256 / 512,
    // MC 192: 2 threads x0.86 on 6400 x 2048 x 256, x0.92 on 6400 x 768 x 512, 1 thread
    // x0.88 and x0.93; no shape slower).
    const int64_t nkb = (K + KC - 1) / KC;
    const bool b_in_l2 = K * np * NR * int64_t(sizeof(T)) <= tn.l2_fit_bytes;
    if (b_in_l2 || (mtiles - 1) * K * np * NR <= 4 * (nkb - 1) * M * N) {
      for (int64_t tile = tid; tile < mtiles * ntiles; tile += nt)
        for (int64_t k0 = 0; k0 < K; k0 += KC)
          run_tile(tile, k0, min_(KC, K - k0), packed + k0 * NR, K * NR);
    } else {
      for (int64_t k0 = 0; k0 < K; k0 += KC)
        for (int64_t tile = tid; tile < mtiles * ntiles; tile += nt)
          run_tile(tile, k0, min_(KC, K - k0), packed + k0 * NR, K * NR);
    }
    return;
  }
  // Tiles are numbered row-tile major, and each thread takes a contiguous range of them: a
  // row tile's column tiles then share one packing of its A block (dealt round-robin, every
  // thread packed nearly every A block: the weight gradient's dG^T was packed twice over).
  const Range mine = split(mtiles * ntiles, tid, nt);
  for (int64_t k0 = 0; k0 < K; k0 += KC) {  // K >= 1
    // B packed one k-block at a time into the shared slab (every tile reads every panel).
    const int64_t kc = min_(KC, K - k0);
    const Range pr = split(np, tid, nt);
    pack_panels<T>(get, N, k0, kc, pr.begin, pr.end, slab);
    bar.wait();
    for (int64_t tile = mine.begin; tile < mine.end; ++tile) run_tile(tile, k0, kc, slab, kc * NR);
    bar.wait();
  }
}
