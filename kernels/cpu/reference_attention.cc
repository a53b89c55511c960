// Scalar reference attention (see cpu_kernels.h): one query token, the query
// heads that share one kv head, softmax over keys 0..positions[token].
#include <cmath>

#include "kernels/cpu/reference_kernels.h"

namespace tessera {

void RefAttentionTask(const AttentionArgs& a, int64_t token, int64_t kv_head, float* scratch) {
  const HeadRange heads = QueryHeadsOf(a, kv_head);
  const int64_t n_keys = static_cast<int64_t>(a.positions[token]) + 1;
  const int64_t kv_stride = a.n_kv_heads * a.head_dim;
  // Row of position j in a store (see KvView), at this kv head.
  auto row = [&](const float* store, int64_t j) {
    const int64_t block = a.kv.block_ids[j / a.kv.block_size];
    return store + (block * a.kv.block_size + j % a.kv.block_size) * kv_stride + kv_head * a.head_dim;
  };
  auto key = [&](int64_t j) { return row(a.kv.k_store, j); };
  auto value = [&](int64_t j) { return row(a.kv.v_store, j); };
  for (int64_t h = heads.first; h < heads.last; ++h) {
    const float* q = a.q + (token * a.n_heads + h) * a.head_dim;
    float* scores = scratch + (h - heads.first) * n_keys;
    float max = -INFINITY;
    for (int64_t j = 0; j < n_keys; ++j) {
      const float* k = key(j);
      double dot = 0.0;
      for (int64_t d = 0; d < a.head_dim; ++d) dot += static_cast<double>(q[d]) * k[d];
      scores[j] = static_cast<float>(dot) * a.scale;
      max = std::fmax(max, scores[j]);
    }
    double sum = 0.0;
    for (int64_t j = 0; j < n_keys; ++j) {
      scores[j] = std::exp(scores[j] - max);
      sum += scores[j];
    }
    float* out = a.out + (token * a.n_heads + h) * a.head_dim;
    for (int64_t d = 0; d < a.head_dim; ++d) {
      double acc = 0.0;
      for (int64_t j = 0; j < n_keys; ++j) acc += static_cast<double>(scores[j]) * value(j)[d];
      out[d] = static_cast<float>(acc / sum);
    }
  }
}

}  // namespace tessera
