#include "partition/plan_build.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "partition/human_units.h"

namespace tessera {
namespace {

void SetRange(proto::Range* out, Span s) {
  out->set_begin(s.begin);
  out->set_end(s.end);
}

absl::Status ShortError(const std::vector<StageCost>& stages, const std::vector<int64_t>& bounds,
                        const PartitionRequest& r, const std::string& advice) {
  int worst_stage = 0, worst_tp = 0;
  RankCost worst;
  for (int s = 0; s < r.pp; ++s) {
    for (int t = 0; t < r.tp; ++t) {
      RankCost c = stages[static_cast<size_t>(s)].Rank(t, bounds[static_cast<size_t>(s)],
                                                       bounds[static_cast<size_t>(s) + 1]);
      if (c.shortfall > worst.shortfall) worst = c, worst_stage = s, worst_tp = t;
    }
  }
  const int rank = worst_stage * r.tp + worst_tp;
  const proto::DeviceProfile& p = r.profiles[static_cast<size_t>(rank)];
  return absl::ResourceExhaustedError(absl::StrCat(
      "rank ", rank, " (stage ", worst_stage, ", tp ", worst_tp, ", ", p.name(), ") needs ",
      HumanBytes(worst.weight_bytes + worst.kv_bytes), " (weights ", HumanBytes(worst.weight_bytes),
      " + KV ", HumanBytes(worst.kv_bytes), ") but has ", HumanBytes(p.memory_bytes()), ": ",
      HumanBytes(worst.shortfall), " (", worst.shortfall, " bytes) short", advice));
}

}  // namespace

absl::Status CheckPartitionRequest(const PartitionRequest& r) {
  const ModelConfig& c = r.model.config;
  if (r.tp < 1 || r.pp < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("tp and pp must be at least 1, got tp ", r.tp, " and pp ", r.pp));
  }
  if (c.n_layers < 1 || c.dim < 1 || c.n_heads < 1 || c.n_kv_heads < 1 || c.head_dim < 1 ||
      c.ffn_dim < 1 || c.vocab_size < 1) {
    return absl::InvalidArgumentError("the model config has a zero or negative dimension");
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("the model's ", c.n_heads, " heads are not a multiple of its ",
                                                   c.n_kv_heads, " KV heads"));
  }
  if (static_cast<int64_t>(r.model.layers.size()) != c.n_layers) {
    return absl::InvalidArgumentError(absl::StrCat("the model describes ", r.model.layers.size(),
                                                   " layers but its config has ", c.n_layers));
  }
  if (r.pp > c.n_layers) {
    return absl::InvalidArgumentError(absl::StrCat("pp ", r.pp, " exceeds the model's ", c.n_layers,
                                                   " layers: every pipeline stage needs at least one layer"));
  }
  const int64_t ranks = int64_t{r.tp} * r.pp;
  if (static_cast<int64_t>(r.profiles.size()) != ranks) {
    return absl::InvalidArgumentError(absl::StrCat("tp ", r.tp, " x pp ", r.pp, " is ", ranks,
                                                   " ranks but ", r.profiles.size(),
                                                   " device profiles were given"));
  }
  for (size_t i = 0; i < r.profiles.size(); ++i) {
    const proto::DeviceProfile& p = r.profiles[i];
    if (p.memory_bytes() <= 0 || !(p.compute_flops() > 0) || !(p.memory_bandwidth() > 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "rank ", i, " (", p.name(), "): memory, compute and bandwidth must be positive"));
    }
  }
  if (r.kv_tokens < 0 || r.batch_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrCat("kv_tokens must be >= 0 and batch_tokens >= 1, got ",
                                                   r.kv_tokens, " and ", r.batch_tokens));
  }
  if (!(r.link_bandwidth > 0) || !(r.link_latency >= 0)) {
    return absl::InvalidArgumentError("link bandwidth must be positive and latency not negative");
  }
  // Column slices of wo and ffn_down must cut whole blocks; a model whose full
  // width is not whole blocks is not one the loader would accept.
  for (const LayerTensors& l : r.model.layers) {
    if (l.wo.cols % SliceAlignment(l.wo.type) != 0 || l.down.cols % SliceAlignment(l.down.type) != 0) {
      return absl::InvalidArgumentError("a layer's wo or ffn_down width is not a whole number of blocks");
    }
  }
  return absl::OkStatus();
}

CostParams CostParamsFor(const PartitionRequest& r) {
  CostParams params;
  params.tp = r.tp;
  params.pp = r.pp;
  params.context = r.kv_tokens > 0 ? std::min(r.kv_tokens, r.model.config.context_length)
                                   : r.model.config.context_length;
  params.kv_tokens = r.kv_tokens;
  params.batch_tokens = r.batch_tokens;
  params.link_bandwidth = r.link_bandwidth;
  params.link_latency = r.link_latency;
  return params;
}

std::vector<double> RankSpeeds(const ModelTensors& m, const std::vector<proto::DeviceProfile>& profiles,
                               const CostParams& params) {
  const LayerSlice all{m.config.n_heads, m.config.n_kv_heads, m.config.ffn_dim};
  const double bytes = static_cast<double>(LayerWeightBytes(m, 0, all));
  const double flops = LayerFlopsPerToken(m, 0, all, params.context) * static_cast<double>(params.batch_tokens);
  std::vector<double> speeds;
  speeds.reserve(profiles.size());
  for (const proto::DeviceProfile& p : profiles) {
    speeds.push_back(1.0 / std::max(bytes / p.memory_bandwidth(), flops / p.compute_flops()));
  }
  return speeds;
}

