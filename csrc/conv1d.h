// conv1d.h — a 1-D convolution over time (+ ReLU, + max pooling), forward and backward.
// Included by kernels.cpp inside its ISA namespace (after gemm.h and Buffer): the same GEMM,
// vectors and threads as the recurrent kernels. Shapes: see Conv1dShape in engine.h.
//
// The convolution is a GEMM over im2col rows. Row m = t * B + b (time-major, like x) holds
// the receptive field of output step t of sequence b, column n = c * K + k holds
// x[t*stride - padding + k*dilation, b, c] (zero outside [0, lengths[b])): so the weight
// (C_out, C_in, K) is already the (C_out, C_in*K) matrix the GEMM needs, and its gradient
// comes out in PyTorch's layout with no reordering.
// Forward:  Z (M, C_out) = col (M, CK) W^T + bias, ReLU, zero rows past each sequence's
//           length; then max pooling. Each thread owns a contiguous range of rows and builds
//           their im2col one chunk at a time (no M x CK buffer).
// Backward: dZ from dy through the pooling's argmax (first maximum of each window, as
//           PyTorch) and the ReLU mask; [dW | db] = dZ^T [col | 1] (one GEMM, its B
//           generated on the fly); dcol = dZ W; dx gathered from dcol, each element of dx
//           summed by one thread in a fixed order (k ascending): no scatter, no atomics.
// Every output element is computed by one thread in an order that does not depend on the
// thread count (rows split for Z, dZ and dx; gemm_par splits M and N, never K): results
// are bitwise identical for any number of threads.

// im2col element (m, n): row m = t * B + b, column n = c * K + k.
template <typename T>
struct Im2col {
  const T* x;
  const int64_t* lengths;
  int64_t B, C_in, K, stride, dilation, padding, T_in;
  T operator()(int64_t m, int64_t n) const {
    const int64_t t = m / B, b = m % B, c = n / K, k = n % K;
    const int64_t pos = t * stride - padding + k * dilation;
    const int64_t len = lengths ? lengths[b] : T_in;
    return pos >= 0 && pos < len ? x[(pos * B + b) * C_in + c] : T(0);
  }
  // Rows [m0, m0 + m) into dst (m, C_in*K), row-major.
  void rows(int64_t m0, int64_t m, T* dst) const {
    const int64_t CK = C_in * K;
    for (int64_t i = 0; i < m; ++i) {
      const int64_t t = (m0 + i) / B, b = (m0 + i) % B;
      const int64_t len = lengths ? lengths[b] : T_in;
      T* d = dst + i * CK;
      for (int64_t k = 0; k < K; ++k) {
        const int64_t pos = t * stride - padding + k * dilation;
        if (pos >= 0 && pos < len) {
          const T* src = x + (pos * B + b) * C_in;
          for (int64_t c = 0; c < C_in; ++c) d[c * K + k] = src[c];
        } else {
          for (int64_t c = 0; c < C_in; ++c) d[c * K + k] = T(0);
        }
      }
    }
  }
};

// [col | 1]: the im2col with a column of ones appended, so that one GEMM gives dW and db.
template <typename T>
struct Im2colOnes {
  Im2col<T> col;
  int64_t CK;
  T operator()(int64_t m, int64_t n) const { return n < CK ? col(m, n) : T(1); }
};

static inline int64_t conv_seq_len(const Conv1dShape& s, const int64_t* lengths, int64_t b,
                                   bool pooled) {
  const int64_t L = lengths ? lengths[b] : s.T;
  return pooled ? s.out_len(L) : s.conv_len(L);
}

// Threads worth using: ~1 MFLOP each at least (the partition never changes the arithmetic).
static inline int conv_threads(int requested, int64_t flops) {
  int nt = requested < 1 ? 1 : requested;
  const int64_t useful = flops / 1000000 + 1;
  return useful < nt ? int(useful) : nt;
}

// Max pooling of Z (T_conv, B, N) into y (T_out, B, N): rows [r0, r1) of y.
template <typename T>
static void conv_pool_rows(const Conv1dShape& s, const int64_t* lengths, const T* Z, T* y,
                           int64_t r0, int64_t r1) {
  const int64_t B = s.B, N = s.C_out, P = s.pool;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t tp = r / B, b = r % B;
    T* dst = y + r * N;
    if (tp >= conv_seq_len(s, lengths, b, true)) {
      for (int64_t o = 0; o < N; ++o) dst[o] = T(0);
      continue;
    }
    const T* z0 = Z + (tp * P * B + b) * N;
    for (int64_t o = 0; o < N; ++o) dst[o] = z0[o];
    for (int64_t j = 1; j < P; ++j) {
      const T* z = z0 + j * B * N;
#pragma omp simd
      for (int64_t o = 0; o < N; ++o) dst[o] = z[o] > dst[o] ? z[o] : dst[o];
    }
  }
}

