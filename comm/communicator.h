// The communicator: collectives and point-to-point messages among the ranks of
// one group (a replica group, its tensor-parallel ranks, ...). Every operation
// takes a timeout, so a dead or stuck peer becomes an error the caller can
// report, never a hang. Implementations: MPI (comm/mpi_communicator.h), an
// in-process loopback with fault injection for tests (comm/loopback.h), and
// NCCL for GPU ranks (comm/nccl/nccl_communicator.h).
//
// Contract shared by every implementation:
// - Collectives are called by every rank of the communicator in the same order
//   with the same sizes (the usual MPI rule). A size mismatch is a programmer
//   error, and implementations may detect it and return InvalidArgument.
// - All ranks compute bit-identical results from AllReduceSum (the sum order
//   does not depend on the rank), so replicated activations stay identical.
// - Messages between one pair of ranks with one tag arrive in send order.
// - On a timeout the operation returns DeadlineExceeded naming the operation
//   and, where known, the peer; after that the communicator is broken: every
//   later call fails fast with Unavailable (a collective cannot be resumed
//   half-way), and the owner tears the group down.
// - Tags of Send/Recv/RecvAny lie in [0, kMaxTag]; other values are
//   InvalidArgument. Collectives never use the user's tag space.
// - One communicator is used by one thread at a time (as an MPI communicator).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tessera {

// The largest tag every implementation accepts: the upper bound MPI guarantees.
inline constexpr int kMaxTag = 32767;

// Bytes and operations one rank moved, for the benchmarks' "bytes per token"
// and "share of time communicating" figures.
// A collective counts as one op; AllReduceSum counts its buffer as both sent
// and received, AllGather its send span as sent and its recv span as received,
// Broadcast the buffer as sent on the root and received elsewhere. Failed calls
// count their op and time but no bytes.
struct CommStats {
  int64_t ops = 0;
  int64_t bytes_sent = 0;      // payload this rank contributed or sent
  int64_t bytes_received = 0;  // payload this rank received
  double seconds = 0.0;        // wall time spent inside communicator calls
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // A short description for logs: "mpi world 3/6", "loopback tp 1/2".
  virtual std::string name() const = 0;

  // What the group is for ("world", "tp", "pp"): it appears in name() and so in
  // every error message. A communicator made by Split is labelled
  // "<parent label>.<color>" until its owner relabels it.
  void set_label(std::string label) { label_ = std::move(label); }
  const std::string& label() const { return label_; }

  // The timeout used when a call passes absl::ZeroDuration() (the default).
  // absl::InfiniteDuration() waits forever (an idle worker waiting for work).
  void set_default_timeout(absl::Duration d) { default_timeout_ = d; }
  absl::Duration default_timeout() const { return default_timeout_; }

  // Whether AllReduceSum, AllGather and Broadcast take GPU device memory
  // (the NCCL communicator, which takes host memory too); false: host memory
  // only. An executor on a GPU stages its activations through the host for a
  // communicator that says false.
  virtual bool takes_device_memory() const { return false; }

  // In-place element-wise sum over all ranks.
  virtual absl::Status AllReduceSum(std::span<float> data, absl::Duration timeout = absl::ZeroDuration()) = 0;

  // Every rank contributes `send` (the same size on every rank); `recv` (size
  // * send.size() bytes) receives the contributions in rank order.
  virtual absl::Status AllGather(std::span<const std::byte> send, std::span<std::byte> recv,
                                 absl::Duration timeout = absl::ZeroDuration()) = 0;

  // `data` from `root` to every rank (same size everywhere).
  virtual absl::Status Broadcast(std::span<std::byte> data, int root,
                                 absl::Duration timeout = absl::ZeroDuration()) = 0;

  // Hands `data` to the transport (it is copied) and returns without waiting
  // for the receiver to post a receive, so two ranks sending to each other
  // (a pipeline's leader sending step k+1 while the last stage answers step
  // k) cannot deadlock, whatever the message sizes. A message not taken
  // within the timeout breaks the communicator: a later call (or this one,
  // for an earlier message) fails with DeadlineExceeded naming the peer.
  virtual absl::Status Send(std::span<const std::byte> data, int dest, int tag,
                            absl::Duration timeout = absl::ZeroDuration()) = 0;
  // Receives exactly data.size() bytes; a message of another size is an
  // InvalidArgument error (the message is consumed).
  virtual absl::Status Recv(std::span<std::byte> data, int source, int tag,
                            absl::Duration timeout = absl::ZeroDuration()) = 0;
  // Receives a message of any size (for variable-length control messages).
  virtual absl::StatusOr<std::vector<std::byte>> RecvAny(int source, int tag,
                                                         absl::Duration timeout = absl::ZeroDuration()) = 0;

  virtual absl::Status Barrier(absl::Duration timeout = absl::ZeroDuration()) = 0;

  // Collective: ranks passing the same color form a new communicator, ordered
  // by (key, old rank). Every rank must call it.
  virtual absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int key,
                                                              absl::Duration timeout = absl::ZeroDuration()) = 0;

  const CommStats& stats() const { return stats_; }
  void ResetStats() { stats_ = CommStats{}; }

 protected:
  absl::Duration Resolve(absl::Duration timeout) const {
    return timeout == absl::ZeroDuration() ? default_timeout_ : timeout;
  }
  CommStats stats_;

 private:
  absl::Duration default_timeout_ = absl::Seconds(30);
  std::string label_ = "world";
};

// Typed helpers over the byte interface.
template <typename T>
std::span<const std::byte> AsBytes(std::span<const T> s) {
  return std::as_bytes(s);
}
template <typename T>
std::span<std::byte> AsWritableBytes(std::span<T> s) {
  return std::as_writable_bytes(s);
}

}  // namespace tessera
