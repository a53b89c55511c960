// The NCCL communicator's operations that go over its bootstrap: messages
// (device buffers staged through host memory), barriers and splits.
#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "comm/nccl/nccl_communicator.h"
#include "comm/nccl/nccl_setup.h"
#include "comm/nccl/nccl_wait.h"

namespace tessera {

using comm_internal::CheckPeer;
using comm_internal::CheckTag;
using comm_internal::DeadlineAfter;
using comm_internal::OpScope;
using nccl_internal::DeviceName;

absl::Status NcclCommunicator::CopyFromDevice(std::string_view op, const void* src, size_t bytes) {
  if (staging_.size() < bytes) staging_.resize(bytes);
  (void)nccl_internal::UseDevice(device_);
  // The stream is idle between calls (each waits for its own work), so the
  // copy waits for nothing else.
  cudaError_t e = cudaMemcpyAsync(staging_.data(), src, bytes, cudaMemcpyDeviceToHost, stream_);
  if (e == cudaSuccess) e = cudaStreamSynchronize(stream_);
  if (e == cudaSuccess) return absl::OkStatus();
  (void)cudaGetLastError();
  return absl::InternalError(absl::StrCat(std::string(op), " on ", name(), ": copying ", bytes, " bytes from ",
                                          DeviceName(device_), ": ", nccl_internal::CudaErrorText(e)));
}

absl::Status NcclCommunicator::CopyToDevice(std::string_view op, void* dst, size_t bytes) {
  (void)nccl_internal::UseDevice(device_);
  cudaError_t e = cudaMemcpyAsync(dst, staging_.data(), bytes, cudaMemcpyHostToDevice, stream_);
  if (e == cudaSuccess) e = cudaStreamSynchronize(stream_);
  if (e == cudaSuccess) return absl::OkStatus();
  (void)cudaGetLastError();
  return absl::InternalError(absl::StrCat(std::string(op), " on ", name(), ": copying ", bytes, " bytes to ",
                                          DeviceName(device_), ": ", nccl_internal::CudaErrorText(e)));
}

absl::Status NcclCommunicator::Send(std::span<const std::byte> data, int dest, int tag, absl::Duration timeout) {
  constexpr char kOp[] = "send";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (absl::Status s = CheckPeer(*this, kOp, "destination", dest); !s.ok()) return s;
  if (absl::Status s = CheckTag(*this, kOp, tag); !s.ok()) return s;
  timeout = Resolve(timeout);
  absl::StatusOr<Memory> memory = Locate(kOp, data.data(), data.size());
  if (!memory.ok()) return memory.status();
  std::span<const std::byte> payload = data;
  if (*memory == Memory::kDevice) {
    if (absl::Status s = CopyFromDevice(kOp, data.data(), data.size()); !s.ok()) return s;
    payload = std::span<const std::byte>(staging_.data(), data.size());
  }
  // The bootstrap copies the payload (Send's contract), so staging_ is free
  // again when it returns.
  absl::Status s = Delegated(Bootstrap().Send(payload, dest, tag, timeout));
  if (s.ok()) scope.Done(data.size(), 0);
  return s;
}

absl::Status NcclCommunicator::Recv(std::span<std::byte> data, int source, int tag, absl::Duration timeout) {
  constexpr char kOp[] = "recv";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (absl::Status s = CheckPeer(*this, kOp, "source", source); !s.ok()) return s;
  if (absl::Status s = CheckTag(*this, kOp, tag); !s.ok()) return s;
  timeout = Resolve(timeout);
  absl::StatusOr<Memory> memory = Locate(kOp, data.data(), data.size());
  if (!memory.ok()) return memory.status();
  if (*memory == Memory::kHost) {
    absl::Status s = Delegated(Bootstrap().Recv(data, source, tag, timeout));
    if (s.ok()) scope.Done(0, data.size());
    return s;
  }
  if (staging_.size() < data.size()) staging_.resize(data.size());
  if (absl::Status s =
          Delegated(Bootstrap().Recv(std::span<std::byte>(staging_.data(), data.size()), source, tag, timeout));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CopyToDevice(kOp, data.data(), data.size()); !s.ok()) return s;
  scope.Done(0, data.size());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::byte>> NcclCommunicator::RecvAny(int source, int tag, absl::Duration timeout) {
  constexpr char kOp[] = "recv";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (absl::Status s = CheckPeer(*this, kOp, "source", source); !s.ok()) return s;
  if (absl::Status s = CheckTag(*this, kOp, tag); !s.ok()) return s;
  absl::StatusOr<std::vector<std::byte>> got = Bootstrap().RecvAny(source, tag, Resolve(timeout));
  if (!got.ok()) return Delegated(got.status());
  scope.Done(0, static_cast<int64_t>(got->size()));
  return got;
}

absl::Status NcclCommunicator::Barrier(absl::Duration timeout) {
  constexpr char kOp[] = "barrier";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  // NCCL work never outlives the call that issued it, so the bootstrap's
  // barrier orders everything.
  return Delegated(Bootstrap().Barrier(Resolve(timeout)));
}

absl::StatusOr<std::unique_ptr<Communicator>> NcclCommunicator::Split(int color, int key, absl::Duration timeout) {
  constexpr char kOp[] = "split";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (color < 0) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, " on ", name(), ": color ", color, " is negative"));
  }
  timeout = Resolve(timeout);
  const absl::Time deadline = DeadlineAfter(timeout);
  absl::StatusOr<std::unique_ptr<Communicator>> sub = Bootstrap().Split(color, key, timeout);
  if (!sub.ok()) return Delegated(sub.status());
  (*sub)->set_label(absl::StrCat(label(), ".", color));
  (*sub)->set_default_timeout(default_timeout());
  // A failure from here on leaves this communicator usable: its own traffic
  // is complete and in step on every rank, and the new group's setup fails on
  // all of that group's ranks together.
  const absl::Duration left = std::max(deadline - absl::Now(), absl::Milliseconds(1));
  return MakeNcclCommunicator(std::move(*sub), device_, left);
}

}  // namespace tessera
