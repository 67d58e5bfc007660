// bindings.cpp — the narrow boundary. Validates every argument of every function (type,
// dtype, contiguity, alignment, shape, lengths, thread counts) with a message that says what
// was expected, checks the memory a call needs before allocating it, allocates the outputs,
// releases the GIL for the whole kernel call (which a Ctrl-C ends early, see interrupt.h).
// C++ exceptions become Python ValueError / TypeError / MemoryError here and nowhere else.
#include <omp.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "engine.h"
#include "interrupt.h"
#include "memory.h"

namespace py = pybind11;
using namespace pyrnn;

namespace {

struct TypeErr : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct ValueErr : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct MemErr : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- threads ------------------------------------------------------------------------------
// The count a call uses, first that applies: the call's own (an estimator's n_threads, passed
// in), pyrnn.set_num_threads, then omp_get_max_threads() read in the calling thread at call
// time, which is what threadpoolctl.threadpool_limits sets (omp_set_num_threads on this
// libgomp) and otherwise OMP_NUM_THREADS or the number of cores. Nothing here writes to the
// OpenMP runtime's settings.
std::atomic<int> g_num_threads{0};  // pyrnn.set_num_threads; 0: not set

// The most threads a call may ask for: what the OpenMP runtime allows (OMP_THREAD_LIMIT),
// and at most 8 per core (64 at least): far past any use, far below what makes the runtime
// fail to start its threads.
int max_threads() {
  const int procs = std::max(1, omp_get_num_procs());
  return std::max(1, std::min(omp_get_thread_limit(), std::max(64, 8 * procs)));
}

int checked_threads(long long n, const char* what) {
  if (n < 1 || n > max_threads())
    throw ValueErr(std::string(what) + " must be >= 1 and at most " +
                   std::to_string(max_threads()) + " (8 per core, OMP_THREAD_LIMIT), got " +
                   std::to_string(n));
  return int(n);
}

// requested: 0 for "not given".
int resolve_threads(long long requested) {
  if (requested != 0) return checked_threads(requested, "n_threads");
  const int set = g_num_threads.load();
  if (set > 0) return set;
  return std::max(1, std::min(omp_get_max_threads(), max_threads()));
}

unsigned long g_main_thread = 0;  // Python's main thread (signals are handled there only)

// Runs one kernel call with the GIL released, stopping it early on Ctrl-C.
template <typename Fn>
void run_kernel(Fn&& kernel) {
  InterruptWatch watch(g_main_thread);
  // A Ctrl-C that came before the watch was in place (while the call was being checked) is
  // pending in Python, unseen by the kernel: raise it now, not after the whole kernel call.
  if (watch.stop_flag() && PyErr_CheckSignals() != 0) throw py::error_already_set();
  {
    py::gil_scoped_release release;
    kernel(watch.stop_flag());
  }
  watch.raise_if_interrupted();
}

// ---- memory -------------------------------------------------------------------------------
// Calls that allocate more than this ask first whether the machine has it (a /proc read).
constexpr int64_t kCheckMemoryAbove = int64_t(64) << 20;

void check_memory(int64_t nbytes, const std::string& what) {
  if (nbytes < kCheckMemoryAbove) return;
  const int64_t avail = available_memory();
  if (nbytes > avail)
    throw MemErr(what + " needs " + human_bytes(double(nbytes)) + " (" + std::to_string(nbytes) +
                 " bytes) but only " + human_bytes(double(avail)) +
                 " is available; lower batch_size, or train on shorter windows of the sequences "
                 "(tbptt for RNNLanguageModel)");
}

// ---- the training workspace ------------------------------------------------------------------
// What forward(training=True) returns: the buffer BPTT reads, consumed by exactly one backward.
// The flag is exchanged before the kernel runs, so two threads cannot both use it.
struct CoreWorkspace {
  py::array buf;
  LayerShape s;  // the layer-direction that made it: backward must be given the same
  std::atomic<bool> consumed{false};
};

bool same_layer(const LayerShape& a, const LayerShape& b) {
  return a.cell == b.cell && a.reset_after == b.reset_after && a.reverse == b.reverse &&
         a.T == b.T && a.B == b.B && a.I == b.I && a.H == b.H;
}

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

DT dtype_of_x(const py::handle& x, const char* name = "x") {
  if (!py::isinstance<py::array>(x)) throw TypeErr(std::string(name) + " must be a numpy array");
  const py::array a = py::reinterpret_borrow<py::array>(x);
  if (a.dtype().equal(py::dtype::of<float>())) return DT::F32;
  if (a.dtype().equal(py::dtype::of<double>())) return DT::F64;
  throw TypeErr(std::string(name) + " must have dtype float32 or float64, got " +
                std::string(py::str(a.dtype())));
}

// Arrays made by a call (aligned copies), kept alive until it returns.
using Keep = std::vector<py::array>;

// An aligned copy of a C-contiguous array whose data is not aligned for T (numpy allows any
// byte offset): the kernels read elements as T, and vectors of T, from T-aligned addresses.
template <typename T>
const T* aligned(const py::array& a, Keep& keep) {
  if (reinterpret_cast<uintptr_t>(a.data()) % alignof(T) == 0)
    return static_cast<const T*>(a.data());
  py::array_t<T> copy(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()));
  std::memcpy(copy.mutable_data(), a.data(), sizeof(T) * size_t(a.size()));
  keep.push_back(copy);
  return copy.data();
}

std::string type_name(const py::handle& h) {
  return py::str(py::type::of(h).attr("__name__"));
}

// One array argument as given: numpy, dtype T, exact shape, C-contiguous.
template <typename T>
py::array checked_array(const py::handle& h, const std::string& name,
                        const std::vector<int64_t>& shape) {
  if (!py::isinstance<py::array>(h))
    throw TypeErr(name + " must be a numpy array, got " + type_name(h));
  py::array a = py::reinterpret_borrow<py::array>(h);
  if (!a.dtype().equal(py::dtype::of<T>()))
    throw TypeErr(name + " must have dtype " + std::string(py::str(py::dtype::of<T>())) +
                  " like x, got " + std::string(py::str(a.dtype())));
  const bool shape_ok = a.ndim() == py::ssize_t(shape.size()) &&
                        std::equal(shape.begin(), shape.end(), a.shape(),
                                   [](int64_t e, py::ssize_t g) { return e == int64_t(g); });
  if (!shape_ok)
    throw ValueErr(name + " must have shape " + shape_str(shape) + ", got " + shape_of(a));
  if (!(a.flags() & py::array::c_style))
    throw ValueErr(name + " must be C-contiguous (use numpy.ascontiguousarray)");
  return a;
}

// Checks one array argument the kernels read (checked_array); None allowed if optional.
template <typename T>
const T* checked(const py::handle& h, const char* name, const std::vector<int64_t>& shape,
                 bool optional, Keep& keep) {
  if (h.is_none()) {
    if (optional) return nullptr;
    throw TypeErr(std::string(name) + " is required, got None");
  }
  return aligned<T>(checked_array<T>(h, name, shape), keep);
}

