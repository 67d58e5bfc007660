// stop.h — a kernel call's early return when its caller asks (a Python interrupt pending).
// Included inside the ISA namespace by kernels.cpp, like the other kernel headers.
//
// Every thread of a team must leave a time loop at the same step, or the ones that go on wait
// at a barrier forever. With a barrier in every step (threads split by hidden units), thread 0
// latches the flag at the top of step k into slot k % 2, and every thread decides at the top
// of step k + 1 from that slot: the step's barrier has published it, and thread 0 rewrites it
// only at step k + 2, after every thread has passed step k + 1's barrier. Split by rows (no
// barrier inside the loop), each thread decides alone; after the loop, a barrier followed by
// `stopped()` gives every thread the same answer.
class StopPoll {
 public:
  explicit StopPoll(const std::atomic<bool>* flag) : flag_(flag) {}

  // At the top of step number k (0, 1, 2, ... in loop order); `shared`: a barrier per step.
  bool poll(int tid, int64_t k, bool shared) {
    if (!flag_) return false;
    bool stop;
    if (shared) {
      stop = k > 0 && latch_[(k - 1) & 1].load(std::memory_order_relaxed);
      if (tid == 0)
        latch_[k & 1].store(flag_->load(std::memory_order_relaxed), std::memory_order_relaxed);
    } else {
      stop = flag_->load(std::memory_order_relaxed);
    }
    if (stop) stopped_.store(true, std::memory_order_relaxed);
    return stop;
  }

  bool stopped() const { return stopped_.load(std::memory_order_relaxed); }

  // A stop decided by the call itself, for a team of one (a call of a chained group whose
  // input stopped coming: its producer was stopped).
  void force() { stopped_.store(true, std::memory_order_relaxed); }

 private:
  const std::atomic<bool>* flag_;
  std::atomic<bool> latch_[2] = {{false}, {false}};
  std::atomic<bool> stopped_{false};
};
