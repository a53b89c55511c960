// A live reshard: every rank of a group switches from its current shard plan
// to a new one, or every rank keeps the old one. The group is empty when it
// starts (the coordinator drained it, the leader collected every step), so
// no KV state moves: each rank builds its new shard beside the old one,
// sharing the column-sliced copies whose slice does not change and viewing
// rows of the mapped file, which cost nothing to keep; a new KV cache sized
// for its new layers; a new executor with its weights made resident (on a
// GPU, uploaded beside the old ones). The ranks then agree: if any rank
// could not load its part (or would not have the memory for it: the bytes
// it copies anew and its new KV cache are checked against MemAvailable
// first, since with overcommit an allocation "succeeds" and the OOM comes
// later), every rank drops what it built and serves on with the old plan;
// otherwise every rank reads in the rows it did not hold and swaps at once. Steps run only
// before the swap or after it, so a shard is never served half-loaded.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/shard_plan.pb.h"
#include "worker/group_startup.h"

namespace tessera {

// Faults for tests of the rollback.
struct ReshardFaults {
  // This group rank reports that it could not load its new shard (after
  // building it), as a rank short of memory would. -1: none.
  int fail_rank = -1;
  // Every rank takes this for /proc/meminfo's MemAvailable (bytes), as a
  // machine short of memory would show. -1: read it.
  int64_t mem_available_bytes = -1;
};

// A test hook for the e2e tests: the group rank named by the environment
// variable TESSERA_TEST_RESHARD_FAIL_RANK fails every reshard's load. Unset
// or not a number: no fault.
ReshardFaults ReshardFaultsFromEnvironment();

struct ReshardOutcome {
  // OK: every rank switched to the new plan. Otherwise every rank kept the
  // old plan (rolled back), and this says which rank failed and why.
  absl::Status status;
  int64_t kv_blocks = 0;    // of the KV cache now served (the new one, or the kept one)
  int32_t block_size = 0;
  // Summed over the group's ranks; 0 after a rollback (nothing was kept).
  int64_t loaded_bytes = 0;  // weight bytes copied or viewed anew
  int64_t kept_bytes = 0;    // weight bytes the new shards share with the old ones
  double seconds = 0.0;      // on this rank, from the call to the switch (or rollback)
};

// Collective over the group: every rank calls it with the same plan (the
// leader after GroupLeader::SendReshard, the others when Serve returned a
// reshard: better through the overload below). On success `m`'s plan,
// shard, KV cache and executor are the new ones and m.runner is rebound to
// them (the same object, so a GroupLeader holding it goes on). `timeout` bounds the wait for the slowest rank's
// load. A non-OK status is a communication failure: the group is broken.
absl::StatusOr<ReshardOutcome> ReshardMember(GroupMember& m, const proto::ShardPlan& plan, absl::Duration timeout,
                                             const ReshardFaults& faults = {});

// The same, for a rank whose Serve returned a reshard: when the step's plan
// did not parse, this rank takes part with that error as its status, so
// every rank rolls back at once instead of waiting out `timeout` for it.
absl::StatusOr<ReshardOutcome> ReshardMember(GroupMember& m, const ServeExit& exit, absl::Duration timeout,
                                             const ReshardFaults& faults = {});

}  // namespace tessera