// x as the kernels may read it: where a sequence's padding (steps at or past its length) holds
// inf or NaN, a copy with those rows zeroed. The kernels never use padded rows' results, but
// the weight gradient multiplies every row of x by its gate gradients (0 for padding), and
// 0 * inf is NaN. Finite padding gives exact zeros there, so it is used as it is.
template <typename T>
const T* x_without_bad_padding(const T* x, const int64_t* lengths, const LayerShape& s,
                               Keep& keep) {
  if (!lengths) return x;
  auto padded_rows = [&](auto&& row) {
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t t = lengths[b]; t < s.T; ++t) row(t * s.B + b);
  };
  bool bad = false;
  padded_rows([&](int64_t r) {
    for (int64_t i = 0; i < s.I && !bad; ++i) bad = !std::isfinite(x[r * s.I + i]);
  });
  if (!bad) return x;
  py::array_t<T> copy({s.T, s.B, s.I});
  T* c = copy.mutable_data();
  std::memcpy(c, x, sizeof(T) * size_t(s.T * s.B * s.I));
  padded_rows([&](int64_t r) { std::fill(c + r * s.I, c + (r + 1) * s.I, T(0)); });
  keep.push_back(copy);
  return c;
}

const int64_t* checked_lengths(const py::handle& h, int64_t T, int64_t B, Keep& keep) {
  if (h.is_none()) return nullptr;
  if (!py::isinstance<py::array>(h)) throw TypeErr("lengths must be a numpy array of int64");
  py::array a = py::reinterpret_borrow<py::array>(h);
  if (!a.dtype().equal(py::dtype::of<int64_t>()))
    throw TypeErr("lengths must have dtype int64, got " + std::string(py::str(a.dtype())));
  if (a.ndim() != 1 || a.shape(0) != B)
    throw ValueErr("lengths must have shape (" + std::to_string(B) + ",) (one per sequence), got " +
                   shape_of(a));
  if (!(a.flags() & py::array::c_style)) throw ValueErr("lengths must be C-contiguous");
  const int64_t* p = aligned<int64_t>(a, keep);
  for (int64_t b = 0; b < B; ++b)
    if (p[b] < 1 || p[b] > T)
      throw ValueErr("lengths must be in [1, T=" + std::to_string(T) + "], got lengths[" +
                     std::to_string(b) + "] = " + std::to_string(p[b]));
  return p;
}

// The layer's shape from x's dimensions (T, B, I) and weight_hh (H); weight_ih is checked
// against it later, with the other arrays.
LayerShape shape_from(CellKind cell, bool reset_after, bool reverse, int64_t T, int64_t B,
                      int64_t I, const py::handle& w_hh) {
  LayerShape s{cell, reset_after, reverse, T, B, I, 0};
  if (!py::isinstance<py::array>(w_hh))
    throw TypeErr("weight_hh must be a numpy array, got " + type_name(w_hh));
  const py::array wh = py::reinterpret_borrow<py::array>(w_hh);
  const int64_t G = num_gates(cell);
  if (wh.ndim() != 2 || wh.shape(0) % G != 0 || wh.shape(0) == 0 || wh.shape(1) != wh.shape(0) / G)
    throw ValueErr("weight_hh must have shape (G*H, H) with G = " + std::to_string(G) +
                   " gates, got " + shape_of(wh));
  s.H = wh.shape(1);
  return s;
}

LayerShape shape_from(CellKind cell, bool reset_after, bool reverse, const py::handle& x,
                      const py::handle& w_hh) {
  const py::array xa = py::reinterpret_borrow<py::array>(x);
  if (xa.ndim() != 3) throw ValueErr("x must have shape (T, B, I), got " + shape_of(xa));
  if (xa.shape(0) < 1 || xa.shape(1) < 1 || xa.shape(2) < 1)
    throw ValueErr("x must have shape (T, B, I) with T, B, I >= 1 (no empty sequences), got " +
                   shape_of(xa));
  return shape_from(cell, reset_after, reverse, xa.shape(0), xa.shape(1), xa.shape(2), w_hh);
}

// Every array the kernels write (outputs, workspaces, packed weights) starts on a 64-byte
// boundary: a view into a numpy array a line longer, which owns the memory. numpy's own large
// arrays start 16 bytes past one (glibc's mmap chunks), so every other 32-byte vector access
// split across two cache lines, and a unit-split step's two threads shared the line at each
// boundary between their units: aligning the workspace took the medium GRU's training
// forward at 2 threads to x0.85 the time, LSTM's to x0.90 (Zen 3, AVX2).
template <typename T>
py::array_t<T> empty(std::vector<py::ssize_t> shape) {
  constexpr py::ssize_t kAlign = 64, kPad = kAlign / py::ssize_t(sizeof(T));
  py::ssize_t n = 1;
  for (const py::ssize_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > PTRDIFF_MAX / 2 / py::ssize_t(sizeof(T)))
      throw MemErr("an output of shape " + shape_str({shape.begin(), shape.end()}) +
                   " is too large to allocate");
  py::array_t<T> base(n + kPad);
  const auto addr = reinterpret_cast<uintptr_t>(base.mutable_data());
  T* const p = reinterpret_cast<T*>((addr + kAlign - 1) / kAlign * kAlign);
  return py::array_t<T>(shape, p, base);
}

// An output array of `shape` when `want`, with its data in `ptr`; else None (ptr untouched,
// nullptr in the args: the kernel skips that output).
template <typename T>
py::object optional_output(bool want, std::vector<py::ssize_t> shape, T*& ptr) {
  if (!want) return py::none();
  auto a = empty<T>(std::move(shape));
  ptr = a.mutable_data();
  return std::move(a);
}

// An array a kernel adds into in place (backward's `grads`): numpy, dtype T, exact shape,
// C-contiguous, writeable and aligned, since no copy can stand in for it.
template <typename T>
T* checked_inout(const py::handle& h, const std::string& name, const std::vector<int64_t>& shape) {
  py::array a = checked_array<T>(h, name, shape);
  if (!a.writeable()) throw ValueErr(name + " must be writeable");
  if (reinterpret_cast<uintptr_t>(a.data()) % alignof(T) != 0)
    throw ValueErr(name + " must be aligned to its dtype");
  return static_cast<T*>(a.mutable_data());
}

template <typename T>
int64_t packed_size(const LayerShape& s) {
  if constexpr (std::is_same<T, float>::value)
    return active_table().packed_size_f32(s);
  else
    return active_table().packed_size_f64(s);
}

// pack()'s array is the kernels' packed weights followed by a signature of what they were
// packed for (8 bytes, never read by the kernels): the cell, GRU's formulation, I, H, which
// biases, the dtype and the ISA level, whose layout it is. forward checks it, so packed weights
// of another layer (even of the same size) are an error, not a silent wrong result. Weights
// changed in place after packing cannot be seen here (pack again; networks do).
constexpr int64_t kSignatureBytes = 8;

uint64_t pack_signature(const LayerShape& s, size_t itemsize, bool has_b_ih, bool has_b_hh) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the fields
  auto mix = [&h](uint64_t v) {
    for (int i = 0; i < 8; ++i) h = (h ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ull;
  };
  mix(uint64_t(s.cell));
  mix(s.cell == CellKind::GRU && s.reset_after);
  mix(uint64_t(s.I));
  mix(uint64_t(s.H));
  mix(itemsize);
  mix(uint64_t(has_b_ih) | uint64_t(has_b_hh) << 1);
  for (const char* p = active_table().isa; *p; ++p) mix(uint64_t(*p));
  return h;
}

template <typename T>
int64_t packed_elements(const LayerShape& s) {
  return packed_size<T>(s) + kSignatureBytes / int64_t(sizeof(T));
}

