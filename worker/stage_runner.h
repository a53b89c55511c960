// One rank's part of a group step: get the step (the leader's broadcast on
// the first stage, the previous stage's message elsewhere), run this rank's
// layers, then pass the hidden states on or, on the last stage, sample from
// the vocabulary slices without gathering the whole vocabulary (greedy and
// top-k need only each slice's best few) and answer the leader.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "comm/communicator.h"
#include "proto/group_step.pb.h"
#include "worker/executor.h"
#include "worker/group_layout.h"

namespace tessera {

// Tags of the group's point-to-point messages.
inline constexpr int kTagStep = 11;
inline constexpr int kTagHidden = 12;
inline constexpr int kTagResult = 13;

struct VocabSlice {
  int64_t begin = 0, end = 0;
};

class StageRunner {
 public:
  // `last_stage_vocab`: the vocabulary slice of each tp rank of the last
  // stage, in tp order (the last stage reassembles and pads with it).
  StageRunner(const GroupLayout& layout, Communicator& group, Communicator* tp, Executor& executor,
              std::vector<VocabSlice> last_stage_vocab);

  // The leader's entry: runs `step` on this rank (stage 0, tp 0). Returns the
  // result when this rank also answers (pp == 1); nullopt when the answer
  // will come from the last stage, which is also the case for a step this
  // rank refused (the refusal travels down the pipeline like any step, so
  // answers stay in order). A non-OK status is a communication failure.
  absl::StatusOr<std::optional<proto::StepResult>> RunAsLeader(const proto::GroupStep& step);

  // Every other rank: runs steps as they come until a stop step. Returns OK
  // after a stop, or the communication error that broke the group.
  absl::Status Serve();

  const GroupLayout& layout() const { return layout_; }
  Executor& executor() { return executor_; }
  // Seconds spent in RunStage (compute) and in communicator calls.
  double compute_seconds() const { return compute_seconds_; }

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
  Executor& executor_;
  std::vector<VocabSlice> vocab_;
  int64_t max_vocab_slice_ = 0;
  double compute_seconds_ = 0.0;
  std::vector<float> hidden_in_, hidden_out_, logits_;
  std::vector<std::byte> send_buf_, recv_buf_;
};

}  // namespace tessera
