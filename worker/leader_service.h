// A group leader serving the coordinator: Start/Cancel/Shutdown messages in,
// continuous batching through the group (BatchScheduler over GroupLeader),
// token updates and heartbeats out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "worker/batch_scheduler.h"
#include "worker/group_leader.h"
#include "worker/group_startup.h"
#include "worker/leader_link.h"

namespace tessera {

struct LeaderServiceOptions {
  SchedulerLimits limits;
  int32_t eos = -1;            // the model's end-of-sequence token; -1: none
  int64_t vocab_size = 0;      // a Start with a token outside [0, vocab_size) is refused
  int64_t context_length = 0;  // ... and one whose positions do not fit the context
  uint64_t group_id = 0, epoch = 0;
  // The longest wait for a message while there is no step to run: the loop
  // wakes at once for any message, so this only bounds how stale a quiet
  // heartbeat snapshot may be.
  absl::Duration idle_wait = absl::Seconds(1);
};

// The group's side of the options: its KV blocks and block size, its
// pipeline depth, the model's EOS, vocabulary and context. `limits` gives
// the rest (max sequences, batch tokens, prefill chunk).
LeaderServiceOptions ServiceOptionsFor(const GroupMember& member, const SchedulerLimits& limits, uint64_t group_id,
                                       uint64_t epoch);

class LeaderService {
 public:
  // Borrows everything; the limits must pass ValidateSchedulerLimits (steps
  // in flight are capped at the pipeline depth).
  LeaderService(GroupLeader& leader, LeaderLink& link, const LeaderServiceOptions& options);

  // Serves until a Shutdown message; then collects the steps still in flight
  // and returns OK (the caller stops the group: GroupLeader::Stop). A bad
  // Start is answered with an error update and serving goes on. A non-OK
  // status means the group (a failed Submit or Collect) or the link broke.
  absl::Status Run();

  const BatchScheduler& scheduler() const { return scheduler_; }
  uint64_t steps() const { return steps_; }
  // After Run failed: true when the group broke (it cannot be stopped
  // politely), false when only the link did.
  bool group_broken() const { return group_broken_; }
  const std::string& shutdown_reason() const { return shutdown_reason_; }

 private:
  void Handle(const proto::CoordinatorMessage& message);
  absl::Status Validate(const proto::StartSequence& start) const;
  absl::Status Flush();  // sends the updates gathered so far, in one message
  void PublishHeartbeat();
  absl::Status Broken(absl::Status s);

  GroupLeader& leader_;
  LeaderLink& link_;
  LeaderServiceOptions options_;
  BatchScheduler scheduler_;
  std::vector<proto::SequenceUpdate> pending_;
  bool stop_ = false;
  bool group_broken_ = false;
  std::string shutdown_reason_;
  uint64_t steps_ = 0;
};

}  // namespace tessera
