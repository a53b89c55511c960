// The Communicator over NCCL, for GPU ranks: AllReduceSum, AllGather and
// Broadcast on device memory run as NCCL collectives; everything else (host
// memory, point-to-point messages, barriers, splits) goes over the
// communicator it was bootstrapped from (MPI in a worker, the loopback in
// tests), which it owns.
//
// Design points:
// - NCCL runs in non-blocking mode (config.blocking = 0; setup refuses an
//   NCCL_COMM_BLOCKING=1 environment, which would override it). Every NCCL
//   call but ncclCommAbort and ncclCommDestroy returns at once (possibly with
//   ncclInProgress), and the communicator polls NCCL's asynchronous error
//   state and its own CUDA stream until the collective is done, NCCL reports
//   an error (a peer that died mid-collective), or the timeout passes. On an
//   error or a timeout it calls ncclCommAbort, which sets NCCL's abort flag
//   first (its kernels and threads quit) and so returns, and the
//   communicator is broken: every later call fails fast with Unavailable, as
//   the Communicator contract says. No call waits without a limit
//   (comm/nccl/nccl_wait.h).
// - Which path a buffer takes is decided by cudaPointerGetAttributes: device
//   (and managed) memory goes to NCCL, host memory (pageable or pinned) to
//   the bootstrap. Every rank must pass the same kind of memory to a
//   collective, or the ranks take different paths and time out.
// - Device buffers must belong to this communicator's GPU (cuda_device());
//   a device buffer on another GPU is InvalidArgument. Managed memory is
//   accepted from any device.
// - Collectives run on the communicator's own stream, which does not wait
//   for other streams: the caller must have finished writing a device buffer
//   (e.g. Backend::Finish) before passing it. When a call returns OK the
//   result is in the buffer and the stream is idle.
// - AllReduceSum is bit-identical on every rank: whatever algorithm NCCL
//   picks (ring, tree, NVLS, CollNet; the same one on every rank, since all
//   ranks tune from the same topology), each element's sum is computed once,
//   by one rank or the switch, in a fixed order, and that one result is
//   copied to every rank. It may differ in the last bits from the loopback
//   or MPI sum (another order), never between ranks.
// - Send/Recv of device memory are staged through host memory and sent over
//   the bootstrap, keeping Send's copy-and-return contract.
// - Split splits the bootstrap and builds a new NCCL communicator on it, on
//   the same GPU.
// - A failed call on the bootstrap breaks this communicator too, except an
//   InvalidArgument (a bad tag or size, which leaves both usable).
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "comm/communicator.h"
#include "comm/op_support.h"

namespace tessera {

// Builds an NCCL communicator on `cuda_device` over `bootstrap`, which it
// takes over: collective over `bootstrap` (every rank calls it). Same rank,
// size, label and default timeout as `bootstrap`. `timeout` bounds the whole
// setup (ZeroDuration: the bootstrap's default timeout).
//
// Fails on every rank together: FailedPrecondition, naming each rank that
// cannot use its GPU and why, when any rank has no such device (checked
// before NCCL is touched, so no rank waits for the timeout);
// DeadlineExceeded when a rank does not take part (in the bootstrap exchange,
// or in NCCL's init, which is then aborted); the NCCL error when NCCL's init
// fails on some rank. A failed setup destroys the bootstrap with it: after a
// timeout it is broken anyway, and the caller tears the group down.
absl::StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(std::unique_ptr<Communicator> bootstrap,
                                                                   int cuda_device,
                                                                   absl::Duration timeout = absl::ZeroDuration());

class NcclCommunicator final : public Communicator {
 public:
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return bootstrap_->rank(); }
  int size() const override { return bootstrap_->size(); }
  // "nccl tp 1/2".
  std::string name() const override;
  bool takes_device_memory() const override { return true; }
  int cuda_device() const { return device_; }

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

  // Test hook: the next collective on device memory behaves as if a peer
  // never arrived. It really runs, but its completion is ignored until the
  // timeout passes; then the real timeout path runs (ncclCommAbort, the
  // communicator broken, DeadlineExceeded). Lets a one-GPU test exercise
  // the abort path.
  void StallNextCollectiveForTesting() { stall_next_ = true; }

 private:
  friend absl::StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(std::unique_ptr<Communicator>, int,
                                                                            absl::Duration);
  NcclCommunicator(std::unique_ptr<Communicator> bootstrap, ncclComm_t comm, cudaStream_t stream, int device);

  enum class Memory { kHost, kDevice };
  // Where `bytes` bytes at `p` live; InvalidArgument for device memory of
  // another GPU. Empty buffers count as host memory (nothing for NCCL to do,
  // and the bootstrap still synchronizes the ranks).
  absl::StatusOr<Memory> Locate(std::string_view op, const void* p, size_t bytes) const;

  absl::Status Usable(std::string_view op) const { return broken_.Check(*this, op); }
  // The bootstrap, relabelled like this communicator so its errors name the
  // group the caller knows.
  Communicator& Bootstrap();
  // Passes on the outcome of a call on the bootstrap, breaking this
  // communicator when it failed (unless InvalidArgument).
  absl::Status Delegated(absl::Status s);

  // Issues one NCCL collective (`enqueue` calls NCCL on comm_ and stream_)
  // and waits for it; `op` names it in errors ("all-reduce of 4096 bytes").
  absl::Status RunCollective(std::string_view op, std::string_view call, absl::Duration timeout,
                             absl::FunctionRef<ncclResult_t()> enqueue);
  // Aborts the NCCL communicator and records `status` as the cause of the
  // broken state; returns `status`.
  absl::Status AbortWith(absl::Status status);

  // Copies between device memory and the host staging buffer.
  absl::Status CopyFromDevice(std::string_view op, const void* src, size_t bytes);
  absl::Status CopyToDevice(std::string_view op, void* dst, size_t bytes);

  std::unique_ptr<Communicator> bootstrap_;
  ncclComm_t comm_;  // null once aborted
  cudaStream_t stream_;
  const int device_;
  bool stall_next_ = false;
  comm_internal::BrokenState broken_;
  std::vector<std::byte> staging_;
};

}  // namespace tessera
