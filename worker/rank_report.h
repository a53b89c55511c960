// Per-rank counters of a serving group (RankReport, group_step.proto): what
// each rank computed since its shard was loaded or last resharded, and the
// memory it holds. A stage's tensor ranks gather theirs on the stage's tp
// rank 0, which adds them to the step on its way down the pipeline; the
// leader turns the latest set into its heartbeat's stage timings and rank
// memory, which `tessera admin status` and `auto` rebalancing read.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "comm/communicator.h"
#include "proto/group_step.pb.h"
#include "proto/worker_api.pb.h"

namespace tessera {

// Collective over `tp` (every tensor rank of the stage, the same step):
// appends every tp rank's report, in tp order, to `step->reports` on tp rank
// 0; the others' steps are left as they were. `tp` may be nullptr (a stage
// of one rank): `mine` is appended directly.
absl::Status GatherStageReports(Communicator* tp, const proto::RankReport& mine, proto::GroupStep* step);

// Heartbeat.stages and Heartbeat.ranks from one step's reports (every rank
// of the group): per stage the mean step seconds of its slowest tensor rank
// (compute seconds / steps), its steps, and `stage_layers[stage]`; per rank
// its memory, in rank order. Replaces what `heartbeat` held of either.
void FillHeartbeatReports(std::span<const proto::RankReport> reports, std::span<const int64_t> stage_layers,
                          proto::Heartbeat* heartbeat);

}  // namespace tessera
