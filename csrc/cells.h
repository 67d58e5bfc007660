// cells.h — the elementwise half of each cell ("post-GEMM"), forward and backward side by side.
// Each function handles one batch row and the hidden units [j0, j1) of one thread's block.
//   xg (G*H)   input projection + folded biases, pre-activation; overwritten with the
//              activated gates (forward) and then with the gate gradients (backward)
//   gh         the recurrent product h_prev W_hh^T of this row and block, as the GEMM left it
//              in the thread's L1 tile: gate g of unit j at gh[g * gs + (j - j0)]
//   hp, h      hidden state in / out (H);  cp, c: LSTM cell state in / out (H)
//   y (H)      the output row; dy (H) its gradient (zeros when the caller has none)
//   dh (H)     in: dL/dh_t flowing back from later steps; out: the direct part of dL/dh_{t-1}
//              (the recurrent-GEMM part is added by the caller)
// Backward formulas are written from the saved outputs (d tanh = 1 - y^2, d sigmoid = y (1 - y)).
#pragma once

// ---- vanilla RNN: h = act(W_ih x + b_ih + W_hh h_prev + b_hh) ---------------------------
template <typename T, bool RELU>
static inline void rnn_forward(int64_t j0, int64_t j1, const T* xg, const T* gh, T* h, T* y) {
#pragma omp simd
  for (int64_t j = j0; j < j1; ++j) {
    const T a = xg[j] + gh[(j - j0)];
    const T v = RELU ? (a < T(0) ? T(0) : a) : Act<T>::tanh(a);
    h[j] = v;
    y[j] = v;
  }
}

template <typename T, bool RELU>
static inline double rnn_backward(int64_t j0, int64_t j1, T* xg, const T* h, const T* dy, T* dh) {
  double nsq = 0;  // squared norms in double: a finite gradient never overflows them
#pragma omp simd reduction(+ : nsq)
  for (int64_t j = j0; j < j1; ++j) {
    const T d = dh[j] + dy[j];
    nsq += double(d) * d;
    xg[j] = RELU ? (h[j] > T(0) ? d : T(0)) : d * (T(1) - h[j] * h[j]);
    dh[j] = T(0);
  }
  return nsq;
}

// ---- LSTM: i, f, o = sigmoid, g = tanh; c = f c_prev + i g; h = o tanh(c) ----------------
template <typename T>
static inline void lstm_forward(int64_t j0, int64_t j1, int64_t H, int64_t gs, T* xg,
                                const T* gh, const T* cp, T* c, T* h, T* y) {
#pragma omp simd
  for (int64_t j = j0; j < j1; ++j) {
    const T i = Act<T>::sigmoid(xg[j] + gh[(j - j0)]);
    const T f = Act<T>::sigmoid(xg[H + j] + gh[gs + (j - j0)]);
    const T g = Act<T>::tanh(xg[2 * H + j] + gh[2 * gs + (j - j0)]);
    const T o = Act<T>::sigmoid(xg[3 * H + j] + gh[3 * gs + (j - j0)]);
    const T cn = f * cp[j] + i * g;
    const T hn = o * Act<T>::tanh(cn);
    xg[j] = i;
    xg[H + j] = f;
    xg[2 * H + j] = g;
    xg[3 * H + j] = o;
    c[j] = cn;
    h[j] = hn;
    y[j] = hn;
  }
}

// dc: in dL/dc_t from later steps, out dL/dc_{t-1}. Returns the squared norms of the total
// dL/dh_t and dL/dc_t for this row and block.
template <typename T>
static inline void lstm_backward(int64_t j0, int64_t j1, int64_t H, T* xg, const T* cp,
                                 const T* c, const T* dy, T* dh, T* dc, double& nsq_h, double& nsq_c) {
  double sh = 0, sc = 0;
#pragma omp simd reduction(+ : sh, sc)
  for (int64_t j = j0; j < j1; ++j) {
    const T i = xg[j], f = xg[H + j], g = xg[2 * H + j], o = xg[3 * H + j];
    const T tc = Act<T>::tanh(c[j]);
    const T d = dh[j] + dy[j];
    const T dct = dc[j] + d * o * (T(1) - tc * tc);
    sh += double(d) * d;
    sc += double(dct) * dct;
    xg[j] = dct * g * i * (T(1) - i);
    xg[H + j] = dct * cp[j] * f * (T(1) - f);
    xg[2 * H + j] = dct * i * (T(1) - g * g);
    xg[3 * H + j] = d * tc * o * (T(1) - o);
    dc[j] = dct * f;
    dh[j] = T(0);
  }
  nsq_h += sh;
  nsq_c += sc;
}

