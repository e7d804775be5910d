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
#include <functional>
#include <memory>
#include <string>

#include "nn/cross_process.hpp"

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
  void allreduce_max(double* data, int64_t count, const char* what);
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
  // Lets the started ones move on without waiting (Open MPI advances them only inside MPI
  // calls): called between pieces of work that overlap them.
  void progress();

  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

 private:
  Communicator();
  int rank_ = 0, size_ = 1;
  bool initialized_mpi_ = false;
  double timeout_seconds_ = 300;
};

// The communicator as the reducer synchronized batch norm and quantization observers take
// (nn/cross_process.hpp): sums and maxima over every rank, each waiting only for itself.
std::shared_ptr<nn::CrossProcessReducer> cross_rank_reducer(Communicator& comm);

// What every command of a data-parallel run does first (rank 0 of 1: nothing): the
// collective deadline (seconds > 0 replaces the default), the global batch checked to
// divide among the ranks (`global_batch` > 0), logs from rank 0 only (the others' stdout
// goes nowhere; errors still reach stderr, naming their rank), and each rank's share of
// the machine's threads unless INTRAIN_NUM_THREADS says otherwise.
void join_data_parallel_run(Communicator& comm, int64_t global_batch, double collective_timeout_seconds);

// Runs `command` on this rank; under mpirun an error ends the whole job (Communicator::abort)
// naming the rank, since the other ranks cannot know of it and would wait at their next
// collective.
void run_on_every_rank(Communicator& comm, const std::function<void()>& command);

// True when this process was started by an MPI launcher (mpirun, or srun with PMI/PMIx).
bool launched_by_mpi();

}  // namespace intrain::train
