// The partitioner: (model tensors, group shape tp x pp, device profiles, KV
// budget) -> ShardPlan. Pure functions: no I/O, no clocks, the same inputs
// always give the same plan (every rank of a group may compute it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "partition/cost_model.h"
#include "proto/shard_plan.pb.h"

namespace tessera {

inline constexpr uint32_t kShardPlanVersion = 1;

struct PartitionRequest {
  ModelTensors model;
  int tp = 1;
  int pp = 1;
  // One per rank of the group, in rank order (rank = stage * tp + tp_rank).
  std::vector<proto::DeviceProfile> profiles;
  int64_t kv_tokens = 0;     // KV budget: positions held at once, all sequences
  int64_t batch_tokens = 1;  // tokens per decode step, for the predicted step time
  double link_bandwidth = 10e9;  // bytes/s between ranks of a stage
  double link_latency = 5e-6;    // seconds per message
};

// The plan, or an error a user can act on: InvalidArgument for a shape that
// cannot be split (tp < 1, pp > layers, wrong number of profiles), and
// ResourceExhausted naming the rank, its stage and tp rank, what it needs,
// what it has and how many bytes it is short when no split fits memory.
absl::StatusOr<proto::ShardPlan> Partition(const PartitionRequest& request);

// Checks a plan received from elsewhere against the model: version, shape,
// ranges that tile the layers, heads (with the GQA rule), FFN columns and
// vocabulary exactly, block-aligned slices of quantized tensors.
absl::Status ValidatePlan(const proto::ShardPlan& plan, const ModelTensors& model);

// A table for people: one line per rank with layers, heads, FFN columns,
// vocabulary slice, weight bytes, KV bytes and predicted step time.
std::string FormatPlan(const proto::ShardPlan& plan);

}  // namespace tessera
