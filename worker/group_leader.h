// The leader's side of a group: submits steps into the pipeline (running the
// first stage's part itself) and collects their answers in submission order.
// Up to pp steps can be in flight, one per stage, which is what keeps every
// stage of a pipeline busy.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/stage_runner.h"

namespace tessera {

class GroupLeader {
 public:
  GroupLeader(StageRunner& runner, Communicator& group);

  // Gives the step an id (returned) and runs this rank's part. A non-OK
  // status is a communication failure: the group is broken.
  absl::StatusOr<uint64_t> Submit(proto::GroupStep step);
  // The oldest submitted step's answer. A step the group refused (bad tokens,
  // full KV cache) comes back with `error` set; a non-OK status means the
  // group is broken.
  absl::StatusOr<proto::StepResult> Collect();
  int in_flight() const { return static_cast<int>(pending_.size()); }
  // How long Collect waits for a step's answer from the last stage (which
  // includes every later stage's compute of it) before it calls the group
  // broken: a stuck or dead rank whose job did not abort would otherwise
  // keep the group's requests waiting while the heartbeat thread says it is
  // alive. ZeroDuration (the default): the group communicator's default
  // timeout. Set it above the longest honest step (a big prefill chunk
  // through every stage). The pipeline's sends wait up to this once per
  // stage (StageRunner::set_pipeline_send_timeout, PipelineSendTimeout), not
  // the short peer timeout: with steps in flight a send waits for its
  // receiver's earlier steps, and an honest long step must not break it.
  void set_step_timeout(absl::Duration timeout) { step_timeout_ = timeout; }
  int pipeline_depth() const { return runner_.layout().pp; }
  // Tells every rank to finish. Steps still in flight are collected first.
  absl::Status Stop();
  // Tells every other rank to switch to `plan`: each passes the step on and
  // then joins the collective reshard (worker/reshard.h), which the caller
  // runs on this rank next. FailedPrecondition while steps are in flight
  // (collect them first: a step must not straddle the switch).
  absl::Status SendReshard(const proto::ShardPlan& plan);

 private:
  struct Pending {
    uint64_t step_id = 0;
    std::optional<proto::StepResult> local;  // answered on this rank
  };
  StageRunner& runner_;
  Communicator& group_;
  uint64_t next_step_id_ = 1;
  absl::Duration step_timeout_ = absl::ZeroDuration();
  std::deque<Pending> pending_;
};

}  // namespace tessera
