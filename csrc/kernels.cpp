// kernels.cpp — one recurrent layer-direction, forward and BPTT. Compiled once per ISA level
// with PYRNN_ISA naming the namespace (see CMakeLists.txt); dispatch.cpp picks a table.
//
// Forward:  XG = X W_ih^T + b  per chunk of ~128 rows (T*B rows in all), each thread for
//           its own part: the chunk is still in L2 when its steps read it, and inference
//           keeps no T-sized buffer. One parallel region runs the whole time loop. A thread
//           owns either batch rows (all units; no barrier at all, as rows never interact) or,
//           when the weights are too big for every core to stream them all, blocks of NR
//           hidden units (its slice of W_hh, all gates of those units; one barrier per step,
//           two for GRU with reset before); see plan_threads. Per step it multiplies h_{t-1}
//           by the pre-packed W_hh and runs the cell's epilogue on the tile.
// Backward: per step the epilogue's derivative gives dG_t (in place over the saved gates);
//           dh_{t-1} = dG_t W_hh, split like the forward; after the loop
//           [dW_ih | dW_hh] = dG^T [X | H_prev] and dX = dG W_ih are one large GEMM each over
//           all T*B rows (GRU's n rows, which differ between the two sides, separately).
#include <omp.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>
#include <type_traits>
#if defined(_WIN32)
#include <malloc.h>  // _aligned_malloc: the Windows C runtime has no std::aligned_alloc
#endif

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>  // simd.h's vfma: FMA whatever the optimisation level
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

#include "engine.h"
#include "futex.h"

#ifndef PYRNN_ISA_FLAGS
#define PYRNN_ISA_FLAGS ""  // set by CMakeLists.txt per ISA level
#endif

namespace pyrnn {
namespace PYRNN_ISA {

#include "simd.h"
#include "barrier.h"
#include "gemm.h"
#include "cells.h"
#include "stop.h"

// An aligned scratch buffer; no per-step allocation anywhere.
template <typename T>
class Buffer {
 public:
  explicit Buffer(int64_t n) {
    if (n <= 0) return;
    const size_t bytes = (size_t(n) * sizeof(T) + 63) / 64 * 64;
#if defined(_WIN32)
    p_ = static_cast<T*>(_aligned_malloc(bytes, 64));
#else
    p_ = static_cast<T*>(std::aligned_alloc(64, bytes));
#endif
    if (!p_) throw ScratchAllocError(bytes);
  }
#if defined(_WIN32)
  ~Buffer() { _aligned_free(p_); }
#else
  ~Buffer() { std::free(p_); }
#endif
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  T* get() const { return p_; }

