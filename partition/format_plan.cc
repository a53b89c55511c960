// FormatPlan: the plan as a table for people previewing it before it is
// applied.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "partition/human_units.h"
#include "partition/partitioner.h"

namespace tessera {
namespace {

std::string RangeText(const proto::Range& r) {
  if (r.end() == r.begin()) return "-";
  return absl::StrCat(r.begin(), "-", r.end() - 1);  // inclusive: "0-3" reads as rows 0 to 3
}

constexpr double kMiB = 1024.0 * 1024.0;

}  // namespace

std::string FormatPlan(const proto::ShardPlan& plan) {
  std::string out = absl::StrFormat("%-4s %-5s %-3s %-7s %-7s %-7s %-11s %-11s %11s %9s %10s  %s\n", "rank",
                                    "stage", "tp", "layers", "q heads", "kv", "ffn cols", "vocab rows",
                                    "weights MiB", "KV MiB", "step ms", "device");
  int64_t weights = 0, kv = 0;
  for (const proto::RankShard& r : plan.ranks()) {
    absl::StrAppendFormat(&out, "%-4d %-5d %-3d %-7s %-7s %-7s %-11s %-11s %11.2f %9.2f %10.3f  %s\n", r.rank(),
                          r.stage(), r.tp_rank(), RangeText(r.layers()), RangeText(r.q_heads()),
                          RangeText(r.kv_heads()), RangeText(r.ffn()), RangeText(r.vocab()),
                          static_cast<double>(r.weight_bytes()) / kMiB, static_cast<double>(r.kv_bytes()) / kMiB,
                          r.predicted_step_seconds() * 1e3, r.device().name());
    weights += r.weight_bytes();
    kv += r.kv_bytes();
  }
  absl::StrAppendFormat(&out,
                        "%s: tp %d x pp %d = %d ranks, weights %s + KV %s (%d positions) in all; "
                        "predicted %.3f ms per decode token through the pipeline, %s sent per token\n",
                        plan.model_name().empty() ? "model" : plan.model_name(), plan.tp(), plan.pp(),
                        plan.ranks_size(), HumanBytes(weights), HumanBytes(kv), plan.kv_tokens(),
                        plan.predicted_step_seconds() * 1e3,
                        HumanBytes(static_cast<int64_t>(plan.predicted_comm_bytes_per_token())));
  return out;
}

}  // namespace tessera
