#include "comm/nccl/nccl_wait.h"

#include <sched.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tessera::nccl_internal {

namespace {

constexpr absl::Duration kSpin = absl::Milliseconds(1);
constexpr absl::Duration kFirstSleep = absl::Microseconds(50);
constexpr absl::Duration kMaxSleep = absl::Milliseconds(1);

const char* NcclResultName(ncclResult_t r) {
  switch (r) {
    case ncclSuccess:
      return "ncclSuccess";
    case ncclUnhandledCudaError:
      return "ncclUnhandledCudaError";
    case ncclSystemError:
      return "ncclSystemError";
    case ncclInternalError:
      return "ncclInternalError";
    case ncclInvalidArgument:
      return "ncclInvalidArgument";
    case ncclInvalidUsage:
      return "ncclInvalidUsage";
    case ncclRemoteError:
      return "ncclRemoteError";
    case ncclInProgress:
      return "ncclInProgress";
    default:
      return "ncclResult";
  }
}

WaitOutcome NcclFailed(ncclResult_t r) { return {WaitResult::kNcclError, r, cudaSuccess}; }

// cudaStreamQuery, without its side effect: a "not ready" answer is also
// recorded as the thread's last CUDA error, and the CUDA backend reads that
// slot (cudaGetLastError) after each kernel launch, so a poll that once found
// the collective unfinished would fail the next, unrelated launch with
// cudaErrorNotReady. Clearing it loses nothing: the query had overwritten the
// slot anyway.
cudaError_t QueryStream(cudaStream_t stream) {
  const cudaError_t q = cudaStreamQuery(stream);
  if (q == cudaErrorNotReady) (void)cudaGetLastError();
  return q;
}

}  // namespace

Pacer::Pacer(absl::Time deadline) : start_(absl::Now()), deadline_(deadline), sleep_(kFirstSleep) {}

bool Pacer::Next() {
  const absl::Time now = absl::Now();
  if (now >= deadline_) return false;
  if (now - start_ < kSpin) {
    sched_yield();
    return true;
  }
  absl::SleepFor(std::min(sleep_, deadline_ - now));
  sleep_ = std::min(sleep_ * 2, kMaxSleep);
  return true;
}

bool UseDevice(int device) {
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current == device) return true;
  if (cudaSetDevice(device) == cudaSuccess) return true;
  (void)cudaGetLastError();  // leave no error behind for the next call to find
  return false;
}

std::string CudaErrorText(cudaError_t e) { return absl::StrCat(cudaGetErrorName(e), ": ", cudaGetErrorString(e)); }

std::string NcclErrorText(ncclResult_t r) {
  std::string text = absl::StrCat(NcclResultName(r), " (", static_cast<int>(r), "): ", ncclGetErrorString(r));
  // NCCL keeps the detail (which peer, which call) in its last error message.
  // It can be older than this failure, so it is quoted as NCCL's, not ours.
  const char* last = ncclGetLastError(nullptr);
  if (last != nullptr && last[0] != '\0') absl::StrAppend(&text, "; NCCL's last message: ", last);
  return text;
}

absl::Status NcclError(ncclResult_t r, std::string_view where) {
  const std::string message = absl::StrCat(std::string(where), ": ", NcclErrorText(r));
  switch (r) {
    case ncclRemoteError:
    case ncclSystemError:
      return absl::UnavailableError(message);
    case ncclInvalidArgument:
    case ncclInvalidUsage:
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(message);
  }
}

WaitOutcome AwaitCommState(ncclComm_t comm, absl::Time deadline) {
  Pacer pacer(deadline);
  while (true) {
    ncclResult_t state = ncclInProgress;
    const ncclResult_t rc = ncclCommGetAsyncError(comm, &state);
    if (rc != ncclSuccess) return NcclFailed(rc);
    if (state == ncclSuccess) return {};
    if (state != ncclInProgress) return NcclFailed(state);
    if (!pacer.Next()) return {WaitResult::kTimedOut, ncclInProgress, cudaSuccess};
  }
}

WaitOutcome AwaitCollective(ncclComm_t comm, cudaStream_t stream, bool enqueued, absl::Time deadline,
                            bool ignore_completion) {
  Pacer pacer(deadline);
  while (true) {
    ncclResult_t state = ncclInProgress;
    const ncclResult_t rc = ncclCommGetAsyncError(comm, &state);
    if (rc != ncclSuccess) return NcclFailed(rc);
    if (state == ncclSuccess) {
      enqueued = true;
    } else if (state != ncclInProgress) {
      return NcclFailed(state);
    }
    // Until NCCL has put the collective on the stream, an idle stream means
    // nothing: the work is not there yet.
    if (enqueued && !ignore_completion) {
      const cudaError_t q = QueryStream(stream);
      if (q == cudaSuccess) return {};
      if (q != cudaErrorNotReady) return {WaitResult::kCudaError, ncclSuccess, q};
    }
    if (!pacer.Next()) return {WaitResult::kTimedOut, ncclInProgress, cudaSuccess};
  }
}

bool DrainStream(cudaStream_t stream, absl::Duration limit) {
  Pacer pacer(absl::Now() + limit);
  while (true) {
    // Any answer but "not ready" means nothing more will run on the stream:
    // idle, or the context has failed.
    if (QueryStream(stream) != cudaErrorNotReady) return true;
    if (!pacer.Next()) return false;
  }
}

}  // namespace tessera::nccl_internal
