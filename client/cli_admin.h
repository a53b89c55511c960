// `tessera admin`'s pieces shared between its files (and `tessera status`).
#pragma once

#include <string>

#include "proto/admin_api.pb.h"

namespace tessera::cli {

// "planning", "ready", "draining", "resharding", "dead".
std::string GroupStateName(proto::GroupState state);

// The admin status table: the cluster's counters, then per group its state,
// epoch, plan generation, last rebalance, each stage's layers and measured
// step time, and each rank's slices and memory.
void PrintAdminStatus(const std::string& endpoint, const proto::ClusterStatus& status);

}  // namespace tessera::cli
