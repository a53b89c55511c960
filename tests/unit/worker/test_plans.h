// Shard plans cut by hand for the reshard tests: the partitioner's plan for
// equal ranks, with the layer cuts and tensor shares a test names.
#pragma once

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "model/model.h"
#include "partition/cost_model.h"
#include "partition/partitioner.h"
#include "worker/device_probe.h"

namespace tessera::testing {

// Stage cuts `layers` (pp + 1 points) and, on every stage, tp cuts of query
// heads, FFN columns and vocabulary (tp + 1 points each). Empty: the
// partitioner's.
struct Cuts {
  std::vector<int64_t> layers, q_heads, ffn, vocab;
};

inline proto::ShardPlan MakePlan(const Model& model, int tp, int pp, int64_t kv_tokens, const Cuts& cuts) {
  PartitionRequest req;
  req.model = DescribeModel(model.config, model.weights);
  req.tp = tp;
  req.pp = pp;
  req.profiles.assign(static_cast<size_t>(tp * pp), NominalCpuProfile(tp * pp, "test"));
  req.kv_tokens = kv_tokens;
  auto plan = Partition(req);
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return {};
  const int64_t group = model.config.n_heads / model.config.n_kv_heads;
  auto set = [](proto::Range* r, int64_t begin, int64_t end) {
    r->set_begin(begin);
    r->set_end(end);
  };
  for (proto::RankShard& r : *plan->mutable_ranks()) {
    const int s = r.stage(), t = r.tp_rank();
    if (!cuts.layers.empty()) set(r.mutable_layers(), cuts.layers[s], cuts.layers[s + 1]);
    if (!cuts.q_heads.empty()) {
      set(r.mutable_q_heads(), cuts.q_heads[t], cuts.q_heads[t + 1]);
      set(r.mutable_kv_heads(), cuts.q_heads[t] / group, (cuts.q_heads[t + 1] + group - 1) / group);
    }
    if (!cuts.ffn.empty()) set(r.mutable_ffn(), cuts.ffn[t], cuts.ffn[t + 1]);
    const bool holds_vocab = s == 0 || s == pp - 1;
    if (!cuts.vocab.empty() && holds_vocab) set(r.mutable_vocab(), cuts.vocab[t], cuts.vocab[t + 1]);
  }
  const absl::Status valid = ValidatePlan(*plan, req.model);
  EXPECT_TRUE(valid.ok()) << valid;
  return *plan;
}

// Each rank's layer range, flattened: [begin0, end0, begin1, end1, ...].
inline std::vector<int64_t> Layers(const proto::ShardPlan& plan) {
  std::vector<int64_t> out;
  for (const proto::RankShard& r : plan.ranks()) {
    out.push_back(r.layers().begin());
    out.push_back(r.layers().end());
  }
  return out;
}

}  // namespace tessera::testing
