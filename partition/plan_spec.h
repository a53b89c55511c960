// Plans from an administrator's spec (`tessera admin plan preview|diff`,
// `rebalance`): fixed layer cut points, fixed tensor shares, or `auto` from
// the stages' measured step times; and what changes between two plans.
// Pure functions, like the partitioner: no I/O, no clocks.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "partition/cost_model.h"
#include "proto/admin_api.pb.h"
#include "proto/shard_plan.pb.h"

namespace tessera {

struct PlanSpecInput {
  std::vector<int64_t> layer_bounds;  // pp + 1 cut points (0 ... n_layers), or empty
  std::vector<double> tp_shares;      // tp weights > 0, or empty
  bool auto_balance = false;          // excludes the two above
};

// The plan a spec gives for a group now serving `current` with `profiles`
// (one per group rank, rank order). Layer bounds fix the stages' layer
// ranges (tensor shares then follow the profiles as Partition does); tp
// shares fix every stage's split between its tp ranks (heads, FFN columns,
// vocabulary, on block boundaries with the GQA rule, as Partition does, but
// in the given proportions instead of device speeds); both may be given.
// When only tp_shares are given the layer ranges stay as in `current`.
// auto_balance: from `timings` (per stage: mean step seconds and the layers
// it held), each stage's time per layer t_s = mean_step_seconds / layers;
// choose new cut points minimising the slowest stage's predicted time
// (layers * t_s), subject to every rank fitting its memory; layers move from
// slow stages to fast ones. Refuses (InvalidArgument) a stage without
// timings (steps == 0), a spec mixing auto with the others, bounds that are
// not strictly increasing from 0 to n_layers with pp stages, shares of the
// wrong count or <= 0, and a plan that does not fit memory
// (ResourceExhausted naming the rank and the shortfall, like Partition).
// The result passes ValidatePlan and keeps current's kv_tokens.
//
// Also: auto keeps each stage's tensor shares as they are in `current` (it
// moves only cut points, so the fewest bytes move); between cut points of
// equal slowest time it takes the least summed time, then the evenest, as
// Partition does. An empty spec, profiles of the wrong count or a `current`
// that does not fit the model are InvalidArgument too. Predicted step times
// in the result come from the cost model (default batch and link figures),
// not from the timings.
absl::StatusOr<proto::ShardPlan> PlanFromSpec(const ModelTensors& model, const proto::ShardPlan& current,
                                              const std::vector<proto::DeviceProfile>& profiles,
                                              const PlanSpecInput& spec,
                                              std::span<const proto::StageTiming> timings);

// For people: one line per rank that changes ("rank 2 (stage 1, tp 0):
// layers [12,24) -> [10,24), ffn [0,2816) -> [0,2560), +84.00 MiB to load"),
// or "no change". A change of shape or KV budget comes first, on a line of
// its own. Without the model no bytes to load are given; with it each line
// ends with MovedBytes for that rank ("nothing to load" for a rank that only
// drops tensors).
std::string DiffPlans(const proto::ShardPlan& from, const proto::ShardPlan& to);
std::string DiffPlans(const ModelTensors& model, const proto::ShardPlan& from, const proto::ShardPlan& to);

// Weight bytes the ranks must load anew to go from `from` to `to`: for each
// rank, the bytes of (layer, tensor, row or column range) it holds under
// `to` that it did not hold under `from` (summed over ranks). 0 for equal
// plans. Replicated tensors (norms, rope frequencies) count where a rank
// newly holds them; a tied output is the embedding's rows.
int64_t MovedBytes(const ModelTensors& model, const proto::ShardPlan& from, const proto::ShardPlan& to);
// The same for one rank (0 for a rank `to` does not have).
int64_t MovedBytesOfRank(const ModelTensors& model, const proto::ShardPlan& from, const proto::ShardPlan& to,
                         int rank);

}  // namespace tessera
