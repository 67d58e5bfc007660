// cells.h — the elementwise half of each cell ("post-GEMM"), forward and backward side by side.
// Each function handles one batch row and the hidden units [j0, j1) of one thread's block.
//   xg (G*H)   input projection + folded biases, pre-activation; overwritten with the
//              activated gates (forward, when training: KEEP) and then with the gate gradients
//              (backward). The forward takes xg at unit j0 of gate 0 with gates xs apart (the
//              workspace row: xs = H; inference's chunk: the width of its group of unit blocks,
//              see xg_group in kernels.cpp)
//   gh         the recurrent product h_prev W_hh^T of this row and block, as the GEMM left it
//              in the thread's L1 tile: gate g of unit j at gh[g * gs + (j - j0)]
//   hp, h      hidden state in / out (H);  cp, c: LSTM cell state in / out (H)
//   y (H)      the output row (may be h itself: inference keeps h_t in y); dy (H) its
//              gradient (zeros when the caller has none)
//   dh (H)     in: dL/dh_t flowing back from later steps; out: the direct part of dL/dh_{t-1}
//              (the recurrent-GEMM part is added by the caller)
// Backward formulas are written from the saved outputs (d tanh = 1 - y^2, d sigmoid = y (1 - y)).
// Backward functions return the squared norm of the total dL/dh_t over [j0, j1), in float64.
//
// Every body runs on Lanes<T>::V (simd.h): whole float32 vectors at each ISA level, one
// float64 at a time; `n` is the lane tag of for_lanes (a whole vector or the block's tail).
#pragma once

// ---- vanilla RNN: h = act(W_ih x + b_ih + W_hh h_prev + b_hh) ---------------------------
template <typename T, bool RELU>
static PYRNN_INLINE void rnn_forward(int64_t j0, int64_t j1, const T* xg, const T* gh, T* h, T* y) {
  using L = Lanes<T>;
  using V = typename L::V;
  for_lanes<T>(j0, j1, [&](int64_t j, auto n) PYRNN_INLINE_LAMBDA {
    const V a = ld<V>(xg + (j - j0), n) + ld<V>(gh + (j - j0), n);
    const V v = RELU ? L::relu(a) : L::tanh(a);
    st(h + j, v, n);
    if (y != h) st(y + j, v, n);
  });
}

template <typename T, bool RELU>
static PYRNN_INLINE double rnn_backward(int64_t j0, int64_t j1, T* xg, const T* h, const T* dy,
                                        T* dh) {
  using L = Lanes<T>;
  using V = typename L::V;
  typename L::Acc nsq{};
  for_lanes<T>(j0, j1, [&](int64_t j, auto n) PYRNN_INLINE_LAMBDA {
    const V d = ld<V>(dh + j, n) + ld<V>(dy + j, n);
    const V hj = ld<V>(h + j, n);
    nsq += L::square(d);
    st(xg + j, RELU ? L::relu_grad(hj, d) : d * (T(1) - hj * hj), n);
    st(dh + j, V{}, n);
  });
  return L::sum(nsq);
}

// ---- LSTM: i, f, o = sigmoid, g = tanh; c = f c_prev + i g; h = o tanh(c) ----------------
template <typename T, bool KEEP>
static PYRNN_INLINE void lstm_forward(int64_t j0, int64_t j1, int64_t xs, int64_t gs, T* xg,
                                      const T* gh, const T* cp, T* c, T* h, T* y) {
  using L = Lanes<T>;
  using V = typename L::V;
  for_lanes<T>(j0, j1, [&](int64_t j, auto n) PYRNN_INLINE_LAMBDA {
    const int64_t u = j - j0;
    const V i = L::sigmoid(ld<V>(xg + u, n) + ld<V>(gh + u, n));
    const V f = L::sigmoid(ld<V>(xg + xs + u, n) + ld<V>(gh + gs + u, n));
    const V g = L::tanh(ld<V>(xg + 2 * xs + u, n) + ld<V>(gh + 2 * gs + u, n));
    const V o = L::sigmoid(ld<V>(xg + 3 * xs + u, n) + ld<V>(gh + 3 * gs + u, n));
    const V cn = f * ld<V>(cp + j, n) + i * g;
    const V hn = o * L::tanh(cn);
    if (KEEP) {
      st(xg + u, i, n);
      st(xg + xs + u, f, n);
      st(xg + 2 * xs + u, g, n);
      st(xg + 3 * xs + u, o, n);
    }
    st(c + j, cn, n);
    st(h + j, hn, n);
    if (y != h) st(y + j, hn, n);
  });
}