template <typename T>
static void conv1d_forward(const Conv1dForwardArgs<T>& a) {
  constexpr int NR = GemmCfg<T>::NR, MR = GemmCfg<T>::MR;
  const int64_t KC = gemm_blocks<T>(tuning(cache_info())).kc;
  const Conv1dShape& s = a.s;
  const int64_t B = s.B, N = s.C_out, CK = s.C_in * s.K, Tc = s.conv_len(s.T), M = Tc * B;
  const int64_t np = num_panels<T>(N);
  const Im2col<T> col{a.x, a.lengths, B, s.C_in, s.K, s.stride, s.dilation, s.padding, s.T};
  // Rows per im2col chunk: ~64 KiB of it, a whole number of micro-tiles.
  int64_t rc = (int64_t(65536) / int64_t(sizeof(T)) / CK) / MR * MR;
  rc = rc < MR ? MR : (rc > 1024 ? 1024 : rc);
  const int nthreads = conv_threads(a.nthreads, 2 * M * N * CK);
  Buffer<T> wp(np * CK * NR);  // B = W^T (CK, N) in panels over the full K = CK
  Buffer<T> colbuf(int64_t(nthreads) * rc * CK);
  Buffer<T> zbuf(!a.ws && s.pool > 1 ? M * N : 0);
  T* const Z = a.ws ? a.ws : (s.pool > 1 ? zbuf.get() : a.y);
  const T* w = a.weight;
  auto get_w = [w, CK](int64_t k, int64_t n) { return w[n * CK + k]; };
#pragma omp parallel num_threads(nthreads)
  {
    const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
    const Range pr = split(np, tid, nt);
    pack_panels<T>(get_w, N, 0, CK, pr.begin, pr.end, wp.get());
#pragma omp barrier
    T* const cb = colbuf.get() + int64_t(tid) * rc * CK;
    const Range rows = split(M, tid, nt);
    for (int64_t m0 = rows.begin; m0 < rows.end; m0 += rc) {
      const int64_t m = min_(rc, rows.end - m0);
      col.rows(m0, m, cb);
      for (int64_t p = 0; p < np; ++p)
        panel_gemm<T>(m, CK, cb, CK, wp.get() + p * CK * NR, Z + m0 * N + p * NR, N,
                      int(min_<int64_t>(NR, N - p * NR)), a.bias ? a.bias + p * NR : nullptr, KC);
      for (int64_t i = 0; i < m; ++i) {
        T* z = Z + (m0 + i) * N;
        const int64_t t = (m0 + i) / B, b = (m0 + i) % B;
        if (t >= conv_seq_len(s, a.lengths, b, false)) {
          for (int64_t o = 0; o < N; ++o) z[o] = T(0);
        } else if (s.relu) {
#pragma omp simd
          for (int64_t o = 0; o < N; ++o) z[o] = z[o] > T(0) ? z[o] : T(0);
        }
      }
    }
    if (s.pool > 1) {
#pragma omp barrier
      const Range pr2 = split(s.out_len(s.T) * B, tid, nt);
      conv_pool_rows<T>(s, a.lengths, Z, a.y, pr2.begin, pr2.end);
    } else if (Z != a.y) {
      std::memcpy(a.y + rows.begin * N, Z + rows.begin * N,
                  sizeof(T) * (rows.end - rows.begin) * N);
    }
  }
}

// dZ rows [r0, r1) (T_conv, B, N) from dy through the pooling and the ReLU.
template <typename T>
static void conv_dz_rows(const Conv1dShape& s, const int64_t* lengths, const T* Z, const T* dy,
                         T* dZ, int64_t r0, int64_t r1) {
  const int64_t B = s.B, N = s.C_out, P = s.pool;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t t = r / B, b = r % B, tp = t / P;
    T* d = dZ + r * N;
    const T* z = Z + r * N;
    if (t >= conv_seq_len(s, lengths, b, false) || tp >= conv_seq_len(s, lengths, b, true)) {
      for (int64_t o = 0; o < N; ++o) d[o] = T(0);
      continue;
    }
    const T* g = dy + (tp * B + b) * N;
    for (int64_t o = 0; o < N; ++o) {
      bool mine = true;  // this step is its window's first maximum
      for (int64_t j = tp * P; j < tp * P + P && mine; ++j) {
        const T v = Z[(j * B + b) * N + o];
        mine = j < t ? !(v >= z[o]) : (j == t || !(v > z[o]));
      }
      d[o] = mine && (!s.relu || z[o] > T(0)) ? g[o] : T(0);
    }
  }
}

