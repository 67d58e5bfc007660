// bindings.cpp — the narrow boundary. Validates every array (dtype, contiguity, shape,
// lengths) with a message that says what was expected, allocates the outputs, releases the
// GIL for the whole kernel call. C++ exceptions become Python ValueError / TypeError /
// MemoryError here and nowhere else.
#include <omp.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine.h"

namespace py = pybind11;
using namespace pyrnn;

namespace {

int g_num_threads = 0;  // 0: not set yet -> omp_get_max_threads()

int num_threads() { return g_num_threads > 0 ? g_num_threads : omp_get_max_threads(); }

struct TypeErr : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct ValueErr : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream o;
  o << "(";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << (s.size() == 1 ? ",)" : ")");
  return o.str();
}

std::string shape_of(const py::array& a) {
  std::vector<int64_t> s(a.shape(), a.shape() + a.ndim());
  return shape_str(s);
}

CellKind parse_cell(const std::string& cell, const std::string& nonlinearity) {
  if (cell == "lstm") return CellKind::LSTM;
  if (cell == "gru") return CellKind::GRU;
  if (cell == "rnn") {
    if (nonlinearity == "tanh") return CellKind::RNN_TANH;
    if (nonlinearity == "relu") return CellKind::RNN_RELU;
    throw ValueErr("nonlinearity must be 'tanh' or 'relu', got '" + nonlinearity + "'");
  }
  throw ValueErr("cell must be 'rnn', 'lstm' or 'gru', got '" + cell + "'");
}

// The dtype all arrays of a call share; x decides.
enum class DT { F32, F64 };

DT dtype_of_x(const py::handle& x) {
  if (!py::isinstance<py::array>(x)) throw TypeErr("x must be a numpy array");
  const py::array a = py::reinterpret_borrow<py::array>(x);
  if (a.dtype().equal(py::dtype::of<float>())) return DT::F32;
  if (a.dtype().equal(py::dtype::of<double>())) return DT::F64;
  throw TypeErr("x must have dtype float32 or float64, got " + std::string(py::str(a.dtype())));
}

