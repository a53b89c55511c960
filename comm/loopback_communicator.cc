#include "comm/loopback_communicator.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera::loopback_internal {

using comm_internal::CheckPeer;
using comm_internal::CheckTag;
using comm_internal::DeadlineAfter;
using comm_internal::NoAnswer;
using comm_internal::OpScope;

namespace {

Payload Copy(std::span<const std::byte> bytes) {
  return std::make_shared<const std::vector<std::byte>>(bytes.begin(), bytes.end());
}

}  // namespace

LoopbackCommunicator::LoopbackCommunicator(std::shared_ptr<Fabric> fabric, std::shared_ptr<const Group> group, int rank)
    : fabric_(std::move(fabric)), group_(std::move(group)), rank_(rank) {}

std::string LoopbackCommunicator::name() const { return absl::StrCat("loopback ", label(), " ", rank_, "/", size()); }

absl::Status LoopbackCommunicator::SelfKilled(std::string_view op) {
  return broken_.Break(absl::UnavailableError(
      absl::StrCat(std::string(op), " on ", name(), ": hub rank ", world_rank(), " was killed (fault injection)")));
}

absl::Status LoopbackCommunicator::Usable(std::string_view op) {
  if (absl::Status s = broken_.Check(*this, op); !s.ok()) return s;
  if (fabric_->killed(world_rank())) return SelfKilled(op);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Payload>> LoopbackCommunicator::Exchange(std::string_view op, int tag, Payload mine,
                                                                    absl::Duration timeout) {
  const absl::Time deadline = DeadlineAfter(timeout);
  std::vector<int> missing;
  std::vector<bool> unreachable(size());
  for (int peer = 0; peer < size(); ++peer) {
    if (peer != rank_ && !fabric_->Post(*group_, rank_, peer, tag, mine)) unreachable[peer] = true;
  }
  std::vector<Payload> all(size());
  all[rank_] = std::move(mine);
  for (int peer = 0; peer < size(); ++peer) {
    if (peer == rank_) continue;
    if (unreachable[peer]) {
      missing.push_back(peer);
      continue;
    }
    // Once the deadline has passed, Take only looks: the remaining peers are
    // checked without waiting, so the error lists every late rank.
    switch (fabric_->Take(*group_, rank_, peer, tag, deadline, &all[peer])) {
      case Fabric::TakeResult::kOk:
        break;
      case Fabric::TakeResult::kTimedOut:
        missing.push_back(peer);
        break;
      case Fabric::TakeResult::kSelfKilled:
        return SelfKilled(op);
    }
  }
  if (missing.empty()) return all;
  // A killed receiver looks like a slow one until the timeout runs out.
  if (!fabric_->SleepUntil(deadline, world_rank())) return SelfKilled(op);
  return broken_.Break(NoAnswer(*this, op, missing, timeout));
}

absl::StatusOr<Payload> LoopbackCommunicator::TakeFrom(std::string_view op, int source, int tag,
                                                       absl::Duration timeout) {
  Payload p;
  switch (fabric_->Take(*group_, rank_, source, tag, DeadlineAfter(timeout), &p)) {
    case Fabric::TakeResult::kOk:
      return p;
    case Fabric::TakeResult::kTimedOut: {
      const int who[] = {source};
      return broken_.Break(NoAnswer(*this, op, who, timeout));
    }
    case Fabric::TakeResult::kSelfKilled:
      break;
  }
  return SelfKilled(op);
}

absl::Status LoopbackCommunicator::CheckSameSize(std::string_view op, const std::vector<Payload>& payloads,
                                                 size_t bytes) {
  for (int r = 0; r < size(); ++r) {
    if (payloads[r]->size() != bytes) {
      return broken_.Break(absl::InvalidArgumentError(
          absl::StrCat(std::string(op), " on ", name(), ": rank ", r, " passed ", payloads[r]->size(),
                       " bytes, this rank ", bytes, " (every rank must pass the same size)")));
    }
  }
  return absl::OkStatus();
}

absl::Status LoopbackCommunicator::AllReduceSum(std::span<float> data, absl::Duration timeout) {
  constexpr char kOp[] = "all-reduce";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  const std::span<const std::byte> bytes = std::as_bytes(data);
  absl::StatusOr<std::vector<Payload>> all = Exchange(kOp, kTagAllReduce, Copy(bytes), Resolve(timeout));
  if (!all.ok()) return all.status();
  if (absl::Status s = CheckSameSize(kOp, *all, bytes.size()); !s.ok()) return s;
  // Rank order on every rank: the same additions in the same order give the
  // same bits everywhere.
  if (!data.empty()) std::memcpy(data.data(), (*all)[0]->data(), bytes.size());
  for (int r = 1; r < size(); ++r) {
    const std::byte* x = (*all)[r]->data();
    for (size_t i = 0; i < data.size(); ++i) {
      float xi;
      std::memcpy(&xi, x + i * sizeof(float), sizeof(float));
      data[i] += xi;
    }
  }
  scope.Done(bytes.size(), bytes.size());
  return absl::OkStatus();
}

absl::Status LoopbackCommunicator::AllGather(std::span<const std::byte> send, std::span<std::byte> recv,
                                             absl::Duration timeout) {
  constexpr char kOp[] = "all-gather";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (recv.size() != send.size() * size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, " on ", name(), ": recv has ", recv.size(), " bytes, needs ", send.size(), " x ", size()));
  }
  absl::StatusOr<std::vector<Payload>> all = Exchange(kOp, kTagAllGather, Copy(send), Resolve(timeout));
  if (!all.ok()) return all.status();
  if (absl::Status s = CheckSameSize(kOp, *all, send.size()); !s.ok()) return s;
  for (int r = 0; r < size(); ++r) {
    if (!send.empty()) std::memcpy(recv.data() + r * send.size(), (*all)[r]->data(), send.size());
  }
  scope.Done(send.size(), recv.size());
  return absl::OkStatus();
}

