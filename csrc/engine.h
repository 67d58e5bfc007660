// engine.h — the kernel API: one recurrent layer, one direction, forward and BPTT.
// No Python in here. Shapes use T (time), B (batch), I (input), H (hidden), G (gates).
// Parameter layout is PyTorch's: weight_ih (G*H, I), weight_hh (G*H, H), bias_* (G*H);
// gate order LSTM i,f,g,o; GRU r,z,n. Everything is time-major and C-contiguous.
#pragma once
#include <atomic>
#include <cstdint>
#include <new>
#include <string>

namespace pyrnn {

enum class CellKind : int { RNN_TANH = 0, RNN_RELU = 1, LSTM = 2, GRU = 3 };

inline int64_t num_gates(CellKind c) {
  return c == CellKind::LSTM ? 4 : (c == CellKind::GRU ? 3 : 1);
}

struct LayerShape {
  CellKind cell;
  bool reset_after;  // GRU only: true = PyTorch/cuDNN formulation, false = Cho et al.
  bool reverse;      // process time T-1..0 (backward direction of a bidirectional layer)
  int64_t T, B, I, H;
};

// The training workspace: one allocation, owned by the caller, written by forward and
// consumed (overwritten with gate gradients) by backward. This is the only place that
// knows its layout. Offsets and sizes are in elements.
//   gates  (T, B, G*H)  activated gates (RNN: unused, G*H = H slots kept for dG)
//   states (T+1, B, H)  hidden states: forward: input of step t is states[t], output
//                       states[t+1]; reverse: input states[t+1], output states[t]
//   cells  (T+1, B, H)  LSTM cell states, same indexing
//   extra  (T, B, H)    GRU: reset_after ? (W_hn h + b_hn) : (r * h)
struct WorkspaceLayout {
  int64_t gates, states, cells, extra, total;
};

inline WorkspaceLayout workspace_layout(const LayerShape& s) {
  const int64_t G = num_gates(s.cell), TB = s.T * s.B;
  WorkspaceLayout w{};
  w.gates = 0;
  w.states = w.gates + TB * G * s.H;
  w.cells = w.states + (s.T + 1) * s.B * s.H;
  w.extra = w.cells + (s.cell == CellKind::LSTM ? (s.T + 1) * s.B * s.H : 0);
  w.total = w.extra + (s.cell == CellKind::GRU ? TB * s.H : 0);
  return w;
}

template <typename T>
struct ForwardArgs {
  LayerShape s;
  const T* x;              // (T, B, I)
  const T* w_ih;           // (G*H, I)
  const T* w_hh;           // (G*H, H)
  const T* b_ih;           // (G*H) or nullptr
  const T* b_hh;           // (G*H) or nullptr
  const int64_t* lengths;  // (B), 1 <= L <= T, or nullptr (all T)
  const T* h0;             // (B, H) or nullptr (zeros)
  const T* c0;             // (B, H) or nullptr (zeros); LSTM only
  T* y;                    // (T, B, H) out; zeros past each sequence's length; or nullptr:
                           // not written (the caller reads only the final state)
  T* h_n;                  // (B, H) out
  T* c_n;                  // (B, H) out; LSTM only
  T* ws;                   // workspace_layout(s).total elements, or nullptr for inference
  int nthreads;
  const std::atomic<bool>* stop;  // or nullptr: when it turns true, return early (see stop.h)
  // Layer pipeline (forward_group, chained): steps [0, *x_ready) of x are readable; *y_done
  // is advanced past every chunk of steps this call has written. nullptr outside a pipeline.
  const int64_t* x_ready;
  int64_t* y_done;
  int64_t chunk_steps;     // steps per input-projection chunk; 0: the default (~128 rows)
  const T* packed;         // the table's pack() of these weights and biases, or nullptr
};

template <typename T>
struct BackwardArgs {
  LayerShape s;
  const T* x;              // (T, B, I) as given to forward
  const T* w_ih;           // (G*H, I)
  const T* w_hh;           // (G*H, H)
  const int64_t* lengths;  // (B) or nullptr
  T* ws;                   // the forward's workspace; consumed
  const T* dy;             // (T, B, H) or nullptr
  const T* dh_n;           // (B, H) or nullptr
  const T* dc_n;           // (B, H) or nullptr; LSTM only
  T* dx;                   // (T, B, I) out, or nullptr: not computed
  T* dh0;                  // (B, H) out
  T* dc0;                  // (B, H) out; LSTM only
  T* dw_ih;                // (G*H, I) out
  T* dw_hh;                // (G*H, H) out
  T* db_ih;                // (G*H) out, or nullptr
  T* db_hh;                // (G*H) out, or nullptr
  T* norm_h;               // (T) out: ||dL/dh_t|| over the active rows
  T* norm_c;               // (T) out: ||dL/dc_t||; LSTM only
  bool accumulate;         // dw_ih, dw_hh, db_ih, db_hh: add this call's gradients to them
  int nthreads;
  const std::atomic<bool>* stop;  // or nullptr: when it turns true, return early (see stop.h)
  // Layer pipeline (backward_group, chained: one thread per call, reverse = false). Time runs
  // backward, so both counters count steps from the end: dy's rows of steps t >= T - *dy_ready
  // are readable; *dx_done is advanced past every chunk of chunk_steps steps whose rows of dx
  // this call has written (dx is then computed chunk by chunk inside the time loop). nullptr
  // outside a pipeline.
  const int64_t* dy_ready;
  int64_t* dx_done;
  int64_t chunk_steps;
};

// A scratch allocation that failed, with its size (the bindings turn it into MemoryError).
struct ScratchAllocError : std::bad_alloc {
  explicit ScratchAllocError(size_t bytes)
      : msg("pyrnn could not allocate " + std::to_string(bytes) +
            " bytes of kernel scratch memory") {}
  const char* what() const noexcept override { return msg.c_str(); }
  std::string msg;
};

// ---- plan.cpp: what the kernels derive from the machine (ISA-independent, no mutable state)
struct CacheInfo {
  int64_t l1d, l2, l3;  // bytes: L1 data and L2 per core, L3 (0 if none found)
  const char* source;   // "sysfs", "sysconf" or "default"
};
const CacheInfo& cache_info();  // read once, at first use

// Tile sizes and thresholds, each a fraction of the cache it must fit (see plan.cpp).
struct Tuning {
  int64_t step_tile_bytes;   // a thread's step output tile (rows x all gates of NR units): L1
  int64_t step_slice_bytes;  // k-slice of a W_hh panel that every row tile of a step reuses
  int64_t row_split_bytes;   // split a step by batch rows only when the weights fit this
  int64_t l2_fit_bytes;      // a packed GEMM operand this size stays in L2 across tiles
  int64_t gemm_kc_bytes;     // a KC x NR slice of a packed B panel (the big GEMMs' k-block)
  int64_t gemm_mc_bytes;     // an MC x KC block of A that stays in L2 across the panels
};
Tuning tuning(const CacheInfo& c);

// How the threads of one call share each step: by batch rows (no barrier, every thread
// streams all weights) or by blocks of hidden units (one barrier per step); 1 = serial.
struct ThreadPlan {
  int nthreads;
  bool by_rows;
};
// weight_bytes: all weights a step reads; stream_bytes: the recurrent weights a forward step
// streams (0 for backward, which keeps the FLOP rule).
ThreadPlan plan_threads(int requested, const LayerShape& s, int64_t weight_bytes,
                        int64_t stream_bytes, const Tuning& tn);

// Run `pieces` independent layer-directions of this shape each on one thread (grouped)
// rather than one by one with every step shared among the threads.
bool group_layers(int requested, int pieces, const LayerShape& s, int64_t weight_bytes,
                  const Tuning& tn);
bool chain_layers(int requested, const LayerShape& s, int64_t weight_bytes, int64_t stream_bytes,
                  const Tuning& tn);
// ---- Conv1d (conv1d.h): a 1-D convolution over time, + optional ReLU and max pooling ------
// Time-major like the recurrent kernels: x (T, B, C_in) -> y (T_out, B, C_out). PyTorch's
// weight layout (C_out, C_in, K). Conv positions: T_conv = (T + 2*padding - dilation*(K-1)
// - 1) / stride + 1; with pool > 1, max pooling of window = stride = pool (PyTorch's
// MaxPool1d(pool), floor mode): T_out = T_conv / pool. With lengths, sequence b is its own
// signal of lengths[b] steps (zero beyond, and zero padding on both sides), and its outputs
// past its own output length out_len(lengths[b]) are zeros.
struct Conv1dShape {
  int64_t T, B, C_in, C_out, K, stride, dilation, padding, pool;
  bool relu;
  // Conv output length for an input of L steps (< 1: too short for the kernel).
  int64_t conv_len(int64_t L) const {
    return (L + 2 * padding - dilation * (K - 1) - 1) / stride + 1;
  }
  int64_t out_len(int64_t L) const { return conv_len(L) / pool; }
};

template <typename T>
struct Conv1dForwardArgs {
  Conv1dShape s;
  const T* x;              // (T, B, C_in)
  const T* weight;         // (C_out, C_in, K)
  const T* bias;           // (C_out) or nullptr
  const int64_t* lengths;  // (B), each with out_len(L) >= 1, or nullptr (all T)
  T* y;                    // (T_out, B, C_out) out; zeros past each sequence's output length
  T* ws;                   // (T_conv, B, C_out) out: conv (+ReLU) before pooling, for backward;
                           // or nullptr for inference
  int nthreads;
};

template <typename T>
struct Conv1dBackwardArgs {
  Conv1dShape s;
  const T* x;              // (T, B, C_in) as given to forward
  const T* weight;         // (C_out, C_in, K)
  const int64_t* lengths;  // (B) or nullptr
  const T* ws;             // (T_conv, B, C_out): the forward's ws
  const T* dy;             // (T_out, B, C_out)
  T* dx;                   // (T, B, C_in) out, or nullptr: not computed
  T* dweight;              // (C_out, C_in, K) out
  T* dbias;                // (C_out) out, or nullptr
  int nthreads;
};

// ---- load.cpp: how many cores other processes leave free (sampled at most every 100 ms)
struct LoadInfo {
  double busy_cores;   // cores of the allowed CPUs that other processes kept busy
  int cpus;            // CPUs this process may run on (0: unknown)
  const char* source;  // "cpu time", "runnable", "off" (PYRNN_LOAD_PROBE=0) or "unavailable"
};
LoadInfo load_info();
// The threads a call given `requested` uses: at most the free cores, at least 1 (pure).
int threads_under_load(int requested, double busy_cores, int cpus);
int usable_threads(int requested);  // threads_under_load with what load_info() saw

enum class MathFn : int { EXP = 0, SIGMOID = 1, TANH = 2 };

// One table per ISA level; dispatch.cpp picks one at import.
struct KernelTable {
  const char* isa;
  const char* flags;  // the compiler flags of this level's kernels
  int vector_bits;
  void (*forward_f32)(const ForwardArgs<float>&);
  void (*forward_f64)(const ForwardArgs<double>&);
  void (*backward_f32)(const BackwardArgs<float>&);
  void (*backward_f64)(const BackwardArgs<double>&);
  // C (M, N) = A (M, K) @ B (K, N), all row-major: the GEMM the kernels use, for benchmarks.
  void (*gemm_f32)(int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C,
                   int nthreads);
  void (*gemm_f64)(int64_t M, int64_t N, int64_t K, const double* A, const double* B, double* C,
                   int nthreads);
  // The vectorized activations the kernels use (float32), for accuracy tests.
  void (*math_f32)(MathFn fn, const float* x, float* y, int64_t n);
  // Measured FMA throughput of this ISA level, GFLOP/s over nthreads threads.
  double (*fma_peak_gflops)(int nthreads);
  // Several layer-directions at once, each on one thread (a layer's step too small to share
  // across cores): independent calls run concurrently; `chained` calls form a pipeline
  // (forward: call k+1's x is call k's y; backward, a stack from the top layer down: call
  // k+1's dy is call k's dx; each read chunk by chunk as it is written: the wavefront).
  // Results are bitwise those of the calls one by one.
  void (*forward_group_f32)(ForwardArgs<float>* calls, int n, bool chained, int nthreads);
  void (*forward_group_f64)(ForwardArgs<double>* calls, int n, bool chained, int nthreads);
  void (*backward_group_f32)(BackwardArgs<float>* calls, int n, bool chained, int nthreads);
  void (*backward_group_f64)(BackwardArgs<double>* calls, int n, bool chained, int nthreads);
  // The forward's packed weights and folded biases (ForwardArgs::packed): kept by a caller
  // across calls on unchanged weights. The layout belongs to this ISA level.
  int64_t (*packed_size_f32)(const LayerShape& s);
  int64_t (*packed_size_f64)(const LayerShape& s);
  void (*pack_f32)(const LayerShape& s, const float* w_ih, const float* w_hh, const float* b_ih,
                   const float* b_hh, float* dst);
  void (*pack_f64)(const LayerShape& s, const double* w_ih, const double* w_hh, const double* b_ih,
                   const double* b_hh, double* dst);
  // Conv1d (+ReLU, +max pooling), forward and backward (conv1d.h).
  void (*conv1d_forward_f32)(const Conv1dForwardArgs<float>&);
  void (*conv1d_forward_f64)(const Conv1dForwardArgs<double>&);
  void (*conv1d_backward_f32)(const Conv1dBackwardArgs<float>&);
  void (*conv1d_backward_f64)(const Conv1dBackwardArgs<double>&);
};

// Per-ISA tables (defined in kernels.cpp, compiled once per level).
namespace baseline {
const KernelTable& table();
}
namespace avx2 {
const KernelTable& table();
}
namespace avx512 {
const KernelTable& table();
}

// dispatch.cpp
const KernelTable& active_table();
const char* select_isa(const char* name);  // "baseline" | "avx2" | "avx512"; nullptr if unsupported
bool isa_supported(const char* name);
const char* best_isa();

}  // namespace pyrnn
