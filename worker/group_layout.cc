#include "worker/group_layout.h"

#include "absl/strings/str_cat.h"

namespace tessera {

std::string GroupLayout::Describe() const {
  return absl::StrCat("group ", group, " rank ", group_rank, " (stage ", stage, ", tp ", tp_rank, ")");
}

absl::StatusOr<GroupLayout> ComputeLayout(int world_rank, int world_size, int tp, int pp) {
  if (tp < 1 || pp < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--tp and --pp must be >= 1, got ", tp, " and ", pp));
  }
  const int size = tp * pp;
  if (world_size % size != 0) {
    return absl::InvalidArgumentError(absl::StrCat("the job has ", world_size,
                                                   " ranks, not a multiple of a group's tp x pp = ", tp,
                                                   " x ", pp, " = ", size, " (start mpirun -np ", size,
                                                   " or a multiple)"));
  }
  GroupLayout l;
  l.tp = tp;
  l.pp = pp;
  l.groups = world_size / size;
  l.group = world_rank / size;
  l.group_rank = world_rank % size;
  l.stage = l.group_rank / tp;
  l.tp_rank = l.group_rank % tp;
  return l;
}

absl::StatusOr<GroupComms> SplitGroup(Communicator& world, const GroupLayout& layout) {
  GroupComms comms;
  auto group = world.Split(layout.group, layout.group_rank);
  if (!group.ok()) return group.status();
  comms.group = *std::move(group);
  // Every rank of the group joins the second split, tp == 1 included (a
  // collective must be called by all), but a one-rank stage keeps none.
  auto tp = comms.group->Split(layout.stage, layout.tp_rank);
  if (!tp.ok()) return tp.status();
  if (layout.tp > 1) comms.tp = *std::move(tp);
  return comms;
}

}  // namespace tessera