std::vector<StageCost> CostStages(const PartitionRequest& r, const CostParams& params, const ShareRule& shares) {
  std::vector<StageCost> stages;
  stages.reserve(static_cast<size_t>(r.pp));
  for (int s = 0; s < r.pp; ++s) {
    const auto first = r.profiles.begin() + int64_t{s} * r.tp;
    std::vector<proto::DeviceProfile> profiles(first, first + r.tp);
    const bool holds_vocab = s == 0 || s == r.pp - 1;
    std::vector<TensorShare> split = shares(s, profiles, holds_vocab);
    stages.emplace_back(r.model, s, std::move(split), std::move(profiles), params);
  }
  return stages;
}

absl::StatusOr<std::vector<int64_t>> SearchLayerSplit(const std::vector<StageCost>& stages,
                                                      const PartitionRequest& r, const StageValue& seconds) {
  const int64_t n_layers = r.model.config.n_layers;
  auto stage_at = [&](int s) -> const StageCost& { return stages[static_cast<size_t>(s)]; };
  const auto anything = [](int, int64_t, int64_t) { return true; };
  const LayerSplit least_short = BestLayerSplit(
      r.pp, n_layers, Combine::kMax,
      [&](int s, int64_t a, int64_t b) { return static_cast<double>(stage_at(s).Shortfall(a, b)); }, anything);
  const double max_short = least_short.value;
  const auto fits = [&](int s, int64_t a, int64_t b) {
    return static_cast<double>(stage_at(s).Shortfall(a, b)) <= max_short;
  };
  const LayerSplit fastest = BestLayerSplit(r.pp, n_layers, Combine::kMax, seconds, fits);
  // The square term (a millionth of the time at most) only decides between
  // splits of equal latency, as stages of equal devices give: it prefers the
  // evener one (10/10/11 to 8/11/12), which leaves slack on every stage.
  const double bound = fastest.value;
  const LayerSplit split = BestLayerSplit(
      r.pp, n_layers, Combine::kSum,
      [&](int s, int64_t a, int64_t b) {
        const double t = seconds(s, a, b);
        return bound > 0 ? t + 1e-6 * t * (t / bound) : t;
      },
      [&](int s, int64_t a, int64_t b) { return fits(s, a, b) && seconds(s, a, b) <= bound; });
  if (!least_short.found || !fastest.found || !split.found) {
    return absl::InternalError("the layer search found no split (a bug: pp <= layers was checked)");
  }
  if (max_short > 0) {
    return ShortError(stages, split.bounds, r,
                      absl::StrCat("; this is the least shortfall of every layer split for tp ", r.tp, " x pp ", r.pp,
                                   " (add ranks or memory, lower the KV budget, or use a smaller weight type)"));
  }
  return split.bounds;
}

absl::Status CheckSplitFits(const std::vector<StageCost>& stages, const std::vector<int64_t>& bounds,
                            const PartitionRequest& r, const std::string& advice) {
  for (int s = 0; s < r.pp; ++s) {
    if (stages[static_cast<size_t>(s)].Shortfall(bounds[static_cast<size_t>(s)], bounds[static_cast<size_t>(s) + 1]) >
        0) {
      return ShortError(stages, bounds, r, advice);
    }
  }
  return absl::OkStatus();
}

proto::ShardPlan WritePlan(const std::vector<StageCost>& stages, const std::vector<int64_t>& bounds,
                           const PartitionRequest& r) {
  proto::ShardPlan plan;
  plan.set_version(kShardPlanVersion);
  plan.set_model_name(r.model.config.name);
  plan.set_tp(r.tp);
  plan.set_pp(r.pp);
  plan.set_kv_tokens(r.kv_tokens);
  double total_seconds = 0, comm_bytes = 0;
  for (int s = 0; s < r.pp; ++s) {
    const StageCost& stage = stages[static_cast<size_t>(s)];
    const int64_t a = bounds[static_cast<size_t>(s)], b = bounds[static_cast<size_t>(s) + 1];
    total_seconds += stage.Seconds(a, b);
    comm_bytes += stage.CommBytesPerToken(a, b);
    for (int t = 0; t < r.tp; ++t) {
      const TensorShare& share = stage.shares()[static_cast<size_t>(t)];
      const RankCost cost = stage.Rank(t, a, b);
      proto::RankShard* rank = plan.add_ranks();
      rank->set_rank(s * r.tp + t);
      rank->set_stage(s);
      rank->set_tp_rank(t);
      SetRange(rank->mutable_layers(), Span{a, b});
      SetRange(rank->mutable_q_heads(), share.q_heads);
      SetRange(rank->mutable_kv_heads(), share.kv_heads);
      SetRange(rank->mutable_ffn(), share.ffn);
      SetRange(rank->mutable_vocab(), share.vocab);
      rank->set_weight_bytes(cost.weight_bytes);
      rank->set_kv_bytes(cost.kv_bytes);
      rank->set_kv_bytes_per_token(cost.kv_bytes_per_token);
      rank->set_predicted_step_seconds(cost.step_seconds);
      *rank->mutable_device() = stage.profiles()[static_cast<size_t>(t)];
    }
  }
  plan.set_predicted_step_seconds(total_seconds);
  plan.set_predicted_comm_bytes_per_token(comm_bytes);
  return plan;
}

}  // namespace tessera
