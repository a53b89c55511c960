// Partition: tensor shares per stage first (they depend only on the stage's
// devices), then the layer split by three searches over the cut points:
//   1. the least worst memory shortfall S (0 when some split fits);
//   2. the least slowest-stage time T among splits no stage of which is short
//      by more than S;
//   3. among those no stage of which is slower than T, the least sum of stage
//      times (one token's latency through the pipeline), so stages off the
//      critical path still go to the devices that run them fastest; between
//      equal sums, the evenest.
// A split with S > 0 is refused, naming its worst rank.
#include <vector>

#include "partition/partitioner.h"
#include "partition/plan_build.h"

namespace tessera {

absl::StatusOr<proto::ShardPlan> Partition(const PartitionRequest& r) {
  if (auto st = CheckPartitionRequest(r); !st.ok()) return st;
  const CostParams params = CostParamsFor(r);
  const std::vector<StageCost> stages =
      CostStages(r, params, [&](int, const std::vector<proto::DeviceProfile>& profiles, bool holds_vocab) {
        return SplitStage(r.model, RankSpeeds(r.model, profiles, params), holds_vocab);
      });
  absl::StatusOr<std::vector<int64_t>> bounds = SearchLayerSplit(
      stages, r, [&](int s, int64_t a, int64_t b) { return stages[static_cast<size_t>(s)].Seconds(a, b); });
  if (!bounds.ok()) return bounds.status();
  return WritePlan(stages, *bounds, r);
}

}  // namespace tessera
