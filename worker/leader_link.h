// The group leader's connection to the coordinator, as the leader's loop sees
// it: messages in, messages out, and a heartbeat the link itself repeats on
// its own clock (so heartbeats keep flowing while the leader sits in a long
// step). The real one is ZmqLeaderLink; tests use an in-memory one.
#pragma once

#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/worker_api.pb.h"
#include "proto/shard_plan.pb.h"

namespace tessera {

class LeaderLink {
 public:
  virtual ~LeaderLink() = default;
  // The next message from the coordinator, waiting up to `wait` (zero: only
  // what is already there); nullopt when none came. A non-OK status means the
  // link itself is gone.
  virtual absl::StatusOr<std::optional<proto::CoordinatorMessage>> Receive(absl::Duration wait) = 0;
  // Queues a message for the coordinator; `version` is filled in.
  virtual absl::Status Send(const proto::WorkerMessage& message) = 0;
  // What the periodic heartbeat says from now on. No heartbeat goes out until
  // the first call. May be called from any thread.
  virtual void SetHeartbeat(const proto::Heartbeat& heartbeat) = 0;
};

// A group's first exchange: sends Register and waits up to `timeout` for the
// coordinator's PlanAssignment. FailedPrecondition with the coordinator's
// message when it rejects the group (another model, a plan that does not
// fit), DeadlineExceeded when nothing comes, Cancelled on a Shutdown.
absl::StatusOr<proto::PlanAssignment> RegisterGroup(LeaderLink& link, const proto::Register& registration,
                                                    absl::Duration timeout);

}  // namespace tessera
