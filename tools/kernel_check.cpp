// kernel_check.cpp — the kernels' float32 activations and cells, checked without Python on
// another architecture or OS (built with a cross compiler by tools/aarch64_check.sh and run
// under qemu-aarch64, and by tools/windows_check.sh and run as a Windows .exe under wine):
// activation error bounds against the C library in double precision over a dense grid, and a
// float32 LSTM/GRU/RNN forward + backward against the float64 path of the same kernels.
// Usage: kernel_check [baseline|avx2|avx512] (default: the best level the CPU has).
// Exit status 0 when every check holds, 2 when the CPU lacks the level asked for.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "engine.h"

using namespace pyrnn;

static int failures = 0;
static void check(bool ok, const char* what, double value) {
  std::printf("%-44s %s (%.3g)\n", what, ok ? "ok" : "FAILED", value);
  if (!ok) ++failures;
}

static double ulp_error(float got, double want) {
  const float wf = float(want);
  const double spacing = std::nextafter(std::fabs(wf), INFINITY) - std::fabs(wf);
  return std::fabs(double(got) - want) / spacing;
}

static void activations(const KernelTable& k) {
  // A dense grid, plus every float32 (and its negative) where tanh's forms err most
  // (tests/test_activations.py: TANH_WORST).
  std::vector<float> x;
  for (int i = 0; i < 400001; ++i) x.push_back(-40.0f + 80.0f * float(i) / 400000.0f);
  const float worst[][2] = {{0.505f, 0.52f}, {0.124f, 0.1255f}, {0.62f, 0.635f}};
  for (const auto& r : worst)
    for (float v = r[0]; v <= r[1]; v = std::nextafter(v, 1.0f)) {
      x.push_back(v);
      x.push_back(-v);
    }
  const int n = int(x.size());
  std::vector<float> y(n);
  struct {
    MathFn fn;
    const char* name;
    double bound;
    double (*ref)(double);
  } cases[] = {
      {MathFn::EXP, "exp max ulp (bound 1)", 1.0, [](double v) { return std::exp(v); }},
      {MathFn::SIGMOID, "sigmoid max ulp (bound 3)", 3.0,
       [](double v) { return 1 / (1 + std::exp(-v)); }},
      {MathFn::TANH, "tanh max ulp (bound 2)", 2.0, [](double v) { return std::tanh(v); }},
  };
  for (auto& c : cases) {
    k.math_f32(c.fn, x.data(), y.data(), n);
    double worst = 0;
    for (int i = 0; i < n; ++i) {
      const double want = c.ref(double(x[i]));
      if (std::fabs(want) < 1.1754944e-38 || std::fabs(want) > 3.4e38) continue;
      worst = std::fmax(worst, ulp_error(y[i], want));
    }
    check(worst <= c.bound, c.name, worst);
  }
  const float special[4] = {INFINITY, -INFINITY, NAN, -0.0f};
  float out[4];
  k.math_f32(MathFn::TANH, special, out, 4);
  check(out[0] == 1 && out[1] == -1 && std::isnan(out[2]) && std::signbit(out[3]),
        "tanh(+inf, -inf, nan, -0)", 0);
}

