#include "client/lib/rebalance_wait.h"

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

const proto::GroupStatus* FindGroup(const proto::ClusterStatus& s, uint64_t id) {
  for (const proto::GroupStatus& g : s.groups()) {
    if (g.id() == id) return &g;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<RebalanceWaitResult> WaitForRebalance(AdminClient& admin, const proto::GroupStatus& before,
                                                     const RebalanceWaitOptions& options) {
  const absl::Time end = absl::Now() + options.timeout;
  proto::AdminRequest request;
  request.mutable_status();
  for (;;) {
    absl::StatusOr<proto::AdminReply> reply = admin.Call(request);
    if (!reply.ok()) return reply.status();
    if (reply->has_error()) {
      return absl::UnavailableError(absl::StrCat("status refused: ", reply->error().message(), " (",
                                                 proto::ErrorCode_Name(reply->error().code()), ")"));
    }
    RebalanceWaitResult out;
    const proto::GroupStatus* g = FindGroup(reply->status(), before.id());
    if (g == nullptr) {
      out.end = RebalanceEnd::kGroupGone;
      return out;
    }
    out.group = *g;
    if (g->state() == proto::GROUP_DEAD) {
      out.end = RebalanceEnd::kGroupDied;
      return out;
    }
    if (g->rebalances_finished() > before.rebalances_finished()) {
      out.end = g->plan_generation() > before.plan_generation() ? RebalanceEnd::kSwitched : RebalanceEnd::kRolledBack;
      return out;
    }
    // The coordinator answers a rebalance request only after it set the
    // change up, and a change shows as "in progress" until it ends (and
    // the count moves in the same step): anything else is one that never
    // started.
    if (!absl::StartsWith(g->last_rebalance(), "in progress")) {
      out.end = RebalanceEnd::kNotStarted;
      return out;
    }
    if (absl::Now() >= end) {
      out.end = RebalanceEnd::kStillRunning;
      return out;
    }
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(options.poll));
  }
}

}  // namespace tessera
