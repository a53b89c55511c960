// The cost of one pipeline stage holding layers [a, b): for each of its
// tensor ranks, the bytes it loads, its KV bytes and its predicted decode step
// time; for the stage, its slowest rank and its worst memory shortfall.
// Internal to partition/: the partitioner's search evaluates every (stage,
// layer range) through it, in O(tp) each from per-rank prefix sums.
#pragma once

#include <cstdint>
#include <vector>

#include "partition/cost_model.h"
#include "partition/tensor_split.h"
#include "proto/shard_plan.pb.h"

namespace tessera {

struct CostParams {
  int tp = 1;
  int pp = 1;
  int64_t context = 0;        // positions attention reads at most (half on average)
  int64_t kv_tokens = 0;
  int64_t batch_tokens = 1;
  double link_bandwidth = 10e9;
  double link_latency = 5e-6;
};

struct RankCost {
  int64_t weight_bytes = 0;
  int64_t kv_bytes_per_token = 0;
  int64_t kv_bytes = 0;
  int64_t shortfall = 0;  // bytes over the device's memory, 0 when it fits
  double compute_seconds = 0;
  double comm_seconds = 0;
  double step_seconds = 0;  // compute + comm
};

class StageCost {
 public:
  // `profiles`: the stage's tp ranks, in tp order; `shares` from SplitStage.
  StageCost(const ModelTensors& m, int stage, std::vector<TensorShare> shares,
            std::vector<proto::DeviceProfile> profiles, const CostParams& params);

  RankCost Rank(int tp_rank, int64_t a, int64_t b) const;
  double Seconds(int64_t a, int64_t b) const;     // slowest rank
  int64_t Shortfall(int64_t a, int64_t b) const;  // worst rank
  // Bytes the stage sends per token: its all-reduces (a ring all-reduce of B
  // bytes over tp ranks sends 2 (tp - 1) B in all) and its send to the next stage.
  double CommBytesPerToken(int64_t a, int64_t b) const;

  const std::vector<TensorShare>& shares() const { return shares_; }
  const std::vector<proto::DeviceProfile>& profiles() const { return profiles_; }

 private:
  int AllReduces(int64_t a, int64_t b) const;

  bool first_, last_;
  CostParams params_;
  int64_t dim_;
  std::vector<TensorShare> shares_;
  std::vector<proto::DeviceProfile> profiles_;
  // Per rank: weight bytes, FLOPs per token and KV bytes per token of layers
  // [0, i) (prefix sums, n_layers + 1 entries), and what the embedding,
  // output and replicated tensors add on this stage.
  std::vector<std::vector<int64_t>> bytes_, kv_;
  std::vector<std::vector<double>> flops_;
  std::vector<int64_t> fixed_bytes_;
  std::vector<double> fixed_read_bytes_, fixed_flops_;
};

}  // namespace tessera