// The forward's packed weights for one layer-direction (ForwardArgs::packed).
template <typename T>
py::array_t<T> pack_t(const LayerShape& s, const py::handle& w_ih, const py::handle& w_hh,
                      const py::handle& b_ih, const py::handle& b_hh) {
  const int64_t GH = num_gates(s.cell) * s.H;
  Keep keep;
  const T* wi = checked<T>(w_ih, "weight_ih", {GH, s.I}, false, keep);
  const T* wh = checked<T>(w_hh, "weight_hh", {GH, s.H}, false, keep);
  const T* bi = checked<T>(b_ih, "bias_ih", {GH}, true, keep);
  const T* bh = checked<T>(b_hh, "bias_hh", {GH}, true, keep);
  auto out = empty<T>({py::ssize_t(packed_elements<T>(s))});
  T* dst = out.mutable_data();
  const uint64_t sig = pack_signature(s, sizeof(T), bi != nullptr, bh != nullptr);
  std::memcpy(dst + packed_size<T>(s), &sig, kSignatureBytes);
  {
    py::gil_scoped_release release;
    if constexpr (std::is_same<T, float>::value)
      active_table().pack_f32(s, wi, wh, bi, bh, dst);
    else
      active_table().pack_f64(s, wi, wh, bi, bh, dst);
  }
  return out;
}

// The workspace whose buffer a training forward takes over (`reuse`, when backward has consumed
// it and its buffer has this dtype and at least n elements), or nullptr: allocate a new one.
// A training loop hands each step the previous step's workspace. A new buffer per step
// page-faulted on its first touch whenever the allocator had given the last one back to the
// system: ~10 MiB a step for a bidirectional LSTM at T=150, B=32, H=64, a quarter of its fit.
template <typename T>
CoreWorkspace* reusable_workspace(const py::handle& reuse, int64_t n) {
  if (reuse.is_none()) return nullptr;
  if (!py::isinstance<CoreWorkspace>(reuse))
    throw TypeErr("reuse must be a workspace that backward has consumed, or None; got " +
                  type_name(reuse));
  CoreWorkspace& r = reuse.cast<CoreWorkspace&>();
  if (!r.consumed.load())
    throw ValueErr(
        "reuse must be a workspace that backward has consumed: this one still waits for its "
        "backward");
  return r.buf.dtype().equal(py::dtype::of<T>()) && r.buf.size() >= n ? &r : nullptr;
}

// One forward call, validated and with its outputs allocated (GIL held); run() runs it.
// x_prev: the y of the previous call of a chain, read instead of x (which is then None).
template <typename T>
struct ForwardCall {
  ForwardArgs<T> a{};
  py::object y = py::none(), h_n, c_n = py::none(), ws = py::none();
  Keep keep;  // aligned or padding-masked copies the call reads
  py::tuple result() const { return py::make_tuple(y, h_n, c_n, ws); }
};

template <typename T>
ForwardCall<T> prepare_forward(const LayerShape& s, const py::handle& x, const py::handle& w_ih,
                               const py::handle& w_hh, const py::handle& b_ih,
                               const py::handle& b_hh, const py::handle& lengths,
                               const py::handle& h0, const py::handle& c0, bool training,
                               int nthreads, const T* x_prev = nullptr,
                               const py::handle& packed = py::none(),
                               const py::handle& reuse = py::none(), bool outputs = true) {
  const int64_t G = num_gates(s.cell), T_ = s.T, B = s.B, I = s.I, H = s.H;
  const bool lstm = s.cell == CellKind::LSTM;
  ForwardCall<T> call;
  ForwardArgs<T>& a = call.a;
  Keep& keep = call.keep;
  a.s = s;
  a.lengths = checked_lengths(lengths, T_, B, keep);
  a.x = x_prev ? x_prev
               : x_without_bad_padding(checked<T>(x, "x", {T_, B, I}, false, keep), a.lengths, s,
                                       keep);
  a.w_ih = checked<T>(w_ih, "weight_ih", {G * H, I}, false, keep);
  a.w_hh = checked<T>(w_hh, "weight_hh", {G * H, H}, false, keep);
  a.b_ih = checked<T>(b_ih, "bias_ih", {G * H}, true, keep);
  a.b_hh = checked<T>(b_hh, "bias_hh", {G * H}, true, keep);
  a.h0 = checked<T>(h0, "h0", {B, H}, true, keep);
  if (!lstm && !c0.is_none()) throw ValueErr("c0 is only for LSTM cells");
  a.c0 = lstm ? checked<T>(c0, "c0", {B, H}, true, keep) : nullptr;
  a.packed = checked<T>(packed, "packed", {packed_elements<T>(s)}, true, keep);
  if (a.packed) {
    uint64_t sig = 0;
    std::memcpy(&sig, a.packed + packed_size<T>(s), kSignatureBytes);
    if (sig != pack_signature(s, sizeof(T), a.b_ih != nullptr, a.b_hh != nullptr))
      throw ValueErr(
          "packed was made for another layer (cell, input or hidden size, biases, dtype or ISA "
          "level): pass pack() of exactly these weights and biases, or None");
  }
  const int64_t ws_n = training ? workspace_layout(s).total : 0;
  CoreWorkspace* old_ws = training ? reusable_workspace<T>(reuse, ws_n) : nullptr;
  check_memory(int64_t(sizeof(T)) * ((old_ws ? 0 : ws_n) + (outputs ? T_ * B * H : 0) + 2 * B * H),
               "this forward call");
  call.y = optional_output<T>(outputs, {T_, B, H}, a.y);  // None: only the final state
  auto h_n = empty<T>({B, H});
  a.h_n = h_n.mutable_data();
  call.h_n = h_n;
  if (lstm) {
    auto c = empty<T>({B, H});
    a.c_n = c.mutable_data();
    call.c_n = c;
  }
  if (training) {
    auto w = std::make_unique<CoreWorkspace>();
    if (old_ws) {  // taken, not shared: one buffer never backs two live workspaces
      w->buf = std::move(old_ws->buf);
      old_ws->buf = empty<T>({0});
    } else {
      w->buf = empty<T>({py::ssize_t(ws_n)});
    }
    w->s = s;
    a.ws = static_cast<T*>(w->buf.mutable_data());
    call.ws = py::cast(std::move(w));
  }
  a.nthreads = nthreads;
  return call;
}

template <typename T>
py::tuple forward_t(const LayerShape& s, const py::handle& x, const py::handle& w_ih,
                    const py::handle& w_hh, const py::handle& b_ih, const py::handle& b_hh,
                    const py::handle& lengths, const py::handle& h0, const py::handle& c0,
                    bool training, int nthreads, const py::handle& packed, const py::handle& reuse,
                    bool outputs) {
  ForwardCall<T> call = prepare_forward<T>(s, x, w_ih, w_hh, b_ih, b_hh, lengths, h0, c0, training,
                                           nthreads, nullptr, packed, reuse, outputs);
  run_kernel([&](const std::atomic<bool>* stop) {
    call.a.stop = stop;
    if constexpr (std::is_same<T, float>::value)
      active_table().forward_f32(call.a);
    else
      active_table().forward_f64(call.a);
  });
  return call.result();
}

// The workspace a training forward returned, checked (not yet taken: see claim()).
CoreWorkspace& workspace_arg(const py::handle& h) {
  if (!py::isinstance<CoreWorkspace>(h))
    throw TypeErr("workspace must be the workspace a training forward returned, got " +
                  type_name(h));
  return h.cast<CoreWorkspace&>();
}

// Takes the workspaces of a call (or group) for backward, once every check has passed: each
// consumed flag is exchanged before any kernel runs, so of two threads given the same
// workspace exactly one gets it; when one is taken already, none is kept.
void claim(const std::vector<CoreWorkspace*>& wss) {
  for (size_t k = 0; k < wss.size(); ++k) {
    if (wss[k]->consumed.exchange(true)) {
      for (size_t j = 0; j < k; ++j) wss[j]->consumed.store(false);
      throw ValueErr(
          "this workspace was already used by backward (it is overwritten with gate "
          "gradients); run forward(training=True) again");
    }
  }
}