// Checks one array argument: numpy, dtype, C-contiguous, exact shape. None allowed if optional.
template <typename T>
const T* checked(const py::handle& h, const char* name, const std::vector<int64_t>& shape,
                 bool optional, bool writeable = false) {
  if (h.is_none()) {
    if (optional) return nullptr;
    throw TypeErr(std::string(name) + " is required, got None");
  }
  if (!py::isinstance<py::array>(h))
    throw TypeErr(std::string(name) + " must be a numpy array, got " +
                  std::string(py::str(py::type::of(h).attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(h);
  if (!a.dtype().equal(py::dtype::of<T>()))
    throw TypeErr(std::string(name) + " must have dtype " + std::string(py::str(py::dtype::of<T>())) +
                  " like x, got " + std::string(py::str(a.dtype())));
  const bool shape_ok = a.ndim() == py::ssize_t(shape.size()) &&
                        std::equal(shape.begin(), shape.end(), a.shape(),
                                   [](int64_t e, py::ssize_t g) { return e == int64_t(g); });
  if (!shape_ok)
    throw ValueErr(std::string(name) + " must have shape " + shape_str(shape) + ", got " + shape_of(a));
  if (!(a.flags() & py::array::c_style))
    throw ValueErr(std::string(name) + " must be C-contiguous (use numpy.ascontiguousarray)");
  if (writeable && !a.writeable()) throw ValueErr(std::string(name) + " must be writeable");
  return static_cast<const T*>(a.data());
}

const int64_t* checked_lengths(const py::handle& h, int64_t T, int64_t B) {
  if (h.is_none()) return nullptr;
  if (!py::isinstance<py::array>(h)) throw TypeErr("lengths must be a numpy array of int64");
  py::array a = py::reinterpret_borrow<py::array>(h);
  if (!a.dtype().equal(py::dtype::of<int64_t>()))
    throw TypeErr("lengths must have dtype int64, got " + std::string(py::str(a.dtype())));
  if (a.ndim() != 1 || a.shape(0) != B)
    throw ValueErr("lengths must have shape (" + std::to_string(B) + ",) (one per sequence), got " + shape_of(a));
  if (!(a.flags() & py::array::c_style)) throw ValueErr("lengths must be C-contiguous");
  const int64_t* p = static_cast<const int64_t*>(a.data());
  for (int64_t b = 0; b < B; ++b)
    if (p[b] < 1 || p[b] > T)
      throw ValueErr("lengths must be in [1, T=" + std::to_string(T) + "], got lengths[" +
                     std::to_string(b) + "] = " + std::to_string(p[b]));
  return p;
}

LayerShape shape_from(CellKind cell, bool reset_after, bool reverse, const py::handle& x,
                      const py::handle& w_ih, const py::handle& w_hh) {
  const py::array xa = py::reinterpret_borrow<py::array>(x);
  if (xa.ndim() != 3) throw ValueErr("x must have shape (T, B, I), got " + shape_of(xa));
  LayerShape s{cell, reset_after, reverse, int64_t(xa.shape(0)), int64_t(xa.shape(1)), int64_t(xa.shape(2)), 0};
  if (s.T < 1 || s.B < 1 || s.I < 1)
    throw ValueErr("x must have shape (T, B, I) with T, B, I >= 1 (no empty sequences), got " + shape_of(xa));
  if (!py::isinstance<py::array>(w_hh)) throw TypeErr("weight_hh must be a numpy array");
  const py::array wh = py::reinterpret_borrow<py::array>(w_hh);
  const int64_t G = num_gates(cell);
  if (wh.ndim() != 2 || wh.shape(0) % G != 0 || wh.shape(0) == 0 || wh.shape(1) != wh.shape(0) / G)
    throw ValueErr("weight_hh must have shape (G*H, H) with G = " + std::to_string(G) +
                   " gates, got " + shape_of(wh));
  s.H = wh.shape(1);
  (void)w_ih;
  return s;
}

template <typename T>
py::array_t<T> empty(std::vector<py::ssize_t> shape) {
  return py::array_t<T>(shape);
}

template <typename T>
int64_t packed_size(const LayerShape& s) {
  if constexpr (std::is_same<T, float>::value) return active_table().packed_size_f32(s);
  else return active_table().packed_size_f64(s);
}

// The forward's packed weights for one layer-direction (ForwardArgs::packed).
template <typename T>
py::array_t<T> pack_t(const LayerShape& s, const py::handle& w_ih, const py::handle& w_hh,
                      const py::handle& b_ih, const py::handle& b_hh) {
  const int64_t GH = num_gates(s.cell) * s.H;
  const T* wi = checked<T>(w_ih, "weight_ih", {GH, s.I}, false);
  const T* wh = checked<T>(w_hh, "weight_hh", {GH, s.H}, false);
  const T* bi = checked<T>(b_ih, "bias_ih", {GH}, true);
  const T* bh = checked<T>(b_hh, "bias_hh", {GH}, true);
  auto out = empty<T>({py::ssize_t(packed_size<T>(s))});
  T* dst = out.mutable_data();
  {
    py::gil_scoped_release release;
    if constexpr (std::is_same<T, float>::value) active_table().pack_f32(s, wi, wh, bi, bh, dst);
    else active_table().pack_f64(s, wi, wh, bi, bh, dst);
  }
  return out;
}

// One forward call, validated and with its outputs allocated (GIL held); run() runs it.
// x_prev: the y of the previous call of a chain, read instead of x (which is then None).
template <typename T>
struct ForwardCall {
  ForwardArgs<T> a{};
  py::object y, h_n, c_n = py::none(), ws = py::none();
  py::tuple result() const { return py::make_tuple(y, h_n, c_n, ws); }
};

template <typename T>
ForwardCall<T> prepare_forward(const LayerShape& s, const py::handle& x, const py::handle& w_ih,
                               const py::handle& w_hh, const py::handle& b_ih, const py::handle& b_hh,
                               const py::handle& lengths, const py::handle& h0, const py::handle& c0,
                               bool training, const T* x_prev = nullptr,
                               const py::handle& packed = py::none()) {
  const int64_t G = num_gates(s.cell), T_ = s.T, B = s.B, I = s.I, H = s.H;
  const bool lstm = s.cell == CellKind::LSTM;
  ForwardCall<T> call;
  ForwardArgs<T>& a = call.a;
  a.s = s;
  a.x = x_prev ? x_prev : checked<T>(x, "x", {T_, B, I}, false);
  a.w_ih = checked<T>(w_ih, "weight_ih", {G * H, I}, false);
  a.w_hh = checked<T>(w_hh, "weight_hh", {G * H, H}, false);
  a.b_ih = checked<T>(b_ih, "bias_ih", {G * H}, true);
  a.b_hh = checked<T>(b_hh, "bias_hh", {G * H}, true);
  a.lengths = checked_lengths(lengths, T_, B);
  a.h0 = checked<T>(h0, "h0", {B, H}, true);
  if (!lstm && !c0.is_none()) throw ValueErr("c0 is only for LSTM cells");
  a.c0 = lstm ? checked<T>(c0, "c0", {B, H}, true) : nullptr;
  a.packed = checked<T>(packed, "packed", {packed_size<T>(s)}, true);
  auto y = empty<T>({T_, B, H});
  auto h_n = empty<T>({B, H});
  a.y = y.mutable_data();
  a.h_n = h_n.mutable_data();
  call.y = y;
  call.h_n = h_n;
  if (lstm) {
    auto c = empty<T>({B, H});
    a.c_n = c.mutable_data();
    call.c_n = c;
  }
  if (training) {
    auto w = empty<T>({py::ssize_t(workspace_layout(s).total)});
    a.ws = w.mutable_data();
    call.ws = w;
  }
  a.nthreads = num_threads();
  return call;
}

template <typename T>
py::tuple forward_t(const LayerShape& s, const py::handle& x, const py::handle& w_ih,
                    const py::handle& w_hh, const py::handle& b_ih, const py::handle& b_hh,
                    const py::handle& lengths, const py::handle& h0, const py::handle& c0,
                    bool training, const py::handle& packed) {
  ForwardCall<T> call =
      prepare_forward<T>(s, x, w_ih, w_hh, b_ih, b_hh, lengths, h0, c0, training, nullptr, packed);
  {
    py::gil_scoped_release release;
    if constexpr (std::is_same<T, float>::value) active_table().forward_f32(call.a);
    else active_table().forward_f64(call.a);
  }
  return call.result();
}

// One backward call, validated and with its outputs allocated (GIL held).
template <typename T>
struct BackwardCall {
  BackwardArgs<T> a{};
  py::tuple out;
};

template <typename T>
BackwardCall<T> prepare_backward(const LayerShape& s, const py::handle& x, const py::handle& w_ih,
                                 const py::handle& w_hh, const py::handle& lengths,
                                 const py::handle& ws, const py::handle& dy,
                                 const py::handle& dh_n, const py::handle& dc_n, bool has_bias) {
  const int64_t G = num_gates(s.cell), T_ = s.T, B = s.B, I = s.I, H = s.H;
  const bool lstm = s.cell == CellKind::LSTM;
  BackwardCall<T> call;
  BackwardArgs<T>& a = call.a;
  a.s = s;
  a.x = checked<T>(x, "x", {T_, B, I}, false);
  a.w_ih = checked<T>(w_ih, "weight_ih", {G * H, I}, false);
  a.w_hh = checked<T>(w_hh, "weight_hh", {G * H, H}, false);
  a.lengths = checked_lengths(lengths, T_, B);
  a.ws = const_cast<T*>(checked<T>(ws, "workspace", {workspace_layout(s).total}, false, true));
  a.dy = checked<T>(dy, "dy", {T_, B, H}, true);
  a.dh_n = checked<T>(dh_n, "dh_n", {B, H}, true);
  if (!lstm && !dc_n.is_none()) throw ValueErr("dc_n is only for LSTM cells");
  a.dc_n = lstm ? checked<T>(dc_n, "dc_n", {B, H}, true) : nullptr;
  auto dx = empty<T>({T_, B, I});
  auto dh0 = empty<T>({B, H});
  auto dw_ih = empty<T>({G * H, I});
  auto dw_hh = empty<T>({G * H, H});
  auto norm_h = empty<T>({T_});
  py::object dc0 = py::none(), db_ih = py::none(), db_hh = py::none(), norm_c = py::none();
  a.dx = dx.mutable_data();
  a.dh0 = dh0.mutable_data();
  a.dw_ih = dw_ih.mutable_data();
  a.dw_hh = dw_hh.mutable_data();
  a.norm_h = norm_h.mutable_data();
  if (lstm) {
    auto c = empty<T>({B, H});
    auto n = empty<T>({T_});
    a.dc0 = c.mutable_data();
    a.norm_c = n.mutable_data();
    dc0 = c;
    norm_c = n;
  }
  if (has_bias) {
    auto bi = empty<T>({G * H});
    auto bh = empty<T>({G * H});
    a.db_ih = bi.mutable_data();
    a.db_hh = bh.mutable_data();
    db_ih = bi;
    db_hh = bh;
  }
  a.nthreads = num_threads();
  call.out = py::make_tuple(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, norm_h, norm_c);
  return call;
}

template <typename T>
py::tuple backward_t(const LayerShape& s, const py::handle& x, const py::handle& w_ih,
                     const py::handle& w_hh, const py::handle& lengths, const py::handle& ws,
                     const py::handle& dy, const py::handle& dh_n, const py::handle& dc_n,
                     bool has_bias) {
  BackwardCall<T> call = prepare_backward<T>(s, x, w_ih, w_hh, lengths, ws, dy, dh_n, dc_n, has_bias);
  {
    py::gil_scoped_release release;
    if constexpr (std::is_same<T, float>::value) active_table().backward_f32(call.a);
    else active_table().backward_f64(call.a);
  }
  return call.out;
}

template <typename T>
py::array_t<T> gemm_t(const py::handle& A, const py::handle& Bm) {
  const py::array a = py::reinterpret_borrow<py::array>(A), b = py::reinterpret_borrow<py::array>(Bm);
  if (a.ndim() != 2 || b.ndim() != 2 || a.shape(1) != b.shape(0) || a.shape(0) < 1 || a.shape(1) < 1 || b.shape(1) < 1)
    throw ValueErr("gemm needs A (M, K) and B (K, N) with M, K, N >= 1, got " + shape_of(a) + " and " + shape_of(b));
  const int64_t M = a.shape(0), K = a.shape(1), N = b.shape(1);
  const T* pa = checked<T>(A, "A", {M, K}, false);
  const T* pb = checked<T>(Bm, "B", {K, N}, false);
  auto c = empty<T>({M, N});
  T* pc = c.mutable_data();
  const int nt = num_threads();
  {
    py::gil_scoped_release release;
    if constexpr (std::is_same<T, float>::value) active_table().gemm_f32(M, N, K, pa, pb, pc, nt);
    else active_table().gemm_f64(M, N, K, pa, pb, pc, nt);
  }
  return c;
}

// ---- several calls at once (forward_group / backward_group) ----
// Each call is the argument tuple of forward / backward. In a chained forward group, call k's
// x may be None: it then reads call k-1's y (same T and B, I = that call's H).
template <typename T>
py::list forward_group_t(const py::list& calls, bool chained) {
  std::vector<ForwardCall<T>> prepared;
  prepared.reserve(calls.size());
  for (size_t k = 0; k < calls.size(); ++k) {
    const py::tuple c = calls[k].cast<py::tuple>();
    if (c.size() != 13 && c.size() != 14) throw ValueErr("each call is the arguments of forward");
    const CellKind kind = parse_cell(c[0].cast<std::string>(), c[1].cast<std::string>());
    const T* x_prev = nullptr;
    LayerShape s{};
    if (c[4].is_none()) {
      if (!chained || k == 0) throw TypeErr("x is required, got None (only later calls of a chain read the previous y)");
      const LayerShape& p = prepared.back().a.s;
      x_prev = prepared.back().a.y;
      s = shape_from(kind, c[2].cast<bool>(), c[3].cast<bool>(),
                     py::array_t<T>({p.T, p.B, p.H}), c[5], c[6]);  // (shape only)
    } else {
      if (dtype_of_x(c[4]) != (std::is_same<T, float>::value ? DT::F32 : DT::F64))
        throw TypeErr("all calls of a group must share one dtype");
      s = shape_from(kind, c[2].cast<bool>(), c[3].cast<bool>(), c[4], c[5], c[6]);
    }
    prepared.push_back(prepare_forward<T>(s, c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11],
                                          c[12].cast<bool>(), x_prev,
                                          c.size() > 13 ? py::handle(c[13]) : py::handle(py::none())));
  }
  std::vector<ForwardArgs<T>> args;
  for (auto& p : prepared) args.push_back(p.a);
  const int nt = num_threads();
  {
    py::gil_scoped_release release;
    if constexpr (std::is_same<T, float>::value) active_table().forward_group_f32(args.data(), int(args.size()), chained, nt);
    else active_table().forward_group_f64(args.data(), int(args.size()), chained, nt);
  }
  py::list out;
  for (auto& p : prepared) out.append(p.result());
  return out;
}

template <typename T>
py::list backward_group_t(const py::list& calls) {
  std::vector<BackwardCall<T>> prepared;
  for (size_t k = 0; k < calls.size(); ++k) {
    const py::tuple c = calls[k].cast<py::tuple>();
    if (c.size() != 13) throw ValueErr("each call is the 13 arguments of backward");
    const CellKind kind = parse_cell(c[0].cast<std::string>(), c[1].cast<std::string>());
    if (dtype_of_x(c[4]) != (std::is_same<T, float>::value ? DT::F32 : DT::F64))
      throw TypeErr("all calls of a group must share one dtype");
    const LayerShape s = shape_from(kind, c[2].cast<bool>(), c[3].cast<bool>(), c[4], c[5], c[6]);
    for (auto& p : prepared)
      if (p.a.ws == checked<T>(c[8], "workspace", {workspace_layout(s).total}, false, true))
        throw ValueErr("a workspace appears twice in one backward group");
    prepared.push_back(prepare_backward<T>(s, c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11],
                                           c[12].cast<bool>()));
  }
  std::vector<BackwardArgs<T>> args;
  for (auto& p : prepared) args.push_back(p.a);
  const int nt = num_threads();
  {
    py::gil_scoped_release release;
    if constexpr (std::is_same<T, float>::value) active_table().backward_group_f32(args.data(), int(args.size()), nt);
    else active_table().backward_group_f64(args.data(), int(args.size()), nt);
  }
  py::list out;
  for (auto& p : prepared) out.append(p.out);
  return out;
}

DT group_dtype(const py::list& calls) {
  if (calls.size() == 0) throw ValueErr("a group needs at least one call");
  const py::tuple c = calls[0].cast<py::tuple>();
  if (c.size() < 5) throw ValueErr("each call is the 13 arguments of forward/backward");
  if (c[4].is_none()) throw TypeErr("x is required in the first call of a group, got None");
  return dtype_of_x(c[4]);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "pyrnn's C++ kernels: one recurrent layer-direction, forward and BPTT (use pyrnn.engine)";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const TypeErr& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const ValueErr& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  if (const char* want = std::getenv("PYRNN_ISA")) {
    if (*want && !select_isa(want))
      throw std::runtime_error(std::string("PYRNN_ISA=") + want +
                               " is not available on this CPU/build; use baseline, avx2 or avx512 "
                               "(see pyrnn.show_config())");
  }

  m.def(
      "forward",
      [](const std::string& cell, const std::string& nonlinearity, bool reset_after, bool reverse,
         py::handle x, py::handle w_ih, py::handle w_hh, py::handle b_ih, py::handle b_hh,
         py::handle lengths, py::handle h0, py::handle c0, bool training, py::handle packed) {
        const CellKind kind = parse_cell(cell, nonlinearity);
        const DT dt = dtype_of_x(x);
        const LayerShape s = shape_from(kind, reset_after, reverse, x, w_ih, w_hh);
        return dt == DT::F32 ? forward_t<float>(s, x, w_ih, w_hh, b_ih, b_hh, lengths, h0, c0, training, packed)
                             : forward_t<double>(s, x, w_ih, w_hh, b_ih, b_hh, lengths, h0, c0, training, packed);
      },
      py::arg("cell"), py::arg("nonlinearity"), py::arg("reset_after"), py::arg("reverse"), py::arg("x"),
      py::arg("weight_ih"), py::arg("weight_hh"), py::arg("bias_ih"), py::arg("bias_hh"),
      py::arg("lengths"), py::arg("h0"), py::arg("c0"), py::arg("training"), py::arg("packed") = py::none(),
      "Forward of one layer-direction. Returns (y (T,B,H), h_n (B,H), c_n (B,H) or None, workspace or None). "
      "packed: pack()'s output for these weights and biases (reused across calls), or None.");

  m.def(
      "pack",
      [](const std::string& cell, const std::string& nonlinearity, bool reset_after, py::handle w_ih,
         py::handle w_hh, py::handle b_ih, py::handle b_hh) -> py::object {
        const CellKind kind = parse_cell(cell, nonlinearity);
        if (!py::isinstance<py::array>(w_ih) || py::reinterpret_borrow<py::array>(w_ih).ndim() != 2)
          throw TypeErr("weight_ih must be a 2-D numpy array (G*H, I)");
        const py::array wi = py::reinterpret_borrow<py::array>(w_ih);
        const py::array_t<float> x_shape({py::ssize_t(1), py::ssize_t(1), wi.shape(1)});  // (shape only)
        LayerShape s = shape_from(kind, reset_after, false, x_shape, w_ih, w_hh);
        return dtype_of_x(w_ih) == DT::F32 ? py::object(pack_t<float>(s, w_ih, w_hh, b_ih, b_hh))
                                           : py::object(pack_t<double>(s, w_ih, w_hh, b_ih, b_hh));
      },
      py::arg("cell"), py::arg("nonlinearity"), py::arg("reset_after"), py::arg("weight_ih"),
      py::arg("weight_hh"), py::arg("bias_ih"), py::arg("bias_hh"),
      "The forward's packed weights and folded biases for one layer-direction (this ISA level's "
      "layout; the same for both directions), to pass as forward's `packed` while the weights "
      "do not change.");

  m.def(
      "backward",
      [](const std::string& cell, const std::string& nonlinearity, bool reset_after, bool reverse,
         py::handle x, py::handle w_ih, py::handle w_hh, py::handle lengths, py::handle ws,
         py::handle dy, py::handle dh_n, py::handle dc_n, bool has_bias) {
        const CellKind kind = parse_cell(cell, nonlinearity);
        const DT dt = dtype_of_x(x);
        const LayerShape s = shape_from(kind, reset_after, reverse, x, w_ih, w_hh);
        return dt == DT::F32 ? backward_t<float>(s, x, w_ih, w_hh, lengths, ws, dy, dh_n, dc_n, has_bias)
                             : backward_t<double>(s, x, w_ih, w_hh, lengths, ws, dy, dh_n, dc_n, has_bias);
      },
      py::arg("cell"), py::arg("nonlinearity"), py::arg("reset_after"), py::arg("reverse"), py::arg("x"),
      py::arg("weight_ih"), py::arg("weight_hh"), py::arg("lengths"), py::arg("workspace"), py::arg("dy"),
      py::arg("dh_n"), py::arg("dc_n"), py::arg("has_bias"),
      "BPTT of one layer-direction. Returns (dx, dh0, dc0, dweight_ih, dweight_hh, dbias_ih, dbias_hh, "
      "grad_norm_h, grad_norm_c).");

  m.def("forward_group", [](const py::list& calls, bool chained) -> py::list {
    return group_dtype(calls) == DT::F32 ? forward_group_t<float>(calls, chained)
                                          : forward_group_t<double>(calls, chained);
  }, py::arg("calls"), py::arg("chained"),
     "Several forward calls (tuples of forward's arguments) at once, each on one thread: "
     "concurrently, or as a pipeline when chained (call k's x None = call k-1's y). "
     "Returns the list of their results, bitwise those of the calls one by one.");
  m.def("backward_group", [](const py::list& calls) -> py::list {
    return group_dtype(calls) == DT::F32 ? backward_group_t<float>(calls) : backward_group_t<double>(calls);
  }, py::arg("calls"), "Several independent backward calls at once, each on one thread.");

  m.def("gemm", [](py::handle A, py::handle B) -> py::object {
    return dtype_of_x(A) == DT::F32 ? py::object(gemm_t<float>(A, B)) : py::object(gemm_t<double>(A, B));
  }, py::arg("A"), py::arg("B"), "C = A @ B with pyrnn's own GEMM kernel (float32/float64, C-contiguous).");

  m.def("activation", [](const std::string& name, py::array_t<float, py::array::c_style | py::array::forcecast> x) {
    MathFn fn;
    if (name == "exp") fn = MathFn::EXP;
    else if (name == "sigmoid") fn = MathFn::SIGMOID;
    else if (name == "tanh") fn = MathFn::TANH;
    else throw ValueErr("activation must be 'exp', 'sigmoid' or 'tanh', got '" + name + "'");
    py::array_t<float> y(x.request().shape);
    const float* px = x.data();
    float* py_ = y.mutable_data();
    const int64_t n = x.size();
    {
      py::gil_scoped_release release;
      active_table().math_f32(fn, px, py_, n);
    }
    return y;
  }, py::arg("name"), py::arg("x"), "The float32 SIMD activation the kernels use, elementwise.");

  m.def("fma_peak_gflops", [](int nthreads) {
    if (nthreads < 1) throw ValueErr("nthreads must be >= 1");
    py::gil_scoped_release release;
    return active_table().fma_peak_gflops(nthreads);
  }, py::arg("nthreads"), "Measured float32 FMA throughput (GFLOP/s) of the active ISA level.");

  m.def("set_num_threads", [](int n) {
    if (n < 1) throw ValueErr("number of threads must be >= 1, got " + std::to_string(n));
    g_num_threads = n;
  }, py::arg("n"));
  m.def("get_num_threads", []() { return num_threads(); });

  m.def("config", []() {
    py::dict d;
    d["version"] = PYRNN_VERSION;
    d["isa"] = active_table().isa;
    d["vector_bits"] = active_table().vector_bits;
    py::list sup;
    for (const char* n : {"baseline", "avx2", "avx512"})
      if (isa_supported(n)) sup.append(n);
    d["isa_supported"] = sup;
    d["best_isa"] = best_isa();
#if defined(__clang__)
    d["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    d["compiler"] = std::string("gcc ") + __VERSION__;
#else
    d["compiler"] = "unknown";
#endif
    d["openmp"] = _OPENMP;
    d["num_threads"] = num_threads();
    d["omp_max_threads"] = omp_get_max_threads();
    d["cxx_flags"] = PYRNN_CXX_FLAGS;
    d["isa_flags"] = active_table().flags;
    const CacheInfo& c = cache_info();
    py::dict caches;
    caches["l1d"] = c.l1d;
    caches["l2"] = c.l2;
    caches["l3"] = c.l3;
    caches["source"] = c.source;
    d["caches"] = caches;
    const Tuning tn = tuning(c);
    py::dict tun;
    tun["step_tile_bytes"] = tn.step_tile_bytes;
    tun["step_slice_bytes"] = tn.step_slice_bytes;
    tun["row_split_bytes"] = tn.row_split_bytes;
    tun["l2_fit_bytes"] = tn.l2_fit_bytes;
    d["tuning"] = tun;
    return d;
  });

  // ---- plans (plan.cpp): how a call of this shape would share its steps ----
  m.def("plan", [](const std::string& cell, const std::string& nonlinearity, int64_t T, int64_t B,
                   int64_t I, int64_t H, int nthreads, int itemsize) {
    if (T < 1 || B < 1 || I < 1 || H < 1) throw ValueErr("T, B, I and H must be >= 1");
    if (itemsize != 4 && itemsize != 8) throw ValueErr("itemsize must be 4 or 8");
    if (nthreads < 1) throw ValueErr("nthreads must be >= 1");
    const LayerShape s{parse_cell(cell, nonlinearity), true, false, T, B, I, H};
    const int64_t GH = num_gates(s.cell) * H;
    const Tuning tn = tuning(cache_info());
    const ThreadPlan f = plan_threads(nthreads, s, GH * (I + H) * itemsize, GH * H * itemsize, tn);
    const ThreadPlan b = plan_threads(nthreads, s, GH * H * itemsize, 0, tn);
    auto as_dict = [](const ThreadPlan& p) {
      py::dict d;
      d["threads"] = p.nthreads;
      d["split"] = p.nthreads == 1 ? "serial" : (p.by_rows ? "batch rows" : "hidden units");
      return d;
    };
    py::dict d;
    d["forward"] = as_dict(f);
    d["backward"] = as_dict(b);
    d["group_layers"] = group_layers(nthreads, 2, s, GH * (I + H) * itemsize, tn);
    return d;
  }, py::arg("cell"), py::arg("nonlinearity"), py::arg("T"), py::arg("B"), py::arg("I"),
     py::arg("H"), py::arg("nthreads"), py::arg("itemsize"),
     "How a forward/backward call of this shape would share its steps among nthreads threads.");
}
