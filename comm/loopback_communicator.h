// The Communicator of one rank of a LoopbackHub. Internal to comm/: callers
// get it through LoopbackHub::Connect and Split.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "comm/communicator.h"
#include "comm/loopback_fabric.h"
#include "comm/op_support.h"

namespace tessera::loopback_internal {

class LoopbackCommunicator final : public Communicator {
 public:
  LoopbackCommunicator(std::shared_ptr<Fabric> fabric, std::shared_ptr<const Group> group, int rank);

  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(group_->world_ranks.size()); }
  std::string name() const override;

  absl::Status AllReduceSum(std::span<float> data, absl::Duration timeout) override;
  absl::Status AllGather(std::span<const std::byte> send, std::span<std::byte> recv, absl::Duration timeout) override;
  absl::Status Broadcast(std::span<std::byte> data, int root, absl::Duration timeout) override;
  absl::Status Send(std::span<const std::byte> data, int dest, int tag, absl::Duration timeout) override;
  absl::Status Recv(std::span<std::byte> data, int source, int tag, absl::Duration timeout) override;
  absl::StatusOr<std::vector<std::byte>> RecvAny(int source, int tag, absl::Duration timeout) override;
  absl::Status Barrier(absl::Duration timeout) override;
  absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int key, absl::Duration timeout) override;

 private:
  // Collectives use negative tags, which a user's tag can never be, and one
  // tag per kind so a mismatched call order times out instead of mixing data.
  enum InternalTag : int {
    kTagAllReduce = -1,
    kTagAllGather = -2,
    kTagBroadcast = -3,
    kTagBarrier = -4,
    kTagSplit = -5,
  };

  int world_rank() const { return group_->world_ranks[rank_]; }
  // Fails when the communicator is broken or this rank was killed.
  absl::Status Usable(std::string_view op);
  absl::Status SelfKilled(std::string_view op);
  // Sends `mine` to every other rank and takes one message from each; the
  // result holds every rank's payload, indexed by rank.
  absl::StatusOr<std::vector<Payload>> Exchange(std::string_view op, int tag, Payload mine, absl::Duration timeout);
  // Takes the next message from `source` with `tag`.
  absl::StatusOr<Payload> TakeFrom(std::string_view op, int source, int tag, absl::Duration timeout);
  // Returns InvalidArgument (and breaks the communicator) unless every
  // payload has `bytes` bytes.
  absl::Status CheckSameSize(std::string_view op, const std::vector<Payload>& payloads, size_t bytes);

  std::shared_ptr<Fabric> fabric_;
  std::shared_ptr<const Group> group_;
  int rank_;
  int64_t splits_done_ = 0;  // identifies a Split among this group's splits
  comm_internal::BrokenState broken_;
};

}  // namespace tessera::loopback_internal
