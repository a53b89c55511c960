#include "coordinator/admin_text.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tessera {
namespace {

bool SameRange(const proto::Range& a, const proto::Range& b) { return a.begin() == b.begin() && a.end() == b.end(); }

double Seconds(SteadyTime::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

std::string PlanLayersText(const proto::ShardPlan& plan) {
  std::string out = "layers";
  for (int i = 0; i < plan.ranks_size(); ++i) {
    const proto::RankShard& r = plan.ranks(i);
    if (r.tp_rank() != 0) continue;
    absl::StrAppend(&out, " [", r.layers().begin(), ",", r.layers().end(), ")");
    if (plan.tp() <= 1) continue;
    // The stage's ranks follow it: their FFN columns show the tensor shares.
    absl::StrAppend(&out, " (ffn ");
    for (int j = i; j < plan.ranks_size() && plan.ranks(j).stage() == r.stage(); ++j) {
      absl::StrAppend(&out, j > i ? "/" : "", plan.ranks(j).ffn().end() - plan.ranks(j).ffn().begin());
    }
    absl::StrAppend(&out, ")");
  }
  return out;
}

std::string MiBText(int64_t bytes) { return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20)); }

bool SameShards(const proto::ShardPlan& a, const proto::ShardPlan& b) {
  if (a.tp() != b.tp() || a.pp() != b.pp() || a.kv_tokens() != b.kv_tokens() || a.ranks_size() != b.ranks_size()) {
    return false;
  }
  for (int i = 0; i < a.ranks_size(); ++i) {
    const proto::RankShard& x = a.ranks(i);
    const proto::RankShard& y = b.ranks(i);
    if (x.rank() != y.rank() || x.stage() != y.stage() || x.tp_rank() != y.tp_rank() ||
        !SameRange(x.layers(), y.layers()) || !SameRange(x.q_heads(), y.q_heads()) ||
        !SameRange(x.kv_heads(), y.kv_heads()) || !SameRange(x.ffn(), y.ffn()) || !SameRange(x.vocab(), y.vocab())) {
      return false;
    }
  }
  return true;
}

std::string RebalanceText(const Group& g, SteadyTime now) {
  if (!g.change || g.change->kind != GroupChange::Kind::kRebalance) return g.last_rebalance;
  const GroupChange& c = *g.change;
  if (c.phase == GroupChange::Phase::kDraining) {
    return absl::StrFormat(
        "in progress: draining for %s, %d requests still running (requeued as continuations in %.1f s at most)",
        PlanLayersText(c.plan), g.running, std::max(0.0, Seconds(c.drain_deadline - now)));
  }
  return absl::StrFormat("in progress: loading %s (%.1f s so far)", PlanLayersText(c.plan),
                         Seconds(now - c.reshard_sent));
}

}  // namespace tessera
