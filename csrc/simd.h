// simd.h — vector types and vectorizable activations, compiled once per ISA level.
// Included only by kernels.cpp, inside namespace pyrnn::PYRNN_ISA (no shared inline code
// between ISA levels, so the linker can never mix an AVX-512 copy into the baseline path).
// Standard headers are included by kernels.cpp before the namespace opens.
#pragma once

#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#elif defined(__AVX2__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;  // SSE2 on x86-64, NEON on aarch64
#endif

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
static inline T min_(T a, T b) { return b < a ? b : a; }
template <typename T>
static inline T max_(T a, T b) { return a < b ? b : a; }

// ---- float32 activations --------------------------------------------------------------
// Branch-free so that `#pragma omp simd` loops vectorize them at every ISA level.
// exp_f32: Cody-Waite reduction + Cephes' degree-6 polynomial; max error 1 ulp over the
// whole range (tests/test_activations.py, against float64 numpy), exp(-inf) = 0,
// exp(+inf) = inf, NaN -> NaN.
// Results that are subnormal are produced by a two-step scale (gradual underflow).
__attribute__((always_inline)) static inline float exp_f32(float x) {
  float xc = x > 89.0f ? 89.0f : x;
  xc = xc < -104.0f ? -104.0f : xc;
  const float xk = xc == xc ? xc : 0.0f;
  const float magic = 12582912.0f;  // 1.5 * 2^23: round-to-nearest integer trick
  const float k = (xk * 1.44269504088896341f + magic) - magic;
  const float r = (xk - k * 0.693359375f) - k * -2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  const int32_t ki = int32_t(k);
  const int32_t k1 = ki >> 1, k2 = ki - k1;
  const float s1 = __builtin_bit_cast(float, int32_t((k1 + 127) << 23));
  const float s2 = __builtin_bit_cast(float, int32_t((k2 + 127) << 23));
  const float res = p * s1 * s2;
  return x == x ? res : x;
}

// sigmoid_f32 = 1 / (1 + exp(-x)); max error 3 ulp where the result is a normal number;
// sigmoid(-inf) = 0, sigmoid(+inf) = 1.
__attribute__((always_inline)) static inline float sigmoid_f32(float x) { return 1.0f / (1.0f + exp_f32(-x)); }

// tanh_f32: Cephes' odd polynomial for |x| < 0.625, 1 - 2/(exp(2|x|)+1) beyond; max error
// 2 ulp; tanh(+-inf) = +-1, tanh(-0) = -0.
__attribute__((always_inline)) static inline float tanh_f32(float x) {
  const float ax = std::fabs(x);
  const float z = x * x;
  float ps = -5.70498872745e-3f;
  ps = ps * z + 2.06390887954e-2f;
  ps = ps * z - 5.37397155531e-2f;
  ps = ps * z + 1.33314422036e-1f;
  ps = ps * z - 3.33332819422e-1f;
  const float small = std::copysign(x + x * (z * ps), x);  // tanh(-0) = -0
  const float large = std::copysign(1.0f - 2.0f / (exp_f32(2.0f * ax) + 1.0f), x);
  return ax < 0.625f ? small : large;
}

// Activations per element type: float32 uses the vectorized forms above, float64 (the
// precision path: gradient checks, users who need it) uses the C library.
template <typename T>
struct Act;
template <>
struct Act<float> {
  __attribute__((always_inline)) static inline float sigmoid(float x) { return sigmoid_f32(x); }
  __attribute__((always_inline)) static inline float tanh(float x) { return tanh_f32(x); }
};
template <>
struct Act<double> {
  static inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
  static inline double tanh(double x) { return std::tanh(x); }
};
