#pragma once
// The ranks of a data-parallel run: this process's rank and the number of ranks, and the
// few collectives training needs (sums of float and double buffers, broadcast, barrier).
// A process started by mpirun or srun joins MPI_COMM_WORLD; one started plainly is rank 0
// of 1 and never initializes MPI, so a plain `intrain train` behaves as it always did.
//
// Every collective waits with a deadline (the watchdog): a peer that died or hangs makes
// the others stop with an error naming their rank and the collective, then MPI_Abort ends
// the whole job, instead of waiting forever. mpirun itself ends the job when a rank is
// killed or exits without finishing.
#include <cstdint>
#include <string>

namespace intrain::train {

class Communicator {
 public:
  // The world: initializes MPI on first use when launched by an MPI launcher.
  static Communicator& world();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  bool distributed() const { return size_ > 1; }

  // In place: every rank ends with the element-wise sum over all ranks.
  void allreduce_sum(float* data, int64_t count, const char* what);
  void allreduce_sum(double* data, int64_t count, const char* what);
  // In place: every rank ends with rank `root`'s bytes.
  void broadcast(void* data, int64_t bytes, const char* what, int root = 0);
  void broadcast(std::string& text, const char* what, int root = 0);
  void barrier(const char* what);

  // Seconds a collective may wait for the other ranks before the run is ended
  // (INTRAIN_COLLECTIVE_TIMEOUT, default 300: long enough for rank 0 to write a large
  // checkpoint while the others wait at the next step).
  double timeout_seconds() const { return timeout_seconds_; }
  void set_timeout_seconds(double seconds);

  // Prints "intrain: rank R of N: message" on stderr and ends every rank of the job with a
  // non-zero status (MPI_Abort); for an error on one rank that the others cannot know of.
  [[noreturn]] void abort(const std::string& message) const;

  // Starts an in-place sum without waiting for it, so several buckets are in flight at
  // once; wait_all() completes every started one (the buffers must live until then).
  void start_allreduce_sum(float* data, int64_t count);
  void wait_all(const char* what);

  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

 private:
  Communicator();
  int rank_ = 0, size_ = 1;
  bool initialized_mpi_ = false;
  double timeout_seconds_ = 300;
};

// True when this process was started by an MPI launcher (mpirun, or srun with PMI/PMIx).
bool launched_by_mpi();

}  // namespace intrain::train
