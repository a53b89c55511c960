// The steps a plan is made of, shared by Partition (partitioner.cc) and
// PlanFromSpec (plan_spec.cc) so that a plan from an admin's spec is costed,
// checked and written exactly as one from device profiles: check the
// request, split each stage's tensors by some rule, choose (or check) the
// layer cuts, write the ShardPlan. Internal to partition/.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "partition/layer_split.h"
#include "partition/partitioner.h"
#include "partition/stage_cost.h"
#include "partition/tensor_split.h"

namespace tessera {

// InvalidArgument for a request no plan can be made for (shape, profiles,
// budgets, a model whose widths are not whole blocks).
absl::Status CheckPartitionRequest(const PartitionRequest& r);

CostParams CostParamsFor(const PartitionRequest& r);

// How fast each rank runs a whole layer: the weights Partition shares a
// stage's tensors by.
std::vector<double> RankSpeeds(const ModelTensors& m, const std::vector<proto::DeviceProfile>& profiles,
                               const CostParams& params);

// The tensor shares of stage `stage`, given its ranks' profiles (tp order)
// and whether it holds vocabulary rows.
using ShareRule = std::function<std::vector<TensorShare>(int stage, const std::vector<proto::DeviceProfile>& profiles,
                                                         bool holds_vocab)>;

std::vector<StageCost> CostStages(const PartitionRequest& r, const CostParams& params, const ShareRule& shares);

// Partition's three searches over the cut points with `seconds(stage, a, b)`
// as a stage's predicted time: the least worst memory shortfall; among
// splits short by no more, the least slowest stage; among those, the least
// sum (ties to the evenest). ResourceExhausted naming the worst rank when
// every split leaves some rank short.
absl::StatusOr<std::vector<int64_t>> SearchLayerSplit(const std::vector<StageCost>& stages,
                                                      const PartitionRequest& r, const StageValue& seconds);

// For cut points chosen elsewhere: ResourceExhausted naming the worst rank
// when some rank is short; `advice` ends the message (what to change).
absl::Status CheckSplitFits(const std::vector<StageCost>& stages, const std::vector<int64_t>& bounds,
                            const PartitionRequest& r, const std::string& advice);

// The plan for `bounds` (pp + 1 cut points) with the stages' shares.
proto::ShardPlan WritePlan(const std::vector<StageCost>& stages, const std::vector<int64_t>& bounds,
                           const PartitionRequest& r);

}  // namespace tessera