absl::Status LoopbackCommunicator::Broadcast(std::span<std::byte> data, int root, absl::Duration timeout) {
  constexpr char kOp[] = "broadcast";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (absl::Status s = CheckPeer(*this, kOp, "root", root); !s.ok()) return s;
  timeout = Resolve(timeout);
  if (rank_ == root) {
    const absl::Time deadline = DeadlineAfter(timeout);
    Payload mine = Copy(data);
    std::vector<int> unreachable;
    for (int peer = 0; peer < size(); ++peer) {
      if (peer != rank_ && !fabric_->Post(*group_, rank_, peer, kTagBroadcast, mine)) unreachable.push_back(peer);
    }
    if (!unreachable.empty()) {
      if (!fabric_->SleepUntil(deadline, world_rank())) return SelfKilled(kOp);
      return broken_.Break(NoAnswer(*this, kOp, unreachable, timeout));
    }
    scope.Done(data.size(), 0);
    return absl::OkStatus();
  }
  absl::StatusOr<Payload> p = TakeFrom(kOp, root, kTagBroadcast, timeout);
  if (!p.ok()) return p.status();
  if ((*p)->size() != data.size()) {
    return broken_.Break(absl::InvalidArgumentError(absl::StrCat(
        kOp, " on ", name(), ": root ", root, " sent ", (*p)->size(), " bytes, this rank expects ", data.size())));
  }
  if (!data.empty()) std::memcpy(data.data(), (*p)->data(), data.size());
  scope.Done(0, data.size());
  return absl::OkStatus();
}

absl::Status LoopbackCommunicator::Send(std::span<const std::byte> data, int dest, int tag, absl::Duration timeout) {
  constexpr char kOp[] = "send";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (absl::Status s = CheckPeer(*this, kOp, "destination", dest); !s.ok()) return s;
  if (absl::Status s = CheckTag(*this, kOp, tag); !s.ok()) return s;
  timeout = Resolve(timeout);
  const absl::Time deadline = DeadlineAfter(timeout);
  if (!fabric_->Post(*group_, rank_, dest, tag, Copy(data))) {
    if (!fabric_->SleepUntil(deadline, world_rank())) return SelfKilled(kOp);
    const int who[] = {dest};
    return broken_.Break(NoAnswer(*this, kOp, who, timeout));
  }
  scope.Done(data.size(), 0);
  return absl::OkStatus();
}

