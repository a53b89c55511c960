// Shared model shapes and device profiles for the partition tests.
#pragma once

#include <string>
#include <vector>

#include "partition/cost_model.h"
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

}  // namespace tessera::testing
