// Shared model shapes and device profiles for the partition tests.
#pragma once

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "partition/cost_model.h"
#include "partition/partitioner.h"
#include "proto/shard_plan.pb.h"

namespace tessera::testing {

// 8 heads of 64 over 2 KV heads (group 4), 6 layers, FFN 1408, vocab 1000.
inline ModelConfig GqaConfig() {
  ModelConfig c;
  c.name = "gqa";
  c.n_layers = 6;
  c.dim = 512;
  c.n_heads = 8;
  c.n_kv_heads = 2;
  c.head_dim = 64;
  c.ffn_dim = 1408;
  c.vocab_size = 1000;
  c.context_length = 256;
  return c;
}

// The same with one KV head per query head.
inline ModelConfig MhaConfig() {
  ModelConfig c = GqaConfig();
  c.name = "mha";
  c.n_kv_heads = 8;
  return c;
}

// Heads of 16 elements: a q8_0 wo column cut must fall on 32, so query heads
// go in pairs.
inline ModelConfig NarrowConfig() {
  ModelConfig c = GqaConfig();
  c.name = "narrow";
  c.dim = 128;
  c.n_heads = 8;
  c.n_kv_heads = 8;
  c.head_dim = 16;
  c.ffn_dim = 384;
  return c;
}

// qwen2-like: QKV biases and an output tied to the embedding, 4 KV heads.
inline ModelConfig TiedBiasConfig() {
  ModelConfig c = GqaConfig();
  c.name = "tied";
  c.arch = Arch::kQwen2;
  c.n_kv_heads = 4;
  c.qkv_bias = true;
  c.tied_output = true;
  return c;
}

inline proto::DeviceProfile Device(const std::string& name, int64_t memory_bytes, double gflops,
                                   double gbs) {
  proto::DeviceProfile p;
  p.set_name(name);
  p.set_memory_bytes(memory_bytes);
  p.set_compute_flops(gflops * 1e9);
  p.set_memory_bandwidth(gbs * 1e9);
  return p;
}

inline std::vector<proto::DeviceProfile> Same(int n, const proto::DeviceProfile& p) {
  return std::vector<proto::DeviceProfile>(static_cast<size_t>(n), p);
}

constexpr int64_t kGiB = int64_t{1} << 30;
constexpr int64_t kMiB = int64_t{1} << 20;

// Memory-bound (compute 1e6 GFLOP/s): a rank's time is its bytes over `gbs`.
inline proto::DeviceProfile Fast(double gbs = 20, int64_t memory = 4 * kGiB) {
  return Device("dev", memory, 1e6, gbs);
}

// Where each stage's layers begin, then where the last ends: pp + 1 cut points.
inline std::vector<int64_t> StageStarts(const proto::ShardPlan& plan) {
  std::vector<int64_t> out;
  for (int s = 0; s < plan.pp(); ++s) out.push_back(plan.ranks(s * plan.tp()).layers().begin());
  out.push_back(plan.ranks(plan.ranks_size() - 1).layers().end());
  return out;
}

// The plan Partition makes on equal devices (Fast()): what a group starts with.
inline proto::ShardPlan StartupPlan(const ModelTensors& m, int tp, int pp, int64_t kv_tokens = 0) {
  PartitionRequest r;
  r.model = m;
  r.tp = tp;
  r.pp = pp;
  r.profiles = Same(tp * pp, Fast());
  r.kv_tokens = kv_tokens;
  absl::StatusOr<proto::ShardPlan> plan = Partition(r);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *plan : proto::ShardPlan();
}

}  // namespace tessera::testing
