// How a rank waits for MPI: every operation is non-blocking and polled with
// MPI_Test until it completes or its deadline passes, because a blocking MPI
// call cannot time out.
//
// The policy trades latency for CPU. A tensor-parallel decode step makes ~50
// small all-reduces per token, so a rank with a core of its own spins: any
// sleep would add directly to every token. A rank that shares its core (tests
// run 6 ranks on 2 cores) must instead let the rank it waits for run: it
// yields between polls, and after a while sleeps briefly so waiting ranks do
// not take the CPU from working ones. Long waits (an idle worker waiting for
// work) end up sleeping in both policies.
#pragma once

#include <mpi.h>

#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tessera {

struct PollPolicy {
  absl::Duration spin;   // MPI_Test back to back for this long,
  absl::Duration yield;  // then sched_yield between tests for this long,
  absl::Duration sleep;  // then sleep this long between tests.

  static PollPolicy Dedicated() { return {absl::Milliseconds(20), absl::Milliseconds(20), absl::Microseconds(50)}; }
  static PollPolicy Shared() { return {absl::ZeroDuration(), absl::Microseconds(200), absl::Microseconds(100)}; }
};

namespace mpi_internal {

// Paces one wait: call Continue() after every poll that found nothing; it
// spins, yields or sleeps as the policy says and returns false once the
// deadline has passed.
class Poller {
 public:
  Poller(const PollPolicy& policy, absl::Time deadline);
  bool Continue();

 private:
  const PollPolicy policy_;
  const absl::Time start_;
  const absl::Time deadline_;
  unsigned polls_ = 0;
};

// An MPI return code as a Status: "all-reduce on mpi tp 0/2: MPI_Iallreduce:
// <MPI's error string>". OK for MPI_SUCCESS.
absl::Status MpiError(int rc, std::string_view where, std::string_view call);

// Tests `reqs` until every one completes (they become MPI_REQUEST_NULL) or
// the deadline passes. Returns true when all completed, false on the
// deadline (the requests stay active), or an MPI error.
absl::StatusOr<bool> WaitAll(std::span<MPI_Request> reqs, absl::Time deadline, const PollPolicy& policy);

}  // namespace mpi_internal
}  // namespace tessera
