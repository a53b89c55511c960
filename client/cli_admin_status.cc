// `tessera admin status` as a table.
#include <cstdio>
#include <map>
#include <string>

#include "absl/strings/str_format.h"
#include "client/cli_admin.h"

namespace tessera::cli {
namespace {

std::string Bytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes >= (int64_t{1} << 30)) return absl::StrFormat("%.2f GiB", b / (1 << 30));
  if (bytes >= (int64_t{1} << 20)) return absl::StrFormat("%.1f MiB", b / (1 << 20));
  if (bytes >= (int64_t{1} << 10)) return absl::StrFormat("%.1f KiB", b / (1 << 10));
  return absl::StrFormat("%d B", bytes);
}

std::string Range(const proto::Range& r) { return absl::StrFormat("[%d,%d)", r.begin(), r.end()); }

void PrintGroup(const proto::GroupStatus& g) {
  std::printf("\ngroup %llu  %s  %s  epoch %llu  tp %d x pp %d  plan generation %llu%s\n",
              static_cast<unsigned long long>(g.id()), g.name().c_str(), GroupStateName(g.state()).c_str(),
              static_cast<unsigned long long>(g.epoch()), g.tp(), g.pp(),
              static_cast<unsigned long long>(g.plan_generation()), g.admin_drained() ? "  (drained by admin)" : "");
  std::printf(
      "  running %d, outstanding %lld tokens, KV blocks %lld/%lld free, heartbeat %.1f s ago, %llu done, "
      "%lld preemptions\n",
      g.running(), static_cast<long long>(g.outstanding_tokens()), static_cast<long long>(g.kv_blocks_free()),
      static_cast<long long>(g.kv_blocks_total()), g.heartbeat_age_s(), static_cast<unsigned long long>(g.completed()),
      static_cast<long long>(g.preemptions()));
  if (!g.last_rebalance().empty()) std::printf("  last rebalance: %s\n", g.last_rebalance().c_str());
  if (g.plan().ranks().empty()) return;

  std::map<int32_t, const proto::StageTiming*> timings;
  for (const proto::StageTiming& t : g.stages()) timings[t.stage()] = &t;
  std::printf("  %-6s %-12s %-12s %s\n", "STAGE", "LAYERS", "STEP (MEAN)", "STEPS");
  int32_t stage = -1;
  for (const proto::RankShard& r : g.plan().ranks()) {
    if (r.stage() == stage) continue;
    stage = r.stage();
    auto it = timings.find(stage);
    const std::string step = it == timings.end() || it->second->steps() == 0
                                 ? "-"
                                 : absl::StrFormat("%.2f ms", it->second->mean_step_seconds() * 1e3);
    const std::string steps = it == timings.end() ? "-" : absl::StrFormat("%d", it->second->steps());
    std::printf("  %-6d %-12s %-12s %s\n", stage, Range(r.layers()).c_str(), step.c_str(), steps.c_str());
  }

  std::map<int32_t, const proto::RankMemory*> memory;
  for (const proto::RankMemory& m : g.ranks()) memory[m.rank()] = &m;
  std::printf("  %-5s %-6s %-3s %-10s %-12s %-12s %-11s %-11s %-11s %s\n", "RANK", "STAGE", "TP", "HEADS", "FFN",
              "VOCAB", "WEIGHTS", "KV", "RESIDENT", "DEVICE");
  for (const proto::RankShard& r : g.plan().ranks()) {
    auto it = memory.find(r.rank());
    // What the rank reported, else what the plan says it holds.
    const int64_t weights =
        it != memory.end() && it->second->weight_bytes() > 0 ? it->second->weight_bytes() : r.weight_bytes();
    const int64_t kv = it != memory.end() && it->second->kv_bytes() > 0 ? it->second->kv_bytes() : r.kv_bytes();
    const std::string resident = it == memory.end() ? "-" : Bytes(it->second->resident_bytes());
    std::printf("  %-5d %-6d %-3d %-10s %-12s %-12s %-11s %-11s %-11s %s\n", r.rank(), r.stage(), r.tp_rank(),
                Range(r.q_heads()).c_str(), Range(r.ffn()).c_str(), Range(r.vocab()).c_str(), Bytes(weights).c_str(),
                Bytes(kv).c_str(), resident.c_str(), r.device().name().c_str());
  }
}

}  // namespace

std::string GroupStateName(proto::GroupState state) {
  switch (state) {
    case proto::GROUP_PLANNING:
      return "planning";
    case proto::GROUP_READY:
      return "ready";
    case proto::GROUP_DEAD:
      return "dead";
    case proto::GROUP_DRAINING:
      return "draining";
    case proto::GROUP_RESHARDING:
      return "resharding";
    default:
      return "?";
  }
}

void PrintAdminStatus(const std::string& endpoint, const proto::ClusterStatus& s) {
  std::printf("coordinator %s: model %s, up %.0f s\n", endpoint.c_str(), s.model().empty() ? "?" : s.model().c_str(),
              s.uptime_s());
  std::printf(
      "queue %d/%d waiting, %d in flight; requests: %llu accepted, %llu completed, %llu rejected busy, "
      "%llu failed, %llu cancelled\n",
      s.queue_depth(), s.queue_limit(), s.in_flight(), static_cast<unsigned long long>(s.accepted()),
      static_cast<unsigned long long>(s.completed()), static_cast<unsigned long long>(s.rejected_busy()),
      static_cast<unsigned long long>(s.failed()), static_cast<unsigned long long>(s.cancelled()));
  if (s.groups().empty()) {
    std::printf("groups: none registered\n");
    return;
  }
  for (const proto::GroupStatus& g : s.groups()) PrintGroup(g);
}

}  // namespace tessera::cli