template <typename T>
static void run_layer(const KernelTable& k, CellKind cell, const std::vector<double>& x64,
                      const std::vector<double>& wih64, const std::vector<double>& whh64,
                      const LayerShape& s, std::vector<double>& y_out,
                      std::vector<double>& dwhh_out, std::vector<double>& dx_out) {
  const int64_t G = num_gates(cell), H = s.H, I = s.I, B = s.B, T_ = s.T;
  std::vector<T> x(x64.begin(), x64.end()), wih(wih64.begin(), wih64.end()),
      whh(whh64.begin(), whh64.end()), b(G * H, T(0.01));
  std::vector<T> y(T_ * B * H), hn(B * H), cn(B * H), ws(workspace_layout(s).total);
  ForwardArgs<T> f{s,       x.data(), wih.data(), whh.data(), b.data(),  b.data(),  nullptr,
                   nullptr, nullptr,  y.data(),   hn.data(),  cn.data(), ws.data(), 1};
  std::vector<T> dy(T_ * B * H, T(1)), dx(T_ * B * I), dh0(B * H), dc0(B * H), dwih(G * H * I),
      dwhh(G * H * H), dbih(G * H), dbhh(G * H), nh(T_), nc(T_);
  BackwardArgs<T> bw{s,           x.data(),   wih.data(),  whh.data(),  nullptr,
                     ws.data(),   dy.data(),  nullptr,     nullptr,     dx.data(),
                     dh0.data(),  dc0.data(), dwih.data(), dwhh.data(), dbih.data(),
                     dbhh.data(), nh.data(),  nc.data(),   false,       1};
  if constexpr (sizeof(T) == 4) {
    k.forward_f32(f);
    k.backward_f32(bw);
  } else {
    k.forward_f64(f);
    k.backward_f64(bw);
  }
  y_out.assign(y.begin(), y.end());
  dwhh_out.assign(dwhh.begin(), dwhh.end());
  dx_out.assign(dx.begin(), dx.end());
}

static void cells(const KernelTable& k) {
  std::mt19937 rng(0);
  std::uniform_real_distribution<double> u(-0.3, 0.3);
  const struct {
    CellKind c;
    const char* name;
  } list[] = {{CellKind::LSTM, "lstm"},
              {CellKind::GRU, "gru"},
              {CellKind::RNN_TANH, "rnn tanh"},
              {CellKind::RNN_RELU, "rnn relu"}};
  // B = 5, H = 21: whole vectors and a tail; B = 1, I = 3, H = 37: the one-row step
  // (several panels at once) and dX by dot products (at most 4 input features).
  const int64_t shapes[][4] = {{7, 5, 9, 21}, {6, 1, 3, 37}};
  for (auto& c : list)
    for (auto& sh : shapes) {
      const LayerShape s{c.c, true, false, sh[0], sh[1], sh[2], sh[3]};
      const int64_t G = num_gates(c.c);
      std::vector<double> x(s.T * s.B * s.I), wih(G * s.H * s.I), whh(G * s.H * s.H);
      for (auto* v : {&x, &wih, &whh})
        for (auto& e : *v) e = u(rng);
      std::vector<double> y32, y64, d32, d64, x32, x64;
      run_layer<float>(k, c.c, x, wih, whh, s, y32, d32, x32);
      run_layer<double>(k, c.c, x, wih, whh, s, y64, d64, x64);
      auto maxdiff = [](const std::vector<double>& a, const std::vector<double>& b) {
        double e = 0;
        for (size_t i = 0; i < a.size(); ++i) e = std::fmax(e, std::fabs(a[i] - b[i]));
        return e;
      };
      char what[96];
      std::snprintf(what, sizeof what, "%s B=%d forward float32 vs float64", c.name, int(s.B));
      check(maxdiff(y32, y64) < 1e-5, what, maxdiff(y32, y64));
      std::snprintf(what, sizeof what, "%s B=%d dW_hh float32 vs float64", c.name, int(s.B));
      check(maxdiff(d32, d64) < 1e-4, what, maxdiff(d32, d64));
      std::snprintf(what, sizeof what, "%s B=%d dX float32 vs float64", c.name, int(s.B));
      check(maxdiff(x32, x64) < 1e-4, what, maxdiff(x32, x64));
    }
}

int main(int argc, char** argv) {
  if (argc > 1 && !select_isa(argv[1])) {
    std::printf("ISA level %s: not supported by this CPU or not built\n", argv[1]);
    return 2;
  }
  const KernelTable& k = active_table();
  std::printf("ISA level: %s (%d-bit vectors)\n", k.isa, k.vector_bits);
  activations(k);
  cells(k);
  std::printf("%s\n", failures ? "FAILED" : "all checks passed");
  return failures ? 1 : 0;
}
