// Where a rank sits in an mpirun job of replica groups: world rank ->
// (group, stage, tensor rank), and the communicators it needs (its group's,
// and its stage's tensor-parallel one).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "comm/communicator.h"

namespace tessera {

struct GroupLayout {
  int tp = 1, pp = 1;
  int groups = 1;
  int group = 0;       // which replica group
  int group_rank = 0;  // stage * tp + tp_rank; 0 is the group's leader
  int stage = 0;
  int tp_rank = 0;

  int group_size() const { return tp * pp; }
  bool leader() const { return group_rank == 0; }
  bool first_stage() const { return stage == 0; }
  bool last_stage() const { return stage == pp - 1; }
  // Group ranks of this rank's neighbours in the pipeline (same tp rank).
  int prev_stage_rank() const { return (stage - 1) * tp + tp_rank; }
  int next_stage_rank() const { return (stage + 1) * tp + tp_rank; }
  // The rank that answers the leader: tp rank 0 of the last stage.
  int answer_rank() const { return (pp - 1) * tp; }
  std::string Describe() const;  // "group 0 rank 3 (stage 1, tp 1)"
};

// InvalidArgument unless world_size is a positive multiple of tp * pp.
absl::StatusOr<GroupLayout> ComputeLayout(int world_rank, int world_size, int tp, int pp);

struct GroupComms {
  std::unique_ptr<Communicator> group;
  std::unique_ptr<Communicator> tp;  // nullptr when tp == 1
};

// Collective over `world`: every rank must call it.
absl::StatusOr<GroupComms> SplitGroup(Communicator& world, const GroupLayout& layout);

}  // namespace tessera
