// The steps of building an NCCL communicator over a bootstrap communicator
// (MakeNcclCommunicator in comm/nccl/nccl_communicator.h runs them in order):
//
//   1. every rank checks its GPU (and that NCCL will stay non-blocking) and
//      creates its stream (PrepareDevice);
//   2. the ranks tell each other whether that worked (AllRanksOk), so one rank
//      without its GPU fails the whole group at once, with its reason, instead
//      of leaving the others waiting in NCCL's init until the timeout;
//   3. rank 0 makes the ncclUniqueId and broadcasts it (ShareUniqueId);
//   4. every rank runs ncclCommInitRankConfig in non-blocking mode and polls
//      it up to the deadline, aborting on a timeout (InitComm);
//   5. the ranks agree on the outcome (AllRanksOk again), so no rank keeps a
//      communicator its peers gave up on.
//
// Exposed for tests: a test plays a rank that passes step 2 and then dies,
// so the rank under test meets a peer that never joins NCCL's init.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "comm/communicator.h"

namespace tessera::nccl_internal {

// A CUDA stream, destroyed with its owner unless released.
class StreamOwner {
 public:
  StreamOwner() = default;
  explicit StreamOwner(cudaStream_t s) : stream_(s) {}
  ~StreamOwner();
  StreamOwner(StreamOwner&& other) noexcept : stream_(other.release()) {}
  StreamOwner& operator=(StreamOwner&&) = delete;
  StreamOwner(const StreamOwner&) = delete;
  StreamOwner& operator=(const StreamOwner&) = delete;

  cudaStream_t get() const { return stream_; }
  cudaStream_t release() {
    cudaStream_t s = stream_;
    stream_ = nullptr;
    return s;
  }

 private:
  cudaStream_t stream_ = nullptr;
};

// "cuda:3": how messages name a device.
std::string DeviceName(int device);

// FailedPrecondition when NCCL_COMM_BLOCKING=1 is in the environment: NCCL
// lets it override the non-blocking mode InitComm asks for, and a blocking
// communicator cannot keep the "no call waits without a limit" promise.
absl::Status CheckNonBlockingAllowed();

// Checks that `device` is a visible GPU (and CheckNonBlockingAllowed) and
// creates the stream the communicator's collectives run on.
// FailedPrecondition naming the device when there is no such GPU (no driver,
// no device, an ordinal past the last).
absl::StatusOr<StreamOwner> PrepareDevice(int device);

// Every rank passes its own outcome of a step; returns OK when every rank's
// is OK. Otherwise the error lists each failed rank with its reason ("rank 1:
// cuda:7: only 2 CUDA devices are visible"), with this rank's code when this
// rank failed and FailedPrecondition when only peers did. A failure of the
// exchange itself (a rank that never joins) is returned as the bootstrap
// reported it (DeadlineExceeded after `timeout`).
absl::Status AllRanksOk(Communicator& bootstrap, const absl::Status& mine, std::string_view step,
                        absl::Duration timeout);

// Rank 0 makes an ncclUniqueId and broadcasts it over the bootstrap; a rank 0
// that cannot make one broadcasts its error instead, which every rank returns.
absl::StatusOr<ncclUniqueId> ShareUniqueId(Communicator& bootstrap, absl::Duration timeout);

// ncclCommInitRankConfig in non-blocking mode on `device`, polled until it
// completes, fails or the deadline passes; on a failure or timeout the
// half-made communicator is aborted. A timeout is DeadlineExceeded ("NCCL
// init: not every rank joined within 2 s"; `timeout` is the limit named).
absl::StatusOr<ncclComm_t> InitComm(const ncclUniqueId& id, int nranks, int rank, int device, absl::Time deadline,
                                    absl::Duration timeout);

}  // namespace tessera::nccl_internal
