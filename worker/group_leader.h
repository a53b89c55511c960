// The leader's side of a group: submits steps into the pipeline (running the
// first stage's part itself) and collects their answers in submission order.
// Up to pp steps can be in flight, one per stage, which is what keeps every
// stage of a pipeline busy.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

#include "absl/status/statusor.h"
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
  int pipeline_depth() const { return runner_.layout().pp; }
  // Tells every rank to finish. Steps still in flight are collected first.
  absl::Status Stop();

 private:
  struct Pending {
    uint64_t step_id = 0;
    std::optional<proto::StepResult> local;  // answered on this rank
  };
  StageRunner& runner_;
  Communicator& group_;
  uint64_t next_step_id_ = 1;
  std::deque<Pending> pending_;
};

}  // namespace tessera
