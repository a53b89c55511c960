// The state every rank of a loopback hub shares: mailboxes, the groups made by
// Split, and the injected faults. Internal to comm/; tests use LoopbackHub.
//
// One mutex and one condition variable guard everything, for every group of
// the hub: loopback runs tests with a handful of threads, so simplicity beats
// throughput, and a fault (Kill) must wake a waiter in any sub-group.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tessera::loopback_internal {

using Payload = std::shared_ptr<const std::vector<std::byte>>;

// The members of one communicator: world ranks in group-rank order.
struct Group {
  int id = 0;
  std::vector<int> world_ranks;
};

class Fabric {
 public:
  explicit Fabric(int world_size);

  int world_size() const { return world_size_; }
  const std::shared_ptr<const Group>& world() const { return world_; }

  // The group a Split makes: every member asks with the same key (parent
  // group, how many splits the parent did before, color) and gets the same
  // group; the first to ask creates it.
  std::shared_ptr<const Group> SplitGroup(int parent, int64_t split_seq, int color, std::vector<int> world_ranks)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Marks a world rank as connected; false when it already was.
  bool MarkConnected(int world_rank) ABSL_LOCKS_EXCLUDED(mu_);

  // Queues `payload` from group rank `src` for group rank `dst` (never
  // blocks). Applies the sender's faults: dropped messages vanish, delayed
  // ones become visible later. Returns false when `dst` is killed: nothing
  // will ever take the message, and the caller decides how to fail.
  bool Post(const Group& g, int src, int dst, int tag, Payload payload) ABSL_LOCKS_EXCLUDED(mu_);

  enum class TakeResult { kOk, kTimedOut, kSelfKilled };
  // Takes the oldest message from `src` with `tag` for `dst`, waiting until
  // it is visible or the deadline passes. A later message never overtakes an
  // earlier one with the same (src, tag), delayed or not.
  TakeResult Take(const Group& g, int dst, int src, int tag, absl::Time deadline, Payload* out)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Sleeps until the deadline, or returns early (false) when `world_rank` is
  // killed meanwhile. Used to fail "within the timeout" like a real network
  // that cannot tell a dead peer from a slow one.
  bool SleepUntil(absl::Time deadline, int world_rank) ABSL_LOCKS_EXCLUDED(mu_);

  bool killed(int world_rank) const ABSL_LOCKS_EXCLUDED(mu_);

  // Fault injection, by world rank.
  void Kill(int world_rank) ABSL_LOCKS_EXCLUDED(mu_);
  void Drop(int world_rank, int64_t count) ABSL_LOCKS_EXCLUDED(mu_);
  void Delay(int world_rank, absl::Duration delay) ABSL_LOCKS_EXCLUDED(mu_);
  void Heal(int world_rank) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Message {
    int src;
    int tag;
    Payload payload;
    absl::Time visible_at;
  };
  struct Faults {
    bool killed = false;
    int64_t drop = 0;  // messages still to drop; negative: all of them
    absl::Duration delay;
  };
  using SplitKey = std::tuple<int, int64_t, int>;

  const int world_size_;
  const std::shared_ptr<const Group> world_;
  mutable absl::Mutex mu_;
  absl::CondVar changed_;  // signalled on every post and fault change
  std::vector<Faults> faults_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> connected_ ABSL_GUARDED_BY(mu_);
  // Keyed by (group id, group rank of the receiver).
  std::map<std::pair<int, int>, std::deque<Message>> mailboxes_ ABSL_GUARDED_BY(mu_);
  std::map<SplitKey, std::shared_ptr<const Group>> splits_ ABSL_GUARDED_BY(mu_);
  int next_group_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace tessera::loopback_internal
