#include "comm/nccl/nccl_communicator.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "comm/nccl/nccl_setup.h"
#include "comm/nccl/nccl_wait.h"

namespace tessera {

using comm_internal::CheckPeer;
using comm_internal::DeadlineAfter;
using comm_internal::NoAnswer;
using comm_internal::OpScope;
using nccl_internal::DeviceName;
using nccl_internal::UseDevice;

namespace {

// After ncclCommAbort, how long to wait for the aborted kernel to leave the
// stream before the call returns anyway.
constexpr absl::Duration kAbortDrain = absl::Seconds(2);
// How long a healthy communicator's destructor waits for ncclCommFinalize.
constexpr absl::Duration kFinalizeLimit = absl::Seconds(10);
// The least time the ranks get to agree on NCCL's init, however little of the
// setup's timeout is left: telling peers about a failure is worth a moment.
constexpr absl::Duration kAgreementGrace = absl::Seconds(1);

// What is left of a deadline, as a timeout for the bootstrap: in whole
// milliseconds, rounded up (it appears in messages), and never zero, which
// would mean "the default timeout" there.
absl::Duration Remaining(absl::Time deadline) {
  return std::max(absl::Ceil(deadline - absl::Now(), absl::Milliseconds(1)), absl::Milliseconds(1));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(std::unique_ptr<Communicator> bootstrap,
                                                                   int cuda_device, absl::Duration timeout) {
  if (bootstrap == nullptr) return absl::InvalidArgumentError("MakeNcclCommunicator: no bootstrap communicator");
  if (timeout == absl::ZeroDuration()) timeout = bootstrap->default_timeout();
  const absl::Time deadline = DeadlineAfter(timeout);
  const std::string where = absl::StrCat("nccl ", bootstrap->label(), " ", bootstrap->rank(), "/", bootstrap->size(),
                                         " on ", DeviceName(cuda_device));
  auto fail = [&where](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("setting up ", where, ": ", s.message()));
  };

  // Every rank learns whether every GPU is usable before any rank enters
  // NCCL's init, which would otherwise wait for a rank that will never come.
  absl::StatusOr<nccl_internal::StreamOwner> stream = nccl_internal::PrepareDevice(cuda_device);
  if (absl::Status s = nccl_internal::AllRanksOk(*bootstrap, stream.status(), "preparing the GPU", Remaining(deadline));
      !s.ok()) {
    return fail(s);
  }
  absl::StatusOr<ncclUniqueId> id = nccl_internal::ShareUniqueId(*bootstrap, Remaining(deadline));
  if (!id.ok()) return fail(id.status());
  absl::StatusOr<ncclComm_t> comm =
      nccl_internal::InitComm(*id, bootstrap->size(), bootstrap->rank(), cuda_device, deadline, timeout);
  // After an init timeout the agreement is skipped: a rank missing from
  // NCCL's init is most likely gone, and waiting for it again would double
  // the time to fail. A peer whose init did complete times out in its own
  // agreement and aborts.
  if (!comm.ok() && comm.status().code() == absl::StatusCode::kDeadlineExceeded) return fail(comm.status());
  if (absl::Status s = nccl_internal::AllRanksOk(*bootstrap, comm.status(), "NCCL init",
                                                 std::max(Remaining(deadline), kAgreementGrace));
      !s.ok()) {
    if (comm.ok()) {
      (void)UseDevice(cuda_device);
      (void)ncclCommAbort(*comm);
    }
    return fail(s);
  }
  return std::unique_ptr<Communicator>(
      new NcclCommunicator(std::move(bootstrap), *comm, stream->release(), cuda_device));
}

NcclCommunicator::NcclCommunicator(std::unique_ptr<Communicator> bootstrap, ncclComm_t comm, cudaStream_t stream,
                                   int device)
    : bootstrap_(std::move(bootstrap)), comm_(comm), stream_(stream), device_(device) {
  set_label(bootstrap_->label());
  set_default_timeout(bootstrap_->default_timeout());
}

NcclCommunicator::~NcclCommunicator() {
  (void)UseDevice(device_);
  if (comm_ != nullptr) {
    if (broken_.broken()) {
      (void)ncclCommAbort(comm_);
    } else {
      // Finalize flushes NCCL's outstanding work (none: every call waited
      // for its own) and runs in the background; it is polled, bounded.
      const ncclResult_t rc = ncclCommFinalize(comm_);
      if (rc != ncclSuccess && rc != ncclInProgress) {
        (void)ncclCommAbort(comm_);
      } else {
        const nccl_internal::WaitOutcome w = nccl_internal::AwaitCommState(comm_, absl::Now() + kFinalizeLimit);
        if (w.result == nccl_internal::WaitResult::kDone) {
          (void)ncclCommDestroy(comm_);
        } else if (w.result != nccl_internal::WaitResult::kTimedOut) {
          (void)ncclCommAbort(comm_);
        }
        // A finalize still running after the limit is left alone and the
        // communicator leaks: ncclCommAbort would first join NCCL's finalize
        // thread, the very thing that is stuck.
      }
    }
  }
  // With work still queued, CUDA releases the stream once it completes.
  if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
}

std::string NcclCommunicator::name() const { return absl::StrCat("nccl ", label(), " ", rank(), "/", size()); }

Communicator& NcclCommunicator::Bootstrap() {
  if (bootstrap_->label() != label()) bootstrap_->set_label(label());
  return *bootstrap_;
}

absl::Status NcclCommunicator::Delegated(absl::Status s) {
  if (!s.ok() && s.code() != absl::StatusCode::kInvalidArgument) return broken_.Break(s);
  return s;
}

absl::StatusOr<NcclCommunicator::Memory> NcclCommunicator::Locate(std::string_view op, const void* p,
                                                                  size_t bytes) const {
  if (bytes == 0 || p == nullptr) return Memory::kHost;
  // With another device current, a thread that never used it would get a
  // context there just for this query.
  (void)UseDevice(device_);
  cudaPointerAttributes attr{};
  const cudaError_t e = cudaPointerGetAttributes(&attr, p);
  if (e == cudaErrorInvalidValue) {
    // Drivers before CUDA 11 answer so for ordinary host memory.
    (void)cudaGetLastError();
    return Memory::kHost;
  }
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return absl::InternalError(
        absl::StrCat(std::string(op), " on ", name(), ": cudaPointerGetAttributes: ", nccl_internal::CudaErrorText(e)));
  }
  switch (attr.type) {
    case cudaMemoryTypeDevice:
      if (attr.device != device_) {
        return absl::InvalidArgumentError(absl::StrCat(std::string(op), " on ", name(), ": the buffer is on ",
                                                       DeviceName(attr.device), ", this communicator's GPU is ",
                                                       DeviceName(device_)));
      }
      return Memory::kDevice;
    case cudaMemoryTypeManaged:
      return Memory::kDevice;
    default:
      // Pinned (cudaMemoryTypeHost) or ordinary host memory.
      return Memory::kHost;
  }
}

absl::Status NcclCommunicator::AbortWith(absl::Status status) {
  if (comm_ != nullptr) {
    (void)UseDevice(device_);
    (void)ncclCommAbort(comm_);
    comm_ = nullptr;
    // Abort makes NCCL's kernels quit; let ours leave the stream, so nothing
    // writes the caller's buffer after the call has returned.
    (void)nccl_internal::DrainStream(stream_, kAbortDrain);
  }
  return broken_.Break(status);
}

absl::Status NcclCommunicator::RunCollective(std::string_view op, std::string_view call, absl::Duration timeout,
                                             absl::FunctionRef<ncclResult_t()> enqueue) {
  if (!UseDevice(device_)) {
    return AbortWith(absl::InternalError(
        absl::StrCat(std::string(op), " on ", name(), ": cannot make ", DeviceName(device_), " current")));
  }
  const absl::Time deadline = DeadlineAfter(timeout);
  const ncclResult_t rc = enqueue();
  if (rc != ncclSuccess && rc != ncclInProgress) {
    // Even a rejected argument breaks the communicator: the peers may have
    // issued the collective and would pair it with this rank's next one.
    return AbortWith(
        nccl_internal::NcclError(rc, absl::StrCat(std::string(op), " on ", name(), ": ", std::string(call))));
  }
  const bool stall = std::exchange(stall_next_, false);
  const nccl_internal::WaitOutcome w =
      nccl_internal::AwaitCollective(comm_, stream_, /*enqueued=*/rc == ncclSuccess, deadline, stall);
  switch (w.result) {
    case nccl_internal::WaitResult::kDone:
      return absl::OkStatus();
    case nccl_internal::WaitResult::kTimedOut:
      return AbortWith(NoAnswer(*this, op, {}, timeout));
    case nccl_internal::WaitResult::kNcclError:
      return AbortWith(nccl_internal::NcclError(w.nccl, absl::StrCat(std::string(op), " on ", name())));
    case nccl_internal::WaitResult::kCudaError:
      break;
  }
  return AbortWith(absl::InternalError(absl::StrCat(
      std::string(op), " on ", name(), ": the CUDA stream failed: ", nccl_internal::CudaErrorText(w.cuda))));
}

absl::Status NcclCommunicator::AllReduceSum(std::span<float> data, absl::Duration timeout) {
  constexpr char kOp[] = "all-reduce";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  timeout = Resolve(timeout);
  const size_t bytes = data.size_bytes();
  absl::StatusOr<Memory> memory = Locate(kOp, data.data(), bytes);
  if (!memory.ok()) return memory.status();
  absl::Status s;
  if (*memory == Memory::kHost) {
    s = Delegated(Bootstrap().AllReduceSum(data, timeout));
  } else {
    // ncclFloat and ncclSum: see the header for why every rank gets the same bits.
    s = RunCollective(absl::StrCat(kOp, " of ", bytes, " bytes"), "ncclAllReduce", timeout, [&] {
      return ncclAllReduce(data.data(), data.data(), data.size(), ncclFloat, ncclSum, comm_, stream_);
    });
  }
  if (s.ok()) scope.Done(bytes, bytes);
  return s;
}

absl::Status NcclCommunicator::AllGather(std::span<const std::byte> send, std::span<std::byte> recv,
                                         absl::Duration timeout) {
  constexpr char kOp[] = "all-gather";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (recv.size() != send.size() * size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, " on ", name(), ": recv has ", recv.size(), " bytes, needs ", send.size(), " x ", size()));
  }
  timeout = Resolve(timeout);
  absl::StatusOr<Memory> from = Locate(kOp, send.data(), send.size());
  if (!from.ok()) return from.status();
  absl::StatusOr<Memory> to = Locate(kOp, recv.data(), recv.size());
  if (!to.ok()) return to.status();
  if (*from != *to) {
    return absl::InvalidArgumentError(absl::StrCat(
        kOp, " on ", name(), ": send is in ", *from == Memory::kDevice ? "device" : "host", " memory, recv in ",
        *to == Memory::kDevice ? "device" : "host", " memory; both must be in the same"));
  }
  absl::Status s;
  if (*from == Memory::kHost) {
    s = Delegated(Bootstrap().AllGather(send, recv, timeout));
  } else {
    s = RunCollective(absl::StrCat(kOp, " of ", send.size(), " bytes a rank"), "ncclAllGather", timeout,
                      [&] { return ncclAllGather(send.data(), recv.data(), send.size(), ncclUint8, comm_, stream_); });
  }
  if (s.ok()) scope.Done(send.size(), recv.size());
  return s;
}

absl::Status NcclCommunicator::Broadcast(std::span<std::byte> data, int root, absl::Duration timeout) {
  constexpr char kOp[] = "broadcast";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (absl::Status s = CheckPeer(*this, kOp, "root", root); !s.ok()) return s;
  timeout = Resolve(timeout);
  absl::StatusOr<Memory> memory = Locate(kOp, data.data(), data.size());
  if (!memory.ok()) return memory.status();
  absl::Status s;
  if (*memory == Memory::kHost) {
    s = Delegated(Bootstrap().Broadcast(data, root, timeout));
  } else {
    s = RunCollective(absl::StrCat(kOp, " of ", data.size(), " bytes from root ", root), "ncclBroadcast", timeout, [&] {
      return ncclBroadcast(data.data(), data.data(), data.size(), ncclUint8, root, comm_, stream_);
    });
  }
  if (s.ok()) scope.Done(rank() == root ? data.size() : 0, rank() == root ? 0 : data.size());
  return s;
}

}  // namespace tessera
