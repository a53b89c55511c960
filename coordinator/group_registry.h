// The replica groups the coordinator knows: their life state, what their
// leaders last said, the coordinator's own books on the work it gave each,
// and the routing choice.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "coordinator/admission_queue.h"
#include "proto/admin_api.pb.h"
#include "proto/shard_plan.pb.h"

namespace tessera {

// The largest values a Ready may announce: KV positions (kv_blocks *
// block_size, at most 2^60) and every sum the coordinator forms with them
// stay far inside int64. Beyond them the Ready is refused.
inline constexpr int64_t kMaxReadyKvBlocks = int64_t{1} << 40;
inline constexpr int32_t kMaxReadyBlockSize = int32_t{1} << 20;

// An admin operation under way on a group (coordinator_admin.cc): while it
// lasts the group takes no new requests.
struct GroupChange {
  enum class Kind { kRebalance, kRemove };
  // kDraining: waiting for the running sequences to finish (until
  // `drain_deadline`); kResharding: Reshard sent, waiting for Resharded.
  enum class Phase { kDraining, kResharding };
  Kind kind = Kind::kRebalance;
  Phase phase = Phase::kDraining;
  proto::ShardPlan plan;  // kRebalance: the plan to switch to
  SteadyTime started{};
  SteadyTime drain_deadline{};
  SteadyTime reshard_sent{};  // kResharding: when Reshard went out
};

struct Group {
  uint64_t id = 0;
  std::string name;      // the leader's name ("host:pid" unless --name)
  std::string identity;  // the leader's ROUTER identity
  proto::GroupState state = proto::GROUP_PLANNING;
  uint64_t epoch = 1;    // bumped when the group is declared dead and at each reshard
  int32_t tp = 1;
  int32_t pp = 1;
  proto::ShardPlan plan;                       // the plan it serves with
  std::vector<proto::DeviceProfile> profiles;  // from Register, in group rank order
  // Admin state: drained by `tessera admin drain` (no new requests until
  // undrained), rebalances that took effect (1: the plan of registration),
  // what the last rebalance did, and the operation under way.
  bool admin_drained = false;
  uint64_t plan_generation = 1;
  uint64_t rebalances_finished = 0;  // ended in any way (GroupStatus.rebalances_finished)
  std::string last_rebalance;
  std::optional<GroupChange> change;
  // From Ready.
  int64_t kv_blocks = 0;
  int32_t block_size = 16;
  int32_t max_sequences = 0;
  int32_t max_batch_tokens = 0;
  // From the last Heartbeat.
  int64_t kv_blocks_free = 0;
  int64_t preemptions = 0;
  std::vector<proto::StageTiming> stages;
  std::vector<proto::RankMemory> ranks;
  SteadyTime last_heard{};
  // The coordinator's books: sequences started and not seen finish, and
  // their outstanding work (see InflightEntry::outstanding()).
  int32_t running = 0;
  int64_t outstanding = 0;
  uint64_t completed = 0;
};

// What routing looks at, per group.
struct GroupLoad {
  uint64_t id = 0;
  bool ready = false;
  int32_t running = 0;
  int32_t max_sequences = 0;
  int64_t outstanding = 0;
  int64_t kv_blocks = 0;
  int32_t block_size = 16;
};

// The group a request of `prompt_tokens` + `max_tokens` goes to: among the
// ready groups with a free sequence slot (running < max_sequences: more
// would only wait in the group, where no BUSY can be answered) whose KV
// cache can hold the request, the one with the least outstanding work; ties
// go to fewer running sequences, then to the lower id. nullopt: none can
// take it now.
std::optional<uint64_t> PickGroup(std::span<const GroupLoad> groups, int64_t prompt_tokens, int64_t max_tokens);

class GroupRegistry {
 public:
  // A new group in PLANNING with the next id, epoch 1.
  Group& Add(std::string identity, std::string name, int32_t tp, int32_t pp, SteadyTime now);
  Group* Find(uint64_t id);
  // The live (planning or ready) group of a leader identity.
  Group* FindByIdentity(std::string_view identity);
  // DEAD, epoch bumped, the identity forgotten (its next message is from an
  // unknown leader). The group stays listed for status until pruned.
  void MarkDead(Group& group);
  void Remove(uint64_t id);
  // Forgets the oldest dead groups beyond `keep`.
  void PruneDead(size_t keep);

  std::optional<uint64_t> Pick(int64_t prompt_tokens, int64_t max_tokens);
  // Whether some ready group's whole KV cache holds the request (running
  // sequences aside). A group away for a rebalance counts as ready here: it
  // comes back, and a request only it can hold waits for it. One an admin
  // drained does not count: nobody knows when it comes back.
  bool ReadyGroupCanHold(int64_t prompt_tokens, int64_t max_tokens) const;
  // The same, counting only the groups serving now (READY).
  bool ReadyNowCanHold(int64_t prompt_tokens, int64_t max_tokens) const;
  // The largest KV cache of a ready (or rebalancing) group (0 blocks when
  // none is).
  void LargestReadyKv(int64_t& kv_blocks, int32_t& block_size) const;
  std::vector<uint64_t> LiveIds() const;
  int ReadyCount() const;
  const std::map<uint64_t, std::unique_ptr<Group>>& groups() const { return groups_; }

 private:
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Group>> groups_;  // by id: status lists them in order
  absl::flat_hash_map<std::string, uint64_t> by_identity_;
  std::vector<GroupLoad> loads_;  // scratch for Pick
};

}  // namespace tessera