 private:
  T* p_ = nullptr;
};

// How threads share a step, and the tile sizes, come from plan.cpp (from the caches).

// The forward's packed weights, one buffer (offsets in elements): W_ih^T and W_hh^T in
// panels per (gate g, block q of NR units), panel p = g * nq + q holding K x NR; then the
// folded biases b_ih + b_hh (G*H; GRU reset_after keeps b_hn out) and GRU's b_hn (H).
struct PackedLayout {
  int64_t wih, whh, bias, b_hn, total;
};
template <typename T>
static PackedLayout packed_layout(const LayerShape& s) {
  constexpr int NR = GemmCfg<T>::NR;
  const int64_t G = num_gates(s.cell), nq = (s.H + NR - 1) / NR;
  PackedLayout l{};
  l.wih = 0;
  l.whh = l.wih + G * nq * s.I * NR;
  l.bias = l.whh + G * nq * s.H * NR;
  l.b_hn = l.bias + G * s.H;
  l.total = l.b_hn + s.H;
  return l;
}

// Folded biases: b_ih + b_hh, except GRU's b_hn, which stays with the recurrent product
// (reset_after) or is still added outside r (reset before: folded too).
template <typename T>
static void fold_biases(const LayerShape& s, const T* b_ih, const T* b_hh, T* bias, T* b_hn) {
  const CellOps<T> cell = CellOps<T>::of(s);
  const int64_t H = s.H, GH = cell.gates() * H;
  for (int64_t k = 0; k < GH; ++k)
    bias[k] = (b_ih ? b_ih[k] : T(0)) + (b_hh && !cell.bias_kept_out(k) ? b_hh[k] : T(0));
  for (int64_t j = 0; j < H; ++j) b_hn[j] = b_hh && cell.gru_ra() ? b_hh[2 * H + j] : T(0);
}

// Panels (g, q) of W_ih^T and W_hh^T into dst (laid out by packed_layout).
template <typename T>
static void pack_panel_pair(const LayerShape& s, const T* w_ih, const T* w_hh, int64_t g, int64_t q,
                            T* dst, const PackedLayout& l) {
  constexpr int NR = GemmCfg<T>::NR;
  const int64_t H = s.H, I = s.I, nq = (H + NR - 1) / NR, p = g * nq + q;
  const int64_t nrows = min_<int64_t>(NR, H - q * NR);
  pack_transposed_panel<T>(w_ih + (g * H + q * NR) * I, I, nrows, I, dst + l.wih + p * I * NR);
  pack_transposed_panel<T>(w_hh + (g * H + q * NR) * H, H, nrows, H, dst + l.whh + p * H * NR);
}

// All of it, for a caller that keeps it across forward calls on unchanged weights.
template <typename T>
static int64_t packed_size_entry(const LayerShape& s) {
  return packed_layout<T>(s).total;
}
template <typename T>
static void pack_entry(const LayerShape& s, const T* w_ih, const T* w_hh, const T* b_ih,
                       const T* b_hh, T* dst) {
  constexpr int NR = GemmCfg<T>::NR;
  const PackedLayout l = packed_layout<T>(s);
  const int64_t nq = (s.H + NR - 1) / NR;
  for (int64_t g = 0; g < num_gates(s.cell); ++g)
    for (int64_t q = 0; q < nq; ++q) pack_panel_pair<T>(s, w_ih, w_hh, g, q, dst, l);
  fold_biases<T>(s, b_ih, b_hh, dst + l.bias, dst + l.b_hn);
}

template <typename T>
static void forward(const ForwardArgs<T>& a) {
  const LayerShape& s = a.s;
  const CellOps<T> cell = CellOps<T>::of(s);
  const int64_t T_ = s.T, B = s.B, I = s.I, H = s.H, G = cell.gates(), GH = G * H;
  constexpr int NR = GemmCfg<T>::NR;
  const int64_t nq = (H + NR - 1) / NR;  // blocks of NR hidden units
  const bool training = a.ws != nullptr;
  const WorkspaceLayout wl = workspace_layout(s);

  // The packed weights (W_ih^T, W_hh^T in panels per (gate g, unit block q): a thread packs
  // and reads only the panels of its own units) and the folded biases: given (a.packed, from
  // pack_entry, cached by the caller across calls on unchanged weights) or made here.
  const PackedLayout pl = packed_layout<T>(s);
  Buffer<T> own_pack(a.packed ? 0 : pl.total);
  const T* const pk = a.packed ? a.packed : own_pack.get();
  if (!a.packed)
    fold_biases<T>(s, a.b_ih, a.b_hh, own_pack.get() + pl.bias, own_pack.get() + pl.b_hn);
  const T* const wih_p = pk + pl.wih;
  const T* const whh_p = pk + pl.whh;
  const T* const bias = pk + pl.bias;
  const T* const b_hn = pk + pl.b_hn;

  // Input projection destination: the workspace's gates (training) or, for inference, a chunk
  // buffer grouped by unit blocks (see xg_group below).
  const int64_t chunk = min_(T_, a.chunk_steps > 0 ? a.chunk_steps : max_<int64_t>(1, 128 / B));
  Buffer<T> xg_chunk(training ? 0 : nq * chunk * B * G * NR);

  // Running state for inference: double-buffered h, in-place c (LSTM), r * h_{t-1} (reset-before
  // GRU); none is allocated (nor prefetched in the steps) for a cell that does not use it.
  Buffer<T> hbuf(training ? 0 : 2 * B * H), cbuf(training || !cell.has_c() ? 0 : B * H),
      rhbuf(training || !cell.two_phase() ? 0 : B * H);
  // inference keeps h_t in y_t (rows all active, outputs wanted)
  const bool h_in_y = !training && !a.lengths && a.y;
  T* const states = training ? a.ws + wl.states : nullptr;
  T* const cells = training && cell.has_c() ? a.ws + wl.cells : nullptr;
  T* const extra = training && cell.has_extra() ? a.ws + wl.extra : nullptr;

  // State slots: in_slot(t) holds the input state of time t, out_slot(t) its output.
  auto in_slot = [&](int64_t t) { return s.reverse ? t + 1 : t; };
  auto out_slot = [&](int64_t t) { return s.reverse ? t : t + 1; };
  {
    T* h_init = training ? states + in_slot(s.reverse ? T_ - 1 : 0) * B * H : hbuf.get();
    if (a.h0)
      std::memcpy(h_init, a.h0, sizeof(T) * B * H);
    else
      std::memset(h_init, 0, sizeof(T) * B * H);
    if (cell.has_c()) {
      T* c_init = training ? cells + in_slot(s.reverse ? T_ - 1 : 0) * B * H : cbuf.get();
      if (a.c0)
        std::memcpy(c_init, a.c0, sizeof(T) * B * H);
      else
        std::memset(c_init, 0, sizeof(T) * B * H);
    }
  }

  const Tuning tn = tuning(cache_info());
  const int64_t KCP = gemm_blocks<T>(tn).kc;  // the input projection's k-block
  const ThreadPlan plan =
      plan_threads(usable_threads(a.nthreads), s, GH * (I + H) * int64_t(sizeof(T)),
                   GH * H * int64_t(sizeof(T)), tn);
  const int nthreads = plan.nthreads;
  const bool by_rows = plan.by_rows;
  // Rows per group: the group's output tile (RG x G*NR) stays in L1 beside the weight slice.
  constexpr int MR = GemmCfg<T>::MR;
  const int64_t KCS = step_slice<T>(tn);
  const int64_t RG =
      max_<int64_t>(MR, tn.step_tile_bytes / (G * NR * int64_t(sizeof(T))) / MR * MR);
  // One step tile per thread: RG rows of one unit block, or the 1 or 2 rows of all its blocks.
  const int64_t tile_elems = max_<int64_t>(RG * G * NR, 2 * G * nq * NR);
  Buffer<T> tiles(int64_t(nthreads) * tile_elems);

  Barrier bar;
  StopPoll stop(a.stop);
#pragma omp parallel num_threads(nthreads)
  {
    const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
#pragma omp single
    bar.reset(nt);  // (implicit barrier after single)
    bool quit = false;
    // This thread's blocks of hidden units and its batch rows (one of the two is everything).
    const Range own = by_rows ? Range{0, nq} : split(nq, tid, nt);
    const Range rows = by_rows ? split(B, tid, nt) : Range{0, B};
    const bool few = rows.end - rows.begin <= 2;  // one or two rows: few_rows_panels
    // Where the input projection of unit block q lies. Training: the workspace's rows of G*H
    // (W = H). Inference: a chunk buffer of groups [step][b][G][W], a group being one block
    // (W = NR: a step's epilogue reads each row's block as one run, where rows of G*H put
    // each row's gates on pages of their own: at B = 64, H = 512 the epilogue took 21% of the
    // LSTM forward, stalled on those reads) or, for one or two rows, all of this thread's
    // blocks (one epilogue call for the whole row). Group of q at xg_group(q), q at
    // xg_unit(q) within it.
    const int64_t W = training ? H : few ? (own.end - own.begin) * NR : NR;
    auto xg_group = [&](int64_t q) {
      return training ? 0 : (few ? own.begin : q) * chunk * B * G * NR;
    };
    auto xg_unit = [&](int64_t q) { return (training ? q : few ? q - own.begin : 0) * NR; };
    if (!a.packed) {  // panels (g, q); split by units, a thread packs (and will read) only its own
      const Range pp = by_rows ? split(G * nq, tid, nt) : Range{own.begin * G, own.end * G};
      for (int64_t i = pp.begin; i < pp.end; ++i) {
        const int64_t q = by_rows ? i % nq : i / G, g = by_rows ? i / nq : i % G;
        pack_panel_pair<T>(s, a.w_ih, a.w_hh, g, q, own_pack.get(), pl);
      }
      if (by_rows) bar.wait();
    }
    for (int64_t s0 = 0; s0 < T_ && !quit; s0 += chunk) {
      const int64_t len = min_(chunk, T_ - s0);
      const int64_t t_lo = s.reverse ? T_ - s0 - len : s0;  // first time index of the chunk
      T* const xg_chunk_t = training ? a.ws + wl.gates + t_lo * B * GH : xg_chunk.get();
      if (a.x_ready && chain_input_stopped(a.x_ready, t_lo + len)) {  // (in time order)
        stop.force();
        break;
      }
      // Input projection of the chunk, each thread for its own rows and units (columns of
      // every gate): the thread that reads them in the steps below wrote them (into its own
      // cache), and no barrier is needed between the projection and the steps.
      const int64_t prow = by_rows ? rows.end - rows.begin : len * B;  // rows per product
      for (int64_t c = 0; c < (by_rows ? len : 1); ++c) {
        const int64_t r0 = c * B + rows.begin;  // first row within the chunk
        for (int64_t q = own.begin; q < own.end; ++q)
          for (int64_t g = 0; g < G; ++g)
            panel_gemm<T>(prow, I, a.x + (t_lo * B + r0) * I, I, wih_p + (g * nq + q) * I * NR,
                          xg_chunk_t + xg_group(q) + r0 * G * W + g * W + xg_unit(q), G * W,
                          int(min_<int64_t>(NR, H - q * NR)), bias + g * H + q * NR, KCP);
      }
      for (int64_t step = s0; step < s0 + len; ++step) {
        if ((quit = stop.poll(tid, step, !by_rows))) break;
        const int64_t t = s.reverse ? T_ - 1 - step : step;
        // Row b's input projection at unit block q (gate g at + g * W).
        auto xg_at = [&](int64_t q, int64_t b) {
          return xg_chunk_t + xg_group(q) + ((t - t_lo) * B + b) * G * W + xg_unit(q);
        };
        const T* hp;
        T* hn;
        const T* cp = nullptr;
        T* cn = nullptr;
        T* ex = nullptr;
        if (training) {
          hp = states + in_slot(t) * B * H;
          hn = states + out_slot(t) * B * H;
          if (cells) {
            cp = cells + in_slot(t) * B * H;
            cn = cells + out_slot(t) * B * H;
          }
          if (extra) ex = extra + t * B * H;
        } else {
          // Without lengths y_t is h_t: the step keeps its state there (one store per element
          // instead of two) and the next step reads it back; h0 comes from hbuf.
          hp = !h_in_y     ? hbuf.get() + (step % 2) * B * H
               : step == 0 ? hbuf.get()
                           : a.y + (s.reverse ? t + 1 : t - 1) * B * H;
          hn = !h_in_y ? hbuf.get() + ((step + 1) % 2) * B * H : a.y + t * B * H;
          cp = cn = cbuf.get();  // (null for the cells without them: unallocated)
          ex = rhbuf.get();
        }
        T* y_t = a.y ? a.y + t * B * H : hn;  // y_t == hn: the epilogues store h once
        if (nt > 1 && !by_rows)  // h_{t-1} was half written by other cores: fetch it now,
                                 // rather than miss by miss inside the micro-kernel's broadcasts
          for (int64_t e = 0; e < B * H; e += 64 / int64_t(sizeof(T)))
            __builtin_prefetch(hp + e, 0, 2);
        T* tb = tiles.get() + tid * tile_elems;
        const int64_t nrows = rows.end - rows.begin;
        // The state rows the epilogue of block q, row b will touch, asked into L2 before the
        // block's product: a weight stream larger than L2 (W_hh of 4 MiB at H = 512) evicts
        // them between steps, and their rows lie H apart, each a miss of its own. Then they
        // arrive during the product instead of one by one inside the epilogue.
        auto warm = [&](int64_t q, int64_t b) PYRNN_INLINE_LAMBDA {
          constexpr int64_t kLine = 64 / int64_t(sizeof(T));
          const int64_t o = b * H + q * NR;
          const T* xq = xg_at(q, b);
          for (int64_t e = 0; e < NR; e += kLine) {
            __builtin_prefetch(hp + o + e, 0, 2);
            if (cp) __builtin_prefetch(cp + o + e, 0, 2);
            if (ex) __builtin_prefetch(ex + o + e, 1, 2);
            __builtin_prefetch(hn + o + e, 1, 2);
            if (y_t != hn) __builtin_prefetch(y_t + o + e, 1, 2);
            for (int64_t g = 0; g < G; ++g) __builtin_prefetch(xq + g * W + e, 1, 2);
          }
        };
        // The recurrent product of gates [g0, g0 + ng) of this thread's units, from A (B rows
        // of H), into this thread's tile; then epi(q0, q1, b0, m, tile, row stride, gate
        // stride) consumes rows [b0, b0 + m) of unit blocks [q0, q1) while they are hot.
        auto step_product = [&](const T* A, int g0, int ng, auto&& epi) PYRNN_INLINE_LAMBDA {
          const int64_t ldt = ng * NR;
          if (few) {
            // One or two rows: several unit blocks per call (few_rows_panels keeps enough FMA
            // chains in flight), into a tile of all this thread's units (gate g at g * Wt), then
            // one epilogue call for them all. Same FMA sequence per element as below.
            const int64_t qg = (4 + ng - 1) / ng, Wt = (own.end - own.begin) * NR, ldq = ng * Wt;
            if (nrows == 0 || Wt == 0) return;
            // The groups in ascending, then descending order on alternate steps: a step starts on
            // the weight panels the last one ended with, still in L1 (and, for weights larger
            // than L2, in L2). The order never changes an element's arithmetic.
            const int64_t ngroups = (own.end - own.begin + qg - 1) / qg;
            for (int64_t gi = 0; gi < ngroups; ++gi) {
              const int64_t q0 = own.begin + (step % 2 ? ngroups - 1 - gi : gi) * qg;
              const int64_t nb = min_(qg, own.end - q0);
              const T* bp[8];
              T* cq[8];
              int n = 0;
              for (int64_t qi = 0; qi < nb; ++qi)
                for (int g = 0; g < ng; ++g, ++n) {
                  bp[n] = whh_p + ((g0 + g) * nq + q0 + qi) * H * NR;
                  cq[n] = tb + g * Wt + (q0 + qi - own.begin) * NR;
                }
              few_rows_panels<T>(nrows, H, A + rows.begin * H, H, bp, cq, ldq, n, 0);
            }
            epi(own.begin, own.end, rows.begin, nrows, tb, ldq, Wt);
            return;
          }
          // Per block of NR units and group of RG batch rows, k-blocked in slices of a weight
          // panel (Tuning::step_slice_bytes; 32 to 128 KiB measured alike on the Xeon) that
          // every row tile reuses from cache.
          for (int64_t q = own.begin; q < own.end; ++q)
            for (int64_t b0 = rows.begin; b0 < rows.end; b0 += RG) {
              const int64_t m = min_<int64_t>(RG, rows.end - b0);
              for (int64_t b = b0; b < b0 + m; ++b) warm(q, b);
              for (int g = 0; g < ng; ++g)
                for (int64_t k0 = 0; k0 < H; k0 += KCS)
                  panel_rows<T>(m, min_(KCS, H - k0), A + b0 * H + k0, H, 1,
                                whh_p + ((g0 + g) * nq + q) * H * NR + k0 * NR, tb + g * NR, ldt,
                                NR, k0 == 0 ? 0 : 1, nullptr);
              epi(q, q + 1, b0, m, tb, ldt, NR);
            }
        };
        // The epilogue of rows [b0, b0 + m) of unit blocks [q0, q1): the tile's rows grs apart,
        // its gates gs apart.
        auto epilogue = [&](auto phase2, int64_t q0, int64_t q1, int64_t b0, int64_t m, const T* gh,
                            int64_t grs, int64_t gs) {
          const int64_t j0 = q0 * NR, j1 = min_(H, q1 * NR);
          const StepRows<T> r{xg_at(q0, b0), G * W, W,         gh, grs, gs, b_hn, hp, cp, cn, hn,
                              y_t,           ex,    a.lengths, t};
          if (phase2)
            training ? cell.template forward_phase2<true>(j0, j1, b0, b0 + m, r)
                     : cell.template forward_phase2<false>(j0, j1, b0, b0 + m, r);
          else
            training ? cell.template forward<true>(j0, j1, b0, b0 + m, r)
                     : cell.template forward<false>(j0, j1, b0, b0 + m, r);
        };
        step_product(hp, 0, cell.step_gates(), [&](auto... e) { epilogue(false, e...); });
        if (cell.two_phase()) {
          if (!by_rows) bar.wait();  // r * h_prev of every unit is read below
          step_product(ex, 2, 1, [&](auto... e) { epilogue(true, e...); });  // n from (r h) W_hn
        }
        if (!by_rows) bar.wait();  // h_t of every unit is read by the next step
      }
      if (a.y_done) __atomic_store_n(a.y_done, t_lo + len, __ATOMIC_RELEASE);  // (one thread)
    }
  }
  if (stop.stopped()) {  // interrupted: the caller throws the outputs away
    if (a.y_done)
      __atomic_store_n(a.y_done, INT64_MAX, __ATOMIC_RELEASE);  // free the next call of a chain
    return;
  }
  const T* h_last = training ? states + (s.reverse ? 0 : T_) * B * H
                    : h_in_y ? a.y + (s.reverse ? 0 : T_ - 1) * B * H
                             : hbuf.get() + (T_ % 2) * B * H;
  std::memcpy(a.h_n, h_last, sizeof(T) * B * H);
  if (cell.has_c()) {
    const T* c_last = training ? cells + (s.reverse ? 0 : T_) * B * H : cbuf.get();
    std::memcpy(a.c_n, c_last, sizeof(T) * B * H);
  }
}

// Backward's stages after the time loop ------------------------------------------------------
// Bias gradients: column sums of dG over all T*B rows, each column summed in row order;
// columns split over threads, rows streamed in memory order. The input side equals the
// recurrent side except reset-after GRU's n rows (their input-side gradient is in extra).
// Columns below k_from came with the weight gradient (its column of ones) and are left alone.
// sums: null, the sums are written to db_ih/db_hh; else (G*H + H scratch) they are added to
// them once complete (accumulate: the same bits as adding the written sums afterwards).
template <typename T>
static void bias_gradients(const CellOps<T>& cell, const T* gates, const T* extra, int64_t TB,
                           int64_t k_from, T* db_ih, T* db_hh, T* sums, int tid, int nt) {
  const int64_t H = cell.H, GH = cell.gates() * H;
  const Range cr0 = split(GH - k_from, tid, nt);
  const Range cr = {k_from + cr0.begin, k_from + cr0.end};
  // The column sums of dG (into db_hh, or into `sums` when they are to be added to the outputs)
  T* const sh = sums ? sums : db_hh ? db_hh : db_ih;
  for (int64_t k = cr.begin; k < cr.end; ++k) sh[k] = T(0);
  for (int64_t r = 0; r < TB; ++r) {
    const T* g = gates + r * GH;
#pragma omp simd
    for (int64_t k = cr.begin; k < cr.end; ++k) sh[k] += g[k];
  }
  // reset-after GRU's n rows: the input side has its own gradient (extra), k in [2H, 3H)
  const Range nr = {max_(cr.begin, 2 * H), cell.gru_ra() && (sums || db_ih) ? cr.end : 0};
  T* const sx = sums ? sums + GH - 2 * H : db_ih;  // (index k: sums[GH + k - 2H])
  for (int64_t k = nr.begin; k < nr.end; ++k) sx[k] = T(0);
  for (int64_t r = 0; r < TB && nr.begin < nr.end; ++r) {
    const T* e = extra + r * H;
#pragma omp simd
    for (int64_t k = nr.begin; k < nr.end; ++k) sx[k] += e[k - 2 * H];
  }
  const int64_t n0 = nr.begin < nr.end ? nr.begin : cr.end;  // first n row of the range
  if (!sums) {
    if (db_ih && db_hh)
      for (int64_t k = cr.begin; k < n0; ++k) db_ih[k] = db_hh[k];
    return;
  }
  for (int64_t k = cr.begin; k < cr.end; ++k) {
    if (db_hh) db_hh[k] += sh[k];
    if (db_ih) db_ih[k] += k < n0 ? sh[k] : sx[k];
  }
}

// ||dL/dh_t|| (and ||dL/dc_t||) from the per-(t, row) squared sums, added in one fixed order:
// the same however the steps were shared among threads.
template <typename T>
static void step_norms(const double* row_h, const double* row_c, int64_t T_, int64_t B, T* norm_h,
                       T* norm_c) {
  for (int64_t t = 0; t < T_; ++t) {
    double sh = 0, sc = 0;
    for (int64_t e = t * B; e < (t + 1) * B; ++e) {
      sh += row_h[e];
      if (norm_c) sc += row_c[e];
    }
    norm_h[t] = T(std::sqrt(sh));
    if (norm_c) norm_c[t] = T(std::sqrt(sc));
  }
}

template <typename T>
static void backward(const BackwardArgs<T>& a) {
  const LayerShape& s = a.s;
  const CellOps<T> cell = CellOps<T>::of(s);
  const int64_t T_ = s.T, B = s.B, I = s.I, H = s.H, G = cell.gates(), GH = G * H, TB = T_ * B;
  constexpr int NR = GemmCfg<T>::NR;
  const GemmBlocks gb = gemm_blocks<T>(tuning(cache_info()));
  const int64_t KC = gb.kc;
  const int64_t nq = (H + NR - 1) / NR, Hp = nq * NR;
  const bool lstm = cell.has_c();
  const bool gru_ra = cell.gru_ra();
  const bool gru_rb = cell.two_phase();
  const WorkspaceLayout wl = workspace_layout(s);
  T* const gates = a.ws + wl.gates;  // becomes dG: recurrent-side gate gradients (T, B, G*H)
  const T* const states = a.ws + wl.states;
  const T* const cells = a.ws + wl.cells;
  T* const extra = a.ws + wl.extra;  // GRU: becomes the input-side n gradient (reset_after)
  auto in_slot = [&](int64_t t) { return s.reverse ? t + 1 : t; };
  auto out_slot = [&](int64_t t) { return s.reverse ? t : t + 1; };

  // dh_{t-1} = dG_t W_hh: W_hh (G*H, H) packed in panels over H, i.e. per block of units.
  Buffer<T> whh_p(nq * GH * NR);
  Buffer<T> drh(gru_rb ? B * Hp : 0);
  Buffer<T> zero_dy(a.dy ? 0 : B * H);
  if (!a.dy) std::memset(zero_dy.get(), 0, sizeof(T) * B * H);
  // Squared-norm partial sums per (batch row, unit block) of the last two steps (a ring: a
  // thread writes step t - 2's slot only after the barrier that follows every thread's sums
  // of step t), added per row in unit order into row_h/row_c (t, b) once the row is complete,
  // and those per step at the end: one fixed order however the steps are shared among threads.
  Buffer<double> part_h(2 * B * nq), part_c(lstm ? 2 * B * nq : 0);
  Buffer<double> row_h(T_ * B), row_c(lstm ? T_ * B : 0);
  // The weight gradient's product reads [X | H_prev], or [X | H_prev | 1] where a column of
  // ones costs no extra micro-tile (the transposed form's rows of MR, the plain form's panels
  // of NR): that column of the product is the bias gradient, the column sums of dG in row
  // order, the same FMA sequence as the pass over dG it replaces (the same bits). A pass over
  // dG after the loop is 4-5% of the backward at T = 150, B = 32, I = 1, H = 64.
  const bool tr = num_panels<T>(I + H) * NR * 7 > (I + H) * 8;  // (see weight_grad below)
  const bool want_db = a.db_ih || a.db_hh;
  const bool db_in_product = want_db && (tr ? (I + H) % GemmCfg<T>::MR != 0 : (I + H) % NR != 0);
  const int64_t NX = I + H + (db_in_product ? 1 : 0);  // columns of the product's [X | H_prev]
  Buffer<T> slab(KC * num_panels<T>(max_(GH, NX)) * NR);
  // W_ih packed over its full K for dX = dG W_ih (see gemm_par's packed path); GRU's n rows
  // go through their own product.
  const int64_t K_x = cell.shared_rows();
  const bool n_apart = K_x < GH;  // GRU's n rows: their own dX product
  const bool want_dx = a.dx != nullptr;  // else no dX product (the input needs no gradient)
  const T* const nx = gru_ra ? extra : gates + 2 * H;  // input-side n-gate gradient (GRU)
  const int64_t nx_ld = gru_ra ? H : GH;
  Buffer<T> wih_pk(want_dx ? num_panels<T>(I) * K_x * NR : 0),
      wihn_pk(want_dx && n_apart ? num_panels<T>(I) * H * NR : 0);
  Buffer<T> db_sums(want_db && a.accumulate ? GH + H : 0);  // bias_gradients' sums to add
  Buffer<T> dw_cat(GH * NX);  // [dW_ih | dW_hh (| db)] (or its transpose) before the split
  T* const dh = a.dh0;  // running dL/dh, (B, H)
  T* const dc = a.dc0;  // running dL/dc, (B, H)
  if (a.dh_n)
    std::memcpy(dh, a.dh_n, sizeof(T) * B * H);
  else
    std::memset(dh, 0, sizeof(T) * B * H);
  if (lstm) {
    if (a.dc_n)
      std::memcpy(dc, a.dc_n, sizeof(T) * B * H);
    else
      std::memset(dc, 0, sizeof(T) * B * H);
  }
  const T* w_hh = a.w_hh;
  const T* w_ih = a.w_ih;
  const T* x = a.x;
  const T* hprev = states + (s.reverse ? B * H : 0);  // (T*B, H): input state of each row
  auto get_whh = [w_hh, H](int64_t k, int64_t n) { return w_hh[k * H + n]; };
  const RowsCat<T> get_xh{x, I, hprev, H, db_in_product};  // [X | H_prev (| 1)]
  const RowsCat<T> get_xrh{x, I, extra, H, db_in_product};  // [X | r * H_prev (| 1)] (GRU r.b.)
  auto get_wih = [w_ih, I](int64_t k, int64_t n) { return w_ih[k * I + n]; };
  auto get_wih_n = [w_ih, I, H](int64_t k, int64_t n) { return w_ih[(2 * H + k) * I + n]; };
  const Tuning tn = tuning(cache_info());
  const ThreadPlan plan =
      plan_threads(usable_threads(a.nthreads), s, GH * H * int64_t(sizeof(T)), 0, tn);
  const int nthreads = plan.nthreads;
  const bool by_rows = plan.by_rows;
  // In a pipeline (dx_done is set only by a chained backward_group, whose calls run on one
  // thread each: a chunk's dG of every unit is then complete), dX is computed chunk by chunk
  // inside the time loop and published to the next call, which reads it as its dy.
  const bool dx_in_loop = a.dx_done != nullptr;
  const int64_t dx_chunk = max_<int64_t>(1, a.chunk_steps);
  const int64_t kApack = gb.mc * KC;
  const int64_t KCS = step_slice<T>(tn);
  Buffer<T> apack(int64_t(nthreads) * kApack);  // packed A blocks of the big GEMMs

  Barrier bar;
  StopPoll stop(a.stop);
#pragma omp parallel num_threads(nthreads)
  {
    const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
#pragma omp single
    bar.reset(nt);  // (implicit barrier after single)
    T* const ap = apack.get() + tid * kApack;
    // dX rows of steps [t0, t1) = dGx W_ih (GRU's n rows through their own product). Each
    // element is the same FMA sequence over the gates whatever the rows in one call, so a
    // chunk at a time gives the bits of one product over all T*B rows.
    auto dx_rows = [&](int64_t t0, int64_t t1) {
      const int64_t m = (t1 - t0) * B;
      gemm_par<T>(m, I, K_x, gates + t0 * B * GH, GH, 1, wih_pk.get(), get_wih, nullptr, ap,
                  a.dx + t0 * B * I, I, false, nullptr, tid, nt, bar);
      if (n_apart) {
        bar.wait();  // (the packed path has no barrier of its own)
        gemm_par<T>(m, I, H, nx + t0 * B * nx_ld, nx_ld, 1, wihn_pk.get(), get_wih_n, nullptr, ap,
                    a.dx + t0 * B * I, I, true, nullptr, tid, nt, bar);
      }
    };
    {
      const Range pr = split(nq, tid, nt);
      pack_panels<T>(get_whh, H, 0, GH, pr.begin, pr.end, whh_p.get());
      const Range px = split(want_dx ? num_panels<T>(I) : 0, tid, nt);
      pack_panels<T>(get_wih, I, 0, K_x, px.begin, px.end, wih_pk.get());
      if (n_apart) pack_panels<T>(get_wih_n, I, 0, H, px.begin, px.end, wihn_pk.get());
    }
    // This thread's blocks of units and batch rows (see plan_threads).
    const Range own = by_rows ? Range{0, nq} : split(nq, tid, nt);
    const Range rows = by_rows ? split(B, tid, nt) : Range{0, B};
    bar.wait();
    int64_t dx_hi = T_;  // in a pipeline: dX of steps [dx_hi, T) is written and published
    for (int64_t step = T_ - 1; step >= 0; --step) {
      if (stop.poll(tid, T_ - 1 - step, !by_rows)) break;
      const int64_t t = s.reverse ? T_ - 1 - step : step;
      if (a.dy_ready && chain_input_stopped(a.dy_ready, T_ - t)) {  // (never reverse)
        stop.force();
        break;
      }
      T* dg_t = gates + t * B * GH;
      const T* hp = states + in_slot(t) * B * H;
      const T* ho = states + out_slot(t) * B * H;
      const T* dy_t = a.dy ? a.dy + t * B * H : zero_dy.get();  // one code path either way
      // Row by row (a row of saved gates is G*H contiguous elements, from memory: its blocks
      // in order, not one block of every row then the next block).
      for (int64_t b = rows.begin; b < rows.end; ++b) {
        T* xg = dg_t + b * GH;
        const int64_t o = b * H;
        double* const ph = part_h.get() + ((t % 2) * B + b) * nq;
        double* const pc = lstm ? part_c.get() + ((t % 2) * B + b) * nq : nullptr;
        T* exo = cell.has_extra() ? extra + t * B * H + o : nullptr;
        if (!active(a.lengths, b, t)) {  // state passed through: gradient too
          cell.backward_inactive(own.begin * NR, min_(H, own.end * NR), xg, exo);
          for (int64_t q = own.begin; q < own.end; ++q) {
            ph[q] = 0;
            if (pc) pc[q] = 0;
          }
          continue;
        }
        cell.backward(own.begin, own.end, NR, xg, hp + o, ho + o,
                      lstm ? cells + in_slot(t) * B * H + o : nullptr,
                      lstm ? cells + out_slot(t) * B * H + o : nullptr, dy_t + o, dh + o,
                      lstm ? dc + o : nullptr, exo, ph, pc);
      }
      if (!by_rows) bar.wait();  // the products below read dG_t of every unit
      {  // each row's sums over its unit blocks, now complete (split by units: after the barrier)
        const Range rr = by_rows ? rows : split(B, tid, nt);
        for (int64_t b = rr.begin; b < rr.end; ++b) {
          const double* const ph = part_h.get() + ((t % 2) * B + b) * nq;
          const double* const pc = lstm ? part_c.get() + ((t % 2) * B + b) * nq : nullptr;
          double sh = 0, sc = 0;
          for (int64_t q = 0; q < nq; ++q) {
            sh += ph[q];
            if (pc) sc += pc[q];
          }
          row_h.get()[t * B + b] = sh;
          if (lstm) row_c.get()[t * B + b] = sc;
        }
      }
      const int64_t nr = rows.end - rows.begin;
      if (gru_rb && nr > 0) {
        for (int64_t q = own.begin; q < own.end; ++q) {
          // drh = dn W_hn (K = H rows 2H..3H of the packed W_hh)
          panel_rows<T>(nr, H, dg_t + rows.begin * GH + 2 * H, GH, 1,
                        whh_p.get() + q * GH * NR + 2 * H * NR,
                        drh.get() + rows.begin * Hp + q * NR, Hp, NR, 0, nullptr);
          const int64_t j0 = q * NR, j1 = min_(H, j0 + NR);
          for (int64_t b = rows.begin; b < rows.end; ++b)
            if (active(a.lengths, b, t))
              cell.backward_phase2(j0, j1, dg_t + b * GH, hp + b * H, drh.get() + b * Hp,
                                   dh + b * H);
        }
      }
      if (gru_rb && !by_rows) bar.wait();
      const int64_t K = cell.backward_k();  // reset-before GRU's n gate went through rh
      // k-blocked so that a step_slice x NR slice of the panel stays in L1 across the row
      // tiles; each element still sees the same FMA sequence (C is stored and reloaded
      // exactly). (Packing dG_t per step first was measured: no gain, +5% packing time.)
      int64_t q_from = own.begin;
      if (nr > 0 && nr <= 2) {  // one or two rows: the full unit blocks 4 at a time (see forward)
        // (the groups in ascending, then descending order on alternate steps, as in forward)
        const int64_t full_end = min_(own.end, H / NR);
        const int64_t ngroups = full_end > q_from ? (full_end - q_from + 3) / 4 : 0;
        for (int64_t gi = 0; gi < ngroups; ++gi) {
          const int64_t q0 = q_from + (step % 2 ? ngroups - 1 - gi : gi) * 4;
          const int n = int(min_<int64_t>(4, full_end - q0));
          const T* bp[4];
          T* cq[4];
          for (int i = 0; i < n; ++i) {
            bp[i] = whh_p.get() + (q0 + i) * GH * NR;
            cq[i] = dh + rows.begin * H + (q0 + i) * NR;
          }
          few_rows_panels<T>(nr, K, dg_t + rows.begin * GH, GH, bp, cq, H, n, 1);
        }
        q_from = max_(own.begin, full_end);  // the partial last block, if any, below
      }
      for (int64_t q = q_from; q < own.end && nr > 0; ++q)
        for (int64_t k0 = 0; k0 < K; k0 += KCS)
          panel_rows<T>(nr, min_(KCS, K - k0), dg_t + rows.begin * GH + k0, GH, 1,
                        whh_p.get() + q * GH * NR + k0 * NR, dh + rows.begin * H + q * NR, H,
                        int(min_<int64_t>(NR, H - q * NR)), 1, nullptr);
      // No barrier: the next step's epilogue reads only this thread's own units and rows of
      // dh, and writes another step's dG. Inactive rows had dG = 0, so their dh passed through.
      if (dx_in_loop && ((T_ - t) % dx_chunk == 0 || t == 0)) {  // a chunk of dG is complete
        if (want_dx) dx_rows(t, dx_hi);  // (the bindings require it of a chain's calls)
        dx_hi = t;
        __atomic_store_n(a.dx_done, T_ - t, __ATOMIC_RELEASE);
      }
    }
    bar.wait();
    if (!stop.stopped()) {  // interrupted: skip the products after the loop (not indented)
      // Weight gradients: [dW_ih | dW_hh] = dG^T [X | H_prev], one GEMM over all T*B rows for
      // both (dG is read and packed once), into dw_cat, then split. Where I+H would leave the
      // last micro-tile panel mostly empty (65 columns at I = 1, H = 64: 19% of the FMA work
      // wasted), the product is computed transposed instead, [X | H_prev]^T dG into dw_cat as
      // (I+H, G*H): its columns are the G*H gate rows, whole panels, and the operand packed by
      // transposition is [X | H_prev] rather than dG (the backward at T = 150, B = 32, I = 1,
      // H = 64 took 12% less time). Without that waste the plain form is faster (4-5% on the
      // medium configuration's backward: its product's B, dG, is G*H wide). Either way each
      // element is the same FMA sequence over the rows in order. GRU's n rows differ between
      // the two sides: reset_after has separate input/recurrent n gradients (extra / gates),
      // reset-before multiplies r*h_prev (extra) instead of h_prev.
      // The 1/8 threshold (`tr`, set before the parallel region beside the bias rule that
      // depends on it; padding over the panels' columns, NR the ISA level's) lies between the
      // two cases measured on the Zen 3: 19% padding gained 12%, none lost 5%.
      T* const dwc = dw_cat.get();
      // Rows [r0, r0 + m) of the gradient, its columns [c0, c0 + n) = dg^T src (dg: m columns
      // of rows dg_ld apart; src: n columns of [X | H_prev] or [X | r * H_prev]).
      auto weight_grad = [&](const RowsCat<T>& src, int64_t c0, int64_t n, const T* dg,
                             int64_t dg_ld, int64_t r0, int64_t m) {
        if (!tr) {
          gemm_par<T>(m, n, TB, dg, 1, dg_ld, nullptr, src, slab.get(), ap, dwc + r0 * NX + c0, NX,
                      false, nullptr, tid, nt, bar);
          return;
        }
        auto get_dg = [dg, dg_ld](int64_t k, int64_t j) { return dg[k * dg_ld + j]; };
        gemm_par<T>(n, m, TB, nullptr, 0, 0, nullptr, get_dg, slab.get(), ap, dwc + c0 * GH + r0,
                    GH, false, nullptr, tid, nt, bar, &src);
      };
      weight_grad(get_xh, 0, NX, gates, GH, 0, K_x);
      if (gru_rb) weight_grad(get_xrh, 0, NX, gates + 2 * H, GH, 2 * H, H);
      if (gru_ra) {
        weight_grad(RowsCat<T>{x, I, nullptr, 0}, 0, I, extra, H, 2 * H, H);
        weight_grad(RowsCat<T>{hprev, H, nullptr, 0}, I, H, gates + 2 * H, GH, 2 * H, H);
      }
      {  // the split, into the outputs or added to them (accumulate)
        const bool acc = a.accumulate;
        auto put = [acc](T* dst, T v) { *dst = acc ? *dst + v : v; };
        auto put_row = [acc](T* dst, const T* src, int64_t n) {
          if (!acc) {
            std::memcpy(dst, src, sizeof(T) * size_t(n));
            return;
          }
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
        };
        const Range rr = split(GH, tid, nt);
        for (int64_t r = rr.begin; r < rr.end; ++r)
          if (tr) {
            for (int64_t i = 0; i < I; ++i) put(a.dw_ih + r * I + i, dwc[i * GH + r]);
            for (int64_t j = 0; j < H; ++j) put(a.dw_hh + r * H + j, dwc[(I + j) * GH + r]);
          } else {
            put_row(a.dw_ih + r * I, dwc + r * NX, I);
            put_row(a.dw_hh + r * H, dwc + r * NX + I, H);
          }
        if (db_in_product)  // (reset-after GRU's n rows: the pass below, their sides differ)
          for (int64_t r = rr.begin; r < min_(rr.end, gru_ra ? 2 * H : GH); ++r) {
            const T db = tr ? dwc[(I + H) * GH + r] : dwc[r * NX + I + H];
            if (a.db_ih) put(a.db_ih + r, db);
            if (a.db_hh) put(a.db_hh + r, db);
          }
      }
      if (want_dx && !dx_in_loop) dx_rows(0, T_);  // dX (T*B, I) = dGx W_ih
      if (want_db) {
        const int64_t k_from = !db_in_product ? 0 : gru_ra ? 2 * H : GH;
        if (k_from < GH)
          bias_gradients<T>(cell, gates, extra, TB, k_from, a.db_ih, a.db_hh, db_sums.get(), tid,
                            nt);
      }
    }  // !stop.stopped()
  }
  if (stop.stopped()) {  // interrupted: the caller throws the outputs away
    if (a.dx_done)
      __atomic_store_n(a.dx_done, INT64_MAX, __ATOMIC_RELEASE);  // free the next call of a chain
    return;
  }
  step_norms(row_h.get(), row_c.get(), T_, B, a.norm_h, lstm ? a.norm_c : nullptr);
}

// ---- several layer-directions at once ------------------------------------------------------
// Each call runs whole on one thread (its own parallel region is then a team of one), so its
// arithmetic is that of a one-thread call: bitwise the result of the calls one by one. Calls
// are dealt to threads in contiguous runs; in a chain each call waits, chunk by chunk, for
// the steps of its input that the previous call has published (a thread that holds several
// calls of a chain runs them in order, so it never waits on itself).

// Steps per chunk of a pipeline: small chunks keep it full, ~T/16 steps (at most the default
// ~128 rows of the input projection).
static inline int64_t pipeline_chunk(const LayerShape& s) {
  return max_<int64_t>(1, min_<int64_t>((s.T + 15) / 16, max_<int64_t>(1, 128 / s.B)));
}
// A chain's progress counters, one cache line each (a producer's stores would otherwise
// invalidate the line its neighbours poll).
constexpr int64_t kCounterStride = 64 / int64_t(sizeof(int64_t));

// Runs calls[0, n) each whole on one thread. Chained, wire(call k, counter of call k - 1 (or
// null), call k's own counter, whether k is the last call) connects it to the pipeline.
template <typename Args, typename Wire, typename Run>
static void run_group(Args* calls, int n, bool chained, int nthreads, const Wire& wire,
                      const Run& run) {
  if (n <= 0) return;
  Buffer<int64_t> progress(chained ? n * kCounterStride : 0);  // (no std::vector: see simd.h)
  int64_t* const counter = progress.get();  // call k's at counter + k * kCounterStride
  for (int k = 0; k < n; ++k) {
    calls[k].nthreads = 1;
    if (!chained) continue;
    counter[k * kCounterStride] = 0;
    calls[k].chunk_steps = pipeline_chunk(calls[k].s);
    wire(calls[k], k > 0 ? counter + (k - 1) * kCounterStride : nullptr,
         counter + k * kCounterStride, k + 1 == n);
  }
#pragma omp parallel num_threads(max_(1, min_(n, usable_threads(nthreads))))
  {
    const Range mine = split(n, omp_get_thread_num(), omp_get_num_threads());
    for (int64_t k = mine.begin; k < mine.end; ++k) run(calls[k]);
  }
}

// Chained: call k+1's x is call k's y, read as its steps are written (forward in time).
template <typename T>
static void forward_group(ForwardArgs<T>* calls, int n, bool chained, int nthreads) {
  run_group(
      calls, n, chained, nthreads,
      [](ForwardArgs<T>& a, int64_t* prev, int64_t* own, bool) {
        a.x_ready = prev;
        a.y_done = own;
      },
      [](const ForwardArgs<T>& a) { forward<T>(a); });
}

// Chained: call k+1's dy is call k's dx (a stack's layers from the top down, reverse =
// false), which call k writes chunk by chunk inside its time loop, as the steps of its dG
// complete (backward runs from the last step): call k+1 runs its steps as they arrive.
template <typename T>
static void backward_group(BackwardArgs<T>* calls, int n, bool chained, int nthreads) {
  run_group(
      calls, n, chained, nthreads,
      [](BackwardArgs<T>& a, int64_t* prev, int64_t* own, bool last) {
        a.dy_ready = prev;  // (counted from the end)
        a.dx_done = last ? nullptr : own;
      },
      [](const BackwardArgs<T>& a) { backward<T>(a); });
}

#include "conv1d.h"

// ---- entry points for the table -----------------------------------------------------------
template <typename T>
static void gemm_entry(int64_t M, int64_t N, int64_t K, const T* A, const T* B, T* C,
                       int nthreads) {
  constexpr int NR = GemmCfg<T>::NR;
  Buffer<T> bp(num_panels<T>(N) * K * NR);
  auto get = [B, N](int64_t k, int64_t n) { return B[k * N + n]; };
  if (nthreads < 1) nthreads = 1;
  const GemmBlocks gb = gemm_blocks<T>(tuning(cache_info()));
  const int64_t kApack = gb.mc * gb.kc;
  Buffer<T> apack(int64_t(nthreads) * kApack);
  Barrier bar;
#pragma omp parallel num_threads(nthreads)
  {
    const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
#pragma omp single
    bar.reset(nt);  // (implicit barrier after single)
    const Range pr = split(num_panels<T>(N), tid, nt);
    pack_panels<T>(get, N, 0, K, pr.begin, pr.end, bp.get());
    bar.wait();
    gemm_par<T>(M, N, K, A, K, 1, bp.get(), get, nullptr, apack.get() + tid * kApack, C, N, false,
                nullptr, tid, nt, bar);
  }
}

template <MathFn F>
static void math_loop(const float* x, float* y, int64_t n) {
  for_lanes<float>(0, n, [&](int64_t i, auto tag) PYRNN_INLINE_LAMBDA {
    const vf v = ld<vf>(x + i, tag);
    st(y + i, F == MathFn::EXP ? vexp(v) : F == MathFn::SIGMOID ? vsigmoid(v) : vtanh(v), tag);
  });
}

static void math_entry(MathFn fn, const float* x, float* y, int64_t n) {
  switch (fn) {
    case MathFn::EXP:
      math_loop<MathFn::EXP>(x, y, n);
      break;
    case MathFn::SIGMOID:
      math_loop<MathFn::SIGMOID>(x, y, n);
      break;
    case MathFn::TANH:
      math_loop<MathFn::TANH>(x, y, n);
      break;
  }
}

// Independent FMA chains on full vectors: the machine's float32 FMA throughput.
static double fma_peak_entry(int nthreads) {
  using V = vec_t<float>;
  constexpr int CH = 12;
  const int64_t iters = 20000000;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const double t0 = omp_get_wtime();
    float sink = 0;
#pragma omp parallel num_threads(nthreads < 1 ? 1 : nthreads) reduction(+ : sink)
    {
      V acc[CH];
      V m = V{} + 0.999999f, c = V{} + 1e-7f;
      for (int i = 0; i < CH; ++i) acc[i] = V{} + float(i + omp_get_thread_num());
      for (int64_t it = 0; it < iters / CH; ++it) {
#pragma GCC unroll 12
        for (int i = 0; i < CH; ++i) acc[i] = acc[i] * m + c;
      }
      for (int i = 0; i < CH; ++i) sink += acc[i][0];
    }
    const double dt = omp_get_wtime() - t0;
    const double flops =
        2.0 * (iters / CH) * CH * Vec<float>::width * (nthreads < 1 ? 1 : nthreads);
    if (sink == 12345.f) best += 0;  // use sink
    best = max_(best, flops / dt / 1e9);
  }
  return best;
}

const KernelTable& table() {
  static const KernelTable t = {
      PYRNN_ISA_NAME,
      PYRNN_ISA_FLAGS,
      kVecBytes * 8,
      forward<float>,
      forward<double>,
      backward<float>,
      backward<double>,
      gemm_entry<float>,
      gemm_entry<double>,
      math_entry,
      fma_peak_entry,
      forward_group<float>,
      forward_group<double>,
      backward_group<float>,
      backward_group<double>,
      packed_size_entry<float>,
      packed_size_entry<double>,
      pack_entry<float>,
      pack_entry<double>,
      conv1d_forward<float>,
      conv1d_forward<double>,
      conv1d_backward<float>,
      conv1d_backward<double>,
  };
  return t;
}

}  // namespace PYRNN_ISA
}  // namespace pyrnn