// dc: in dL/dc_t from later steps, out dL/dc_{t-1}. Adds the squared norms of the total
// dL/dh_t and dL/dc_t for this row and block to nsq_h, nsq_c.
template <typename T>
static PYRNN_INLINE void lstm_backward(int64_t j0, int64_t j1, int64_t H, T* xg, const T* cp,
                                       const T* c, const T* dy, T* dh, T* dc, double& nsq_h,
                                       double& nsq_c) {
  using L = Lanes<T>;
  using V = typename L::V;
  typename L::Acc sh{}, sc{};
  for_lanes<T>(j0, j1, [&](int64_t j, auto n) PYRNN_INLINE_LAMBDA {
    const V i = ld<V>(xg + j, n), f = ld<V>(xg + H + j, n), g = ld<V>(xg + 2 * H + j, n),
            o = ld<V>(xg + 3 * H + j, n);
    const V tc = L::tanh(ld<V>(c + j, n));
    const V d = ld<V>(dh + j, n) + ld<V>(dy + j, n);
    const V dct = ld<V>(dc + j, n) + d * o * (T(1) - tc * tc);
    sh += L::square(d);
    sc += L::square(dct);
    st(xg + j, dct * g * i * (T(1) - i), n);
    st(xg + H + j, dct * ld<V>(cp + j, n) * f * (T(1) - f), n);
    st(xg + 2 * H + j, dct * i * (T(1) - g * g), n);
    st(xg + 3 * H + j, d * tc * o * (T(1) - o), n);
    st(dc + j, dct * f, n);
    st(dh + j, V{}, n);
  });
  nsq_h += L::sum(sh);
  nsq_c += L::sum(sc);
}

// ---- GRU, reset_after (PyTorch): n = tanh(W_in x + b_in + r (W_hn h + b_hn)) ------------
// h = (1 - z) n + z h_prev. extra (H) keeps hn = W_hn h_prev + b_hn.
template <typename T, bool KEEP>
static PYRNN_INLINE void gru_ra_forward(int64_t j0, int64_t j1, int64_t xs, int64_t gs, T* xg,
                                        const T* gh, const T* b_hn, const T* hp, T* extra, T* h,
                                        T* y) {
  using L = Lanes<T>;
  using V = typename L::V;
  for_lanes<T>(j0, j1, [&](int64_t j, auto n) PYRNN_INLINE_LAMBDA {
    const int64_t u = j - j0;
    const V r = L::sigmoid(ld<V>(xg + u, n) + ld<V>(gh + u, n));
    const V z = L::sigmoid(ld<V>(xg + xs + u, n) + ld<V>(gh + gs + u, n));
    const V hn = ld<V>(gh + 2 * gs + u, n) + ld<V>(b_hn + j, n);
    const V nn = L::tanh(ld<V>(xg + 2 * xs + u, n) + r * hn);
    const V v = (T(1) - z) * nn + z * ld<V>(hp + j, n);
    if (KEEP) {
      st(xg + u, r, n);
      st(xg + xs + u, z, n);
      st(xg + 2 * xs + u, nn, n);
      st(extra + j, hn, n);
    }
    st(h + j, v, n);
    if (y != h) st(y + j, v, n);
  });
}

// Writes the recurrent-side gate gradients into xg (n slot: d(W_hn h + b_hn)) and the
// input-side n gradient into extra (the r and z slots are shared by both sides).
template <typename T>
static PYRNN_INLINE double gru_ra_backward(int64_t j0, int64_t j1, int64_t H, T* xg, T* extra,
                                           const T* hp, const T* dy, T* dh) {
  using L = Lanes<T>;
  using V = typename L::V;
  typename L::Acc nsq{};
  for_lanes<T>(j0, j1, [&](int64_t j, auto n) PYRNN_INLINE_LAMBDA {
    const V r = ld<V>(xg + j, n), z = ld<V>(xg + H + j, n), nn = ld<V>(xg + 2 * H + j, n),
            hn = ld<V>(extra + j, n);
    const V d = ld<V>(dh + j, n) + ld<V>(dy + j, n);
    nsq += L::square(d);
    const V dn = d * (T(1) - z) * (T(1) - nn * nn);
    st(xg + j, dn * hn * r * (T(1) - r), n);
    st(xg + H + j, d * (ld<V>(hp + j, n) - nn) * z * (T(1) - z), n);
    st(xg + 2 * H + j, dn * r, n);
    st(extra + j, dn, n);
    st(dh + j, d * z, n);
  });
  return L::sum(nsq);
}