// dx rows [r0, r1) (T, B, C_in): dx[pos, b, c] = sum over (t, k) with
// t*stride - padding + k*dilation = pos of dcol[t*B + b, c*K + k], k ascending.
template <typename T>
static void conv_dx_rows(const Conv1dShape& s, const int64_t* lengths, const T* dcol, T* dx,
                         int64_t r0, int64_t r1) {
  const int64_t B = s.B, CI = s.C_in, K = s.K, CK = CI * K, Tc = s.conv_len(s.T);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t pos = r / B, b = r % B;
    T* d = dx + r * CI;
    for (int64_t c = 0; c < CI; ++c) d[c] = T(0);
    if (lengths && pos >= lengths[b]) continue;
    for (int64_t k = 0; k < K; ++k) {
      const int64_t q = pos + s.padding - k * s.dilation;  // = t * stride
      if (q < 0 || q % s.stride != 0 || q / s.stride >= Tc) continue;
      const T* g = dcol + ((q / s.stride) * B + b) * CK + k;
      for (int64_t c = 0; c < CI; ++c) d[c] += g[c * K];
    }
  }
}

template <typename T>
static void conv1d_backward(const Conv1dBackwardArgs<T>& a) {
  constexpr int NR = GemmCfg<T>::NR;
  const GemmBlocks gb = gemm_blocks<T>(tuning(cache_info()));
  const int64_t KC = gb.kc, kApack = gb.mc * gb.kc;
  const Conv1dShape& s = a.s;
  const int64_t B = s.B, N = s.C_out, CK = s.C_in * s.K, Tc = s.conv_len(s.T), M = Tc * B;
  const Im2col<T> col{a.x, a.lengths, B, s.C_in, s.K, s.stride, s.dilation, s.padding, s.T};
  const Im2colOnes<T> col1{col, CK};
  const T* w = a.weight;
  auto get_w = [w, CK](int64_t k, int64_t n) { return w[k * CK + n]; };  // W (N, CK) as B
  const bool want_dx = a.dx != nullptr;  // else no dcol product (the input needs no gradient)
  const int nthreads = conv_threads(a.nthreads, (want_dx ? 4 : 2) * M * N * CK);
  Buffer<T> dZ(M * N), dcol(want_dx ? M * CK : 0), dwb(N * (CK + 1));
  Buffer<T> wpk(want_dx ? num_panels<T>(CK) * N * NR : 0);
  Buffer<T> slab(KC * num_panels<T>(CK + 1) * NR);
  Buffer<T> apack(int64_t(nthreads) * kApack);
  Barrier bar;
#pragma omp parallel num_threads(nthreads)
  {
    const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
#pragma omp single
    bar.reset(nt);  // (implicit barrier after single)
    T* const ap = apack.get() + int64_t(tid) * kApack;
    const Range zr = split(M, tid, nt);
    conv_dz_rows<T>(s, a.lengths, a.ws, a.dy, dZ.get(), zr.begin, zr.end);
    const Range pr = split(want_dx ? num_panels<T>(CK) : 0, tid, nt);
    pack_panels<T>(get_w, CK, 0, N, pr.begin, pr.end, wpk.get());
    bar.wait();
    // [dW | db] (N, CK + 1) = dZ^T (N, M) [col | 1] (M, CK + 1)
    gemm_par<T>(N, CK + 1, M, dZ.get(), 1, N, nullptr, col1, slab.get(), ap, dwb.get(), CK + 1,
                false, nullptr, tid, nt, bar);
    if (want_dx) {
      // dcol (M, CK) = dZ (M, N) W (N, CK)
      gemm_par<T>(M, CK, N, dZ.get(), N, 1, wpk.get(), get_w, nullptr, ap, dcol.get(), CK, false,
                  nullptr, tid, nt, bar);
      bar.wait();
      const Range xr = split(s.T * B, tid, nt);
      conv_dx_rows<T>(s, a.lengths, dcol.get(), a.dx, xr.begin, xr.end);
    }
    const Range orr = split(N, tid, nt);
    for (int64_t o = orr.begin; o < orr.end; ++o) {
      std::memcpy(a.dweight + o * CK, dwb.get() + o * (CK + 1), sizeof(T) * CK);
      if (a.dbias) a.dbias[o] = dwb.get()[o * (CK + 1) + CK];
    }
  }
}
