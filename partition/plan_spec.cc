// PlanFromSpec: an admin's spec turned into a plan by the partitioner's own
// steps (plan_build.h), so that a spec's plan is costed, checked and written
// exactly as a startup plan is; only where the cut points and the tensor
// shares come from differs.
#include "partition/plan_spec.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "partition/plan_build.h"

namespace tessera {
namespace {

absl::Status CheckBounds(const std::vector<int64_t>& bounds, int pp, int64_t n_layers) {
  if (static_cast<int64_t>(bounds.size()) != int64_t{pp} + 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "layer bounds: ", bounds.size(), " cut points given but a group of ", pp, " stages needs ", pp + 1,
        ": 0, then the first layer of each later stage, then ", n_layers, " (the model's layers)"));
  }
  if (bounds.front() != 0) {
    return absl::InvalidArgumentError(absl::StrCat("layer bounds must start at 0, not ", bounds.front()));
  }
  if (bounds.back() != n_layers) {
    return absl::InvalidArgumentError(absl::StrCat("layer bounds must end at ", n_layers,
                                                   " (the model's layers), not ", bounds.back()));
  }
  for (size_t s = 0; s + 1 < bounds.size(); ++s) {
    if (bounds[s + 1] <= bounds[s]) {
      return absl::InvalidArgumentError(
          absl::StrCat("layer bounds must increase strictly (every stage needs a layer): stage ", s, " would hold [",
                       bounds[s], ", ", bounds[s + 1], ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckShares(const std::vector<double>& shares, int tp) {
  if (static_cast<int64_t>(shares.size()) != tp) {
    return absl::InvalidArgumentError(absl::StrCat("tensor shares: ", shares.size(),
                                                   " given but each stage has ", tp, " tensor ranks (one share each)"));
  }
  for (size_t t = 0; t < shares.size(); ++t) {
    if (!std::isfinite(shares[t]) || shares[t] <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("tensor share ", shares[t], " of tp rank ", t,
                                                     " is not a positive number; every share must be > 0"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSpec(const PlanSpecInput& spec, const proto::ShardPlan& current, int64_t n_layers) {
  if (spec.auto_balance && (!spec.layer_bounds.empty() || !spec.tp_shares.empty())) {
    return absl::InvalidArgumentError(
        "auto balance goes alone: it chooses the layer bounds from the measured step times and keeps the tensor "
        "shares; give either auto or layer bounds and/or tensor shares");
  }
  if (!spec.auto_balance && spec.layer_bounds.empty() && spec.tp_shares.empty()) {
    return absl::InvalidArgumentError("the plan spec is empty: give layer bounds, tensor shares or auto");
  }
  if (!spec.layer_bounds.empty()) {
    if (auto st = CheckBounds(spec.layer_bounds, current.pp(), n_layers); !st.ok()) return st;
  }
  if (!spec.tp_shares.empty()) {
    if (auto st = CheckShares(spec.tp_shares, current.tp()); !st.ok()) return st;
  }
  return absl::OkStatus();
}

// Seconds per layer of each stage: its mean step time over the layers it
// held when measured. A stage without steps has told us nothing.
absl::StatusOr<std::vector<double>> SecondsPerLayer(std::span<const proto::StageTiming> timings, int pp) {
  std::vector<double> per_layer(static_cast<size_t>(pp), -1.0);
  std::vector<bool> seen(static_cast<size_t>(pp), false);
  for (const proto::StageTiming& t : timings) {
    if (t.stage() < 0 || t.stage() >= pp) {
      return absl::InvalidArgumentError(
          absl::StrCat("step timings for stage ", t.stage(), " but the group has stages 0 to ", pp - 1));
    }
    if (seen[static_cast<size_t>(t.stage())]) {
      return absl::InvalidArgumentError(absl::StrCat("two step timings for stage ", t.stage()));
    }
    seen[static_cast<size_t>(t.stage())] = true;
    double& slot = per_layer[static_cast<size_t>(t.stage())];
    if (t.steps() == 0) continue;  // reported below, with the stages that sent nothing
    if (t.layers() <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("stage ", t.stage(), "'s step timings say it held ", t.layers(), " layers"));
    }
    if (!std::isfinite(t.mean_step_seconds()) || t.mean_step_seconds() <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("stage ", t.stage(), "'s mean step time ",
                                                     t.mean_step_seconds(), " s is not a positive number"));
    }
    slot = t.mean_step_seconds() / static_cast<double>(t.layers());
  }
  std::vector<std::string> missing;
  for (int s = 0; s < pp; ++s) {
    if (per_layer[static_cast<size_t>(s)] < 0) missing.push_back(absl::StrCat(s));
  }
  if (!missing.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "auto balance needs measured step times of every stage, but ", missing.size() == 1 ? "stage " : "stages ",
        absl::StrJoin(missing, ", "), missing.size() == 1 ? " has" : " have",
        " run no steps under the current plan yet: let the group serve for a while, or give layer bounds"));
  }
  return per_layer;
}

Span SpanOf(const proto::Range& r) { return Span{r.begin(), r.end()}; }

std::vector<int64_t> BoundsOf(const proto::ShardPlan& plan) {
  std::vector<int64_t> bounds;
  for (int s = 0; s < plan.pp(); ++s) bounds.push_back(plan.ranks(s * plan.tp()).layers().begin());
  bounds.push_back(plan.ranks(plan.ranks_size() - 1).layers().end());
  return bounds;
}

std::vector<TensorShare> SharesOf(const proto::ShardPlan& plan, int stage) {
  std::vector<TensorShare> shares;
  for (int t = 0; t < plan.tp(); ++t) {
    const proto::RankShard& r = plan.ranks(stage * plan.tp() + t);
    shares.push_back(TensorShare{SpanOf(r.q_heads()), SpanOf(r.kv_heads()), SpanOf(r.ffn()), SpanOf(r.vocab())});
  }
  return shares;
}

std::string JoinBounds(const std::vector<int64_t>& bounds) { return absl::StrJoin(bounds, ", "); }

}  // namespace

absl::StatusOr<proto::ShardPlan> PlanFromSpec(const ModelTensors& model, const proto::ShardPlan& current,
                                              const std::vector<proto::DeviceProfile>& profiles,
                                              const PlanSpecInput& spec,
                                              std::span<const proto::StageTiming> timings) {
  if (auto st = ValidatePlan(current, model); !st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the group's current plan does not fit this model: ", st.message()));
  }
  PartitionRequest r;
  r.model = model;
  r.tp = current.tp();
  r.pp = current.pp();
  r.profiles = profiles;
  r.kv_tokens = current.kv_tokens();
  if (auto st = CheckPartitionRequest(r); !st.ok()) return st;
  if (auto st = CheckSpec(spec, current, model.config.n_layers); !st.ok()) return st;
  const CostParams params = CostParamsFor(r);

  absl::StatusOr<proto::ShardPlan> plan;
  if (spec.auto_balance) {
    absl::StatusOr<std::vector<double>> per_layer = SecondsPerLayer(timings, r.pp);
    if (!per_layer.ok()) return per_layer.status();
    const std::vector<StageCost> stages =
        CostStages(r, params, [&](int s, const std::vector<proto::DeviceProfile>&, bool) {
          return SharesOf(current, s);
        });
    absl::StatusOr<std::vector<int64_t>> bounds = SearchLayerSplit(stages, r, [&](int s, int64_t a, int64_t b) {
      return static_cast<double>(b - a) * (*per_layer)[static_cast<size_t>(s)];
    });
    if (!bounds.ok()) return bounds.status();
    plan = WritePlan(stages, *bounds, r);
  } else {
    const std::vector<int64_t> bounds = spec.layer_bounds.empty() ? BoundsOf(current) : spec.layer_bounds;
    const std::vector<StageCost> stages =
        CostStages(r, params, [&](int, const std::vector<proto::DeviceProfile>& stage_profiles, bool holds_vocab) {
          const std::vector<double> weights =
              spec.tp_shares.empty() ? RankSpeeds(model, stage_profiles, params) : spec.tp_shares;
          return SplitStage(model, weights, holds_vocab);
        });
    const std::string given = absl::StrCat(
        spec.layer_bounds.empty() ? "" : absl::StrCat("layer bounds ", JoinBounds(bounds)),
        !spec.layer_bounds.empty() && !spec.tp_shares.empty() ? " and " : "",
        spec.tp_shares.empty() ? "" : absl::StrCat("tensor shares ", absl::StrJoin(spec.tp_shares, ":")));
    if (auto st = CheckSplitFits(stages, bounds, r,
                                 absl::StrCat(" with the ", given,
                                              " (give this rank fewer layers or a smaller share, add memory, or "
                                              "lower the KV budget)"));
        !st.ok()) {
      return st;
    }
    plan = WritePlan(stages, bounds, r);
  }
  if (auto st = ValidatePlan(*plan, model); !st.ok()) {
    return absl::InternalError(absl::StrCat("the plan made from the spec is not valid (a bug): ", st.message()));
  }
  return plan;
}

}  // namespace tessera