// ---- GRU, reset before (Cho et al.): n = tanh(W_in x + b_in + W_hn (r h) + b_hn) ---------
// Two phases per step: r, z and rh = r h_prev (extra); then, once every thread's rh is
// written, n and h from the product rh W_hn^T. z stays in xg for the second phase.
template <typename T, bool KEEP>
static PYRNN_INLINE void gru_rb_forward_rz(int64_t j0, int64_t j1, int64_t xs, int64_t gs, T* xg,
                                           const T* gh, const T* hp, T* rh) {
  using L = Lanes<T>;
  using V = typename L::V;
  for_lanes<T>(j0, j1, [&](int64_t j, auto n) PYRNN_INLINE_LAMBDA {
    const int64_t u = j - j0;
    const V r = L::sigmoid(ld<V>(xg + u, n) + ld<V>(gh + u, n));
    const V z = L::sigmoid(ld<V>(xg + xs + u, n) + ld<V>(gh + gs + u, n));
    if (KEEP) st(xg + u, r, n);
    st(xg + xs + u, z, n);
    st(rh + j, r * ld<V>(hp + j, n), n);
  });
}

template <typename T, bool KEEP>
static PYRNN_INLINE void gru_rb_forward_n(int64_t j0, int64_t j1, int64_t xs, T* xg, const T* gh,
                                          const T* hp, T* h, T* y) {
  using L = Lanes<T>;
  using V = typename L::V;
  for_lanes<T>(j0, j1, [&](int64_t j, auto n) PYRNN_INLINE_LAMBDA {
    const int64_t u = j - j0;
    const V z = ld<V>(xg + xs + u, n);
    const V nn = L::tanh(ld<V>(xg + 2 * xs + u, n) + ld<V>(gh + u, n));
    const V v = (T(1) - z) * nn + z * ld<V>(hp + j, n);
    if (KEEP) st(xg + 2 * xs + u, nn, n);
    st(h + j, v, n);
    if (y != h) st(y + j, v, n);
  });
}

// Phase 1: z and n gradients (n's is shared by both sides).
template <typename T>
static PYRNN_INLINE double gru_rb_backward_zn(int64_t j0, int64_t j1, int64_t H, T* xg, const T* hp,
                                              const T* dy, T* dh) {
  using L = Lanes<T>;
  using V = typename L::V;
  typename L::Acc nsq{};
  for_lanes<T>(j0, j1, [&](int64_t j, auto n) PYRNN_INLINE_LAMBDA {
    const V z = ld<V>(xg + H + j, n), nn = ld<V>(xg + 2 * H + j, n);
    const V d = ld<V>(dh + j, n) + ld<V>(dy + j, n);
    nsq += L::square(d);
    st(xg + H + j, d * (ld<V>(hp + j, n) - nn) * z * (T(1) - z), n);
    st(xg + 2 * H + j, d * (T(1) - z) * (T(1) - nn * nn), n);
    st(dh + j, d * z, n);
  });
  return L::sum(nsq);
}

// Phase 2: from drh = dL/d(r h_prev) (the caller's dn W_hn product), the r gradient.
template <typename T>
static PYRNN_INLINE void gru_rb_backward_r(int64_t j0, int64_t j1, T* xg, const T* hp, const T* drh,
                                           T* dh) {
  using L = Lanes<T>;
  using V = typename L::V;
  for_lanes<T>(j0, j1, [&](int64_t j, auto n) PYRNN_INLINE_LAMBDA {
    const V r = ld<V>(xg + j, n), g = ld<V>(drh + j, n);
    st(xg + j, g * ld<V>(hp + j, n) * r * (T(1) - r), n);
    st(dh + j, ld<V>(dh + j, n) + g * r, n);
  });
}

// Row b runs at time t: no lengths (every row runs to T), or t before its length.
static inline bool active(const int64_t* lengths, int64_t b, int64_t t) {
  return !lengths || t < lengths[b];
}

// One step's rows as a forward epilogue sees them. The state arrays are (B, H), row b at b * H;
// xg and gh point at the first row of the block (and unit j0 of gate 0).
template <typename T>
struct StepRows {
  T* xg;               // input projection: rows xrs apart, gates xs apart
  int64_t xrs, xs;
  const T* gh;         // the recurrent product's tile: rows grs apart, gates gs apart
  int64_t grs, gs;
  const T* b_hn;       // reset-after GRU's b_hn (H)
  const T* hp;         // h_{t-1}
  const T* cp;         // LSTM c_{t-1} (else null)
  T* cn;               // LSTM c_t (may alias cp)
  T* hn;               // h_t
  T* y;                // output row of time t
  T* ex;               // GRU's extra (training) or reset-before GRU's r * h_{t-1}; else null
  const int64_t* lengths;  // sequence lengths (null: every row runs to T)
  int64_t t;