// One backward call, validated and with its outputs allocated (GIL held).
template <typename T>
struct BackwardCall {
  BackwardArgs<T> a{};
  py::tuple out;
  CoreWorkspace* ws = nullptr;
  Keep keep;
};

template <typename T>
BackwardCall<T> prepare_backward(const LayerShape& s, const py::handle& x, const py::handle& w_ih,
                                 const py::handle& w_hh, const py::handle& lengths,
                                 const py::handle& ws, const py::handle& dy, const py::handle& dh_n,
                                 const py::handle& dc_n, bool has_bias, int nthreads,
                                 bool input_grad = true, const py::handle& grads = py::none(),
                                 const T* dy_prev = nullptr) {
  const int64_t G = num_gates(s.cell), T_ = s.T, B = s.B, I = s.I, H = s.H;
  const bool lstm = s.cell == CellKind::LSTM;
  BackwardCall<T> call;
  BackwardArgs<T>& a = call.a;
  Keep& keep = call.keep;
  a.s = s;
  a.lengths = checked_lengths(lengths, T_, B, keep);
  a.x = x_without_bad_padding(checked<T>(x, "x", {T_, B, I}, false, keep), a.lengths, s, keep);
  a.w_ih = checked<T>(w_ih, "weight_ih", {G * H, I}, false, keep);
  a.w_hh = checked<T>(w_hh, "weight_hh", {G * H, H}, false, keep);
  a.dy = dy_prev ? dy_prev : checked<T>(dy, "dy", {T_, B, H}, true, keep);
  a.dh_n = checked<T>(dh_n, "dh_n", {B, H}, true, keep);
  if (!lstm && !dc_n.is_none()) throw ValueErr("dc_n is only for LSTM cells");
  a.dc_n = lstm ? checked<T>(dc_n, "dc_n", {B, H}, true, keep) : nullptr;
  CoreWorkspace& w = workspace_arg(ws);
  if (!w.buf.dtype().equal(py::dtype::of<T>()) || !same_layer(w.s, s))
    throw ValueErr(
        "workspace does not belong to this layer (the forward that made it had another cell, "
        "direction, dtype or shape of x and the weights)");
  call.ws = &w;
  a.ws = static_cast<T*>(w.buf.mutable_data());
  const py::object dx = optional_output<T>(input_grad, {T_, B, I}, a.dx);
  auto dh0 = empty<T>({B, H});
  auto norm_h = empty<T>({T_});
  py::object dc0 = py::none(), dw_ih, dw_hh, db_ih = py::none(), db_hh = py::none(),
             norm_c = py::none();
  a.dh0 = dh0.mutable_data();
  a.norm_h = norm_h.mutable_data();
  if (!grads.is_none()) {  // the parameter gradients are added to the caller's arrays
    if (!py::isinstance<py::tuple>(grads) && !py::isinstance<py::list>(grads))
      throw TypeErr(
          "grads must be a tuple (dweight_ih, dweight_hh, dbias_ih, dbias_hh) or None, "
          "got " +
          type_name(grads));
    const py::sequence g = py::reinterpret_borrow<py::sequence>(grads);
    if (g.size() != 4)
      throw ValueErr(
          "grads must have 4 entries (dweight_ih, dweight_hh, dbias_ih, dbias_hh), got " +
          std::to_string(g.size()));
    a.dw_ih = checked_inout<T>(g[0], "grads[0] (dweight_ih)", {G * H, I});
    a.dw_hh = checked_inout<T>(g[1], "grads[1] (dweight_hh)", {G * H, H});
    if (has_bias) {
      a.db_ih = checked_inout<T>(g[2], "grads[2] (dbias_ih)", {G * H});
      a.db_hh = checked_inout<T>(g[3], "grads[3] (dbias_hh)", {G * H});
    } else if (!g[2].is_none() || !g[3].is_none()) {
      throw ValueErr("grads[2] and grads[3] must be None: this layer has no biases");
    }
    a.accumulate = true;
    dw_ih = g[0];
    dw_hh = g[1];
    db_ih = g[2];
    db_hh = g[3];
  } else {
    auto wi = empty<T>({G * H, I});
    auto wh = empty<T>({G * H, H});
    a.dw_ih = wi.mutable_data();
    a.dw_hh = wh.mutable_data();
    dw_ih = wi;
    dw_hh = wh;
  }
  if (lstm) {
    auto c = empty<T>({B, H});
    auto n = empty<T>({T_});
    a.dc0 = c.mutable_data();
    a.norm_c = n.mutable_data();
    dc0 = c;
    norm_c = n;
  }
  if (has_bias && !a.accumulate) {
    auto bi = empty<T>({G * H});
    auto bh = empty<T>({G * H});
    a.db_ih = bi.mutable_data();
    a.db_hh = bh.mutable_data();
    db_ih = bi;
    db_hh = bh;
  }
  a.nthreads = nthreads;
  call.out = py::make_tuple(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, norm_h, norm_c);
  return call;
}

// The arrays backward adds into (grads) must not overlap, within a call or across the calls
// of a group: threads add into them at once.
template <typename T>
void check_grads_disjoint(const std::vector<const BackwardArgs<T>*>& calls) {
  std::vector<std::pair<uintptr_t, uintptr_t>> spans;
  for (const BackwardArgs<T>* a : calls) {
    if (!a->accumulate) continue;
    const int64_t GH = num_gates(a->s.cell) * a->s.H;
    auto add = [&](const T* p, int64_t n) {
      if (p) spans.push_back({uintptr_t(p), uintptr_t(p + n)});
    };
    add(a->dw_ih, GH * a->s.I);
    add(a->dw_hh, GH * a->s.H);
    add(a->db_ih, GH);
    add(a->db_hh, GH);
  }
  for (size_t i = 0; i < spans.size(); ++i)
    for (size_t j = i + 1; j < spans.size(); ++j)
      if (spans[i].first < spans[j].second && spans[j].first < spans[i].second)
        throw ValueErr(
            "the arrays of grads must not overlap one another, nor those of another call of "
            "the group: the kernel's threads add into them at once");
}

template <typename T>
py::tuple backward_t(const LayerShape& s, const py::handle& x, const py::handle& w_ih,
                     const py::handle& w_hh, const py::handle& lengths, const py::handle& ws,
                     const py::handle& dy, const py::handle& dh_n, const py::handle& dc_n,
                     bool has_bias, int nthreads, bool input_grad, const py::handle& grads) {
  BackwardCall<T> call = prepare_backward<T>(s, x, w_ih, w_hh, lengths, ws, dy, dh_n, dc_n,
                                             has_bias, nthreads, input_grad, grads);
  check_grads_disjoint<T>({&call.a});
  claim({call.ws});
  run_kernel([&](const std::atomic<bool>* stop) {
    call.a.stop = stop;
    if constexpr (std::is_same<T, float>::value)
      active_table().backward_f32(call.a);
    else
      active_table().backward_f64(call.a);
  });
  return call.out;
}

