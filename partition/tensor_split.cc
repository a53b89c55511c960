#include "partition/tensor_split.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace tessera {
namespace {

// Heads come in whole units, so their shares can be uneven (4 KV heads on 3
// ranks: 2/1/1). The FFN columns make up for it: each rank gets what brings
// its bytes per layer (attention + FFN) closest to its speed's share of the
// stage's total, so no rank is the stage's straggler because of its heads.
std::vector<double> FfnWeights(const ModelTensors& m, const std::vector<TensorShare>& shares,
                               const std::vector<double>& speeds) {
  const auto layers = static_cast<int64_t>(m.layers.size());
  const LayerSlice no_ffn{0, 0, 0}, all_ffn{0, 0, m.config.ffn_dim};
  double ffn_bytes = 0;
  std::vector<double> fixed(shares.size(), 0.0);
  for (int64_t i = 0; i < layers; ++i) {
    ffn_bytes += static_cast<double>(LayerWeightBytes(m, i, all_ffn) - LayerWeightBytes(m, i, no_ffn));
    for (size_t r = 0; r < shares.size(); ++r) {
      fixed[r] += static_cast<double>(LayerWeightBytes(m, i, {shares[r].q_heads.size(), shares[r].kv_heads.size(), 0}));
    }
  }
  double total = ffn_bytes, speed_sum = 0;
  for (size_t r = 0; r < shares.size(); ++r) total += fixed[r], speed_sum += speeds[r];
  std::vector<double> weights(shares.size());
  double weight_sum = 0;
  for (size_t r = 0; r < shares.size(); ++r) {
    weights[r] = std::max(0.0, total * speeds[r] / speed_sum - fixed[r]);
    weight_sum += weights[r];
  }
  return weight_sum > 0 ? weights : speeds;
}

}  // namespace


std::vector<int64_t> Apportion(int64_t units, const std::vector<double>& weights, int64_t min_each) {
  const size_t n = weights.size();
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  std::vector<double> quota(n);
  std::vector<int64_t> alloc(n);
  int64_t given = 0;
  for (size_t i = 0; i < n; ++i) {
    quota[i] = static_cast<double>(units) * weights[i] / total;
    alloc[i] = std::max<int64_t>(min_each, static_cast<int64_t>(std::floor(quota[i])));
    given += alloc[i];
  }
  // Floors leave units over: each goes to the rank furthest below its quota.
  // A minimum may have given too many: take them back from the ranks furthest
  // above theirs. Strict comparisons give ties to the lower rank.
  while (given < units) {
    size_t best = 0;
    for (size_t i = 1; i < n; ++i) {
      if (quota[i] - static_cast<double>(alloc[i]) > quota[best] - static_cast<double>(alloc[best])) best = i;
    }
    ++alloc[best];
    ++given;
  }
  while (given > units) {
    size_t best = n;
    for (size_t i = 0; i < n; ++i) {
      if (alloc[i] <= min_each) continue;
      if (best == n || static_cast<double>(alloc[i]) - quota[i] >
                           static_cast<double>(alloc[best]) - quota[best]) {
        best = i;
      }
    }
    if (best == n) break;  // units < min_each * n: the caller's contract was broken
    --alloc[best];
    --given;
  }
  return alloc;
}

std::vector<Span> SplitRange(int64_t n, int64_t unit, const std::vector<double>& weights,
                             int64_t min_each) {
  const int64_t units = (n + unit - 1) / unit;
  const std::vector<int64_t> counts = Apportion(units, weights, min_each);
  std::vector<Span> out;
  out.reserve(counts.size());
  int64_t at = 0;
  for (int64_t c : counts) {
    const int64_t end = std::min(n, (at + c) * unit);
    out.push_back(Span{std::min(n, at * unit), end});
    at += c;
  }
  return out;
}

Span KvHeadsFor(Span q, int64_t group) {
  if (q.size() <= 0) return Span{};
  return Span{q.begin / group, (q.end + group - 1) / group};
}

int64_t HeadUnit(const ModelTensors& m, int64_t heads_per_step) {
  const int64_t step_cols = heads_per_step * m.config.head_dim;
  int64_t unit = 1;
  for (const LayerTensors& l : m.layers) {
    const int64_t a = SliceAlignment(l.wo.type);
    unit = std::lcm(unit, a / std::gcd(a, step_cols));
  }
  return unit;
}

int64_t FfnUnit(const ModelTensors& m) {
  int64_t unit = 1;
  for (const LayerTensors& l : m.layers) unit = std::lcm(unit, SliceAlignment(l.down.type));
  return unit;
}

std::vector<TensorShare> SplitStage(const ModelTensors& m, const std::vector<double>& speeds,
                                    bool holds_vocab) {
  const ModelConfig& c = m.config;
  const int64_t tp = static_cast<int64_t>(speeds.size());
  const int64_t group = c.n_heads / c.n_kv_heads;
  std::vector<TensorShare> shares(speeds.size());

  // Enough KV heads: each rank owns whole KV heads and the query heads that
  // read them, so no KV head is held twice. Otherwise query heads are split
  // and a rank holds every KV head its query heads read (replicas).
  const int64_t kv_unit = HeadUnit(m, group);
  const int64_t kv_units = (c.n_kv_heads + kv_unit - 1) / kv_unit;
  if (tp <= c.n_kv_heads && kv_units >= tp) {
    const std::vector<Span> kv = SplitRange(c.n_kv_heads, kv_unit, speeds, 1);
    for (size_t r = 0; r < shares.size(); ++r) {
      shares[r].kv_heads = kv[r];
      shares[r].q_heads = Span{kv[r].begin * group, kv[r].end * group};
    }
  } else {
    const std::vector<Span> q = SplitRange(c.n_heads, HeadUnit(m, 1), speeds, 0);
    for (size_t r = 0; r < shares.size(); ++r) {
      shares[r].q_heads = q[r];
      shares[r].kv_heads = KvHeadsFor(q[r], group);
    }
  }
  const std::vector<Span> ffn = SplitRange(c.ffn_dim, FfnUnit(m), FfnWeights(m, shares, speeds), 0);
  for (size_t r = 0; r < shares.size(); ++r) shares[r].ffn = ffn[r];
  if (holds_vocab) {
    const std::vector<Span> vocab = SplitRange(c.vocab_size, 1, speeds, 0);
    for (size_t r = 0; r < shares.size(); ++r) shares[r].vocab = vocab[r];
  }
  return shares;
}

}  // namespace tessera