// ---- GRU, reset_after (PyTorch): n = tanh(W_in x + b_in + r (W_hn h + b_hn)) ------------
// h = (1 - z) n + z h_prev. extra (H) keeps hn = W_hn h_prev + b_hn.
template <typename T>
static inline void gru_ra_forward(int64_t j0, int64_t j1, int64_t H, int64_t gs, T* xg,
                                  const T* gh, const T* b_hn, const T* hp, T* extra, T* h,
                                  T* y) {
#pragma omp simd
  for (int64_t j = j0; j < j1; ++j) {
    const T r = Act<T>::sigmoid(xg[j] + gh[(j - j0)]);
    const T z = Act<T>::sigmoid(xg[H + j] + gh[gs + (j - j0)]);
    const T hn = gh[2 * gs + (j - j0)] + b_hn[j];
    const T n = Act<T>::tanh(xg[2 * H + j] + r * hn);
    const T v = (T(1) - z) * n + z * hp[j];
    xg[j] = r;
    xg[H + j] = z;
    xg[2 * H + j] = n;
    extra[j] = hn;
    h[j] = v;
    y[j] = v;
  }
}

// Writes the recurrent-side gate gradients into xg (n slot: d(W_hn h + b_hn)) and the
// input-side n gradient into extra (the r and z slots are shared by both sides).
template <typename T>
static inline double gru_ra_backward(int64_t j0, int64_t j1, int64_t H, T* xg, T* extra,
                                const T* hp, const T* dy, T* dh) {
  double nsq = 0;  // squared norms in double: a finite gradient never overflows them
#pragma omp simd reduction(+ : nsq)
  for (int64_t j = j0; j < j1; ++j) {
    const T r = xg[j], z = xg[H + j], n = xg[2 * H + j], hn = extra[j];
    const T d = dh[j] + dy[j];
    nsq += double(d) * d;
    const T dn = d * (T(1) - z) * (T(1) - n * n);
    xg[j] = dn * hn * r * (T(1) - r);
    xg[H + j] = d * (hp[j] - n) * z * (T(1) - z);
    xg[2 * H + j] = dn * r;
    extra[j] = dn;
    dh[j] = d * z;
  }
  return nsq;
}

// ---- GRU, reset before (Cho et al.): n = tanh(W_in x + b_in + W_hn (r h) + b_hn) ---------
// Two phases per step: r, z and rh = r h_prev (extra); then, once every thread's rh is
// written, n and h from the product rh W_hn^T.
template <typename T>
static inline void gru_rb_forward_rz(int64_t j0, int64_t j1, int64_t H, int64_t gs, T* xg,
                                     const T* gh, const T* hp, T* rh) {
#pragma omp simd
  for (int64_t j = j0; j < j1; ++j) {
    const T r = Act<T>::sigmoid(xg[j] + gh[(j - j0)]);
    const T z = Act<T>::sigmoid(xg[H + j] + gh[gs + (j - j0)]);
    xg[j] = r;
    xg[H + j] = z;
    rh[j] = r * hp[j];
  }
}

template <typename T>
static inline void gru_rb_forward_n(int64_t j0, int64_t j1, int64_t H, T* xg, const T* gh,
                                    const T* hp, T* h, T* y) {
#pragma omp simd
  for (int64_t j = j0; j < j1; ++j) {
    const T z = xg[H + j];
    const T n = Act<T>::tanh(xg[2 * H + j] + gh[j - j0]);
    const T v = (T(1) - z) * n + z * hp[j];
    xg[2 * H + j] = n;
    h[j] = v;
    y[j] = v;
  }
}

// Phase 1: z and n gradients (n's is shared by both sides).
template <typename T>
static inline double gru_rb_backward_zn(int64_t j0, int64_t j1, int64_t H, T* xg, const T* hp,
                                   const T* dy, T* dh) {
  double nsq = 0;  // squared norms in double: a finite gradient never overflows them
#pragma omp simd reduction(+ : nsq)
  for (int64_t j = j0; j < j1; ++j) {
    const T z = xg[H + j], n = xg[2 * H + j];
    const T d = dh[j] + dy[j];
    nsq += double(d) * d;
    xg[H + j] = d * (hp[j] - n) * z * (T(1) - z);
    xg[2 * H + j] = d * (T(1) - z) * (T(1) - n * n);
    dh[j] = d * z;
  }
  return nsq;
}

// Phase 2: from drh = dL/d(r h_prev) (the caller's dn W_hn product), the r gradient.
template <typename T>
static inline void gru_rb_backward_r(int64_t j0, int64_t j1, T* xg, const T* hp,
                                     const T* drh, T* dh) {
#pragma omp simd
  for (int64_t j = j0; j < j1; ++j) {
    const T r = xg[j];
    xg[j] = drh[j] * hp[j] * r * (T(1) - r);
    dh[j] += drh[j] * r;
  }
}