template <typename T>
py::array_t<T> gemm_t(const py::handle& A, const py::handle& Bm, int nt) {
  if (!py::isinstance<py::array>(Bm))
    throw TypeErr("B must be a numpy array, got " + type_name(Bm));
  const py::array a = py::reinterpret_borrow<py::array>(A),
                  b = py::reinterpret_borrow<py::array>(Bm);
  if (a.ndim() != 2 || b.ndim() != 2 || a.shape(1) != b.shape(0) || a.shape(0) < 1 ||
      a.shape(1) < 1 || b.shape(1) < 1)
    throw ValueErr("gemm needs A (M, K) and B (K, N) with M, K, N >= 1, got " + shape_of(a) +
                   " and " + shape_of(b));
  const int64_t M = a.shape(0), K = a.shape(1), N = b.shape(1);
  Keep keep;
  const T* pa = checked<T>(A, "A", {M, K}, false, keep);
  const T* pb = checked<T>(Bm, "B", {K, N}, false, keep);
  check_memory(int64_t(sizeof(T)) * (M * N + K * N), "this gemm call");
  auto c = empty<T>({M, N});
  T* pc = c.mutable_data();
  {
    py::gil_scoped_release release;
    if constexpr (std::is_same<T, float>::value)
      active_table().gemm_f32(M, N, K, pa, pb, pc, nt);
    else
      active_table().gemm_f64(M, N, K, pa, pb, pc, nt);
  }
  return c;
}

// ---- several calls at once (forward_group / backward_group) ----
// Each call is the argument tuple of forward / backward. In a chained forward group, call k's
// x may be None: it then reads call k-1's y (same T and B, I = that call's H).
template <typename T>
py::list forward_group_t(const py::list& calls, bool chained, int nt) {
  std::vector<ForwardCall<T>> prepared;
  prepared.reserve(calls.size());
  for (size_t k = 0; k < calls.size(); ++k) {
    const py::tuple c = calls[k].cast<py::tuple>();
    if (c.size() < 13 || c.size() > 16) throw ValueErr("each call is the arguments of forward");
    const CellKind kind = parse_cell(c[0].cast<std::string>(), c[1].cast<std::string>());
    // a chain publishes and reads its steps in time order (the wavefront): with a reverse
    // call in it, the next call waited for steps its input had already written (a hang)
    if (chained && c[3].cast<bool>())
      throw ValueErr("the calls of a chain run forward in time: reverse must be False (call " +
                     std::to_string(k) + ")");
    const T* x_prev = nullptr;
    LayerShape s{};
    if (c[4].is_none()) {
      if (!chained || k == 0)
        throw TypeErr("x is required, got None (only later calls of a chain read the previous y)");
      const LayerShape& p = prepared.back().a.s;
      x_prev = prepared.back().a.y;
      if (!x_prev)
        throw ValueErr("call " + std::to_string(k - 1) +
                       " of the chain must keep its outputs (outputs=True): they are call " +
                       std::to_string(k) + "'s x");
      s = shape_from(kind, c[2].cast<bool>(), c[3].cast<bool>(), p.T, p.B, p.H, c[6]);
    } else {
      if (dtype_of_x(c[4]) != (std::is_same<T, float>::value ? DT::F32 : DT::F64))
        throw TypeErr("all calls of a group must share one dtype");
      s = shape_from(kind, c[2].cast<bool>(), c[3].cast<bool>(), c[4], c[6]);
      // a chain's call waits for the steps of the previous call's y: it must have as many
      if (chained && k > 0 && (s.T != prepared.back().a.s.T || s.B != prepared.back().a.s.B))
        throw ValueErr("the calls of a chain must share T and B (x of call " + std::to_string(k) +
                       " has T=" + std::to_string(s.T) + ", B=" + std::to_string(s.B) + "; call " +
                       std::to_string(k - 1) + " has T=" + std::to_string(prepared.back().a.s.T) +
                       ", B=" + std::to_string(prepared.back().a.s.B) + ")");
    }
    prepared.push_back(
        prepare_forward<T>(s, c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12].cast<bool>(),
                           nt, x_prev, c.size() > 13 ? py::handle(c[13]) : py::handle(py::none()),
                           c.size() > 14 ? py::handle(c[14]) : py::handle(py::none()),
                           c.size() > 15 ? c[15].cast<bool>() : true));
  }
  std::vector<ForwardArgs<T>> args;
  for (auto& p : prepared) args.push_back(p.a);
  run_kernel([&](const std::atomic<bool>* stop) {
    for (auto& a : args) a.stop = stop;
    if constexpr (std::is_same<T, float>::value)
      active_table().forward_group_f32(args.data(), int(args.size()), chained, nt);
    else
      active_table().forward_group_f64(args.data(), int(args.size()), chained, nt);
  });
  py::list out;
  for (auto& p : prepared) out.append(p.result());
  return out;
}

// In a chained backward group, calls run from the top layer of a stack down: call k's dy must
// be None, and it reads call k-1's dx (same T and B, H = that call's I), which call k-1 must
// compute (input_grad).
template <typename T>
py::list backward_group_t(const py::list& calls, bool chained, int nt) {
  std::vector<BackwardCall<T>> prepared;
  for (size_t k = 0; k < calls.size(); ++k) {
    const py::tuple c = calls[k].cast<py::tuple>();
    if (c.size() < 13 || c.size() > 15)
      throw ValueErr("each call is the 13 to 15 arguments of backward");
    const CellKind kind = parse_cell(c[0].cast<std::string>(), c[1].cast<std::string>());
    if (dtype_of_x(c[4]) != (std::is_same<T, float>::value ? DT::F32 : DT::F64))
      throw TypeErr("all calls of a group must share one dtype");
    const LayerShape s = shape_from(kind, c[2].cast<bool>(), c[3].cast<bool>(), c[4], c[6]);
    for (auto& p : prepared)
      if (p.ws == &workspace_arg(c[8]))
        throw ValueErr("a workspace appears twice in one backward group");
    const std::string at = " (call " + std::to_string(k) + ")";
    // a chain publishes dx from the last step down: a reverse call would wait for steps its
    // dy had already published, or read steps not yet written
    if (chained && c[3].cast<bool>())
      throw ValueErr("the calls of a chain run forward in time: reverse must be False" + at);
    const T* dy_prev = nullptr;
    if (chained && k > 0) {
      const BackwardArgs<T>& p = prepared.back().a;
      if (!c[9].is_none())
        throw ValueErr(
            "dy must be None in a chain after its first call: it is the dx of the "
            "call before" +
            at);
      if (s.T != p.s.T || s.B != p.s.B || s.H != p.s.I)
        throw ValueErr(
            "the calls of a chain must share T and B, and each call's H must be the "
            "input size I of the call before" +
            at + ": got T=" + std::to_string(s.T) + ", B=" + std::to_string(s.B) +
            ", H=" + std::to_string(s.H) + " after T=" + std::to_string(p.s.T) +
            ", B=" + std::to_string(p.s.B) + ", I=" + std::to_string(p.s.I));
      dy_prev = p.dx;
      if (!dy_prev)
        throw ValueErr("call " + std::to_string(k - 1) +
                       " of the chain must compute dx (input_grad=True): it is call " +
                       std::to_string(k) + "'s dy");
    }
    prepared.push_back(
        prepare_backward<T>(s, c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12].cast<bool>(),
                            nt, c.size() > 13 ? c[13].cast<bool>() : true,
                            c.size() > 14 ? py::handle(c[14]) : py::none(), dy_prev));
  }
  std::vector<BackwardArgs<T>> args;
  std::vector<CoreWorkspace*> wss;
  std::vector<const BackwardArgs<T>*> checked_args;
  for (auto& p : prepared) {
    args.push_back(p.a);
    wss.push_back(p.ws);
    checked_args.push_back(&p.a);
  }
  check_grads_disjoint<T>(checked_args);
  claim(wss);
  run_kernel([&](const std::atomic<bool>* stop) {
    for (auto& a : args) a.stop = stop;
    if constexpr (std::is_same<T, float>::value)
      active_table().backward_group_f32(args.data(), int(args.size()), chained, nt);
    else
      active_table().backward_group_f64(args.data(), int(args.size()), chained, nt);
  });
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

