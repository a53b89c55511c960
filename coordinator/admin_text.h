// Words for the admin side's answers, logs and status: a plan's stage
// layout, and what a group's rebalance did or is doing.
#pragma once

#include <cstdint>
#include <string>

#include "coordinator/group_registry.h"
#include "proto/shard_plan.pb.h"

namespace tessera {

// "layers [0,10) [10,24)": each stage's layer range, in stage order; with
// tp > 1 each followed by its ranks' FFN columns ("[0,2) (ffn 288/96)"),
// which show the tensor shares.
std::string PlanLayersText(const proto::ShardPlan& plan);

// "12.5 MiB".
std::string MiBText(int64_t bytes);

// Whether two plans give every rank the same slices (layers, heads, FFN
// columns, vocabulary) and the same KV budget: switching would change
// nothing. Predictions and device profiles are not compared.
bool SameShards(const proto::ShardPlan& a, const proto::ShardPlan& b);

// GroupStatus.last_rebalance: while a rebalance runs "in progress: ..."
// (draining, with how many still run and for how long at most, or loading
// the new plan); otherwise what the last one did (empty: none yet).
std::string RebalanceText(const Group& g, SteadyTime now);

}  // namespace tessera
