// A group leader serving the coordinator: Start/Cancel/Shutdown messages in,
// continuous batching through the group (BatchScheduler over GroupLeader),
// token updates and heartbeats out. About once a heartbeat period a step
// collects every rank's report (RankReport), which the heartbeat turns into
// per-stage step times and per-rank memory. A Reshard switches the group's
// plan live (worker/reshard.h) once the group is empty.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "worker/batch_scheduler.h"
#include "worker/group_leader.h"
#include "worker/group_startup.h"
#include "worker/leader_link.h"
#include "worker/reshard.h"

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
  // How often a step collects every rank's report: about once a heartbeat
  // period, since only the heartbeat reads them. ZeroDuration: every step.
  absl::Duration report_period = absl::Seconds(1);
  // Layers of each pipeline stage under the plan served (heartbeat stages).
  std::vector<int64_t> stage_layers;
  // Runs this rank's part of the collective reshard (ReshardMember on the
  // leader's GroupMember), after the service has told the other ranks. A
  // non-OK status means the group broke. Empty: a Reshard is refused.
  std::function<absl::StatusOr<ReshardOutcome>(const proto::ShardPlan&)> reshard;
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
  // Start is answered with an error update and serving goes on. A Reshard
  // stops admissions (later messages wait), collects the steps in flight
  // and, if no sequence is left, switches every rank to the new plan (or
  // rolls back); either way Resharded answers it and serving goes on under
  // its epoch. A Shutdown that arrives after a Reshard waits for it too (it
  // is read only once the Reshard is answered). A non-OK status means the
  // group (a failed Submit, Collect or reshard collective) or the link
  // broke.
  absl::Status Run();

  const BatchScheduler& scheduler() const { return scheduler_; }
  // Preemptions since the start: the scheduler's, plus those of the
  // schedulers each reshard replaced.
  int64_t preemptions() const { return preemptions_before_ + scheduler_.preemptions(); }
  uint64_t steps() const { return steps_; }
  uint64_t epoch() const { return options_.epoch; }
  // After Run failed: true when the group broke (it cannot be stopped
  // politely), false when only the link did.
  bool group_broken() const { return group_broken_; }
  const std::string& shutdown_reason() const { return shutdown_reason_; }

 private:
  void Handle(const proto::CoordinatorMessage& message);
  void TakeUpReshard(const proto::Reshard& reshard);
  absl::Status Validate(const proto::StartSequence& start) const;
  absl::Status Flush();  // sends the updates gathered so far, in one message
  void PublishHeartbeat();
  absl::Status Broken(absl::Status s);
  // Submits a step the scheduler built, asking for reports when they are due.
  absl::Status Submit(proto::GroupStep step);
  // Collects the oldest step in flight and passes its answer on.
  absl::Status CollectOne();
  void TakeReports(const proto::StepResult& result);
  // An idle group's report: a step with no work, run to its answer.
  absl::Status ReportWhileIdle();
  // The pending Reshard, once nothing is in flight.
  absl::Status FinishReshard();

  GroupLeader& leader_;
  LeaderLink& link_;
  LeaderServiceOptions options_;
  BatchScheduler scheduler_;
  std::vector<proto::SequenceUpdate> pending_;
  // A Reshard taken up, waiting for the steps in flight, and when it came.
  std::optional<proto::Reshard> reshard_;
  absl::Time reshard_received_;
  // The latest reports of every rank, since the start or the last reshard.
  std::vector<proto::RankReport> reports_;
  bool reports_changed_ = true;  // heartbeat_'s stages and ranks are out of date
  proto::Heartbeat heartbeat_;
  int64_t preemptions_before_ = 0;  // of the schedulers replaced by reshards
  bool reported_ = false;
  bool reports_stale_ = false;  // steps ran since the last one that collected reports
  absl::Time last_report_request_ = absl::InfinitePast();
  bool stop_ = false;
  bool group_broken_ = false;
  std::string shutdown_reason_;
  uint64_t steps_ = 0;
};

}  // namespace tessera
