#include "partition/stage_cost.h"

#include <algorithm>
#include <utility>

namespace tessera {
namespace {

constexpr int64_t kF32Bytes = 4;  // activations move as f32

}  // namespace

StageCost::StageCost(const ModelTensors& m, int stage, std::vector<TensorShare> shares,
                     std::vector<proto::DeviceProfile> profiles, const CostParams& params)
    : first_(stage == 0),
      last_(stage == params.pp - 1),
      params_(params),
      dim_(m.config.dim),
      shares_(std::move(shares)),
      profiles_(std::move(profiles)) {
  const size_t n_layers = m.layers.size();
  const int64_t batch = std::max<int64_t>(1, params.batch_tokens);
  for (const TensorShare& s : shares_) {
    const LayerSlice slice = s.slice();
    std::vector<int64_t> bytes(n_layers + 1, 0), kv(n_layers + 1, 0);
    std::vector<double> flops(n_layers + 1, 0.0);
    for (size_t i = 0; i < n_layers; ++i) {
      const auto layer = static_cast<int64_t>(i);
      bytes[i + 1] = bytes[i] + LayerWeightBytes(m, layer, slice);
      kv[i + 1] = kv[i] + LayerKvBytesPerToken(m.config, slice);
      flops[i + 1] = flops[i] + LayerFlopsPerToken(m, layer, slice, params.context);
    }
    bytes_.push_back(std::move(bytes));
    kv_.push_back(std::move(kv));
    flops_.push_back(std::move(flops));

    int64_t fixed = m.rope_freqs * kF32Bytes;
    double read = 0, out_flops = 0;
    const int64_t rows = s.vocab.size();
    if (first_) {
      fixed += EmbeddingBytes(m, rows);
      read += static_cast<double>(EmbeddingBytes(m, std::min(batch, rows)));  // a lookup reads rows
    }
    if (last_) {
      const int64_t output = OutputBytes(m, rows);
      // A tied output on a stage that also embeds is the same rows, loaded once.
      const bool shared = m.config.tied_output && first_;
      fixed += shared ? output - EmbeddingBytes(m, rows) : output;
      read += static_cast<double>(output);
      out_flops += OutputFlopsPerToken(m, rows);
    }
    fixed_bytes_.push_back(fixed);
    fixed_read_bytes_.push_back(read);
    fixed_flops_.push_back(out_flops);
  }
}

int StageCost::AllReduces(int64_t a, int64_t b) const {
  if (params_.tp <= 1) return 0;
  // After the attention output and the FFN down projection of each layer, and
  // once for the embedding (each rank looks up only its vocabulary rows).
  return static_cast<int>(2 * (b - a)) + (first_ ? 1 : 0);
}

RankCost StageCost::Rank(int r, int64_t a, int64_t b) const {
  const auto i = static_cast<size_t>(r);
  const proto::DeviceProfile& p = profiles_[i];
  const double batch = static_cast<double>(std::max<int64_t>(1, params_.batch_tokens));
  RankCost c;
  const int64_t layer_bytes = bytes_[i][static_cast<size_t>(b)] - bytes_[i][static_cast<size_t>(a)];
  c.weight_bytes = layer_bytes + fixed_bytes_[i];
  c.kv_bytes_per_token = kv_[i][static_cast<size_t>(b)] - kv_[i][static_cast<size_t>(a)];
  c.kv_bytes = c.kv_bytes_per_token * params_.kv_tokens;
  c.shortfall = std::max<int64_t>(0, c.weight_bytes + c.kv_bytes - p.memory_bytes());

  // Decode streams the weights once per step; the batch shares that read.
  const double read = static_cast<double>(layer_bytes) + fixed_read_bytes_[i];
  const double flops =
      flops_[i][static_cast<size_t>(b)] - flops_[i][static_cast<size_t>(a)] + fixed_flops_[i];
  c.compute_seconds = std::max(read / p.memory_bandwidth(), flops * batch / p.compute_flops());

  const double message = static_cast<double>(dim_ * kF32Bytes) * batch;
  const double one = params_.link_latency + message / params_.link_bandwidth;
  c.comm_seconds = AllReduces(a, b) * one + (last_ ? 0.0 : one);
  c.step_seconds = c.compute_seconds + c.comm_seconds;
  return c;
}

double StageCost::Seconds(int64_t a, int64_t b) const {
  double worst = 0;
  for (size_t r = 0; r < shares_.size(); ++r) worst = std::max(worst, Rank(static_cast<int>(r), a, b).step_seconds);
  return worst;
}

int64_t StageCost::Shortfall(int64_t a, int64_t b) const {
  int64_t worst = 0;
  for (size_t r = 0; r < shares_.size(); ++r) worst = std::max(worst, Rank(static_cast<int>(r), a, b).shortfall);
  return worst;
}

double StageCost::CommBytesPerToken(int64_t a, int64_t b) const {
  const double message = static_cast<double>(dim_ * kF32Bytes);
  return AllReduces(a, b) * 2.0 * (params_.tp - 1) * message + (last_ ? 0.0 : message);
}

}  // namespace tessera
