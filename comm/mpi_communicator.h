// The Communicator over an MPI communicator. Every operation is non-blocking
// and polled until it completes or its deadline passes (comm/mpi_poll.h).
//
// Design points:
// - Two MPI communicators: the user's Send/Recv traffic on one, collectives
//   and their internal messages on a duplicate, so no user tag can collide
//   with an internal one.
// - Collectives are built from point-to-point messages (comm/mpi_collectives.h):
//   recursive doubling for AllReduceSum, a ring for AllGather, a binomial
//   tree for Broadcast. Open MPI 4.1's non-blocking collectives (libnbc) took
//   about 5x the latency of its blocking MPI_Allreduce at 4 KB; these come
//   within 1.2-1.5x of the blocking collectives up to 4 KB and beat them at
//   16 KB (bench/comm_bench). All-reduces past 20 KB use MPI_Iallreduce,
//   faster there (recursive doubling moves the whole buffer log2(n) times).
// - Data passes through buffers the communicator owns. A timed-out MPI
//   request stays active (MPI cannot cancel a collective), and MPI may still
//   read or write its buffer later; the caller's buffers are free the moment
//   a call returns. The copies cost little next to the messages.
// - After a timeout the communicator is broken. Its abandoned requests are
//   not cancelled at once: a receive left posted lets a late peer finish its
//   side instead of blocking on a send nobody takes. When the communicator is
//   destroyed they get a short grace period, then receives are cancelled, and
//   the buffers of whatever is still active are deliberately never freed.
//   Nothing waits on them without a limit, so neither the destructor nor
//   MPI_Finalize hangs on them (checked by tests/integration/mpi_comm_test).
// - Split uses MPI_Comm_split, which blocks. It first runs a non-blocking
//   barrier under the timeout, so a missing rank is a DeadlineExceeded and
//   MPI_Comm_split only runs once every rank has arrived.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/mpi_collectives.h"
#include "comm/mpi_poll.h"
#include "comm/op_support.h"

namespace tessera {

class MpiCommunicator final : public Communicator {
 public:
  // Takes ownership of `comm` (freed with the communicator) and duplicates it
  // for internal traffic: collective over `comm`. `comm` should have
  // MPI_ERRORS_RETURN (MpiRuntime sets it on the world; splits inherit it).
  static absl::StatusOr<std::unique_ptr<MpiCommunicator>> Adopt(MPI_Comm comm, std::string label,
                                                                const PollPolicy& policy);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override;

  absl::Status AllReduceSum(std::span<float> data, absl::Duration timeout = absl::ZeroDuration()) override;
  absl::Status AllGather(std::span<const std::byte> send, std::span<std::byte> recv,
                         absl::Duration timeout = absl::ZeroDuration()) override;
  absl::Status Broadcast(std::span<std::byte> data, int root, absl::Duration timeout = absl::ZeroDuration()) override;
  absl::Status Send(std::span<const std::byte> data, int dest, int tag,
                    absl::Duration timeout = absl::ZeroDuration()) override;
  absl::Status Recv(std::span<std::byte> data, int source, int tag,
                    absl::Duration timeout = absl::ZeroDuration()) override;
  absl::StatusOr<std::vector<std::byte>> RecvAny(int source, int tag,
                                                 absl::Duration timeout = absl::ZeroDuration()) override;
  absl::Status Barrier(absl::Duration timeout = absl::ZeroDuration()) override;
  absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int key,
                                                      absl::Duration timeout = absl::ZeroDuration()) override;

  // Tuning knobs, mainly for bench/comm_bench.
  const PollPolicy& poll_policy() const { return policy_; }
  void set_poll_policy(const PollPolicy& policy) { policy_ = policy; }
  // AllReduceSum payloads up to this many bytes use recursive doubling over
  // point-to-point messages, larger ones MPI_Iallreduce: the measured
  // crossover on 2 ranks (16 KB: 12.5 vs 21 us; 24 KB: 37 vs 28 us), where
  // messages stop fitting 5 eager pieces (comm/mpi_collectives.cc).
  static constexpr size_t kDefaultP2pAllReduceLimit = 20000;
  void set_p2p_allreduce_limit(size_t bytes) { p2p_allreduce_limit_ = bytes; }

  // The MPI communicator of user traffic, for code that must call MPI
  // directly (NCCL's bootstrap, the benchmark's raw-MPI baseline).
  MPI_Comm mpi_comm() const { return user_; }

 private:
  MpiCommunicator(MPI_Comm user, MPI_Comm coll, std::string label, const PollPolicy& policy);

  // Tags of the collectives' point-to-point messages on coll_.
  static constexpr int kAllReduceTag = 1;
  static constexpr int kAllGatherTag = 2;
  static constexpr int kBroadcastTag = 3;

  absl::Status Usable(std::string_view op) const { return broken_.Check(*this, op); }
  absl::Status Fail(std::string_view op, std::string_view call, int rc);
  // Waits for `reqs`; on a timeout abandons them and fails with
  // DeadlineExceeded naming `op` and `late` (-1: unknown).
  absl::Status Await(std::string_view op, std::span<MPI_Request> reqs, absl::Time deadline, absl::Duration timeout,
                     int late);
  absl::Status TimedOut(std::string_view op, int late, absl::Duration timeout);
  // Turns the outcome of a point-to-point collective into a Status,
  // abandoning the requests it left active.
  absl::Status Settle(std::string_view op, const absl::StatusOr<mpi_internal::Progress>& p,
                      std::vector<MPI_Request>& left, absl::Duration timeout);
  // Polls MPI_Improbe and receives the message, whatever its size, into
  // bytes_in_ (for RecvAny).
  absl::StatusOr<size_t> ReceiveMatched(std::string_view op, int source, int tag, absl::Duration timeout);
  void Abandon(std::span<MPI_Request> reqs);

  MPI_Comm user_;
  MPI_Comm coll_;
  int rank_ = 0;
  int size_ = 0;
  PollPolicy policy_;
  size_t p2p_allreduce_limit_ = kDefaultP2pAllReduceLimit;
  comm_internal::BrokenState broken_;
  // Staging buffers; they only grow, and never while a request is abandoned
  // (the communicator is broken by then).
  std::vector<float> floats_a_, floats_b_;
  std::vector<std::byte> bytes_out_, bytes_in_;
  std::vector<MPI_Request> abandoned_;

  // Sends posted and not yet known to be complete, each with the buffer MPI
  // reads from and the time by which the receiver must have taken it.
  struct Outgoing {
    MPI_Request req = MPI_REQUEST_NULL;
    std::vector<std::byte> buf;
    absl::Time deadline;
    absl::Duration timeout;
    int dest = 0;
  };
  // Completes finished sends; an overdue one breaks the communicator.
  absl::Status ReapSends();
  std::vector<Outgoing> outgoing_;
};

}  // namespace tessera
