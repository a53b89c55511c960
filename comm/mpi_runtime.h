// MPI's lifetime in a process: MpiRuntime initializes MPI when created and
// finalizes it when destroyed, and makes the world communicator.
//
//   absl::StatusOr<std::unique_ptr<MpiRuntime>> mpi = MpiRuntime::Init(&argc, &argv);
//   absl::StatusOr<std::unique_ptr<Communicator>> world = (*mpi)->World();
//
// Communicators made from it must be destroyed before it. MPI errors come
// back as Status (MPI_ERRORS_RETURN on the world), never as an abort.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "comm/communicator.h"
#include "comm/mpi_poll.h"

namespace tessera {

class MpiRuntime {
 public:
  // MPI_Init_thread with MPI_THREAD_FUNNELED: threads are fine, but only the
  // thread that called Init may call MPI (and so use the communicators). One
  // per process; fails if MPI is already initialized.
  static absl::StatusOr<std::unique_ptr<MpiRuntime>> Init(int* argc, char*** argv);
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  int world_rank() const { return world_rank_; }
  int world_size() const { return world_size_; }
  // Ranks of this job on this host.
  int local_size() const { return local_size_; }
  // This rank's index among them, in [0, local_size()): "--device cuda"
  // picks GPU local_rank().
  int local_rank() const { return local_rank_; }
  // More ranks on this host than hardware threads: waiting ranks must not
  // spin (see PollPolicy).
  bool Oversubscribed() const;
  PollPolicy poll_policy() const { return Oversubscribed() ? PollPolicy::Shared() : PollPolicy::Dedicated(); }

  // A communicator over every rank (a duplicate of MPI_COMM_WORLD, labelled
  // "world"). Collective: every rank must call it.
  absl::StatusOr<std::unique_ptr<Communicator>> World();

 private:
  MpiRuntime() = default;

  int world_rank_ = 0;
  int world_size_ = 1;
  int local_size_ = 1;
  int local_rank_ = 0;
};

}  // namespace tessera