// ==== Conv1d bindings (issue 13) ==========================================================
// conv1d_forward / conv1d_backward: validation of a 1-D convolution call (see Conv1dShape in
// engine.h), kept in one block so that it merges apart from the recurrent bindings.

int64_t conv_int(const py::handle& h, const char* name, int64_t lo) {
  if (!py::isinstance<py::int_>(h) || py::isinstance<py::bool_>(h))
    throw TypeErr(std::string(name) + " must be an int, got " +
                  std::string(py::str(py::type::of(h).attr("__name__"))));
  const int64_t v = h.cast<int64_t>();
  if (v < lo || v > INT32_MAX)
    throw ValueErr(std::string(name) + " must be >= " + std::to_string(lo) + " and at most " +
                   std::to_string(INT32_MAX) + ", got " + std::to_string(v));
  return v;
}

Conv1dShape conv_shape_from(const py::handle& x, const py::handle& weight, const py::handle& stride,
                            const py::handle& dilation, const py::handle& padding,
                            const py::handle& pool, bool relu) {
  const py::array xa = py::reinterpret_borrow<py::array>(x);
  if (xa.ndim() != 3 || xa.shape(0) < 1 || xa.shape(1) < 1 || xa.shape(2) < 1)
    throw ValueErr("x must have shape (T, B, C_in) with T, B, C_in >= 1, got " + shape_of(xa));
  if (!py::isinstance<py::array>(weight)) throw TypeErr("weight must be a numpy array");
  const py::array wa = py::reinterpret_borrow<py::array>(weight);
  if (wa.ndim() != 3 || wa.shape(0) < 1 || wa.shape(2) < 1 || wa.shape(1) != xa.shape(2))
    throw ValueErr(
        "weight must have shape (C_out, C_in, K) with C_in = " + std::to_string(xa.shape(2)) +
        " (x's last axis) and C_out, K >= 1, got " + shape_of(wa));
  Conv1dShape s{};
  s.T = xa.shape(0);
  s.B = xa.shape(1);
  s.C_in = xa.shape(2);
  s.C_out = wa.shape(0);
  s.K = wa.shape(2);
  s.stride = conv_int(stride, "stride", 1);
  s.dilation = conv_int(dilation, "dilation", 1);
  s.padding = conv_int(padding, "padding", 0);
  s.pool = conv_int(pool, "pool", 1);
  s.relu = relu;
  // out_len's arithmetic (T + 2 padding - dilation (K - 1)) must fit in int64
  if ((long double)s.dilation * (s.K - 1) + 2.0L * s.padding + s.T >
      (long double)(int64_t(1) << 62))
    throw ValueErr("kernel_size * dilation + 2 * padding is too large");
  if (s.out_len(s.T) < 1)
    throw ValueErr("x has T = " + std::to_string(s.T) + " steps, too few for kernel_size " +
                   std::to_string(s.K) + ", dilation " + std::to_string(s.dilation) + ", padding " +
                   std::to_string(s.padding) + " and pool " + std::to_string(s.pool) +
                   " (no output step)");
  return s;
}

const int64_t* conv_lengths(const py::handle& h, const Conv1dShape& s, Keep& keep) {
  const int64_t* p = checked_lengths(h, s.T, s.B, keep);
  if (p)
    for (int64_t b = 0; b < s.B; ++b)
      if (s.out_len(p[b]) < 1)
        throw ValueErr("lengths[" + std::to_string(b) + "] = " + std::to_string(p[b]) +
                       " is too short for the convolution (no output step)");
  return p;
}

template <typename T>
py::tuple conv1d_forward_t(const Conv1dShape& s, const py::handle& x, const py::handle& weight,
                           const py::handle& bias, const py::handle& lengths, bool training) {
  Keep keep;  // aligned copies of misaligned inputs, alive until the call returns
  Conv1dForwardArgs<T> a{};
  a.s = s;
  a.x = checked<T>(x, "x", {s.T, s.B, s.C_in}, false, keep);
  a.weight = checked<T>(weight, "weight", {s.C_out, s.C_in, s.K}, false, keep);
  a.bias = checked<T>(bias, "bias", {s.C_out}, true, keep);
  a.lengths = conv_lengths(lengths, s, keep);
  check_memory(
      int64_t(sizeof(T)) * s.B * s.C_out * (s.out_len(s.T) + (training ? s.conv_len(s.T) : 0)),
      "this conv1d call");
  auto y = empty<T>({s.out_len(s.T), s.B, s.C_out});
  a.y = y.mutable_data();
  py::object ws = py::none();
  if (training) {
    auto w = empty<T>({s.conv_len(s.T), s.B, s.C_out});
    a.ws = w.mutable_data();
    ws = w;
  }
  a.nthreads = resolve_threads(0);
  {
    py::gil_scoped_release release;
    if constexpr (std::is_same<T, float>::value)
      active_table().conv1d_forward_f32(a);
    else
      active_table().conv1d_forward_f64(a);
  }
  return py::make_tuple(y, ws);
}

template <typename T>
py::tuple conv1d_backward_t(const Conv1dShape& s, const py::handle& x, const py::handle& weight,
                            const py::handle& lengths, const py::handle& ws, const py::handle& dy,
                            bool has_bias, bool input_grad) {
  Keep keep;  // aligned copies of misaligned inputs, alive until the call returns
  Conv1dBackwardArgs<T> a{};
  a.s = s;
  a.x = checked<T>(x, "x", {s.T, s.B, s.C_in}, false, keep);
  a.weight = checked<T>(weight, "weight", {s.C_out, s.C_in, s.K}, false, keep);
  a.lengths = conv_lengths(lengths, s, keep);
  a.ws = checked<T>(ws, "workspace", {s.conv_len(s.T), s.B, s.C_out}, false, keep);
  a.dy = checked<T>(dy, "dy", {s.out_len(s.T), s.B, s.C_out}, false, keep);
  const py::object dx = optional_output<T>(input_grad, {s.T, s.B, s.C_in}, a.dx);
  auto dw = empty<T>({s.C_out, s.C_in, s.K});
  a.dweight = dw.mutable_data();
  const py::object db = optional_output<T>(has_bias, {s.C_out}, a.dbias);
  a.nthreads = resolve_threads(0);
  {
    py::gil_scoped_release release;
    if constexpr (std::is_same<T, float>::value)
      active_table().conv1d_backward_f32(a);
    else
      active_table().conv1d_backward_f64(a);
  }
  return py::make_tuple(dx, dw, db);
}