absl::Status LoopbackCommunicator::Recv(std::span<std::byte> data, int source, int tag, absl::Duration timeout) {
  constexpr char kOp[] = "recv";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (absl::Status s = CheckPeer(*this, kOp, "source", source); !s.ok()) return s;
  if (absl::Status s = CheckTag(*this, kOp, tag); !s.ok()) return s;
  absl::StatusOr<Payload> p = TakeFrom(kOp, source, tag, Resolve(timeout));
  if (!p.ok()) return p.status();
  // A size mismatch loses only this message: the stream stays in order.
  if ((*p)->size() != data.size()) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, " on ", name(), ": rank ", source, " sent ", (*p)->size(),
                                                   " bytes with tag ", tag, ", expected ", data.size()));
  }
  if (!data.empty()) std::memcpy(data.data(), (*p)->data(), data.size());
  scope.Done(0, data.size());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::byte>> LoopbackCommunicator::RecvAny(int source, int tag, absl::Duration timeout) {
  constexpr char kOp[] = "recv";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (absl::Status s = CheckPeer(*this, kOp, "source", source); !s.ok()) return s;
  if (absl::Status s = CheckTag(*this, kOp, tag); !s.ok()) return s;
  absl::StatusOr<Payload> p = TakeFrom(kOp, source, tag, Resolve(timeout));
  if (!p.ok()) return p.status();
  scope.Done(0, (*p)->size());
  return std::vector<std::byte>(**p);
}

absl::Status LoopbackCommunicator::Barrier(absl::Duration timeout) {
  constexpr char kOp[] = "barrier";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  absl::StatusOr<std::vector<Payload>> all =
      Exchange(kOp, kTagBarrier, std::make_shared<const std::vector<std::byte>>(), Resolve(timeout));
  return all.status();
}

absl::StatusOr<std::unique_ptr<Communicator>> LoopbackCommunicator::Split(int color, int key, absl::Duration timeout) {
  constexpr char kOp[] = "split";
  OpScope scope(stats_);
  if (absl::Status s = Usable(kOp); !s.ok()) return s;
  if (color < 0) {
    return absl::InvalidArgumentError(absl::StrCat(kOp, " on ", name(), ": color ", color, " is negative"));
  }
  const int mine[2] = {color, key};
  absl::StatusOr<std::vector<Payload>> all =
      Exchange(kOp, kTagSplit, Copy(std::as_bytes(std::span<const int>(mine))), Resolve(timeout));
  if (!all.ok()) return all.status();
  if (absl::Status s = CheckSameSize(kOp, *all, sizeof(mine)); !s.ok()) return s;

  struct Member {
    int key, old_rank;
  };
  std::vector<Member> members;
  for (int r = 0; r < size(); ++r) {
    int ck[2];
    std::memcpy(ck, (*all)[r]->data(), sizeof(ck));
    if (ck[0] == color) members.push_back({ck[1], r});
  }
  std::sort(members.begin(), members.end(),
            [](const Member& a, const Member& b) { return a.key != b.key ? a.key < b.key : a.old_rank < b.old_rank; });
  std::vector<int> world_ranks;
  int new_rank = -1;
  for (const Member& m : members) {
    if (m.old_rank == rank_) new_rank = static_cast<int>(world_ranks.size());
    world_ranks.push_back(group_->world_ranks[m.old_rank]);
  }
  auto sub = std::make_unique<LoopbackCommunicator>(
      fabric_, fabric_->SplitGroup(group_->id, splits_done_++, color, std::move(world_ranks)), new_rank);
  sub->set_label(absl::StrCat(label(), ".", color));
  sub->set_default_timeout(default_timeout());
  return std::unique_ptr<Communicator>(std::move(sub));
}

}  // namespace tessera::loopback_internal
