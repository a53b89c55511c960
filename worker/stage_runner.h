// One rank's part of a group step: get the step (the leader's broadcast on
// the first stage, the previous stage's message elsewhere), run this rank's
// layers, then pass the hidden states on or, on the last stage, sample from
// the vocabulary slices without gathering the whole vocabulary (greedy and
// top-k need only each slice's best few) and answer the leader.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "comm/communicator.h"
#include "proto/group_step.pb.h"
#include "proto/shard_plan.pb.h"
#include "worker/executor.h"
#include "worker/group_layout.h"

namespace tessera {

// Tags of the group's point-to-point messages.
inline constexpr int kTagStep = 11;
inline constexpr int kTagHidden = 12;
inline constexpr int kTagResult = 13;

// The pipeline send timeout (StageRunner::set_pipeline_send_timeout) for a
// group of `pp` stages whose leader waits `step_timeout` for each step: a
// send can wait for every later stage's share of the steps ahead of it,
// which the step timeout bounds, once per stage.
absl::Duration PipelineSendTimeout(absl::Duration step_timeout, int pp);

struct VocabSlice {
  int64_t begin = 0, end = 0;
};

// Why Serve returned: a stop step (the group shuts down) or a reshard step
// (the caller takes part in the collective reshard, worker/reshard.h, then
// serves again).
struct ServeExit {
  bool reshard = false;
  proto::ShardPlan plan;  // with reshard: the plan to switch to
  // With reshard: not OK when the step's plan did not parse. The rank still
  // joins the reshard (ReshardMember(m, exit, ...)) and reports this, so the
  // group rolls back at once rather than waiting for it.
  absl::Status plan_status;
};

class StageRunner {
 public:
  // `last_stage_vocab`: the vocabulary slice of each tp rank of the last
  // stage, in tp order (the last stage reassembles and pads with it).
  // `weight_bytes`: the shard's, for this rank's reports.
  StageRunner(const GroupLayout& layout, Communicator& group, Communicator* tp, Executor& executor,
              std::vector<VocabSlice> last_stage_vocab, int64_t weight_bytes = 0);

  // Runs on `executor` from now on (a reshard switched this rank's shard),
  // with the new plan's last-stage vocabulary slices and weight bytes; the
  // report counters start again. Only between steps.
  void Rebind(Executor& executor, std::vector<VocabSlice> last_stage_vocab, int64_t weight_bytes);

  // The leader's entry: runs `step` on this rank (stage 0, tp 0). Returns the
  // result when this rank also answers (pp == 1); nullopt when the answer
  // will come from the last stage, which is also the case for a step this
  // rank refused (the refusal travels down the pipeline like any step, so
  // answers stay in order). A stop or reshard step is only passed on (no
  // answer comes). A non-OK status is a communication failure.
  absl::StatusOr<std::optional<proto::StepResult>> RunAsLeader(const proto::GroupStep& step);

  // Every other rank: runs steps as they come until a stop or reshard step,
  // which it passes down the pipeline first. Returns which one came, or the
  // communication error that broke the group.
  absl::StatusOr<ServeExit> Serve();

  // The deadline of the pipeline's sends (a step and its hidden states to the
  // next stage, the last stage's answer to the leader). With several steps in
  // flight such a send is taken only once its receiver has finished the
  // earlier steps, so an honest long step (a big prefill) can hold it for up
  // to the step timeout per stage: the short peer timeout would abort a
  // healthy job. A stuck stage is still caught by the leader's step timeout
  // (GroupLeader::set_step_timeout). ZeroDuration (the default): the group
  // communicator's default timeout. Receives and tp collectives keep it.
  void set_pipeline_send_timeout(absl::Duration timeout) { pipeline_send_timeout_ = timeout; }
  absl::Duration pipeline_send_timeout() const { return pipeline_send_timeout_; }

  const GroupLayout& layout() const { return layout_; }
  Executor& executor() { return *executor_; }
  // Seconds spent in RunStage (compute), since the shard was loaded (or the
  // last reshard, or a reset_stats step).
  double compute_seconds() const { return compute_seconds_; }
  // Steps this rank computed (ran its layers on) over the same time.
  uint64_t steps_computed() const { return steps_computed_; }
  // This rank's counters and memory, as a collect_reports step carries them.
  proto::RankReport Report() const;

 private:
  // Runs one step this rank already holds. Sets *answer on the rank that
  // answers the leader.
  absl::Status RunStep(proto::GroupStep& step, std::optional<proto::StepResult>* answer);
  absl::Status Forward(const proto::GroupStep& step, std::span<const float> hidden);
  absl::Status Sample(const proto::GroupStep& step, std::span<const SequenceChunk> chunks,
                      std::span<const float> logits, proto::StepResult* result);

  GroupLayout layout_;
  Communicator& group_;
  Communicator* tp_;
  Executor* executor_;
  std::vector<VocabSlice> vocab_;
  int64_t max_vocab_slice_ = 0;
  int64_t weight_bytes_ = 0;
  absl::Duration pipeline_send_timeout_ = absl::ZeroDuration();
  double compute_seconds_ = 0.0;
  uint64_t steps_computed_ = 0;
  std::vector<float> hidden_in_, hidden_out_, logits_;
  std::vector<std::byte> send_buf_, recv_buf_;
};

}  // namespace tessera
