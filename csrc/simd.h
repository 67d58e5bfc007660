// simd.h — vector types and vectorized activations, compiled once per ISA level.
// Included only by kernels.cpp, inside namespace pyrnn::PYRNN_ISA (no shared inline code
// between ISA levels, so the linker can never mix an AVX-512 copy into the baseline path).
// Standard headers are included by kernels.cpp before the namespace opens.
//
// The activations are written on explicit vector types (GCC/Clang vector extensions), with
// selects as bit operations on comparison masks: vectorized by construction at every level.
// (Scalar code with ternaries relies on the compiler to if-convert it, which GCC does only
// where masked operations exist, AVX-512: at AVX2, SSE2 and NEON such loops stayed scalar,
// 8-12 ns per element.)
#pragma once

#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#elif defined(__AVX2__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;  // SSE2 on x86-64, NEON on aarch64
#endif

#define PYRNN_INLINE __attribute__((always_inline)) inline
#define PYRNN_INLINE_LAMBDA __attribute__((always_inline))  // after a lambda's parameter list

// GCC/Clang vector extensions: one source for every width.
template <typename T>
struct Vec {
  typedef T type __attribute__((vector_size(kVecBytes)));
  static constexpr int width = kVecBytes / int(sizeof(T));
};
template <typename T>
using vec_t = typename Vec<T>::type;