  // f(o = b * H, xg, gh of row b) for the active rows of [b0, b1); the others pass their state.
  template <typename Cell, typename F>
  PYRNN_INLINE void each(int64_t j0, int64_t j1, int64_t b0, int64_t b1, const Cell& cell,
                         F&& f) const {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t o = b * cell.H;
      if (active(lengths, b, t))
        f(o, xg + (b - b0) * xrs, gh + (b - b0) * grs);
      else
        cell.forward_inactive(j0, j1, hp + o, hn + o, y + o, cp ? cp + o : nullptr,
                              cn ? cn + o : nullptr, ex ? ex + o : nullptr);
    }
  }
};

// ---- CellOps: everything the time-loop drivers (kernels.cpp) need to know about a cell ----
// The drivers never test the cell kind: a new cell adds its epilogues above and its cases here.
template <typename T>
struct CellOps {
  CellKind kind;
  bool reset_after;
  int64_t H;

  static CellOps of(const LayerShape& s) { return {s.cell, s.reset_after, s.H}; }
  int64_t gates() const { return num_gates(kind); }
  bool has_c() const { return kind == CellKind::LSTM; }        // LSTM's cell state
  bool has_extra() const { return kind == CellKind::GRU; }     // workspace_layout's extra
  bool gru_ra() const { return kind == CellKind::GRU && reset_after; }
  // Reset-before GRU: n needs r * h_prev of every unit, i.e. a second product (and barrier)
  // after r; its n gate's recurrent weights multiply r * h_prev, not h_prev.
  bool two_phase() const { return kind == CellKind::GRU && !reset_after; }
  int step_gates() const { return two_phase() ? 2 : int(gates()); }  // gates of the 1st product
  int64_t backward_k() const { return two_phase() ? 2 * H : gates() * H; }  // K of dG W_hh
  // Bias slot k of b_hh kept out of the folded bias (reset-after GRU's b_hn, added inside r).
  bool bias_kept_out(int64_t k) const { return gru_ra() && k >= 2 * H; }
  // Weight-gradient rows shared by the input and recurrent sides ([dW_ih | dW_hh] in one
  // product): all but GRU's n rows, whose two sides differ.
  int64_t shared_rows() const { return kind == CellKind::GRU ? 2 * H : gates() * H; }

  // Rows [b0, b1), units [j0, j1) of one step, in one call: the activations' constants are
  // set up once per block of rows, not once per row (16 units at AVX2: the setup cost as much as
  // the arithmetic). KEEP (training): the activated gates (and GRU's extra) are stored for the
  // backward; inference keeps only what it reads again.
  template <bool KEEP>
  void forward(int64_t j0, int64_t j1, int64_t b0, int64_t b1, const StepRows<T>& r) const {
    switch (kind) {
      case CellKind::RNN_TANH:
        r.each(j0, j1, b0, b1, *this, [&](int64_t o, T* xg, const T* gh) PYRNN_INLINE_LAMBDA {
          rnn_forward<T, false>(j0, j1, xg, gh, r.hn + o, r.y + o);
        });
        break;
      case CellKind::RNN_RELU:
        r.each(j0, j1, b0, b1, *this, [&](int64_t o, T* xg, const T* gh) PYRNN_INLINE_LAMBDA {
          rnn_forward<T, true>(j0, j1, xg, gh, r.hn + o, r.y + o);
        });
        break;
      case CellKind::LSTM:
        r.each(j0, j1, b0, b1, *this, [&](int64_t o, T* xg, const T* gh) PYRNN_INLINE_LAMBDA {
          lstm_forward<T, KEEP>(j0, j1, r.xs, r.gs, xg, gh, r.cp + o, r.cn + o, r.hn + o, r.y + o);
        });
        break;
      case CellKind::GRU:
        if (reset_after)
          r.each(j0, j1, b0, b1, *this, [&](int64_t o, T* xg, const T* gh) PYRNN_INLINE_LAMBDA {
            gru_ra_forward<T, KEEP>(j0, j1, r.xs, r.gs, xg, gh, r.b_hn, r.hp + o,
                                    r.ex ? r.ex + o : nullptr, r.hn + o, r.y + o);
          });
        else
          r.each(j0, j1, b0, b1, *this, [&](int64_t o, T* xg, const T* gh) PYRNN_INLINE_LAMBDA {
            gru_rb_forward_rz<T, KEEP>(j0, j1, r.xs, r.gs, xg, gh, r.hp + o, r.ex + o);
          });
        break;
    }
  }
  // two_phase only: n and h from the product (r * h_prev) W_hn^T in the tile (rows past their
  // length were settled in the first phase).
  template <bool KEEP>
  void forward_phase2(int64_t j0, int64_t j1, int64_t b0, int64_t b1, const StepRows<T>& r) const {
    for (int64_t b = b0; b < b1; ++b)
      if (active(r.lengths, b, r.t))
        gru_rb_forward_n<T, KEEP>(j0, j1, r.xs, r.xg + (b - b0) * r.xrs, r.gh + (b - b0) * r.grs,
                                  r.hp + b * H, r.hn + b * H, r.y + b * H);
  }
  // A row past its length: the state passes through, the output is zero.
  void forward_inactive(int64_t j0, int64_t j1, const T* hp, T* hn, T* y, const T* cp, T* cn,
                        T* ex) const {
    for (int64_t j = j0; j < j1; ++j) {
      hn[j] = hp[j];
      if (y != hn) y[j] = T(0);
      if (has_c() && cn != cp) cn[j] = cp[j];
      if (two_phase()) ex[j] = T(0);
    }
  }