void def_conv1d(py::module_& m) {
  m.def(
      "conv1d_forward",
      [](py::handle x, py::handle weight, py::handle bias, py::handle lengths, py::handle stride,
         py::handle dilation, py::handle padding, py::handle pool, bool relu, bool training) {
        const DT dt = dtype_of_x(x);
        const Conv1dShape s = conv_shape_from(x, weight, stride, dilation, padding, pool, relu);
        return dt == DT::F32 ? conv1d_forward_t<float>(s, x, weight, bias, lengths, training)
                             : conv1d_forward_t<double>(s, x, weight, bias, lengths, training);
      },
      py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("lengths"), py::arg("stride"),
      py::arg("dilation"), py::arg("padding"), py::arg("pool"), py::arg("relu"),
      py::arg("training"),
      "Conv1d (+ReLU, +max pooling), time-major. Returns (y (T_out, B, C_out), workspace or "
      "None).");
  m.def(
      "conv1d_backward",
      [](py::handle x, py::handle weight, py::handle lengths, py::handle stride,
         py::handle dilation, py::handle padding, py::handle pool, bool relu, py::handle ws,
         py::handle dy, bool has_bias, bool input_grad) {
        const DT dt = dtype_of_x(x);
        const Conv1dShape s = conv_shape_from(x, weight, stride, dilation, padding, pool, relu);
        return dt == DT::F32
                   ? conv1d_backward_t<float>(s, x, weight, lengths, ws, dy, has_bias, input_grad)
                   : conv1d_backward_t<double>(s, x, weight, lengths, ws, dy, has_bias, input_grad);
      },
      py::arg("x"), py::arg("weight"), py::arg("lengths"), py::arg("stride"), py::arg("dilation"),
      py::arg("padding"), py::arg("pool"), py::arg("relu"), py::arg("workspace"), py::arg("dy"),
      py::arg("has_bias"), py::arg("input_grad") = true,
      "Backward of conv1d_forward. Returns (dx or None (input_grad=False), dweight, dbias or "
      "None).");
}
// ==== end of Conv1d bindings ==============================================================

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() =
      "pyrnn's C++ kernels: one recurrent layer-direction, forward and BPTT (use pyrnn.engine)";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const TypeErr& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const ValueErr& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const py::cast_error& e) {  // an argument of the wrong type inside a list/tuple
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const MemErr& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const ScratchAllocError& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    }
  });
  g_main_thread =
      py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();

  py::class_<CoreWorkspace>(
      m, "Workspace", "The buffer a training forward keeps for BPTT; consumed by one backward.")
      .def_property_readonly("nbytes", [](const CoreWorkspace& w) { return w.buf.nbytes(); })
      .def_property_readonly("consumed", [](const CoreWorkspace& w) { return w.consumed.load(); });

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
         py::handle lengths, py::handle h0, py::handle c0, bool training, py::handle packed,
         py::handle reuse, bool outputs, long long nthreads) {
        const CellKind kind = parse_cell(cell, nonlinearity);
        const DT dt = dtype_of_x(x);
        const LayerShape s = shape_from(kind, reset_after, reverse, x, w_hh);
        const int nt = resolve_threads(nthreads);
        return dt == DT::F32 ? forward_t<float>(s, x, w_ih, w_hh, b_ih, b_hh, lengths, h0, c0,
                                                training, nt, packed, reuse, outputs)
                             : forward_t<double>(s, x, w_ih, w_hh, b_ih, b_hh, lengths, h0, c0,
                                                 training, nt, packed, reuse, outputs);
      },
      py::arg("cell"), py::arg("nonlinearity"), py::arg("reset_after"), py::arg("reverse"),
      py::arg("x"), py::arg("weight_ih"), py::arg("weight_hh"), py::arg("bias_ih"),
      py::arg("bias_hh"), py::arg("lengths"), py::arg("h0"), py::arg("c0"), py::arg("training"),
      py::arg("packed") = py::none(), py::arg("reuse") = py::none(), py::arg("outputs") = true,
      py::arg("nthreads") = 0,
      "Forward of one layer-direction. Returns (y (T,B,H) or None, h_n (B,H), c_n (B,H) or None, "
      "Workspace "
      "or None). "
      "packed: pack()'s output for these weights and biases (reused across calls), or None. "
      "reuse: a Workspace that backward has consumed, whose buffer this call takes over when "
      "it is large enough (a training loop's previous step), or None. "
      "outputs: False leaves y None and unwritten (only the final state is wanted). "
      "nthreads: 0 for the default (see set_num_threads).");

  m.def(
      "pack",
      [](const std::string& cell, const std::string& nonlinearity, bool reset_after,
         py::handle w_ih, py::handle w_hh, py::handle b_ih, py::handle b_hh) -> py::object {
        const CellKind kind = parse_cell(cell, nonlinearity);
        if (!py::isinstance<py::array>(w_ih) || py::reinterpret_borrow<py::array>(w_ih).ndim() != 2)
          throw TypeErr("weight_ih must be a 2-D numpy array (G*H, I)");
        const py::array wi = py::reinterpret_borrow<py::array>(w_ih);
        if (wi.shape(1) < 1)
          throw ValueErr("weight_ih must have shape (G*H, I) with I >= 1, got " + shape_of(wi));
        const LayerShape s = shape_from(kind, reset_after, false, 1, 1, wi.shape(1), w_hh);
        return dtype_of_x(w_ih, "weight_ih") == DT::F32
                   ? py::object(pack_t<float>(s, w_ih, w_hh, b_ih, b_hh))
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
         py::handle dy, py::handle dh_n, py::handle dc_n, bool has_bias, bool input_grad,
         py::handle grads, long long nthreads) {
        const CellKind kind = parse_cell(cell, nonlinearity);
        const DT dt = dtype_of_x(x);
        const LayerShape s = shape_from(kind, reset_after, reverse, x, w_hh);
        const int nt = resolve_threads(nthreads);
        return dt == DT::F32 ? backward_t<float>(s, x, w_ih, w_hh, lengths, ws, dy, dh_n, dc_n,
                                                 has_bias, nt, input_grad, grads)
                             : backward_t<double>(s, x, w_ih, w_hh, lengths, ws, dy, dh_n, dc_n,
                                                  has_bias, nt, input_grad, grads);
      },
      py::arg("cell"), py::arg("nonlinearity"), py::arg("reset_after"), py::arg("reverse"),
      py::arg("x"), py::arg("weight_ih"), py::arg("weight_hh"), py::arg("lengths"),
      py::arg("workspace"), py::arg("dy"), py::arg("dh_n"), py::arg("dc_n"), py::arg("has_bias"),
      py::arg("input_grad") = true, py::arg("grads") = py::none(), py::arg("nthreads") = 0,
      "BPTT of one layer-direction. Returns (dx, dh0, dc0, dweight_ih, dweight_hh, dbias_ih, "
      "dbias_hh, grad_norm_h, grad_norm_c); dx is None (not computed) with input_grad=False. "
      "grads: (dweight_ih, dweight_hh, dbias_ih, dbias_hh) arrays the parameter gradients are "
      "added to in place (and returned), instead of new ones.");

  m.def(
      "forward_group",
      [](const py::list& calls, bool chained, long long nthreads) -> py::list {
        const int nt = resolve_threads(nthreads);
        return group_dtype(calls) == DT::F32 ? forward_group_t<float>(calls, chained, nt)
                                             : forward_group_t<double>(calls, chained, nt);
      },
      py::arg("calls"), py::arg("chained"), py::arg("nthreads") = 0,
      "Several forward calls (tuples of forward's arguments) at once, each on one thread: "
      "concurrently, or as a pipeline when chained (call k's x None = call k-1's y). "
      "Returns the list of their results, bitwise those of the calls one by one.");
  m.def(
      "backward_group",
      [](const py::list& calls, bool chained, long long nthreads) -> py::list {
        const int nt = resolve_threads(nthreads);
        return group_dtype(calls) == DT::F32 ? backward_group_t<float>(calls, chained, nt)
                                             : backward_group_t<double>(calls, chained, nt);
      },
      py::arg("calls"), py::arg("chained") = false, py::arg("nthreads") = 0,
      "Several backward calls at once, each on one thread: independent, or chained (a stack "
      "from the top layer down, call k+1's dy being call k's dx).");

  m.def(
      "gemm",
      [](py::handle A, py::handle B, long long nthreads) -> py::object {
        const int nt = resolve_threads(nthreads);
        return dtype_of_x(A) == DT::F32 ? py::object(gemm_t<float>(A, B, nt))
                                        : py::object(gemm_t<double>(A, B, nt));
      },
      py::arg("A"), py::arg("B"), py::arg("nthreads") = 0,
      "C = A @ B with pyrnn's own GEMM kernel (float32/float64, C-contiguous).");

  m.def(
      "activation",
      [](const std::string& name, py::handle xh) {
        MathFn fn;
        if (name == "exp")
          fn = MathFn::EXP;
        else if (name == "sigmoid")
          fn = MathFn::SIGMOID;
        else if (name == "tanh")
          fn = MathFn::TANH;
        else
          throw ValueErr("activation must be 'exp', 'sigmoid' or 'tanh', got '" + name + "'");
        using F32 = py::array_t<float, py::array::c_style | py::array::forcecast>;
        const F32 xa = F32::ensure(xh);  // anything numpy converts to float32; null otherwise
        if (!xa) throw TypeErr("x must be convertible to a float32 array, got " + type_name(xh));
        Keep keep;
        const float* px = aligned<float>(xa, keep);
        py::array_t<float> y(std::vector<py::ssize_t>(xa.shape(), xa.shape() + xa.ndim()));
        float* py_ = y.mutable_data();
        const int64_t n = xa.size();
        {
          py::gil_scoped_release release;
          active_table().math_f32(fn, px, py_, n);
        }
        return y;
      },
      py::arg("name"), py::arg("x"), "The float32 SIMD activation the kernels use, elementwise.");

  m.def(
      "fma_peak_gflops",
      [](long long nthreads) {
        const int nt = checked_threads(nthreads, "nthreads");
        py::gil_scoped_release release;
        return active_table().fma_peak_gflops(nt);
      },
      py::arg("nthreads"), "Measured float32 FMA throughput (GFLOP/s) of the active ISA level.");

  def_conv1d(m);  // Conv1d bindings (issue 13)

  m.def(
      "set_num_threads",
      [](py::object n) {
        if (n.is_none()) {
          g_num_threads = 0;
          return;
        }
        PyObject* index = PyBool_Check(n.ptr()) ? nullptr : PyNumber_Index(n.ptr());  // int-like
        if (!index) {
          PyErr_Clear();
          throw TypeErr("number of threads must be an int or None, got " + type_name(n));
        }
        int overflow = 0;
        const long long v = PyLong_AsLongLongAndOverflow(index, &overflow);
        Py_DECREF(index);
        g_num_threads = checked_threads(overflow ? (overflow > 0 ? LLONG_MAX : LLONG_MIN) : v,
                                        "number of threads");
      },
      py::arg("n"),
      "Threads for every call that does not pass its own (None: back to the default).");
  m.def(
      "get_num_threads", [](long long requested) { return resolve_threads(requested); },
      py::arg("requested") = 0, "The thread count a call passing `requested` (0: none) uses.");
  m.def("max_threads", &max_threads, "The most threads a call may use.");

  m.def(
      "workspace_size",
      [](const std::string& cell, bool reset_after, int64_t T, int64_t B, int64_t I, int64_t H) {
        if (T < 1 || B < 1 || I < 1 || H < 1) throw ValueErr("T, B, I, H must be >= 1");
        const LayerShape s{parse_cell(cell, "tanh"), reset_after, false, T, B, I, H};
        // (G+2) * (T+1) * B * H bounds the layout's arithmetic: it must fit in int64
        const long double bound = (long double)(num_gates(s.cell) + 2) * (T + 1.0L) * B * H;
        if (bound > (long double)(int64_t(1) << 62)) throw ValueErr("T * B * H is too large");
        return workspace_layout(s).total;
      },
      py::arg("cell"), py::arg("reset_after"), py::arg("T"), py::arg("B"), py::arg("I"),
      py::arg("H"), "Elements of the training workspace of one layer-direction.");
  m.def("available_memory", &available_memory,
        "Bytes the machine can still give this process (MemAvailable, cgroup limit).");
  m.def(
      "check_memory", [](int64_t nbytes, const std::string& what) { check_memory(nbytes, what); },
      py::arg("nbytes"), py::arg("what"),
      "Raise MemoryError naming the size when nbytes (>= 64 MiB) exceeds available_memory().");

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
    d["num_threads"] = resolve_threads(0);
    d["max_threads"] = max_threads();
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
    tun["gemm_kc_bytes"] = tn.gemm_kc_bytes;
    tun["gemm_mc_bytes"] = tn.gemm_mc_bytes;
    d["tuning"] = tun;
    const LoadInfo l = load_info();
    py::dict load;
    load["busy_cores"] = l.busy_cores;
    load["cpus"] = l.cpus;
    load["source"] = l.source;
    load["threads"] = threads_under_load(resolve_threads(0), l.busy_cores, l.cpus);
    d["load"] = load;
    return d;
  });

  // ---- plans (plan.cpp): how a call of this shape would share its steps ----
  m.def(
      "plan",
      [](const std::string& cell, const std::string& nonlinearity, int64_t T, int64_t B, int64_t I,
         int64_t H, int nthreads, int itemsize, double busy_cores, int cpus) {
        if (T < 1 || B < 1 || I < 1 || H < 1) throw ValueErr("T, B, I and H must be >= 1");
        if (itemsize != 4 && itemsize != 8) throw ValueErr("itemsize must be 4 or 8");
        if (nthreads < 1) throw ValueErr("nthreads must be >= 1");
        // the plan's byte counts (T B G H (I + H) itemsize at most) must fit in int64
        if ((long double)T * B * 4 * H * (I + H) * itemsize > (long double)(int64_t(1) << 62))
          throw ValueErr("T * B * H * (I + H) is too large");
        const LayerShape s{parse_cell(cell, nonlinearity), true, false, T, B, I, H};
        const int64_t GH = num_gates(s.cell) * H;
        const Tuning tn = tuning(cache_info());
        if (busy_cores < 0 || cpus < 0) {  // not given: what the load probe sees now
          const LoadInfo l = load_info();
          if (busy_cores < 0) busy_cores = l.busy_cores;
          if (cpus < 0) cpus = l.cpus;
        }
        const int n = threads_under_load(nthreads, busy_cores, cpus);
        const ThreadPlan f = plan_threads(n, s, GH * (I + H) * itemsize, GH * H * itemsize, tn);
        const ThreadPlan b = plan_threads(n, s, GH * H * itemsize, 0, tn);
        auto as_dict = [](const ThreadPlan& p) {
          py::dict d;
          d["threads"] = p.nthreads;
          d["split"] = p.nthreads == 1 ? "serial" : (p.by_rows ? "batch rows" : "hidden units");
          return d;
        };
        py::dict d;
        d["forward"] = as_dict(f);
        d["backward"] = as_dict(b);
        d["group_layers"] = group_layers(n, 2, s, GH * (I + H) * itemsize, tn);
        d["chain_layers"] = chain_layers(n, s, GH * (I + H) * itemsize, GH * H * itemsize, tn);
        return d;
      },
      py::arg("cell"), py::arg("nonlinearity"), py::arg("T"), py::arg("B"), py::arg("I"),
      py::arg("H"), py::arg("nthreads"), py::arg("itemsize"), py::arg("busy_cores") = -1.0,
      py::arg("cpus") = -1,
      "How a forward/backward call of this shape would share its steps among at most nthreads "
      "threads when other processes keep busy_cores of this process's cpus busy (negative: what "
      "the load probe sees now).");
}
