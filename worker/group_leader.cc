#include "worker/group_leader.h"

#include "absl/strings/str_cat.h"

namespace tessera {

GroupLeader::GroupLeader(StageRunner& runner, Communicator& group) : runner_(runner), group_(group) {}

absl::StatusOr<uint64_t> GroupLeader::Submit(proto::GroupStep step) {
  if (step.stop()) return absl::InvalidArgumentError("a stop step goes through Stop(), not Submit()");
  if (!step.reshard_plan().empty()) {
    return absl::InvalidArgumentError("a reshard step goes through SendReshard(), not Submit()");
  }
  step.set_step_id(next_step_id_++);
  auto answer = runner_.RunAsLeader(step);
  if (!answer.ok()) return answer.status();
  pending_.push_back(Pending{step.step_id(), *std::move(answer)});
  return step.step_id();
}

absl::StatusOr<proto::StepResult> GroupLeader::Collect() {
  if (pending_.empty()) return absl::FailedPreconditionError("no step in flight");
  Pending p = std::move(pending_.front());
  pending_.pop_front();
  if (p.local.has_value()) return *std::move(p.local);
  auto bytes = group_.RecvAny(runner_.layout().answer_rank(), kTagResult, step_timeout_);
  if (!bytes.ok()) {
    if (!absl::IsDeadlineExceeded(bytes.status())) return bytes.status();
    // Say which step and rank the group stopped on: the operator's first
    // question when a job ends this way.
    const absl::Duration waited = step_timeout_ == absl::ZeroDuration() ? group_.default_timeout() : step_timeout_;
    return absl::DeadlineExceededError(absl::StrCat(
        "no answer to step ", p.step_id, " from group rank ", runner_.layout().answer_rank(), " within ",
        absl::FormatDuration(waited), " (the step timeout): a rank of the group is stuck or dead (",
        bytes.status().message(), ")"));
  }
  proto::StepResult result;
  if (!result.ParseFromArray(bytes->data(), static_cast<int>(bytes->size()))) {
    return absl::DataLossError(absl::StrCat("the answer to step ", p.step_id, " (", bytes->size(),
                                            " bytes) from group rank ", runner_.layout().answer_rank(),
                                            " does not parse"));
  }
  if (result.step_id() != p.step_id) {
    return absl::DataLossError(
        absl::StrCat("expected the answer to step ", p.step_id, ", got one to step ", result.step_id()));
  }
  return result;
}

absl::Status GroupLeader::SendReshard(const proto::ShardPlan& plan) {
  if (!pending_.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(pending_.size(), " steps still in flight: collect them before a reshard"));
  }
  proto::GroupStep step;
  step.set_reshard_plan(plan.SerializeAsString());
  step.set_step_id(next_step_id_++);
  return runner_.RunAsLeader(step).status();
}

absl::Status GroupLeader::Stop() {
  while (!pending_.empty()) {
    if (auto r = Collect(); !r.ok()) return r.status();
  }
  proto::GroupStep stop;
  stop.set_stop(true);
  stop.set_step_id(next_step_id_++);
  auto answer = runner_.RunAsLeader(stop);
  return answer.status();
}

}  // namespace tessera