template <typename T>
static inline vec_t<T> loadu(const T* p) {
  vec_t<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
static inline void storeu(T* p, vec_t<T> v) {
  std::memcpy(p, &v, sizeof v);
}

template <typename T>
static inline T min_(T a, T b) {
  return b < a ? b : a;
}
template <typename T>
static inline T max_(T a, T b) {
  return a < b ? b : a;
}

// ---- float32 vectors ----------------------------------------------------------------------
using vf = vec_t<float>;
using vi = vec_t<int32_t>;  // also the type of a float comparison's mask (all ones / zeros)
constexpr int kLanesF = Vec<float>::width;

static PYRNN_INLINE vf splat(float x) {
  return vf{} + x;
}
static PYRNN_INLINE vi as_int(vf x) {
  return __builtin_bit_cast(vi, x);
}
static PYRNN_INLINE vf as_float(vi x) {
  return __builtin_bit_cast(vf, x);
}
// m ? a : b per lane, m a comparison mask: the vector conditional (GCC >= 4.8 and Clang in
// C++), one blend instruction where the ISA has one (AVX, SSE4.1, NEON's bsl) instead of three
// bit operations.
static PYRNN_INLINE vf select(vi m, vf a, vf b) {
  return m ? a : b;
}
// Lane-wise min / max in the form every ISA has as one instruction (minps: a < b ? a : b, so a
// NaN in a gives b).
static PYRNN_INLINE vf vmin(vf a, vf b) {
  return a < b ? a : b;
}
static PYRNN_INLINE vf vmax(vf a, vf b) {
  return a > b ? a : b;
}
static PYRNN_INLINE double select(bool m, double a, double b) {
  return m ? a : b;
}
// a * b + c rounded once wherever the ISA has FMA, at any optimisation level (GCC contracts
// a * b + c into an FMA only from -O2 on, and tanh's error bound needs the single rounding).
static PYRNN_INLINE vf vfma(vf a, vf b, vf c) {
#if defined(__AVX512F__)
  return __builtin_bit_cast(
      vf, _mm512_fmadd_ps(__builtin_bit_cast(__m512, a), __builtin_bit_cast(__m512, b),
                          __builtin_bit_cast(__m512, c)));
#elif defined(__FMA__)
  return __builtin_bit_cast(
      vf, _mm256_fmadd_ps(__builtin_bit_cast(__m256, a), __builtin_bit_cast(__m256, b),
                          __builtin_bit_cast(__m256, c)));
#elif defined(__aarch64__)
  return __builtin_bit_cast(
      vf, vfmaq_f32(__builtin_bit_cast(float32x4_t, c), __builtin_bit_cast(float32x4_t, a),
                    __builtin_bit_cast(float32x4_t, b)));
#else
  return a * b + c;
#endif
}
static PYRNN_INLINE vf vabs(vf x) {
  return as_float(as_int(x) & 0x7fffffff);
}
static PYRNN_INLINE vf with_sign_of(vf mag, vf s) {  // |mag| with the sign bit of s
  return as_float((as_int(mag) & 0x7fffffff) | (as_int(s) & int32_t(0x80000000u)));
}

// ---- float32 activations (error bounds tested in tests/test_activations.py, against float64
// numpy over every exponent and a dense grid, at every ISA level) ------------------------------
// The activations' constants as whole vectors in memory, read through a pointer the compiler
// cannot see through (the empty asm), so that each use is a load folded into its instruction.
// As literals, GCC 12 hoisted their broadcasts to the head of every loop around an epilogue and
// spilled them there: the row loop of a step's epilogue re-ran ~20 broadcasts and stack stores
// per batch row (16 units, 2 vectors at AVX2). Paired on the Zen 3 (AVX2), same bits: medium
// inference RNN x0.84, GRU x0.92, LSTM x0.93; T = 150, B = 32, H = 64 LSTM inference x0.87,
// training x0.85; B = 1 LSTM inference x0.96. A float table (not vectors made by splat), so
// nothing runs at load time: the library's AVX-512 code must not run on a CPU without it.
#define PYRNN_R16(c) c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c
// clang-format off
enum ActC { kMagic, kLog2e, kLn2Hi, kLn2Lo, kE0, kE1, kE2, kE3, kE4, kE5, kOne, kTwo, kSigLo,
            kSigHi, kT40, kT0625, kC0, kC1, kC2, kC3, kC4, kTm40, kTm2, kActN };
alignas(64) static const float kActTable[kActN][16] = {
    {PYRNN_R16(12582912.0f)}, {PYRNN_R16(1.44269504088896341f)}, {PYRNN_R16(0.693359375f)},
    {PYRNN_R16(-2.12194440e-4f)}, {PYRNN_R16(1.9875691500e-4f)}, {PYRNN_R16(1.3981999507e-3f)},
    {PYRNN_R16(8.3334519073e-3f)}, {PYRNN_R16(4.1665795894e-2f)}, {PYRNN_R16(1.6666665459e-1f)},
    {PYRNN_R16(5.0000001201e-1f)}, {PYRNN_R16(1.0f)}, {PYRNN_R16(2.0f)}, {PYRNN_R16(-87.0f)},
    {PYRNN_R16(89.0f)}, {PYRNN_R16(40.0f)}, {PYRNN_R16(0.625f)},
    {PYRNN_R16(-5.70498872745e-3f)}, {PYRNN_R16(2.06390887954e-2f)},
    {PYRNN_R16(-5.37397155531e-2f)}, {PYRNN_R16(1.33314422036e-1f)},
    {PYRNN_R16(-3.33332819422e-1f)}, {PYRNN_R16(-40.0f)}, {PYRNN_R16(-2.0f)}};
// clang-format on
#undef PYRNN_R16
struct ActK {
  const float (*t)[16];
  PYRNN_INLINE vf operator[](int i) const {
    vf v;
    std::memcpy(&v, t[i], sizeof v);
    return v;
  }
};
static PYRNN_INLINE ActK actk() {
  const float (*p)[16] = kActTable;
#if defined(__x86_64__) || defined(_M_X64)
  __asm__("" : "+r"(p));
#endif  // (aarch64, 32 vector registers: the table folds back into literals; not measured)
  return {p};
}
// expm1_poly: exp(x) = (1 + m) * 2^k, k = round(x / ln 2) (returned as an integral float in
// kf), by Cody-Waite reduction and Cephes' degree-6 polynomial; returns m = expm1(r),
// r = x - k ln 2 in [-ln 2 / 2, ln 2 / 2] (m = r + r^2 P(r): no cancellation near 0). x must
// be clamped to [-104, 89] by the caller.
static PYRNN_INLINE vf expm1_poly(vf x, vf& kf) {
  const ActK K = actk();
  kf = vfma(x, K[kLog2e], K[kMagic]) - K[kMagic];
  const vf r = vfma(-kf, K[kLn2Lo], vfma(-kf, K[kLn2Hi], x));
  const vf r2 = r * r;
  vf p = K[kE0];
  p = vfma(p, r, K[kE1]);
  p = vfma(p, r, K[kE2]);
  p = vfma(p, r, K[kE3]);
  p = vfma(p, r, K[kE4]);
  p = vfma(p, r, K[kE5]);
  return vfma(p, r2, r);
}
// exp_poly: the p = 1 + m of exp(x) = p * 2^k (same bits as the polynomial plus one).
static PYRNN_INLINE vf exp_poly(vf x, vf& kf) {
  return expm1_poly(x, kf) + actk()[kOne];
}

// 2^k and p * 2^k for an integral k (as a float) with 2^k a normal float: at AVX-512 one
// vscalefps each, elsewhere the exponent field built by a conversion, an add and a shift.
// The same bits wherever the result is a normal float (the product is exact, or rounded once
// into the subnormals by vexp either way); k = 128 gives p * 2^128, inf only for p >= 1, so a
// sigmoid below 2^-126 (x < -88.38) may now be that subnormal rather than 0.
static PYRNN_INLINE vf pow2i(vf kf) {
#if defined(__AVX512F__)
  return __builtin_bit_cast(vf, _mm512_scalef_ps(__builtin_bit_cast(__m512, actk()[kOne]),
                                                 __builtin_bit_cast(__m512, kf)));
#else
  return as_float((__builtin_convertvector(kf, vi) + 127) << 23);
#endif
}
static PYRNN_INLINE vf scale2(vf p, vf kf) {
#if defined(__AVX512F__)
  return __builtin_bit_cast(
      vf, _mm512_scalef_ps(__builtin_bit_cast(__m512, p), __builtin_bit_cast(__m512, kf)));
#else
  return p * pow2i(kf);
#endif
}

// vexp: max error 1 ulp over the whole range, exp(-inf) = 0, exp(+inf) = inf, NaN -> NaN.
// Results that are subnormal are rounded once (gradual underflow): by vscalefps at AVX-512,
// elsewhere by a two-step scale (2^k itself is not a normal float there).
static PYRNN_INLINE vf vexp(vf x) {
  // clamped to [-104, 89]; a NaN lane is computed on 89 (vmin's rule) and restored below
  vf kf;
  const vf p = exp_poly(vmax(vmin(x, splat(89.0f)), splat(-104.0f)), kf);
#if defined(__AVX512F__)
  const vf res = scale2(p, kf);  // (vscalefps rounds once into the subnormals too)
#else
  const vi k = __builtin_convertvector(kf, vi);
  const vi k1 = k >> 1, k2 = k - k1;
  const vf res = p * as_float((k1 + 127) << 23) * as_float((k2 + 127) << 23);
#endif
  return select(x == x, res, x);
}

// exp inside sigmoid and tanh, which need neither its subnormal results nor its NaN select:
// x in [-87, 89] (or NaN, which the polynomial carries through), so 2^k is one float, and
// k = 128 (x > 88.38) gives inf where sigmoid's result is subnormal anyway (below 2^-126) and
// tanh's is 1. Where the result is normal it has vexp's bits: scaling by 2^k1 * 2^k2 or by
// 2^k is exact. Dropping the two-step scale and the select took the LSTM epilogue alone from
// 6.3 to 4.8 ns per unit, the B = 32, H = 64 LSTM inference forward x0.86 (Zen 3, AVX2).
static PYRNN_INLINE vf vexp_gate(vf x) {
  vf kf;
  const vf p = exp_poly(x, kf);
  return scale2(p, kf);
}

// vsigmoid = 1 / (1 + exp(-x)); max error 3 ulp where the result is a normal number;
// sigmoid(-inf) = 0, sigmoid(+inf) = 1, NaN -> NaN. The clamp has the constant first:
// vmin(c, NaN) and vmax(c, NaN) give the NaN.
static PYRNN_INLINE vf vsigmoid(vf x) {
  const ActK K = actk();
  return K[kOne] / (K[kOne] + vexp_gate(vmax(K[kSigLo], vmin(K[kSigHi], -x))));
}

// vtanh: tanh|x| = (1 - E) / (1 + E), E = exp(-2|x|) = 2^k (1 + m) (expm1_poly), with sign of x.
// Numerator (1 - 2^k) - 2^k m and denominator (1 + 2^k) + 2^k m are one FMA each (1 -+ 2^k
// exact for every k that matters): m carries E's small part, so there is no cancellation
// near 0 and no separate polynomial for small |x|. 2|x| is clamped to 40, where tanh is 1.
// Max error 1.91 ulp (every float32 from 2^-126 to 12 checked against double tanh, AVX2),
// tanh(+-inf) = +-1, tanh(-0) = -0, NaN -> NaN (the clamp has the constant first); it takes
// x0.72 the time of the form below (0.52 against 0.72 ns per element in L1 at AVX2, Zen 4).
// Without FMA the two sides round twice and the error reaches 2.03 ulp (at 0.125), so the
// x86-64 baseline keeps Cephes' odd polynomial for |x| < 0.625 and 1 - 2/(exp(2|x|)+1)
// beyond (max error 1.33 ulp).
static PYRNN_INLINE vf vtanh(vf x) {
  const ActK K = actk();
  const vf ax = vabs(x);
#if defined(__FMA__) || defined(__aarch64__)
  vf kf;
  const vf m = expm1_poly(vmax(K[kTm40], ax * K[kTm2]), kf);
  const vf s = pow2i(kf);
  return with_sign_of(vfma(-s, m, K[kOne] - s) / vfma(s, m, K[kOne] + s), x);
#else
  const vf z = x * x;
  vf ps = K[kC0];
  ps = ps * z + K[kC1];
  ps = ps * z + K[kC2];
  ps = ps * z + K[kC3];
  ps = ps * z + K[kC4];
  const vf small = x + x * (z * ps);
  const vf large = K[kOne] - K[kTwo] / (vexp_gate(vmin(K[kT40], ax + ax)) + K[kOne]);
  return with_sign_of(select(ax < K[kT0625], small, large), x);
#endif
}

// ---- Lanes<T>: how the cell epilogues (cells.h) see an element type ------------------------
// float32 runs on vectors with the activations above; float64 (the precision path: gradient
// checks, users who need it) runs one element at a time with the C library's exp and tanh.
// Squared norms are summed in float64 either way (a float32 sum overflows above ~1.8e19).
template <typename T>
struct Lanes;
// float64 lanes for the float32 squared norms: the two halves of a float vector, each widened
// to a vector of doubles of the ISA's own width. (One vector of doubles twice that width, what
// a plain __builtin_convertvector gives, is passed through the stack by GCC 12 on every add,
// movq/vpinsrq and store-forwarding stalls. In registers, the backward at T = 150, B = 32,
// I = 1, H = 64 took x0.93 (LSTM), x0.75 (GRU), x0.78 (RNN) the time, Zen 3, AVX2.) Lane i
// of the float vector is lane i of lo, then of hi: the same sums in the same order, same bits.
typedef double vd __attribute__((vector_size(kVecBytes)));
typedef float vf_half __attribute__((vector_size(kVecBytes / 2)));
struct AccF {
  vd lo, hi;
  PYRNN_INLINE AccF& operator+=(AccF b) {
    lo += b.lo;
    hi += b.hi;
    return *this;
  }
};
template <>
struct Lanes<float> {
  using V = vf;
  static constexpr int W = kLanesF;
  using Acc = AccF;
  static PYRNN_INLINE V sigmoid(V x) { return vsigmoid(x); }
  static PYRNN_INLINE V tanh(V x) { return vtanh(x); }
  static PYRNN_INLINE V relu(V x) { return select(x < V{}, V{}, x); }
  static PYRNN_INLINE V relu_grad(V h, V d) { return select(h > V{}, d, V{}); }
  static PYRNN_INLINE Acc square(V d) {
    vf_half l, h;
    std::memcpy(&l, &d, sizeof l);
    std::memcpy(&h, reinterpret_cast<const char*>(&d) + sizeof l, sizeof h);
    const vd wl = __builtin_convertvector(l, vd), wh = __builtin_convertvector(h, vd);
    return {wl * wl, wh * wh};
  }
  static PYRNN_INLINE double sum(Acc a) {
    double s = 0;
    for (int i = 0; i < W / 2; ++i) s += a.lo[i];
    for (int i = 0; i < W / 2; ++i) s += a.hi[i];
    return s;
  }
};
template <>
struct Lanes<double> {
  using V = double;
  static constexpr int W = 1;
  using Acc = double;
  static inline V sigmoid(V x) { return 1.0 / (1.0 + std::exp(-x)); }
  static inline V tanh(V x) { return std::tanh(x); }
  static inline V relu(V x) { return x < 0 ? 0.0 : x; }
  static inline V relu_grad(V h, V d) { return h > 0 ? d : 0.0; }
  static inline Acc square(V d) { return d * d; }
  static inline double sum(Acc a) { return a; }
};

// for_lanes(j0, j1, body): body(j, n) for j = j0, j0 + W, ... with n lanes (a Full or a Tail
// tag): whole vectors, then one partial vector read and written through ld/st with the tag.
struct Full {};
struct Tail {
  int n;
};
template <typename V, typename T>
static PYRNN_INLINE V ld(const T* p, Full) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename V, typename T>
static PYRNN_INLINE V ld(const T* p, Tail t) {
  V v{};  // unused lanes are zero (and their results discarded)
  std::memcpy(&v, p, sizeof(T) * size_t(t.n));
  return v;
}
template <typename V, typename T>
static PYRNN_INLINE void st(T* p, V v, Full) {
  std::memcpy(p, &v, sizeof v);
}
template <typename V, typename T>
static PYRNN_INLINE void st(T* p, V v, Tail t) {
  std::memcpy(p, &v, sizeof(T) * size_t(t.n));
}
template <typename T, typename F>
static PYRNN_INLINE void for_lanes(int64_t j0, int64_t j1, F&& body) {
  constexpr int W = Lanes<T>::W;
  int64_t j = j0;
  for (; j + W <= j1; j += W) body(j, Full{});
  if (j < j1) body(j, Tail{int(j1 - j)});
}
