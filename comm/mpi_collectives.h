// Collective algorithms built from MPI point-to-point messages. For the small
// payloads of a decode step they beat Open MPI's non-blocking collectives
// (libnbc) by 2-5x and match its blocking ones (bench/comm_bench), and a
// timeout can name the rank that did not answer. Internal to comm/.
//
// Each function uses `tag` on `comm`, which must carry no other traffic with
// that tag, and polls until done or `deadline`. On a timeout the requests
// still active are appended to `abandoned`: the buffers passed in must then
// outlive them.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "comm/mpi_poll.h"

namespace tessera::mpi_internal {

struct Progress {
  bool done = false;   // false: the deadline passed first
  int late_peer = -1;  // on a timeout, the rank this one was waiting for
};

// Sends `out` to rank `to` and receives `in` from rank `from` (either may be
// empty), concurrently.
absl::StatusOr<Progress> SendRecv(MPI_Comm comm, int tag, int to, std::span<const std::byte> out, int from,
                                  std::span<std::byte> in, absl::Time deadline, const PollPolicy& policy,
                                  std::vector<MPI_Request>* abandoned);

// In-place element-wise sum of `acc` over the ranks of `comm` by recursive
// doubling: log2(n) exchanges of the whole buffer. With n not a power of two,
// the ranks past the largest power of two p first hand their data to rank
// r - p and get the result back at the end.
//
// Every rank ends with bit-identical sums: at each step both partners add the
// same two partial sums (a + b == b + a exactly in IEEE arithmetic), and the
// partial sums entering a step are identical within each block by induction.
// `tmp` has acc.size() floats.
absl::StatusOr<Progress> RecursiveDoublingSum(MPI_Comm comm, int tag, std::span<float> acc, std::span<float> tmp,
                                              absl::Time deadline, const PollPolicy& policy,
                                              std::vector<MPI_Request>* abandoned);

// All-gather around a ring: `all` holds n blocks of `block` bytes, this
// rank's already in place; n - 1 steps each pass one block to the next rank.
absl::StatusOr<Progress> RingAllGather(MPI_Comm comm, int tag, std::span<std::byte> all, size_t block,
                                       absl::Time deadline, const PollPolicy& policy,
                                       std::vector<MPI_Request>* abandoned);

// Broadcast of `data` from `root` down a binomial tree: log2(n) steps.
absl::StatusOr<Progress> BinomialBroadcast(MPI_Comm comm, int tag, std::span<std::byte> data, int root,
                                           absl::Time deadline, const PollPolicy& policy,
                                           std::vector<MPI_Request>* abandoned);

}  // namespace tessera::mpi_internal
