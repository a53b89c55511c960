// How the NCCL communicator waits: NCCL runs in non-blocking mode, so every
// call returns at once (possibly with ncclInProgress) and the communicator
// polls NCCL's state and its CUDA stream until the work is done, NCCL reports
// an error, or the deadline passes. Nothing here blocks without a limit, so a
// dead peer becomes a timeout the caller can act on (then ncclCommAbort).
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace tessera::nccl_internal {

// Paces one wait: call Next() after every poll that found the work unfinished.
// It spins (yielding the core to NCCL's proxy threads) for the first
// millisecond, because a tensor-parallel decode all-reduce takes tens of
// microseconds and any sleep would add to every token; after that it sleeps,
// 50 us at first and doubling up to 1 ms, so a long wait (a dead peer under a
// 30 s timeout) costs little CPU. Returns false once the deadline has passed.
class Pacer {
 public:
  explicit Pacer(absl::Time deadline);
  bool Next();

 private:
  const absl::Time start_;
  const absl::Time deadline_;
  absl::Duration sleep_;
};

// Makes `device` current for the calling thread (the current device is per
// thread, and the caller may use several threads over its life); returns
// whether it is current now. The previous device is deliberately not
// restored: since CUDA 12 cudaSetDevice creates the device's context, so
// restoring device 0 on a thread that never used it would take hundreds of
// MB on a GPU this rank does not use. The CUDA backend sets its device the
// same way on every call.
bool UseDevice(int device);

// "cudaErrorNoDevice: no CUDA-capable device is detected".
std::string CudaErrorText(cudaError_t e);

// "ncclRemoteError (6): remote process exited or there was a network error;
// NCCL's last message: <NCCL's own detail, when it has one>".
std::string NcclErrorText(ncclResult_t r);

// The Status code for an NCCL failure: a dead peer or the network
// (ncclRemoteError, ncclSystemError) is Unavailable, a misuse
// (ncclInvalidArgument, ncclInvalidUsage) InvalidArgument, anything else
// Internal. `where` leads the message: "all-reduce on nccl tp 0/2: ncclAllReduce".
absl::Status NcclError(ncclResult_t r, std::string_view where);

// How a wait ended.
enum class WaitResult { kDone, kTimedOut, kNcclError, kCudaError };

struct WaitOutcome {
  WaitResult result = WaitResult::kDone;
  ncclResult_t nccl = ncclSuccess;  // the error, for kNcclError
  cudaError_t cuda = cudaSuccess;   // the error, for kCudaError
};

// Polls ncclCommGetAsyncError until the communicator leaves ncclInProgress
// (init, finalize) or the deadline passes.
WaitOutcome AwaitCommState(ncclComm_t comm, absl::Time deadline);

// Waits for a collective issued on `stream`: first until NCCL has enqueued it
// (a non-blocking call that returned ncclInProgress; before that the stream
// may look idle), then until the stream is idle, watching NCCL's
// asynchronous error state all along (a peer that died mid-collective shows
// up there). `ignore_completion` treats the finished collective as still
// running: a test hook that makes this rank behave as if a peer never
// arrived, so the real timeout and abort path runs on one GPU. Like
// DrainStream, it leaves no "not ready" behind as the thread's last CUDA error
// (the CUDA backend checks launches with cudaGetLastError).
WaitOutcome AwaitCollective(ncclComm_t comm, cudaStream_t stream, bool enqueued, absl::Time deadline,
                            bool ignore_completion);

// Waits (bounded) for `stream` to go idle after ncclCommAbort told NCCL's
// kernels to quit, so no kernel writes a caller's buffer after the call that
// timed out has returned. Returns whether it went idle.
bool DrainStream(cudaStream_t stream, absl::Duration limit);

}  // namespace tessera::nccl_internal
