// The single-rank engine as the reference every sharded run is checked
// against, and the small models and prompts those checks use. Shared by the
// in-process (loopback) tests and the mpirun integration test.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "model/model.h"
#include "model/model_maker.h"
#include "worker/executor.h"
#include "worker/kv_cache.h"
#include "worker/sampler.h"

namespace tessera::testing {


inline ModelSpec Spec(DType type, int64_t layers, int64_t heads, int64_t kv_heads, uint64_t seed) {
  ModelSpec s;
  s.n_layers = layers;
  s.dim = heads * 32;  // head_dim 32: column slices stay on Q8_0 blocks
  s.n_heads = heads;
  s.n_kv_heads = kv_heads;
  s.ffn_dim = 384;
  s.vocab_size = 512;
  s.context_length = 256;
  s.type = type;
  s.seed = seed;
  return s;
}

inline std::vector<int32_t> Prompt(int64_t vocab, int n, uint32_t seed) {
  std::vector<int32_t> p;
  uint32_t x = seed * 2654435761u + 1;
  for (int i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    p.push_back(static_cast<int32_t>(x % static_cast<uint32_t>(vocab)));
  }
  return p;
}

struct Reference {
  std::vector<int32_t> tokens;
  std::vector<std::vector<float>> logits;  // the logits that chose each token
};

// The single-rank engine, one step at a time: greedy by an argmax written
// here, or, with a temperature, the single-rank Sampler on the whole
// vocabulary's logits (what a sharded draw from slices must reproduce).
inline Reference RunSingleRank(const std::string& path, const std::vector<int32_t>& prompt, int steps,
                               const SamplingParams& sampling = {}) {
  auto model = LoadModel(path);
  EXPECT_TRUE(model.ok()) << model.status();
  const Model& m = **model;
  auto backend = MakeCpuBackend({.threads = 1});
  KvCacheShape shape{m.config.n_layers, m.config.kv_dim(), 16, 64};
  auto kv = KvCache::Create(shape, *backend);
  Executor ex(m, *backend, **kv);
  Sampler sampler(sampling);
  Reference ref;
  std::vector<float> logits;
  SequenceChunk chunk{7, prompt, 0, true};
  EXPECT_TRUE(ex.Forward({&chunk, 1}, &logits).ok());
  int64_t pos = static_cast<int64_t>(prompt.size());
  for (int i = 0; i < steps; ++i) {
    int32_t next = 0;
    if (sampling.temperature > 0.0f) {
      next = sampler.Sample(logits, pos);
    } else {
      for (int32_t v = 1; v < static_cast<int32_t>(logits.size()); ++v) {
        if (logits[v] > logits[next]) next = v;
      }
    }
    ref.tokens.push_back(next);
    ref.logits.push_back(logits);
    if (i + 1 == steps) break;
    SequenceChunk step{7, std::span<const int32_t>(&ref.tokens.back(), 1), pos++, true};
    EXPECT_TRUE(ex.Forward({&step, 1}, &logits).ok());
  }
  return ref;
}

}  // namespace tessera::testing
