// Waiting for a rebalance to end (`tessera admin rebalance --wait`): polls
// the admin socket's status until the group's rebalances_finished passes
// the value seen before the request, then tells how it ended from the plan
// generation (moved: switched; not: rolled back or abandoned). The texts of
// last_rebalance are for people: two endings may read the same.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/lib/admin_client.h"
#include "proto/admin_api.pb.h"

namespace tessera {

enum class RebalanceEnd {
  kSwitched,     // the group serves the new plan
  kNotStarted,   // nothing was under way (the request changed nothing, or was refused)
  kRolledBack,   // it ended without a new plan: rolled back, or abandoned while the group lives on
  kGroupDied,    // the group is dead (its requests run elsewhere)
  kGroupGone,    // the group is no longer listed (removed)
  kStillRunning  // `timeout` passed first
};

struct RebalanceWaitOptions {
  absl::Duration timeout = absl::Minutes(10);
  absl::Duration poll = absl::Milliseconds(200);
};

struct RebalanceWaitResult {
  RebalanceEnd end = RebalanceEnd::kNotStarted;
  proto::GroupStatus group;  // as last seen (empty for kGroupGone)
};

// `before`: the group's status from before the rebalance request was sent
// (its id, rebalances_finished and plan_generation are read). A transport
// failure or an AdminError answer to a status request is a Status.
absl::StatusOr<RebalanceWaitResult> WaitForRebalance(AdminClient& admin, const proto::GroupStatus& before,
                                                     const RebalanceWaitOptions& options);

}  // namespace tessera