  // Gate gradients of one row's unit blocks [q0, q1) (bw units each) from the saved step (in
  // place over xg), in one call: the activations' constants are set up once per row, not once
  // per block. dh (and dc) in: dL/dh_t from later steps, out: the direct part of dL/dh_{t-1}.
  // nh[q] (and nc[q]): block q's squared norms of the total dL/dh_t (dL/dc_t).
  void backward(int64_t q0, int64_t q1, int64_t bw, T* xg, const T* hp, const T* ho, const T* cp,
                const T* c, const T* dy, T* dh, T* dc, T* ex, double* nh, double* nc) const {
    auto blocks = [&](auto&& f) PYRNN_INLINE_LAMBDA {
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t j0 = q * bw, j1 = j0 + bw < H ? j0 + bw : H;
        double sh = 0, sc = 0;
        f(j0, j1, sh, sc);
        nh[q] = sh;
        if (nc) nc[q] = sc;
      }
    };
    switch (kind) {
      case CellKind::RNN_TANH:
        blocks([&](int64_t j0, int64_t j1, double& sh, double&)
                   PYRNN_INLINE_LAMBDA { sh += rnn_backward<T, false>(j0, j1, xg, ho, dy, dh); });
        break;
      case CellKind::RNN_RELU:
        blocks([&](int64_t j0, int64_t j1, double& sh, double&)
                   PYRNN_INLINE_LAMBDA { sh += rnn_backward<T, true>(j0, j1, xg, ho, dy, dh); });
        break;
      case CellKind::LSTM:
        blocks([&](int64_t j0, int64_t j1, double& sh, double& sc) PYRNN_INLINE_LAMBDA {
          lstm_backward<T>(j0, j1, H, xg, cp, c, dy, dh, dc, sh, sc);
        });
        break;
      case CellKind::GRU:
        if (reset_after)
          blocks([&](int64_t j0, int64_t j1, double& sh, double&) PYRNN_INLINE_LAMBDA {
            sh += gru_ra_backward<T>(j0, j1, H, xg, ex, hp, dy, dh);
          });
        else
          blocks([&](int64_t j0, int64_t j1, double& sh, double&) PYRNN_INLINE_LAMBDA {
            sh += gru_rb_backward_zn<T>(j0, j1, H, xg, hp, dy, dh);
          });
        break;
    }
  }
  // two_phase only: the r gradient from drh = dL/d(r h_prev).
  void backward_phase2(int64_t j0, int64_t j1, T* xg, const T* hp, const T* drh, T* dh) const {
    gru_rb_backward_r<T>(j0, j1, xg, hp, drh, dh);
  }
  // A row past its length: no gate gradient (its state, and so dh, passed through).
  void backward_inactive(int64_t j0, int64_t j1, T* xg, T* ex) const {
    for (int64_t g = 0; g < gates(); ++g)
      for (int64_t j = j0; j < j1; ++j) xg[g * H + j] = T(0);
    if (gru_ra())
      for (int64_t j = j0; j < j1; ++j) ex[j] = T(0);
  }
};
