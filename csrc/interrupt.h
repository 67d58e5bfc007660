// interrupt.h — Ctrl-C during a kernel call (bindings only; the kernels see an atomic flag).
//
// Python runs signal handlers in the main thread between bytecodes, so a kernel call with the
// GIL released would only see Ctrl-C when it ends. While a call made from the main thread
// runs, and only when Python's SIGINT handler is its default (raise KeyboardInterrupt), a C
// handler is put in front of Python's: it sets the flag the kernels poll between time steps,
// then calls Python's own handler, which records the signal as usual. After the call, the
// previous handler is back in place and the pending signal is run (PyErr_CheckSignals),
// which raises KeyboardInterrupt. A user's own SIGINT handler, or a call from another
// thread, is left alone: the kernel runs to its end as before.
#pragma once
#include <pybind11/pybind11.h>

#include <atomic>

#if !defined(_WIN32)
#include <signal.h>
#endif

namespace pyrnn {

class InterruptWatch {
 public:
  explicit InterruptWatch(unsigned long main_thread_id) {
#if !defined(_WIN32)
    if (PyThread_get_thread_ident() != main_thread_id || !python_default_handler()) return;
    struct sigaction ours{};
    ours.sa_sigaction = &InterruptWatch::on_sigint;
    ours.sa_flags = SA_SIGINFO;
    sigemptyset(&ours.sa_mask);
    flag().store(false);
    active_ = sigaction(SIGINT, &ours, &prev()) == 0;
#else
    (void)main_thread_id;
#endif
  }
  ~InterruptWatch() { restore(); }
  InterruptWatch(const InterruptWatch&) = delete;
  InterruptWatch& operator=(const InterruptWatch&) = delete;

  // What the kernels poll: nullptr when this call is not watched.
  const std::atomic<bool>* stop_flag() const { return active_ ? &flag() : nullptr; }

  // With the GIL held, after the kernel: raise what the signal asks for (KeyboardInterrupt).
  void raise_if_interrupted() {
    if (!active_ || !flag().load()) return;
    restore();
    if (PyErr_CheckSignals() == 0) PyErr_SetNone(PyExc_KeyboardInterrupt);
    throw pybind11::error_already_set();
  }

 private:
  static std::atomic<bool>& flag() {
    static std::atomic<bool> f{false};
    return f;
  }
#if !defined(_WIN32)
  static struct sigaction& prev() {
    static struct sigaction p{};
    return p;
  }
  static void on_sigint(int sig, siginfo_t* info, void* ctx) {
    flag().store(true);
    const struct sigaction& p = prev();
    if (p.sa_flags & SA_SIGINFO) {
      if (p.sa_sigaction) p.sa_sigaction(sig, info, ctx);
    } else if (p.sa_handler != SIG_DFL && p.sa_handler != SIG_IGN && p.sa_handler) {
      p.sa_handler(sig);
    }
  }
  static bool python_default_handler() {
    namespace py = pybind11;
    // _signal, the C module under `signal`: its getsignal returns the handler as is
    // (signal.getsignal wraps it in enum conversions, ~10 us per kernel call).
    static py::handle signal_mod = py::module_::import("_signal").release();
    static py::handle dflt = py::object(signal_mod.attr("default_int_handler")).release();
    static py::handle getsignal = py::object(signal_mod.attr("getsignal")).release();
    static py::handle sigint = py::int_(SIGINT).release();
    return getsignal(sigint).is(dflt);
  }
#endif
  void restore() {
#if !defined(_WIN32)
    if (active_) sigaction(SIGINT, &prev(), nullptr);
#endif
    active_ = false;
  }
  bool active_ = false;
};

}  // namespace pyrnn
